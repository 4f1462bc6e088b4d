import { describe, expect, it } from 'vitest';
import { type BusEvent, type FileSystem, mkfs, mount } from '../actors/index.js';
import { diffStates, FsModel } from '../cli/crashtest/fs-model.js';
import { describePfs, LogModel, LogModelError } from '../cli/crashtest/log-model.js';
import { readTree } from '../cli/crashtest/tree.js';
import { logicalClock } from '../storage/clock.js';
import { MemDevice } from '../storage/device.js';

const MiB = 1024 * 1024;

/** A mounted volume and every bus event of it, from the first call on. */
async function logged(): Promise<{ fs: FileSystem; events: BusEvent[]; root: number }> {
  const device = new MemDevice(48 * MiB);
  await mkfs(device, { size: 48 * MiB, undoBytes: 8 * MiB, clock: logicalClock() });
  const fs = await mount(device, { clock: logicalClock(), noatime: true });
  const root = (await fs.stat('/')).ino;
  const events: BusEvent[] = [];
  fs.events.subscribe((event) => events.push(event));
  return { fs, events, root };
}

async function derive(events: BusEvent[], root: number): Promise<LogModel> {
  const log = new LogModel(new FsModel(root));
  for (const event of events) await log.push(event);
  await log.settle();
  return log;
}

/** The call's error code, or 'ok'. */
async function outcome(call: Promise<unknown>): Promise<string> {
  return call.then(
    () => 'ok',
    (error: { code: string }) => error.code,
  );
}

describe('the log model (crashtest expected states from the event log)', () => {
  it('derives the tree the calls made, and their outcomes, from the logged commands alone', async () => {
    const { fs, events, root } = await logged();
    const real: string[] = [];
    const call = async (p: Promise<unknown>) => real.push(await outcome(p));
    await call(fs.mkdir('/d'));
    await call(fs.mkdir('/d/e'));
    await call(fs.writeFile('/d/f', 'first'));
    await call(fs.writeFile('/d/f', 'replaced'));
    await call(fs.appendFile('/d/f', '+tail'));
    const handle = await fs.open('/d/g', 'wx');
    await handle.write(Buffer.from('abcdef'), 1, 3, null);
    await handle.write('XY', 0, 2, null);
    await handle.write('@', 0, 1, 10);
    await handle.truncate(8);
    await handle.close();
    const appender = await fs.open('/d/g', 'a');
    await appender.write('!', 0, 1, 0);
    await appender.close();
    await call(fs.link('/d/f', '/d/f2'));
    await call(fs.symlink('/d/f', '/s'));
    await call(fs.rename('/d/f2', '/d/g'));
    await call(fs.truncate('/s', 3));
    await call(fs.unlink('/d/f'));
    // Failing calls: the model must fail them too (and change nothing).
    await call(fs.mkdir('/d'));
    await call(fs.rmdir('/d'));
    await call(fs.unlink('/nothing'));
    await call(fs.rename('/d', '/d/e/inside'));
    await call(fs.link('/d', '/dlink'));
    await call(fs.open('/s', 'wx'));
    await call(fs.rmdir('/d/e'));
    await call(fs.pfs.create('one'));
    await call(fs.pfs.create('two'));
    await call(fs.sync());
    const log = await derive(events, root);
    const live = await readTree(fs, root);
    expect(live.problems).toEqual([]);
    expect(diffStates(log.state(), live.state, root)).toEqual([]);
    expect(log.model.paths().sort()).toEqual(['/d', '/d/g', '/s']);
    expect(describePfs(log.pfs)).toBe('1:one 2:two');
    expect(describePfs(await fs.pfs.list())).toBe('1:one 2:two');
    // Every modelled call that failed failed with a code the real call returned.
    const failed = log.outcomes.filter((o) => o.outcome !== 'ok');
    expect(failed.map((o) => o.type)).toEqual(['mkdir', 'rmdir', 'unlink', 'rename', 'link', 'open']);
    const codes = real.filter((code) => code !== 'ok');
    expect(codes).toHaveLength(failed.length);
    for (const [i, o] of failed.entries()) expect(o.outcome.split('|')).toContain(codes[i]);
    await fs.unmount();
  });

  it('uses the logged bytes: a log whose write data was changed derives another file', async () => {
    const { fs, events, root } = await logged();
    await fs.writeFile('/f', 'logged bytes');
    const live = await readTree(fs, root);
    const write = events.find((e) => e.kind === 'command' && e.type === 'writeFile');
    const data = write?.payload?.data;
    expect(data).toBeInstanceOf(Uint8Array);
    (data as Uint8Array).fill(0x3f);
    const log = await derive(events, root);
    expect(diffStates(log.state(), live.state, root).join('\n')).toMatch(
      /\/f \(ino \d+\): expected file 12 bytes (3f){12}, got file 12 bytes 6c6f/,
    );
    await fs.unmount();
  });

  it('refuses what it cannot derive: a creation the log does not show, a command it does not model', async () => {
    const { fs, events, root } = await logged();
    await fs.mkdir('/d');
    const lost = events.filter((e) => e.type !== 'CREATED');
    await expect(derive(lost, root)).rejects.toThrow(LogModelError);
    await expect(derive(lost, root)).rejects.toThrow(/the model creates \/d, but the log shows no CREATED fact/);
    await fs.chmod('/d', 0o700);
    await expect(derive(events, root)).rejects.toThrow(/event \d+ \(chmod .*\): the log model does not model chmod/);
    await fs.unmount();
  });
});

import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { mkfs, mount } from '../actors/index.js';
import { logicalClock } from '../storage/clock.js';
import { cli } from './support/cli.js';

const dir = mkdtempSync(join(tmpdir(), 'hammerstate-lock-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const MiB = 1024 * 1024;

async function volume(name: string): Promise<string> {
  const path = join(dir, name);
  await mkfs(path, { size: 48 * MiB, undoBytes: 8 * MiB, clock: logicalClock(), audit: false });
  return path;
}

describe('one writer per volume file (storage/volume-lock.ts)', () => {
  it('a second writer in the same process gets EBUSY, readers do not, and mkfs cannot truncate it', async () => {
    const path = await volume('same-process.img');
    const fs = await mount(path, { clock: logicalClock(), audit: false });
    await fs.writeFile('/kept', 'still here');
    await fs.sync();
    expect(readFileSync(`${path}.lock`, 'utf8').trim()).toBe(String(process.pid));
    await expect(mount(path, { clock: logicalClock(), audit: false })).rejects.toMatchObject({
      code: 'EBUSY',
      message: expect.stringMatching(/open for writing by this process \(lock .*same-process\.img\.lock\)/),
    });
    await expect(
      mkfs(path, { size: 48 * MiB, undoBytes: 8 * MiB, clock: logicalClock(), audit: false }),
    ).rejects.toMatchObject({ code: 'EBUSY' });
    const reader = await mount(path, { clock: logicalClock(), readOnly: true });
    expect(await reader.readFile('/kept', 'utf8')).toBe('still here');
    await reader.unmount();
    await fs.unmount();
    expect(existsSync(`${path}.lock`)).toBe(false);
    // Bad mkfs parameters are refused before the file is truncated.
    await expect(mkfs(path, { size: 1 * MiB, clock: logicalClock(), audit: false })).rejects.toMatchObject({
      code: 'EINVAL',
    });
    // Given back: the next writer mounts, and the refusals lost nothing.
    const again = await mount(path, { clock: logicalClock(), audit: false });
    expect(await again.readFile('/kept', 'utf8')).toBe('still here');
    await again.unmount();
  });

  it('a lock left by a process that is gone is stale and taken over', async () => {
    const path = await volume('stale.img');
    const gone = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
    writeFileSync(`${path}.lock`, `${gone.stdout}\n`);
    const fs = await mount(path, { clock: logicalClock(), audit: false });
    expect(readFileSync(`${path}.lock`, 'utf8').trim()).toBe(String(process.pid));
    await fs.unmount();
    expect(existsSync(`${path}.lock`)).toBe(false);
    // An empty lock (a writer killed between creating and filling it) is stale too.
    writeFileSync(`${path}.lock`, '');
    await (await mount(path, { clock: logicalClock(), audit: false })).unmount();
  });

  it('a live process holding the lock: the API says EBUSY naming it, the command line exits 2', async () => {
    const path = await volume('held.img');
    const holder = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60_000)'], { stdio: 'ignore' });
    try {
      writeFileSync(`${path}.lock`, `${holder.pid}\n`);
      await expect(mount(path, { clock: logicalClock(), audit: false })).rejects.toMatchObject({
        code: 'EBUSY',
        message: expect.stringContaining(`open for writing by process ${holder.pid}`),
      });
      writeFileSync(join(dir, 'note.txt'), 'a note');
      const run = cli(['import', path, join(dir, 'note.txt'), '/note.txt', '--json'], dir);
      expect(run.status).toBe(2);
      expect(run.json()).toMatchObject({ error: { code: 'EBUSY' } });
      // Reading goes on.
      expect(cli(['ls', path, '/'], dir).status).toBe(0);
    } finally {
      holder.kill('SIGKILL');
    }
    expect(readFileSync(`${path}.lock`, 'utf8').trim()).toBe(String(holder.pid));
  }, 60_000);
});

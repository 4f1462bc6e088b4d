import { type BusEvent, logicalClock, MemDevice, mkfs, mount } from 'hammerstate';
import { formatCoverage, type InodeEvent, InodeFlag, inodeMachine, MachineCoverage } from 'hammerstate/machines';
import { VirtualTimeScheduler } from 'rxjs';
import { expect, it } from 'vitest';
import type { Snapshot } from 'xstate';
import { getShortestPaths, getSimplePaths } from 'xstate/graph';

// The model: the inode machine itself. A state is its value and its flags.
const machine = inodeMachine<null>();
const { DDIRTY, XDIRTY, FLUSHW, ONDISK } = InodeFlag;
type Model = Snapshot<unknown> & { value: string; context: { flags: number } };

// The events these fs calls give a file, by state: chmod and append (MODIFY),
// fsync (FLUSH then WAIT), the flusher running the group (FLUSH_DONE).
function events(snapshot: Snapshot<unknown>): InodeEvent<null>[] {
  const { value, context } = snapshot as Model;
  const flags = context.flags;
  if (value === 'flush' && flags & FLUSHW) {
    return [{ type: 'FLUSH_DONE', unsynced: 0, listsEmpty: true, targetListEmpty: true, nlinksDiverged: false }];
  }
  if (value === 'flush') return [{ type: 'WAIT' }];
  const out: InodeEvent<null>[] = [
    { type: 'MODIFY', flags: DDIRTY },
    { type: 'MODIFY', flags: XDIRTY | DDIRTY },
  ];
  const goCount = flags & XDIRTY ? 1 : 0;
  if (flags & DDIRTY) out.push({ type: 'FLUSH', group: 1, goCount, signal: true, targetListEmpty: true });
  return out;
}

const options = {
  events,
  input: { data: null, flags: ONDISK },
  serializeState: (snapshot: Snapshot<unknown>) => `${(snapshot as Model).value}:${(snapshot as Model).context.flags}`,
};
const paths = [...getShortestPaths(machine, options), ...getSimplePaths(machine, options)];

it('walks the inode machine through a real filesystem, step by step', async () => {
  const volume = new MemDevice(64 * 2 ** 20);
  await mkfs(volume, { size: volume.size, undoBytes: 8 * 2 ** 20, clock: logicalClock() });
  const setup = await mount(volume, { clock: logicalClock() });
  await setup.writeFile('/f', 'hello');
  await setup.unmount();
  const coverage = new MachineCoverage(machine);

  for (const path of paths) {
    // A fresh copy of the volume; flush groups run only when the scheduler is flushed.
    const scheduler = new VirtualTimeScheduler();
    const fs = await mount(volume.clone(), { clock: logicalClock(), scheduler });
    const actor = `inode:0:${(await fs.stat('/f')).ino}:live`;
    const seen: BusEvent[] = [];
    fs.events.subscribe((e) => {
      if (e.actor !== actor || e.from === undefined || e.to === undefined) return;
      seen.push(e);
      coverage.observe({ from: e.from, type: e.type, to: e.to });
    });
    const handle = await fs.open('/f', 'r+');
    let fsync: Promise<void> = Promise.resolve();

    for (const { event, state } of path.steps.slice(1)) {
      // An fsync stages the file, then waits (WAIT); flushing the scheduler runs the group.
      if (event.type === 'MODIFY' && event.flags & XDIRTY) await fs.appendFile('/f', '!');
      else if (event.type === 'MODIFY') await fs.chmod('/f', 0o600);
      else if (event.type === 'FLUSH') fsync = handle.sync();
      else if (event.type === 'FLUSH_DONE') scheduler.flush();
      // The real actor took this event (the last one, when a call sends it twice)
      // and reached the predicted state and flags.
      const at = seen.findLastIndex((e) => e.type === event.type);
      const taken = seen.splice(0, at + 1).at(-1);
      const predicted = state as Model;
      expect(taken?.type, JSON.stringify(path.steps.map((s) => s.event.type))).toBe(event.type);
      expect(taken?.to).toBe(predicted.value);
      expect(taken?.payload?.flags).toBe(predicted.context.flags);
    }
    scheduler.flush();
    await fsync;
    await handle.close();
  }

  // What these four kinds of call reach of the machine (formatCoverage prints the table).
  const report = coverage.report();
  expect(report.unreached.states).toEqual(['setup', 'unloaded']);
  expect(report.transitions.filter((t) => t.taken.run).map((t) => t.label)).toEqual([
    '* --MODIFY--> (stays)',
    '* --WAIT--> (stays)',
    'idle --FLUSH--> flush',
    'flush --FLUSH_DONE [doneToIdle]--> idle',
  ]);
  expect(formatCoverage(report)).toContain('setup --CONN_DOWN--> (stays)');
});

import type { FileSystem } from '../../actors/api.js';
import { AUDIT_SUFFIX } from '../../actors/audit.js';
import { mkfs, mount } from '../../actors/index.js';
import { logicalClock } from '../../storage/clock.js';
import { MiB } from './fs.js';

/**
 * A real audit log for the report tests: a volume file made and mounted
 * twice through the filesystem API (so every event is the system's own):
 * directories, files written and appended, syncs (one flush group each),
 * an fsync on a handle (REDO), a rename, an unlink, a snapshot, and a
 * second mount that changes one file. Returns the log's path.
 */
export async function reportVolume(volume: string, files = 12): Promise<string> {
  const clock = logicalClock();
  await mkfs(volume, { size: 64 * MiB, undoBytes: 8 * MiB, label: 'report', clock });
  const fs = await mount(volume, { clock });
  await firstMount(fs, files);
  await fs.unmount();
  const again = await mount(volume, { clock });
  await again.appendFile('/a/f0.txt', 'after the remount\n');
  await again.sync();
  await again.unmount();
  return `${volume}${AUDIT_SUFFIX}`;
}

async function firstMount(fs: FileSystem, files: number): Promise<void> {
  await fs.mkdir('/a/b', { recursive: true });
  for (let i = 0; i < files; i++) {
    await fs.writeFile(`/a/f${i}.txt`, `file ${i}\n`.repeat(i + 1));
    if (i % 4 === 3) await fs.sync();
  }
  await fs.appendFile('/a/f1.txt', 'appended\n');
  const handle = await fs.open('/a/b/log.txt', 'w');
  await handle.write('fsynced once\n');
  await handle.sync();
  await handle.write('fsynced twice (REDO)\n');
  await handle.sync();
  await handle.close();
  await fs.rename('/a/f2.txt', '/a/b/f2.txt');
  await fs.unlink('/a/f3.txt');
  await fs.snapshot('report');
  await fs.writeFile('/a/f4.txt', 'changed after the snapshot\n');
}

import type { Command } from 'commander';
import { FileDevice } from '../../storage/device.js';
import { fsck } from '../../storage/fsck.js';
import { checkVolumePath } from '../filesystem.js';
import { EXIT_OK, EXIT_PROBLEMS, note, printJson, say } from '../output.js';
import { startCountProgress } from '../progress.js';
import { wallClock } from '../wall-clock.js';

/**
 * `hammerstate fsck`: read-only check (storage/fsck.ts). Problems go to
 * stdout, one per line, notes to stderr; exit 1 when any problem was found.
 * A volume that cannot be mounted is one problem, not an error exit.
 */
export function registerFsck(program: Command): void {
  program
    .command('fsck')
    .description('check a volume (read-only): header, FIFO, B-tree, CRCs, freemap against the tree')
    .argument('<volume>', 'volume file')
    .option('--json', 'print {"errors": N, "problems": [...], "notes": [...], "stats": {...}} as one JSON object')
    .action((path: string, options: { json?: boolean }) => {
      checkVolumePath(path);
      const device = FileDevice.open(path, { readOnly: true });
      let report: ReturnType<typeof fsck>;
      const bar = startCountProgress('fsck', 'checks', options.json === true);
      try {
        report = fsck(device, { clock: wallClock, progress: bar.update });
      } finally {
        bar.stop();
        device.close();
      }
      if (options.json) printJson(report);
      else {
        for (const line of report.notes) note(`note: ${line}`);
        for (const p of report.problems) say(`${p.where}: ${p.what}`);
        const s = report.stats;
        say(
          `${report.errors === 0 ? 'clean' : `${report.errors} errors`}: ${s.nodes} nodes, ${s.records} records (${s.liveRecords} live), ` +
            `${s.liveInodes} inodes, ${s.freeBigblocks}/${s.bigblocks} big-blocks free, ` +
            `FIFO span ${s.fifoFirst}..${s.fifoEnd} (${s.fifoSpanRecords} records)`,
        );
      }
      process.exitCode = report.errors === 0 ? EXIT_OK : EXIT_PROBLEMS;
    });
}

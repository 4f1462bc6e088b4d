import type { Command } from 'commander';
import { formatTid } from '../../storage/layout.js';
import { withFileSystem } from '../filesystem.js';
import { EXIT_OK, printJson, say } from '../output.js';

/**
 * `hammer snapls`: the snapshots of PFS 0, oldest first, one line each: the
 * TID (read the volume as of it with `name@@<tid>`) and the label. Read-only.
 */
export function registerSnapls(program: Command): void {
  program
    .command('snapls')
    .description('list the snapshots (read-only), oldest first: TID and label')
    .argument('<volume>', 'volume file')
    .option('--json', 'print {volume, snapshots: [{tid, tidHex, label}]} as one JSON object')
    .action(async (volume: string, options: { json?: boolean }) => {
      const snapshots = await withFileSystem(volume, { readOnly: true }, (fs) => fs.snapshots());
      const listed = snapshots.map((s) => ({ tid: s.tid, tidHex: formatTid(s.tid), label: s.label }));
      if (options.json) printJson({ volume, snapshots: listed });
      else for (const s of listed) say(`${s.tidHex} ${s.label}`);
      process.exitCode = EXIT_OK;
    });
}

import type { Command } from 'commander';
import { formatTid } from '../../storage/layout.js';
import { auditOptions, rethrowInvalidAsUsage, withFileSystem } from '../filesystem.js';
import { EXIT_OK, printJson, say } from '../output.js';

/**
 * `hammer snapshot`: sync, then record a snapshot of PFS 0. Prints its TID
 * alone on stdout (`tid=$(hammerstate snapshot vol.img)`); every path of the
 * volume reads as of it with `name@@<tid>`.
 */
export function registerSnapshot(program: Command): void {
  const command = program
    .command('snapshot')
    .description('sync and record a snapshot; prints its TID (read it back with name@@<tid>)')
    .argument('<volume>', 'volume file')
    .option('--label <text>', 'a note kept with the snapshot', '')
    .option('--json', 'print {volume, tid, tidHex, label} as one JSON object');
  auditOptions(command).action(
    async (volume: string, options: { label: string; json?: boolean; audit?: string | false }) => {
      const tid = await withFileSystem(volume, { readOnly: false, audit: options.audit }, (fs) =>
        // The only EINVAL a snapshot raises is about its label (too long).
        fs.snapshot(options.label).catch(rethrowInvalidAsUsage),
      );
      if (options.json) printJson({ volume, tid, tidHex: formatTid(tid), label: options.label });
      else say(formatTid(tid));
      process.exitCode = EXIT_OK;
    },
  );
}

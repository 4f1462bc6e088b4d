import type { Command } from 'commander';
import { formatTid } from '../../storage/layout.js';
import { auditOptions, withFileSystem } from '../filesystem.js';
import { EXIT_OK, parseTidOption, printJson, say } from '../output.js';
import { withCountProgress } from '../progress.js';

/**
 * `hammer prune`: destroy history deleted at or before `--before` that no
 * snapshot sees (storage/prune.ts); the volume as of that TID, as of every
 * snapshot and now reads the same after. Through the API (fs.prune: a sync,
 * then bounded crash-safe cycles, logged and replayed like any command); a
 * progress bar counts the records destroyed.
 */
export function registerPrune(program: Command): void {
  const command = program
    .command('prune')
    .description(
      'destroy history older than a TID (keeping what snapshots see, never the current state); frees its space',
    )
    .argument('<volume>', 'volume file')
    .requiredOption('--before <tid>', 'history deleted at or before this TID goes (0x… as printed, or decimal)')
    .option(
      '--json',
      'print {volume, before, beforeHex, records, recordsPruned, bytesPruned, keptForSnapshots, snapshots, bigblocksFreed, cycles}',
    );
  auditOptions(command).action(
    async (volume: string, options: { before: string; json?: boolean; audit?: string | false }) => {
      const before = parseTidOption(options.before, '--before');
      const report = await withCountProgress('prune', 'records', options.json === true, (progress) =>
        withFileSystem(volume, { readOnly: false, audit: options.audit }, (fs) => fs.prune(before, { progress })),
      );
      if (options.json) printJson({ volume, beforeHex: formatTid(before), ...report });
      else {
        say(
          `pruned ${report.recordsPruned} of ${report.records} records (${report.bytesPruned} bytes of data) deleted at or before ${formatTid(before)}; ` +
            `kept ${report.keptForSnapshots} that ${report.snapshots} snapshot(s) see; ${report.bigblocksFreed} big-block(s) freed in ${report.cycles} cycle(s)`,
        );
      }
      process.exitCode = EXIT_OK;
    },
  );
}

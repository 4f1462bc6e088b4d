import type { Command } from 'commander';
import { auditOptions, withFileSystem } from '../filesystem.js';
import { EXIT_OK, parseIntegerOption, printJson, say } from '../output.js';
import { withCountProgress } from '../progress.js';

/**
 * `hammer reblock`: empty the big-blocks less than `--fill-percent` full by
 * moving the record data (every version) and B-tree nodes in them to the
 * zones' append points (storage/reblock.ts), so they free up. Through the
 * API (fs.reblock: a sync, then bounded crash-safe cycles, logged and
 * replayed like any command); a progress bar counts the moves.
 */
export function registerReblock(program: Command): void {
  const command = program
    .command('reblock')
    .description(
      'move record data (every version) and B-tree nodes out of sparse big-blocks so those big-blocks free up',
    )
    .argument('<volume>', 'volume file')
    .option('--fill-percent <n>', 'empty the big-blocks less than this full (0-100; 100: every one not full)', '100')
    .option(
      '--json',
      'print {volume, fillPercent, bigblocksExamined, bigblocksEmptied, bigblocksFreed, recordsMoved, nodesMoved, bytesMoved, cycles}',
    );
  auditOptions(command).action(
    async (volume: string, options: { fillPercent: string; json?: boolean; audit?: string | false }) => {
      const fillPercent = parseIntegerOption(options.fillPercent, '--fill-percent', 0, 100);
      const report = await withCountProgress('reblock', 'moves', options.json === true, (progress) =>
        withFileSystem(volume, { readOnly: false, audit: options.audit }, (fs) =>
          fs.reblock(fillPercent, { progress }),
        ),
      );
      if (options.json) printJson({ volume, ...report });
      else {
        say(
          `reblocked ${report.bigblocksExamined} big-block(s) under ${fillPercent}% full: moved ${report.recordsMoved} records' data and ` +
            `${report.nodesMoved} B-tree nodes (${report.bytesMoved} bytes); ${report.bigblocksEmptied} emptied, ` +
            `${report.bigblocksFreed} big-block(s) freed net in ${report.cycles} cycle(s)`,
        );
      }
      process.exitCode = EXIT_OK;
    },
  );
}

import type { Command } from 'commander';
import { volumePath, withFileSystem } from '../filesystem.js';
import { EXIT_OK, printJson, say } from '../output.js';

/**
 * `hammer history`: every version of a file or directory, oldest first, one
 * line each: the TID that made it, what that TID changed (inode record, data
 * records), the size and mtime of that version, and the as-of path that reads it.
 */
export function registerHistory(program: Command): void {
  program
    .command('history')
    .description('list the versions of a file or directory (read-only), oldest first, with their TIDs')
    .argument('<volume>', 'volume file')
    .argument('<path>', 'file or directory in the volume')
    .option('--json', 'print {volume, path, versions: [{tid, tidHex, what, size, mtimeMs}]} as one JSON object')
    .action(async (volume: string, text: string, options: { json?: boolean }) => {
      const path = volumePath(text);
      const versions = await withFileSystem(volume, { readOnly: true }, (fs) => fs.history(path));
      if (options.json) printJson({ volume, path, versions });
      else {
        for (const v of versions) {
          const mtime = new Date(v.mtimeMs).toISOString();
          say(
            `${v.tidHex} ${v.what.join('+').padEnd(10)} ${String(v.size).padStart(10)} bytes  ${mtime}  ${path}@@${v.tidHex}`,
          );
        }
      }
      process.exitCode = EXIT_OK;
    });
}

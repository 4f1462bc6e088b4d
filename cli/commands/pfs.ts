import type { Command } from 'commander';
import type { FileSystem, PfsInfo } from '../../actors/api.js';
import { FsError } from '../../storage/errors.js';
import { auditOptions, rethrowInvalidAsUsage, withFileSystem } from '../filesystem.js';
import { EXIT_OK, parseIntegerOption, printJson, say } from '../output.js';

/**
 * `hammer pfs-create`, `pfs-list`, `pfs-destroy`: pseudo-filesystems through
 * the API (fs.pfs). Each PFS has its own root directory and records; PFS 0 is
 * the root PFS the other commands work in. pfs-destroy, like hammer(8)'s,
 * destroys the PFS with everything in it: from the command line no inode of
 * another PFS is in use (the API's ENOTEMPTY is for a mount that holds one).
 */
export function registerPfs(program: Command): void {
  auditOptions(
    program
      .command('pfs-create')
      .description('create a pseudo-filesystem with an empty root directory; prints its id')
      .argument('<volume>', 'volume file')
      .argument('<label>', 'its label (at most 63 bytes)')
      .option('--json', 'print {volume, id, label} as one JSON object'),
  ).action(async (volume: string, label: string, options: { json?: boolean; audit?: string | false }) => {
    const pfs = await withFileSystem(volume, { readOnly: false, audit: options.audit }, (fs) =>
      fs.pfs.create(label).catch(rethrowInvalidAsUsage),
    );
    if (options.json) printJson({ volume, ...pfs });
    else say(String(pfs.id));
    process.exitCode = EXIT_OK;
  });

  program
    .command('pfs-list')
    .description('list the pseudo-filesystems (read-only): id and label, PFS 0 first')
    .argument('<volume>', 'volume file')
    .option('--json', 'print {volume, pfs: [{id, label}]} as one JSON object')
    .action(async (volume: string, options: { json?: boolean }) => {
      const list = await withFileSystem(volume, { readOnly: true }, (fs) => fs.pfs.list());
      if (options.json) printJson({ volume, pfs: list });
      else for (const pfs of list) say(`${String(pfs.id).padStart(5)} ${pfs.label}`);
      process.exitCode = EXIT_OK;
    });

  auditOptions(
    program
      .command('pfs-destroy')
      .description('destroy a pseudo-filesystem and everything in it (not PFS 0)')
      .argument('<volume>', 'volume file')
      .argument('<id>', 'the PFS id (pfs-list)')
      .option('--json', 'print {volume, id, label} as one JSON object'),
  ).action(async (volume: string, text: string, options: { json?: boolean; audit?: string | false }) => {
    const id = parseIntegerOption(text, 'the PFS id', 0, 0xffff);
    const gone = await withFileSystem(volume, { readOnly: false, audit: options.audit }, (fs) => destroy(fs, id));
    if (options.json) printJson({ volume, ...gone });
    else say(`destroyed PFS ${gone.id} '${gone.label}' and its contents`);
    process.exitCode = EXIT_OK;
  });
}

/** Destroy PFS `id`, returning what it was; ENOENT (exit 2) when there is none. */
async function destroy(fs: FileSystem, id: number): Promise<PfsInfo> {
  const found = (await fs.pfs.list()).find((pfs) => pfs.id === id);
  if (found === undefined) throw new FsError('ENOENT', `no PFS ${id} (pfs-list shows the ones there are)`);
  await fs.pfs.destroy(id).catch(rethrowInvalidAsUsage);
  return found;
}

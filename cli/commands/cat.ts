import type { Command } from 'commander';
import type { FileSystem } from '../../actors/api.js';
import { FsError } from '../../storage/errors.js';
import { formatTid } from '../../storage/layout.js';
import { asofOption, asofTid, volumePath, withFileSystem } from '../filesystem.js';
import { EXIT_OK, printJson, writeOut } from '../output.js';
import { COPY_CHUNK_BYTES } from './import.js';

/**
 * Read the file at `path` (symlinks followed) in COPY_CHUNK_BYTES pieces,
 * handing each to `sink`. EISDIR for a directory; EIO when the file ends
 * before the size its stat gave.
 */
export async function readChunks(
  fs: FileSystem,
  path: string,
  sink: (chunk: Uint8Array) => void,
): Promise<{ size: number; tid: number }> {
  const stats = await fs.stat(path);
  if (stats.isDirectory()) throw new FsError('EISDIR', 'is a directory', { path });
  const handle = await fs.open(path, 'r');
  let position = 0;
  try {
    const buffer = Buffer.alloc(COPY_CHUNK_BYTES);
    for (;;) {
      const { bytesRead } = await handle.read(buffer, 0, buffer.length, position);
      if (bytesRead === 0) break;
      sink(buffer.subarray(0, bytesRead));
      position += bytesRead;
    }
  } finally {
    await handle.close();
  }
  if (position !== stats.size)
    throw new FsError('EIO', `read ${position} bytes of a file whose size is ${stats.size}`, { path });
  return { size: position, tid: stats.tid };
}

export function registerCat(program: Command): void {
  asofOption(program.command('cat'))
    .description('print a file of the volume (read-only); name@@0x<tid> prints it as of that TID')
    .argument('<volume>', 'volume file')
    .argument('<path>', 'file in the volume')
    .option('--json', 'print {volume, path, size, tid, encoding: "utf8"|"base64", data} as one JSON object')
    .action(async (volume: string, text: string, options: { json?: boolean; asof?: string }) => {
      const path = volumePath(text);
      const asof = asofTid(options.asof);
      const chunks: Buffer[] = [];
      // Without --json the bytes go out as they are read; with it they are kept for the one object.
      const sink = options.json ? (chunk: Uint8Array) => chunks.push(Buffer.from(chunk)) : writeOut;
      const { size, tid } = await withFileSystem(volume, { readOnly: true, asof }, (fs) => readChunks(fs, path, sink));
      if (options.json) {
        const data = Buffer.concat(chunks);
        const utf8 = isUtf8(data);
        printJson({
          volume,
          path,
          size,
          tid: formatTid(tid),
          encoding: utf8 ? 'utf8' : 'base64',
          data: data.toString(utf8 ? 'utf8' : 'base64'),
        });
      }
      process.exitCode = EXIT_OK;
    });
}

function isUtf8(data: Uint8Array): boolean {
  try {
    new TextDecoder('utf-8', { fatal: true }).decode(data);
    return true;
  } catch {
    return false;
  }
}

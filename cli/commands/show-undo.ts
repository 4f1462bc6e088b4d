import type { Command } from 'commander';
import { decodeFifoRecord, type FifoRecord, FifoType, fifoTypeName, redoFlagNames } from '../../storage/format/fifo.js';
import { SECTOR_BYTES } from '../../storage/layout.js';
import type { ScannedRecord } from '../../storage/undo-fifo.js';
import type { Volume } from '../../storage/volume.js';
import { EXIT_OK, hex, printJson, say } from '../output.js';
import { openReadOnly } from './open.js';

/** One FIFO record: `offset` is always its FIFO offset; a REDO's file offset is `fileOffset`. */
function recordJson({ offset, record }: ScannedRecord) {
  const base = { offset, type: fifoTypeName(record.type) };
  switch (record.type) {
    case FifoType.UNDO:
      return { ...base, seq: record.seq, target: hex(record.target), bytes: record.payload.length };
    case FifoType.REDO:
      return {
        ...base,
        seq: record.seq,
        flags: redoFlagNames(record.flags),
        objId: hex(record.objId),
        localization: hex(record.localization, 8),
        fileOffset: record.offset,
        bytes: record.payload.length,
      };
    case FifoType.DUMMY:
      return { ...base, seq: record.seq, size: record.size };
    case FifoType.PAD:
      return { ...base, size: record.size };
  }
}

/** One line per record, like `hammer show-undo`. */
function recordLine(offset: number, record: FifoRecord): string {
  const at = `${hex(offset, 8)} ${fifoTypeName(record.type).padEnd(5)}`;
  switch (record.type) {
    case FifoType.UNDO:
      return `${at} seq ${record.seq} target ${hex(record.target)} bytes ${record.payload.length}`;
    case FifoType.REDO:
      return (
        `${at} seq ${record.seq} ${redoFlagNames(record.flags)} obj ${hex(record.objId)} ` +
        `loc ${hex(record.localization, 8)} offset ${record.offset} bytes ${record.payload.length}`
      );
    case FifoType.DUMMY:
      return `${at} seq ${record.seq} size ${record.size}`;
    case FifoType.PAD:
      return `${at} size ${record.size}`;
  }
}

/** Every valid record in the ring, sector by sector, whatever its seq (`--all`). */
function scanRing(volume: Volume): ScannedRecord[] {
  const out: ScannedRecord[] = [];
  const sector = new Uint8Array(SECTOR_BYTES);
  for (let offset = 0; offset < volume.fifo.size; offset += SECTOR_BYTES) {
    volume.device.read(volume.fifo.physical(offset), sector);
    let at = 0;
    while (at < SECTOR_BYTES) {
      const found = decodeFifoRecord(sector, at);
      if (!found.ok) break;
      if (found.record.type !== FifoType.PAD && found.record.type !== FifoType.DUMMY) {
        out.push({ offset: offset + at, record: found.record });
      }
      at += found.size;
    }
  }
  return out;
}

/**
 * `hammer show-undo`: the FIFO's active span (first_offset to the true end
 * found by seq numbers, as recovery finds it) and its records; with --all,
 * every valid UNDO/REDO record in the ring. Read-only.
 */
export function registerShowUndo(program: Command): void {
  program
    .command('show-undo')
    .description('dump the UNDO/REDO FIFO: the active span and its records')
    .argument('<volume>', 'volume file')
    .option('--all', 'every valid UNDO/REDO record in the ring, not only the active span')
    .option('--json', 'print the dump as one JSON object')
    .action((path: string, options: { all?: boolean; json?: boolean }) => {
      const volume = openReadOnly(path);
      try {
        const header = volume.header();
        const span = volume.fifo.state;
        const records = options.all ? scanRing(volume) : volume.fifo.scan(span.first, span.firstSeq).records;
        const result = {
          volume: path,
          size: volume.fifo.size,
          first: span.first,
          next: span.next,
          firstSeq: span.firstSeq,
          nextSeq: span.nextSeq,
          usedBytes: volume.fifo.usedBytes(),
          redoStart: header.redoStart,
          recovery: {
            records: volume.recovery.records,
            undone: volume.recovery.undone,
            redo: volume.recovery.redo.length,
          },
          records: records.map(recordJson),
        };
        if (options.json) printJson(result);
        else {
          say(
            `FIFO ${volume.fifo.size} bytes, span ${span.first}..${span.next} (seq ${span.firstSeq}..${span.nextSeq}), ${volume.fifo.usedBytes()} bytes in use`,
          );
          if (volume.recovery.records > 0) {
            say(`unclean: ${volume.recovery.records} records in the span, ${volume.recovery.undone} UNDO to roll back`);
          }
          if (volume.recovery.redo.length > 0) say(`${volume.recovery.redo.length} REDO records await stage 2`);
          if (options.all) say(`${records.length} valid UNDO/REDO records in the ring:`);
          for (const { offset, record } of records) say(`  ${recordLine(offset, record)}`);
        }
      } finally {
        volume.close();
      }
      process.exitCode = EXIT_OK;
    });
}

import { workerData } from 'node:worker_threads';
import { AuditStore, describe } from './audit-store.js';
import { SIGNAL_REPLIES, type WriterData, type WriterReply, type WriterRequest } from './audit-writer.js';

/**
 * The audit log's writer thread (started by storage/audit-writer.ts, never
 * imported): its own connection to the log, one request at a time, each
 * answered on the port and counted on the shared signal so a main thread
 * blocked in wait() wakes. A write is all or nothing (one transaction); its
 * failure is answered, never thrown, and the next request tries again, also
 * to open the file if that failed.
 */
/** Rows written between two checkpoints of the WAL (a few MiB of it). */
const CHECKPOINT_ROWS = 16_384;

function serve(data: WriterData): void {
  const signal = new Int32Array(data.signal);
  let store: AuditStore | undefined;
  try {
    store = AuditStore.open(data.path, data.file);
  } catch {
    // Opened again at the first write, whose answer says why it cannot be.
  }
  let closed = false;
  let rowsSinceCheckpoint = 0;
  const answer = (reply: WriterReply, transfer: ArrayBuffer[] = []) => {
    data.port.postMessage(reply, transfer);
    Atomics.add(signal, SIGNAL_REPLIES, 1);
    Atomics.notify(signal, SIGNAL_REPLIES);
  };
  data.port.on('message', (request: WriterRequest) => {
    try {
      if (request.type === 'close') {
        closed = true;
        store?.close();
        store = undefined;
      } else {
        if (closed) throw new Error('the audit writer is closed');
        store ??= AuditStore.open(data.path, data.file);
        store.write(request.rows, request.end);
        rowsSinceCheckpoint += request.rows.count;
      }
      answer({ id: request.id });
      if (store !== undefined && rowsSinceCheckpoint >= CHECKPOINT_ROWS) {
        rowsSinceCheckpoint = 0;
        // Answered first: the main thread goes on while the WAL is copied. A failure here loses nothing (the rows are committed in the WAL).
        try {
          store.checkpoint();
        } catch {}
      }
    } catch (error) {
      if (request.type === 'write') {
        // The rows go back to be retried; their buffers were moved here.
        const { rows } = request;
        answer({ id: request.id, error: describe(error), rows }, [
          rows.nums.buffer,
          rows.binaries.buffer,
        ] as ArrayBuffer[]);
      } else {
        answer({ id: request.id, error: describe(error) });
      }
    }
    if (closed) data.port.close();
  });
}

serve((workerData as { data: WriterData }).data);

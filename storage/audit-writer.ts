import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, extname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { MessageChannel, type MessagePort, receiveMessageOnPort, Worker } from 'node:worker_threads';
import { assert } from './assert.js';
import type { PackedRows } from './audit-rows.js';
import type { FileIdentity, RunEnd } from './audit-store.js';

/**
 * The audit log's writer thread (storage/audit-thread.ts), seen from the main
 * thread. SQLite's inserts are most of what the log costs (measured: about
 * 2 of 3 µs per event on the create workload); in a thread of their own they
 * run beside the filesystem's work instead of adding to it. One request is in
 * flight at a time, so batches reach the file in seq order. Replies are taken
 * with receiveMessageOnPort, synchronously, never from the event loop: the
 * main thread looks for one when it chooses (poll) or blocks on the shared
 * signal until it comes (wait). No timer anywhere.
 */

export type WriterRequest =
  | { id: number; type: 'write'; rows: PackedRows; end?: RunEnd }
  | { id: number; type: 'close' };

export interface WriterReply {
  id: number;
  /** Why the request failed (nothing of it was written); absent on success. */
  error?: string;
  /** A write that failed gives its rows back (their buffers were moved to the thread). */
  rows?: PackedRows;
}

export interface WriterData {
  path: string;
  /** The file the owner opened: the thread writes that one or nothing. */
  file: FileIdentity;
  port: MessagePort;
  signal: SharedArrayBuffer;
}

/** Int32 slots of the shared signal: replies posted (the main thread waits on it), and 1 once the thread has stopped. */
export const SIGNAL_REPLIES = 0;
export const SIGNAL_STOPPED = 1;

/**
 * The thread's first code (CommonJS, evaluated): report its end on the signal
 * whatever ends it, register tsx when running from the TypeScript sources
 * (a thread does not inherit its parent's loader), then load the thread module.
 */
const BOOTSTRAP = `
const { workerData } = require('node:worker_threads');
const signal = new Int32Array(workerData.data.signal);
process.on('exit', () => {
  Atomics.store(signal, ${SIGNAL_STOPPED}, 1);
  Atomics.add(signal, ${SIGNAL_REPLIES}, 1);
  Atomics.notify(signal, ${SIGNAL_REPLIES});
});
(async () => {
  if (workerData.loader !== undefined) (await import(workerData.loader)).register();
  await import(workerData.entry);
})();
`;

/** The thread module: a sibling of this one, .ts when running from the sources, .js once built. */
function threadEntry(): URL {
  return new URL(`./audit-thread${extname(fileURLToPath(import.meta.url))}`, import.meta.url);
}

/** tsx's ESM API (its register()), found through tsx's own exports map, as this package resolves it. */
function tsxApi(): string {
  const require = createRequire(import.meta.url);
  const manifest = require.resolve('tsx/package.json');
  const exports = (JSON.parse(readFileSync(manifest, 'utf8')) as { exports: Record<string, unknown> }).exports;
  const api = (exports['./esm/api'] as { import: { default: string } }).import.default;
  return pathToFileURL(join(dirname(manifest), api)).href;
}

export class AuditWriter {
  private nextId = 1;
  private pending: number | undefined;
  private stopReason = '';

  /** Start the thread for the log at `path`, the file `file` whose schema the owner made. Returns at once. */
  static start(path: string, file: FileIdentity): AuditWriter {
    const { port1, port2 } = new MessageChannel();
    const signal = new SharedArrayBuffer(2 * Int32Array.BYTES_PER_ELEMENT);
    const entry = threadEntry();
    const loader = entry.pathname.endsWith('.ts') ? tsxApi() : undefined;
    const data: WriterData = { path, file, port: port2, signal };
    const worker = new Worker(BOOTSTRAP, {
      eval: true,
      workerData: { data, entry: entry.href, loader },
      transferList: [port2],
    });
    return new AuditWriter(worker, port1, new Int32Array(signal));
  }

  private constructor(
    private readonly worker: Worker,
    private readonly port: MessagePort,
    private readonly signal: Int32Array,
  ) {
    // A thread that dies would otherwise throw its error on the main thread; it is reported through replies.
    worker.on('error', (error) => {
      this.stopReason = `: ${error.message}`;
    });
    worker.unref();
  }

  /** A request is in flight (sent, no reply taken yet). */
  get busy(): boolean {
    return this.pending !== undefined;
  }

  /** Send a write (or the close); one at a time: take the previous reply first. */
  send(
    request: { type: 'write'; rows: PackedRows; end?: RunEnd } | { type: 'close' },
    transfer: ArrayBuffer[] = [],
  ): void {
    assert(this.pending === undefined, 'audit writer: one request in flight at a time');
    const id = this.nextId++;
    this.pending = id;
    this.port.postMessage({ ...request, id } satisfies WriterRequest, transfer);
  }

  /** The reply to the request in flight if it has come, without waiting; undefined otherwise. */
  poll(): WriterReply | undefined {
    const id = this.pending;
    if (id === undefined) return undefined;
    const received = receiveMessageOnPort(this.port);
    if (received === undefined) {
      if (Atomics.load(this.signal, SIGNAL_STOPPED) === 0) return undefined;
      this.pending = undefined;
      return { id, error: `the audit writer thread has stopped${this.stopReason}` };
    }
    const reply = received.message as WriterReply;
    assert(reply.id === id, 'audit writer: replies come in request order');
    this.pending = undefined;
    return reply;
  }

  /** Block until the reply to the request in flight comes (or the thread has stopped). */
  wait(): WriterReply {
    assert(this.pending !== undefined, 'audit writer: wait with a request in flight');
    for (;;) {
      const seen = Atomics.load(this.signal, SIGNAL_REPLIES);
      const reply = this.poll();
      if (reply !== undefined) return reply;
      Atomics.wait(this.signal, SIGNAL_REPLIES, seen);
    }
  }

  /** Close the thread's connection and let the thread end. Returns why the close failed, if it did. */
  stop(): string | undefined {
    if (this.pending !== undefined) this.wait();
    this.send({ type: 'close' });
    const reply = this.wait();
    this.port.close();
    this.worker.terminate().catch(() => undefined);
    return reply.error;
  }
}

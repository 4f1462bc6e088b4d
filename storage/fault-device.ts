import { assert } from './assert.js';
import { seededRandom } from './crash-device.js';
import { type BlockDevice, PAGE_BYTES } from './device.js';
import { FsError } from './errors.js';

export type FaultOp = 'read' | 'write' | 'fsync';

/**
 * One fault to inject. It matches a call of kind `op` that is the `nth` of
 * its kind since the rule was armed (1-based), and/or that touches the byte
 * range [from, to). It fires `times` times (default once; Infinity: always).
 * A write rule with `shortBytes` lands that many bytes of the write, then
 * fails (a short write).
 */
export interface FaultRule {
  op: FaultOp;
  nth?: number;
  range?: { from: number; to: number };
  times?: number;
  shortBytes?: number;
}

export interface FaultOptions {
  /** Seed of the random faults (default 1). */
  seed?: number;
  /** Probability in [0, 1) that a call of each kind fails at random (default 0). */
  rates?: Partial<Record<FaultOp, number>>;
}

/** A fault that fired: which call, where, and what the caller saw. */
export interface InjectedFault {
  op: FaultOp;
  /** The call's number among calls of its kind (1-based, since the device was made). */
  call: number;
  offset: number;
  length: number;
  short?: number;
}

interface ArmedRule extends FaultRule {
  /** Calls of the rule's kind when it was armed. */
  armedAt: number;
  left: number;
}

/**
 * A BlockDevice that fails chosen or seeded-random reads, writes and fsyncs
 * with EIO (TigerBeetle's fault-injecting storage, SQLite's crash VFS). It
 * also models what a kernel's page cache does with writes: they are held
 * above the device below until an fsync succeeds, and a failed fsync loses
 * them (reads still see them, the device below never gets them, a later
 * fsync does not bring them back: PostgreSQL's "fsyncgate" of 2018). The
 * device below is therefore exactly the durable image, what a crash leaves:
 * mount a copy of it to see what survived. Closing drops what no fsync made
 * durable. Deterministic: the seed decides every random fault.
 */
export class FaultDevice implements BlockDevice {
  readonly size: number;
  readonly injected: InjectedFault[] = [];
  readonly calls: Record<FaultOp, number> = { read: 0, write: 0, fsync: 0 };
  private readonly rules: ArmedRule[] = [];
  private readonly random: () => number;
  /** Random fault probabilities per kind of call; may be changed at any time (e.g. armed after mount). */
  readonly rates: Partial<Record<FaultOp, number>>;
  /** Written since the last good fsync: durable once an fsync succeeds. */
  private pending = new Map<number, Uint8Array>();
  /** Lost to a failed fsync: visible to reads (the page cache), never written below. */
  private readonly lost = new Map<number, Uint8Array>();

  constructor(
    readonly inner: BlockDevice,
    options: FaultOptions = {},
  ) {
    this.size = inner.size;
    this.random = seededRandom(options.seed ?? 1);
    this.rates = { ...options.rates };
    for (const [op, rate] of Object.entries(this.rates)) {
      assert(rate >= 0 && rate < 1, `the ${op} fault rate is a probability below 1`);
    }
  }

  /** Arm a fault for later calls (see FaultRule). */
  fail(rule: FaultRule): void {
    assert(rule.nth === undefined || (Number.isInteger(rule.nth) && rule.nth >= 1), 'nth counts calls from 1');
    assert(rule.shortBytes === undefined || rule.op === 'write', 'only a write can be short');
    this.rules.push({ ...rule, armedAt: this.calls[rule.op], left: rule.times ?? 1 });
  }

  /** Disarm every rule and stop random faults. */
  heal(): void {
    this.rules.length = 0;
    for (const op of Object.keys(this.rates) as FaultOp[]) this.rates[op] = 0;
  }

  /** Writes not yet made durable by an fsync (bytes, in whole pages). */
  get pendingBytes(): number {
    return this.pending.size * PAGE_BYTES;
  }

  read(offset: number, target: Uint8Array): void {
    this.check('read', offset, target.length);
    this.inner.read(offset, target);
    this.forPages(offset, target.length, (index, within, done, n) => {
      const page = this.pending.get(index) ?? this.lost.get(index);
      if (page !== undefined) target.set(page.subarray(within, within + n), done);
    });
  }

  write(offset: number, data: Uint8Array): void {
    const short = this.check('write', offset, data.length);
    const length = short ?? data.length;
    this.forPages(offset, length, (index, within, done, n) => {
      const page = this.page(index);
      page.set(data.subarray(done, done + n), within);
    });
    if (short !== undefined) {
      throw new FsError(
        'EIO',
        `short write at offset ${offset}: ${short} of ${data.length} bytes (injected fault, write call ${this.calls.write})`,
      );
    }
  }

  fsync(): void {
    try {
      this.check('fsync', 0, 0);
    } catch (error) {
      for (const [index, page] of this.pending) this.lost.set(index, page);
      this.pending = new Map();
      throw error;
    }
    for (const [index, page] of [...this.pending].sort((a, b) => a[0] - b[0])) {
      this.inner.write(index * PAGE_BYTES, page);
      this.lost.delete(index);
    }
    this.pending = new Map();
    this.inner.fsync();
  }

  makeWritable(): void {
    this.inner.makeWritable?.();
  }

  close(): void {
    this.pending = new Map();
    this.inner.close();
  }

  /** The page at `index` as reads see it, held as pending (copied on first write since the last fsync). */
  private page(index: number): Uint8Array {
    let page = this.pending.get(index);
    if (page !== undefined) return page;
    page = new Uint8Array(PAGE_BYTES);
    const lost = this.lost.get(index);
    if (lost !== undefined) page.set(lost);
    else this.inner.read(index * PAGE_BYTES, page.subarray(0, Math.min(PAGE_BYTES, this.size - index * PAGE_BYTES)));
    this.pending.set(index, page);
    return page;
  }

  private forPages(
    offset: number,
    length: number,
    each: (index: number, within: number, done: number, n: number) => void,
  ) {
    let done = 0;
    while (done < length) {
      const at = offset + done;
      const index = Math.floor(at / PAGE_BYTES);
      const within = at - index * PAGE_BYTES;
      const n = Math.min(PAGE_BYTES - within, length - done);
      each(index, within, done, n);
      done += n;
    }
  }

  /**
   * Count the call and decide its fate: throws EIO for a failed call,
   * returns the bytes a short write lands, or undefined to go ahead.
   */
  private check(op: FaultOp, offset: number, length: number): number | undefined {
    if (!Number.isSafeInteger(offset) || offset < 0 || offset + length > this.size) {
      throw new FsError(
        'EIO',
        `${op} of ${length} bytes at offset ${offset} is outside the device (size ${this.size})`,
      );
    }
    const call = ++this.calls[op];
    const rule = this.rules.find((r) => r.op === op && r.left > 0 && matches(r, call, offset, length));
    const rate = this.rates[op] ?? 0;
    const random = rule === undefined && rate > 0 && this.random() < rate;
    if (rule === undefined && !random) return undefined;
    if (rule !== undefined) rule.left--;
    const short = rule?.shortBytes === undefined ? undefined : Math.min(rule.shortBytes, length);
    this.injected.push({ op, call, offset, length, ...(short === undefined ? {} : { short }) });
    if (short !== undefined) return short;
    const where = op === 'fsync' ? '' : ` of ${length} bytes at offset ${offset}`;
    throw new FsError('EIO', `${op}${where} failed (injected fault, ${op} call ${call})`);
  }
}

function matches(rule: ArmedRule, call: number, offset: number, length: number): boolean {
  if (rule.nth !== undefined && call - rule.armedAt !== rule.nth) return false;
  if (rule.range !== undefined && (offset + length <= rule.range.from || offset >= rule.range.to)) return false;
  // A rule with neither matches every call of its kind (up to `times`).
  return true;
}

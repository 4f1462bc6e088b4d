import { createHash } from 'node:crypto';
import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import type { BusEvent } from '../actors/api.js';
import { mkfs, mount } from '../actors/index.js';
import { AuditLog } from '../storage/audit-log.js';
import { AuditReader } from '../storage/audit-reader.js';
import {
  type DeferredPayload,
  encodePayload,
  encodePayloadDeferred,
  flatJson,
  joinDeferred,
  reviveBinary,
} from '../storage/audit-schema.js';
import { isFsError } from '../storage/errors.js';
import {
  asStored,
  busEvent,
  CLOCK_SPEC,
  loggedMount,
  loggedVolume,
  MKFS_PARAMETERS,
  makeVolume,
  readEvents,
  removeLog,
  testClock,
} from './support/audit.js';
import { cliAsync } from './support/cli.js';

const dir = mkdtempSync(join(tmpdir(), 'hammerstate-audit-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function paths(name: string) {
  const volume = join(dir, `${name}.hsvol`);
  const log = `${volume}.events.sqlite`;
  removeLog(log);
  return { volume, log };
}

/** Global seqs run 1, 2, ... with no gap and no repeat. */
function expectContiguous(seqs: number[]): void {
  expect(seqs).toEqual(Array.from({ length: seqs.length }, (_, i) => i + 1));
}

/** What a thrown FsError says, for assertions on its code and message. */
function thrown(work: () => void): { code: string; message: string } {
  try {
    work();
  } catch (error) {
    if (isFsError(error)) return { code: error.code, message: error.message };
    throw error;
  }
  throw new Error('expected an FsError');
}

describe('audit log of a real mount', () => {
  it('keeps every bus event in order with its kind; a remount continues the global seq', async () => {
    const { volume, log: path } = paths('order');
    const clock = testClock();
    const log = AuditLog.open(path);
    await makeVolume(volume, clock, log);
    const first = await loggedMount(log, volume, clock, async (fs) => {
      await fs.mkdir('/d');
      await fs.writeFile('/d/a', Buffer.from('hello'));
      await fs.appendFile('/d/a', ' world');
      await fs.rename('/d/a', '/d/b');
      await fs.sync();
      expect(await fs.readFile('/d/b', 'utf8')).toBe('hello world');
    });
    log.close();
    expect(first.length).toBeGreaterThan(20);
    expect(new Set(first.map((event) => event.kind))).toEqual(new Set(['command', 'fact']));

    const again = AuditLog.open(path);
    expect(again.lastSeq).toBe(first.length + 2);
    const second = await loggedMount(again, volume, clock, async (fs) => {
      await fs.writeFile('/d/c', 'more');
      await fs.sync();
    });
    again.close();

    const stored = readEvents(path);
    expectContiguous(stored.map((event) => event.seq));
    expect(stored[0]).toMatchObject({ seq: 1, run: 1, kind: 'command', actor: 'fs', type: 'mkfs', busSeq: undefined });
    expect(stored[0]?.payload).toEqual({ volume, parameters: MKFS_PARAMETERS, clock: CLOCK_SPEC, level: 'full' });
    for (const [run, seen] of [
      [2, first],
      [3, second],
    ] as const) {
      const events = stored.filter((event) => event.run === run);
      expect(events[0]).toMatchObject({ kind: 'command', type: 'mount', busSeq: undefined, payload: { seed: 7 } });
      expect(events.slice(1)).toEqual(seen.map((event) => expect.objectContaining(asStored(event))));
    }
    const secondStart = stored.find((event) => event.run === 3);
    expect(secondStart?.seq).toBe(first.length + 3);

    const reader = AuditReader.open(path);
    expect(reader.startsAtMkfs).toBe(true);
    expect(reader.runs().map((run) => [run.run, run.kind, run.level, run.firstSeq, run.lastSeq])).toEqual([
      [1, 'mkfs', 'full', 1, 1],
      [2, 'mount', 'full', 2, first.length + 2],
      [3, 'mount', 'full', first.length + 3, stored.length],
    ]);
    expect(reader.runs()[1]).toMatchObject({ seed: 7, clock: CLOCK_SPEC, volume });
    expect(reader.level(2)).toBe('full');
    reader.close();
  });

  it('is read back while its mount runs: what flush() wrote is there', async () => {
    const { volume, log: path } = paths('live');
    const clock = testClock();
    await makeVolume(volume, clock);
    const log = AuditLog.open(path, { level: 'meta' });
    await loggedMount(log, volume, clock, async (fs) => {
      await fs.writeFile('/x', 'x');
      log.flush();
      const reader = AuditReader.open(path);
      expect(reader.startsAtMkfs).toBe(false);
      expect([...reader.events({ type: 'writeFile' })]).toHaveLength(1);
      expect(reader.runs()[0]).toMatchObject({ kind: 'mount', level: 'meta', endTime: undefined });
      reader.close();
    });
    log.close();
    const again = AuditLog.open(path);
    const mkfsRun = { kind: 'mkfs', volume, parameters: {}, clock: {}, time: 0 } as const;
    expect(thrown(() => again.beginRun(mkfsRun))).toMatchObject({ code: 'EEXIST' });
    again.close();
  });
});

describe('the direct line from the bus', () => {
  it('stores exactly what a subscriber sees, payload text included (inode flags kept as numbers too)', async () => {
    const { volume, log: path } = paths('sink');
    const clock = testClock();
    await mkfs(volume, { clock });
    const fs = await mount(volume, { clock });
    const seen: BusEvent[] = [];
    fs.events.subscribe((event) => seen.push(event));
    await fs.mkdir('/d');
    await fs.writeFile('/d/a', Buffer.from('hello'));
    const handle = await fs.open('/d/a', 'r+');
    await handle.write('HE', 0, 2, 0);
    await handle.sync();
    await handle.close();
    await fs.rename('/d/a', '/d/b');
    await fs.sync();
    await fs.unmount();
    const first = seen[0]?.seq ?? 0;
    const stored = readEvents(path, { run: 2 }).filter((event) => (event.busSeq ?? 0) >= first);
    const reader = AuditReader.open(path);
    const texts = [...reader.events({ run: 2 }, { parse: false })].filter((event) => (event.busSeq ?? 0) >= first);
    reader.close();
    expect(
      seen.filter((event) => event.actor.startsWith('inode:') && event.payload?.group !== undefined).length,
    ).toBeGreaterThan(0);
    // A FLUSH_DONE carries what the flush wrote, kept as numbers too (with and without a group).
    const done = seen.filter((event) => event.type === 'FLUSH_DONE' && typeof event.payload?.inserted === 'number');
    expect(done.length).toBeGreaterThan(0);
    expect(stored).toEqual(seen.map((event) => expect.objectContaining(asStored(event))));
    expect(texts.map((event) => event.payloadText ?? null)).toEqual(
      seen.map((event) => (event.payload === undefined ? null : encodePayload(event.payload, 'full'))),
    );
  });
});

describe('audit levels', () => {
  const data = Buffer.from('the bytes a replay needs');
  const nested = new Uint8Array([1, 2, 3]);

  /** One synthetic run whose event carries binary values; the caller's buffer is reused right after. */
  function logBinary(name: string, level: 'full' | 'meta') {
    const { log: path } = paths(name);
    const log = AuditLog.open(path, { level });
    log.beginRun({ kind: 'mount', volume: 'mem', parameters: {}, clock: CLOCK_SPEC, time: 0 });
    const reused = Buffer.from(data);
    log.record(busEvent(1, { path: '/f', data: reused, parts: [{ chunk: nested }], big: 2n ** 70n }));
    reused.fill(0);
    log.endRun(1);
    log.close();
    return path;
  }

  it('full keeps write payloads exactly (replayable), as they were when recorded', () => {
    const [, event] = readEvents(logBinary('full', 'full'));
    expect(event?.payload?.data).toEqual({ bytes: data.length, base64: data.toString('base64') });
    expect(reviveBinary(event?.payload)).toEqual({
      path: '/f',
      data,
      parts: [{ chunk: Buffer.from(nested) }],
      big: 2n ** 70n,
    });
  });

  it('meta keeps sizes and SHA-256 only, and the run says so', () => {
    const path = logBinary('meta', 'meta');
    const [start, event] = readEvents(path);
    expect(start?.payload?.level).toBe('meta');
    const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');
    expect(event?.payload).toEqual({
      path: '/f',
      data: { bytes: data.length, sha256: sha256(data) },
      parts: [{ chunk: { bytes: 3, sha256: sha256(nested) } }],
      big: { bigint: (2n ** 70n).toString() },
    });
    const db = new Database(path, { readonly: true });
    expect(db.prepare("SELECT count(*) FROM events WHERE payload LIKE '%base64%'").pluck().get()).toBe(0);
    expect(db.prepare('SELECT level FROM runs').pluck().all()).toEqual(['meta']);
    db.close();
  });
});

describe('payload encoding', () => {
  const scalar = fc.oneof(
    fc.double(),
    fc.integer(),
    fc.boolean(),
    fc.constant(null),
    fc.constant(undefined),
    fc.string({ unit: 'binary' }),
  );

  it('the flat fast path writes exactly what JSON.stringify writes, and declines anything else', () => {
    fc.assert(
      fc.property(fc.dictionary(fc.string({ unit: 'binary' }), scalar), (payload) => {
        const plain = Object.getPrototypeOf(payload) === Object.prototype;
        expect(flatJson(payload)).toBe(plain ? JSON.stringify(payload) : undefined);
        expect(encodePayload(payload, 'full')).toBe(JSON.stringify(payload));
      }),
    );
    for (const payload of [
      { nested: { a: 1 } },
      { list: [1] },
      { data: new Uint8Array(1) },
      { big: 1n },
      new Date(0),
    ]) {
      expect(flatJson(payload as Record<string, unknown>)).toBeUndefined();
    }
    expect(flatJson({ toJSON: () => 'x' })).toBeUndefined();
  });

  it('a flat payload with binary values is the JSON of the payload with each one as {bytes, base64} (full) or {bytes, sha256} (meta)', () => {
    const reference = (p: Record<string, unknown>, level: 'full' | 'meta') =>
      JSON.stringify(p, (_key, v: unknown) => {
        if (!(v instanceof Uint8Array)) return v;
        const bytes = Buffer.from(v);
        return level === 'full'
          ? { bytes: bytes.length, base64: bytes.toString('base64') }
          : { bytes: bytes.length, sha256: createHash('sha256').update(bytes).digest('hex') };
      });
    // Buffer's own toJSON would run before the replacer sees it: the reference gets plain Uint8Arrays.
    const payload = fc.dictionary(fc.string({ unit: 'binary' }), fc.oneof(scalar, fc.uint8Array({ maxLength: 40 })));
    for (const level of ['full', 'meta'] as const) {
      fc.assert(
        fc.property(payload, (p) => {
          expect(encodePayload(p, level)).toBe(reference(p, level));
        }),
      );
    }
    // A key named __proto__ (a payload without a prototype takes the general path): kept as a key.
    const odd: Record<string, unknown> = Object.create(null);
    Object.defineProperty(odd, '__proto__', { value: new Uint8Array([1, 2]), enumerable: true });
    expect(encodePayload(odd, 'full')).toBe(reference(odd, 'full'));
    expect(encodePayload(odd, 'full')).toContain('"__proto__"');
  });

  it('binary values left to the writer thread come out as encodePayload writes them, a payload naming the mark too', () => {
    const mark = '\u0000hammerstate-binary\u0000';
    const value = fc.oneof(scalar, fc.uint8Array({ maxLength: 40 }), fc.constant(mark));
    const payload = fc.dictionary(fc.oneof(fc.string(), fc.constant(mark)), fc.oneof(value, fc.array(value)));
    for (const level of ['full', 'meta'] as const) {
      fc.assert(
        fc.property(payload, (p) => {
          const deferred = encodePayloadDeferred(p, level);
          const text = typeof deferred === 'string' ? deferred : joinDeferred(deferred, level);
          expect(text).toBe(encodePayload(p, level));
        }),
      );
    }
    const deferred = encodePayloadDeferred({ path: '/f', data: Buffer.from('bytes'), at: 3 }, 'full');
    expect(deferred).toMatchObject({ parts: ['{"path":"/f","data":', ',"at":3}'] });
    expect(JSON.parse(joinDeferred(deferred as DeferredPayload, 'full')).data.base64).toBe(
      Buffer.from('bytes').toString('base64'),
    );
    // The mark as a key, in a payload that takes the general path (nested): the cut would be wrong, so it is encoded at once.
    const marked = { [mark]: [new Uint8Array(1)] };
    expect(encodePayloadDeferred(marked, 'full')).toBe(encodePayload(marked, 'full'));
  });
});

describe('the failure policy: never silent loss', () => {
  /**
   * Another connection holding the log's write lock: the writer's next batch
   * fails in SQLite (SQLITE_BUSY), its transaction rolled back, as a full
   * disk fails it (SQLITE_FULL) on the same path; releasing the lock is the
   * space coming back.
   */
  function lockOf(path: string) {
    const db = new Database(path);
    return {
      hold: () => db.exec('BEGIN IMMEDIATE'),
      release: () => db.exec('COMMIT'),
      close: () => db.close(),
    };
  }

  it('a failing write: check() throws EIO naming the log and cause; reads go on; retried events land without a gap', async () => {
    const { volume, log: path } = paths('busy');
    const clock = testClock();
    await makeVolume(volume, clock);
    const log = AuditLog.open(path, { batchEvents: 16 });
    const lock = lockOf(path);
    const seen = await loggedMount(log, volume, clock, async (fs) => {
      await fs.mkdir('/d');
      log.flush();
      lock.hold();
      for (let i = 0; i < 10; i++) await fs.writeFile(`/d/f${i}`, `file ${i}`);
      expect(thrown(() => log.flush()).code).toBe('EIO');
      expect(log.failed?.message).toMatch(/SQLITE_BUSY/);
      const failure = thrown(() => log.check());
      expect(failure.code).toBe('EIO');
      expect(failure.message).toContain(path);
      expect(failure.message).toMatch(/SQLITE_BUSY: database is locked \(events in memory: \d+\)/);
      expect(await fs.readFile('/d/f0', 'utf8')).toBe('file 0');
      expect(log.buffered).toBeGreaterThan(16);
      lock.release();
      log.check();
      expect(log.failed).toBeUndefined();
      await fs.writeFile('/d/after', 'after');
    });
    lock.close();
    log.close();
    const stored = readEvents(path);
    expectContiguous(stored.map((event) => event.seq));
    expect(stored.slice(1)).toEqual(seen.map((event) => expect.objectContaining(asStored(event))));
  });

  it('a removed or replaced file fails the log until it is back; close() throws for what it could not write', () => {
    const { log: path } = paths('removed');
    const log = AuditLog.open(path);
    log.beginRun({ kind: 'mount', volume: 'mem', parameters: {}, clock: CLOCK_SPEC, time: 0 });
    log.record(busEvent(1));
    renameSync(path, `${path}.moved`);
    expect(thrown(() => log.flush())).toMatchObject({
      code: 'EIO',
      message: expect.stringMatching(/file was removed/),
    });
    log.record(busEvent(2));
    expect(thrown(() => log.check()).message).toMatch(/file was removed \(events in memory: 2\)/);
    writeFileSync(path, 'another file');
    expect(thrown(() => log.check()).message).toMatch(/file was replaced by another file/);
    renameSync(`${path}.moved`, path);
    log.check();
    expect(readEvents(path).map((event) => event.busSeq)).toEqual([undefined, 1, 2]);

    log.record(busEvent(3));
    removeLog(path);
    expect(thrown(() => log.close())).toMatchObject({
      code: 'EIO',
      message: expect.stringMatching(
        /closed with events not written: the log file was removed \(events in memory: 1\)/,
      ),
    });
  });

  it('a full buffer while failing drops events into EVENTS_LOST rows that count them', () => {
    const { log: path } = paths('dropped');
    const log = AuditLog.open(path, { batchEvents: 8, bufferEvents: 32 });
    const lock = lockOf(path);
    log.beginRun({ kind: 'mount', volume: 'mem', parameters: {}, clock: CLOCK_SPEC, time: 0 });
    lock.hold();
    for (let seq = 1; seq <= 100; seq++) log.record(busEvent(seq));
    expect(log.lost).toBeGreaterThan(0);
    expect(log.buffered).toBeLessThanOrEqual(32 + Math.ceil(log.lost / 8));
    expect(thrown(() => log.check()).message).toMatch(new RegExp(`dropped: ${log.lost}\\)`));
    lock.release();
    lock.close();
    log.check();
    log.record(busEvent(101));
    const lostTotal = log.lost;
    log.endRun(2);
    log.close();
    const stored = readEvents(path);
    expectContiguous(stored.map((event) => event.seq));
    const kept = stored.flatMap((event) => (event.busSeq === undefined ? [] : [event.busSeq]));
    const dropped = stored
      .filter((event) => event.type === 'EVENTS_LOST')
      .flatMap((event) => {
        const { events, firstBusSeq, lastBusSeq, cause } = event.payload as {
          events: number;
          firstBusSeq: number;
          lastBusSeq: number;
          cause: string;
        };
        expect([event.actor, cause]).toEqual(['log', expect.stringMatching(/SQLITE_BUSY/)]);
        expect(lastBusSeq - firstBusSeq + 1).toBe(events);
        return Array.from({ length: events }, (_, i) => firstBusSeq + i);
      });
    expect(dropped).toHaveLength(lostTotal);
    expect([...kept, ...dropped].sort((a, b) => a - b)).toEqual(Array.from({ length: 101 }, (_, i) => i + 1));
  });

  it('a healthy log waits for its writer when the buffer is full; an event over the byte bound is written alone', () => {
    const { log: path } = paths('pressure');
    const log = AuditLog.open(path, { batchEvents: 4, bufferEvents: 8, batchBytes: 1024, bufferBytes: 4096 });
    log.beginRun({ kind: 'mount', volume: 'mem', parameters: {}, clock: CLOCK_SPEC, time: 0 });
    const big = { data: Buffer.alloc(64 * 1024, 7) };
    for (let seq = 1; seq <= 200; seq++) log.record(busEvent(seq, seq % 50 === 0 ? big : { seq }));
    expect([log.lost, log.failed]).toEqual([0, undefined]);
    log.close();
    const stored = readEvents(path);
    expect(stored.map((event) => event.busSeq)).toEqual([undefined, ...Array.from({ length: 200 }, (_, i) => i + 1)]);
    expect(reviveBinary(stored[50]?.payload)).toEqual(big);
  });

  it('a bus seq that skips is marked by EVENTS_MISSED; one that goes back is an invariant violation', () => {
    const { log: path } = paths('missed');
    const log = AuditLog.open(path);
    log.beginRun({ kind: 'mount', volume: 'mem', parameters: {}, clock: CLOCK_SPEC, time: 0 });
    for (const seq of [1, 2, 5]) log.record(busEvent(seq));
    expect(() => log.record(busEvent(5))).toThrow(/bus seqs increase/);
    log.close();
    const stored = readEvents(path);
    expect(stored.map((event) => event.busSeq ?? event.type)).toEqual(['mount', 1, 2, 'EVENTS_MISSED', 5]);
    expect(stored[3]?.payload).toEqual({ events: 2, firstBusSeq: 3, lastBusSeq: 4 });
  });
});

describe('the log file', () => {
  it('reads with plain SQL on a fresh connection (what the sqlite3 shell sees)', async () => {
    const { volume, log: path } = paths('sql');
    await loggedVolume(volume, path, async (fs) => {
      await fs.writeFile('/a', 'a');
      await fs.sync();
    });
    const db = new Database(path, { readonly: true });
    expect(db.prepare("SELECT value FROM log_info WHERE key = 'format'").pluck().get()).toBe('hammerstate-events');
    const write = db
      .prepare("SELECT kind, actor, json_extract(payload, '$.path') AS path FROM events WHERE type = 'writeFile'")
      .get();
    expect(write).toEqual({ kind: 'command', actor: 'fs', path: '/a' });
    const flushes = db
      .prepare("SELECT count(*) FROM events WHERE from_state = 'setup' AND to_state = 'flush' AND actor LIKE 'inode:%'")
      .pluck()
      .get();
    expect(flushes).toBeGreaterThan(0);
    const runs = db.prepare('SELECT run, kind, level, first_seq, last_seq, end_time IS NOT NULL AS ended FROM runs');
    expect(runs.all()).toEqual([
      { run: 1, kind: 'mkfs', level: 'full', first_seq: 1, last_seq: 1, ended: 1 },
      expect.objectContaining({ run: 2, kind: 'mount', first_seq: 2, ended: 1 }),
    ]);
    db.close();
  });

  it('refuses what is not an event log, bad options, and a missing file', () => {
    const text = join(dir, 'text.sqlite');
    writeFileSync(text, 'not SQLite at all, just long enough to have a header of some sort'.repeat(2));
    expect(thrown(() => AuditLog.open(text))).toMatchObject({ code: 'EINVAL' });
    expect(thrown(() => AuditReader.open(text))).toMatchObject({ code: 'EINVAL' });
    const other = join(dir, 'other.sqlite');
    const db = new Database(other);
    db.exec('CREATE TABLE t (x)');
    db.close();
    expect(thrown(() => AuditLog.open(other))).toMatchObject({ code: 'EINVAL' });
    expect(thrown(() => AuditReader.open(other))).toMatchObject({ code: 'EINVAL' });
    expect(thrown(() => AuditReader.open(join(dir, 'missing.sqlite')))).toMatchObject({ code: 'ENOENT' });
    expect(thrown(() => AuditLog.open(join(dir, 'no', 'such', 'dir.sqlite')))).toMatchObject({ code: 'ENOENT' });
    expect(thrown(() => AuditLog.open(join(dir, 'b.sqlite'), { batchEvents: 10, bufferEvents: 5 }))).toMatchObject({
      code: 'EINVAL',
    });
  });
});

describe('hammerstate log', () => {
  it('prints the events filtered by actor, type and seq range, as a table or JSON lines; refuses what is not a log', async () => {
    const { volume, log: path } = paths('cli');
    await loggedVolume(volume, path, async (fs) => {
      await fs.writeFile('/a', 'a');
      await fs.writeFile('/b', 'b');
      await fs.sync();
    });
    const lines = (text: string) => text.trimEnd().split('\n');
    const parsed = (text: string) => lines(text).map((line) => JSON.parse(line) as Record<string, unknown>);
    const [all, writes, range, table, runs, missing, volumeFile, badSeq] = await Promise.all([
      cliAsync(['log', path, '--json'], dir),
      cliAsync(['log', path, '--type', 'writeFile', '--json'], dir),
      cliAsync(['log', path, '--actor', 'fs', '--from', '3', '--to', '12', '--json'], dir),
      cliAsync(['log', path], dir),
      cliAsync(['log', path, '--runs', '--json'], dir),
      cliAsync(['log', join(dir, 'missing.sqlite')], dir),
      cliAsync(['log', volume, '--json'], dir),
      cliAsync(['log', path, '--from', 'x'], dir),
    ]);
    expect(all.status).toBe(0);
    expect(all.stderr).toBe('');
    expectContiguous(parsed(all.stdout).map((event) => event.seq as number));
    expect(parsed(writes.stdout).map((event) => [event.actor, event.type, event.payload])).toEqual([
      ['fs', 'writeFile', { path: '/a', data: { bytes: 1, base64: 'YQ==' } }],
      ['fs', 'writeFile', { path: '/b', data: { bytes: 1, base64: 'Yg==' } }],
    ]);
    const inRange = parsed(range.stdout);
    expect(inRange.length).toBeGreaterThan(0);
    expect(inRange.every((e) => e.actor === 'fs' && (e.seq as number) >= 3 && (e.seq as number) <= 12)).toBe(true);
    expect(table.stdout).toMatch(/^-- run 1: mkfs .* level full .* at seq 1, ended/m);
    expect(table.stdout).toMatch(
      /^ +\d+ \S+Z command -\s+fs\s+writeFile\s+\{"path":"\/a","data":\{"bytes":1,"base64":"YQ=="\}\}$/m,
    );
    expect(table.stdout).toMatch(/FLUSH\s+setup->flush/);
    expect(parsed(runs.stdout).map((run) => [run.kind, run.level])).toEqual([
      ['mkfs', 'full'],
      ['mount', 'full'],
    ]);
    expect([missing.status, missing.stderr]).toEqual([2, expect.stringContaining('ENOENT')]);
    expect([volumeFile.status, volumeFile.json()]).toEqual([
      2,
      expect.objectContaining({ error: expect.objectContaining({ code: 'EINVAL' }) }),
    ]);
    expect([badSeq.status, badSeq.stderr]).toEqual([2, expect.stringContaining('--from must be a seq')]);
  });

  it('says when a log does not start at mkfs', async () => {
    const { volume, log: path } = paths('late');
    await loggedVolume(volume, path, async (fs) => fs.writeFile('/a', 'a'), false);
    const run = await cliAsync(['log', path, '--type', 'mount'], dir);
    expect(run.status).toBe(0);
    expect(run.stderr).toContain('does not start at mkfs');
    expect(run.stdout).toMatch(/^-- run 1: mount .* seed 7 /m);
  });
});

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Subject } from 'rxjs';
import { afterAll, describe, expect, it } from 'vitest';
import type { BusEvent } from '../actors/api.js';
import { mkfs } from '../actors/index.js';
import { startInspect } from '../cli/report/inspect.js';
import type { ReportSummary } from '../cli/report/model.js';
import { startReportServer } from '../cli/report/server.js';
import type { LiveRow } from '../cli/report/travel.js';
import { AuditReader } from '../storage/audit-reader.js';
import { logicalClock } from '../storage/clock.js';
import { MiB } from './support/fs.js';
import { readSse, type SseMessage } from './support/sse.js';

const dir = mkdtempSync(join(tmpdir(), 'hammerstate-report-server-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const rowsOf = (messages: SseMessage[]): LiveRow[] =>
  messages.filter((m) => m.event === 'events').flatMap((m) => JSON.parse(m.data) as LiveRow[]);

function event(seq: number, actor: string, type: string, from?: string, to?: string): BusEvent {
  const e: BusEvent = { seq, kind: 'fact', time: 1_700_000_000_000_000 + seq, tid: undefined, actor, type };
  if (from !== undefined) e.from = from;
  if (to !== undefined) e.to = to;
  return e;
}

describe('the live report server', () => {
  it('serves the page, then the events a client has not seen, then the new ones as they come', async () => {
    const bus = new Subject<BusEvent>();
    const server = await startReportServer({ title: 'bus', events: bus, port: 0, tickMs: 10, summaryMs: 10 });
    try {
      bus.next(event(1, 'fs', 'mkdir'));
      bus.next(event(2, 'inode:0:5:live', 'DEPEND', 'idle', 'setup'));
      bus.next(event(3, 'flg:1', 'OPEN'));
      expect(server.events).toBe(3);
      const page = await fetch(server.url);
      expect(page.status).toBe(200);
      expect(page.headers.get('content-type')).toMatch(/^text\/html/);
      const html = await page.text();
      expect(html).toContain('"live":true');
      expect(html).toContain('data-machine="inode"');

      // A client that saw seq 1 gets 2 and 3 at once, a summary, then what the bus publishes next.
      const later = setTimeout(() => bus.next(event(4, 'inode:0:5:live', 'FLUSH', 'setup', 'flush')), 50);
      const messages = await readSse(`${server.url}events?after=1`, (m) => rowsOf(m).length >= 3);
      clearTimeout(later);
      expect(rowsOf(messages).map((row) => row[0])).toEqual([2, 3, 4]);
      const [depend, , flush] = rowsOf(messages);
      expect(depend?.slice(2, 6)).toEqual(['inode:0:5:live', 'DEPEND', 'idle', 'setup']);
      expect(flush?.[7]).toBeGreaterThanOrEqual(0);
      const summary = JSON.parse(messages.find((m) => m.event === 'summary')?.data ?? '{}') as ReportSummary;
      expect(summary.live).toBe(true);
      expect(summary.totals.events).toBeGreaterThanOrEqual(3);
      expect(summary.machines.inode.states.setup?.visits).toBe(1);

      expect((await fetch(`${server.url}nope`)).status).toBe(404);
      expect((await fetch(server.url, { method: 'POST' })).status).toBe(405);
    } finally {
      await server.close();
    }
    await expect(fetch(server.url)).rejects.toThrow();
  });

  it('fails to start on a port in use, leaving nothing running', async () => {
    const bus = new Subject<BusEvent>();
    const first = await startReportServer({ title: 'bus', events: bus, port: 0 });
    try {
      await expect(startReportServer({ title: 'bus', events: bus, port: first.port })).rejects.toMatchObject({
        code: 'EADDRINUSE',
      });
      expect(bus.observed).toBe(true);
    } finally {
      await first.close();
    }
    expect(bus.observed).toBe(false);
  });

  it('draws the inode asked for once it acts, the busiest one until then', async () => {
    const bus = new Subject<BusEvent>();
    const server = await startReportServer({ title: 'bus', events: bus, port: 0, inode: '7', tickMs: 5, summaryMs: 5 });
    try {
      bus.next(event(1, 'inode:0:5:live', 'DEPEND', 'idle', 'setup'));
      const before = await readSse(`${server.url}events`, (m) => m.some((x) => x.event === 'summary'));
      const summary = (m: SseMessage[]) =>
        JSON.parse(m.find((x) => x.event === 'summary')?.data ?? '{}') as ReportSummary;
      expect(summary(before).sequence?.inode).toBe('inode:0:5:live');
      bus.next(event(2, 'inode:0:7:live', 'DEPEND', 'idle', 'setup'));
      const after = await readSse(`${server.url}events?after=2`, (m) => m.some((x) => x.event === 'summary'));
      expect(summary(after).sequence?.inode).toBe('inode:0:7:live');
    } finally {
      await server.close();
    }
  });

  it('stops with a client still listening (close ends its stream)', async () => {
    const bus = new Subject<BusEvent>();
    const server = await startReportServer({ title: 'bus', events: bus, port: 0, tickMs: 10 });
    const response = await fetch(`${server.url}events`);
    const reader = response.body?.getReader();
    await reader?.read();
    await server.close();
    let done = false;
    while (!done) done = (await reader?.read())?.done ?? true;
    expect(done).toBe(true);
  });
});

describe('inspect: a mount served live while the built-in workload runs', () => {
  it('streams the workload as it happens and unmounts cleanly when stopped', async () => {
    const volume = join(dir, 'live.hsvol');
    const clock = logicalClock();
    await mkfs(volume, { size: 64 * MiB, undoBytes: 8 * MiB, clock });
    const session = await startInspect({ volume, port: 0, workload: true, intervalMs: 2, clock });
    let stopped = false;
    try {
      const messages = await readSse(`${session.url}events?after=0`, (m) => {
        const rows = rowsOf(m);
        return rows.some((row) => row[3] === 'COMMIT') && m.some((x) => x.event === 'summary') && rows.length > 200;
      });
      const rows = rowsOf(messages);
      expect(rows.length).toBeGreaterThan(200);
      expect(rows.map((row) => row[0])).toEqual([...rows.map((row) => row[0])].sort((a, b) => a - b));
      expect(rows.some((row) => row[3] === 'writeFile' && String(row[8]).startsWith('/inspect/d'))).toBe(true);
      const result = await session.stop();
      stopped = true;
      expect(result.error).toBeUndefined();
      expect(result.steps).toBeGreaterThan(0);
      expect(result.events).toBeGreaterThanOrEqual(rows.length);
    } finally {
      if (!stopped) await session.stop();
    }
    await expect(fetch(session.url)).rejects.toThrow();
    // The mount was logged as every mount is, and its run ended: the unmount ran.
    const reader = AuditReader.open(`${volume}.events.sqlite`);
    try {
      const runs = reader.runs();
      expect(runs.map((run) => run.kind)).toEqual(['mkfs', 'mount']);
      expect(runs[1]?.endTime).toBeDefined();
      expect([...reader.events({ type: 'unmount' })]).toHaveLength(1);
    } finally {
      reader.close();
    }
  });
});

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ReportBuilder } from '../cli/report/builder.js';
import { logReport } from '../cli/report/log-report.js';
import type { ReportModel } from '../cli/report/model.js';
import { renderReportPage, scriptJson } from '../cli/report/page.js';
import { inodeSequence } from '../cli/report/sequence.js';
import { reportDiagrams, TransitionMatcher } from '../cli/report/transitions.js';
import { AuditReader, type LoggedEvent } from '../storage/audit-reader.js';
import { readEvents } from './support/audit.js';
import { reportVolume } from './support/report.js';

const dir = mkdtempSync(join(tmpdir(), 'hammerstate-report-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let log: string;
let events: LoggedEvent[];
let model: ReportModel;

function report(options: { inode?: string; maxEvents?: number } = {}): ReportModel {
  const reader = AuditReader.open(log);
  try {
    return logReport(reader, options);
  } finally {
    reader.close();
  }
}

beforeAll(async () => {
  log = await reportVolume(join(dir, 'vol.hsvol'));
  events = readEvents(log);
  model = report();
});

const transitions = (prefix: string) =>
  events.filter((e) => e.actor.startsWith(prefix) && e.from !== undefined && e.to !== undefined);

/** An actor's state after `e`: its step's to state, or its machine's initial one at its OPEN / CREATED fact. */
function stateAfter(e: LoggedEvent): string | undefined {
  if (e.to !== undefined) return e.to;
  if (e.type === 'OPEN' && e.actor.startsWith('flg:')) return 'open';
  if (e.type === 'CREATED' && e.actor.startsWith('inode:')) return 'idle';
  return undefined;
}

/** Each actor's state after every event, keyed `<run>|<actor>`, computed here from the whole log. */
function statesAfter(upTo: number): Map<string, string> {
  const states = new Map<string, string>();
  for (const e of events) {
    if (e.seq > upTo) break;
    const state = stateAfter(e);
    if (state !== undefined && (e.actor.startsWith('inode:') || e.actor.startsWith('flg:'))) {
      states.set(`${e.run}|${e.actor}`, state);
    }
  }
  return states;
}

describe('report data from an audit log', () => {
  it('counts the events, commands, facts and runs the log holds', () => {
    const { totals, runs } = model.summary;
    expect(totals.events).toBe(events.length);
    expect(totals.commands).toBe(events.filter((e) => e.kind === 'command').length);
    expect(totals.facts).toBe(events.filter((e) => e.kind === 'fact').length);
    expect(totals.inodes).toBe(new Set(events.filter((e) => e.actor.startsWith('inode:')).map((e) => e.actor)).size);
    expect(runs.map((r) => [r.run, r.kind])).toEqual([
      [1, 'mkfs'],
      [2, 'mount'],
      [3, 'mount'],
    ]);
    expect(runs[2]?.lastSeq).toBe(events[events.length - 1]?.seq);
  });

  it('explains every logged step by a transition of the diagrams, and counts each take', () => {
    for (const [machine, prefix] of [
      ['inode', 'inode:'],
      ['flushGroup', 'flg:'],
    ] as const) {
      const usage = model.summary.machines[machine];
      const logged = transitions(prefix);
      expect(usage.unmatched).toEqual([]);
      expect(usage.total).toBe(logged.length);
      const taken = Object.values(usage.transitions).reduce((sum, n) => sum + n, 0);
      expect(taken).toBe(logged.length);
      // A state's visits: the steps into it from another state, plus each actor's first logged state.
      const entered = (state: string) => logged.filter((e) => e.to === state && e.from !== state).length;
      const firsts = new Map<string, string>();
      for (const e of logged) if (!firsts.has(`${e.run}|${e.actor}`)) firsts.set(`${e.run}|${e.actor}`, e.from ?? '');
      for (const [state, counts] of Object.entries(usage.states)) {
        const first = [...firsts.values()].filter((s) => s === state).length;
        expect(counts.visits, `${machine} ${state}`).toBe(entered(state) + first);
        expect(counts.events, `${machine} ${state}`).toBe(logged.filter((e) => e.from === state).length);
      }
    }
    const flush = model.summary.machines.inode.states.flush;
    expect(flush?.visits).toBeGreaterThan(0);
  });

  it('picks the transition XState took among guarded alternatives', () => {
    const diagram = reportDiagrams().inode;
    const matcher = new TransitionMatcher(diagram);
    const index = (from: string, type: string, to: string) => diagram.transitions[matcher.match(from, type, to)];
    expect(index('idle', 'FLUSH', 'idle')?.guard).toBe('nothingToFlush');
    expect(index('idle', 'FLUSH', 'setup')?.guard).toBe('noRecordCanGo');
    expect(index('idle', 'FLUSH', 'flush')?.actions).toEqual(['freezeForBackend']);
    expect(index('flush', 'FLUSH_DONE', 'flush')?.guard).toBe('wouldBlock');
    expect(index('setup', 'MODIFY', 'setup')?.source).toBeNull();
    expect(matcher.match('idle', 'FLUSH_DONE', 'idle')).toBe(-1);
    expect(matcher.match('idle', 'NO_SUCH_EVENT', 'idle')).toBe(-1);
  });

  it('makes a timeline row per flush group with its TID and the device work of its run', () => {
    const { groups, device } = model.summary;
    const opened = events.filter((e) => e.type === 'OPEN' && e.actor.startsWith('flg:'));
    expect(groups.map((g) => g.key)).toEqual(opened.map((e) => `${e.run}:${e.actor}`));
    const commits = events.filter((e) => e.type === 'COMMIT');
    for (const commit of commits) {
      const row = groups.find((g) => g.key === `${commit.run}:flg:${commit.payload?.group}`);
      expect(row?.tid).toBe(commit.payload?.tid);
      expect(row?.state).toBe('done');
      const finalizes = events.filter((e) => e.type === 'FINALIZE' && e.tid === commit.payload?.tid);
      const sum = (field: string) => finalizes.reduce((total, e) => total + Number(e.payload?.[field]), 0);
      expect(row?.fifoBytes).toBe(sum('fifoBytes'));
      expect(row?.dataBytes).toBe(sum('dataBytes'));
      expect(row?.metaBytes).toBe(sum('metaBytes'));
      expect(row?.finalizes).toBe(finalizes.length);
      expect(row?.headerCommits).toBe(1);
      const synced = new Set(
        events
          .filter((e) => (e.type === 'SYNC_INODE' || e.type === 'FLUSH_DONE') && e.tid === commit.payload?.tid)
          .map((e) => e.actor),
      );
      expect(row?.synced).toBe(synced.size);
    }
    const volumeOps = events.filter((e) => ['FINALIZE', 'HEADER_COMMIT', 'REDO_SYNC'].includes(e.type));
    expect(device.map((op) => op.seq)).toEqual(volumeOps.map((e) => e.seq));
    // The snapshot's header commit and the fsync's REDO sync ran outside any group's run.
    const outside = device.filter((op) => op.group === undefined);
    expect(outside.map((op) => op.type)).toEqual(expect.arrayContaining(['REDO_SYNC', 'HEADER_COMMIT']));
    // fsyncs as storage/volume-commit.ts issues them: FIFO written, meta written (or not final), header, REDO sync.
    const redo = device.find((op) => op.type === 'REDO_SYNC');
    expect(redo?.fsyncs).toBe(1);
    for (const op of device.filter((o) => o.type === 'FINALIZE')) {
      expect(op.fsyncs).toBe((op.fifoBytes > 0 ? 1 : 0) + (op.metaBytes > 0 || !op.final ? 1 : 0));
    }
  });

  it("draws the busiest inode's sequence: its commands, steps, and the groups whose runs synced it", () => {
    const counts = new Map<string, number>();
    for (const e of events) if (e.actor.startsWith('inode:')) counts.set(e.actor, (counts.get(e.actor) ?? 0) + 1);
    const busiest = [...counts].reduce((best, entry) => (entry[1] > best[1] ? entry : best));
    const sequence = model.summary.sequence;
    expect(sequence?.inode).toBe(busiest[0]);
    expect(sequence?.events).toBe(busiest[1]);
    expect(sequence?.lanes.slice(0, 2)).toEqual(['fs', busiest[0]]);
    const messages = sequence?.messages ?? [];
    expect(messages.length).toBe(sequence?.total);
    expect(messages.map((m) => m.seq)).toEqual([...messages.map((m) => m.seq)].sort((a, b) => a - b));
    // Every join lands in the group whose run synced the inode next (its SYNC_INODE or FLUSH_DONE TID).
    const joins = messages.filter((m) => m.kind === 'join');
    expect(joins.length).toBeGreaterThan(0);
    for (const join of joins) {
      const synced = events.find(
        (e) => e.seq > join.seq && e.actor === busiest[0] && (e.type === 'SYNC_INODE' || e.type === 'FLUSH_DONE'),
      );
      const commit = events.find((e) => e.type === 'COMMIT' && e.tid === synced?.tid);
      expect(sequence?.lanes[join.to]).toBe(`${commit?.run}:flg:${commit?.payload?.group}`);
    }
    // Commands: each one whose facts touched the inode, once.
    const commandSeqs = messages.filter((m) => m.kind === 'command').map((m) => m.seq);
    expect(new Set(commandSeqs).size).toBe(commandSeqs.length);
    for (const seq of commandSeqs) expect(events.find((e) => e.seq === seq)?.kind).toBe('command');
  });

  it('chooses the inode by actor id or obj_id, and refuses one the log does not have', () => {
    const file = events.find((e) => e.type === 'CREATED' && e.payload?.name === 'log.txt');
    const actor = file?.actor ?? '';
    const objId = actor.split(':')[2] ?? '';
    expect(report({ inode: actor }).summary.sequence?.inode).toBe(actor);
    expect(report({ inode: objId }).summary.sequence?.inode).toBe(actor);
    expect(report({ inode: `0x${BigInt(objId).toString(16)}` }).summary.sequence?.inode).toBe(actor);
    expect(() => report({ inode: '424242' })).toThrow(/EINVAL: --inode: no inode actor with obj_id 424242/);
    expect(() => report({ inode: 'inode:0:1:0x1' })).toThrow(/EINVAL/);
    expect(() => report({ inode: 'f0.txt' })).toThrow(/must be an inode actor id or an obj_id/);
  });

  it('caps the sequence at its limit and says how many messages there were', () => {
    const inode = model.summary.sequence?.inode ?? '';
    const short = inodeSequence(events, inode, 5);
    expect(short.messages).toHaveLength(5);
    expect(short.total).toBe(model.summary.sequence?.total);
  });
});

describe('the time-travel window', () => {
  /** The page's computation, here: base states, then each row's `to` (decoded from the deltas). */
  function replay(travel: ReportModel['travel'], upTo: number): Map<string, string> {
    const states = new Map<string, string>();
    for (const [run, actor, state] of travel.base) {
      states.set(`${run}|${travel.actors[actor ?? -1]}`, travel.states[state ?? -1] ?? '');
    }
    let seq = travel.firstSeq;
    for (const row of travel.rows) {
      seq += row[0] ?? 0;
      if (seq > upTo) break;
      const actor = travel.actors[row[2] ?? -1] ?? '';
      const to = row[5] ?? -1;
      if (to >= 0 && (actor.startsWith('inode:') || actor.startsWith('flg:'))) {
        states.set(`${row[1]}|${actor}`, travel.states[to] ?? '');
      }
    }
    return states;
  }

  it('embeds every event of a short log', () => {
    const { travel } = model;
    expect(travel.rows).toHaveLength(events.length);
    expect(travel.total).toBe(events.length);
    expect(travel.base).toEqual([]);
    const last = events[events.length - 1]?.seq ?? 0;
    expect(replay(travel, last)).toEqual(statesAfter(last));
    const labels = Object.values(travel.labels);
    expect(labels).toContain('/a/b/log.txt');
    expect(labels).toContain('/a/f2.txt -> /a/b/f2.txt');
  });

  it('keeps the last maxEvents events and carries the states of the older ones in', () => {
    const capped = report({ maxEvents: 50 }).travel;
    expect(capped.rows).toHaveLength(50);
    expect(capped.total).toBe(events.length);
    const first = events[events.length - 50];
    expect(capped.firstSeq).toBe(first?.seq);
    expect(capped.base.length).toBeGreaterThan(0);
    for (const e of events.slice(-50)) expect(replay(capped, e.seq)).toEqual(statesAfter(e.seq));
    const transitionsOfRows = capped.rows.map((row) => row[7]);
    expect(transitionsOfRows.some((t) => (t ?? -1) >= 0)).toBe(true);
  });

  it('refuses events out of seq order (one log, one order)', () => {
    const builder = new ReportBuilder({ title: 't' });
    const [a, b] = events;
    if (a === undefined || b === undefined) throw new Error('the log has events');
    builder.add(b);
    expect(() => builder.add(a)).toThrow(/seq order/);
  });
});

describe('the report page', () => {
  it('is one self-contained document: the statecharts, the data, the scripts, nothing to fetch', () => {
    const html = renderReportPage(model);
    expect(html.startsWith('<!doctype html>')).toBe(true);
    expect(html).toContain('<g id="machine-inode" class="machine" data-machine="inode"');
    expect(html).toContain('<g id="machine-flushGroup" class="machine" data-machine="flushGroup"');
    expect(html).toContain('id="inode-state-flush"');
    expect(html).not.toMatch(/\s(src|href)=["']?(https?:)?\/\//i);
    expect(html).not.toMatch(/@import|url\(\s*["']?https?:/i);
    expect(model.summary.live).toBe(false);
    const data = /<script type="application\/json" id="hs-data">(.*?)<\/script>/s.exec(html)?.[1] ?? '';
    expect(JSON.parse(data)).toEqual(JSON.parse(JSON.stringify(model)));
    expect(renderReportPage(model)).toBe(html);
  });

  it('keeps text from the log from ending its script or breaking its markup', () => {
    const hostile = '</script><script>alert(1)</script><!--';
    const page = renderReportPage({ ...model, summary: { ...model.summary, title: hostile } });
    expect(page).not.toContain(hostile);
    expect(page).toContain('&lt;/script&gt;&lt;script&gt;alert(1)');
    expect(scriptJson({ path: hostile })).not.toMatch(/</);
    expect(JSON.parse(scriptJson({ path: hostile }))).toEqual({ path: hostile });
  });
});

describe('the sequence builder', () => {
  it('puts a join in the group whose run synced the inode, not the group opened last', () => {
    const base = { run: 1, kind: 'fact' as const, time: 0, tid: undefined };
    const inode = 'inode:0:99:live';
    const sequence = inodeSequence(
      [
        { ...base, seq: 1, actor: 'flg:1', type: 'OPEN' },
        { ...base, seq: 2, actor: 'flg:1', type: 'CLOSE', from: 'open', to: 'closed' },
        { ...base, seq: 3, actor: 'flg:2', type: 'OPEN' },
        { ...base, seq: 4, actor: inode, type: 'FLUSH', from: 'setup', to: 'flush' },
        { ...base, seq: 5, actor: 'flg:1', type: 'RUN', from: 'closed', to: 'running' },
        { ...base, seq: 6, actor: inode, type: 'SYNC_INODE', tid: 77 },
        { ...base, seq: 7, actor: inode, type: 'FLUSH_DONE', tid: 77, from: 'flush', to: 'idle' },
        { ...base, seq: 8, actor: 'volume', type: 'COMMIT', tid: 77, payload: { tid: 77, group: 1 } },
        { ...base, seq: 9, actor: inode, type: 'FLUSH', from: 'idle', to: 'flush' },
      ],
      inode,
    );
    expect(sequence.lanes).toEqual(['fs', inode, '1:flg:1', '1:flg:2']);
    const joins = sequence.messages.filter((m) => m.kind === 'join');
    // The first join is resolved by the run's TID; the second (the log ends first) falls back to the last opened group.
    expect(joins.map((m) => sequence.lanes[m.to])).toEqual(['1:flg:1', '1:flg:2']);
    expect(sequence.messages.map((m) => m.kind)).toEqual(['join', 'group', 'sync', 'done', 'group', 'join']);
  });
});

import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { type AnyStateMachine, and, assign, createMachine, not, setup } from 'xstate';
import { VIZ_MACHINES } from '../cli/commands/viz.js';
import { main } from '../cli/main.js';
import {
  DIAGRAM_FORMATS,
  type DiagramFormat,
  describeMachine,
  type MachineDiagram,
  renderDiagrams,
  renderMachines,
  SCXML_NAMESPACE,
} from '../machines/diagram/index.js';
import { flushGroupMachine } from '../machines/flush-group.js';
import { flusherMachine } from '../machines/flusher.js';
import { inodeMachine } from '../machines/inode.js';
import { allElements, parseXml, textOf, type XmlElement } from './support/xml.js';

const dir = mkdtempSync(join(tmpdir(), 'hammerstate-viz-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
afterEach(() => vi.restoreAllMocks());

const MACHINES: Array<[string, AnyStateMachine]> = [
  ['inode', inodeMachine<unknown>()],
  ['flush-group', flushGroupMachine],
  ['flusher', flusherMachine],
];

/** A machine with what the real ones lack: nesting, parallel regions, history, eventless and delayed transitions. */
const nested = setup({
  guards: { ready: () => true, stuck: () => false },
  actions: { note: () => undefined },
  delays: { soon: 10 },
}).createMachine({
  id: 'nested',
  initial: 'work',
  on: { RESET: '.work' },
  states: {
    work: {
      type: 'parallel',
      entry: 'note',
      on: { TICK: { actions: 'note' } },
      states: {
        left: {
          initial: 'a',
          states: {
            a: { after: { 1000: 'b', soon: 'b' }, on: { AGAIN: { target: 'a', reenter: true } } },
            b: { always: { guard: and(['ready', not('stuck')]), target: 'a' }, exit: 'note' },
            memory: { type: 'history', history: 'deep' },
          },
        },
        right: { initial: 'c', states: { c: { on: { 'GO:NOW': { target: '#nested.done', actions: assign({}) } } } } },
      },
    },
    done: { type: 'final' },
  },
});

/** Every event type a machine handles, as XState lists them (delayed and eventless ones have no name to find). */
function eventsOf(machine: AnyStateMachine): string[] {
  return (machine.events as string[]).filter((event) => !event.startsWith('xstate.after.'));
}

function scxmlStateIds(root: XmlElement): string[] {
  return allElements(root)
    .filter((e) => ['state', 'parallel', 'final', 'history'].includes(e.name))
    .map((e) => e.attributes.id ?? '');
}

describe('describeMachine walks the machine objects', () => {
  it('finds every state and transition of the inode machine, guards and actions by name', () => {
    const diagram = describeMachine(inodeMachine<unknown>());
    expect(diagram.id).toBe('inode');
    expect(diagram.initial).toBe('idle');
    expect(diagram.states.map((s) => [s.id, s.type])).toEqual([
      ['idle', 'atomic'],
      ['setup', 'atomic'],
      ['flush', 'atomic'],
      ['unloaded', 'final'],
    ]);
    // the machine's own `on` comes first, with no source
    expect(diagram.transitions.slice(0, 5).map((t) => [t.source, t.event, t.actions])).toEqual([
      [null, 'MODIFY', ['markModified']],
      [null, 'MARK', ['markFlags']],
      [null, 'CLEAR', ['clearFlags']],
      [null, 'RECORDS_EMPTY', ['recordsEmpty']],
      [null, 'WAIT', ['setFlushWaiter']],
    ]);
    const flushFromIdle = diagram.transitions.filter((t) => t.source === 'idle' && t.event === 'FLUSH');
    expect(flushFromIdle.map((t) => [t.guard, t.targets, t.actions])).toEqual([
      ['nothingToFlush', [], []],
      ['noRecordCanGo', ['setup'], ['waitForReflush']],
      [undefined, ['flush'], ['freezeForBackend']],
    ]);
    expect(diagram.transitions.map((t) => t.index)).toEqual(diagram.transitions.map((_, i) => i));
    expect(new Set(diagram.transitions.map((t) => t.event))).toEqual(new Set(eventsOf(inodeMachine<unknown>())));
  });

  it('describes nesting, parallel regions, history, eventless and delayed transitions', () => {
    const diagram = describeMachine(nested);
    const byId = new Map(diagram.states.map((s) => [s.id, s]));
    expect(byId.get('work')).toMatchObject({ type: 'parallel', parent: undefined, entry: ['note'] });
    expect(byId.get('work.left')).toMatchObject({ type: 'compound', parent: 'work', initial: 'work.left.a' });
    expect(byId.get('work.left.memory')).toMatchObject({
      type: 'history',
      history: { depth: 'deep', target: 'work.left.a' },
    });
    // XState's own timer actions for `after` are not shown as the state's entry and exit actions
    expect(byId.get('work.left.a')).toMatchObject({ entry: [], exit: [] });
    expect(byId.get('work.left.b')).toMatchObject({ exit: ['note'] });
    const kinds = diagram.transitions.map((t) => [t.kind, t.delay, t.guard, t.targets]);
    expect(kinds).toContainEqual(['after', '1000', undefined, ['work.left.b']]);
    expect(kinds).toContainEqual(['after', 'soon', undefined, ['work.left.b']]);
    expect(kinds).toContainEqual(['always', undefined, 'and(ready, not(stuck))', ['work.left.a']]);
    expect(diagram.transitions.find((t) => t.event === 'AGAIN')).toMatchObject({ reenter: true });
    expect(diagram.transitions.find((t) => t.event === 'GO:NOW')?.actions).toEqual(['assign']);
    expect(diagram.transitions[0]).toMatchObject({ source: null, event: 'RESET', targets: ['work'] });
  });
});

describe('every format shows every state and every event', () => {
  const cases = MACHINES.flatMap(([name, machine]) =>
    DIAGRAM_FORMATS.map((format) => [name, format, machine] as const),
  );
  it.each(cases)('%s as %s', (_, format, machine) => {
    const text = renderMachines(format, [machine]);
    const diagram = describeMachine(machine);
    const visible = format === 'scxml' || format === 'svg' ? textAndAttributes(text) : text;
    for (const state of diagram.states) expect(visible).toMatch(new RegExp(`\\b${state.key}\\b`));
    for (const event of eventsOf(machine)) expect(visible).toContain(event);
    for (const transition of diagram.transitions) {
      if (transition.guard !== undefined) expect(visible).toContain(transition.guard);
    }
    expect(renderMachines(format, [machine])).toBe(text);
  });
});

/** An XML document's text and attribute values (what a reader or a tool sees), checked well-formed on the way. */
function textAndAttributes(xml: string): string {
  const elements = allElements(parseXml(xml));
  return elements.map((e) => `${e.text} ${Object.values(e.attributes).join(' ')}`).join('\n');
}

describe('SCXML', () => {
  it('is well-formed W3C SCXML whose state ids and transitions are the machine’s', () => {
    for (const [, machine] of MACHINES) {
      const diagram = describeMachine(machine);
      const root = parseXml(renderMachines('scxml', [machine]));
      expect(root.name).toBe('scxml');
      expect(root.attributes).toMatchObject({ xmlns: SCXML_NAMESPACE, version: '1.0', name: diagram.id });
      const own = diagram.transitions.some((t) => t.source === null);
      const ids = diagram.states.map((s) => s.id);
      expect(scxmlStateIds(root)).toEqual(own ? [diagram.id, ...ids] : ids);
      const transitions = allElements(root).filter((e) => e.name === 'transition');
      expect(transitions.map((t) => [t.attributes.event, t.attributes.cond, t.attributes.target])).toEqual(
        diagram.transitions.map((t) => [t.event, t.guard, t.targets.length === 0 ? undefined : t.targets.join(' ')]),
      );
      for (const final of allElements(root).filter((e) => e.name === 'final')) {
        expect(diagram.states.find((s) => s.id === final.attributes.id)?.type).toBe('final');
      }
    }
  });

  it('writes nested, parallel, history and eventless states as SCXML does', () => {
    const root = parseXml(renderMachines('scxml', [nested]));
    const byId = new Map(allElements(root).map((e) => [e.attributes.id, e]));
    expect(byId.get('work')?.name).toBe('parallel');
    expect(byId.get('work.left')?.attributes.initial).toBe('work.left.a');
    expect(byId.get('work.left.memory')?.name).toBe('history');
    expect(byId.get('work.left.memory')?.children[0]?.attributes.target).toBe('work.left.a');
    const eventless = byId.get('work.left.b')?.children.find((e) => e.name === 'transition');
    expect(eventless?.attributes).toEqual({ cond: 'and(ready, not(stuck))', target: 'work.left.a' });
    const actions = allElements(byId.get('work') as XmlElement).filter((e) => e.name === 'hs:action');
    expect(actions.map((e) => e.attributes.name)).toContain('note');
  });

  it('escapes what XML would read as markup', () => {
    const odd = createMachine({
      id: 'a<b>&"c"',
      initial: 'x',
      states: { x: { on: { 'E&<>': { guard: 'g"&', target: 'y' } } }, y: {} },
    });
    const root = parseXml(renderMachines('scxml', [odd]));
    expect(allElements(root).find((e) => e.name === 'transition')?.attributes).toEqual({
      event: 'E&amp;&lt;&gt;',
      cond: 'g&quot;&amp;',
      target: 'y',
    });
    expect(() => parseXml('<a><b></a></b>')).toThrow(/closes/);
    expect(() => parseXml('<a x="1" x="2"/>')).toThrow(/twice/);
    expect(() => parseXml('<a>&</a>')).toThrow(/bare &/);
    expect(() => parseXml('<p:a/>')).toThrow(/undeclared prefix/);
  });

  it('for all machines: one document invoking each machine as its own session', () => {
    const root = parseXml(
      renderMachines(
        'scxml',
        MACHINES.map(([, m]) => m),
      ),
    );
    const invokes = allElements(root).filter((e) => e.name === 'invoke');
    expect(invokes.map((e) => e.attributes.id)).toEqual(['inode', 'flushGroup', 'flusher']);
    expect(invokes.map((e) => e.children[0]?.children[0]?.attributes.name)).toEqual(['inode', 'flushGroup', 'flusher']);
  });
});

describe('SVG', () => {
  it('is well-formed, with one element per state and per transition, each with stable ids', () => {
    const diagrams = MACHINES.map(([, m]) => describeMachine(m));
    const root = parseXml(renderDiagrams('svg', diagrams));
    expect(root.name).toBe('svg');
    expect(root.attributes.xmlns).toBe('http://www.w3.org/2000/svg');
    const elements = allElements(root);
    const ids = elements.map((e) => e.attributes.id).filter((id) => id !== undefined);
    expect(new Set(ids).size).toBe(ids.length);
    const groups = elements.filter((e) => e.attributes.class === 'machine');
    expect(groups.map((g) => g.attributes['data-machine'])).toEqual(['inode', 'flushGroup', 'flusher']);
    for (const [i, group] of groups.entries()) checkMachineGroup(group, diagrams[i] as MachineDiagram);
    expect(elements.some((e) => e.name === 'script' || e.attributes.href !== undefined)).toBe(false);
  });

  it('draws nested states inside their parents, and self-loops for targetless transitions', () => {
    const diagram = describeMachine(nested);
    const root = parseXml(renderDiagrams('svg', [diagram]));
    const group = allElements(root).find((e) => e.attributes.class === 'machine') as XmlElement;
    checkMachineGroup(group, diagram);
    const box = (id: string) => {
      const state = allElements(group).find((e) => e.attributes['data-state'] === id);
      const rect = state?.children.find((e) => e.name === 'rect');
      const [x, y, w, h] = ['x', 'y', 'width', 'height'].map((k) => Number(rect?.attributes[k]));
      return { x: x ?? 0, y: y ?? 0, right: (x ?? 0) + (w ?? 0), bottom: (y ?? 0) + (h ?? 0) };
    };
    for (const [outer, inner] of [
      ['work', 'work.left'],
      ['work.left', 'work.left.a'],
      ['work', 'work.right.c'],
    ] as const) {
      const [o, n] = [box(outer), box(inner)];
      expect(n.x > o.x && n.y > o.y && n.right < o.right && n.bottom < o.bottom).toBe(true);
    }
    const tick = allElements(group).find((e) => e.attributes['data-event'] === 'TICK');
    expect(tick?.attributes.class).toContain('internal');
    expect(tick?.children.filter((e) => e.name === 'path')).toHaveLength(1);
  });
});

/** One `data-state` group per state, one `transition-<n>` group per transition with its event and ends. */
function checkMachineGroup(group: XmlElement, diagram: MachineDiagram): void {
  const elements = allElements(group);
  const states = elements.filter((e) => e.attributes['data-state'] !== undefined);
  expect(states.map((e) => e.attributes['data-state'])).toEqual(diagram.states.map((s) => s.id));
  for (const state of states) expect(state.attributes.class).toMatch(/^state state-\w+ \w+$/);
  const transitions = elements.filter((e) => /\btransition-\d+\b/.test(e.attributes.class ?? ''));
  expect(transitions).toHaveLength(diagram.transitions.length);
  for (const t of diagram.transitions) {
    const element = transitions.find(
      (e) => e.attributes.id === `${group.attributes.id?.slice(8)}-transition-${t.index}`,
    );
    expect(element?.attributes.class).toContain(`transition-${t.index}`);
    expect(element?.attributes['data-event']).toBe(t.kind === 'always' ? undefined : t.event);
    expect(element?.attributes['data-source']).toBe(t.source ?? undefined);
    expect(element?.attributes['data-guard']).toBe(t.guard);
    if (t.source !== null) expect(element?.children.filter((e) => e.name === 'path').length).toBeGreaterThan(0);
    expect(textOf(element as XmlElement)).toContain(t.kind === 'event' ? t.event : t.kind);
  }
}

describe('Mermaid and DOT', () => {
  it('mermaid: a state diagram, internal transitions inside their state, the machine’s own in a note', () => {
    const text = renderMachines('mermaid', [inodeMachine<unknown>()]);
    expect(text.startsWith('stateDiagram-v2\n')).toBe(true);
    expect(text).toContain('  [*] --> idle\n');
    expect(text).toContain('  unloaded --> [*]\n');
    expect(text).toContain('  idle --> setup : FLUSH [noRecordCanGo] / waitForReflush\n');
    expect(text).toContain('  setup : CONN_DOWN / connDown, waitForReflush\n');
    expect(text).toMatch(/note right of idle\n {4}in every state\n {4}MODIFY \/ markModified\n/);
  });

  it('mermaid: nested states in blocks, regions apart by --, syntax characters as codes', () => {
    const text = renderMachines('mermaid', [nested]);
    expect(text).toMatch(/state work \{\n[\s\S]*state work_left \{[\s\S]*\n {4}--\n[\s\S]*state work_right \{/);
    expect(text).toContain('[*] --> work_left_a');
    expect(text).toContain('work_right_c --> done : GO#58;NOW / assign');
    expect(text).toContain('work_left_a --> work_left_b : after 1000');
    // Mermaid swaps `#<code>;` out before it parses; what is left of a description may hold neither `:` nor `;`
    for (const line of text.split('\n').filter((l) => l.includes(' : '))) {
      expect(line.slice(line.indexOf(' : ') + 3).replace(/#\d+;/g, '')).not.toMatch(/[:;]/);
    }
  });

  it('dot: one digraph; clusters for nested states, dashed self-loops for internal transitions', () => {
    const text = renderMachines('dot', [flushGroupMachine]);
    expect(text).toMatch(/^digraph "flushGroup" \{\n/);
    expect(text).toContain('  closed -> running [label="RUN [isHead] / countRun"];');
    expect(text).toContain('  open -> open [label="ADD_INODE [roomAfterAdd] / addInode", style=dashed];');
    expect(text).toContain('  done [label="done", peripheries=2];');
    const all = renderMachines(
      'dot',
      MACHINES.map(([, m]) => m),
    );
    expect(all.match(/subgraph "cluster_/g)).toHaveLength(3);
    expect(all).toContain('inode_idle -> inode_setup [label="DEPEND"];');
    const deep = renderMachines('dot', [nested]);
    expect(deep).toContain('subgraph "cluster_work_left" {');
    expect(deep).toContain('lhead="cluster_work"');
    expect(text.split('{').length).toBe(text.split('}').length);
  });
});

describe('a change to a machine changes the picture', () => {
  const config = flusherMachine.config as Parameters<typeof createMachine>[0];
  const changed = createMachine({
    ...config,
    states: { ...config.states, syncing: { on: { FINALIZE: { target: 'finalizing' }, ABORT: { target: 'idle' } } } },
  });
  const renamed = createMachine({
    ...config,
    states: { ...config.states, idle: { on: { START: { guard: 'isTheHead', target: 'syncing', actions: 'start' } } } },
  });

  it.each(DIAGRAM_FORMATS)('%s', (format: DiagramFormat) => {
    const before = renderMachines(format, [flusherMachine]);
    const after = renderMachines(format, [changed]);
    expect(after).not.toBe(before);
    expect(before).not.toContain('ABORT');
    expect(after).toContain('ABORT');
    expect(renderMachines(format, [renamed])).toContain('isTheHead');
    // implementations are not drawn: providing other ones leaves the picture as it was
    expect(renderMachines(format, [flusherMachine.provide({ guards: { isHead: () => false } })])).toBe(before);
    // a machine made again from its definition draws the same bytes
    expect(renderMachines(format, [inodeMachine<unknown>()])).toBe(renderMachines(format, [inodeMachine<unknown>()]));
  });
});

describe('hammerstate viz machines', () => {
  function capture() {
    const stdout: string[] = [];
    const stderr: string[] = [];
    vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => stdout.push(String(chunk)) > 0);
    vi.spyOn(process.stderr, 'write').mockImplementation((chunk) => stderr.push(String(chunk)) > 0);
    return { stdout: () => stdout.join(''), stderr: () => stderr.join('') };
  }
  const all = MACHINES.map(([, m]) => m);

  it.each(DIAGRAM_FORMATS)('--format %s prints every machine by default', async (format) => {
    const out = capture();
    expect(await main(['node', 'hammerstate', 'viz', 'machines', '--format', format])).toBe(0);
    expect(out.stdout()).toBe(renderMachines(format, all));
  });

  it('defaults to Mermaid; --machine picks one; -o writes the file; --json describes the machines', async () => {
    const out = capture();
    expect(await main(['node', 'hammerstate', 'viz', 'machines', '--machine', 'flush-group'])).toBe(0);
    expect(out.stdout()).toBe(renderMachines('mermaid', [flushGroupMachine]));
    const file = join(dir, 'inode.svg');
    const args = ['viz', 'machines', '--machine', 'inode', '--format', 'svg', '-o', file, '--json'];
    expect(await main(['node', 'hammerstate', ...args])).toBe(0);
    expect(readFileSync(file, 'utf8')).toBe(renderMachines('svg', [inodeMachine<unknown>()]));
    const lines = out.stdout().trimEnd().split('\n');
    const json = JSON.parse(lines[lines.length - 1] ?? '');
    expect(json).toMatchObject({ format: 'svg', file, bytes: readFileSync(file).length });
    expect(json.machines).toEqual([JSON.parse(JSON.stringify(describeMachine(inodeMachine<unknown>())))]);
    expect(out.stderr()).toContain(`viz: wrote ${file}`);
    expect(Object.keys(VIZ_MACHINES)).toEqual(['inode', 'flush-group', 'flusher']);
  });

  it('refuses an unknown format or machine with exit 2, and a file it cannot write', async () => {
    const out = capture();
    expect(await main(['node', 'hammerstate', 'viz', 'machines', '--format', 'png'])).toBe(2);
    expect(out.stderr()).toContain("argument 'png' is invalid. Allowed choices are mermaid, dot, scxml, svg");
    expect(await main(['node', 'hammerstate', 'viz', 'machines', '--machine', 'nope', '--json'])).toBe(2);
    const lines = out.stdout().trimEnd().split('\n');
    expect(JSON.parse(lines[lines.length - 1] ?? '')).toMatchObject({ error: { code: 'EINVAL' }, exitCode: 2 });
    const missing = join(dir, 'no-such-dir', 'x.dot');
    expect(await main(['node', 'hammerstate', 'viz', 'machines', '--format', 'dot', '-o', missing])).toBe(2);
    expect(out.stderr()).toContain('ENOENT');
    expect(await main(['node', 'hammerstate', 'viz'])).toBe(2);
  });
});

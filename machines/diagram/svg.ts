import {
  actionLines,
  type DiagramState,
  type DiagramTransition,
  EVERY_STATE,
  type MachineDiagram,
  transitionLabelWithActions,
} from './describe.js';
import { escapeXml, Tokens } from './names.js';
import { type Box, num } from './svg-geometry.js';
import { type EdgeLayout, layoutMachine, type MachineLayout } from './svg-layout.js';

/**
 * A self-contained SVG (no external tools, no fonts or scripts loaded). The
 * elements have stable ids and classes for a report to highlight what a log
 * took: each machine a `<g id="machine-<m>" data-machine>`, each state
 * `<g id="<m>-state-<s>" class="state state-<s> <type>" data-state>`, each
 * transition `<g id="<m>-transition-<n>" class="transition transition-<n>"
 * data-event data-source data-target data-guard data-actions>` (n: its index
 * in the diagram's transitions). Several machines stand side by side.
 */
const TITLE_HEIGHT = 30;
const MACHINE_GAP = 48;

const STYLE = `
.machine-title { font: bold 15px ui-monospace, Menlo, Consolas, monospace; fill: #1f2328; }
.state > rect, .state > circle { fill: #f6f8fa; stroke: #57606a; stroke-width: 1.2; }
.state.compound > rect, .state.parallel > rect { fill: none; }
.state.parallel > rect { stroke-dasharray: 6 3; }
.state text { font: 12px ui-monospace, Menlo, Consolas, monospace; fill: #1f2328; }
.state text.actions { font-size: 11px; fill: #57606a; }
.transition path { fill: none; stroke: #57606a; stroke-width: 1.2; }
.transition.internal path { stroke-dasharray: 4 3; }
.transition .label-bg { fill: #ffffff; fill-opacity: 0.85; }
.transition text, .note text { font: 11px ui-monospace, Menlo, Consolas, monospace; fill: #1f2328; }
.initial circle { fill: #1f2328; }
.initial path { stroke: #1f2328; stroke-width: 1.2; }
.note > rect { fill: #fffbe6; stroke: #d4a72c; }
#hs-arrow path { fill: #57606a; }
`.trim();

export function svg(diagrams: readonly MachineDiagram[]): string {
  const tokens = new Tokens();
  const groups: string[] = [];
  let x = 0;
  let height = 0;
  for (const diagram of diagrams) {
    const layout = layoutMachine(diagram);
    const width = Math.max(layout.bounds.width, diagram.id.length * 9 + 8);
    const shift = { x: x - layout.bounds.x, y: TITLE_HEIGHT - layout.bounds.y };
    groups.push(...machineGroup(layout, tokens.token('', diagram.id), shift));
    x += width + MACHINE_GAP;
    height = Math.max(height, layout.bounds.height + TITLE_HEIGHT);
  }
  const width = Math.max(0, x - MACHINE_GAP);
  return `${[
    `<svg xmlns="http://www.w3.org/2000/svg" class="hammerstate-machines" width="${num(width)}" height="${num(height)}" viewBox="0 0 ${num(width)} ${num(height)}">`,
    `  <style>\n${STYLE.replace(/^/gm, '    ')}\n  </style>`,
    '  <defs>',
    '    <marker id="hs-arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="8" markerHeight="8" orient="auto">',
    '      <path d="M0,0 L10,5 L0,10 z"/>',
    '    </marker>',
    '  </defs>',
    ...groups,
    '</svg>',
  ].join('\n')}\n`;
}

function attributes(pairs: Array<[string, string | undefined]>): string {
  return pairs
    .filter((pair): pair is [string, string] => pair[1] !== undefined)
    .map(([name, value]) => ` ${name}="${escapeXml(value)}"`)
    .join('');
}

function rect(box: Box, extra = ''): string {
  return `<rect x="${num(box.x)}" y="${num(box.y)}" width="${num(box.width)}" height="${num(box.height)}"${extra}/>`;
}

function text(x: number, y: number, content: string, extra = ''): string {
  return `<text x="${num(x)}" y="${num(y)}"${extra}>${escapeXml(content)}</text>`;
}

function machineGroup(layout: MachineLayout, machine: string, shift: { x: number; y: number }): string[] {
  const { diagram, bounds } = layout;
  const names = new Tokens();
  const stateToken = (id: string) => names.token('', id);
  const lines = [
    `  <g id="machine-${machine}" class="machine"${attributes([['data-machine', diagram.id]])} transform="translate(${num(shift.x)},${num(shift.y)})">`,
    `    ${text(bounds.x, bounds.y - 10, diagram.id, ' class="machine-title"')}`,
  ];
  for (const state of diagram.states) {
    const box = layout.boxes.get(state.id);
    if (box !== undefined)
      lines.push(...stateGroup(state, box, `${machine}-state-${stateToken(state.id)}`, stateToken(state.id)));
  }
  for (const dot of layout.initials) {
    lines.push(
      `    <g class="initial"><circle cx="${num(dot.x)}" cy="${num(dot.y)}" r="4"/><path d="${dot.path}" marker-end="url(#hs-arrow)"/></g>`,
    );
  }
  for (const edge of layout.edges) lines.push(...edgeGroup(edge, machine));
  if (layout.note !== undefined) {
    const { box, lines: own } = layout.note;
    lines.push(
      `    <g class="note">`,
      `      ${rect(box, ' rx="4"')}`,
      `      ${text(box.x + 10, box.y + 18, EVERY_STATE)}`,
    );
    for (const line of own) {
      lines.push(`      <g${transitionAttributes(line.transition, machine, 'anywhere')}>`);
      lines.push(`        <title>${escapeXml(transitionLabelWithActions(line.transition))}</title>`);
      lines.push(`        ${text(line.box.x, line.box.y + 12, line.text)}`, '      </g>');
    }
    lines.push('    </g>');
  }
  lines.push('  </g>');
  return lines;
}

function stateGroup(state: DiagramState, box: Box, id: string, token: string): string[] {
  const container = state.type === 'compound' || state.type === 'parallel';
  const attrs = attributes([
    ['id', id],
    ['class', `state state-${token} ${state.type}`],
    ['data-state', state.id],
  ]);
  const actions = actionLines(state);
  const shapes: string[] = [];
  if (state.type === 'history') {
    const r = Math.min(box.width, box.height) / 2;
    shapes.push(`<circle cx="${num(box.x + box.width / 2)}" cy="${num(box.y + box.height / 2)}" r="${num(r)}"/>`);
    const mark = state.history?.depth === 'deep' ? 'H*' : 'H';
    shapes.push(text(box.x + box.width / 2, box.y + box.height / 2 + 4, mark, ' text-anchor="middle"'));
  } else {
    shapes.push(rect(box, ` rx="${container ? 8 : 10}"`));
    if (state.type === 'final') {
      shapes.push(rect({ x: box.x + 3, y: box.y + 3, width: box.width - 6, height: box.height - 6 }, ' rx="8"'));
    }
    const name = container
      ? text(box.x + 10, box.y + 18, state.key)
      : text(box.x + box.width / 2, box.y + 21, state.key, ' text-anchor="middle"');
    shapes.push(name);
    actions.forEach((line, i) => {
      const y = box.y + (container ? 18 : 21) + (i + 1) * 16;
      const x = container ? box.x + 10 : box.x + box.width / 2;
      shapes.push(text(x, y, line, ` class="actions"${container ? '' : ' text-anchor="middle"'}`));
    });
  }
  return [
    `    <g${attrs}>`,
    `      <title>${escapeXml(state.id)}</title>`,
    ...shapes.map((s) => `      ${s}`),
    '    </g>',
  ];
}

function transitionAttributes(transition: DiagramTransition, machine: string, kind: string): string {
  const n = transition.index;
  return attributes([
    ['id', `${machine}-transition-${n}`],
    ['class', `transition transition-${n}${kind === '' ? '' : ` ${kind}`}`],
    ['data-event', transition.kind === 'always' ? undefined : transition.event],
    ['data-source', transition.source ?? undefined],
    ['data-target', transition.targets.length === 0 ? undefined : transition.targets.join(' ')],
    ['data-guard', transition.guard],
    ['data-actions', transition.actions.length === 0 ? undefined : transition.actions.join(' ')],
  ]);
}

function edgeGroup(edge: EdgeLayout, machine: string): string[] {
  const { transition, label } = edge;
  const kind = transition.targets.length === 0 ? 'internal' : '';
  return [
    `    <g${transitionAttributes(transition, machine, kind)}>`,
    `      <title>${escapeXml(transitionLabelWithActions(transition))}</title>`,
    ...edge.paths.map((d) => `      <path d="${d}" marker-end="url(#hs-arrow)"/>`),
    `      ${rect(label.box, ' class="label-bg" rx="3"')}`,
    `      ${text(label.box.x + 3, label.box.y + 12, label.text, ' class="label"')}`,
    '    </g>',
  ];
}

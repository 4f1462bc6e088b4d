import { childrenOf, type DiagramState, type DiagramTransition, type MachineDiagram, within } from './describe.js';
import { escapeXml, Tokens } from './names.js';

/**
 * W3C SCXML. State ids are the diagram's (state paths); guards are `cond`
 * by name; actions, which SCXML cannot name, are `<hs:action name>`
 * elements of our own namespace, which SCXML allows in executable content.
 * The machine's own transitions need a state to sit on: the machine's
 * states are then wrapped in one that has the machine's id. Several machines
 * make one document that invokes each as its own session, as the actors are.
 */
export const SCXML_NAMESPACE = 'http://www.w3.org/2005/07/scxml';
export const HAMMERSTATE_NAMESPACE = 'urn:hammerstate:viz';
const INVOKE_SCXML = 'http://www.w3.org/TR/scxml/';
const NAMESPACES = `xmlns="${SCXML_NAMESPACE}" xmlns:hs="${HAMMERSTATE_NAMESPACE}" version="1.0"`;

export function scxml(diagrams: readonly MachineDiagram[]): string {
  const lines = ['<?xml version="1.0" encoding="UTF-8"?>'];
  const single = diagrams.length === 1 ? diagrams[0] : undefined;
  if (single !== undefined) {
    lines.push(`<!-- drawn from the XState machine ${comment(single.id)} -->`, ...document(single, ''));
  } else {
    lines.push(
      '<!-- each machine runs as its own actor: invoked here as a separate SCXML session -->',
      `<scxml ${NAMESPACES} name="machines" initial="machines">`,
      '  <state id="machines">',
    );
    const tokens = new Tokens();
    for (const diagram of diagrams) {
      lines.push(`    <invoke id="${tokens.token('', diagram.id)}" type="${INVOKE_SCXML}">`, '      <content>');
      lines.push(...document(diagram, '        '), '      </content>', '    </invoke>');
    }
    lines.push('  </state>', '</scxml>');
  }
  return `${lines.join('\n')}\n`;
}

/** A comment may not hold `--`. */
function comment(text: string): string {
  return text.replace(/-(?=-)/g, '- ');
}

function attributes(pairs: Array<[string, string | undefined]>): string {
  return pairs
    .filter((pair): pair is [string, string] => pair[1] !== undefined)
    .map(([name, value]) => ` ${name}="${escapeXml(value)}"`)
    .join('');
}

/** An element, self-closing when it has no content. */
function element(indent: string, name: string, attrs: string, content: string[]): string[] {
  if (content.length === 0) return [`${indent}<${name}${attrs}/>`];
  return [`${indent}<${name}${attrs}>`, ...content, `${indent}</${name}>`];
}

/** The wrapper's id: the machine's, unless a state already has it. */
function machineStateId(diagram: MachineDiagram): string {
  const taken = new Set(diagram.states.map((state) => state.id));
  let id = diagram.id;
  while (taken.has(id)) id = `${id}-machine`;
  return id;
}

function document(diagram: MachineDiagram, indent: string): string[] {
  const own = diagram.transitions.filter((t) => t.source === null);
  const states = (inner: string) => childrenOf(diagram, undefined).flatMap((s) => stateElement(diagram, s, inner));
  if (own.length === 0 && !diagram.parallel) {
    const attrs = attributes([
      ['name', diagram.id],
      ['initial', diagram.initial],
    ]);
    return element(indent, 'scxml', ` ${NAMESPACES}${attrs}`, states(`${indent}  `));
  }
  const wrapper = machineStateId(diagram);
  const inner = `${indent}    `;
  const content = [...own.flatMap((t) => transitionElement(t, inner)), ...states(inner)];
  const wrapped = diagram.parallel
    ? element(`${indent}  `, 'parallel', attributes([['id', wrapper]]), content)
    : element(
        `${indent}  `,
        'state',
        attributes([
          ['id', wrapper],
          ['initial', diagram.initial],
        ]),
        content,
      );
  return element(
    indent,
    'scxml',
    ` ${NAMESPACES}${attributes([
      ['name', diagram.id],
      ['initial', wrapper],
    ])}`,
    wrapped,
  );
}

function actionElements(actions: readonly string[], indent: string): string[] {
  return actions.map((name) => `${indent}<hs:action${attributes([['name', name]])}/>`);
}

function stateElement(diagram: MachineDiagram, state: DiagramState, indent: string): string[] {
  const inner = `${indent}  `;
  if (state.type === 'history') {
    const target = state.history?.target;
    const content = target === undefined ? [] : [`${inner}<transition${attributes([['target', target]])}/>`];
    return element(
      indent,
      'history',
      attributes([
        ['id', state.id],
        ['type', state.history?.depth],
      ]),
      content,
    );
  }
  const content: string[] = [];
  if (state.entry.length > 0) content.push(...element(inner, 'onentry', '', actionElements(state.entry, `${inner}  `)));
  if (state.exit.length > 0) content.push(...element(inner, 'onexit', '', actionElements(state.exit, `${inner}  `)));
  for (const transition of diagram.transitions) {
    if (transition.source === state.id) content.push(...transitionElement(transition, inner));
  }
  for (const child of childrenOf(diagram, state.id)) content.push(...stateElement(diagram, child, inner));
  const name = state.type === 'final' ? 'final' : state.type === 'parallel' ? 'parallel' : 'state';
  const initial = state.type === 'compound' ? state.initial : undefined;
  return element(
    indent,
    name,
    attributes([
      ['id', state.id],
      ['initial', initial],
    ]),
    content,
  );
}

function transitionElement(transition: DiagramTransition, indent: string): string[] {
  const { source, targets } = transition;
  // SCXML's internal transition: into the source's own descendants without leaving it (XState's reenter: false).
  // The machine's own transitions sit on the wrapper, which holds every state.
  const inside = targets.length > 0 && targets.every((t) => source === null || (t !== source && within(t, source)));
  const attrs = attributes([
    ['event', transition.kind === 'always' ? undefined : transition.event],
    ['cond', transition.guard],
    ['target', targets.length === 0 ? undefined : targets.join(' ')],
    ['type', inside && !transition.reenter ? 'internal' : undefined],
    ['hs:delay', transition.delay],
  ]);
  return element(indent, 'transition', attrs, actionElements(transition.actions, `${indent}  `));
}

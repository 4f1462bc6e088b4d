import type { AnyStateMachine, AnyStateNode, AnyTransitionDefinition } from 'xstate';

/**
 * A machine as a diagram sees it: its states and its transitions, read from
 * the machine object (its `root` StateNode tree), never from source text, so
 * a change to a machine changes every picture drawn from it. Plain data, in
 * definition order: the Mermaid, DOT, SCXML and SVG renderers work from it,
 * and a report that highlights the states and transitions a log took can too.
 */
export type DiagramStateType = 'atomic' | 'compound' | 'parallel' | 'final' | 'history';

export interface DiagramState {
  /** The state's path below the root, dot-joined: what `snapshot.value` names ('idle', 'p.r1.a1'). */
  id: string;
  key: string;
  /** The enclosing state's id; undefined for a state at the top level. */
  parent: string | undefined;
  type: DiagramStateType;
  /** A compound state's initial child (its id). */
  initial: string | undefined;
  /** A history state's depth and its default target (the parent's initial state unless configured). */
  history: { depth: 'shallow' | 'deep'; target: string | undefined } | undefined;
  entry: string[];
  exit: string[];
}

export interface DiagramTransition {
  /** Position in `transitions`: the n of the SVG's `transition-<n>`. */
  index: number;
  /** The source state's id; null for the machine itself: the transition is taken in any state. */
  source: string | null;
  /** 'event': `on` (and invoke's done/error events); 'always': eventless; 'after': delayed. */
  kind: 'event' | 'always' | 'after';
  /** The event type as XState sends it; '' when eventless. */
  event: string;
  /** A delayed transition's delay: milliseconds or the name of a configured delay. */
  delay: string | undefined;
  guard: string | undefined;
  actions: string[];
  /** Target state ids; empty when the transition changes no state (actions only, no exit or entry). */
  targets: string[];
  reenter: boolean;
}

export interface MachineDiagram {
  /** The machine's id (its root state node's). */
  id: string;
  /** The top-level initial state's id (undefined for a parallel root). */
  initial: string | undefined;
  /** The machine's own states are regions, all active at once (a `type: 'parallel'` root). */
  parallel: boolean;
  /** Parents before children, siblings in definition order. */
  states: DiagramState[];
  transitions: DiagramTransition[];
}

/**
 * Walk the machine's root StateNode tree. Pure: the machine is only read.
 * The root's own transitions (`on` at the top of the config) come first,
 * with a null source.
 */
export function describeMachine(machine: AnyStateMachine): MachineDiagram {
  const states: DiagramState[] = [];
  const transitions: DiagramTransition[] = [];
  const visit = (node: AnyStateNode): void => {
    if (node !== machine.root) states.push(stateOf(node));
    for (const definition of transitionsOf(node)) {
      transitions.push(transitionOf(transitions.length, node, definition, machine.root));
    }
    for (const child of Object.values(node.states) as AnyStateNode[]) visit(child);
  };
  visit(machine.root);
  const { root } = machine;
  return { id: root.id, initial: initialOf(root), parallel: root.type === 'parallel', states, transitions };
}

/** A node's id in the diagram: its path below the root. */
function pathId(node: AnyStateNode): string {
  return node.path.join('.');
}

function stateOf(node: AnyStateNode): DiagramState {
  const parent = node.parent;
  return {
    id: pathId(node),
    key: node.key,
    parent: parent === undefined || parent.parent === undefined ? undefined : pathId(parent),
    type: node.type,
    initial: initialOf(node),
    history: node.type === 'history' ? historyOf(node) : undefined,
    entry: node.entry.filter((action) => !isDelayTimer(action)).map(actionName),
    exit: node.exit.filter((action) => !isDelayTimer(action)).map(actionName),
  };
}

/** The raise and cancel XState adds to a state's entry and exit for each `after` delay: drawn as the delayed transition. */
function isDelayTimer(action: unknown): boolean {
  if (typeof action !== 'function') return false;
  const fn = action as { type?: unknown; id?: unknown; sendId?: unknown };
  const timer = fn.type === 'xstate.raise' ? fn.id : fn.type === 'xstate.cancel' ? fn.sendId : undefined;
  return typeof timer === 'string' && timer.startsWith('xstate.after.');
}

function initialOf(node: AnyStateNode): string | undefined {
  if (node.type !== 'compound') return undefined;
  const target = node.initial?.target[0];
  return target === undefined ? undefined : pathId(target);
}

/** A history node's default target: its configured `target` (a sibling key or `#id`), else the parent's initial. */
function historyOf(node: AnyStateNode): DiagramState['history'] {
  const depth = node.history === 'deep' ? 'deep' : 'shallow';
  const parent = node.parent;
  const configured = (node.config as { target?: unknown }).target;
  const key = Array.isArray(configured) ? configured[0] : configured;
  if (parent === undefined) return { depth, target: undefined };
  if (typeof key === 'string') {
    const found = key.startsWith('#') ? node.machine.getStateNodeById(key.slice(1)) : parent.states[key];
    if (found !== undefined) return { depth, target: pathId(found) };
  }
  return { depth, target: initialOf(parent) };
}

/** `on` (with `after` and invoke events, in XState's order), then `always`. */
function transitionsOf(node: AnyStateNode): AnyTransitionDefinition[] {
  const out: AnyTransitionDefinition[] = [];
  for (const list of node.transitions.values()) out.push(...list);
  out.push(...(node.always ?? []));
  return out;
}

function transitionOf(
  index: number,
  node: AnyStateNode,
  definition: AnyTransitionDefinition,
  root: AnyStateNode,
): DiagramTransition {
  const delay = (definition as { delay?: unknown }).delay;
  const eventless = definition.eventType === '';
  return {
    index,
    source: node === root ? null : pathId(node),
    kind: eventless ? 'always' : delay !== undefined ? 'after' : 'event',
    event: definition.eventType,
    delay: delay === undefined ? undefined : String(delay),
    guard: guardName(definition.guard),
    actions: (definition.actions ?? []).map(actionName),
    targets: (definition.target ?? []).map(pathId),
    reenter: definition.reenter === true,
  };
}

/** A guard by name: a named guard, `{ type }`, `and(a, not(b))`, `stateIn(...)`, an inline function's name. */
export function guardName(guard: unknown): string | undefined {
  if (guard === undefined || guard === null) return undefined;
  if (typeof guard === 'string') return guard;
  if (typeof guard === 'object' && 'type' in guard) return String(guard.type);
  if (typeof guard !== 'function') return String(guard);
  const fn = guard as { name: string; guards?: unknown[]; stateValue?: unknown };
  if (Array.isArray(fn.guards)) return `${fn.name}(${fn.guards.map(guardName).join(', ')})`;
  if (fn.stateValue !== undefined) {
    const value = typeof fn.stateValue === 'string' ? fn.stateValue : JSON.stringify(fn.stateValue);
    return `stateIn(${value})`;
  }
  return fn.name === '' ? 'inline' : fn.name;
}

/** An action by name: a named action, `{ type }`, a built-in (`assign`, `raise`, ...), an inline function's name. */
export function actionName(action: unknown): string {
  if (typeof action === 'string') return action;
  if (typeof action === 'object' && action !== null && 'type' in action) return String(action.type);
  if (typeof action !== 'function') return String(action);
  const fn = action as { name: string; type?: unknown };
  if (typeof fn.type === 'string') return fn.type.replace(/^xstate\./, '');
  return fn.name === '' ? 'inline' : fn.name;
}

/** What the transition waits for: its event, `always`, or `after <delay>`. */
export function triggerLabel(transition: DiagramTransition): string {
  if (transition.kind === 'always') return 'always';
  if (transition.kind === 'after') return `after ${transition.delay}`;
  return transition.event;
}

/** `EVENT [guard]`: the label a transition's arrow carries. */
export function transitionLabel(transition: DiagramTransition): string {
  const trigger = triggerLabel(transition);
  return transition.guard === undefined ? trigger : `${trigger} [${transition.guard}]`;
}

/** `EVENT [guard] / action, action`: UML's full transition label. */
export function transitionLabelWithActions(transition: DiagramTransition): string {
  const label = transitionLabel(transition);
  return transition.actions.length === 0 ? label : `${label} / ${transition.actions.join(', ')}`;
}

/** A transition of the machine itself, taken in any state: `EVENT [guard] / actions`, and where it goes. */
export function anywhereLabel(transition: DiagramTransition): string {
  const label = transitionLabelWithActions(transition);
  return transition.targets.length === 0 ? label : `${label} -> ${transition.targets.join(', ')}`;
}

/** A state's entry and exit actions as lines inside its box: `entry / a, b`, `exit / c`. */
export function actionLines(state: DiagramState): string[] {
  const lines: string[] = [];
  if (state.entry.length > 0) lines.push(`entry / ${state.entry.join(', ')}`);
  if (state.exit.length > 0) lines.push(`exit / ${state.exit.join(', ')}`);
  return lines;
}

/** The heading of the note that lists the machine's own transitions. */
export const EVERY_STATE = 'in every state';

/** The note for the machine's own transitions: its heading, then one line each; empty when it has none. */
export function everyStateNote(diagram: MachineDiagram): string[] {
  const own = diagram.transitions.filter((t) => t.source === null);
  return own.length === 0 ? [] : [EVERY_STATE, ...own.map(anywhereLabel)];
}

/** The states directly inside `parent` (undefined: the top level), in definition order. */
export function childrenOf(diagram: MachineDiagram, parent: string | undefined): DiagramState[] {
  return diagram.states.filter((state) => state.parent === parent);
}

/** Is `id` the state `ancestor` or inside it? (undefined: the machine, which holds every state.) */
export function within(id: string, ancestor: string | undefined): boolean {
  return ancestor === undefined || id === ancestor || id.startsWith(`${ancestor}.`);
}

import type { AnyStateMachine } from 'xstate';
import { describeMachine, type MachineDiagram, svg } from '../../machines/diagram/index.js';
import { flushGroupMachine } from '../../machines/flush-group.js';
import { inodeMachine } from '../../machines/inode.js';
import type { MachineUsage, ReportMachine } from './model.js';

/**
 * The statecharts a report highlights, and which of their transitions a
 * logged step took. The log names a step by actor, event type and from/to
 * states; the diagram (machines/diagram/describe.ts) lists the transitions in
 * the order XState tries them. A step is the first transition of its from
 * state whose event matches and whose target is the logged to state (no
 * target: the state stays), else one of the machine's own transitions (taken
 * in any state), which is how XState picks among guarded alternatives.
 */
const MACHINE_OBJECTS: Record<ReportMachine, () => AnyStateMachine> = {
  inode: () => inodeMachine<unknown>(),
  flushGroup: () => flushGroupMachine,
};

/** The diagrams of the report's machines, in the order the SVG draws them. */
export function reportDiagrams(): Record<ReportMachine, MachineDiagram> {
  return { inode: describeMachine(MACHINE_OBJECTS.inode()), flushGroup: describeMachine(MACHINE_OBJECTS.flushGroup()) };
}

/** The SVG of both machines side by side (one document: its marker and style ids stay unique in the page). */
export function reportSvg(diagrams: Record<ReportMachine, MachineDiagram>): string {
  return svg([diagrams.inode, diagrams.flushGroup]);
}

/** Finds the diagram transition of a logged step; remembers each (from, type, to) it resolved. */
export class TransitionMatcher {
  private readonly known = new Map<string, number>();

  constructor(private readonly diagram: MachineDiagram) {}

  /** The transition index, or -1 when no transition of the diagram goes from `from` to `to` on `type`. */
  match(from: string, type: string, to: string): number {
    const key = `${from}\u0000${type}\u0000${to}`;
    const known = this.known.get(key);
    if (known !== undefined) return known;
    const found = this.find(from, type, to);
    this.known.set(key, found);
    return found;
  }

  private find(from: string, type: string, to: string): number {
    const candidates = this.diagram.transitions.filter((t) => t.kind === 'event' && t.event === type);
    const lands = (targets: string[]) => (targets.length === 0 ? to === from : targets[0] === to);
    const own = candidates.find((t) => t.source === from && lands(t.targets));
    if (own !== undefined) return own.index;
    // The state handles the event but none of its transitions lands there: XState would not fall through.
    if (candidates.some((t) => t.source === from)) return -1;
    const anywhere = candidates.find((t) => t.source === null && lands(t.targets));
    return anywhere?.index ?? -1;
  }
}

/**
 * Counts one machine's logged steps: each state's visits (an actor's first
 * logged state counts as entered) and events, each transition's takes, and
 * the steps the diagram cannot explain.
 */
export class UsageCounter {
  readonly matcher: TransitionMatcher;
  private readonly states = new Map<string, { visits: number; events: number }>();
  private readonly transitions = new Map<number, number>();
  private readonly unmatched = new Map<string, { from: string; type: string; to: string; count: number }>();
  private total = 0;

  constructor(
    private readonly machine: ReportMachine,
    diagram: MachineDiagram,
  ) {
    this.matcher = new TransitionMatcher(diagram);
    for (const state of diagram.states) this.states.set(state.id, { visits: 0, events: 0 });
  }

  /** One logged step; `first`: the actor's first step in its run. Returns the transition index (-1: none). */
  count(from: string, type: string, to: string, first: boolean): number {
    this.total++;
    if (first) this.state(from).visits++;
    this.state(from).events++;
    if (to !== from) this.state(to).visits++;
    const index = this.matcher.match(from, type, to);
    if (index >= 0) {
      this.transitions.set(index, (this.transitions.get(index) ?? 0) + 1);
    } else {
      const key = `${from}\u0000${type}\u0000${to}`;
      const entry = this.unmatched.get(key) ?? { from, type, to, count: 0 };
      entry.count++;
      this.unmatched.set(key, entry);
    }
    return index;
  }

  private state(id: string): { visits: number; events: number } {
    let entry = this.states.get(id);
    if (entry === undefined) {
      entry = { visits: 0, events: 0 };
      this.states.set(id, entry);
    }
    return entry;
  }

  usage(): MachineUsage {
    return {
      machine: this.machine,
      states: Object.fromEntries([...this.states].map(([id, entry]) => [id, { ...entry }])),
      transitions: Object.fromEntries(this.transitions),
      unmatched: [...this.unmatched.values()].map((entry) => ({ ...entry })),
      total: this.total,
    };
  }
}

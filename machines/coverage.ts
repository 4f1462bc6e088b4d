import type { AnyStateMachine } from 'xstate';
import {
  type DiagramState,
  type DiagramTransition,
  describeMachine,
  type MachineDiagram,
  transitionLabel,
} from './diagram/describe.js';

/**
 * Which states and transitions of a machine a run took, from what an
 * observer sees of each step: the state before, the event type, the state
 * after (the bus's `from`, `type`, `to`). The transitions are the machine's
 * own (describeMachine reads its StateNode tree), so a new transition shows
 * up as never taken until something takes it.
 *
 * Attribution: a step is matched to the transitions XState could have taken
 * for that event in that state (the state's own, then its ancestors', then
 * the machine's), keeping those whose outcome is the observed `to` (a
 * targetless transition stays where it was). Exactly one left: that one was
 * taken. None: the event changed nothing (no transition was enabled).
 * Several: the observation cannot tell guarded alternatives apart;
 * `ambiguities()` lists where that can happen, so a machine can be checked
 * for it once instead of every run being guessed at.
 */
export interface StepObservation {
  from: string;
  type: string;
  to: string;
}

export interface TransitionCoverage {
  transition: DiagramTransition;
  /** `source --EVENT [guard]--> target` (`(stays)` for a targetless one). */
  label: string;
  /** Steps attributed to it, by tag (who drove them: the caller's words). */
  taken: Record<string, number>;
  /** For a transition of the machine itself (any state): the states it was taken in. */
  takenIn: Record<string, number>;
}

export interface CoverageReport {
  machine: string;
  states: Array<{ id: string; reached: Record<string, number> }>;
  transitions: TransitionCoverage[];
  /** Steps no transition matches (a guard held nothing, or the state ignores the event). */
  ignored: Array<{ step: string; count: number }>;
  /** Steps several transitions match (see `ambiguities`). */
  ambiguous: Array<{ step: string; count: number }>;
  unreached: { states: string[]; transitions: string[] };
}

export interface Ambiguity {
  state: string;
  event: string;
  /** The outcome two candidates share (`(none)` stands for "no transition enabled"). */
  outcome: string;
  candidates: string[];
}

export class MachineCoverage {
  readonly diagram: MachineDiagram;
  private readonly atomic: DiagramState[];
  private readonly byTransition = new Map<number, { taken: Map<string, number>; takenIn: Map<string, number> }>();
  private readonly byState = new Map<string, Map<string, number>>();
  private readonly ignored = new Map<string, number>();
  private readonly ambiguous = new Map<string, number>();

  constructor(machine: AnyStateMachine) {
    this.diagram = describeMachine(machine);
    this.atomic = this.diagram.states.filter((s) => s.type === 'atomic' || s.type === 'final');
  }

  /** One observed step of an actor of this machine; `tag` says who drove it (counted apart). */
  observe(step: StepObservation, tag = 'run'): void {
    bump(this.stateCounts(step.from), tag);
    bump(this.stateCounts(step.to), tag);
    const matches = this.candidates(step.from, step.type).filter((t) => this.outcome(step.from, t) === step.to);
    const key = `${step.from} --${step.type}--> ${step.to}`;
    if (matches.length === 0) bump(this.ignored, key);
    else if (matches.length > 1) bump(this.ambiguous, key);
    else {
      const [transition] = matches as [DiagramTransition];
      const entry = this.byTransition.get(transition.index) ?? { taken: new Map(), takenIn: new Map() };
      bump(entry.taken, tag);
      if (transition.source === null) bump(entry.takenIn, step.from);
      this.byTransition.set(transition.index, entry);
    }
  }

  report(): CoverageReport {
    const states = this.atomic.map((s) => ({ id: s.id, reached: record(this.byState.get(s.id)) }));
    const transitions = this.diagram.transitions.map((transition) => {
      const entry = this.byTransition.get(transition.index);
      return {
        transition,
        label: coverageLabel(transition),
        taken: record(entry?.taken),
        takenIn: record(entry?.takenIn),
      };
    });
    return {
      machine: this.diagram.id,
      states,
      transitions,
      ignored: counts(this.ignored),
      ambiguous: counts(this.ambiguous),
      unreached: {
        states: states.filter((s) => Object.keys(s.reached).length === 0).map((s) => s.id),
        transitions: transitions.filter((t) => Object.keys(t.taken).length === 0).map((t) => t.label),
      },
    };
  }

  /**
   * Where an observation of (from, type, to) could not tell transitions
   * apart: two candidates with one outcome, or a targetless candidate whose
   * "stayed" looks like "nothing was enabled" (possible when every candidate
   * is guarded).
   */
  ambiguities(): Ambiguity[] {
    const found: Ambiguity[] = [];
    for (const state of this.atomic) {
      const events = new Set(this.candidateEvents(state.id));
      for (const event of events) {
        const candidates = this.candidates(state.id, event);
        const outcomes = new Map<string, string[]>();
        for (const t of candidates) {
          const outcome = this.outcome(state.id, t);
          outcomes.set(outcome, [...(outcomes.get(outcome) ?? []), coverageLabel(t)]);
        }
        if (candidates.every((t) => t.guard !== undefined)) {
          const stays = outcomes.get(state.id);
          if (stays !== undefined) outcomes.set(state.id, [...stays, '(none)']);
        }
        for (const [outcome, labels] of outcomes) {
          if (labels.length > 1) found.push({ state: state.id, event, outcome, candidates: labels });
        }
      }
    }
    return found;
  }

  private stateCounts(id: string): Map<string, number> {
    const counts = this.byState.get(id) ?? new Map<string, number>();
    this.byState.set(id, counts);
    return counts;
  }

  /** The state's own transitions for `event`, then its ancestors', then the machine's, in XState's order. */
  private candidates(stateId: string, event: string): DiagramTransition[] {
    const chain = this.ancestry(stateId);
    const out: DiagramTransition[] = [];
    for (const source of chain) {
      out.push(...this.diagram.transitions.filter((t) => t.source === source && t.event === event));
    }
    return out;
  }

  private candidateEvents(stateId: string): string[] {
    const chain = new Set(this.ancestry(stateId));
    return this.diagram.transitions.filter((t) => chain.has(t.source) && t.kind === 'event').map((t) => t.event);
  }

  /** The state, its ancestors, then null (the machine itself). */
  private ancestry(stateId: string): Array<string | null> {
    const chain: Array<string | null> = [];
    let id: string | undefined = stateId;
    while (id !== undefined) {
      chain.push(id);
      id = this.diagram.states.find((s) => s.id === id)?.parent;
    }
    chain.push(null);
    return chain;
  }

  /** Where a transition taken in `from` leaves the actor: its target's initial leaf, or `from` when targetless. */
  private outcome(from: string, transition: DiagramTransition): string {
    let target = transition.targets[0];
    if (target === undefined) return from;
    for (;;) {
      const state = this.diagram.states.find((s) => s.id === target);
      if (state?.initial === undefined) return target;
      target = state.initial;
    }
  }
}

/** `source --EVENT [guard]--> target`; a machine-wide transition's source is `*`. */
export function coverageLabel(transition: DiagramTransition): string {
  const target = transition.targets.length === 0 ? '(stays)' : transition.targets.join(',');
  return `${transition.source ?? '*'} --${transitionLabel(transition)}--> ${target}`;
}

/** A plain-text table of a report: one line per state and transition, with counts per tag. */
export function formatCoverage(report: CoverageReport): string {
  const tags = (counts: Record<string, number>) =>
    Object.keys(counts).length === 0
      ? 'NEVER'
      : Object.entries(counts)
          .map(([tag, n]) => `${tag} ${n}`)
          .join(', ');
  const lines = [`${report.machine}: states`];
  for (const state of report.states) lines.push(`  ${state.id.padEnd(48)} ${tags(state.reached)}`);
  lines.push(`${report.machine}: transitions`);
  for (const t of report.transitions) {
    const where = Object.keys(t.takenIn).length === 0 ? '' : ` (in ${Object.keys(t.takenIn).sort().join(', ')})`;
    lines.push(`  ${t.label.padEnd(48)} ${tags(t.taken)}${where}`);
  }
  for (const { step, count } of report.ignored) lines.push(`  ignored: ${step} x${count}`);
  for (const { step, count } of report.ambiguous) lines.push(`  AMBIGUOUS: ${step} x${count}`);
  return lines.join('\n');
}

function bump<K>(map: Map<K, number>, key: K): void {
  map.set(key, (map.get(key) ?? 0) + 1);
}

function record(map: Map<string, number> | undefined): Record<string, number> {
  return Object.fromEntries([...(map ?? new Map<string, number>())].sort(([a], [b]) => a.localeCompare(b)));
}

function counts(map: Map<string, number>): Array<{ step: string; count: number }> {
  return [...map].sort(([a], [b]) => a.localeCompare(b)).map(([step, count]) => ({ step, count }));
}

import type { Observable, Subscription } from 'rxjs';
import type { AnyStateMachine, EventObject, Snapshot } from 'xstate';
import {
  type AdjacencyMap,
  type AdjacencyValue,
  getAdjacencyMap,
  getShortestPaths,
  getSimplePaths,
  type StatePath,
  type TraversalOptions,
} from 'xstate/graph';
import type { BusEvent } from '../../../actors/api.js';
import { MachineCoverage } from '../../../machines/coverage.js';
import { flushGroupMachine } from '../../../machines/flush-group.js';
import { inodeMachine } from '../../../machines/inode.js';

/**
 * The engine of the model-based walks: a path of the machine (xstate/graph)
 * is driven through a real mount, step by step, and every step is checked
 * against the real actor's transitions as the bus published them.
 */

/** Who drove a transition: an fs call, a call into the coordinator the system itself makes, or the actor's own send. */
export type Drive = 'fs' | 'coordinator' | 'direct';

/** One transition of the tracked actor, as published on the bus. */
export interface Seen {
  type: string;
  from: string;
  to: string;
  payload: Record<string, unknown>;
  drive: Drive;
}

/** The recorders of the inode and flush-group machines, fed from any bus. */
export class BusCoverage {
  readonly inode = new MachineCoverage(inodeMachine<unknown>());
  readonly flushGroup = new MachineCoverage(flushGroupMachine);

  observe(event: BusEvent, tag: string): void {
    if (event.from === undefined || event.to === undefined) return;
    const step = { from: event.from, type: event.type, to: event.to };
    if (event.actor.startsWith('inode:')) this.inode.observe(step, tag);
    else if (event.actor.startsWith('flg:')) this.flushGroup.observe(step, tag);
  }

  /** Everything on a mount's bus from now on, under one tag (workloads: 'fs'). */
  watch(events: Observable<BusEvent>, tag: string): Subscription {
    return events.subscribe((event) => this.observe(event, tag));
  }
}

/**
 * A mount's bus as a walk sees it: every transition goes to the coverage
 * recorders, tagged with how the walk was driving at that moment, and the
 * tracked actor's transitions queue up until a path step claims them.
 */
export class BusTap {
  drive: Drive = 'fs';
  tracked: string | undefined;
  readonly queue: Seen[] = [];

  constructor(events: Observable<BusEvent>, coverage: BusCoverage | undefined) {
    events.subscribe((event) => {
      if (event.from === undefined || event.to === undefined) return;
      coverage?.observe(event, `walk:${this.drive}`);
      if (event.actor !== this.tracked) return;
      const payload = event.payload ?? {};
      this.queue.push({ type: event.type, from: event.from, to: event.to, payload, drive: this.drive });
    });
  }

  /** Run `work` with its transitions tagged `drive`. */
  async as(drive: Drive, work: () => unknown): Promise<void> {
    const before = this.drive;
    this.drive = drive;
    try {
      await work();
    } finally {
      this.drive = before;
    }
  }
}

export interface PathStep<TEvent extends EventObject> {
  event: TEvent;
  /** The model's snapshot after the event: what the real actor must show. */
  state: Snapshot<unknown> & { value: unknown; context: unknown };
}

/** How one or more path steps are produced in the real system. */
export interface Realization {
  drive: Drive;
  /** Steps this one run produces (a fsync is FLUSH, WAIT and FLUSH_DONE). */
  covers: number;
  /** The run went on past the steps it covers (a group run): later steps are found among its transitions. */
  ranAhead?: boolean;
  /** The system skips this event here (a flag already set); the walk then sends it to the actor itself. */
  silentOk?: boolean;
  run(): Promise<void> | void;
}

/** What a walk needs from a world: plans, the actor's own send, and the comparison of real and predicted. */
export interface WalkWorld<TEvent extends EventObject> {
  tap: BusTap;
  plan(steps: readonly PathStep<TEvent>[], index: number): Realization;
  /** The actor's own entry point, used where the system never sends the event (see the docs). */
  direct(event: TEvent): void;
  /** Does a published transition show what the step predicts? Undefined if so, else why not. */
  mismatch(seen: Seen, step: PathStep<TEvent>): string | undefined;
  /** The real actor now, against the step's prediction. */
  current(step: PathStep<TEvent>): string | undefined;
}

/** Counts of how the steps of the walks were driven. */
export type DriveCounts = Record<Drive, number>;

/**
 * Drive one path: each step is found among the tracked actor's published
 * transitions (companions a real call produces in between are passed over),
 * else realized first. Throws with the path, the step and what the bus showed.
 */
export async function walkPath<TEvent extends EventObject>(
  world: WalkWorld<TEvent>,
  steps: readonly PathStep<TEvent>[],
  counts: DriveCounts,
): Promise<void> {
  const queue = world.tap.queue;
  let ahead = false;
  for (let index = 0; index < steps.length; ) {
    const step = steps[index] as PathStep<TEvent>;
    if (step.event.type === 'xstate.init') {
      const off = world.current(step);
      if (off !== undefined) throw new Error(pathError(steps, index, `the real actor starts ${off}`, []));
      index++;
      continue;
    }
    if (queue.length > 0 && ahead) {
      claim(world, step, steps, index, 'found after the run it belongs to');
      index++;
      continue;
    }
    queue.length = 0;
    const realization = world.plan(steps, index);
    await world.tap.as(realization.drive, () => realization.run());
    counts[realization.drive] += realization.covers;
    for (let k = 0; k < realization.covers; k++) {
      const covered = steps[index + k] as PathStep<TEvent>;
      if (find(world, covered) < 0 && realization.silentOk) {
        await world.tap.as('direct', () => world.direct(covered.event));
      }
      claim(world, covered, steps, index + k, `after ${realization.drive} drive`);
    }
    index += realization.covers;
    ahead = realization.ranAhead === true;
    if (!ahead) {
      const last = steps[index - 1] as PathStep<TEvent>;
      const off = world.current(last);
      if (off !== undefined) throw new Error(pathError(steps, index - 1, `the real actor ${off}`, []));
      queue.length = 0;
    }
  }
  // A run that went ahead and was claimed to its end leaves the actor where the last step said.
  const last = steps.length - 1;
  const off = queue.length === 0 && last >= 0 ? world.current(steps[last] as PathStep<TEvent>) : undefined;
  if (off !== undefined) throw new Error(pathError(steps, last, `the real actor ends ${off}`, []));
}

function find<TEvent extends EventObject>(world: WalkWorld<TEvent>, step: PathStep<TEvent>): number {
  return world.tap.queue.findIndex((seen) => world.mismatch(seen, step) === undefined);
}

/** Consume the queue up to the transition that shows `step`, or throw. */
function claim<TEvent extends EventObject>(
  world: WalkWorld<TEvent>,
  step: PathStep<TEvent>,
  steps: readonly PathStep<TEvent>[],
  index: number,
  when: string,
): void {
  const queue = world.tap.queue;
  const at = find(world, step);
  if (at < 0) {
    const reasons = queue.map((seen) => `${describeSeen(seen)}: ${world.mismatch(seen, step)}`);
    throw new Error(pathError(steps, index, `no real transition shows it (${when})`, reasons));
  }
  queue.splice(0, at + 1);
}

export function describeSeen(seen: Seen): string {
  return `${seen.from} --${seen.type}--> ${seen.to} ${JSON.stringify(seen.payload)} [${seen.drive}]`;
}

function pathError<TEvent extends EventObject>(
  steps: readonly PathStep<TEvent>[],
  index: number,
  what: string,
  seen: string[],
): string {
  const lines = steps.map((s, i) => `${i === index ? '>>' : '  '} ${i}. ${describeStep(s)}`);
  return [`step ${index}: ${what}`, ...lines, ...seen.map((s) => `   seen: ${s}`)].join('\n');
}

export function describeStep(step: PathStep<EventObject>): string {
  const { type, ...payload } = step.event as EventObject & Record<string, unknown>;
  const args = Object.keys(payload).length === 0 ? '' : ` ${JSON.stringify(payload)}`;
  return `${type}${args} -> ${JSON.stringify(step.state.value)}`;
}

type Vertex = AdjacencyValue<Snapshot<unknown>, EventObject>;

/**
 * Transition coverage of the graph: for every edge of the adjacency map,
 * the shortest path to its source followed by that edge (self-loops too,
 * which shortest and simple paths never take).
 */
export function edgePaths<TLogic extends AnyStateMachine>(
  logic: TLogic,
  options: TraversalOptions<Snapshot<unknown>, EventObject, unknown> & {
    serializeState: (snapshot: Snapshot<unknown>) => string;
  },
): Array<StatePath<Snapshot<unknown>, EventObject>> {
  const shortest = new Map<string, StatePath<Snapshot<unknown>, EventObject>>();
  for (const path of getShortestPaths(logic, options as never)) {
    shortest.set(options.serializeState(path.state as Snapshot<unknown>), path as never);
  }
  const out: Array<StatePath<Snapshot<unknown>, EventObject>> = [];
  const adjacency = getAdjacencyMap(logic, options as never) as AdjacencyMap<Snapshot<unknown>, EventObject>;
  for (const [key, vertex] of Object.entries(adjacency) as Array<[string, Vertex]>) {
    const head = shortest.get(key);
    if (head === undefined) continue;
    for (const { event, state } of Object.values(vertex.transitions) as Array<{
      event: EventObject;
      state: Snapshot<unknown>;
    }>) {
      out.push({ state, steps: [...head.steps, { event, state }], weight: head.weight + 1 });
    }
  }
  return out;
}

/** Walk every path on a fresh world; returns the failures (a test asserts there are none, a mutation test that there are some). */
export async function walkAll<TEvent extends EventObject>(
  paths: readonly (readonly PathStep<TEvent>[])[],
  open: (path: readonly PathStep<TEvent>[]) => Promise<WalkWorld<TEvent>>,
  counts: DriveCounts = { fs: 0, coordinator: 0, direct: 0 },
): Promise<Error[]> {
  const failures: Error[] = [];
  for (const path of paths) {
    try {
      await walkPath(await open(path), path, counts);
    } catch (error) {
      failures.push(error instanceof Error ? error : new Error(String(error)));
    }
  }
  return failures;
}

/** The traversal a model gives xstate/graph: its bounded events, its input, its state identity. */
export interface ModelOptions {
  events: (snapshot: Snapshot<unknown>) => EventObject[];
  input: unknown;
  serializeState: (snapshot: Snapshot<unknown>) => string;
}

export interface ModelPaths<TEvent extends EventObject> {
  shortest: Array<readonly PathStep<TEvent>[]>;
  simple: Array<readonly PathStep<TEvent>[]>;
  edges: Array<readonly PathStep<TEvent>[]>;
}

/**
 * The three path sets the walks drive: the shortest path to every state,
 * the simple paths over a narrower choice of events (`simple`: every route,
 * not just the shortest), and one path per edge.
 */
export function modelPaths<TEvent extends EventObject>(
  model: AnyStateMachine,
  options: ModelOptions,
  simple: Partial<ModelOptions> & { toState?: (snapshot: Snapshot<unknown>) => boolean },
): ModelPaths<TEvent> {
  const traversal = { ...options, serializeEvent: (event: EventObject) => JSON.stringify(event) };
  const stepsOf = (paths: Array<StatePath<Snapshot<unknown>, EventObject>>) =>
    paths.map((path) => path.steps as unknown as readonly PathStep<TEvent>[]);
  return {
    shortest: stepsOf(getShortestPaths(model, traversal as never)),
    simple: stepsOf(getSimplePaths(model, { ...traversal, ...simple } as never)),
    edges: stepsOf(edgePaths(model, traversal as never)),
  };
}

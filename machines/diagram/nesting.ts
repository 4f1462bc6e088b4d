import type { DiagramState, MachineDiagram } from './describe.js';

/**
 * Where nested states put their statements. Mermaid and DOT write a
 * transition inside the block of a state that holds both its ends, and a
 * parallel state's block holds only its regions; these answer which block.
 */
export function stateById(diagram: MachineDiagram, id: string): DiagramState {
  const state = diagram.states.find((s) => s.id === id);
  if (state === undefined) throw new Error(`invariant violated: a transition or parent names a state of ${diagram.id}`);
  return state;
}

/** The states holding `id`, innermost first, ending with undefined (the machine). */
export function ancestorsOf(diagram: MachineDiagram, id: string): Array<string | undefined> {
  const out: Array<string | undefined> = [];
  let parent = stateById(diagram, id).parent;
  while (parent !== undefined) {
    out.push(parent);
    parent = stateById(diagram, parent).parent;
  }
  out.push(undefined);
  return out;
}

/** A block for statements: `container`, or the nearest state around it that is not parallel. */
function notParallel(diagram: MachineDiagram, container: string | undefined): string | undefined {
  let home = container;
  while (home !== undefined && stateById(diagram, home).type === 'parallel') home = stateById(diagram, home).parent;
  return home;
}

/** The block where the statements about one state go: among its siblings. */
export function homeOf(diagram: MachineDiagram, id: string): string | undefined {
  return notParallel(diagram, stateById(diagram, id).parent);
}

/** The block for a transition between two states: the innermost state holding both (neither end itself). */
export function statementHome(diagram: MachineDiagram, source: string, target: string): string | undefined {
  const around = new Set(ancestorsOf(diagram, target));
  const common = ancestorsOf(diagram, source).find((ancestor) => around.has(ancestor));
  return notParallel(diagram, common);
}

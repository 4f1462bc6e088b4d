import type { AnyStateMachine } from 'xstate';
import { describeMachine, type MachineDiagram } from './describe.js';
import { dot } from './dot.js';
import { mermaid } from './mermaid.js';
import { scxml } from './scxml.js';
import { svg } from './svg.js';

/**
 * Pictures of the machines, drawn from the machine objects themselves
 * (`describeMachine` walks their StateNode trees): Mermaid, Graphviz DOT,
 * W3C SCXML and a self-contained SVG. Pure and deterministic: the same
 * machines give the same bytes. Several machines make one document.
 */
export const DIAGRAM_FORMATS = ['mermaid', 'dot', 'scxml', 'svg'] as const;
export type DiagramFormat = (typeof DIAGRAM_FORMATS)[number];

const RENDERERS: Record<DiagramFormat, (diagrams: readonly MachineDiagram[]) => string> = { mermaid, dot, scxml, svg };

export function renderDiagrams(format: DiagramFormat, diagrams: readonly MachineDiagram[]): string {
  if (diagrams.length === 0) throw new Error('invariant violated: a diagram draws at least one machine');
  return RENDERERS[format](diagrams);
}

export function renderMachines(format: DiagramFormat, machines: readonly AnyStateMachine[]): string {
  return renderDiagrams(format, machines.map(describeMachine));
}

export {
  actionLines,
  anywhereLabel,
  type DiagramState,
  type DiagramStateType,
  type DiagramTransition,
  describeMachine,
  EVERY_STATE,
  everyStateNote,
  type MachineDiagram,
  transitionLabel,
  transitionLabelWithActions,
} from './describe.js';
export { dot } from './dot.js';
export { mermaid } from './mermaid.js';
export { HAMMERSTATE_NAMESPACE, SCXML_NAMESPACE, scxml } from './scxml.js';
export { svg } from './svg.js';
export { layoutMachine, type MachineLayout } from './svg-layout.js';

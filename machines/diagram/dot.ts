import {
  actionLines,
  childrenOf,
  type DiagramState,
  type DiagramTransition,
  everyStateNote,
  type MachineDiagram,
  transitionLabelWithActions,
} from './describe.js';
import { Tokens } from './names.js';

/**
 * Graphviz DOT. Compound and parallel states are clusters (parallel ones
 * dashed), reached through an invisible point with `lhead`/`ltail`; a
 * transition that changes no state is a dashed self-loop; the machine's own
 * transitions, taken in any state, are a note. Several machines make one
 * digraph, each machine a cluster.
 */
export function dot(diagrams: readonly MachineDiagram[]): string {
  const tokens = new Tokens();
  const single = diagrams.length === 1 ? diagrams[0] : undefined;
  const lines = [
    `digraph ${quote(single?.id ?? 'machines')} {`,
    '  graph [compound=true, rankdir=TB, fontname="Helvetica", fontsize=12, labelloc=t];',
    '  node [shape=box, style=rounded, fontname="Helvetica", fontsize=11];',
    '  edge [fontname="Helvetica", fontsize=9];',
  ];
  if (single !== undefined) {
    lines.push(`  label=${quote(single.id)};`, ...new DotMachine(single, tokens, '').lines('  '));
  } else {
    for (const diagram of diagrams) {
      lines.push(`  subgraph ${quote(`cluster_${tokens.token('', diagram.id)}`)} {`);
      lines.push(
        `    label=${quote(diagram.id)};`,
        ...new DotMachine(diagram, tokens, diagram.id).lines('    '),
        '  }',
      );
    }
  }
  lines.push('}');
  return `${lines.join('\n')}\n`;
}

/** A DOT string: quoted, backslashes and quotes escaped, lines apart by `\n`. */
function quote(text: string): string {
  return `"${text.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`;
}

class DotMachine {
  constructor(
    private readonly diagram: MachineDiagram,
    private readonly tokens: Tokens,
    private readonly scope: string,
  ) {}

  lines(indent: string): string[] {
    const lines = this.block(undefined, indent);
    for (const transition of this.diagram.transitions) lines.push(...this.edges(transition, indent));
    const label = everyStateNote(this.diagram).map((line) => quote(line).slice(1, -1));
    if (label.length > 0) {
      const note = this.tokens.token(this.scope, '(every state)');
      lines.push(`${indent}${note} [shape=note, style="", label="${label.join('\\l')}\\l"];`);
    }
    return lines;
  }

  private node(id: string): string {
    return this.tokens.token(this.scope, id);
  }

  /** A container's states, its nested clusters, and its initial-state marker. */
  private block(container: string | undefined, indent: string): string[] {
    const lines: string[] = [];
    for (const state of childrenOf(this.diagram, container)) lines.push(...this.declaration(state, indent));
    const initial =
      container === undefined ? this.diagram.initial : this.diagram.states.find((s) => s.id === container)?.initial;
    if (initial !== undefined) {
      const marker = this.tokens.token(this.scope, `(initial of ${container ?? this.diagram.id})`);
      lines.push(`${indent}${marker} [shape=point, width=0.15, label=""];`);
      lines.push(`${indent}${marker} -> ${this.node(initial)}${this.clusterEnds(undefined, initial)};`);
    }
    return lines;
  }

  private declaration(state: DiagramState, indent: string): string[] {
    const token = this.node(state.id);
    const label = quote([state.key, ...actionLines(state)].join('\n'));
    if (state.type === 'compound' || state.type === 'parallel') {
      const style = state.type === 'parallel' ? 'dashed' : 'rounded';
      return [
        `${indent}subgraph ${quote(`cluster_${token}`)} {`,
        `${indent}  label=${label}; style=${style};`,
        `${indent}  ${token} [shape=point, style=invis, width=0, label=""];`,
        ...this.block(state.id, `${indent}  `),
        `${indent}}`,
      ];
    }
    if (state.type === 'history') {
      return [`${indent}${token} [shape=circle, label=${quote(state.history?.depth === 'deep' ? 'H*' : 'H')}];`];
    }
    return [`${indent}${token} [label=${label}${state.type === 'final' ? ', peripheries=2' : ''}];`];
  }

  /** A cluster has no node of its own: an edge ends at its point and is clipped at the cluster's border. */
  private clusterEnds(source: string | undefined, target: string): string {
    const cluster = (id: string | undefined) => {
      const state = id === undefined ? undefined : this.diagram.states.find((s) => s.id === id);
      return state?.type === 'compound' || state?.type === 'parallel' ? `cluster_${this.node(state.id)}` : undefined;
    };
    const attributes: string[] = [];
    const tail = cluster(source);
    const head = cluster(target);
    if (source !== target && tail !== undefined) attributes.push(`ltail=${quote(tail)}`);
    if (source !== target && head !== undefined) attributes.push(`lhead=${quote(head)}`);
    return attributes.length === 0 ? '' : ` [${attributes.join(', ')}]`;
  }

  private edges(transition: DiagramTransition, indent: string): string[] {
    const { source } = transition;
    if (source === null) return [];
    const label = `label=${quote(transitionLabelWithActions(transition))}`;
    if (transition.targets.length === 0) {
      return [`${indent}${this.node(source)} -> ${this.node(source)} [${label}, style=dashed];`];
    }
    return transition.targets.map((target) => {
      const ends = this.clusterEnds(source, target);
      const attributes = ends === '' ? `[${label}]` : `${ends.slice(0, -1)}, ${label}]`;
      return `${indent}${this.node(source)} -> ${this.node(target)} ${attributes.trimStart()};`;
    });
  }
}

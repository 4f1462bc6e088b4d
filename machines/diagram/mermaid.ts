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
import { homeOf, stateById, statementHome } from './nesting.js';

/**
 * Mermaid `stateDiagram-v2`. A transition that changes no state (actions
 * only) is written inside its state's box, the way UML writes internal
 * transitions (`setup : CONN_DOWN / connDown`), not as a self-loop; the
 * machine's own transitions, taken in any state, go in a note on the initial
 * state. Several machines make one diagram, each machine a composite state.
 */
export function mermaid(diagrams: readonly MachineDiagram[]): string {
  const tokens = new Tokens();
  const lines = ['stateDiagram-v2'];
  if (diagrams.length === 1 && diagrams[0] !== undefined) {
    lines.push(...new MermaidMachine(diagrams[0], tokens, '').lines('  '));
  } else {
    for (const diagram of diagrams) {
      const token = tokens.token('', diagram.id);
      lines.push(`  %% machine ${diagram.id}`, `  state "${text(diagram.id)}" as ${token}`, `  state ${token} {`);
      lines.push(...new MermaidMachine(diagram, tokens, diagram.id).lines('    '), '  }');
    }
  }
  return `${lines.join('\n')}\n`;
}

/**
 * Mermaid decodes `#<code>;` in labels: the characters its grammar reads as
 * syntax (a description ends at `:` or `;`, `%%` starts a comment, `"` ends a
 * name) are written that way.
 */
function text(label: string): string {
  return label.replace(/[#;:"%]/g, (c) => `#${c.charCodeAt(0)};`);
}

class MermaidMachine {
  /** What is said inside each container's block (its id; '' for the machine's). */
  private readonly statements = new Map<string, string[]>();

  constructor(
    private readonly diagram: MachineDiagram,
    private readonly tokens: Tokens,
    private readonly scope: string,
  ) {
    if (diagram.initial !== undefined) this.say(undefined, `[*] --> ${this.token(diagram.initial)}`);
    for (const state of diagram.states) this.describeState(state);
    for (const transition of diagram.transitions) this.describeTransition(transition);
  }

  lines(indent: string): string[] {
    const lines = this.block(undefined, indent);
    const notes = everyStateNote(this.diagram).map((line) => `${indent}  ${text(line)}`);
    if (notes.length === 0) return lines;
    const anchor = this.diagram.initial ?? this.diagram.states.find((s) => s.parent === undefined)?.id;
    if (anchor === undefined) return [...lines, ...notes.map((l) => `${indent}%% ${l.trim()}`)];
    return [...lines, `${indent}note right of ${this.token(anchor)}`, ...notes, `${indent}end note`];
  }

  private token(id: string): string {
    return this.tokens.token(this.scope, id);
  }

  private say(home: string | undefined, line: string): void {
    const key = home ?? '';
    const list = this.statements.get(key) ?? [];
    list.push(line);
    this.statements.set(key, list);
  }

  /** A container's block: its children (regions of a parallel state apart by `--`), then what is said in it. */
  private block(container: string | undefined, indent: string): string[] {
    const parallel = container !== undefined && stateById(this.diagram, container).type === 'parallel';
    const lines: string[] = [];
    childrenOf(this.diagram, container).forEach((child, i) => {
      if (parallel && i > 0) lines.push(`${indent}--`);
      lines.push(...this.declaration(child, indent));
    });
    for (const line of this.statements.get(container ?? '') ?? []) lines.push(`${indent}${line}`);
    return lines;
  }

  private declaration(state: DiagramState, indent: string): string[] {
    const token = this.token(state.id);
    const name = state.type === 'history' ? (state.history?.depth === 'deep' ? 'H*' : 'H') : state.key;
    const lines = token === name ? [] : [`${indent}state "${text(name)}" as ${token}`];
    if (state.type === 'compound' || state.type === 'parallel') {
      lines.push(`${indent}state ${token} {`, ...this.block(state.id, `${indent}  `), `${indent}}`);
    } else if (lines.length === 0) {
      lines.push(`${indent}state ${token}`);
    }
    return lines;
  }

  /** Initial and final markers and entry/exit actions, said where the state's siblings are. */
  private describeState(state: DiagramState): void {
    const home = homeOf(this.diagram, state.id);
    const token = this.token(state.id);
    if (state.type === 'compound' && state.initial !== undefined) {
      this.say(state.id, `[*] --> ${this.token(state.initial)}`);
    }
    if (state.type === 'final') this.say(home, `${token} --> [*]`);
    for (const line of actionLines(state)) this.say(home, `${token} : ${text(line)}`);
  }

  private describeTransition(transition: DiagramTransition): void {
    const { source } = transition;
    if (source === null) return;
    const label = text(transitionLabelWithActions(transition));
    if (transition.targets.length === 0) {
      this.say(homeOf(this.diagram, source), `${this.token(source)} : ${label}`);
      return;
    }
    for (const target of transition.targets) {
      const home = statementHome(this.diagram, source, target);
      this.say(home, `${this.token(source)} --> ${this.token(target)} : ${label}`);
    }
  }
}

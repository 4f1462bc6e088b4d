import { writeFileSync } from 'node:fs';
import { type Command, Option } from 'commander';
import type { AnyStateMachine } from 'xstate';
import { DIAGRAM_FORMATS, type DiagramFormat, describeMachine, renderDiagrams } from '../../machines/diagram/index.js';
import { flushGroupMachine } from '../../machines/flush-group.js';
import { flusherMachine } from '../../machines/flusher.js';
import { inodeMachine } from '../../machines/inode.js';
import { EXIT_OK, note, printJson, writeOut } from '../output.js';
import { registerVizLog } from './viz-log.js';

/** The machines `viz machines` draws, by their command-line names, in the order `all` draws them. */
export const VIZ_MACHINES: Readonly<Record<string, () => AnyStateMachine>> = {
  inode: () => inodeMachine<unknown>(),
  'flush-group': () => flushGroupMachine,
  flusher: () => flusherMachine,
};

interface MachinesOptions {
  format: DiagramFormat;
  machine: string;
  output?: string;
  json?: boolean;
}

/**
 * `hammerstate viz machines`: the state machines drawn from their
 * definitions (machines/diagram walks the machine objects), so a change to a
 * machine changes the picture. One document in every format, also for
 * `all`: one Mermaid diagram or DOT graph with a part per machine, one SCXML
 * document invoking each machine, one SVG with the machines side by side.
 */
export function registerViz(program: Command): void {
  const viz = program.command('viz').description('pictures of the state machines, and reports of audit logs');
  viz
    .command('machines')
    .description('draw the inode, flush-group and flusher machines from their definitions')
    .addOption(new Option('--format <format>', 'output format').choices(DIAGRAM_FORMATS).default('mermaid'))
    .addOption(
      new Option('--machine <name>', 'which machine').choices([...Object.keys(VIZ_MACHINES), 'all']).default('all'),
    )
    .option('-o, --output <file>', 'write the picture to FILE (replacing it) instead of standard output')
    .option('--json', 'print {format, machines (states and transitions), text or file and bytes} as one JSON object')
    .action((options: MachinesOptions) => {
      const names = options.machine === 'all' ? Object.keys(VIZ_MACHINES) : [options.machine];
      const diagrams = names.map((name) => describeMachine((VIZ_MACHINES[name] as () => AnyStateMachine)()));
      const text = renderDiagrams(options.format, diagrams);
      if (options.output !== undefined) {
        writeFileSync(options.output, text);
        const bytes = Buffer.byteLength(text);
        note(`viz: wrote ${options.output} (${options.format}, ${bytes} bytes)`);
        if (options.json) printJson({ format: options.format, file: options.output, bytes, machines: diagrams });
      } else if (options.json) {
        printJson({ format: options.format, machines: diagrams, text });
      } else {
        writeOut(Buffer.from(text));
      }
      process.exitCode = EXIT_OK;
    });
  registerVizLog(viz);
}

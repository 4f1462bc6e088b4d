import { Command, CommanderError } from 'commander';
import { registerBench } from './commands/bench.js';
import { registerDemo } from './commands/demo.js';
import { registerFsck } from './commands/fsck.js';
import { registerMkfs } from './commands/mkfs.js';
import { registerShow } from './commands/show.js';
import { registerShowUndo } from './commands/show-undo.js';
import { EXIT_OK, EXIT_USAGE, reportError } from './output.js';

/**
 * The hammerstate command. Returns the exit code instead of exiting, so it can
 * be called from tests: 0 ok, 1 problems found, 2 usage or environment.
 */
export async function main(argv: string[]): Promise<number> {
  const program = new Command();
  program
    .name('hammerstate')
    .description("DragonFly BSD HAMMER's volume, UNDO/REDO FIFO and recovery, in TypeScript")
    .version('0.1.0')
    .exitOverride()
    .configureOutput({
      writeOut: (text) => process.stdout.write(text),
      writeErr: (text) => process.stderr.write(text),
    });
  registerMkfs(program);
  registerShow(program);
  registerShowUndo(program);
  registerFsck(program);
  registerDemo(program);
  registerBench(program);
  if (argv.length <= 2) {
    program.outputHelp({ error: true });
    return EXIT_USAGE;
  }
  process.exitCode = EXIT_OK;
  try {
    await program.parseAsync(argv);
    return typeof process.exitCode === 'number' ? process.exitCode : EXIT_OK;
  } catch (error) {
    if (error instanceof CommanderError) {
      return error.exitCode === 0 ? EXIT_OK : EXIT_USAGE;
    }
    return reportError(error);
  }
}

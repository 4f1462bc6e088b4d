import { Command, CommanderError } from 'commander';
import { registerBench } from './commands/bench.js';
import { registerCat } from './commands/cat.js';
import { registerCrashtest } from './commands/crashtest.js';
import { registerDemo } from './commands/demo.js';
import { registerExport } from './commands/export.js';
import { registerFsck } from './commands/fsck.js';
import { registerHistory } from './commands/history.js';
import { registerImport } from './commands/import.js';
import { registerInspect } from './commands/inspect.js';
import { registerLog } from './commands/log.js';
import { registerLs } from './commands/ls.js';
import { registerMkfs } from './commands/mkfs.js';
import { registerMount } from './commands/mount.js';
import { registerPfs } from './commands/pfs.js';
import { registerPrune } from './commands/prune.js';
import { registerReblock } from './commands/reblock.js';
import { registerReplay } from './commands/replay.js';
import { registerShow } from './commands/show.js';
import { registerShowUndo } from './commands/show-undo.js';
import { registerSnapls } from './commands/snapls.js';
import { registerSnapshot } from './commands/snapshot.js';
import { registerViz } from './commands/viz.js';
import { classify, EXIT_OK, EXIT_USAGE, type Failure, guardStdout, note, printJson } from './output.js';

/**
 * The hammerstate command. Returns the exit code instead of exiting, so it can
 * be called from tests: 0 ok, 1 problems found, 2 usage or environment.
 * Commands report their code through process.exitCode; main reads it and puts
 * the caller's value back, so an in-process call leaves no trace. With --json,
 * a failure still ends stdout with one JSON object: {"error": {code, message}, "exitCode"}.
 */
export async function main(argv: string[]): Promise<number> {
  guardStdout();
  const json = argv.slice(2).includes('--json');
  const program = new Command();
  program
    .name('hammerstate')
    .description(
      "DragonFly BSD HAMMER's inode and flush machinery as XState actors over a crash-safe volume: filesystem, FUSE mount, event log, replay, visualization",
    )
    .version('0.1.0')
    .exitOverride()
    .configureOutput({
      writeOut: (text) => process.stdout.write(text),
      writeErr: (text) => process.stderr.write(text),
    });
  // One register function per command (cli/commands/*.ts); new commands are added here.
  registerMkfs(program);
  registerMount(program);
  registerShow(program);
  registerShowUndo(program);
  registerFsck(program);
  registerImport(program);
  registerExport(program);
  registerLs(program);
  registerCat(program);
  registerHistory(program);
  registerSnapshot(program);
  registerSnapls(program);
  registerPfs(program);
  registerPrune(program);
  registerReblock(program);
  registerLog(program);
  registerReplay(program);
  registerDemo(program);
  registerBench(program);
  registerViz(program);
  registerInspect(program);
  registerCrashtest(program);
  if (argv.length <= 2) {
    program.outputHelp({ error: true });
    return EXIT_USAGE;
  }
  const callerExitCode = process.exitCode;
  process.exitCode = EXIT_OK;
  try {
    await program.parseAsync(argv);
    return typeof process.exitCode === 'number' ? process.exitCode : EXIT_OK;
  } catch (error) {
    if (error instanceof CommanderError) {
      // commander has already printed its message (or the help) to the right stream.
      if (error.exitCode === 0) return EXIT_OK;
      return fail(json, { code: 'EINVAL', message: error.message.replace(/^error: /, ''), exitCode: EXIT_USAGE });
    }
    const failure = classify(error);
    note(`hammerstate: ${failure.stack ?? failure.message}`);
    return fail(json, failure);
  } finally {
    process.exitCode = callerExitCode;
  }
}

function fail(json: boolean, failure: Failure): number {
  if (json) printJson({ error: { code: failure.code, message: failure.message }, exitCode: failure.exitCode });
  return failure.exitCode;
}

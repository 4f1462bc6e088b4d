import type { Command } from 'commander';
import { EXIT_OK, EXIT_PROBLEMS, note, printJson, say, UsageError } from '../output.js';
import { INSPECT_INTERVAL_MS, startInspect } from '../report/inspect.js';
import { MAX_EVENTS_DEFAULT } from '../report/travel.js';
import { maxEventsOption } from './viz-log.js';

interface InspectCommandOptions {
  port: string;
  host: string;
  workload: boolean;
  interval: string;
  inode?: string;
  maxEvents: string;
  json?: boolean;
}

function portOption(text: string): number {
  const port = Number(text);
  if (!/^\d+$/.test(text) || port > 65535) throw new UsageError('EINVAL', `--port must be 0..65535, got '${text}'`);
  return port;
}

function intervalOption(text: string): number {
  const ms = Number(text);
  if (!/^\d+$/.test(text) || ms < 1 || ms > 60_000) {
    throw new UsageError('EINVAL', `--interval must be 1..60000 milliseconds, got '${text}'`);
  }
  return ms;
}

/** Resolves on the first SIGINT or SIGTERM (Ctrl-C), and forgets its handlers. */
function interrupted(): Promise<string> {
  return new Promise((resolve) => {
    const handler = (signal: string) => {
      process.off('SIGINT', handler);
      process.off('SIGTERM', handler);
      resolve(signal);
    };
    process.on('SIGINT', handler);
    process.on('SIGTERM', handler);
  });
}

/**
 * `hammerstate inspect`: mounts the volume and serves the report page of
 * its events live (server-sent events) while the built-in workload runs on
 * it, until Ctrl-C: then the workload stops, the volume is unmounted (synced)
 * and the server closes. Prints the URL (with --json: {url, port, volume}).
 */
export function registerInspect(program: Command): void {
  program
    .command('inspect')
    .description('mount a volume and watch its actors live in the browser (report page over server-sent events)')
    .argument('<volume>', 'the volume file (made by mkfs)')
    .option('--port <n>', 'TCP port (0: any free port)', '8080')
    .option('--host <address>', 'address to listen on', '127.0.0.1')
    .option('--no-workload', "only serve the mount's events (no built-in workload)")
    .option('--interval <ms>', "the workload's pace: one call every MS milliseconds", String(INSPECT_INTERVAL_MS))
    .option('--inode <id>', "the sequence diagram's inode: an actor id or an obj_id (default: the most active inode)")
    .option('--max-events <n>', 'events the time travel keeps (the last N)', String(MAX_EVENTS_DEFAULT))
    .option('--json', 'print {url, port, volume} as one JSON object once serving')
    .action(async (volume: string, options: InspectCommandOptions) => {
      const session = await startInspect({
        volume,
        port: portOption(options.port),
        host: options.host,
        workload: options.workload,
        intervalMs: intervalOption(options.interval),
        inode: options.inode,
        maxEvents: maxEventsOption(options.maxEvents),
      });
      if (options.json) printJson({ url: session.url, port: session.port, volume });
      else say(session.url);
      note(
        `inspect: serving ${volume} at ${session.url}${options.workload ? ' with the built-in workload' : ''}; Ctrl-C stops`,
      );
      const signal = await interrupted();
      const result = await session.stop();
      note(
        `inspect: ${signal}: stopped after ${result.events} events, ${result.steps} workload steps; ${volume} unmounted`,
      );
      if (result.error !== undefined) note(`inspect: the workload stopped early: ${result.error.message}`);
      process.exitCode = result.error === undefined ? EXIT_OK : EXIT_PROBLEMS;
    });
}

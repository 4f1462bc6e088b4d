import type { Command } from 'commander';
import { AuditReader, type EventFilter, type LoggedEvent } from '../../storage/audit-reader.js';
import type { RunInfo } from '../../storage/audit-schema.js';
import { FsError } from '../../storage/errors.js';
import { EXIT_OK, hex, note, printJson, say, UsageError } from '../output.js';

/** A payload longer than this is cut in the table (--json prints it whole). */
const PAYLOAD_CHARS_MAX = 160;

interface LogOptions {
  actor?: string;
  type?: string;
  from?: string;
  to?: string;
  runs?: boolean;
  json?: boolean;
}

function seqOption(text: string | undefined, name: string): number | undefined {
  if (text === undefined) return undefined;
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(Number(text))) {
    throw new UsageError('EINVAL', `--${name} must be a seq (a non-negative integer), got '${text}'`);
  }
  return Number(text);
}

/** A log the reader refuses is a wrong argument, not a damaged volume: EINVAL exits 2 like ENOENT. */
export function openLog(path: string): AuditReader {
  try {
    return AuditReader.open(path);
  } catch (error) {
    if (error instanceof FsError && error.code === 'EINVAL') {
      throw new UsageError('EINVAL', error.message.replace('EINVAL: ', ''));
    }
    throw error;
  }
}

function isoTime(micros: number): string {
  return new Date(Math.floor(micros / 1000)).toISOString();
}

function runLine(run: RunInfo): string {
  const seed = run.seed === undefined ? '' : ` seed ${JSON.stringify(run.seed)}`;
  const end = run.endTime === undefined ? 'not ended' : `ended ${isoTime(run.endTime)} at seq ${run.lastSeq}`;
  return (
    `run ${run.run}: ${run.kind} ${run.volume} level ${run.level}${seed} clock ${JSON.stringify(run.clock)} ` +
    `started ${isoTime(run.startTime)} at seq ${run.firstSeq}, ${end}; parameters ${JSON.stringify(run.parameters)}`
  );
}

/** One event as a table row: seq, time, kind, TID, actor, type, transition, payload (cut). */
function eventLine(event: LoggedEvent): string {
  const tid = event.tid === undefined ? '-'.padEnd(18) : hex(event.tid);
  const transition = event.from === undefined && event.to === undefined ? '' : `${event.from ?? ''}->${event.to ?? ''}`;
  let payload = event.payload === undefined ? '' : JSON.stringify(event.payload);
  if (payload.length > PAYLOAD_CHARS_MAX) payload = `${payload.slice(0, PAYLOAD_CHARS_MAX - 1)}…`;
  return [
    String(event.seq).padStart(8),
    isoTime(event.time),
    event.kind.padEnd(7),
    tid,
    event.actor.padEnd(24),
    event.type.padEnd(14),
    transition.padEnd(14),
    payload,
  ]
    .join(' ')
    .trimEnd();
}

/** The table: a line for each run as its first listed event appears, then its events. */
function printTable(reader: AuditReader, filter: EventFilter): void {
  const runs = new Map(reader.runs().map((run) => [run.run, run]));
  let current: number | undefined;
  for (const event of reader.events(filter)) {
    if (event.run !== current) {
      current = event.run;
      const run = runs.get(current);
      if (run !== undefined) say(`-- ${runLine(run)}`);
    }
    say(eventLine(event));
  }
}

/**
 * `hammerstate log`: the audit log of a volume (docs/events.md), read-only:
 * its events in seq order, filtered by actor, type and seq range, as a table
 * or as JSON lines (one event per line); `--runs` lists the runs instead.
 */
export function registerLog(program: Command): void {
  program
    .command('log')
    .description("print a volume's audit log (the events SQLite file), filtered, in seq order")
    .argument('<log>', 'the log file (<volume>.events.sqlite)')
    .option(
      '--actor <id>',
      "only this actor's events (inode:<loc>:<objid>:<asof>, flg:<seq>, flusher, volume, fs, log)",
    )
    .option('--type <type>', 'only events of this type (writeFile, FLUSH, COMMIT, ...)')
    .option('--from <seq>', 'from this global seq on (inclusive)')
    .option('--to <seq>', 'up to this global seq (inclusive)')
    .option('--runs', 'list the runs (mkfs, mounts) instead of the events')
    .option('--json', 'one JSON object per line: an event each (a run each with --runs)')
    .action((path: string, options: LogOptions) => {
      const filter: EventFilter = {
        actor: options.actor,
        type: options.type,
        fromSeq: seqOption(options.from, 'from'),
        toSeq: seqOption(options.to, 'to'),
      };
      const reader = openLog(path);
      try {
        if (!reader.startsAtMkfs)
          note(`hammerstate: ${path} does not start at mkfs: the volume's earlier history is not in it`);
        if (options.runs) {
          for (const run of reader.runs()) options.json ? printJson(run) : say(runLine(run));
        } else if (options.json) {
          for (const event of reader.events(filter)) printJson(event);
        } else {
          printTable(reader, filter);
        }
      } finally {
        reader.close();
      }
      process.exitCode = EXIT_OK;
    });
}

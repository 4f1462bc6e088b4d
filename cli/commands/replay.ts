import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Command } from 'commander';
import { type ComparedEvent, type ReplayReport, replayLog } from '../../actors/replay.js';
import { checkpointDir } from '../../actors/replay-checkpoints.js';
import { AuditReader } from '../../storage/audit-reader.js';
import { eventLoopTurn } from '../event-loop.js';
import { EXIT_OK, EXIT_PROBLEMS, note, parseIntegerOption, printJson, say, UsageError } from '../output.js';
import { withCountProgress } from '../progress.js';

interface ReplayCommandOptions {
  to?: string;
  check?: boolean;
  json?: boolean;
  checkpoints: boolean;
  checkpointEvery: string;
  checkpointKeep: string;
}

const DEFAULT_CHECKPOINT_EVERY = 100_000;
const DEFAULT_CHECKPOINT_KEEP = 16;

function parseSeq(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const seq = Number(text);
  if (!Number.isSafeInteger(seq) || seq < 1)
    throw new UsageError('EINVAL', `--to wants an event seq (≥ 1), got '${text}'`);
  return seq;
}

function line(event: ComparedEvent | null): string {
  if (event === null) return '(nothing)';
  const move = event.from !== null || event.to !== null ? ` ${event.from ?? ''} -> ${event.to ?? ''}` : '';
  const tid = event.tid === null ? '' : ` tid=${event.tid}`;
  return `${event.kind} ${event.actor} ${event.type}${move}${tid} time=${event.time} ${event.payload ?? ''}`;
}

function printHuman(log: string, report: ReplayReport): void {
  const start =
    report.fromCheckpoint === undefined ? 'from mkfs' : `from the checkpoint at seq ${report.fromCheckpoint}`;
  say(`replay of ${log} ${start}: ${report.events} events (${report.commands} commands) up to seq ${report.seq}`);
  if (report.checkpointsTaken !== undefined) say(`checkpoints taken at seq ${report.checkpointsTaken.join(', ')}`);
  const first = report.first_divergence;
  if (first === null) say('every derived event matches the log');
  else {
    say(`${report.divergences} divergence(s); the first at seq ${first.seq}:`);
    say(`  expected (log):    ${line(first.expected)}`);
    say(`  got (replay):      ${line(first.got)}`);
  }
  const state = report.state;
  if (state === undefined) return;
  say(`state at seq ${report.seq}: next TID ${state.volume.nextTid}, last commit ${state.volume.lastCommitTid}`);
  say(
    `  FIFO span ${state.volume.fifo.first}..${state.volume.fifo.next} (seq ${state.volume.fifo.firstSeq}..${state.volume.fifo.nextSeq})`,
  );
  for (const flg of state.flushGroups) say(`  ${flg.actor} ${flg.state} inodes=${flg.totalCount} refs=${flg.refs}`);
  for (const ip of state.inodes) {
    const group = ip.group === null ? '' : ` group=${ip.group}`;
    say(`  ${ip.actor} ${ip.state} [${ip.flags.join(' ')}] sync=[${ip.syncFlags.join(' ')}] refs=${ip.refs}${group}`);
  }
  if (state.scheduled.length > 0) say(`  scheduler actions waiting: ${state.scheduled.join(', ')}`);
}

/** `hammerstate replay`: re-execute a logged run on a fresh volume and check every derived event. */
export function registerReplay(program: Command): void {
  program
    .command('replay')
    .description('re-execute the commands of an event log on a fresh volume and compare every derived event')
    .argument('<log>', 'event log (<volume>.events.sqlite)')
    .option('--to <seq>', 'stop after this event and print the state of the system there')
    .option('--check', 'stop at the first divergence (exit 1)')
    .option('--json', 'print {events, commands, divergences, first_divergence} as one JSON line')
    .option(
      '--checkpoint-every <events>',
      'keep a checkpoint (beside the log) between two commands or at a mount boundary this many events after the last',
      String(DEFAULT_CHECKPOINT_EVERY),
    )
    .option(
      '--checkpoint-keep <n>',
      'keep at most this many checkpoints, spread over the log (the newest always)',
      String(DEFAULT_CHECKPOINT_KEEP),
    )
    .option('--no-checkpoints', 'neither start from nor keep checkpoints')
    .action(async (log: string, options: ReplayCommandOptions) => {
      const to = parseSeq(options.to);
      const every = Number(options.checkpointEvery);
      if (!Number.isSafeInteger(every) || every < 1)
        throw new UsageError(
          'EINVAL',
          `--checkpoint-every wants a number of events (≥ 1), got '${options.checkpointEvery}'`,
        );
      const keep = parseIntegerOption(options.checkpointKeep, '--checkpoint-keep', 1, Number.MAX_SAFE_INTEGER);
      const checkpoints = options.checkpoints ? { dir: checkpointDir(log), every, use: true, keep } : undefined;
      const reader = AuditReader.open(log);
      const dir = mkdtempSync(join(tmpdir(), 'hammerstate-replay-'));
      let report: ReplayReport;
      try {
        const total = Math.min(to ?? reader.lastSeq, reader.lastSeq);
        report = await withCountProgress('replay', 'events', options.json === true, (update) =>
          replayLog(reader, {
            to,
            check: options.check,
            dir,
            drain: eventLoopTurn,
            checkpoints,
            progress: (seq) => update(seq, total),
          }),
        );
      } finally {
        reader.close();
        rmSync(dir, { recursive: true, force: true });
      }
      if (report.checkpointRefused !== undefined) {
        note(`hammerstate: replay: ${report.checkpointRefused}; dropped it and replayed from mkfs`);
      }
      if (options.json) {
        const { events, commands, divergences, first_divergence, state } = report;
        printJson(
          state === undefined
            ? { events, commands, divergences, first_divergence }
            : { events, commands, divergences, first_divergence, seq: report.seq, state },
        );
      } else printHuman(log, report);
      process.exitCode = report.divergences > 0 ? EXIT_PROBLEMS : EXIT_OK;
    });
}

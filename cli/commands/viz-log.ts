import { writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import { EXIT_OK, note, printJson, UsageError, writeOut } from '../output.js';
import { startCountProgress } from '../progress.js';
import { logReport } from '../report/log-report.js';
import { renderReportPage } from '../report/page.js';
import { MAX_EVENTS_DEFAULT } from '../report/travel.js';
import { openLog } from './log.js';

interface VizLogOptions {
  output?: string;
  inode?: string;
  maxEvents: string;
  json?: boolean;
}

/** A positive event count (--max-events); EINVAL otherwise. */
export function maxEventsOption(text: string): number {
  const value = Number(text);
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(value) || value < 1) {
    throw new UsageError('EINVAL', `--max-events must be a positive integer, got '${text}'`);
  }
  return value;
}

/**
 * `hammerstate viz log`: one self-contained HTML page about an audit log:
 * the statecharts with the states and transitions it took, the flush groups
 * against the device writes and fsyncs they caused, one inode's sequence
 * diagram, and a slider that steps through the events (cli/report/).
 */
export function registerVizLog(viz: Command): void {
  viz
    .command('log')
    .description('an HTML report of an audit log: statecharts, flush-group timeline, an inode sequence, time travel')
    .argument('<log>', 'the log file (<volume>.events.sqlite)')
    .option('-o, --output <file>', 'write the page to FILE (replacing it) instead of standard output')
    .option('--inode <id>', "the sequence diagram's inode: an actor id or an obj_id (default: the most active inode)")
    .option('--max-events <n>', 'events the time travel embeds (the last N)', String(MAX_EVENTS_DEFAULT))
    .option(
      '--json',
      'print {log, file or text, bytes, events, groups, inode, travelEvents, capped} as one JSON object',
    )
    .action((path: string, options: VizLogOptions) => {
      const maxEvents = maxEventsOption(options.maxEvents);
      const reader = openLog(path);
      let text: string;
      let facts: Record<string, unknown>;
      const bar = startCountProgress('viz log', 'events', options.json === true);
      try {
        const model = logReport(reader, { inode: options.inode, maxEvents, progress: bar.update });
        text = renderReportPage(model);
        const { summary, travel } = model;
        facts = {
          log: path,
          events: summary.totals.events,
          groups: summary.totals.groups,
          inode: summary.sequence?.inode ?? null,
          travelEvents: travel.rows.length,
          capped: travel.total > travel.rows.length,
        };
      } finally {
        bar.stop();
        reader.close();
      }
      const bytes = Buffer.byteLength(text);
      if (options.output !== undefined) {
        writeFileSync(options.output, text);
        note(`viz: wrote ${options.output} (report of ${facts.events} events, ${bytes} bytes)`);
        if (options.json) printJson({ ...facts, file: options.output, bytes });
      } else if (options.json) {
        printJson({ ...facts, bytes, text });
      } else {
        writeOut(Buffer.from(text));
      }
      process.exitCode = EXIT_OK;
    });
}

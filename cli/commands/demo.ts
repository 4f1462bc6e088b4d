import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import type { FileSystem } from '../../actors/api.js';
import { mkfs, mount } from '../../actors/index.js';
import { replayLog } from '../../actors/replay.js';
import { AuditReader } from '../../storage/audit-reader.js';
import { CrashDevice, seededRandom } from '../../storage/crash-device.js';
import { FileDevice, MemDevice, PAGE_BYTES } from '../../storage/device.js';
import { fsck } from '../../storage/fsck.js';
import { formatTid } from '../../storage/layout.js';
import { eventLoopTurn } from '../event-loop.js';
import { EXIT_OK, EXIT_PROBLEMS, mib, note, printJson, say } from '../output.js';
import { logReport } from '../report/log-report.js';
import { renderReportPage } from '../report/page.js';
import { wallClock } from '../wall-clock.js';

const VOLUME_BYTES = 128 * 1024 * 1024;

/**
 * The demo (`npm start`): a volume file, this project's sources written
 * through the filesystem API (inode actors, flush groups, one TID a group),
 * a snapshot, edits that keep history, an fsync on the REDO fast path, a
 * crash in the middle of a flush, recovery (UNDO rollback, REDO replay) on
 * the real file, the history of one file, as-of reads, fsck, then the event
 * log the mounts kept: replayed up to the crash, and its HTML report.
 */
export function registerDemo(program: Command): void {
  program
    .command('demo')
    .description('make a volume, write files through the API, snapshot, crash mid-flush, recover, history, fsck')
    .option('--dir <dir>', 'where to put the volume', 'data')
    .option('--json', 'print what happened as one JSON object (the narration goes to stderr)')
    .action(async (options: { dir: string; json?: boolean }) => {
      const story = new Story(options.json === true);
      const ok = await runDemo(resolve(options.dir), story);
      if (options.json) printJson({ ...story.facts, ok });
      process.exitCode = ok ? EXIT_OK : EXIT_PROBLEMS;
    });
}

/** What the demo tells: lines on stdout (on stderr with --json), and the facts its --json object gives. */
class Story {
  readonly facts: Record<string, unknown> = {};
  constructor(private readonly json: boolean) {}
  say(line: string): void {
    if (this.json) note(line);
    else say(line);
  }
}

/** This project's own TypeScript sources: a small, real tree of text files. */
function sourceFiles(): Array<{ path: string; content: Buffer }> {
  const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
  const files: Array<{ path: string; content: Buffer }> = [];
  for (const folder of ['machines', 'actors', 'storage', 'storage/format', 'cli', 'cli/commands']) {
    for (const name of readdirSync(join(root, folder)).sort()) {
      if (name.endsWith('.ts'))
        files.push({ path: `/src/${folder}/${name}`, content: readFileSync(join(root, folder, name)) });
    }
  }
  return files;
}

async function runDemo(dir: string, story: Story): Promise<boolean> {
  const started = performance.now();
  mkdirSync(dir, { recursive: true });
  const path = join(dir, 'demo.hsvol');
  rmSync(path, { force: true });
  await mkfs(path, { size: VOLUME_BYTES, undoBytes: 16 * 1024 * 1024, label: 'demo', clock: wallClock });
  story.say(`made ${path} (${mib(VOLUME_BYTES)}, FIFO 16 MiB)`);
  story.facts.volume = path;

  const fs = await mount(path, { clock: wallClock });
  let groups = 0;
  fs.events.subscribe((e) => {
    if (e.type === 'COMMIT') groups++;
  });
  const files = sourceFiles();
  for (const file of files) {
    await fs.mkdir(dirname(file.path), { recursive: true });
    await fs.writeFile(file.path, file.content);
  }
  const imported = await fs.snapshot('imported');
  const bytes = files.reduce((sum, f) => sum + f.content.length, 0);
  story.say(
    `wrote ${files.length} files (${bytes} bytes) of this project's sources; snapshot ${formatTid(imported)} after ${groups} flush group(s)`,
  );
  Object.assign(story.facts, { files: files.length, bytes, snapshot: formatTid(imported), flushGroups: groups });

  const edited = '/src/actors/flusher.ts';
  await fs.appendFile(edited, '\n// edited once by the demo\n');
  await fs.sync();
  await fs.appendFile(edited, '// edited twice by the demo\n');
  await fs.sync();
  await fs.unlink('/src/cli/wall-clock.ts');
  const fh = await fs.open('/src/README.txt', 'w');
  await fh.write('written, then fsynced: the first fsync flushes the inode\n');
  await fh.sync();
  await fh.write('then written again and fsynced on the REDO fast path\n');
  await fh.sync();
  await fh.close();
  await fs.unmount();
  story.say(
    `edited ${edited} twice, deleted /src/cli/wall-clock.ts, fsynced /src/README.txt twice (the second through REDO)`,
  );

  const ok = await crashAndRecover(path, story);
  const after = await mount(path, { clock: wallClock });
  const historyOk = await showHistory(after, edited, imported, story);
  await after.unmount();

  const report = fsck(FileDevice.open(path, { readOnly: true }), { clock: wallClock });
  story.say(report.errors === 0 ? 'fsck: clean' : `fsck: ${report.errors} errors`);
  for (const problem of report.problems.slice(0, 5)) story.say(`  ${problem.where}: ${problem.what}`);
  story.facts.fsckErrors = report.errors;
  const replayed = await showLog(dir, path, story);
  story.facts.ms = Math.round(performance.now() - started);
  story.say(`done in ${Math.round(performance.now() - started)} ms; look inside with: hammerstate ls ${path} /src -l`);
  note(historyOk && ok ? 'demo: history verified' : 'demo: history check FAILED');
  return report.errors === 0 && historyOk && ok && replayed;
}

/**
 * The event log the demo's mounts kept beside the volume: replayed up to the
 * crash (the crashed mount ran on a copy and is not in it, so the recovery
 * that follows cannot be replayed), and the HTML report of it.
 */
async function showLog(dir: string, path: string, story: Story): Promise<boolean> {
  const log = `${path}.events.sqlite`;
  const reader = AuditReader.open(log);
  const scratch = mkdtempSync(join(tmpdir(), 'hammerstate-demo-replay-'));
  try {
    const runs = reader.runs();
    const beforeCrash = runs[1]?.lastSeq ?? reader.lastSeq;
    const replayed = await replayLog(reader, { to: beforeCrash, check: true, dir: scratch, drain: eventLoopTurn });
    story.facts.log = {
      path: log,
      events: reader.lastSeq,
      runs: runs.length,
      replayedTo: beforeCrash,
      commands: replayed.commands,
      divergences: replayed.divergences,
    };
    story.say(
      `event log: ${log}: ${reader.lastSeq} events in ${runs.length} runs; ` +
        `replayed up to the crash (seq ${beforeCrash}, ${replayed.commands} commands): ${replayed.divergences} divergences`,
    );
    const html = join(dir, 'report.html');
    writeFileSync(html, renderReportPage(logReport(reader)));
    story.facts.report = html;
    story.say(`report: ${html} (statecharts, flush groups, time travel; hammerstate viz log)`);
    return replayed.divergences === 0;
  } finally {
    reader.close();
    rmSync(scratch, { recursive: true, force: true });
  }
}

/**
 * Crash in the middle of a flush: run the next operations on a recording
 * copy of the volume, cut it after some writes of the flush with the header
 * commit lost, put that image back into the file, and mount the file: stage 1
 * rolls the half-flush back, stage 2 replays the fsynced REDO.
 */
async function crashAndRecover(path: string, story: Story): Promise<boolean> {
  const file = FileDevice.open(path);
  const image = copyToMemory(file);
  const recorder = new CrashDevice(image);
  const fs = await mount(recorder, { clock: wallClock });
  const fh = await fs.open('/src/README.txt', 'a');
  await fh.write('a line fsynced with a full flush (the first fsync of this mount)\n');
  await fh.sync();
  await fh.write('a line fsynced just before the crash\n');
  await fh.sync();
  await fh.close();
  for (let i = 0; i < 40; i++) await fs.writeFile(`/src/half-written-${i}.txt`, `never synced ${i}\n`.repeat(200));
  const before = recorder.ops.length;
  await fs.sync();
  const points = recorder.writePoints().filter((at) => at > before);
  // Cut before the last write of the flush: the header commit (the durable point) is lost.
  const cut = points[Math.max(0, points.length - 2)] ?? recorder.ops.length;
  const crashed = recorder.sampleCrashImage(cut, seededRandom(7));
  copyFromMemory(crashed, file);
  file.close();
  story.facts.crash = { deviceOps: cut - before, flushOps: recorder.ops.length - before };
  story.say(
    `crashed mid-flush: ${cut - before} of ${recorder.ops.length - before} device operations of the last flush reached the file`,
  );

  const recovered = await mount(path, { clock: wallClock });
  const readme = await recovered.readFile('/src/README.txt', 'utf8');
  const names = await recovered.readdir('/src');
  const half = names.filter((n) => n.startsWith('half-written')).length;
  const info = recovered.recovery;
  await recovered.unmount();
  story.say(
    `recovery: ${info.spanRecords} FIFO records in the span, ${info.undone} UNDO records rolled back, ${info.redoReplayed} of ${info.redoPending} REDO records replayed`,
  );
  const redoKept = readme.includes('a line fsynced just before the crash');
  story.facts.recovery = { ...info, unsyncedFilesLeft: half, fsyncedWriteKept: redoKept };
  story.say(
    `  the unsynced files are ${half === 0 ? 'gone, as they must be' : `partly there (${half}): a crash keeps a flush whole or not at all, so this is a BUG`}`,
  );
  story.say(`  the write fsynced just before the crash is ${redoKept ? 'there (REDO replayed)' : 'MISSING (bug)'}`);
  return half === 0 && redoKept;
}

function copyToMemory(file: FileDevice): MemDevice {
  const image = new MemDevice(file.size);
  const chunk = new Uint8Array(1024 * 1024);
  for (let at = 0; at < file.size; at += chunk.length) {
    file.read(at, chunk);
    for (let page = 0; page < chunk.length; page += PAGE_BYTES) {
      const bytes = chunk.subarray(page, page + PAGE_BYTES);
      if (bytes.some((b) => b !== 0)) image.write(at + page, bytes);
    }
  }
  return image;
}

function copyFromMemory(image: MemDevice, file: FileDevice): void {
  const chunk = new Uint8Array(1024 * 1024);
  for (let at = 0; at < file.size; at += chunk.length) {
    image.read(at, chunk);
    file.write(at, chunk);
  }
  file.fsync();
}

async function showHistory(fs: FileSystem, path: string, imported: number, story: Story): Promise<boolean> {
  const versions = await fs.history(path);
  story.say(`history of ${path}:`);
  for (const v of versions) story.say(`  ${v.tidHex}  ${String(v.size).padStart(6)} bytes  ${v.what.join('+')}`);
  const asof = await fs.readFile(`${path}@@${formatTid(imported)}`, 'utf8');
  const now = await fs.readFile(path, 'utf8');
  story.facts.history = {
    path,
    versions: versions.map((v) => ({ tid: v.tidHex, size: v.size, what: v.what })),
    asOfBytes: asof.length,
    nowBytes: now.length,
  };
  story.say(`  as of the snapshot ${formatTid(imported)}: ${asof.length} bytes; now: ${now.length} bytes`);
  return versions.length >= 3 && !asof.includes('edited once') && now.includes('edited twice');
}

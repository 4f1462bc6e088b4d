import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { type CliRun, cli, runMain } from './support/cli.js';

/**
 * The command line's promises, command by command (docs/cli.md): `--help`
 * exits 0, a usage error (unknown option, missing argument, bad value) and a
 * missing volume or log exit 2 with a clear message, `--json` ends stdout
 * with one JSON object also on failure, and the key data outputs parse.
 * Run in this process (cli/main.ts), not as children: a few ms a call.
 */

const dir = mkdtempSync(join(tmpdir(), 'hammerstate-conformance-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const missing = join(dir, 'missing.img');

interface Row {
  /** The command's words (`viz log`). */
  command: string[];
  /** A run whose volume or log file does not exist (undefined: the command takes none). */
  missingPath?: string[];
  /** A run with a bad value (exit 2, EINVAL). */
  badValue: string[];
  /** Whether its output is data, so it has --json (default true). */
  data?: boolean;
  /** The code of the missing-path failure: default ENOENT; null for any code (still exit 2). */
  missingCode?: string | null;
}

const ROWS: Row[] = [
  { command: ['mkfs'], badValue: ['mkfs', join(dir, 'bad.img'), '--size', 'lots'] },
  { command: ['show'], missingPath: ['show', missing], badValue: ['show'] },
  { command: ['show-undo'], missingPath: ['show-undo', missing], badValue: ['show-undo'] },
  { command: ['fsck'], missingPath: ['fsck', missing], badValue: ['fsck', missing, 'extra'] },
  { command: ['import'], missingPath: ['import', missing, dir, '/d'], badValue: ['import', missing] },
  { command: ['export'], missingPath: ['export', missing, '/', join(dir, 'out')], badValue: ['export', missing] },
  { command: ['ls'], missingPath: ['ls', missing], badValue: ['ls', missing, '/', 'extra'] },
  { command: ['cat'], missingPath: ['cat', missing, '/f'], badValue: ['cat', missing] },
  { command: ['history'], missingPath: ['history', missing, '/f'], badValue: ['history', missing] },
  { command: ['snapshot'], missingPath: ['snapshot', missing], badValue: ['snapshot'] },
  { command: ['snapls'], missingPath: ['snapls', missing], badValue: ['snapls'] },
  { command: ['pfs-create'], missingPath: ['pfs-create', missing, 'p'], badValue: ['pfs-create', missing] },
  { command: ['pfs-list'], missingPath: ['pfs-list', missing], badValue: ['pfs-list'] },
  { command: ['pfs-destroy'], missingPath: ['pfs-destroy', missing, '1'], badValue: ['pfs-destroy', missing, 'one'] },
  {
    command: ['prune'],
    missingPath: ['prune', missing, '--before', '0x100000001'],
    badValue: ['prune', missing, '--before', 'yesterday'],
  },
  { command: ['reblock'], missingPath: ['reblock', missing], badValue: ['reblock', missing, '--fill-percent', '150'] },
  { command: ['log'], missingPath: ['log', missing], badValue: ['log', missing, '--from', 'x'] },
  { command: ['replay'], missingPath: ['replay', missing], badValue: ['replay', missing, '--checkpoint-every', '0'] },
  { command: ['viz', 'machines'], badValue: ['viz', 'machines', '--format', 'png'] },
  { command: ['viz', 'log'], missingPath: ['viz', 'log', missing], badValue: ['viz', 'log'] },
  { command: ['crashtest'], badValue: ['crashtest', '--workloads', 'seq9'] },
  { command: ['bench'], badValue: ['bench', 'no-such-benchmark'] },
  { command: ['demo'], badValue: ['demo', 'extra-argument'] },
  { command: ['inspect'], missingPath: ['inspect', missing], badValue: ['inspect', missing, '--port', 'http'] },
  // The FUSE mount (another branch): checked once it is registered; without FUSE it exits 2 saying what to install.
  {
    command: ['mount'],
    missingPath: ['mount', missing, dir],
    badValue: ['mount', missing, dir, '--attr-timeout', 'soon'],
    missingCode: null,
  },
];

/** The commands the program has, as its --help lists them. */
async function registered(): Promise<string[]> {
  const help = await runMain(['--help']);
  expect(help.status).toBe(0);
  return [...help.stdout.matchAll(/^ {2}([a-z][a-z-]*)\b/gm)].map((m) => m[1] as string).filter((c) => c !== 'help');
}
const commands = new Set(await registered());

/** The --json contract on failure: the last line is {"error": {code, message}, "exitCode"}. */
function expectJsonError(run: CliRun, code: string | undefined, exitCode: number): void {
  const parsed = run.json<{ error: { code: string; message: string }; exitCode: number }>();
  expect(parsed.exitCode).toBe(exitCode);
  if (code !== undefined) expect(parsed.error.code).toBe(code);
  expect(parsed.error.message.length).toBeGreaterThan(0);
}

describe('every command: --help, usage errors, a missing volume', () => {
  it('the table names every command the program has', () => {
    const inTable = new Set(ROWS.map((row) => row.command[0]));
    expect(commands.size).toBeGreaterThan(20);
    for (const command of commands) expect(inTable.has(command), `${command} is in the table`).toBe(true);
  });

  for (const row of ROWS) {
    const name = row.command.join(' ');
    it.skipIf(!commands.has(row.command[0] as string))(name, async () => {
      const help = await runMain([...row.command, '--help']);
      expect(help.status, `${name} --help`).toBe(0);
      expect(help.stdout).toContain(`Usage: hammerstate ${name}`);
      if (row.data !== false) expect(help.stdout, `${name} offers --json`).toContain('--json');

      const unknown = await runMain([...row.command, '--no-such-option', '--json']);
      expect(unknown.status, `${name} with an unknown option`).toBe(2);
      expect(unknown.stderr).toMatch(/unknown option|missing required argument|required option/);
      expectJsonError(unknown, 'EINVAL', 2);

      const bad = await runMain([...row.badValue, '--json']);
      expect(bad.status, `${row.badValue.join(' ')}`).toBe(2);
      expectJsonError(bad, undefined, 2);
      expect(bad.stderr).not.toContain('    at ');

      if (row.missingPath !== undefined) {
        const gone = await runMain(row.missingPath);
        const code = row.missingCode === undefined ? 'ENOENT' : undefined;
        expect(gone.status, `${row.missingPath.join(' ')}`).toBe(2);
        if (code !== undefined) expect(gone.stderr).toContain(`${code}: `);
        if (code !== undefined) expect(gone.stderr).toContain('missing.img');
        expect(gone.stderr).not.toContain('    at ');
        expectJsonError(await runMain([...row.missingPath, '--json']), code, 2);
        // Nothing is made for a volume that is not there: no event log beside it.
        expect(existsSync(`${missing}.events.sqlite`), `${name} leaves no log`).toBe(false);
      }
    });
  }
});

/** The commands whose first argument is a volume file (log, replay and viz log read event logs). */
const VOLUME_COMMANDS = new Set(['show', 'show-undo', 'fsck', 'import', 'export', 'ls', 'cat', 'history', 'snapshot']);
for (const command of ['snapls', 'pfs-create', 'pfs-list', 'pfs-destroy', 'prune', 'reblock'])
  VOLUME_COMMANDS.add(command);

describe('a volume path that is a directory, or a file that is not a volume', () => {
  const rows = ROWS.filter((row) => VOLUME_COMMANDS.has(row.command[0] as string));

  it('a directory: exit 2, EINVAL naming it, for every command that opens a volume', async () => {
    expect(rows).toHaveLength(VOLUME_COMMANDS.size);
    for (const row of rows) {
      const args = (row.missingPath as string[]).map((arg) => (arg === missing ? dir : arg));
      const run = await runMain([...args, '--json']);
      expect(run.status, args.join(' ')).toBe(2);
      expect(run.stderr).toContain('a directory is not a volume');
      expectJsonError(run, 'EINVAL', 2);
    }
  });

  it('a file that is not a volume: exit 1, and a command that would write starts no event log beside it', async () => {
    const junk = join(dir, 'junk.img');
    writeFileSync(junk, Buffer.alloc(1024 * 1024));
    for (const row of rows) {
      const args = (row.missingPath as string[]).map((arg) => (arg === missing ? junk : arg));
      const run = await runMain([...args, '--json']);
      expect(run.status, args.join(' ')).toBe(1);
      expect(run.stderr + run.stdout).toContain('not a hammerstate volume'); // fsck reports it as a problem on stdout
      expect(existsSync(`${junk}.events.sqlite`), `${args.join(' ')} leaves no log`).toBe(false);
    }
  });
});

/** Run with --json; it must succeed and its last line parse. */
async function json<T = Record<string, unknown>>(args: string[]): Promise<T> {
  const run = await runMain([...args, '--json']);
  expect(run.status, `${args.join(' ')}: ${run.stderr}`).toBe(0);
  return run.json<T>();
}

describe('--json outputs parse', () => {
  it('on one volume: mkfs, import, snapshot, snapls, pfs-*, prune, reblock, ls, cat, history, show, show-undo, fsck, log, replay', async () => {
    const volume = join(dir, 'v.img');
    const host = join(dir, 'host');
    mkdirSync(host);
    expect(await json(['mkfs', volume, '--size', '64M', '--undo-size', '8M'])).toMatchObject({ bigblocks: 7 });
    writeFileSync(join(host, 'f'), 'one\n');
    await json(['import', volume, join(host, 'f'), '/f']);
    const first = await json<{ tid: number; tidHex: string }>(['snapshot', volume, '--label', 'first']);
    writeFileSync(join(host, 'f'), 'two\n');
    await json(['import', volume, join(host, 'f'), '/f']);
    writeFileSync(join(host, 'f'), 'three\n');
    await json(['import', volume, join(host, 'f'), '/f']);
    expect(await json(['snapls', volume])).toEqual({
      volume,
      snapshots: [{ tid: first.tid, tidHex: first.tidHex, label: 'first' }],
    });
    expect(await json(['pfs-create', volume, 'scratch'])).toEqual({ volume, id: 1, label: 'scratch' });
    expect(await json(['pfs-list', volume])).toEqual({
      volume,
      pfs: [
        { id: 0, label: 'root' },
        { id: 1, label: 'scratch' },
      ],
    });
    // pfs-destroy destroys the PFS with its contents, as hammer(8)'s does.
    await json(['import', volume, host, '/@@PFS00001/tree']);
    expect(await json(['ls', volume, '/@@PFS00001/tree'])).toMatchObject({ entries: [{ name: 'f' }] });
    expect(await json(['pfs-destroy', volume, '1'])).toEqual({ volume, id: 1, label: 'scratch' });
    expect((await runMain(['ls', volume, '/@@PFS00001'])).status).toBe(2);
    expect(await json(['fsck', volume])).toMatchObject({ errors: 0 });
    const destroyRoot = await runMain(['pfs-destroy', volume, '0', '--json']);
    expect(destroyRoot.status).toBe(2);
    expectJsonError(destroyRoot, 'EINVAL', 2);

    const versions = (await json<{ versions: unknown[] }>(['history', volume, '/f'])).versions.length;
    expect(versions).toBe(3);
    const now = (await json<{ tid: string }>(['cat', volume, '/f'])).tid;
    const pruned = await json<{ recordsPruned: number; keptForSnapshots: number; beforeHex: string }>([
      'prune',
      volume,
      '--before',
      now,
    ]);
    expect(pruned.beforeHex).toBe(now);
    expect(pruned.recordsPruned).toBeGreaterThan(0);
    expect(pruned.keptForSnapshots).toBeGreaterThan(0);
    // The version the snapshot sees and the current one stay; the one between goes.
    expect((await json<{ versions: unknown[] }>(['history', volume, '/f'])).versions).toHaveLength(2);
    expect(await json(['cat', volume, `/f@@${first.tidHex}`])).toMatchObject({ data: 'one\n' });
    expect(await json(['reblock', volume, '--fill-percent', '50'])).toMatchObject({ fillPercent: 50 });

    expect(await json(['ls', volume, '/', '-l'])).toMatchObject({ entries: [{ name: 'f', type: 'file' }] });
    expect(await json(['show', volume])).toHaveProperty('nodes');
    expect(await json(['show-undo', volume])).toHaveProperty('records');
    expect(await json(['fsck', volume])).toMatchObject({ errors: 0 });
    const log = await runMain(['log', `${volume}.events.sqlite`, '--type', 'prune', '--json']);
    expect(log.status).toBe(0);
    const events = log.stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { type: string });
    expect(events.map((e) => e.type)).toEqual(['prune']);
    // prune, reblock and pfs-* are commands of the log: the replay re-executes them without a divergence.
    expect(await json(['replay', `${volume}.events.sqlite`, '--no-checkpoints'])).toMatchObject({
      divergences: 0,
      first_divergence: null,
    });
    expect(await json(['export', volume, '/', join(dir, 'exported')])).toMatchObject({ files: 1 });
    expect(await json(['viz', 'log', `${volume}.events.sqlite`, '-o', join(dir, 'report.html')])).toHaveProperty(
      'file',
    );
  });

  it('viz machines and bench (the list)', async () => {
    expect(await json(['viz', 'machines', '--machine', 'flusher'])).toHaveProperty('machines');
    const list = await json<{ benchmarks: Array<{ name: string }> }>(['bench']);
    expect(list.benchmarks.map((b) => b.name)).toContain('storage');
  });
});

describe('progress bars', () => {
  it('are drawn on a terminal (stderr a tty), never with --json or into a pipe', async () => {
    const volume = join(dir, 'bars.img');
    expect((await runMain(['mkfs', volume, '--size', '64M', '--undo-size', '8M', '--no-audit'])).status).toBe(0);
    const bin = fileURLToPath(new URL('../cli/hammerstate.js', import.meta.url));
    // script(1) runs the command on a pseudo-terminal and copies what it drew.
    const onTerminal = (args: string) =>
      spawnSync('script', ['-qefc', `"${process.execPath}" "${bin}" ${args}`, '/dev/null'], {
        encoding: 'utf8',
        timeout: 60_000,
      });
    const drawn = onTerminal(`fsck "${volume}"`);
    expect(drawn.status).toBe(0);
    expect(drawn.stdout).toMatch(/fsck \[.*\] \d+% \| \d\/5 checks/);
    expect(drawn.stdout).toContain('clean:');
    const json = onTerminal(`fsck "${volume}" --json`);
    expect(json.stdout).not.toContain('checks');
    expect(json.stdout).toContain('"errors":0');
    const piped = cli(['fsck', volume], dir);
    expect(piped.status).toBe(0);
    expect(piped.stderr).not.toContain('checks');
  });
});

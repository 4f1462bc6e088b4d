import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { mkfs } from '../actors/index.js';
import { main } from '../cli/main.js';
import { logicalClock } from '../storage/clock.js';
import { MiB } from './support/fs.js';
import { reportVolume } from './support/report.js';
import { readSse } from './support/sse.js';

const dir = mkdtempSync(join(tmpdir(), 'hammerstate-report-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const BIN = fileURLToPath(new URL('../cli/hammerstate.js', import.meta.url));

afterEach(() => vi.restoreAllMocks());

/** The command in this process (no start-up cost), its output captured. */
async function run(args: string[]) {
  const stdout: string[] = [];
  const stderr: string[] = [];
  vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => stdout.push(String(chunk)) > 0);
  vi.spyOn(process.stderr, 'write').mockImplementation((chunk) => stderr.push(String(chunk)) > 0);
  const status = await main(['node', 'hammerstate', ...args]);
  vi.restoreAllMocks();
  const out = stdout.join('');
  return {
    status,
    stdout: out,
    stderr: stderr.join(''),
    json<T = Record<string, unknown>>(): T {
      return JSON.parse(out.trimEnd().split('\n').pop() ?? '') as T;
    },
  };
}

let log: string;
beforeAll(async () => {
  log = await reportVolume(join(dir, 'vol.hsvol'));
});

describe('hammerstate viz log', () => {
  it('writes the report page and says what it holds', async () => {
    const file = join(dir, 'report.html');
    const result = await run(['viz', 'log', log, '-o', file, '--json']);
    expect(result.status).toBe(0);
    const json = result.json<{ file: string; bytes: number; events: number; groups: number; inode: string }>();
    expect(json).toMatchObject({ log, file, capped: false, groups: 7 });
    expect(json.inode).toMatch(/^inode:0:\d+:live$/);
    const html = readFileSync(file, 'utf8');
    expect(Buffer.byteLength(html)).toBe(json.bytes);
    expect(html.startsWith('<!doctype html>')).toBe(true);
    expect(result.stderr).toContain(`viz: wrote ${file}`);
  });

  it('prints the page on standard output without -o, and caps the time travel as told', async () => {
    const result = await run(['viz', 'log', log, '--max-events', '10', '--inode', '1']);
    expect(result.status).toBe(0);
    expect(result.stdout.startsWith('<!doctype html>')).toBe(true);
    const data = /<script type="application\/json" id="hs-data">(.*?)<\/script>/s.exec(result.stdout)?.[1] ?? '{}';
    const model = JSON.parse(data);
    expect(model.travel.rows).toHaveLength(10);
    expect(model.summary.sequence.inode).toBe('inode:0:1:live');
  });

  it('exits 2 for a missing log, a file that is not a log, a bad option, an inode not in the log', async () => {
    const notLog = join(dir, 'not-a-log.sqlite');
    writeFileSync(notLog, 'plain text');
    const missing = await run(['viz', 'log', join(dir, 'missing.sqlite'), '-o', join(dir, 'x.html'), '--json']);
    const wrong = await run(['viz', 'log', notLog, '--json']);
    const maxEvents = await run(['viz', 'log', log, '--max-events', '0', '--json']);
    const inode = await run(['viz', 'log', log, '--inode', '31337', '--json']);
    expect(missing.status).toBe(2);
    expect(missing.json()).toMatchObject({ error: { code: 'ENOENT' }, exitCode: 2 });
    expect(missing.stderr).toMatch(/hammerstate: ENOENT: no such audit log/);
    expect(existsSync(join(dir, 'x.html'))).toBe(false);
    expect(wrong.status).toBe(2);
    expect(wrong.json()).toMatchObject({ error: { code: 'EINVAL' } });
    expect(maxEvents.status).toBe(2);
    expect(maxEvents.json()).toMatchObject({
      error: { code: 'EINVAL', message: expect.stringMatching(/--max-events/) },
    });
    expect(inode.status).toBe(2);
    expect(inode.json()).toMatchObject({ error: { code: 'EINVAL', message: expect.stringMatching(/obj_id 31337/) } });
  });
});

describe('hammerstate inspect', () => {
  it('exits 2 for a volume that is not there, before serving anything', async () => {
    const result = await run(['inspect', join(dir, 'missing.hsvol'), '--port', '0', '--json']);
    expect(result.status).toBe(2);
    expect(result.json()).toMatchObject({ error: { code: 'ENOENT' } });
  });

  it('serves until SIGINT, then unmounts and exits 0', async () => {
    const volume = join(dir, 'inspect.hsvol');
    await mkfs(volume, { size: 64 * MiB, undoBytes: 8 * MiB, clock: logicalClock() });
    const child = spawn(process.execPath, [BIN, 'inspect', volume, '--port', '0', '--interval', '5', '--json'], {
      cwd: dir,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (chunk) => {
      stderr += chunk;
    });
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    try {
      const first = await new Promise<string>((resolve, reject) => {
        let out = '';
        child.stdout.on('data', (chunk) => {
          out += chunk;
          if (out.includes('\n')) resolve(out.split('\n')[0] ?? '');
        });
        child.on('exit', () => reject(new Error(`inspect exited early: ${stderr}`)));
      });
      const { url, port } = JSON.parse(first) as { url: string; port: number };
      expect(port).toBeGreaterThan(0);
      const messages = await readSse(`${url}events`, (m) => m.filter((x) => x.event === 'events').length >= 2);
      expect(messages.filter((m) => m.event === 'events').length).toBeGreaterThanOrEqual(2);
      child.kill('SIGINT');
      expect(await exited).toBe(0);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
    expect(stderr).toMatch(/inspect: SIGINT: stopped after \d+ events, \d+ workload steps/);
    const runs = await run(['log', `${volume}.events.sqlite`, '--runs', '--json']);
    const lastRun = runs.json();
    expect(lastRun).toMatchObject({ kind: 'mount', endTime: expect.any(Number) });
  });
});

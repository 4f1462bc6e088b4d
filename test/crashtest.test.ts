import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { checkCrashState } from '../cli/crashtest/check.js';
import type { MInode } from '../cli/crashtest/fs-model.js';
import { record, setupVolume, VOLUME_BYTES } from '../cli/crashtest/record.js';
import { runCrashtest } from '../cli/crashtest/run.js';
import { describeWorkload, steps, workloadAt, workloadCount } from '../cli/crashtest/workloads.js';
import { main } from '../cli/main.js';

const dir = mkdtempSync(join(tmpdir(), 'hammerstate-crashtest-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
afterEach(() => vi.restoreAllMocks());

/** stdout of an in-process `hammerstate ...` call, and its exit code. */
async function run(args: string[]): Promise<{ code: number; stdout: string }> {
  const stdout: string[] = [];
  vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => stdout.push(String(chunk)) > 0);
  vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
  const code = await main(['node', 'hammerstate', ...args]);
  vi.restoreAllMocks();
  return { code, stdout: stdout.join('') };
}

/** The seq-1 index of the workload written as `text` (describeWorkload). */
function seq1Index(text: string): number {
  const index = steps().findIndex((step) => describeWorkload([step]) === text);
  expect(index, text).toBeGreaterThanOrEqual(0);
  return index;
}

describe('hammerstate crashtest', () => {
  it('seq-1 is every operation over the namespace times its persistence points', () => {
    expect(steps()).toHaveLength(230);
    expect(workloadCount(1)).toBe(230);
    expect(workloadCount(2)).toBe(230 * 230);
  });

  it('a seeded slice of seq-2 recovers every crash state within the contract, as one JSON line', async () => {
    const out = join(dir, 'clean');
    const { code, stdout } = await run([
      'crashtest',
      '--workloads',
      'seq2',
      '--limit',
      '12',
      '--seed',
      '7',
      '--json',
      '--out',
      out,
    ]);
    const lines = stdout.trimEnd().split('\n');
    expect(lines).toHaveLength(1);
    const result = JSON.parse(lines[0] ?? '');
    expect(result).toEqual({ workloads: 12, crash_states: expect.any(Number), violations: 0, first_violation: null });
    expect(result.crash_states).toBeGreaterThan(12);
    expect(code).toBe(0);
    expect(existsSync(out)).toBe(false);
  }, 30_000);

  it('refuses an unknown workload family', async () => {
    expect((await run(['crashtest', '--workloads', 'seq3', '--json'])).code).toBe(2);
  });

  it('a broken oracle input is a violation, with a reproduction written (the check can fail)', async () => {
    const only = seq1Index('append /A/foo; fsync');
    const out = join(dir, 'broken');
    const never: MInode = { kind: 'file', data: Buffer.from('never written'), nlink: 1 };
    const result = await runCrashtest({
      length: 1,
      only,
      seed: 3,
      samples: 1,
      out,
      // Claim every file always held content no call ever wrote.
      tamper: (rec) => {
        rec.steps = rec.steps.map((step) => ({
          ...step,
          state: new Map([...step.state].map(([ino, node]) => [ino, node.kind === 'file' ? never : node])),
        }));
      },
    });
    expect(result.violations).toBeGreaterThan(0);
    const first = result.first_violation;
    expect(first).toMatchObject({ workload: 'append /A/foo; fsync', workload_index: only, seed: 3 });
    expect(first?.findings[0]?.check).toBe('durability');
    expect(first?.findings[0]?.problems.join('\n')).toMatch(/recovered file .* bytes .*; allowed.*: file 13 bytes/);
    const repro = first?.reproduction ?? 'none written';
    const facts = JSON.parse(readFileSync(join(repro, 'violation.json'), 'utf8'));
    expect(facts).toMatchObject({ workload_index: only, crash_point: first?.crash_point, seed: 3 });
    expect(facts.steps).toEqual([{ operation: { op: 'append', path: '/A/foo' }, persistence: 'fsync' }]);
    expect(statSync(join(repro, 'crash.img')).size).toBe(VOLUME_BYTES);
  }, 30_000);

  it('an image that lost the writes of a returned fsync is a durability violation; the full image is clean', async () => {
    const setup = await setupVolume();
    const only = seq1Index('write /B/bar; fsync');
    const rec = await record(setup.base, setup.root, setup.snapshot, workloadAt(1, only));
    const end = rec.device.ops.length;
    expect(await checkCrashState(rec, end, rec.device.crashImage(end))).toEqual([]);
    // Every write of the workload dropped, but judged as a crash after the fsync returned.
    const lost = await checkCrashState(rec, end, rec.device.crashImage(0));
    expect(lost.map((f) => f.check)).toContain('durability');
    expect(lost.flatMap((f) => f.problems).join('\n')).toMatch(
      /\/B\/bar \(ino \d+\): recovered file 6000 bytes .*fsynced/,
    );
  }, 30_000);
});

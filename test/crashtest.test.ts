import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { FileHandle } from '../actors/file-handle.js';
import { HammerFs } from '../actors/fs.js';
import { checkCrashState } from '../cli/crashtest/check.js';
import { FsModel, type MInode } from '../cli/crashtest/fs-model.js';
import { type Recording, record, setupVolume, VOLUME_BYTES } from '../cli/crashtest/record.js';
import { reproduce } from '../cli/crashtest/repro.js';
import { runCrashtest, writeReproduction } from '../cli/crashtest/run.js';
import { describeWorkload, steps, workloadAt, workloadCount } from '../cli/crashtest/workloads.js';
import { main } from '../cli/main.js';
import { FsError } from '../storage/errors.js';

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
    expect(steps()).toHaveLength(232);
    expect(workloadCount(1)).toBe(232);
    expect(workloadCount(2)).toBe(232 * 232);
    // HAMMER's own operations are steps too: a snapshot, and a PFS made with or without a sync after it.
    const described = steps().map((step) => describeWorkload([step]));
    expect(described).toEqual(expect.arrayContaining(['snapshot; none', 'pfs-create; none', 'pfs-create; sync']));
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

  it('seq3 is every sequence of three steps (a slice with --limit); an unknown family is refused', async () => {
    const n = steps().length;
    expect(workloadCount(3)).toBe(n ** 3);
    // Mixed radix, first step most significant: the last index is the last step three times.
    const last = steps()[n - 1];
    expect(workloadAt(3, n ** 3 - 1)).toEqual([last, last, last]);
    expect(workloadAt(3, n + 2)).toEqual([steps()[0], steps()[1], steps()[2]]);
    const { stdout, code } = await run(['crashtest', '--workloads', 'seq3', '--limit', '2', '--seed', '3', '--json']);
    expect(code).toBe(0);
    expect(JSON.parse(stdout)).toMatchObject({ workloads: 2, violations: 0, first_violation: null });
    expect((await run(['crashtest', '--workloads', 'seq4', '--json'])).code).toBe(2);
  }, 60_000);

  it('a broken oracle input is a violation, with a reproduction written (the check can fail)', async () => {
    const only = seq1Index('append /A/foo; fsync');
    const out = join(dir, 'broken');
    const never: MInode = { kind: 'file', data: Buffer.from('never written'), nlink: 1 };
    // Claim every file always held content no call ever wrote.
    const tamper = (rec: Recording) => {
      rec.steps = rec.steps.map((step) => ({
        ...step,
        state: new Map([...step.state].map(([ino, node]) => [ino, node.kind === 'file' ? never : node])),
      }));
    };
    const result = await runCrashtest({ length: 1, only, seed: 3, samples: 1, out, tamper });
    expect(result.violations).toBeGreaterThan(0);
    const first = result.first_violation;
    expect(first).toMatchObject({ workload: 'append /A/foo; fsync', workload_index: only, seed: 3 });
    expect(first?.findings[0]?.check).toBe('durability');
    expect(first?.findings[0]?.problems.join('\n')).toMatch(/recovered file .* bytes .*; allowed.*: file 13 bytes/);
    const repro = first?.reproduction ?? 'none written';
    const facts = JSON.parse(readFileSync(join(repro, 'violation.json'), 'utf8'));
    expect(facts).toMatchObject({ workload_index: only, crash_point: first?.crash_point, seed: 3 });
    expect(facts.steps).toEqual([{ operation: { op: 'append', path: '/A/foo' }, persistence: 'fsync' }]);
    expect(facts.replay).toBe(`hammerstate crashtest --repro ${repro}`);
    expect(statSync(join(repro, 'crash.img')).size).toBe(VOLUME_BYTES);
    // The reproduction re-runs exactly that case: the same image, the same findings (with the same tampering).
    const again = await reproduce(repro, tamper);
    expect(again).toMatchObject({ same: true, image_matches_workload: true, crash_point: first?.crash_point });
    expect(again.findings).toEqual(first?.findings);
    // Without the tampering the real oracle passes that image: exit 0, "not reproduced".
    const cli = await run(['crashtest', '--repro', repro, '--json']);
    expect(cli.code).toBe(0);
    expect(JSON.parse(cli.stdout)).toMatchObject({ findings: [], same: false, image_matches_workload: true });
  }, 30_000);

  it('an image that lost the writes of a returned fsync is a durability violation; the full image is clean', async () => {
    const setup = await setupVolume();
    const only = seq1Index('write /B/bar; fsync');
    const rec = await record(setup, workloadAt(1, only));
    const end = rec.device.ops.length;
    expect(await checkCrashState(rec, end, rec.device.crashImage(end))).toEqual([]);
    // Every write of the workload dropped, but judged as a crash after the fsync returned.
    const lost = await checkCrashState(rec, end, rec.device.crashImage(0));
    expect(lost.map((f) => f.check)).toContain('durability');
    expect(lost.flatMap((f) => f.problems).join('\n')).toMatch(
      /\/B\/bar \(ino \d+\): recovered file 6000 bytes .*fsynced/,
    );
    // As a reproduction (a disk that lied about the fsync): --repro finds the same violation in crash.img.
    const workload = workloadAt(1, only);
    const violation = {
      workload: describeWorkload(workload),
      workload_index: only,
      crash_point: end,
      device_ops: end,
      sample: null,
      seed: 1,
      findings: lost,
      reproduction: null,
    };
    const out = join(dir, 'lying-disk');
    const repro = writeReproduction(
      { length: 1, seed: 1, samples: 1, out },
      violation,
      workload,
      rec.device.crashImage(0),
    );
    const cli = await run(['crashtest', '--repro', repro, '--json']);
    expect(cli.code).toBe(1);
    const replayed = JSON.parse(cli.stdout);
    expect(replayed).toMatchObject({
      same: true,
      image_matches_workload: false,
      crash_point: end,
      workload_index: only,
    });
    expect(replayed.findings).toEqual(lost);
  }, 30_000);

  it('a second link renamed over a file: no crash state has a DEL on disk without its inode (seq3 #11118784)', async () => {
    // The link's fdatasync leaves a group open with both directories; the rename's new entry must wait (an older
    // entry of that name goes first), and its removal of /B/foo once joined that group alone: a crash after it
    // showed /A/foo with nlinks 2 and one entry.
    const setup = await setupVolume();
    const rec = await record(setup, [
      { operation: { op: 'rename', from: '/B/bar', to: '/A/bar' }, persistence: 'none' },
      { operation: { op: 'link', from: '/A/foo', to: '/B/foo' }, persistence: 'fdatasync' },
      { operation: { op: 'rename', from: '/B/foo', to: '/A/bar' }, persistence: 'fsync' },
    ]);
    expect(rec.oracle).toEqual([]);
    expect(rec.device.ops.length).toBeGreaterThan(20);
    for (let point = 0; point <= rec.device.ops.length; point++) {
      expect([point, await checkCrashState(rec, point, rec.device.crashImage(point))]).toEqual([point, []]);
    }
  }, 30_000);

  it('a PFS made in a workload: every crash state has a PFS list some step had, and a made PFS reads as an empty root', async () => {
    const setup = await setupVolume();
    const rec = await record(setup, [
      { operation: { op: 'pfs-create' }, persistence: 'sync' },
      { operation: { op: 'pfs-create' }, persistence: 'none' },
    ]);
    expect(rec.oracle).toEqual([]);
    expect(rec.steps.map((step) => step.pfs)).toEqual(['', '1:crashtest', '1:crashtest 2:crashtest']);
    const end = rec.device.ops.length;
    expect(await checkCrashState(rec, end, rec.device.crashImage(end))).toEqual([]);
    // The check can fail: an oracle that says the first PFS was never made.
    rec.steps = rec.steps.map((step) => ({ ...step, pfs: '' }));
    const findings = await checkCrashState(rec, end, rec.device.crashImage(end));
    expect(findings).toEqual([
      { check: 'pfs', problems: ["recovered the PFS list '1:crashtest 2:crashtest'; allowed: ''"] },
    ]);
    const result = await runCrashtest({
      length: 2,
      only: seq1Index('pfs-create; sync') * 233,
      seed: 1,
      samples: 2,
      out: join(dir, 'pfs'),
    });
    expect(result).toMatchObject({ workloads: 1, violations: 0 });
    expect(result.crash_states).toBeGreaterThan(2);
  }, 30_000);

  it('the expected states come from the event log: a live tree that differs from them is an oracle violation', async () => {
    const only = seq1Index('write /B/bar; none');
    // The log model makes every new file empty: the fixed setup already disagrees with the live tree.
    const create = FsModel.prototype.create;
    vi.spyOn(FsModel.prototype, 'create').mockImplementation(function (this: FsModel, dir, name, ino, node) {
      create.call(this, dir, name, ino, node.kind === 'file' ? { ...node, data: Buffer.alloc(0) } : node);
    });
    await expect(setupVolume()).rejects.toThrow(/crashtest setup: the tree differs from its event log/);
    vi.restoreAllMocks();
    // The log model misreads every write's data: the live tree no longer matches the log-derived state.
    const clean = await setupVolume();
    const setData = FsModel.prototype.setData;
    vi.spyOn(FsModel.prototype, 'setData').mockImplementation(function (this: FsModel, ino, data) {
      setData.call(this, ino, Buffer.from(data).fill(0x21));
    });
    const rec = await record(clean, workloadAt(1, only));
    vi.restoreAllMocks();
    expect(rec.oracle.join('\n')).toMatch(
      /step 1: the live tree against the event log: \/B\/bar \(ino \d+\): expected file 6000 bytes 21x6000, got/,
    );
    const end = rec.device.ops.length;
    const findings = await checkCrashState(rec, end, rec.device.crashImage(end));
    expect(findings.map((f) => f.check)).toContain('oracle');
  }, 30_000);

  it('an fsync that returns having written nothing is a durability violation, even with no device op after it', async () => {
    const only = seq1Index('write /A/foo; fsync');
    // A filesystem whose fsync lies: it returns at once, and the workload issues no device op at all.
    vi.spyOn(FileHandle.prototype, 'sync').mockResolvedValue(undefined);
    const result = await runCrashtest({ length: 1, only, seed: 1, samples: 1, out: join(dir, 'lying-fsync') });
    vi.restoreAllMocks();
    expect(result.violations).toBe(1);
    expect(result.first_violation?.findings).toEqual([
      {
        check: 'durability',
        problems: [
          expect.stringMatching(
            /\/A\/foo \(ino \d+\): recovered file 6000 bytes 53x6000; allowed \(fsynced at step 1\)/,
          ),
        ],
      },
    ]);
    expect(result.first_violation?.crash_point).toBe(result.first_violation?.device_ops);
  }, 30_000);

  it('a read that fails with a code after recovery (EIO) is a finding, and the other checks still run', async () => {
    const setup = await setupVolume();
    const rec = await record(setup, workloadAt(1, seq1Index('write /B/bar; fsync')));
    const end = rec.device.ops.length;
    vi.spyOn(HammerFs.prototype, 'readFile').mockRejectedValue(new FsError('EIO', 'data CRC mismatch (injected)'));
    const findings = await checkCrashState(rec, end, rec.device.crashImage(end));
    vi.restoreAllMocks();
    expect(findings.map((f) => f.check)).toEqual(['consistency', 'snapshot']);
    expect(findings[0]?.problems).toEqual([
      expect.stringMatching(/^expected the tree to read back, found: EIO: data CRC mismatch \(injected\)/),
    ]);
  }, 30_000);

  it('--repro of a missing or malformed reproduction is a usage error; --shard splits the selection', async () => {
    expect((await run(['crashtest', '--repro', join(dir, 'nowhere'), '--json'])).code).toBe(2);
    const bad = join(dir, 'bad-repro');
    mkdirSync(bad, { recursive: true });
    writeFileSync(join(bad, 'violation.json'), JSON.stringify({ workload_index: 1, crash_point: -1 }));
    const malformed = await run(['crashtest', '--repro', bad, '--json']);
    expect(malformed.code).toBe(2);
    expect(JSON.parse(malformed.stdout)).toMatchObject({ error: { code: 'EINVAL' } });
    expect((await run(['crashtest', '--shard', '2/2', '--json'])).code).toBe(2);
    const parts: number[] = [];
    for (const part of ['0/2', '1/2']) {
      const args = ['crashtest', '--workloads', 'seq1', '--limit', '5', '--shard', part, '--json'];
      parts.push(JSON.parse((await run([...args, '--out', join(dir, 'shard')])).stdout).workloads);
    }
    expect(parts).toEqual([3, 2]);
  }, 30_000);
});

/**
 * ACE-style workloads (CrashMonkey's Automatic Crash Explorer): bounded and
 * exhaustive over a small fixed namespace. The setup (not recorded, synced and
 * snapshotted before the crash device starts) makes two directories with one
 * file each and an empty subdirectory; the namespace adds a second file name
 * in each directory and a second subdirectory name, so every operation meets
 * both an existing and a missing target. A workload is a sequence of
 * operations, each followed by a persistence point.
 */

export const SETUP_DIRS = ['/A', '/B', '/A/C'] as const;
export const SETUP_FILES = ['/A/foo', '/B/bar'] as const;
export const FILES = ['/A/foo', '/A/bar', '/B/foo', '/B/bar'] as const;
export const DIRS = ['/A/C', '/B/C'] as const;

export type Operation =
  | { op: 'create' | 'unlink' | 'append' | 'write' | 'truncate' | 'fsync' | 'fdatasync'; path: string }
  | { op: 'mkdir' | 'rmdir'; path: string }
  | { op: 'link' | 'rename'; from: string; to: string }
  | { op: 'symlink'; target: string; path: string }
  | { op: 'sync' | 'snapshot' | 'pfs-create' };

/** What follows an operation: nothing, a sync, or an fsync/fdatasync of the file it touched. */
export type Persistence = 'none' | 'sync' | 'fsync' | 'fdatasync';

export interface Step {
  operation: Operation;
  persistence: Persistence;
}

export type Workload = Step[];

/** The file an operation touched, which an fsync persistence point syncs (undefined: none). */
export function touchedFile(operation: Operation): string | undefined {
  switch (operation.op) {
    case 'link':
    case 'rename':
      return (FILES as readonly string[]).includes(operation.to) ? operation.to : undefined;
    case 'symlink':
    case 'mkdir':
    case 'rmdir':
    case 'sync':
    case 'snapshot':
    case 'pfs-create':
      return undefined;
    default:
      return operation.path;
  }
}

/** Every operation over the namespace, in a fixed order. */
export function operations(): Operation[] {
  const out: Operation[] = [];
  const perFile = ['create', 'write', 'append', 'truncate', 'unlink', 'fsync', 'fdatasync'] as const;
  for (const op of perFile) for (const path of FILES) out.push({ op, path });
  for (const path of DIRS) out.push({ op: 'mkdir', path }, { op: 'rmdir', path });
  out.push({ op: 'rmdir', path: '/B' });
  for (const from of FILES)
    for (const to of FILES) if (from !== to) out.push({ op: 'link', from, to }, { op: 'rename', from, to });
  out.push({ op: 'rename', from: '/A/C', to: '/B/C' });
  out.push({ op: 'rename', from: '/A/C', to: '/B/baz' });
  for (const path of FILES) if (path !== '/A/foo') out.push({ op: 'symlink', target: '/A/foo', path });
  out.push({ op: 'sync' }, { op: 'snapshot' });
  // HAMMER's own: a new PFS (its record and its root directory), last so the other steps keep their indices.
  out.push({ op: 'pfs-create' });
  return out;
}

/** The persistence points that make sense after `operation` (fsync only where it touched a file). */
export function persistencesAfter(operation: Operation): Persistence[] {
  if (operation.op === 'sync' || operation.op === 'snapshot') return ['none'];
  return touchedFile(operation) === undefined ? ['none', 'sync'] : ['none', 'sync', 'fsync', 'fdatasync'];
}

/** Every (operation, persistence) pair: the steps a workload is made of. */
export function steps(): Step[] {
  return operations().flatMap((operation) =>
    persistencesAfter(operation).map((persistence) => ({ operation, persistence })),
  );
}

/** Workload lengths: seq-1, seq-2, seq-3 (ACE's bounded sequences). */
export type WorkloadLength = 1 | 2 | 3;

/** The number of workloads of `length` steps: every sequence of that many steps. */
export function workloadCount(length: WorkloadLength): number {
  return steps().length ** length;
}

/** Workload `index` of length `length`, in a fixed order (the first step most significant). */
export function workloadAt(length: WorkloadLength, index: number): Workload {
  const all = steps();
  if (!Number.isInteger(index) || index < 0 || index >= workloadCount(length)) {
    throw new RangeError(`no workload ${index} of seq${length}`);
  }
  const workload: Workload = [];
  for (let rest = index, i = 0; i < length; i++, rest = Math.floor(rest / all.length)) {
    workload.unshift(all[rest % all.length] as Step);
  }
  return workload;
}

/**
 * The workload indices a run visits: all of them, or `limit` spread evenly
 * over the whole space from a seeded offset (so a CI slice of seq-2 meets
 * every first operation, not just the first few).
 */
export function selectWorkloads(length: WorkloadLength, limit: number | undefined, next: () => number): number[] {
  const count = workloadCount(length);
  if (limit === undefined || limit >= count) return Array.from({ length: count }, (_, i) => i);
  const stride = count / limit;
  const offset = next();
  return Array.from({ length: limit }, (_, i) => Math.min(count - 1, Math.floor((i + offset) * stride)));
}

/** A workload in one line: `rename /A/foo /B/bar; fsync | mkdir /B/C; none`. */
export function describeWorkload(workload: Workload): string {
  return workload.map((step) => `${describeOperation(step.operation)}; ${step.persistence}`).join(' | ');
}

export function describeOperation(operation: Operation): string {
  if ('from' in operation) return `${operation.op} ${operation.from} ${operation.to}`;
  if (operation.op === 'symlink') return `symlink ${operation.target} ${operation.path}`;
  if ('path' in operation) return `${operation.op} ${operation.path}`;
  return operation.op;
}

import cliProgress from 'cli-progress';

/**
 * The progress of a copy (import, export) in files and bytes. Drawn on stderr
 * only when stderr is a terminal and the output is not --json: a pipe or a log
 * file gets the summary alone, never a stream of carriage returns.
 */
export interface Progress {
  /** One more entry done, `bytes` of it copied since the last call. */
  advance(bytes: number, files: number): void;
  stop(): void;
}

export function startProgress(what: string, totals: { files: number; bytes: number }, json: boolean): Progress {
  if (json || !process.stderr.isTTY) return { advance() {}, stop() {} };
  const bar = new cliProgress.SingleBar(
    {
      stream: process.stderr,
      format: `${what} [{bar}] {percentage}% | {files}/{totalFiles} files | {done}/{size} MiB`,
      barsize: 30,
      hideCursor: true,
      clearOnComplete: true,
      fps: 10,
    },
    cliProgress.Presets.shades_classic,
  );
  let bytes = 0;
  let files = 0;
  const payload = () => ({
    files,
    totalFiles: totals.files,
    done: (bytes / 1024 / 1024).toFixed(1),
    size: (totals.bytes / 1024 / 1024).toFixed(1),
  });
  // The bar measures bytes (at least 1, so a tree of empty files still reaches 100%).
  const total = Math.max(totals.bytes, 1);
  bar.start(total, 0, payload());
  return {
    advance(moreBytes, moreFiles) {
      bytes += moreBytes;
      files += moreFiles;
      bar.update(totals.bytes === 0 ? total : Math.min(bytes, total), payload());
    },
    stop() {
      bar.stop();
    },
  };
}

/** Progress counted in one unit (workloads, records): `update(done, total)`, then `stop()`. */
export interface CountProgress {
  update(done: number, total: number): void;
  stop(): void;
}

/**
 * A bar of `what` counted in `unit` (crashtest's workloads, prune's records),
 * started at the first update, since the total is known only then. Same rule
 * as startProgress: drawn on stderr only when it is a terminal and not --json.
 */
export function startCountProgress(what: string, unit: string, json: boolean): CountProgress {
  if (json || !process.stderr.isTTY) return { update() {}, stop() {} };
  const bar = new cliProgress.SingleBar(
    {
      stream: process.stderr,
      format: `${what} [{bar}] {percentage}% | {value}/{total} ${unit}`,
      barsize: 30,
      hideCursor: true,
      clearOnComplete: true,
      fps: 10,
    },
    cliProgress.Presets.shades_classic,
  );
  let started = false;
  return {
    update(done, total) {
      if (!started) bar.start(total, 0);
      started = true;
      bar.update(done);
    },
    stop() {
      if (started) bar.stop();
    },
  };
}

/** Run `work` with a count bar (startCountProgress) it updates; the bar is gone when it ends, however it ends. */
export async function withCountProgress<T>(
  what: string,
  unit: string,
  json: boolean,
  work: (update: CountProgress['update']) => Promise<T>,
): Promise<T> {
  const bar = startCountProgress(what, unit, json);
  try {
    return await work(bar.update);
  } finally {
    bar.stop();
  }
}

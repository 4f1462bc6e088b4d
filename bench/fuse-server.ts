import { type ChildProcess, spawn } from 'node:child_process';

/**
 * A FUSE server in its own process (`hammerstate mount --foreground`, or the
 * benchmark's in-memory filesystem), for the benchmarks and the tests: the
 * programs that use the mount must run in another process than the one
 * serving it, or a synchronous call into the mount would wait on itself.
 */
export interface FuseServer {
  child: ChildProcess;
  stderr(): string;
  /** Resolves with the exit code (or the signal's name) when the process ends. */
  exited: Promise<number | string>;
}

const READY_TIMEOUT_MS = 30_000;

/** Start `node <args>` and resolve once its stdout says `mounted` (or reject with its stderr). */
export function startFuseServer(args: string[]): Promise<FuseServer> {
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const exited = new Promise<number | string>((done) =>
    child.once('exit', (code, signal) => done(code ?? signal ?? -1)),
  );
  const server: FuseServer = { child, stderr: () => stderr, exited };
  return new Promise((done, fail) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      fail(new Error(`no mount within ${READY_TIMEOUT_MS / 1000} s; stderr:\n${stderr}`));
    }, READY_TIMEOUT_MS);
    child.stdout?.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      if (/^mounted\b/m.test(stdout)) {
        clearTimeout(timer);
        done(server);
      }
    });
    void exited.then((code) => {
      clearTimeout(timer);
      fail(new Error(`the FUSE server exited with ${code} before mounting; stderr:\n${stderr}`));
    });
  });
}

/** Send `signal` and wait (at most `ms`) for the server to end; its exit code or signal. */
export function stopFuseServer(server: FuseServer, signal: NodeJS.Signals = 'SIGTERM', ms = 30_000) {
  server.child.kill(signal);
  return within(server.exited, ms, `the FUSE server did not end within ${ms / 1000} s of ${signal}`);
}

/** `promise`, or a rejection naming `what` after `ms`. */
export function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  return new Promise((done, fail) => {
    const timer = setTimeout(() => fail(new Error(what)), ms);
    promise.then(
      (value) => {
        clearTimeout(timer);
        done(value);
      },
      (error: unknown) => {
        clearTimeout(timer);
        fail(error);
      },
    );
  });
}

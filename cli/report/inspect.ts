import type { FileSystem } from '../../actors/api.js';
import { mount } from '../../actors/index.js';
import type { Clock } from '../../storage/clock.js';
import { wallClock } from '../wall-clock.js';
import { type ReportServer, startReportServer } from './server.js';
import { InspectWorkload } from './workload.js';

/**
 * `hammerstate inspect`: a volume mounted (and logged, as every mount is),
 * its bus served live by the report server, and optionally the built-in
 * workload running on it. `stop()` ends it in order: the workload after its
 * current call, the unmount (its final flush is on the page too), the server.
 */
export interface InspectOptions {
  volume: string;
  port?: number;
  host?: string;
  /** Run the built-in workload (cli/report/workload.ts). */
  workload?: boolean;
  intervalMs?: number;
  inode?: string;
  maxEvents?: number;
  clock?: Clock;
}

export interface InspectResult {
  events: number;
  steps: number;
  error: Error | undefined;
}

export interface InspectSession {
  url: string;
  port: number;
  fs: FileSystem;
  server: ReportServer;
  workload: InspectWorkload | undefined;
  stop(): Promise<InspectResult>;
}

export const INSPECT_INTERVAL_MS = 100;

export async function startInspect(options: InspectOptions): Promise<InspectSession> {
  const fs = await mount(options.volume, { clock: options.clock ?? wallClock });
  let server: ReportServer;
  try {
    server = await startReportServer({
      title: `live: ${options.volume}`,
      events: fs.events,
      maxEvents: options.maxEvents,
      inode: options.inode,
      port: options.port,
      host: options.host,
    });
  } catch (error) {
    await fs.unmount();
    throw error;
  }
  const workload = options.workload ? new InspectWorkload(fs, options.intervalMs ?? INSPECT_INTERVAL_MS) : undefined;
  workload?.start();
  let stopped: Promise<InspectResult> | undefined;
  const stop = async (): Promise<InspectResult> => {
    try {
      await workload?.stop();
      await fs.unmount();
    } finally {
      await server.close();
    }
    return { events: server.events, steps: workload?.steps ?? 0, error: workload?.error };
  };
  return {
    url: server.url,
    port: server.port,
    fs,
    server,
    workload,
    stop: () => {
      stopped ??= stop();
      return stopped;
    },
  };
}

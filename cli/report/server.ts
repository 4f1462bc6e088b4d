import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Observable, Subscription } from 'rxjs';
import type { BusEvent } from '../../actors/api.js';
import { assert } from '../../storage/assert.js';
import { UsageError } from '../output.js';
import { ReportBuilder } from './builder.js';
import type { InodeSequence, ReportEvent, ReportSummary } from './model.js';
import { renderReportPage } from './page.js';
import { inodeSequence } from './sequence.js';
import { type LiveRow, liveRow, travelEntry } from './travel.js';

/**
 * The report served live: a local HTTP server whose page is the report of
 * a mount's bus so far, kept up to date over server-sent events while the
 * mount works. `GET /` is the page (cli/report/page.ts, live), `GET
 * /events?after=SEQ` the stream: `events` messages carry the new events as
 * rows for the time travel, `summary` messages everything else, redrawn.
 * Events are batched: sent every `tickMs`, the summary at most every
 * `summaryMs` (it re-reads the window for the inode's sequence).
 */
export interface ReportServerOptions {
  title: string;
  events: Observable<BusEvent>;
  /** The run the bus's events belong to (the page shows one mount). */
  run?: number;
  maxEvents?: number;
  /** The sequence diagram's inode (actor id or obj_id); default: the most active. */
  inode?: string;
  port?: number;
  host?: string;
  tickMs?: number;
  summaryMs?: number;
}

export interface ReportServer {
  url: string;
  port: number;
  /** Events taken from the bus so far. */
  readonly events: number;
  close(): Promise<void>;
}

/** Rows per `events` message while a client catches up. */
const CATCH_UP_ROWS = 2000;
const HEARTBEAT_MS = 15_000;

interface Client {
  response: ServerResponse;
  lastSeq: number;
}

/** What the live report keeps of a bus event: the payload's plain values, no write data (it could be megabytes). */
function slim(event: BusEvent, run: number): ReportEvent {
  const { payload, ...fields } = event;
  const kept: ReportEvent = { ...fields, run };
  if (payload !== undefined) {
    const small: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(payload)) {
      if (typeof value === 'number' || typeof value === 'string' || typeof value === 'boolean') small[key] = value;
    }
    kept.payload = small;
  }
  return kept;
}

class LiveReport {
  readonly builder: ReportBuilder;
  private window: ReportEvent[] = [];
  private pending: LiveRow[] = [];
  private changed = false;

  constructor(private readonly options: ReportServerOptions) {
    this.builder = new ReportBuilder({ title: options.title, live: true, maxEvents: options.maxEvents });
  }

  add(event: BusEvent): void {
    const kept = slim(event, this.options.run ?? 1);
    const transition = this.builder.add(kept);
    this.pending.push(liveRow(travelEntry(kept, transition)));
    this.window.push(kept);
    const max = this.builder.travel.maxEvents;
    if (this.window.length > max + (max >> 2)) this.window = this.window.slice(this.window.length - max);
    this.changed = true;
  }

  /** The rows that came since the last call. */
  takePending(): LiveRow[] {
    const rows = this.pending;
    this.pending = [];
    return rows;
  }

  takeChanged(): boolean {
    const changed = this.changed;
    this.changed = false;
    return changed;
  }

  private sequence(): InodeSequence | undefined {
    let inode: string | undefined;
    try {
      inode =
        this.options.inode === undefined
          ? this.builder.mostActiveInode()
          : this.builder.resolveInode(this.options.inode);
    } catch (error) {
      // The inode asked for has not acted yet: the busiest one stands in until it does.
      if (!(error instanceof UsageError)) throw error;
      inode = this.builder.mostActiveInode();
    }
    return inode === undefined ? undefined : inodeSequence(this.window, inode);
  }

  summary(): ReportSummary {
    return this.builder.summary(this.sequence());
  }

  page(): string {
    return renderReportPage({ summary: this.summary(), travel: this.builder.travel.window() });
  }
}

function send(response: ServerResponse, event: string, data: unknown): void {
  response.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
}

/** The HTTP side: the page, the event streams, and the timers that batch what goes out. */
class LiveServer {
  readonly http: Server;
  private readonly clients = new Set<Client>();
  private readonly subscription: Subscription;
  private readonly timers: NodeJS.Timeout[];
  private lastSummary = 0;

  constructor(
    private readonly live: LiveReport,
    private readonly options: ReportServerOptions,
  ) {
    this.http = createServer((request, response) => this.route(request, response));
    this.subscription = options.events.subscribe((event) => live.add(event));
    this.timers = [
      setInterval(() => this.tick(), options.tickMs ?? 200),
      setInterval(() => {
        for (const client of this.clients) client.response.write(': heartbeat\n\n');
      }, HEARTBEAT_MS),
    ];
  }

  private route(request: IncomingMessage, response: ServerResponse): void {
    const url = new URL(request.url ?? '/', 'http://localhost');
    if (request.method !== 'GET') {
      response.writeHead(405, { allow: 'GET' }).end();
    } else if (url.pathname === '/') {
      response.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
      response.end(this.live.page());
    } else if (url.pathname === '/events') {
      this.stream(response, Number(url.searchParams.get('after') ?? 0) || 0);
    } else {
      response.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
    }
  }

  /** A new client: the window's events after `after` (in batches), the summary, then it gets what comes. */
  private stream(response: ServerResponse, after: number): void {
    response.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      connection: 'keep-alive',
    });
    response.write('retry: 2000\n\n');
    const rows = this.live.builder.travel.since(after).map(liveRow);
    for (let i = 0; i < rows.length; i += CATCH_UP_ROWS) send(response, 'events', rows.slice(i, i + CATCH_UP_ROWS));
    send(response, 'summary', this.live.summary());
    const client: Client = { response, lastSeq: rows[rows.length - 1]?.[0] ?? after };
    this.clients.add(client);
    response.on('close', () => this.clients.delete(client));
  }

  /** Send the events since the last tick to every client; the summary too when due. */
  private tick(): void {
    const rows = this.live.takePending();
    if (rows.length > 0) {
      for (const client of this.clients) {
        const fresh = rows.filter((row) => row[0] > client.lastSeq);
        if (fresh.length > 0) send(client.response, 'events', fresh);
        client.lastSeq = Math.max(client.lastSeq, rows[rows.length - 1]?.[0] ?? 0);
      }
    }
    const now = Date.now();
    if (now - this.lastSummary < (this.options.summaryMs ?? 500) || !this.live.takeChanged()) return;
    this.lastSummary = now;
    if (this.clients.size === 0) return;
    const summary = this.live.summary();
    for (const client of this.clients) send(client.response, 'summary', summary);
  }

  /** Stop the timers and the feed, end every stream, and close the server once its connections are gone. */
  async close(): Promise<void> {
    for (const timer of this.timers) clearInterval(timer);
    this.subscription.unsubscribe();
    for (const client of this.clients) client.response.end();
    this.clients.clear();
    if (!this.http.listening) return;
    await new Promise<void>((resolve) => {
      this.http.close(() => resolve());
      this.http.closeAllConnections();
    });
  }
}

/** Start serving; resolves once the server listens (port 0: the system picks one, `port` says which). */
export async function startReportServer(options: ReportServerOptions): Promise<ReportServer> {
  const live = new LiveReport(options);
  const server = new LiveServer(live, options);
  const host = options.host ?? '127.0.0.1';
  try {
    await listen(server.http, options.port ?? 0, host);
  } catch (error) {
    await server.close();
    throw error;
  }
  const address = server.http.address();
  assert(address !== null && typeof address === 'object', 'a listening TCP server has an address');
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${address.port}/`,
    port: address.port,
    get events() {
      return live.builder.travel.seen;
    },
    close: () => server.close(),
  };
}

function listen(server: Server, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

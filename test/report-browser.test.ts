import { existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { type Browser, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkfs } from '../actors/index.js';
import { startInspect } from '../cli/report/inspect.js';
import { logReport } from '../cli/report/log-report.js';
import type { ReportModel } from '../cli/report/model.js';
import { renderReportPage } from '../cli/report/page.js';
import { AuditReader, type LoggedEvent } from '../storage/audit-reader.js';
import { logicalClock } from '../storage/clock.js';
import { readEvents } from './support/audit.js';
import { MiB } from './support/fs.js';
import { reportVolume } from './support/report.js';

/**
 * The report page in a real browser: headless Chromium (Debian's `chromium`
 * package) driven by playwright-core. Without Chromium the tests skip and
 * say why; under CI (CI=true, where .ci/run installs it) a missing Chromium
 * fails instead, so a broken install cannot pass unnoticed.
 */
const CHROMIUM = process.env.HAMMERSTATE_CHROMIUM ?? '/usr/bin/chromium';
const haveChromium = existsSync(CHROMIUM);
const skip = !haveChromium && process.env.CI !== 'true';
const title = skip
  ? `the report page in headless Chromium: SKIPPED, no Chromium at ${CHROMIUM} (apt-get install -y chromium)`
  : 'the report page in headless Chromium';
if (skip) console.warn(`report-browser: skipped: no Chromium at ${CHROMIUM} (apt-get install -y chromium)`);

describe.skipIf(skip)(title, () => {
  const dir = mkdtempSync(join(tmpdir(), 'hammerstate-report-browser-'));
  let browser: Browser;
  let events: LoggedEvent[];
  let model: ReportModel;
  let file: string;

  beforeAll(async () => {
    if (!haveChromium)
      throw new Error(`CI must have Chromium at ${CHROMIUM}: .ci/run installs it (apt-get install -y chromium)`);
    const log = await reportVolume(join(dir, 'vol.hsvol'));
    events = readEvents(log);
    const reader = AuditReader.open(log);
    try {
      model = logReport(reader);
    } finally {
      reader.close();
    }
    file = join(dir, 'report.html');
    writeFileSync(file, renderReportPage(model));
    browser = await chromium.launch({ executablePath: CHROMIUM });
  });

  afterAll(async () => {
    await browser?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** A page that records its errors and every request it makes. */
  async function open(url: string): Promise<{ page: Page; errors: string[]; requests: string[] }> {
    const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    const errors: string[] = [];
    const requests: string[] = [];
    page.on('pageerror', (error) => errors.push(String(error)));
    page.on('console', (message) => {
      if (message.type() === 'error') errors.push(message.text());
    });
    page.on('request', (request) => requests.push(request.url()));
    await page.goto(url);
    await page.waitForSelector('html[data-hs-ready]', { timeout: 10_000 });
    return { page, errors, requests };
  }

  /** Move the time-travel slider to the event at `seq` (the log is short: the window holds every event). */
  async function travelTo(page: Page, seq: number): Promise<void> {
    const index = events.findIndex((e) => e.seq === seq);
    await page.locator('#hs-slider').fill(String(index));
    await expect.poll(() => page.locator('#hs-cursor').textContent()).toContain(`seq ${seq} `);
  }

  it('draws the statecharts with what the log took, a timeline row per flush group, and the sequence', async () => {
    const { page, errors, requests } = await open(pathToFileURL(file).href);
    const inode = 'svg g.machine[data-machine="inode"]';
    const groups = 'svg g.machine[data-machine="flushGroup"]';
    const usage = model.summary.machines;
    const takenStates = (machine: 'inode' | 'flushGroup') =>
      Object.values(usage[machine].states).filter((s) => s.visits > 0 || s.events > 0).length;
    expect(await page.locator(`${inode} g.state.hs-taken`).count()).toBe(takenStates('inode'));
    expect(await page.locator(`${groups} g.state.hs-taken`).count()).toBe(takenStates('flushGroup'));
    expect(await page.locator('svg g.transition.hs-taken').count()).toBe(
      Object.keys(usage.inode.transitions).length + Object.keys(usage.flushGroup.transitions).length,
    );
    const flushVisits = events.filter((e) => e.actor.startsWith('inode:') && e.to === 'flush' && e.from !== 'flush');
    expect(await page.locator(`${inode} g.state[data-state="flush"]`).getAttribute('data-visits')).toBe(
      String(flushVisits.length),
    );
    expect(await page.locator(`${inode} g.state[data-state="unloaded"]`).getAttribute('class')).not.toContain(
      'hs-taken',
    );

    const opened = events.filter((e) => e.type === 'OPEN' && e.actor.startsWith('flg:'));
    const rows = page.locator('#hs-groups tbody tr.hs-group');
    expect(await rows.count()).toBe(opened.length);
    expect(await rows.first().getAttribute('data-group')).toBe(`${opened[0]?.run}:${opened[0]?.actor}`);
    expect(await page.locator('#hs-groups tbody tr.hs-group[data-state="done"]').count()).toBe(opened.length);
    expect(await page.locator('#hs-overview g.hs-overview-group').count()).toBe(opened.length);

    const sequence = model.summary.sequence;
    expect(await page.locator('#hs-sequence-inode').textContent()).toBe(sequence?.inode);
    expect(await page.locator('#hs-sequence-diagram g.hs-message').count()).toBe(sequence?.messages.length);
    expect(await page.locator('#hs-sequence-diagram g.hs-message-join').count()).toBeGreaterThan(0);

    const shot = join(dir, 'report.png');
    await page.screenshot({ path: shot, fullPage: true });
    expect(statSync(shot).size).toBeGreaterThan(20_000);
    expect(errors).toEqual([]);
    // Self-contained: the file itself is the only thing the page loads.
    expect(requests).toEqual([pathToFileURL(file).href]);
    await page.close();
  });

  it("moves through the events: the slider shows each actor's state at that seq", async () => {
    const { page, errors } = await open(pathToFileURL(file).href);
    const last = events[events.length - 1];
    expect(await page.locator('#hs-cursor').textContent()).toContain(`seq ${last?.seq} `);

    // A group of the first mount: running at its RUN, done at its last step.
    const run = events.find((e) => e.actor === 'flg:2' && e.run === 2 && e.type === 'RUN');
    const done = events.find((e) => e.actor === 'flg:2' && e.run === 2 && e.to === 'done');
    if (run === undefined || done === undefined) throw new Error('the log has a second flush group in run 2');
    const opened = events.find((e) => e.actor === 'flg:2' && e.run === 2 && e.type === 'OPEN');
    const group = page.locator('#hs-travel-groups tbody tr[data-actor="flg:2"]');
    await travelTo(page, (opened?.seq ?? 0) - 1);
    expect(await group.count()).toBe(0);
    await travelTo(page, opened?.seq ?? 0);
    expect(await group.getAttribute('data-state')).toBe('open');
    await travelTo(page, run.seq);
    expect(await group.getAttribute('data-state')).toBe('running');
    expect(
      await page.locator('svg g.machine[data-machine="flushGroup"] g.state.hs-current').getAttribute('data-state'),
    ).toBe('running');
    await travelTo(page, done.seq);
    expect(await group.getAttribute('data-state')).toBe('done');

    // Every inode chip agrees with the states computed here from the log, at a seq in the middle of run 2.
    const middle = events.find((e) => e.run === 2 && e.actor.startsWith('inode:') && e.to === 'flush');
    if (middle === undefined) throw new Error('an inode flushed in run 2');
    await travelTo(page, middle.seq);
    const expected = new Map<string, string>();
    for (const e of events) {
      if (e.seq > middle.seq) break;
      // A new inode shows from its CREATED fact, in its machine's initial state.
      const state = e.to ?? (e.type === 'CREATED' ? 'idle' : undefined);
      if (e.run === 2 && e.actor.startsWith('inode:') && state !== undefined) expected.set(e.actor, state);
    }
    const chips = await page
      .locator('#hs-travel-inodes .hs-chip')
      .evaluateAll((nodes) => nodes.map((n) => [n.getAttribute('data-actor'), n.getAttribute('data-state')]));
    expect(new Map(chips as Array<[string, string]>)).toEqual(expected);
    expect(
      await page.locator(`#hs-travel-inodes .hs-chip[data-actor="${middle.actor}"]`).getAttribute('data-state'),
    ).toBe('flush');

    // Back before the first mount: no group and no inode acted yet.
    await page.locator('#hs-slider').fill('0');
    await expect.poll(() => page.locator('#hs-cursor').textContent()).toContain('seq 1 ');
    expect(await page.locator('#hs-travel-groups tbody tr').count()).toBe(0);
    expect(await page.locator('#hs-travel-inodes .hs-chip').count()).toBe(0);
    await page.screenshot({ path: join(dir, 'travel.png') });
    expect(errors).toEqual([]);
    await page.close();
  });

  it('follows a live mount: the page grows as the workload runs, and says when the server is gone', async () => {
    const volume = join(dir, 'live.hsvol');
    const clock = logicalClock();
    await mkfs(volume, { size: 64 * MiB, undoBytes: 8 * MiB, clock });
    const session = await startInspect({ volume, port: 0, workload: true, intervalMs: 5, clock });
    try {
      const { page, errors } = await open(session.url);
      await page.waitForSelector('#hs-live.hs-connected');
      const max = async () => Number(await page.locator('#hs-slider').getAttribute('max'));
      const before = await max();
      await expect.poll(max, { timeout: 10_000 }).toBeGreaterThan(before + 50);
      await expect
        .poll(() => page.locator('#hs-groups tbody tr.hs-group').count(), { timeout: 10_000 })
        .toBeGreaterThan(1);
      await session.stop();
      await page.waitForSelector('#hs-live.hs-disconnected', { timeout: 10_000 });
      await page.screenshot({ path: join(dir, 'live.png') });
      expect(errors.filter((e) => !/ERR_CONNECTION_REFUSED|EventSource/.test(e))).toEqual([]);
      await page.close();
    } finally {
      await session.stop();
    }
  });
});

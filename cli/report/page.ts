import { readFileSync } from 'node:fs';
import type { ReportModel } from './model.js';
import { reportDiagrams, reportSvg } from './transitions.js';

/**
 * The report page: one self-contained HTML document (inline CSS, SVG, data
 * and scripts; no network, no external assets). The statecharts are the
 * real SVG of machines/diagram; the data is the ReportModel as JSON; the
 * scripts (cli/report/client/*.js, plain browser JavaScript) draw the
 * highlights, the timeline and the sequence diagram from it, and compute the
 * actors' states for the time-travel slider. Pure: the same model gives the
 * same bytes. A live page (the inspect server) also listens to `events`
 * (server-sent events) and redraws as the mount works.
 */
const CLIENT_SCRIPTS = ['format.js', 'charts.js', 'timeline.js', 'sequence.js', 'travel.js', 'main.js'];

let clientSource: string | undefined;
let machinesSvg: string | undefined;

/** The page's scripts, read once from cli/report/client/ beside this module. */
function client(): string {
  clientSource ??= CLIENT_SCRIPTS.map((name) =>
    readFileSync(new URL(`./client/${name}`, import.meta.url), 'utf8').replace(/<\/script/gi, '<\\/script'),
  ).join('\n');
  return clientSource;
}

export function escapeHtml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** JSON inside a <script> element: no `<` at all, so no `</script>` or `<!--` can end or bend it. */
export function scriptJson(value: unknown): string {
  return JSON.stringify(value)
    .replace(/</g, '\\u003c')
    .replace(/\u2028/g, '\\u2028')
    .replace(/\u2029/g, '\\u2029');
}

const STYLE = `
:root { --fg: #1f2328; --muted: #57606a; --line: #d0d7de; --bg: #ffffff; --soft: #f6f8fa;
  --taken: #cf222e; --open: #54aeff; --closed: #d4a72c; --running: #2da44e; --done: #8c959f;
  --data: #0969da; --fifo: #bf3989; --meta: #8250df; --header: #1f2328; --redo: #fb8500; }
* { box-sizing: border-box; }
body { margin: 0; padding: 16px 24px 48px; font: 14px/1.45 system-ui, -apple-system, 'Segoe UI', sans-serif;
  color: var(--fg); background: var(--bg); }
h1 { font-size: 20px; margin: 0 0 4px; }
h2 { font-size: 16px; margin: 28px 0 8px; border-bottom: 1px solid var(--line); padding-bottom: 4px; }
code, .mono, td, .hs-cursor { font-family: ui-monospace, Menlo, Consolas, monospace; font-size: 12px; }
.muted { color: var(--muted); }
.hs-notes li { color: #9a6700; }
#hs-live { font-weight: 600; }
#hs-live.hs-connected { color: var(--running); }
#hs-live.hs-disconnected { color: var(--taken); }
.hs-svg { overflow-x: auto; border: 1px solid var(--line); border-radius: 6px; padding: 8px; background: var(--bg); }
.hs-svg { padding-right: 40px; }
.hs-svg > svg { max-width: 100%; height: auto; overflow: visible; }
.hs-dim g.state:not(.hs-taken) { opacity: 0.35; }
.hs-dim g.transition:not(.hs-taken) { opacity: 0.25; }
g.state.hs-taken > rect { stroke: var(--taken); stroke-width: 2; fill: #fff1f0; }
g.transition.hs-taken path { stroke: var(--taken); stroke-width: var(--hs-weight, 1.5); }
g.transition.hs-taken text { fill: #82071e; }
text.hs-count { font: bold 10px ui-monospace, Menlo, Consolas, monospace; fill: var(--taken); }
g.state.hs-current > rect { fill: #fff8c5; stroke: #9a6700; stroke-width: 3; }
g.transition.hs-cursor path { stroke: #9a6700; stroke-width: 4; }
table { border-collapse: collapse; margin: 8px 0; }
th, td { border: 1px solid var(--line); padding: 2px 6px; text-align: right; vertical-align: middle; }
th { background: var(--soft); font-weight: 600; font-size: 12px; }
td.hs-left, th.hs-left { text-align: left; }
td.hs-lane { padding: 0; width: 260px; }
.hs-state-open { color: var(--open); } .hs-state-closed { color: var(--closed); }
.hs-state-running { color: var(--running); } .hs-state-done { color: var(--done); }
.hs-state-flush { color: var(--running); font-weight: 600; } .hs-state-setup { color: var(--closed); }
.hs-state-idle { color: var(--muted); } .hs-state-unloaded { color: var(--done); text-decoration: line-through; }
.hs-legend span { display: inline-block; margin-right: 14px; font-size: 12px; }
.hs-legend i { display: inline-block; width: 12px; height: 10px; margin-right: 4px; vertical-align: middle; }
#hs-overview svg, #hs-sequence-diagram svg { display: block; }
#hs-sequence-diagram { overflow: auto; max-height: 720px; border: 1px solid var(--line); border-radius: 6px; }
.hs-travel-controls { display: flex; gap: 8px; align-items: center; margin: 8px 0; }
#hs-slider { flex: 1; }
.hs-cursor { white-space: pre-wrap; background: var(--soft); border: 1px solid var(--line); border-radius: 6px; padding: 6px 10px; }
.hs-columns { display: flex; gap: 24px; flex-wrap: wrap; align-items: flex-start; }
.hs-chips { display: flex; flex-wrap: wrap; gap: 4px; max-width: 900px; }
.hs-chip { font: 11px ui-monospace, Menlo, Consolas, monospace; border: 1px solid var(--line); border-radius: 4px;
  padding: 1px 5px; background: var(--soft); }
`.trim();

/** The page's HTML body: the sections the client scripts fill. */
function body(title: string, svg: string): string {
  return `<header>
<h1>hammerstate report</h1>
<p class="mono">${escapeHtml(title)}</p>
<p id="hs-live" hidden></p>
<p id="hs-totals" class="muted"></p>
<ul id="hs-notes" class="hs-notes"></ul>
</header>
<section id="hs-statecharts">
<h2>Statecharts: the states and transitions the log took</h2>
<p class="muted">Red: taken (count: visits of a state, takes of a transition); faded: never taken. The yellow state and
transition follow the time-travel cursor below.</p>
<div class="hs-svg">${svg}</div>
<div id="hs-unmatched"></div>
</section>
<section id="hs-timeline">
<h2>Flush groups and the device writes they caused</h2>
<p class="hs-legend"><span><i style="background:var(--open)"></i>open</span><span><i style="background:var(--closed)"></i>closed</span><span><i style="background:var(--running)"></i>running</span><span><i style="background:var(--data)"></i>data write</span><span><i style="background:var(--fifo)"></i>UNDO/REDO (FIFO) write</span><span><i style="background:var(--meta)"></i>meta-data write</span><span><i style="background:var(--header)"></i>header commit</span><span><i style="background:var(--redo)"></i>REDO sync</span></p>
<div id="hs-overview"></div>
<table id="hs-groups"><thead><tr><th class="hs-left">group</th><th class="hs-left">state</th><th>TID</th><th>inodes</th><th>refs</th><th>FIFO bytes</th><th>data bytes</th><th>meta bytes</th><th>fsyncs</th><th>duration</th><th>seqs</th><th class="hs-left">life and writes</th></tr></thead><tbody></tbody></table>
<p id="hs-groups-note" class="muted"></p>
</section>
<section id="hs-sequence">
<h2>Sequence: <span id="hs-sequence-inode" class="mono"></span></h2>
<p id="hs-sequence-note" class="muted"></p>
<div id="hs-sequence-diagram"></div>
</section>
<section id="hs-travel">
<h2>Time travel</h2>
<p id="hs-travel-note" class="muted"></p>
<div class="hs-travel-controls"><button id="hs-prev" type="button">&#9664;</button><input id="hs-slider" type="range" min="0" max="0" value="0" step="1" aria-label="event"><button id="hs-next" type="button">&#9654;</button></div>
<div id="hs-cursor" class="hs-cursor"></div>
<div class="hs-columns">
<div><h3>Flush groups</h3><p id="hs-travel-group-counts" class="muted"></p><table id="hs-travel-groups"><thead><tr><th class="hs-left">group</th><th class="hs-left">state</th></tr></thead><tbody></tbody></table></div>
<div><h3>Inode actors</h3><p id="hs-travel-inode-counts" class="muted"></p><div id="hs-travel-inodes" class="hs-chips"></div></div>
</div>
</section>`;
}

/** The whole document for `model`. */
export function renderReportPage(model: ReportModel): string {
  const title = model.summary.title;
  machinesSvg ??= reportSvg(reportDiagrams());
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
<title>hammerstate report: ${escapeHtml(title)}</title>
<style>
${STYLE}
</style>
</head>
<body>
${body(title, machinesSvg)}
<script type="application/json" id="hs-data">${scriptJson(model)}</script>
<script>
${client()}
</script>
</body>
</html>
`;
}

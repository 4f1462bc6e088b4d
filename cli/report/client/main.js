// hammerstate report page: reads the embedded model, draws it, and on a live page follows the server's events.
(() => {
  globalThis.hammerstate ??= {};
  const hs = globalThis.hammerstate;

  hs.renderSummary = (summary) => {
    const t = summary.totals;
    document.getElementById('hs-totals').textContent =
      `${t.events} events (${t.commands} commands, ${t.facts} facts), seq ${t.firstSeq}–${t.lastSeq}, ` +
      `${summary.runs.length} run(s), ${t.inodes} inode actors, ${t.groups} flush groups`;
    const notes = hs.clear(document.getElementById('hs-notes'));
    for (const note of summary.notes) notes.append(hs.el('li', {}, [note]));
    hs.highlightMachines(summary);
    hs.renderTimeline(summary);
    hs.renderSequence(summary);
  };

  /** Server-sent events: `events` (rows to append to the time travel) and `summary` (everything else, redrawn). */
  function connectLive(travel, summary) {
    const status = document.getElementById('hs-live');
    status.hidden = false;
    const say = (text, state) => {
      status.textContent = text;
      status.className = state;
    };
    say('live: connecting…', '');
    const lastSeq = travel.length > 0 ? travel.columns.seq[travel.length - 1] : 0;
    const source = new EventSource(`events?after=${lastSeq}`);
    let total = summary.totals.events;
    source.addEventListener('open', () => say(`live: connected, ${total} events`, 'hs-connected'));
    source.addEventListener('events', (message) => {
      const rows = JSON.parse(message.data);
      for (const row of rows) travel.append(row);
      travel.total += rows.length;
      travel.refresh(true);
    });
    source.addEventListener('summary', (message) => {
      const next = JSON.parse(message.data);
      total = next.totals.events;
      hs.renderSummary(next);
      say(`live: connected, ${total} events`, 'hs-connected');
    });
    source.addEventListener('error', () =>
      say('live: disconnected (the server stopped?), retrying…', 'hs-disconnected'),
    );
    hs.liveSource = source;
  }

  const model = JSON.parse(document.getElementById('hs-data').textContent);
  hs.model = model;
  hs.renderSummary(model.summary);
  const travel = hs.startTravel(model.travel);
  hs.travel = travel;
  if (model.summary.live) connectLive(travel, model.summary);
  document.documentElement.setAttribute('data-hs-ready', 'true');
})();

// hammerstate report page: time travel. The page keeps the window's events in columns and each actor's state
// at the slider's position, stepping forward (an event leaves its actor in its `to` state) or back (the actor
// goes back to the state its previous event left it in, or to the state it had before the window).
(() => {
  globalThis.hammerstate ??= {};
  const hs = globalThis.hammerstate;
  const INODES_SHOWN_MAX = 300;
  const GROUPS_SHOWN_MAX = 200;
  const STATE_ORDER = ['flush', 'setup', 'idle', 'unloaded', 'running', 'closed', 'open', 'done'];
  /** prev[i] for an event that changes no actor's state. */
  const NO_STATE = -2;

  function machineOf(actor) {
    if (actor.startsWith('inode:')) return 'inode';
    if (actor.startsWith('flg:')) return 'flushGroup';
    return undefined;
  }

  class Table {
    constructor() {
      this.values = [];
      this.index = new Map();
    }
    of(value) {
      if (value === null || value === undefined) return -1;
      let i = this.index.get(value);
      if (i === undefined) {
        i = this.values.push(value) - 1;
        this.index.set(value, i);
      }
      return i;
    }
  }

  class Travel {
    constructor(window) {
      this.maxEvents = window.maxEvents;
      this.total = window.total;
      this.actors = new Table();
      this.types = new Table();
      this.states = new Table();
      this.columns = { seq: [], run: [], actor: [], type: [], from: [], to: [], time: [], transition: [], prev: [] };
      this.labels = new Map();
      this.base = new Map();
      this.lastRowOf = new Map();
      for (const [run, actor, state] of window.base) {
        this.base.set(`${run}|${this.actors.of(window.actors[actor])}`, this.states.of(window.states[state]));
      }
      let seq = window.firstSeq;
      let time = window.firstTime;
      window.rows.forEach(([seqDelta, run, actor, type, from, to, timeDelta, transition], i) => {
        seq += seqDelta;
        time += timeDelta;
        const name = (table, index) => (index < 0 ? null : table[index]);
        this.append([
          seq,
          run,
          window.actors[actor],
          window.types[type],
          name(window.states, from),
          name(window.states, to),
          time,
          transition,
          window.labels[i] ?? null,
        ]);
      });
      this.current = new Map(this.base);
      this.position = -1;
    }

    get length() {
      return this.columns.seq.length;
    }

    /** One event: [seq, run, actor, type, from, to, time, transition, label] (the live server's rows too). */
    append([seq, run, actor, type, from, to, time, transition, label]) {
      const c = this.columns;
      const i = c.seq.length;
      const actorIndex = this.actors.of(actor);
      c.seq.push(seq);
      c.run.push(run);
      c.actor.push(actorIndex);
      c.type.push(this.types.of(type));
      c.from.push(this.states.of(from));
      c.to.push(this.states.of(to));
      c.time.push(time);
      c.transition.push(transition);
      if (label !== null && label !== undefined) this.labels.set(i, label);
      if (to !== null && to !== undefined && machineOf(actor) !== undefined) {
        const key = `${run}|${actorIndex}`;
        c.prev.push(this.lastRowOf.get(key) ?? -1);
        this.lastRowOf.set(key, i);
      } else {
        c.prev.push(NO_STATE);
      }
    }

    keyOf(i) {
      return `${this.columns.run[i]}|${this.columns.actor[i]}`;
    }

    /** Put every actor in the state it has right after event `target` (-1: before the window's first). */
    moveTo(target) {
      const c = this.columns;
      while (this.position < target) {
        this.position++;
        if (c.prev[this.position] !== NO_STATE) this.current.set(this.keyOf(this.position), c.to[this.position]);
      }
      while (this.position > target) {
        const i = this.position;
        const prev = c.prev[i];
        if (prev >= 0) this.current.set(this.keyOf(i), c.to[prev]);
        else if (prev === -1 && this.base.has(this.keyOf(i)))
          this.current.set(this.keyOf(i), this.base.get(this.keyOf(i)));
        else if (prev === -1) this.current.delete(this.keyOf(i));
        this.position--;
      }
    }

    /** Keep the last maxEvents events (a live page): the older ones leave their states in `base`. */
    trim() {
      if (this.length <= this.maxEvents * 1.25) return;
      const drop = this.length - this.maxEvents;
      const c = this.columns;
      for (let i = 0; i < drop; i++) if (c.prev[i] !== NO_STATE) this.base.set(this.keyOf(i), c.to[i]);
      const rows = [];
      for (let i = drop; i < this.length; i++) {
        const name = (table, index) => (index < 0 ? null : table.values[index]);
        rows.push([
          c.seq[i],
          c.run[i],
          this.actors.values[c.actor[i]],
          this.types.values[c.type[i]],
          name(this.states, c.from[i]),
          name(this.states, c.to[i]),
          c.time[i],
          c.transition[i],
          this.labels.get(i) ?? null,
        ]);
      }
      const position = this.position;
      this.columns = { seq: [], run: [], actor: [], type: [], from: [], to: [], time: [], transition: [], prev: [] };
      this.labels = new Map();
      this.lastRowOf = new Map();
      for (const row of rows) this.append(row);
      this.current = new Map(this.base);
      this.position = -1;
      this.moveTo(Math.max(-1, position - drop));
    }
  }

  function describe(travel, i) {
    if (i < 0) return 'before the first event of the window';
    const c = travel.columns;
    const name = (index) => (index < 0 ? '' : travel.states.values[index]);
    const step = c.to[i] < 0 ? '' : `${name(c.from[i])} -> ${name(c.to[i])}`;
    const label = travel.labels.get(i) ?? '';
    return `seq ${c.seq[i]}  ${hs.time(c.time[i])}  run ${c.run[i]}  ${travel.actors.values[c.actor[i]]}  ${travel.types.values[c.type[i]]}  ${step}  ${label}`.trim();
  }

  /** The actors of `run` with their states right now: inodes and groups. */
  function actorsOf(travel, run) {
    const inodes = [];
    const groups = [];
    const prefix = `${run}|`;
    for (const [key, state] of travel.current) {
      if (!key.startsWith(prefix)) continue;
      const actor = travel.actors.values[Number(key.slice(prefix.length))];
      const entry = { actor, state: travel.states.values[state] };
      if (machineOf(actor) === 'inode') inodes.push(entry);
      else groups.push(entry);
    }
    const rank = (state) => (STATE_ORDER.indexOf(state) + 100) % 100;
    inodes.sort((a, b) => rank(a.state) - rank(b.state) || (a.actor < b.actor ? -1 : a.actor > b.actor ? 1 : 0));
    groups.sort((a, b) => Number(a.actor.slice(4)) - Number(b.actor.slice(4)));
    return { inodes, groups };
  }

  function counts(entries) {
    const byState = new Map();
    for (const { state } of entries) byState.set(state, (byState.get(state) ?? 0) + 1);
    return [...byState].map(([state, n]) => `${state}: ${n}`).join(', ');
  }

  function renderActors(travel, run) {
    const { inodes, groups } = actorsOf(travel, run);
    document.getElementById('hs-travel-group-counts').textContent =
      `${groups.length} in run ${run}${groups.length ? ` (${counts(groups)})` : ''}`;
    const tbody = hs.clear(document.querySelector('#hs-travel-groups tbody'));
    for (const { actor, state } of groups.slice(-GROUPS_SHOWN_MAX)) {
      tbody.append(
        hs.el('tr', { 'data-actor': actor, 'data-state': state }, [
          hs.el('td', { class: 'hs-left' }, [actor]),
          hs.el('td', { class: `hs-left hs-state-${state}` }, [state]),
        ]),
      );
    }
    const more = inodes.length > INODES_SHOWN_MAX ? `; the first ${INODES_SHOWN_MAX} shown` : '';
    document.getElementById('hs-travel-inode-counts').textContent =
      `${inodes.length} in run ${run}${inodes.length ? ` (${counts(inodes)})` : ''}${more}`;
    const chips = hs.clear(document.getElementById('hs-travel-inodes'));
    for (const { actor, state } of inodes.slice(0, INODES_SHOWN_MAX)) {
      const objId = actor.split(':')[2];
      chips.append(
        hs.el('span', { class: `hs-chip hs-state-${state}`, 'data-actor': actor, 'data-state': state, title: actor }, [
          `${objId} ${state}`,
        ]),
      );
    }
  }

  function renderNote(travel) {
    const c = travel.columns;
    const n = travel.length;
    const span = n === 0 ? '' : ` (seq ${c.seq[0]}–${c.seq[n - 1]})`;
    document.getElementById('hs-travel-note').textContent =
      travel.total > n
        ? `Capped: time travel covers the last ${n} of ${travel.total} events${span}; the limit is ${travel.maxEvents} events (--max-events). The states before seq ${c.seq[0]} are carried in from the earlier events.`
        : `Time travel covers all ${n} events${span}. Move the slider (or use the arrow keys) to see every actor's state after that event.`;
  }

  function render(travel) {
    const i = travel.position;
    const c = travel.columns;
    document.getElementById('hs-cursor').textContent = describe(travel, i);
    const run = i >= 0 ? c.run[i] : (c.run[0] ?? 1);
    renderActors(travel, run);
    if (i >= 0) {
      const to = c.to[i] < 0 ? undefined : travel.states.values[c.to[i]];
      hs.markCursor(machineOf(travel.actors.values[c.actor[i]]), to, c.transition[i]);
    } else {
      hs.markCursor(undefined, undefined, -1);
    }
  }

  /** Wire the slider and buttons; the page starts at the last event. Returns the travel for the live feed. */
  hs.startTravel = (window) => {
    const travel = new Travel(window);
    const slider = document.getElementById('hs-slider');
    let pending = false;
    const show = () => {
      travel.moveTo(Number(slider.value));
      render(travel);
      pending = false;
    };
    const schedule = () => {
      if (!pending) {
        pending = true;
        requestAnimationFrame(show);
      }
    };
    const step = (delta) => {
      slider.value = String(Math.min(Number(slider.max), Math.max(Number(slider.min), Number(slider.value) + delta)));
      show();
    };
    slider.addEventListener('input', schedule);
    slider.addEventListener('change', show);
    document.getElementById('hs-prev').addEventListener('click', () => step(-1));
    document.getElementById('hs-next').addEventListener('click', () => step(1));
    travel.refresh = (follow) => {
      travel.trim();
      const atEnd = Number(slider.value) >= Number(slider.max);
      slider.min = '-1';
      slider.max = String(travel.length - 1);
      if (follow && atEnd) slider.value = slider.max;
      else slider.value = String(Math.min(travel.position, travel.length - 1));
      renderNote(travel);
      show();
    };
    slider.min = '-1';
    slider.max = String(travel.length - 1);
    slider.value = slider.max;
    renderNote(travel);
    show();
    return travel;
  };
})();

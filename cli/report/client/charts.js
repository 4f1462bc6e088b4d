// hammerstate report page: the statecharts (machines/diagram's SVG) with what the log took highlighted.
(() => {
  globalThis.hammerstate ??= {};
  const hs = globalThis.hammerstate;

  /** The machine's <g> and its id token (`machine-<token>`; states are `<token>-state-…`). */
  function machineGroup(machine) {
    const group = document.querySelector(`svg g.machine[data-machine="${machine}"]`);
    return group === null ? undefined : { group, token: group.id.replace(/^machine-/, '') };
  }

  /** The element's own <title>, its original text kept in data-hs-title so counts can be added again. */
  function setTitle(node, extra) {
    const title = node.querySelector(':scope > title');
    if (title === null) return;
    if (!title.hasAttribute('data-hs-title')) title.setAttribute('data-hs-title', title.textContent);
    title.textContent = `${title.getAttribute('data-hs-title')}${extra}`;
  }

  /** A count badge placed by `box` (the state's or the label's rectangle), made once and updated after. */
  function badge(node, box, text, dx, dy) {
    let count = node.querySelector(':scope > text.hs-count');
    if (count === null) {
      if (box === null) return;
      const x = Number(box.getAttribute('x')) + Number(box.getAttribute('width')) + dx;
      const y = Number(box.getAttribute('y')) + dy;
      count = hs.svgEl('text', { class: 'hs-count', x, y });
      node.append(count);
    }
    count.textContent = text;
  }

  /** A transition drawn as a line of the machine's note (taken in any state): the count after its text. */
  function noteBadge(node, text, label) {
    let count = node.querySelector(':scope > text.hs-count');
    if (count === null) {
      const x = Number(text.getAttribute('x')) + text.getComputedTextLength() + 6;
      count = hs.svgEl('text', { class: 'hs-count', x, y: text.getAttribute('y') });
      node.append(count);
    }
    count.textContent = label;
  }

  function highlightStates(group, usage) {
    for (const state of group.querySelectorAll('g.state')) {
      const counts = usage.states[state.getAttribute('data-state')];
      const taken = counts !== undefined && (counts.visits > 0 || counts.events > 0);
      state.classList.toggle('hs-taken', taken);
      if (!taken) continue;
      state.setAttribute('data-visits', counts.visits);
      state.setAttribute('data-events', counts.events);
      setTitle(state, `\nvisits: ${counts.visits}, events handled: ${counts.events}`);
      badge(state, state.querySelector(':scope > rect'), `${counts.visits}`, -24, 12);
    }
  }

  function highlightTransitions(group, token, usage) {
    const max = Math.max(1, ...Object.values(usage.transitions));
    for (const transition of group.querySelectorAll(`[id^="${token}-transition-"]`)) {
      const index = transition.id.slice(`${token}-transition-`.length);
      const count = usage.transitions[index] ?? 0;
      transition.classList.toggle('hs-taken', count > 0);
      if (count === 0) continue;
      transition.setAttribute('data-count', count);
      transition.style.setProperty('--hs-weight', (1.5 + (3 * Math.log(1 + count)) / Math.log(1 + max)).toFixed(2));
      setTitle(transition, `\ntaken ${count} times`);
      const box = transition.querySelector(':scope > rect.label-bg');
      const text = transition.querySelector(':scope > text');
      if (box !== null) badge(transition, box, `×${count}`, 2, 12);
      else if (text !== null) noteBadge(transition, text, `×${count}`);
    }
  }

  /** Mark every state and transition of both machines with what the summary counted. */
  hs.highlightMachines = (summary) => {
    const svg = document.querySelector('.hs-svg > svg');
    if (svg !== null) svg.classList.add('hs-dim');
    // Thick taken transitions must not grow their arrowheads (a marker scales with the stroke by default).
    const arrow = document.getElementById('hs-arrow');
    if (arrow !== null && arrow.getAttribute('markerUnits') !== 'userSpaceOnUse') {
      arrow.setAttribute('markerUnits', 'userSpaceOnUse');
      arrow.setAttribute('markerWidth', '10');
      arrow.setAttribute('markerHeight', '10');
    }
    for (const usage of Object.values(summary.machines)) {
      const found = machineGroup(usage.machine);
      if (found === undefined) continue;
      highlightStates(found.group, usage);
      highlightTransitions(found.group, found.token, usage);
    }
    const unmatched = hs.clear(document.getElementById('hs-unmatched'));
    const rows = Object.values(summary.machines).flatMap((usage) =>
      usage.unmatched.map((u) => `${usage.machine}: ${u.type} ${u.from} -> ${u.to} (${u.count} times)`),
    );
    if (rows.length > 0) {
      unmatched.append(hs.el('p', {}, ['Logged steps no transition of the diagram explains:']));
      unmatched.append(
        hs.el(
          'ul',
          {},
          rows.map((row) => hs.el('li', { class: 'mono' }, [row])),
        ),
      );
    }
  };

  /** The time-travel cursor: the state the event's actor is in after it, and the transition it took. */
  hs.markCursor = (machine, state, transition) => {
    for (const node of document.querySelectorAll('.hs-svg .hs-current, .hs-svg .hs-cursor')) {
      node.classList.remove('hs-current', 'hs-cursor');
    }
    const found = machine === undefined ? undefined : machineGroup(machine);
    if (found === undefined) return;
    if (state !== undefined) {
      found.group.querySelector(`g.state[data-state="${CSS.escape(state)}"]`)?.classList.add('hs-current');
    }
    if (transition >= 0) document.getElementById(`${found.token}-transition-${transition}`)?.classList.add('hs-cursor');
  };
})();

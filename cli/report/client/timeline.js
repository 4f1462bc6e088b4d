// hammerstate report page: the flush groups on a seq axis, aligned with the device writes and fsyncs they caused.
(() => {
  globalThis.hammerstate ??= {};
  const hs = globalThis.hammerstate;
  const WIDTH = 1100;
  const LANE = 12;
  const LANES_MAX = 12;
  const OP_COLORS = { data: 'var(--data)', fifo: 'var(--fifo)', meta: 'var(--meta)' };

  /** A group's phases, [from, to, state], from its seqs (a phase it has not reached ends at its last event). */
  function phases(group) {
    const end = group.doneSeq ?? group.commitSeq ?? group.lastSeq;
    const close = group.closeSeq ?? end;
    const run = group.runSeq ?? end;
    return [
      [group.openSeq, close, 'open'],
      [close, run, 'closed'],
      [run, Math.max(end, group.commitSeq ?? end), 'running'],
    ].filter(([from, to]) => to > from);
  }

  /** The marks an op draws: one bar per kind of bytes it wrote, and one tick per fsync. */
  function opMarks(op, x, y, height) {
    const marks = [];
    const title = `${op.type} seq ${op.seq}${op.tid === undefined ? '' : ` tid ${hs.tidHex(op.tid)}`}: data ${hs.bytes(op.dataBytes)}, FIFO ${hs.bytes(op.fifoBytes)}, meta ${hs.bytes(op.metaBytes)}, ${op.fsyncs} fsync(s)`;
    const kinds = op.type === 'HEADER_COMMIT' ? [['header', 1]] : op.type === 'REDO_SYNC' ? [['redo', 1]] : [];
    if (op.type === 'FINALIZE') {
      for (const kind of ['data', 'fifo', 'meta']) if (op[`${kind}Bytes`] > 0) kinds.push([kind, op[`${kind}Bytes`]]);
    }
    kinds.forEach(([kind], i) => {
      const color = OP_COLORS[kind] ?? `var(--${kind})`;
      const w = 3;
      marks.push(
        hs.svgEl(
          'rect',
          { x: (x + i * w).toFixed(1), y, width: w, height, fill: color, class: `hs-op hs-op-${kind}` },
          [hs.svgEl('title', {}, [title])],
        ),
      );
    });
    for (let i = 0; i < op.fsyncs; i++) {
      marks.push(
        hs.svgEl('circle', {
          cx: (x + 1.5 + i * 4).toFixed(1),
          cy: y + height + 3,
          r: 1.6,
          fill: 'var(--fg)',
          class: 'hs-fsync',
        }),
      );
    }
    return marks;
  }

  /** Greedy lanes: each group takes the first lane free at its open seq, so overlapping groups stack. */
  function assignLanes(groups) {
    const ends = [];
    return groups.map((group) => {
      let lane = ends.findIndex((end) => end < group.openSeq);
      if (lane < 0) lane = ends.length < LANES_MAX ? ends.length : ends.indexOf(Math.min(...ends));
      ends[lane] = group.doneSeq ?? group.lastSeq;
      return lane;
    });
  }

  function renderOverview(summary) {
    const host = hs.clear(document.getElementById('hs-overview'));
    const { firstSeq, lastSeq } = summary.totals;
    const span = Math.max(1, lastSeq - firstSeq);
    const x = (seq) => 40 + ((seq - firstSeq) / span) * (WIDTH - 60);
    const lanes = assignLanes(summary.groups);
    const laneCount = Math.max(1, ...lanes.map((lane) => lane + 1));
    const deviceY = 20 + laneCount * LANE + 8;
    const height = deviceY + 26;
    const svg = hs.svgEl('svg', { width: WIDTH, height, viewBox: `0 0 ${WIDTH} ${height}`, class: 'hs-overview' });
    svg.append(hs.svgEl('text', { x: 0, y: 12, class: 'hs-axis', 'font-size': 10 }, [`seq ${firstSeq}`]));
    svg.append(hs.svgEl('text', { x: WIDTH - 4, y: 12, 'text-anchor': 'end', 'font-size': 10 }, [`seq ${lastSeq}`]));
    for (const run of summary.runs.slice(1)) {
      svg.append(
        hs.svgEl('line', {
          x1: x(run.firstSeq),
          x2: x(run.firstSeq),
          y1: 14,
          y2: height,
          stroke: 'var(--line)',
          'stroke-dasharray': '3 3',
        }),
      );
    }
    summary.groups.forEach((group, i) => {
      const y = 20 + lanes[i] * LANE;
      const g = hs.svgEl('g', { class: 'hs-overview-group', 'data-group': group.key });
      g.append(hs.svgEl('title', {}, [`${hs.groupLabel(group.key, summary.runs.length)} tid ${hs.tidHex(group.tid)}`]));
      for (const [from, to, state] of phases(group)) {
        g.append(
          hs.svgEl('rect', {
            x: x(from),
            y,
            width: Math.max(1, x(to) - x(from)),
            height: LANE - 3,
            fill: `var(--${state})`,
          }),
        );
      }
      svg.append(g);
    });
    svg.append(hs.svgEl('text', { x: 0, y: deviceY + 9, 'font-size': 10 }, ['device']));
    for (const op of summary.device) svg.append(...opMarks(op, x(op.seq), deviceY, 12));
    host.append(svg);
  }

  /** A row's lane: the group's own seq range, its phases, and the ops its TID ran. */
  function laneCell(group, ops) {
    const end = Math.max(group.lastSeq, group.commitSeq ?? 0);
    const span = Math.max(1, end - group.openSeq);
    const x = (seq) => 2 + ((seq - group.openSeq) / span) * 236;
    const svg = hs.svgEl('svg', { width: 260, height: 22, viewBox: '0 0 260 22' });
    for (const [from, to, state] of phases(group)) {
      svg.append(
        hs.svgEl('rect', { x: x(from), y: 2, width: Math.max(1, x(to) - x(from)), height: 6, fill: `var(--${state})` }),
      );
    }
    for (const op of ops) svg.append(...opMarks(op, x(op.seq), 10, 6));
    return hs.el('td', { class: 'hs-lane' }, [svg]);
  }

  function groupRow(group, ops, runs) {
    const cells = [
      [hs.groupLabel(group.key, runs), 'hs-left'],
      [group.state, `hs-left hs-state-${group.state}`],
      [hs.tidHex(group.tid)],
      [`${group.synced} / ${group.inodes}`],
      [group.refs],
      [group.fifoBytes],
      [group.dataBytes],
      [group.metaBytes],
      [group.fsyncs],
      [hs.duration(Math.max(0, group.lastTime - group.openTime))],
      [`${group.openSeq}–${Math.max(group.lastSeq, group.commitSeq ?? 0)}`],
    ];
    const row = hs.el(
      'tr',
      { class: 'hs-group', 'data-group': group.key, 'data-state': group.state, title: group.sample.join('\n') },
      cells.map(([text, cls]) => hs.el('td', { class: cls }, [String(text)])),
    );
    row.append(laneCell(group, ops));
    return row;
  }

  function renderTable(summary) {
    const tbody = hs.clear(document.querySelector('#hs-groups tbody'));
    const opsByGroup = new Map();
    const outside = [];
    for (const op of summary.device) {
      if (op.group === undefined) outside.push(op);
      else if (opsByGroup.has(op.group)) opsByGroup.get(op.group).push(op);
      else opsByGroup.set(op.group, [op]);
    }
    for (const group of summary.groups)
      tbody.append(groupRow(group, opsByGroup.get(group.key) ?? [], summary.runs.length));
    const sum = (key) => outside.reduce((total, op) => total + op[key], 0);
    const notes = [];
    if (summary.groupsTotal > summary.groups.length) {
      notes.push(`The table shows the last ${summary.groups.length} of ${summary.groupsTotal} flush groups.`);
    }
    if (summary.deviceTotal > summary.device.length) {
      notes.push(
        `The device lane shows the last ${summary.device.length} of ${summary.deviceTotal} device operations.`,
      );
    }
    notes.push(
      `Outside flush groups (snapshots' header commits, fsync's REDO syncs): ${outside.length} operations, FIFO ${hs.bytes(sum('fifoBytes'))}, meta ${hs.bytes(sum('metaBytes'))}, ${sum('fsyncs')} fsyncs.`,
      "inodes: synced by the group's run / added to it. Duration: logical time from OPEN to the group's last event (its COMMIT).",
    );
    document.getElementById('hs-groups-note').textContent = notes.join(' ');
  }

  hs.renderTimeline = (summary) => {
    renderOverview(summary);
    renderTable(summary);
  };
})();

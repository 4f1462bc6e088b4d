// hammerstate report page: the sequence diagram of one inode (commands, its transitions, its flush groups).
(() => {
  globalThis.hammerstate ??= {};
  const hs = globalThis.hammerstate;
  const LANE_WIDTH = 230;
  const ROW = 22;
  const TOP = 44;
  const LEFT = 70;
  const COLORS = {
    command: 'var(--data)',
    transition: 'var(--fg)',
    join: 'var(--running)',
    sync: 'var(--meta)',
    done: 'var(--running)',
    group: 'var(--closed)',
  };

  function laneName(lane, summary) {
    if (lane === 'fs') return 'fs (commands)';
    if (lane.startsWith('inode:')) return lane;
    return hs.groupLabel(lane, summary.runs.length);
  }

  function message(m, y) {
    const color = COLORS[m.kind] ?? 'var(--fg)';
    const x1 = LEFT + m.from * LANE_WIDTH + LANE_WIDTH / 2;
    const x2 = LEFT + m.to * LANE_WIDTH + LANE_WIDTH / 2;
    const g = hs.svgEl('g', { class: `hs-message hs-message-${m.kind}`, 'data-seq': m.seq });
    g.append(hs.svgEl('title', {}, [`seq ${m.seq} ${hs.time(m.time)}: ${m.label}`]));
    g.append(hs.svgEl('text', { x: 4, y: y + 4, 'font-size': 10, fill: 'var(--muted)' }, [String(m.seq)]));
    if (m.from === m.to) {
      g.append(hs.svgEl('rect', { x: x1 - 4, y: y - 6, width: 8, height: 12, fill: color, rx: 2 }));
      g.append(hs.svgEl('text', { x: x1 + 8, y: y + 4, 'font-size': 11, fill: color }, [m.label]));
    } else {
      const direction = x2 > x1 ? 1 : -1;
      g.append(hs.svgEl('line', { x1, x2: x2 - direction * 6, y1: y, y2: y, stroke: color, 'stroke-width': 1.4 }));
      g.append(hs.svgEl('path', { d: `M${x2},${y} l${-direction * 7},-4 l0,8 z`, fill: color }));
      const labelX = Math.min(x1, x2) + 8;
      g.append(hs.svgEl('text', { x: labelX, y: y - 4, 'font-size': 11, fill: color }, [m.label]));
    }
    return g;
  }

  hs.renderSequence = (summary) => {
    const host = hs.clear(document.getElementById('hs-sequence-diagram'));
    const sequence = summary.sequence;
    document.getElementById('hs-sequence-inode').textContent =
      sequence === undefined ? 'no inode actor in the log' : sequence.inode;
    const note = document.getElementById('hs-sequence-note');
    if (sequence === undefined) {
      note.textContent = '';
      return;
    }
    const shown = sequence.messages.length;
    note.textContent =
      `${sequence.events} events of the inode actor; ${sequence.total} messages` +
      (sequence.total > shown ? `, the first ${shown} shown.` : '.') +
      ' A command touched the inode when its events follow the command; the group an inode joined is the one whose run synced it.';
    const width = LEFT + sequence.lanes.length * LANE_WIDTH + 200;
    const height = TOP + shown * ROW + 20;
    const svg = hs.svgEl('svg', { width, height, viewBox: `0 0 ${width} ${height}`, class: 'hs-sequence' });
    sequence.lanes.forEach((lane, i) => {
      const x = LEFT + i * LANE_WIDTH + LANE_WIDTH / 2;
      svg.append(
        hs.svgEl('line', { x1: x, x2: x, y1: TOP - 14, y2: height, stroke: 'var(--line)', 'stroke-dasharray': '4 3' }),
      );
      svg.append(
        hs.svgEl('rect', {
          x: x - LANE_WIDTH / 2 + 8,
          y: 4,
          width: LANE_WIDTH - 16,
          height: 22,
          rx: 4,
          fill: 'var(--soft)',
          stroke: 'var(--muted)',
        }),
      );
      svg.append(
        hs.svgEl('text', { x, y: 19, 'text-anchor': 'middle', 'font-size': 11, class: 'hs-lane-name' }, [
          laneName(lane, summary),
        ]),
      );
    });
    sequence.messages.forEach((m, i) => {
      svg.append(message(m, TOP + i * ROW));
    });
    host.append(svg);
  };
})();

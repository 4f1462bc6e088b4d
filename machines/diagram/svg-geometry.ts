/**
 * Plane geometry for the SVG layout: boxes, where a ray leaves a box, the
 * curve between two states and the self-loops on one side of a state, and
 * a label's first free spot. Numbers are written with one decimal, so the
 * output is the same bytes on every platform.
 */
export interface Point {
  x: number;
  y: number;
}

export interface Box {
  x: number;
  y: number;
  width: number;
  height: number;
}

/** The side of a state its self-loops (and their labels) go on. */
export type Side = 'right' | 'left' | 'bottom' | 'top';
export const SIDES: readonly Side[] = ['right', 'left', 'bottom', 'top'];

export const LABEL_CHAR_PX = 6.6;
export const LINE_PX = 16;
/** The smallest self-loop reaches this far out; each further one LOOP_STEP_PX more. */
export const LOOP_PX = 22;
export const LOOP_STEP_PX = 10;
const NUDGES = 6;

/** A number as the SVG writes it: one decimal, no `-0`. */
export function num(value: number): string {
  const rounded = Math.round(value * 10) / 10;
  return String(rounded === 0 ? 0 : rounded);
}

export function centre(box: Box): Point {
  return { x: box.x + box.width / 2, y: box.y + box.height / 2 };
}

export function overlaps(a: Box, b: Box): boolean {
  return a.x < b.x + b.width && b.x < a.x + a.width && a.y < b.y + b.height && b.y < a.y + a.height;
}

function contains(box: Box, point: Point): boolean {
  return point.x > box.x && point.x < box.x + box.width && point.y > box.y && point.y < box.y + box.height;
}

export function union(boxes: readonly Box[]): Box {
  if (boxes.length === 0) return { x: 0, y: 0, width: 0, height: 0 };
  const x = Math.min(...boxes.map((b) => b.x));
  const y = Math.min(...boxes.map((b) => b.y));
  const right = Math.max(...boxes.map((b) => b.x + b.width));
  const bottom = Math.max(...boxes.map((b) => b.y + b.height));
  return { x, y, width: right - x, height: bottom - y };
}

/** Where a ray from the box's centre toward `toward` leaves the box. */
export function border(box: Box, toward: Point): Point {
  const center = centre(box);
  const dx = toward.x - center.x;
  const dy = toward.y - center.y;
  if (dx === 0 && dy === 0) return center;
  const scale = Math.min(
    dx === 0 ? Number.POSITIVE_INFINITY : box.width / 2 / Math.abs(dx),
    dy === 0 ? Number.POSITIVE_INFINITY : box.height / 2 / Math.abs(dy),
  );
  return { x: center.x + dx * scale, y: center.y + dy * scale };
}

export function textWidth(text: string): number {
  return text.length * LABEL_CHAR_PX + 6;
}

/** A label's box centred on `at`. */
export function labelBox(text: string, at: Point): Box {
  const width = textWidth(text);
  return { x: at.x - width / 2, y: at.y - LINE_PX / 2, width, height: LINE_PX };
}

export interface Curve {
  start: Point;
  control: Point;
  end: Point;
}

/**
 * The quadratic curve from box `from` to box `to`, bent `bend` px off the
 * straight line to the left of the direction `a` to `b` (the pair's own
 * order, so curves joining the same two states both ways spread apart).
 */
export function curveBetween(from: Box, to: Box, a: Point, b: Point, bend: number): Curve {
  const length = Math.hypot(b.x - a.x, b.y - a.y) || 1;
  const normal = { x: -(b.y - a.y) / length, y: (b.x - a.x) / length };
  const control = { x: (a.x + b.x) / 2 + normal.x * bend * 2, y: (a.y + b.y) / 2 + normal.y * bend * 2 };
  return { start: border(from, control), control, end: border(to, control) };
}

export function pointOn(curve: Curve, t: number): Point {
  const u = 1 - t;
  return {
    x: u * u * curve.start.x + 2 * u * t * curve.control.x + t * t * curve.end.x,
    y: u * u * curve.start.y + 2 * u * t * curve.control.y + t * t * curve.end.y,
  };
}

/** Does the curve pass through any of the boxes (sampled, ends excluded)? */
export function crosses(curve: Curve, boxes: readonly Box[]): boolean {
  for (let i = 1; i < 16; i++) {
    const point = pointOn(curve, i / 16);
    if (boxes.some((box) => contains(box, point))) return true;
  }
  return false;
}

export function curvePath({ start, control, end }: Curve): string {
  return `M${num(start.x)},${num(start.y)} Q${num(control.x)},${num(control.y)} ${num(end.x)},${num(end.y)}`;
}

const OUTWARD: Record<Side, { u: Point; v: Point }> = {
  right: { u: { x: 1, y: 0 }, v: { x: 0, y: 1 } },
  left: { u: { x: -1, y: 0 }, v: { x: 0, y: 1 } },
  bottom: { u: { x: 0, y: 1 }, v: { x: 1, y: 0 } },
  top: { u: { x: 0, y: -1 }, v: { x: 1, y: 0 } },
};

/** The middle of the box's side (for a state box, within its name row on the left and right). */
function anchorOf(box: Box, side: Side, nameHeight: number): Point {
  const middle = box.y + Math.min(box.height, nameHeight) / 2;
  if (side === 'right') return { x: box.x + box.width, y: middle };
  if (side === 'left') return { x: box.x, y: middle };
  return { x: box.x + box.width / 2, y: side === 'bottom' ? box.y + box.height : box.y };
}

/** The k-th self-loop on a side: each one larger, so they nest. */
export function loopPath(box: Box, side: Side, k: number, nameHeight: number): string {
  const { u, v } = OUTWARD[side];
  const at = anchorOf(box, side, nameHeight);
  const reach = LOOP_PX + LOOP_STEP_PX * k;
  const spread = Math.min(4 + 2 * k, nameHeight / 2 - 2);
  const bulge = reach * 0.6;
  const p = (along: number, out: number) =>
    `${num(at.x + v.x * along + u.x * out)},${num(at.y + v.y * along + u.y * out)}`;
  return `M${p(-spread, 0)} C${p(-spread - bulge, reach)} ${p(spread + bulge, reach)} ${p(spread, 0)}`;
}

/** How far the loops of one state reach out, with the gap before their labels. */
export function loopsReach(count: number): number {
  return LOOP_PX + LOOP_STEP_PX * (count - 1) + 10;
}

/** The label boxes of `texts`, the self-loops on one side of a state, stacked beyond the largest loop. */
export function loopLabels(box: Box, side: Side, texts: readonly string[], nameHeight: number): Box[] {
  const at = anchorOf(box, side, nameHeight);
  const reach = loopsReach(texts.length);
  const stack = texts.length * LINE_PX;
  return texts.map((text, k) => {
    const width = textWidth(text);
    if (side === 'right' || side === 'left') {
      const y = at.y - stack / 2 + k * LINE_PX;
      return { x: side === 'right' ? at.x + reach : at.x - reach - width, y, width, height: LINE_PX };
    }
    const y = side === 'bottom' ? at.y + reach - 4 + k * LINE_PX : at.y - reach + 4 - stack + k * LINE_PX;
    return { x: at.x - width / 2, y, width, height: LINE_PX };
  });
}

/** The first spot, a row at a time down then up, where the label overlaps nothing taken; then it is taken. */
export function free(box: Box, taken: Box[]): Box {
  for (let step = 0; step <= 2 * NUDGES; step++) {
    const rows = step % 2 === 1 ? (step + 1) / 2 : -step / 2;
    const moved = { ...box, y: box.y + rows * (LINE_PX + 2) };
    if (!taken.some((other) => overlaps(moved, other))) {
      taken.push(moved);
      return moved;
    }
  }
  taken.push(box);
  return box;
}

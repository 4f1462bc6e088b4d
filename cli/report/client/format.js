// hammerstate report page: shared helpers (the page's scripts share one namespace, globalThis.hammerstate).
// Plain browser JavaScript, inlined into the page by cli/report/page.ts; no network, no modules.
(() => {
  globalThis.hammerstate ??= {};
  const hs = globalThis.hammerstate;
  const SVG_NS = 'http://www.w3.org/2000/svg';

  /** An HTML element with attributes and children (strings become text nodes: never parsed as HTML). */
  hs.el = (tag, attributes = {}, children = []) => {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attributes)) {
      if (value !== undefined && value !== null) node.setAttribute(name, String(value));
    }
    for (const child of children) node.append(child);
    return node;
  };

  /** An SVG element, the same way. */
  hs.svgEl = (tag, attributes = {}, children = []) => {
    const node = document.createElementNS(SVG_NS, tag);
    for (const [name, value] of Object.entries(attributes)) {
      if (value !== undefined && value !== null) node.setAttribute(name, String(value));
    }
    for (const child of children) node.append(child);
    return node;
  };

  hs.tidHex = (tid) => (tid === undefined || tid === null ? '-' : `0x${tid.toString(16).padStart(16, '0')}`);

  hs.bytes = (n) => {
    if (n < 1024) return `${n} B`;
    if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
    return `${(n / 1024 / 1024).toFixed(1)} MiB`;
  };

  /** A duration of logical time (µs) in the unit that reads best. */
  hs.duration = (micros) => {
    if (micros < 1000) return `${micros} µs`;
    if (micros < 1_000_000) return `${(micros / 1000).toFixed(1)} ms`;
    return `${(micros / 1_000_000).toFixed(2)} s`;
  };

  /** Logical time (µs since the epoch) as ISO text with microseconds. */
  hs.time = (micros) => {
    const iso = new Date(Math.floor(micros / 1000)).toISOString();
    return `${iso.slice(0, 23)}${String(micros % 1000).padStart(3, '0')}Z`;
  };

  /** A group key `<run>:flg:<seq>` as the page shows it (the run only when the log has several). */
  hs.groupLabel = (key, runs) => {
    const [run, ...rest] = key.split(':');
    return runs > 1 ? `${rest.join(':')} (run ${run})` : rest.join(':');
  };

  hs.clear = (node) => {
    while (node.firstChild) node.removeChild(node.firstChild);
    return node;
  };
})();

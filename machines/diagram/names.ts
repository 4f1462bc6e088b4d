/**
 * Identifiers for the output formats: Mermaid ids, DOT node names and SVG
 * element ids allow fewer characters than state paths and event names do.
 * A Tokens table hands out one safe, unique token per (scope, name), in the
 * order asked, so the same machine always gets the same tokens.
 */
const RESERVED = new Set([
  // Mermaid's stateDiagram keywords (it ignores case)
  'as',
  'class',
  'classdef',
  'default',
  'direction',
  'end',
  'hide',
  'note',
  'scale',
  'state',
  'statediagram',
  'style',
  // DOT's
  'digraph',
  'edge',
  'graph',
  'node',
  'strict',
  'subgraph',
]);

export class Tokens {
  private readonly taken = new Set<string>();
  private readonly given = new Map<string, string>();

  /** The token for `name` in `scope` (a machine's id, so machines drawn together never share one). */
  token(scope: string, name: string): string {
    const key = JSON.stringify([scope, name]);
    const known = this.given.get(key);
    if (known !== undefined) return known;
    let base = safe(scope === '' ? name : `${scope}_${name}`);
    if (RESERVED.has(base.toLowerCase())) base = `${base}_`;
    let token = base;
    for (let n = 2; this.taken.has(token); n++) token = `${base}_${n}`;
    this.taken.add(token);
    this.given.set(key, token);
    return token;
  }
}

/** Letters, digits and underscores, not starting with a digit (Mermaid's ids are the narrowest). */
function safe(text: string): string {
  const word = text.replace(/[^A-Za-z0-9_]/g, '_');
  if (word === '') return '_';
  return /^[0-9]/.test(word) ? `_${word}` : word;
}

/** Text inside XML (SCXML, SVG): element content and attribute values alike. */
export function escapeXml(text: string): string {
  return text
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&apos;');
}

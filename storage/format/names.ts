import { isUtf8 } from 'node:buffer';

/**
 * Names as bytes. A POSIX file name is any bytes but '/' and NUL, and HAMMER
 * stores it as it is given; the API's names are strings. A name whose bytes
 * are UTF-8 is that text. Bytes that are not (a Latin-1 name from an old
 * archive, say) travel in the string as Python's os.fsdecode carries them
 * (PEP 383, "surrogateescape"): each byte 0x80-0xFF that does not belong to
 * a valid UTF-8 sequence is the lone surrogate U+DC80-U+DCFF, and is that
 * byte again when the name is stored. So every byte string has exactly one
 * string, and two names that differ in their bytes never meet in one entry.
 *
 * A string holding any other lone surrogate stands for no bytes, and neither
 * does one whose escaped bytes would read back as UTF-8 text
 * ('\uDCC3\uDCA9' is 'é' in bytes): nameBytes answers undefined for both,
 * and the API refuses them (EINVAL).
 */

const ESCAPE = 0xdc00;
const ESCAPED_FIRST = 0xdc80;
const ESCAPED_LAST = 0xdcff;

/** The bytes `name` stands for; undefined when it stands for none (see above). */
export function nameBytes(name: string): Buffer | undefined {
  if (name.isWellFormed()) return Buffer.from(name, 'utf8');
  const bytes = escapedBytes(name);
  // Canonical only: escaped bytes that would decode as text are that text's name, not this one.
  if (bytes === undefined || nameOf(bytes) !== name) return undefined;
  return bytes;
}

/** How many bytes `name` is on disk (a lone surrogate that stands for no byte counts as UTF-8's replacement, 3). */
export function nameByteLength(name: string): number {
  if (name.isWellFormed()) return Buffer.byteLength(name, 'utf8');
  return escapedBytes(name)?.length ?? Buffer.byteLength(name, 'utf8');
}

/** The name that `bytes` are: their UTF-8 text, with any byte outside a valid sequence escaped. */
export function nameOf(bytes: Uint8Array): string {
  const length = bytes.length;
  let ascii = true;
  for (let i = 0; i < length; i++) {
    if ((bytes[i] as number) >= 0x80) {
      ascii = false;
      break;
    }
  }
  // A view, not a copy; ASCII (most names) read without the native UTF-8 check.
  const view = Buffer.from(bytes.buffer, bytes.byteOffset, length);
  if (ascii) return view.toString('latin1');
  if (isUtf8(view)) return view.toString('utf8');
  return escapedName(bytes);
}

/** UTF-8 of each code point, an escaped byte as itself; undefined at a lone surrogate outside U+DC80-U+DCFF. */
function escapedBytes(name: string): Buffer | undefined {
  const out: number[] = [];
  for (let i = 0; i < name.length; i++) {
    const code = name.charCodeAt(i);
    if (code < 0x80) {
      out.push(code);
    } else if (code < 0x800) {
      out.push(0xc0 | (code >> 6), 0x80 | (code & 0x3f));
    } else if (code >= 0xd800 && code <= 0xdbff) {
      const low = name.charCodeAt(i + 1);
      if (!(low >= 0xdc00 && low <= 0xdfff)) return undefined;
      const point = 0x10000 + ((code - 0xd800) << 10) + (low - 0xdc00);
      out.push(
        0xf0 | (point >> 18),
        0x80 | ((point >> 12) & 0x3f),
        0x80 | ((point >> 6) & 0x3f),
        0x80 | (point & 0x3f),
      );
      i++;
    } else if (code >= 0xdc00 && code <= 0xdfff) {
      if (code < ESCAPED_FIRST || code > ESCAPED_LAST) return undefined;
      out.push(code - ESCAPE);
    } else {
      out.push(0xe0 | (code >> 12), 0x80 | ((code >> 6) & 0x3f), 0x80 | (code & 0x3f));
    }
  }
  return Buffer.from(out);
}

/** A strict UTF-8 decoder (no overlong forms, no surrogates, nothing past U+10FFFF) that escapes what it cannot read. */
function escapedName(bytes: Uint8Array): string {
  const units: number[] = [];
  const n = bytes.length;
  let i = 0;
  while (i < n) {
    const first = bytes[i] as number;
    if (first < 0x80) {
      units.push(first);
      i++;
      continue;
    }
    let follow: number;
    let point: number;
    let least: number;
    if (first >= 0xc2 && first <= 0xdf) {
      follow = 1;
      point = first & 0x1f;
      least = 0x80;
    } else if (first >= 0xe0 && first <= 0xef) {
      follow = 2;
      point = first & 0x0f;
      least = 0x800;
    } else if (first >= 0xf0 && first <= 0xf4) {
      follow = 3;
      point = first & 0x07;
      least = 0x10000;
    } else {
      units.push(ESCAPE + first);
      i++;
      continue;
    }
    let valid = i + follow < n;
    for (let k = 1; valid && k <= follow; k++) {
      const next = bytes[i + k] as number;
      if ((next & 0xc0) !== 0x80) valid = false;
      else point = (point << 6) | (next & 0x3f);
    }
    if (!valid || point < least || point > 0x10ffff || (point >= 0xd800 && point <= 0xdfff)) {
      units.push(ESCAPE + first);
      i++;
      continue;
    }
    if (point >= 0x10000) units.push(0xd800 + ((point - 0x10000) >> 10), 0xdc00 + ((point - 0x10000) & 0x3ff));
    else units.push(point);
    i += follow + 1;
  }
  let text = '';
  for (let at = 0; at < units.length; at += 4096) text += String.fromCharCode(...units.slice(at, at + 4096));
  return text;
}

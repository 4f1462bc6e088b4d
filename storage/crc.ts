import { crc32 } from 'node:zlib';

/**
 * CRC-32 (the reflected 0xEDB88320 polynomial HAMMER v1–v6 use), from node's zlib.
 * `crcOf(buf, a, b)` covers bytes [a, b) without copying.
 */
export function crcOf(buf: Uint8Array, start = 0, end = buf.length): number {
  return crc32(buf.subarray(start, end)) >>> 0;
}

/** CRC of two disjoint ranges, combined as HAMMER does: crc(first) XOR crc(second). */
export function crcOfTwo(buf: Uint8Array, a0: number, a1: number, b0: number, b1: number): number {
  return (crcOf(buf, a0, a1) ^ crcOf(buf, b0, b1)) >>> 0;
}

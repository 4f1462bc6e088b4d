import { LOCALIZE_INODE, LOCALIZE_MISC } from '../storage/layout.js';

/**
 * Keys of a file's records. An inode's `localization` is its PFS's (pfs id in
 * the top 16 bits); inode records live in the INODE space, everything else
 * (directory entries, data, auxiliary records) in the MISC space.
 */
export function pfsLocalization(pfsId: number): number {
  return pfsId * 0x10000;
}

export function pfsIdOf(localization: number): number {
  return Math.floor(localization / 0x10000);
}

export function inodeLocalization(pfsLocalization: number): number {
  return pfsLocalization + LOCALIZE_INODE;
}

export function dataLocalization(pfsLocalization: number): number {
  return pfsLocalization + LOCALIZE_MISC;
}

/** HAMMER's buffer sizes: 16 KiB blocks below 1 MiB (HAMMER_XDEMARC), 64 KiB above. */
export const SMALL_BLOCK = 16 * 1024;
export const LARGE_BLOCK = 64 * 1024;
export const BLOCK_DEMARC = 1024 * 1024;

export function blockSize(offset: number): number {
  return offset < BLOCK_DEMARC ? SMALL_BLOCK : LARGE_BLOCK;
}

/** The start of the block holding `offset`. */
export function blockBase(offset: number): number {
  if (offset < BLOCK_DEMARC) return offset - (offset % SMALL_BLOCK);
  return offset - (offset % LARGE_BLOCK);
}

/** Scan bounds over one object's records: [lo, hi] inclusive of every create_tid. */
export function rangeLo(localization: number, objId: number, recType: number, key: number) {
  return { localization, objId, recType, key, createTid: 1 };
}

export function rangeHi(localization: number, objId: number, recType: number, key: number) {
  return { localization, objId, recType, key, createTid: 0 };
}

/** Path components the walk reads as views (actors/resolve.ts): `name@@0x<tid>`, `@@PFS<5 digits>`, `@@0x<tid>`. */
export const ASOF = /^(.+)@@(0x[0-9a-fA-F]{16})$/;
export const PFS_NAME = /^@@PFS(\d{5})$/;
export const ROOT_ASOF = /^@@(0x[0-9a-fA-F]{16})$/;

/**
 * A name the path walk reads as an as-of or PFS component: no entry may
 * have it. Any other name holding `@@` is a name like the others (dbench
 * makes `@@@CDRW.TMP`).
 */
export function reservedName(name: string): boolean {
  return name.includes('@@') && (ASOF.test(name) || ROOT_ASOF.test(name) || PFS_NAME.test(name));
}

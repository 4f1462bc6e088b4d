import { ObjType } from '../storage/layout.js';
import type { Dirent, Stats } from './api.js';

const S_IFMT = 0o170000;
const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;
const S_IFLNK = 0o120000;

/** The file-type bits of a mode for each HAMMER object type. */
export const TYPE_BITS: Readonly<Record<number, number>> = {
  [ObjType.DIRECTORY]: S_IFDIR,
  [ObjType.REGFILE]: S_IFREG,
  [ObjType.SOFTLINK]: S_IFLNK,
};

/**
 * What stat() returns. The type tests are methods on the prototype, read
 * from the mode, as node's Stats has them: an object literal with three
 * arrow functions cost three closures (each named at run time) per stat, and
 * a stat is what a FUSE mount answers most.
 */
export class InodeStats implements Stats {
  constructor(
    readonly ino: number,
    readonly mode: number,
    readonly nlink: number,
    readonly uid: number,
    readonly gid: number,
    readonly size: number,
    readonly atimeMs: number,
    readonly mtimeMs: number,
    readonly ctimeMs: number,
    readonly tid: number,
    readonly flags: number,
  ) {}

  isFile(): boolean {
    return (this.mode & S_IFMT) === S_IFREG;
  }

  isDirectory(): boolean {
    return (this.mode & S_IFMT) === S_IFDIR;
  }

  isSymbolicLink(): boolean {
    return (this.mode & S_IFMT) === S_IFLNK;
  }
}

/** A readdir entry with its type (withFileTypes); the type is private, so the entry reads as {name, ino}. */
export class DirEntry implements Dirent {
  readonly #type: number;

  constructor(
    readonly name: string,
    readonly ino: number,
    type: number,
  ) {
    this.#type = type;
  }

  isFile(): boolean {
    return this.#type === ObjType.REGFILE;
  }

  isDirectory(): boolean {
    return this.#type === ObjType.DIRECTORY;
  }

  isSymbolicLink(): boolean {
    return this.#type === ObjType.SOFTLINK;
  }
}

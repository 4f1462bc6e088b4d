import { readFileSync } from 'node:fs';

/**
 * The kernel's mount table as this process sees it (/proc/self/mountinfo).
 * fuse-native does not report an unmount done from outside (`fusermount -u`),
 * so the mount command watches for its entry to go away; the background
 * start and the tests watch for it to appear.
 */
export interface MountEntry {
  /** The kernel's mount ID: a later mount on the same directory has another. */
  id: number;
  mountpoint: string;
  fstype: string;
  source: string;
}

/** mountinfo escapes space, tab, newline and backslash as octal (\040). */
function unescapeOctal(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(Number.parseInt(octal, 8)));
}

/** Parse mountinfo text: `id parent major:minor root mountpoint options [optional...] - fstype source super`. */
export function parseMountinfo(text: string): MountEntry[] {
  const entries: MountEntry[] = [];
  for (const line of text.split('\n')) {
    const fields = line.split(' ');
    const separator = fields.indexOf('-', 6);
    if (fields.length < 7 || separator < 0) continue;
    entries.push({
      id: Number(fields[0]),
      mountpoint: unescapeOctal(fields[4] ?? ''),
      fstype: fields[separator + 1] ?? '',
      source: unescapeOctal(fields[separator + 2] ?? ''),
    });
  }
  return entries;
}

/** The topmost mount on `mountpoint` (absolute, no trailing slash), or undefined. */
export function findMount(mountpoint: string, text = readMountinfo()): MountEntry | undefined {
  return parseMountinfo(text)
    .filter((entry) => entry.mountpoint === mountpoint)
    .at(-1);
}

/** Every mount this process sees. */
export function allMounts(text = readMountinfo()): MountEntry[] {
  return parseMountinfo(text);
}

/** Is the mount with this ID still there? */
export function isMounted(id: number, text = readMountinfo()): boolean {
  return parseMountinfo(text).some((entry) => entry.id === id);
}

function readMountinfo(): string {
  return readFileSync('/proc/self/mountinfo', 'utf8');
}

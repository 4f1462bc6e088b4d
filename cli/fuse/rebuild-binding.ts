import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

/**
 * npm's postinstall step for the FUSE binding (docs/fuse.md, "Times").
 * fuse-native 2.2.6 hands JavaScript the access time in both arguments of
 * utimens (its C source converts tv[0] twice), so a modification time set
 * apart from the access time (tar -x, cp -p, utimes) was lost. This fixes
 * that one line in the installed copy's C source and rebuilds it with
 * node-gyp (npm provides it to install scripts; the headers it needs are
 * in fuse-shared-library; nothing is downloaded). node-gyp-build then loads
 * build/Release before the package's prebuilt binary. Never fails the
 * install: without fuse-native (an optional dependency) it does nothing, and
 * if the rebuild fails the prebuilt binary stays (with the old bug), said on
 * stderr.
 */

const VERSION = '2.2.6';
const BROKEN = 'FUSE_UINT64_TO_INTS_ARGV(l->atime, 5)';
const FIXED = 'FUSE_UINT64_TO_INTS_ARGV(l->mtime, 5)';

function say(line: string): void {
  process.stderr.write(`hammerstate postinstall: ${line}\n`);
}

function rebuild(): void {
  let manifest: string;
  try {
    manifest = createRequire(join(process.cwd(), 'package.json')).resolve('fuse-native/package.json');
  } catch {
    return; // not installed (optional): nothing to fix
  }
  const dir = dirname(manifest);
  const version = (JSON.parse(readFileSync(manifest, 'utf8')) as { version: string }).version;
  if (version !== VERSION) {
    say(`fuse-native ${version}: not the version this fix is for; left as it is`);
    return;
  }
  const source = join(dir, 'fuse-native.c');
  const text = readFileSync(source, 'utf8');
  if (text.includes(BROKEN)) writeFileSync(source, text.replace(BROKEN, FIXED));
  else if (!text.includes(FIXED)) {
    say('fuse-native.c is not the expected source; left as it is');
    return;
  }
  if (existsSync(join(dir, 'build', 'Release', 'fuse.node'))) return;
  try {
    execFileSync('node-gyp', ['rebuild'], { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
    say('fuse-native rebuilt with utimens passing both times');
  } catch (error) {
    say(`rebuilding fuse-native failed, its prebuilt binary stays (utimens loses mtime): ${(error as Error).message}`);
  }
}

rebuild();

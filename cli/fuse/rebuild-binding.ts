import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { applyPatches, BINDING_PATCHES, PATCH_MARKER } from './binding-patches.js';

/**
 * npm's postinstall step for the FUSE binding (docs/fuse.md, "The binding's
 * C source, patched"). fuse-native 2.2.6's C source is patched in the
 * installed copy (binding-patches.ts says what each patch does) and rebuilt
 * with node-gyp (npm provides it to install scripts; the headers it needs
 * are in fuse-shared-library; nothing is downloaded). node-gyp-build then
 * loads build/Release before the package's prebuilt binary. A marker beside
 * the built binary names the patches it has, so the mount knows what it may
 * use (binding.ts). Never fails the install: without fuse-native (an
 * optional dependency) it does nothing, and if the rebuild fails the
 * prebuilt binary stays, said on stderr, and the mount uses none of the
 * patches' features.
 */

const VERSION = '2.2.6';

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
    say(`fuse-native ${version}: not the version these patches are for; left as it is`);
    return;
  }
  // Every file patched in memory first: a source that is not the expected one is left untouched, all of it.
  const files = [...new Set(BINDING_PATCHES.map((patch) => patch.file))].map((file) => {
    const path = join(dir, file);
    const original = readFileSync(path, 'utf8');
    return {
      file,
      path,
      original,
      result: applyPatches(
        original,
        BINDING_PATCHES.filter((p) => p.file === file),
      ),
    };
  });
  const patched: Array<{ path: string; original: string; text: string }> = [];
  for (const { file, path, original, result } of files) {
    if ('unexpected' in result) {
      say(`${file} is not the expected source (patch '${result.unexpected}' does not apply); left as it is`);
      return;
    }
    patched.push({ path, original, text: result.text });
  }
  const changed = patched.filter(({ original, text }) => text !== original);
  for (const { path, text } of changed) writeFileSync(path, text);
  const marker = join(dir, 'build', 'Release', PATCH_MARKER);
  const names = BINDING_PATCHES.map((patch) => patch.name);
  if (changed.length === 0 && existsSync(marker)) {
    const built = (JSON.parse(readFileSync(marker, 'utf8')) as { patches: string[] }).patches;
    if (names.every((name) => built.includes(name))) return;
  }
  try {
    execFileSync('node-gyp', ['rebuild'], { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
    writeFileSync(marker, `${JSON.stringify({ patches: names })}\n`);
    say(`fuse-native rebuilt with: ${names.join(', ')}`);
  } catch (error) {
    say(
      `rebuilding fuse-native failed, its prebuilt binary stays (none of ${names.join(', ')}): ${(error as Error).message}`,
    );
  }
}

rebuild();

/**
 * What hammerstate changes in fuse-native 2.2.6's C source before building
 * it (postinstall: rebuild-binding.ts), and how the mount learns which of
 * these the loaded binary has (binding.ts reads the marker the rebuild
 * leaves beside it). Each patch replaces one exact piece of the source; a
 * source where a piece is missing is left alone.
 */
export interface BindingPatch {
  name: string;
  broken: string;
  fixed: string;
}

/** The file beside build/Release/fuse.node listing the patches that binary was built with. */
export const PATCH_MARKER = 'hammerstate-patches.json';

/**
 * `utimens-omit` (with `utimens-omit-flag`) passes UTIME_OMIT and UTIME_NOW through as these
 * millisecond values (0xffffffff00000000 and 0xfffffffe00000000: exact as
 * doubles, and never a real time), which the operations read as "leave it"
 * and "now".
 */
export const UTIME_OMIT_MS = 0xffffffff * 2 ** 32;
export const UTIME_NOW_MS = 0xfffffffe * 2 ** 32;

export const BINDING_PATCHES: readonly BindingPatch[] = [
  {
    // Its utimens converted tv[0] twice: JavaScript got the access time as both times.
    name: 'utimens-mtime',
    broken: 'FUSE_UINT64_TO_INTS_ARGV(l->atime, 5)',
    fixed: 'FUSE_UINT64_TO_INTS_ARGV(l->mtime, 5)',
  },
  {
    // libfuse 2.9 drops a setattr that sets one time alone (touch -m, tar -x's mtime) unless the
    // filesystem says it takes UTIME_OMIT and UTIME_NOW; then it passes them, and so does this.
    name: 'utimens-omit',
    broken: ['  l->atime = timespec_to_uint64(&tv[0]);', '  l->mtime = timespec_to_uint64(&tv[1]);', '}, {'].join('\n'),
    fixed: [
      '  l->atime = timespec_to_uint64(&tv[0]);',
      '  l->mtime = timespec_to_uint64(&tv[1]);',
      '#ifdef UTIME_OMIT',
      '  if (tv[0].tv_nsec == UTIME_OMIT) l->atime = 0xffffffff00000000ULL;',
      '  if (tv[0].tv_nsec == UTIME_NOW) l->atime = 0xfffffffe00000000ULL;',
      '  if (tv[1].tv_nsec == UTIME_OMIT) l->mtime = 0xffffffff00000000ULL;',
      '  if (tv[1].tv_nsec == UTIME_NOW) l->mtime = 0xfffffffe00000000ULL;',
      '#endif',
      '}, {',
    ].join('\n'),
  },
  {
    name: 'utimens-omit-flag',
    broken: '  if (implemented[op_utimens]) ops.utimens = fuse_native_utimens;\n',
    fixed: [
      '  if (implemented[op_utimens]) ops.utimens = fuse_native_utimens;',
      '#ifdef UTIME_OMIT',
      '  ops.flag_utime_omit_ok = 1;',
      '#endif',
      '',
    ].join('\n'),
  },
  {
    // st_ino was 32 bits: the high half now travels in the dev field (which libfuse does not pass to the kernel).
    name: 'wide-ino',
    broken: '  stat->st_ino = *ints++;\n',
    fixed: ['  stat->st_ino = *ints++ | ((uint64_t) stat->st_dev << 32);', '  stat->st_dev = 0;', ''].join('\n'),
  },
];

/**
 * The source with every patch applied (a patch already there is kept), or
 * the name of the first patch whose text is in neither form: not the source
 * these patches are for.
 */
export function applyPatches(
  source: string,
  patches: readonly BindingPatch[],
): { text: string } | { unexpected: string } {
  let text = source;
  for (const patch of patches) {
    if (text.includes(patch.fixed)) continue;
    if (!text.includes(patch.broken)) return { unexpected: patch.name };
    text = text.replace(patch.broken, patch.fixed);
  }
  return { text };
}

/**
 * What hammerstate changes in fuse-native 2.2.6's C source before building
 * it (postinstall: rebuild-binding.ts), and how the mount learns which of
 * these the loaded binary has (binding.ts reads the marker the rebuild
 * leaves beside it). Each patch replaces one exact piece of the source; a
 * source where a piece is missing is left alone.
 */
export interface BindingPatch {
  name: string;
  /** The file of the package it changes (the C source is rebuilt; index.js is loaded as it is). */
  file: 'fuse-native.c' | 'index.js';
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
    file: 'fuse-native.c',
    broken: 'FUSE_UINT64_TO_INTS_ARGV(l->atime, 5)',
    fixed: 'FUSE_UINT64_TO_INTS_ARGV(l->mtime, 5)',
  },
  {
    // libfuse 2.9 drops a setattr that sets one time alone (touch -m, tar -x's mtime) unless the
    // filesystem says it takes UTIME_OMIT and UTIME_NOW; then it passes them, and so does this.
    name: 'utimens-omit',
    file: 'fuse-native.c',
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
    file: 'fuse-native.c',
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
    file: 'fuse-native.c',
    broken: '  stat->st_ino = *ints++;\n',
    fixed: ['  stat->st_ino = *ints++ | ((uint64_t) stat->st_dev << 32);', '  stat->st_dev = 0;', ''].join('\n'),
  },
  // The caller of each request (fuse_get_context on the FUSE thread: uid, gid, pid), which fuse-native never
  // passed: kept beside the request, read by a new native function, and copied into `fuse.caller` (index.js)
  // right before the operation is called, so a new file can belong to whoever made it.
  {
    name: 'caller',
    file: 'fuse-native.c',
    broken: '  int32_t res;\n',
    fixed: ['  int32_t res;', '  uid_t caller_uid;', '  gid_t caller_gid;', '  pid_t caller_pid;', ''].join('\n'),
  },
  {
    name: 'caller-capture',
    file: 'fuse-native.c',
    broken: ['  fuse_thread_locals_t *l = get_thread_locals();\\', '  l->op = op_##name;\\'].join('\n'),
    fixed: [
      '  fuse_thread_locals_t *l = get_thread_locals();\\',
      '  struct fuse_context *caller_ctx = fuse_get_context();\\',
      '  l->caller_uid = caller_ctx->uid;\\',
      '  l->caller_gid = caller_ctx->gid;\\',
      '  l->caller_pid = caller_ctx->pid;\\',
      '  l->op = op_##name;\\',
    ].join('\n'),
  },
  {
    name: 'caller-read',
    file: 'fuse-native.c',
    broken: 'NAPI_INIT() {\n',
    fixed: [
      'NAPI_METHOD(fuse_native_caller) {',
      '  NAPI_ARGV(2)',
      '  NAPI_ARGV_BUFFER_CAST(fuse_thread_locals_t *, l, 0);',
      '  NAPI_ARGV_BUFFER_CAST(uint32_t *, out, 1);',
      '  out[0] = l->caller_uid;',
      '  out[1] = l->caller_gid;',
      '  out[2] = l->caller_pid;',
      '  return NULL;',
      '}',
      '',
      'NAPI_INIT() {',
      '  NAPI_EXPORT_FUNCTION(fuse_native_caller)',
      '',
    ].join('\n'),
  },
  {
    name: 'caller-field',
    file: 'index.js',
    broken: '    this._sync = true\n',
    fixed: [
      '    this._sync = true',
      '',
      '    // hammerstate: who made the request an operation is called for (uid, gid, pid).',
      '    this.caller = new Uint32Array(3)',
      '',
    ].join('\n'),
  },
  {
    name: 'caller-set',
    file: 'index.js',
    broken: '        return self[funcName].apply(self, [boundSignal, ...args])\n',
    fixed: [
      '        if (binding.fuse_native_caller) binding.fuse_native_caller(nativeHandler, self.caller)',
      '        return self[funcName].apply(self, [boundSignal, ...args])',
      '',
    ].join('\n'),
  },
  // Names are bytes (POSIX): fuse-native made JavaScript strings of paths as UTF-8, so a name that is not
  // UTF-8 (a Latin-1 é) came as U+FFFD and two such names were one. Paths, names and link targets now cross
  // as Latin-1 strings, one character per byte, both ways; the operations turn them into the API's names
  // (storage/format/names.ts) and back. Strings the source makes from constants are ASCII: the same either way.
  {
    name: 'byte-names',
    file: 'fuse-native.c',
    broken: '#include <napi-macros.h>\n',
    fixed: [
      '#include <napi-macros.h>',
      '',
      '#define napi_create_string_utf8 napi_create_string_latin1',
      '#define NAPI_LATIN1(name, size, val) \\',
      '  char name[size]; \\',
      '  size_t name##_len; \\',
      '  if (napi_get_value_string_latin1(env, val, (char *) &name, size, &name##_len) != napi_ok) { \\',
      '    napi_throw_error(env, "EINVAL", "Expected string"); \\',
      '    return NULL; \\',
      '  }',
      '',
    ].join('\n'),
  },
  {
    name: 'byte-names-readdir',
    file: 'fuse-native.c',
    broken: '      NAPI_UTF8(name, 1024, raw_name)\n      int err = l->readdir_filler',
    fixed: '      NAPI_LATIN1(name, 1024, raw_name)\n      int err = l->readdir_filler',
  },
  {
    name: 'byte-names-readdir-stats',
    file: 'fuse-native.c',
    broken: '      NAPI_UTF8(name, 1024, raw_name)\n      napi_value raw_stat;',
    fixed: '      NAPI_LATIN1(name, 1024, raw_name)\n      napi_value raw_stat;',
  },
  {
    name: 'byte-names-readlink',
    file: 'fuse-native.c',
    broken: '  NAPI_ARGV_UTF8(linkname, l->len, 2)\n',
    fixed: '  NAPI_LATIN1(linkname, l->len, argv[2])\n',
  },
  // libfuse's getattr after a create, and the kernel's getattr with a file handle (a read near the end of a file),
  // come as fgetattr with the handle, which fuse-native answered with getattr of the path (its only getattr with
  // `if (err) return signal(err)`): the handle's own stat now, the file it names wherever that is, no path walked.
  {
    name: 'fgetattr-fd',
    file: 'index.js',
    broken: '    this.ops.getattr(path, (err, stat) => {\n      if (err) return signal(err)\n',
    fixed: '    this.ops.fgetattr(path, fd, (err, stat) => {\n      if (err) return signal(err)\n',
  },
];

/** The patches that together make names cross the binding as bytes (Latin-1 strings). */
export const BYTE_NAME_PATCHES = [
  'byte-names',
  'byte-names-readdir',
  'byte-names-readdir-stats',
  'byte-names-readlink',
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

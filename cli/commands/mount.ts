import type { Command } from 'commander';
import { auditOptions } from '../filesystem.js';
import { startInBackground } from '../fuse/background.js';
import { requireFuse, serveMount } from '../fuse/session.js';
import { EXIT_OK, note, printJson, say, UsageError } from '../output.js';

/**
 * `hammerstate mount <volume> <mountpoint>`: the volume as a FUSE filesystem
 * (docs/fuse.md). In the background by default (the command returns once
 * the mount is there; the server's messages go to `<volume>.mount.log`);
 * with --foreground it serves until SIGINT, SIGTERM or `fusermount -u`,
 * then flushes and exits 0. Without FUSE it says what to install and exits 2.
 */
export function registerMount(program: Command): void {
  const command = program
    .command('mount')
    .description('mount the volume with FUSE (stop with fusermount -u, or SIGINT/SIGTERM in the foreground)')
    .argument('<volume>', 'volume file')
    .argument('<mountpoint>', 'an existing directory')
    .option('--foreground', 'serve in this process until a signal or an unmount')
    .option('--allow-other', 'let other users use the mount (the kernel checks modes and owners for them)')
    .option(
      '--attr-timeout <seconds>',
      "how long the kernel keeps a file's attributes (default 1); 0: hard links see each other's size and link count at once",
    )
    .option('--json', 'background start: print {volume, mountpoint, pid, log} as one JSON object');
  auditOptions(command).action(
    async (
      volume: string,
      mountpoint: string,
      options: {
        foreground?: boolean;
        allowOther?: boolean;
        attrTimeout?: string;
        json?: boolean;
        audit?: string | false;
      },
    ) => {
      const attrTimeout = options.attrTimeout === undefined ? undefined : seconds(options.attrTimeout);
      requireFuse();
      if (options.foreground) {
        const code = await serveMount(volume, mountpoint, {
          audit: options.audit,
          allowOther: options.allowOther,
          attrTimeout,
          log: note,
          ready: (target) => say(`mounted ${volume} on ${target}`),
        });
        // fuse-native keeps a libuv handle referenced after an unmount from outside: end here, flushed.
        process.exit(code);
      }
      const args =
        options.audit === false ? ['--no-audit'] : options.audit === undefined ? [] : ['--audit', options.audit];
      if (options.allowOther) args.push('--allow-other');
      if (attrTimeout !== undefined) args.push('--attr-timeout', String(attrTimeout));
      const logPath = `${volume}.mount.log`;
      const started = await startInBackground(volume, mountpoint, args, logPath, note);
      if (options.json) printJson({ volume, mountpoint: started.mountpoint, pid: started.pid, log: logPath });
      else
        say(
          `mounted ${volume} on ${started.mountpoint} (pid ${started.pid}, log ${logPath}); stop with fusermount -u ${started.mountpoint}`,
        );
      process.exitCode = EXIT_OK;
    },
  );
}

/** A time-out in seconds: a finite number, 0 or more. */
function seconds(text: string): number {
  const value = Number(text);
  if (text.trim() === '' || !Number.isFinite(value) || value < 0)
    throw new UsageError('EINVAL', `--attr-timeout: seconds, 0 or more, not '${text}'`);
  return value;
}

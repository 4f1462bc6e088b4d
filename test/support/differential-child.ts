import { type Call, HostSide } from './differential.js';

/**
 * node:fs calls made in this process for a parent that forked it, as the
 * user given in argv (test/api-differential.test.ts: the host side of a
 * differential test run as `nobody`). Started as root, it takes that uid and
 * gid once its modules are loaded, so the repository need not be readable
 * by that user. One HostSide per directory; a message asks for a call's
 * answer or to close what a directory's sequence left open.
 */
interface Request {
  id: number;
  root: string;
  kind: 'apply' | 'closeAll';
  call?: Call;
}

const sides = new Map<string, HostSide>();

process.on('message', (request: Request) => {
  let side = sides.get(request.root);
  if (side === undefined) {
    side = new HostSide(request.root);
    sides.set(request.root, side);
  }
  const answer = (value: unknown) => process.send?.({ id: request.id, value });
  if (request.kind === 'closeAll') {
    side.closeAll();
    sides.delete(request.root);
    answer(undefined);
  } else {
    void side.apply(request.call as Call).then(answer);
  }
});
const [uid, gid] = process.argv.slice(2).map(Number);
process.setgroups?.([gid as number]);
process.setgid?.(gid as number);
process.setuid?.(uid as number);
process.send?.({ id: 0, value: 'ready' });

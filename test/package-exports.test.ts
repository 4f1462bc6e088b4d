import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import * as api from 'hammerstate';
import * as machines from 'hammerstate/machines';
import * as diagram from 'hammerstate/machines/diagram';
import { describe, expect, it } from 'vitest';
import * as actors from '../actors/index.js';
import { flushGroupMachine } from '../machines/flush-group.js';
import { inodeMachine } from '../machines/inode.js';
import { InodeFlag } from '../machines/inode-flags.js';

/**
 * The package's entry points ("exports" in package.json): the fs API as
 * `hammerstate`, the machines as `hammerstate/machines`, the diagrams as
 * `hammerstate/machines/diagram`. They point at the TypeScript sources (no
 * build step): they load under tsx (as the CLI does), vitest, or any
 * TypeScript-aware runtime, and plain node refuses them.
 */
const root = new URL('..', import.meta.url);

describe('package exports', () => {
  it('hammerstate/machines gives the machines, their flags and the coverage recorder', () => {
    expect(machines.inodeMachine).toBe(inodeMachine);
    expect(machines.flushGroupMachine).toBe(flushGroupMachine);
    expect(machines.flusherMachine.id).toBe('flusher');
    expect(machines.InodeFlag).toBe(InodeFlag);
    expect(new machines.MachineCoverage(machines.flushGroupMachine).report().unreached.states).toHaveLength(4);
    expect(diagram.renderMachines('mermaid', [machines.flushGroupMachine])).toContain('stateDiagram-v2');
  });

  it('hammerstate gives the fs API, the devices and clocks a caller needs', async () => {
    expect(api.mount).toBe(actors.mount);
    const device = new api.MemDevice(64 * 2 ** 20);
    await api.mkfs(device, { size: device.size, undoBytes: 8 * 2 ** 20, clock: api.logicalClock() });
    const fs = await api.mount(device, { clock: api.logicalClock() });
    await fs.writeFile('/x', 'y');
    expect(await fs.readFile('/x', 'utf8')).toBe('y');
    await expect(fs.readFile('/missing')).rejects.toBeInstanceOf(api.FsError);
    await fs.unmount();
  });

  it('node with tsx resolves the entry points by name; plain node refuses TypeScript', () => {
    const script = "const m = await import('hammerstate/machines'); console.log(typeof m.inodeMachine);";
    const withTsx = execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      cwd: root,
      encoding: 'utf8',
    });
    expect(withTsx.trim()).toBe('function');
    const plain = spawnSync(process.execPath, ['--input-type=module', '-e', script], { cwd: root, encoding: 'utf8' });
    expect(plain.status).not.toBe(0);
    expect(plain.stderr).toContain('ERR_UNKNOWN_FILE_EXTENSION');
  });

  it("docs/model-based-testing.md's worked example is test/mbt-example.test.ts, word for word", () => {
    const docs = readFileSync(new URL('docs/model-based-testing.md', root), 'utf8');
    const example = readFileSync(new URL('test/mbt-example.test.ts', root), 'utf8');
    const block = /```ts\n([\s\S]*?)```/.exec(docs)?.[1];
    expect(block).toBe(example);
  });
});

import type { Command } from 'commander';
import { walkTolerant } from '../../storage/btree.js';
import { nodeProblems } from '../../storage/btree-walk.js';
import { crcOf } from '../../storage/crc.js';
import { FsError } from '../../storage/errors.js';
import { type InternalElm, type LeafElm, NODE_TYPE_LEAF } from '../../storage/format/btree-node.js';
import { formatTid, NODE_BYTES, recTypeName, viewOf } from '../../storage/layout.js';
import { EXIT_OK, EXIT_PROBLEMS, hex, printJson, say } from '../output.js';
import { openReadOnly } from './open.js';

function leafJson(elm: LeafElm) {
  return {
    localization: hex(elm.localization, 8),
    objId: hex(elm.objId),
    recType: recTypeName(elm.recType),
    key: elm.key,
    createTid: formatTid(elm.createTid),
    deleteTid: formatTid(elm.deleteTid),
    objType: elm.objType,
    dataOffset: hex(elm.dataOffset),
    dataLen: elm.dataLen,
    dataCrc: hex(elm.dataCrc, 8),
  };
}

function internalJson(elm: InternalElm) {
  return {
    localization: hex(elm.localization, 8),
    objId: hex(elm.objId),
    recType: recTypeName(elm.recType),
    key: elm.key,
    createTid: formatTid(elm.createTid),
    subtree: hex(elm.subtreeOffset),
    mirrorTid: formatTid(elm.mirrorTid),
  };
}

/**
 * `hammer show`: every node of the B-tree with its elements. A node that
 * cannot be read, whose image fails its CRC, or that disagrees with its
 * parent (links, bounds, order, TIDs) is flagged `B` with the reason; the exit
 * code is then 1. The CRC is recomputed from the image, whatever path read it.
 */
export function registerShow(program: Command): void {
  program
    .command('show')
    .description('dump the B-tree like `hammer show`: nodes, elements, keys, TIDs, CRC status')
    .argument('<volume>', 'volume file')
    .option('--json', 'print the dump as one JSON object')
    .action((path: string, options: { json?: boolean }) => {
      const volume = openReadOnly(path);
      const nodes: unknown[] = [];
      let errors = 0;
      try {
        const stats = volume.stats();
        if (!options.json) {
          say(
            `volume '${stats.label}' generation ${stats.generation} next_tid ${formatTid(stats.nextTid)} root ${hex(stats.btreeRoot)}`,
          );
        }
        for (const step of walkTolerant((offset) => volume.nodeAt(offset), stats.btreeRoot)) {
          const indent = '  '.repeat(step.depth);
          if (step.node === undefined) {
            errors++;
            const what = step.error instanceof FsError ? step.error.message : String(step.error);
            nodes.push({ offset: hex(step.offset), depth: step.depth, crc: 'error', error: what });
            if (!options.json) say(`${indent}B NODE ${hex(step.offset)} ${what}`);
            continue;
          }
          const node = step.node;
          const leaf = node.type === NODE_TYPE_LEAF;
          const crcOk = viewOf(node.bytes).getUint32(0, true) === crcOf(node.bytes, 4, NODE_BYTES);
          const problems = nodeProblems({ ...step, node }).map((p) => p.what);
          if (!crcOk) problems.unshift('CRC does not match the image');
          if (problems.length > 0) errors++;
          const elms = leaf ? (node.elms as LeafElm[]).map(leafJson) : (node.elms as InternalElm[]).map(internalJson);
          nodes.push({
            offset: hex(node.offset),
            depth: step.depth,
            type: leaf ? 'leaf' : 'internal',
            count: node.count,
            parent: hex(node.parent),
            mirrorTid: formatTid(node.mirrorTid),
            crc: crcOk ? 'ok' : 'bad',
            problems,
            elms,
          });
          if (options.json) continue;
          const flag = problems.length > 0 ? 'B ' : '';
          say(
            `${indent}${flag}NODE ${hex(node.offset)} ${leaf ? 'L' : 'I'} count ${node.count} parent ${hex(node.parent)} mirror ${formatTid(node.mirrorTid)} crc ${crcOk ? 'ok' : 'BAD'}`,
          );
          for (const what of problems) say(`${indent}B   ${what}`);
          elms.forEach((elm, i) => {
            const tail =
              'subtree' in elm
                ? `subtree ${elm.subtree}`
                : `delete ${elm.deleteTid} data ${elm.dataOffset}/${elm.dataLen}`;
            say(
              `${indent}  ${String(i).padStart(2)} ${elm.localization} obj ${elm.objId} ${elm.recType} key ${elm.key} create ${elm.createTid} ${tail}`,
            );
          });
        }
        if (options.json) printJson({ volume: path, root: hex(stats.btreeRoot), errors, nodes });
        else if (errors > 0) say(`${errors} nodes flagged B`);
      } finally {
        volume.close();
      }
      process.exitCode = errors > 0 ? EXIT_PROBLEMS : EXIT_OK;
    });
}

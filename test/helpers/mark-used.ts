/**
 * Child process for the cross-process single-use test: opens a node's store, waits for "go" from
 * the parent (so the children race), calls markUsed once for each id, all at once, and reports
 * each outcome. Arguments: <root> <nodeId> <presigId>...
 * @module
 */
import { Presignatures } from '../../src/node/storage/presignatures.js';
import { openNode } from './storage.js';

const [root, nodeId, ...ids] = process.argv.slice(2) as [string, string, ...string[]];
const send = (m: unknown): void => void process.send?.(m);

const { store } = await openNode(root, nodeId);
const presigs = new Presignatures(store);
process.once('message', () => {
  void Promise.allSettled(ids.map((id) => presigs.markUsed(id))).then((results) => {
    send({
      results: results.map((r) =>
        r.status === 'fulfilled' ? 'ok' : r.reason instanceof Error ? r.reason.message : String(r.reason),
      ),
    });
    process.disconnect();
  });
});
send({ ready: true });

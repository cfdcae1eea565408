/**
 * One malicious node against the group monitor's finalize/abandon path, end to end in one process:
 * three real NodeServices, the real orchestrator and group monitor, and node_3 behind a filter that
 * behaves as a malicious node would. When a rotation makes a new aux-info (the real protocol, about
 * half a minute) it withholds its own confirmation in that run, so node_1
 * and node_2 stage the successor and wait while node_3 commits it; it answers "aborted" with nobody
 * blamed, hands its evidence to the first `evidence` request only, signs an abandonment of the run
 * it confirmed for whoever asks, and refuses every later aux-info run.
 *
 * Under the old rule (one party's abandonment drops a pending state) node_1 committed on node_3's
 * evidence and node_2 dropped its pending state: the honest pair ended on different aux-info and
 * could never sign together. Now every node must end on the same committed epoch.
 */
import test from 'ava';
import { sign, type KeyObject } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { abandonmentDigest } from '../../src/protocol/abandonment.js';
import { ROUND as AUX_ROUND } from '../../src/protocol/aux/messages.js';
import { decodeEnvelope } from '../../src/envelope/envelope.js';
import { decodeJson, encodeJson, RPC_VERSION, type Request } from '../../src/rpc/messages.js';
import { NodeCluster } from '../../src/coordinator/cluster.js';
import { GroupMonitor } from '../../src/coordinator/group.js';
import type { InProcessNodeLink } from '../../src/coordinator/links.js';
import type { NodeLink } from '../../src/coordinator/node-link.js';
import { Orchestrator } from '../../src/coordinator/orchestrator.js';
import { NODE_IDS } from '../helpers/coordinator.js';
import { startInProcessNodes } from '../helpers/in-process-nodes.js';

type Json = Record<string, unknown>;

/** node_3 as a malicious node: the real NodeService behind the split-aux filter. */
class SplitAuxNode implements NodeLink {
  readonly nodeId = NODE_IDS[2];
  readonly index = 2;
  readonly log: string[] = [];
  private auxRuns = 0;
  private readonly auxSessions = new Set<string>();
  private evidence: string[] | undefined;
  private served = 0;

  constructor(
    private readonly inner: InProcessNodeLink,
    private readonly privateKey: KeyObject,
  ) {}

  async request(req: Request, timeoutMs?: number): Promise<unknown> {
    const real = async (): Promise<Json> => (await this.inner.request(req, timeoutMs)) as Json;
    switch (req.method) {
      case 'prepare':
        if (req.protocol !== 'aux') return real();
        if (this.auxRuns > 0) return { ok: false, code: 'busy', error: 'not now' };
        this.auxRuns++;
        this.auxSessions.add(req.sessionId);
        return real();
      case 'start':
      case 'deliver': {
        const a = await real();
        if (!this.auxSessions.has(req.sessionId) || a.ok !== true) return a;
        const outbox = a.outbox as { to: number | 'all'; envelope: string }[];
        a.outbox = outbox.filter((o) => decodeEnvelope(Buffer.from(o.envelope, 'base64')).round !== AUX_ROUND.confirm);
        if (a.status === 'done') {
          this.evidence = a.evidence as string[];
          this.log.push('committed the run itself, withholding its confirmation');
          return {
            ok: true,
            status: 'aborted',
            outbox: [],
            abort: { culprits: [], code: 'storage-failed', reason: 'could not store the output: disk busy' },
          };
        }
        return a;
      }
      case 'evidence':
        if (req.scope === 'aux' && this.evidence) {
          if (this.served++ === 0) {
            this.log.push('evidence handed over once');
            return { ok: true, protocol: 'aux', epoch: 2, envelopes: this.evidence };
          }
          this.log.push('evidence refused');
          return { ok: false, code: 'no-evidence', error: 'no commit evidence for this scope' };
        }
        return real();
      case 'abandon': {
        this.log.push('signed an abandonment of a run it confirmed');
        const signature = sign(null, abandonmentDigest(req.scope, Buffer.from(req.sid, 'hex')), {
          key: this.privateKey,
          dsaEncoding: 'ieee-p1363',
        });
        return { ok: true, by: this.index, signature: signature.toString('hex') };
      }
      default:
        return real();
    }
  }
}

let root = '';
test.before(async () => {
  root = await mkdtemp(join(tmpdir(), 'mpc-split-aux-'));
});
test.after.always(() => rm(root, { recursive: true, force: true }));

test('F1: a node that confirms a run, hands its evidence to one node only and then abandons it leaves every node on the same committed aux-info', async (t) => {
  t.timeout(300_000);
  const { keys, services, links: plain } = await startInProcessNodes(root);
  const evil = new SplitAuxNode(plain[2]!, keys[2]!.privateKey);
  const cluster = new NodeCluster([plain[0]!, plain[1]!, evil], 2);
  const monitor = new GroupMonitor({ cluster, runner: new Orchestrator(), pollMs: 100, retryMs: 500 });
  const info = async (k: number): Promise<Json> =>
    decodeJson(await services[k]!.handleBytes(encodeJson({ v: RPC_VERSION, method: 'info' }))) as Json;
  for (const k of [0, 1, 2]) monitor.onConnected(k);
  const ready = Date.now() + 20_000;
  while (!cluster.keygenReadiness().ready && Date.now() < ready) await new Promise((r) => setTimeout(r, 20));
  // a rotation's new aux-info (a disagreement never starts one): node_3 sabotages that run
  await monitor.renewAux().catch(() => undefined);

  // the attack has run once node_3 was asked for its evidence or its abandonment; then the
  // monitor gets a few retry intervals to do whatever it does next
  const end = Date.now() + 240_000;
  while (!evil.log.some((l) => l.startsWith('evidence') || l.startsWith('signed')) && Date.now() < end)
    await new Promise((r) => setTimeout(r, 100));
  t.true(
    evil.log.includes('committed the run itself, withholding its confirmation'),
    `the attack ran: ${evil.log.join('; ')}`,
  );
  await new Promise((r) => setTimeout(r, 3_000));
  await monitor.idle();
  monitor.stop();

  const infos = await Promise.all([0, 1, 2].map(info));
  t.deepEqual(
    infos.map((i) => i.auxEpoch),
    [2, 2, 2],
    `every node on the new epoch (node log: ${evil.log.join('; ')})`,
  );
  t.is(new Set(infos.map((i) => i.auxId)).size, 1, 'one aux-info');
  t.true(
    infos.every((i) => i.auxPending === undefined),
    'nothing left pending',
  );
  t.is(cluster.signerLinks().length, 3, 'the honest pair (and everyone) can sign together');
});

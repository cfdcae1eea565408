/**
 * The coordinator process as users start it (`node dist/src/coordinator/main.js local`, no nodes
 * running): its wallet API listens on loopback (env/.env.local), presents the certificate of
 * COORDINATOR_HTTPS_CERT/KEY (here from a public CA of its own, not the deployment's), answers
 * /health with the status alone to a caller without a credential, and serves /metrics to the
 * metrics token only.
 */
import test from 'ava';
import { join } from 'node:path';
import type { HttpAnswer } from '../helpers/coordinator.js';
import { httpsCall } from '../helpers/https-api.js';
import { Cluster, TOKEN } from '../helpers/processes.js';
import { makePki } from '../helpers/transport.js';

const METRICS_TOKEN = 'Bearer scraper_secret_token_0002';

test('the coordinator wires host, API certificate and metrics token into its HTTPS API', async (t) => {
  const apiPki = await makePki(); // a CA of its own, as a public or internal web CA would be
  const apiCert = { cert: join(apiPki.dir, 'public', 'api.crt'), key: join(apiPki.dir, 'public', 'api.key') };
  const cluster = await Cluster.create({
    COORDINATOR_HTTPS_CERT: apiCert.cert,
    COORDINATOR_HTTPS_KEY: apiCert.key,
    COORDINATOR_METRICS_TOKEN: METRICS_TOKEN,
  });
  t.teardown(async () => {
    await cluster.close();
    await apiPki.cleanup();
  });
  cluster.startCoordinator();
  const url = `https://127.0.0.1:${cluster.httpsPort}`;
  const call = (path: string, headers: Record<string, string> = {}): Promise<HttpAnswer> =>
    httpsCall(url, apiPki.publicCaPem, 'GET', path, { headers });
  const health = await cluster.until(
    'the wallet API',
    async () => {
      try {
        return await call('/health');
      } catch {
        return undefined;
      }
    },
    60_000,
  );
  t.is(health.status, 503, 'no nodes running');
  t.deepEqual(health.json, { status: 'unavailable' });
  t.like((await call('/health', { authorization: TOKEN })).json, {
    status: 'unavailable',
    connectedNodes: 0,
    totalNodes: 3,
  });
  await t.throwsAsync(
    httpsCall(url, cluster.ca, 'GET', '/health'),
    undefined,
    'the deployment CA does not vouch for the API certificate',
  );
  t.is((await call('/metrics', { authorization: METRICS_TOKEN })).status, 200);
  t.is((await call('/metrics', { authorization: TOKEN })).status, 401);
  t.regex(cluster.allLogs(), /"host":"127\.0\.0\.1".*wallet API listening/);
  t.false(cluster.allLogs().includes('scraper_secret_token'), 'the metrics token is not logged');
});

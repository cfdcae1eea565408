/**
 * The node's address allow-list (ENABLE_KERNEL_FIREWALL): the predicate, the server dropping an
 * address at accept time before TLS, and the nftables ruleset it prints.
 */
import test from 'ava';
import { connect as netConnect } from 'node:net';
import { createAllowList, nftablesRuleset, normaliseAddress } from '../../src/transport/firewall.js';
import { COORDINATOR, nodeIdentity } from '../../src/transport/identity.js';
import type { Rejection } from '../../src/transport/server.js';
import { dial, makePki, next, startServer, type Pki } from '../helpers/transport.js';

const node1 = nodeIdentity('node_1');

let pki: Pki;
test.before(async () => {
  pki = await makePki();
});
test.after.always(() => pki.cleanup());

test('the allow-list matches IPv4, IPv4-mapped IPv6 and IPv6 addresses exactly', (t) => {
  const allowed = createAllowList(['10.0.0.100', 'FE80::1']);
  t.true(allowed('10.0.0.100'));
  t.true(allowed('::ffff:10.0.0.100'));
  t.true(allowed('fe80::1'));
  t.false(allowed('10.0.0.10'));
  t.false(allowed('10.0.0.1000'));
  t.false(allowed(undefined));
  t.is(normaliseAddress('::FFFF:127.0.0.1'), '127.0.0.1');
  t.throws(() => createAllowList(['10.0.0.0/8']), { instanceOf: RangeError });
  t.throws(() => createAllowList(['coordinator.example.com']), { instanceOf: RangeError });
});

test('a node with the allow-list drops other addresses before TLS and admits the trusted one', async (t) => {
  const closed = await startServer(pki, node1, { allowedAddresses: ['10.9.9.9'] });
  t.teardown(() => closed.server.close());
  const rejected = next<Rejection>(closed.server, 'rejected');
  // A plain TCP client sees the socket closed without a single byte: no TLS was offered.
  const received = await new Promise<number>((resolve) => {
    let bytes = 0;
    const s = netConnect(closed.port, '127.0.0.1');
    s.on('data', (d) => (bytes += d.length));
    s.on('error', () => undefined);
    s.on('close', () => resolve(bytes));
  });
  t.is(received, 0);
  const r = await rejected;
  t.is(r.stage, 'address');
  t.is(r.remoteAddress, '127.0.0.1');
  await t.throwsAsync(dial(pki, COORDINATOR, closed.port, node1));

  const open = await startServer(pki, node1, { allowedAddresses: ['127.0.0.1'] });
  t.teardown(() => open.server.close());
  const c = await dial(pki, COORDINATOR, open.port, node1);
  t.true(c.ready);
  c.close();
});

test('the nftables ruleset accepts the coordinator on the node port and drops the rest', (t) => {
  const rules = nftablesRuleset({ ports: [8081], trustedCoordinatorIps: ['10.0.0.100'], nodeId: 'node_1' });
  t.regex(rules, /^table inet mpc_engine_node$/m);
  t.regex(rules, /^delete table inet mpc_engine_node$/m);
  t.regex(rules, /type filter hook input priority filter; policy accept;/);
  t.regex(rules, /tcp dport 8081 ip saddr 10\.0\.0\.100 accept/);
  t.regex(rules, /tcp dport 8081 counter drop/);
  t.true(rules.indexOf('accept\n') < rules.indexOf('counter drop'), 'accept before drop');
  t.regex(rules, /node_1/);

  const v6 = nftablesRuleset({ ports: [8081, 8082], trustedCoordinatorIps: ['2001:db8::10'] });
  t.regex(v6, /tcp dport \{ 8081, 8082 \} ip6 saddr 2001:db8::10 accept/);
  t.regex(nftablesRuleset({ ports: [1], trustedCoordinatorIps: ['::ffff:10.1.2.3'] }), /ip saddr 10\.1\.2\.3 accept/);

  // Nothing from the inputs reaches the ruleset unchecked.
  t.throws(() => nftablesRuleset({ ports: [8081], trustedCoordinatorIps: ['10.0.0.1; flush ruleset'] }), {
    instanceOf: RangeError,
  });
  t.throws(() => nftablesRuleset({ ports: [0], trustedCoordinatorIps: ['10.0.0.1'] }), { instanceOf: RangeError });
  t.throws(() => nftablesRuleset({ ports: [], trustedCoordinatorIps: ['10.0.0.1'] }), { instanceOf: RangeError });
  t.throws(() => nftablesRuleset({ ports: [8081], trustedCoordinatorIps: ['10.0.0.1'], table: 'x; flush' }), {
    instanceOf: RangeError,
  });
});

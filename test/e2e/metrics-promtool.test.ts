// `promtool check metrics` on the /metrics of a running daemon with NAT flows, the embedded DNS,
// NAT-PMP/PCP and an overlay network: no problems at all (promtool prints nothing and exits 0).

import { afterAll, beforeAll, expect } from 'vitest';
import { cleanupAll, freePort, nsExec, parseMetrics, ping, run } from './harness.js';
import { type Container, FAR_A, type NatWorld, buildNatWorld, cleanupNatWorlds } from './nat-world.js';
import { needs, root, tools } from './requirements.js';

const suite = needs(root, tools('ip', 'ping', 'dig', 'natpmpc', 'promtool', 'timeout'));

suite.describe('promtool check metrics', () => {
  let w: NatWorld;
  let c1: Container;

  beforeAll(async () => {
    w = await buildNatWorld({
      kind: 'tap',
      set: {
        'nat.pcp.enabled': true,
        // an overlay network on this host alone: its VXLAN families appear; the underlay port is a free one
        'cluster.store': 'none',
        'cluster.advertise': '127.0.0.1',
        'cluster.vxlanPort': await freePort(),
      },
    });
    c1 = await w.connect('c1');
    await w.daemon.cliOk(['network', 'create', '-d', 'overlay', '--subnet', '10.213.7.0/24', '--vni', '7213', `ov${w.prefix.slice(4)}`]);
  }, 120_000);

  afterAll(async () => {
    await cleanupNatWorlds();
    await cleanupAll();
  });

  suite.it('finds no problem in a real daemon\'s /metrics', async () => {
    // traffic for each family: a NAT flow, a local and a refused DNS name, a NAT-PMP mapping
    expect((await ping(c1.ns, FAR_A, { count: 2, intervalS: 0.2, waitS: 2 })).lossPercent).toBe(0);
    await nsExec(c1.ns, ['dig', '+short', '+time=2', '+tries=1', `@${w.gateway}`, 'c1']);
    await nsExec(c1.ns, ['dig', '+short', '+time=2', '+tries=1', `@${w.gateway}`, 'example.org']);
    await nsExec(c1.ns, ['timeout', '-s', 'KILL', '20', 'natpmpc', '-g', w.gateway, '-a', '4100', '4100', 'tcp', '60'], { timeoutMs: 25_000 });

    const text = await w.daemon.metrics();
    const m = parseMetrics(text);
    const families = new Set([...m.keys()].map((k) => k.replace(/\{.*$/, '')));
    for (const f of [
      'pontoon_port_rx_packets_total',
      'pontoon_conntrack_entries',
      'pontoon_nat_ports_in_use',
      'pontoon_dns_queries_total',
      'pontoon_pcp_mappings',
      'pontoon_vxlan_rx_packets_total',
      'pontoon_process_nodejs_active_handles',
    ]) {
      expect(families, f).toContain(f);
    }
    // the gauges promtool flagged are gone; their labelled sums stay
    for (const gone of ['handles', 'requests', 'resources']) expect(families).not.toContain(`pontoon_process_nodejs_active_${gone}_total`);

    const r = await run(['promtool', 'check', 'metrics'], { input: text, timeoutMs: 20_000 });
    expect(r.stdout + r.stderr).toBe('');
    expect(r.code).toBe(0);
  });
});

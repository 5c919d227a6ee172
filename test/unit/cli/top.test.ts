// `pontoon top`: rates from two counter samples, the table and the JSON, run in-process against a
// fake client whose counters move between the samples.

import { describe, expect, it } from 'vitest';
import type { ApiClientLike } from '../../../src/cli/api-client.js';
import { formatRate, formatTop, topView } from '../../../src/cli/commands/top.js';
import { runCli } from '../../../src/cli/program.js';
import type { CountersReport } from '../../../src/control/api-types.js';

const A: CountersReport = {
  time: 1_700_000_000_000,
  ports: [
    { id: 1, name: 'eth0@c1', kind: 'tap', network: 'bridge', rxPackets: 100, rxBytes: 10_000, txPackets: 50, txBytes: 5_000 },
    { id: 2, name: 'eth0@c2', kind: 'tap', network: 'bridge', rxPackets: 0, rxBytes: 0, txPackets: 0, txBytes: 0 },
    { id: 0, name: 'pontoon0', kind: 'tun', network: null, rxPackets: 7, rxBytes: 700, txPackets: 7, txBytes: 700 },
  ],
  drops: { no_route: 4, malformed: 0, conntrack_full: 1 },
  conntrack: { entries: 10, max: 1000 },
  natPorts: { tcp: 1, udp: 2, icmp: 0 },
  overlays: [{ network: 'ov', vni: 42, rxPackets: 1, rxBytes: 100, txPackets: 1, txBytes: 100 }],
};

/** 2 s later: c1 sent 200 frames of 1500 bytes, c3 appeared, two more no_route drops */
const B: CountersReport = {
  time: A.time + 2000,
  ports: [
    { id: 1, name: 'eth0@c1', kind: 'tap', network: 'bridge', rxPackets: 300, rxBytes: 310_000, txPackets: 150, txBytes: 55_000 },
    { id: 2, name: 'eth0@c2', kind: 'tap', network: 'bridge', rxPackets: 0, rxBytes: 0, txPackets: 2, txBytes: 200 },
    { id: 0, name: 'pontoon0', kind: 'tun', network: null, rxPackets: 7, rxBytes: 700, txPackets: 7, txBytes: 700 },
    { id: 3, name: 'eth0@c3', kind: 'tap', network: 'backend', rxPackets: 5, rxBytes: 500, txPackets: 0, txBytes: 0 },
  ],
  drops: { no_route: 6, malformed: 0, conntrack_full: 1 },
  conntrack: { entries: 12, max: 1000 },
  natPorts: { tcp: 3, udp: 2, icmp: 1 },
  overlays: [{ network: 'ov', vni: 42, rxPackets: 21, rxBytes: 2100, txPackets: 1, txBytes: 100 }],
};

describe('pontoon top', () => {
  it('computes per-port, per-network and per-overlay rates and drop rates from two samples', () => {
    const v = topView(A, B);
    expect(v.time).toBe('2023-11-14T22:13:22.000Z');
    expect(v.intervalSeconds).toBe(2);
    expect(v.ports[0]).toEqual({
      id: 1, name: 'eth0@c1', kind: 'tap', network: 'bridge',
      rxPackets: 300, rxBytes: 310_000, txPackets: 150, txBytes: 55_000,
      rxPacketsPerSecond: 100, rxBytesPerSecond: 150_000, txPacketsPerSecond: 50, txBytesPerSecond: 25_000,
    });
    // a port the first sample did not have has no rate yet
    expect(v.ports[3]!.rxPacketsPerSecond).toBeNull();
    expect(v.networks).toEqual([
      { name: 'backend', ports: 1, rxPacketsPerSecond: 0, rxBytesPerSecond: 0, txPacketsPerSecond: 0, txBytesPerSecond: 0 },
      { name: 'bridge', ports: 2, rxPacketsPerSecond: 100, rxBytesPerSecond: 150_000, txPacketsPerSecond: 51, txBytesPerSecond: 25_100 },
    ]);
    expect(v.overlays[0]).toMatchObject({ network: 'ov', vni: 42, rxPacketsPerSecond: 10, rxBytesPerSecond: 1000 });
    expect(v.drops).toEqual([
      { reason: 'no_route', packets: 6, perSecond: 1 },
      { reason: 'conntrack_full', packets: 1, perSecond: 0 },
    ]);
    expect(v.conntrack).toEqual({ entries: 12, max: 1000 });
    expect(v.natPorts).toEqual({ tcp: 3, udp: 2, icmp: 1 });
  });

  it('prints rates with SI prefixes', () => {
    expect([0, 0.5, 7, 999, 1000, 1234, 99_949, 150_000, 2_500_000, 3e9, null].map(formatRate)).toEqual([
      '0', '0.5', '7', '999', '1.0k', '1.2k', '99.9k', '150k', '2.5M', '3.0G', '-',
    ]);
  });

  it('prints the table', () => {
    expect(formatTop(topView(A, B))).toBe(
      [
        'pontoon top: 2023-11-14T22:13:22.000Z, rates over 2.0 s',
        'Conntrack: 12 of 1000 entries (1.2%)   NAT ports in use: tcp 3, udp 2, icmp 1',
        '',
        'NETWORK   PORTS     RX-PKT/S   RX-B/S    TX-PKT/S   TX-B/S',
        'backend   1         0          0         0          0',
        'bridge    2         100        150k      51         25.1k',
        '',
        'PORT       KIND      NETWORK   RX-PKT/S   RX-B/S    TX-PKT/S   TX-B/S',
        'eth0@c1    tap       bridge    100        150k      50         25.0k',
        'eth0@c2    tap       bridge    0          0         1          100',
        'pontoon0   tun       -         0          0         0          0',
        'eth0@c3    tap       backend   -          -         -          -',
        '',
        'OVERLAY   VNI       RX-PKT/S   RX-B/S    TX-PKT/S   TX-B/S',
        'ov        42        10         1.0k      0          0',
        '',
        'DROP-REASON      PKT/S     TOTAL',
        'no_route         1         6',
        'conntrack_full   0         1',
        '',
      ].join('\n'),
    );
  });

  it('--once --format json samples twice an interval apart through the API and prints one object', async () => {
    const samples = [A, B];
    const paths: string[] = [];
    const client: ApiClientLike = {
      request: async <T>(method: string, path: string): Promise<T> => {
        paths.push(`${method} ${path}`);
        return samples.shift() as T;
      },
    };
    let out = '';
    let err = '';
    const code = await runCli(['top', '--once', '--format', 'json', '-n', '0.1'], { out: (s) => (out += s), err: (s) => (err += s) }, () => client);
    expect(err).toBe('');
    expect(code).toBe(0);
    expect(paths).toEqual(['GET /v1/counters', 'GET /v1/counters']);
    expect(out.endsWith('\n')).toBe(true);
    expect(JSON.parse(out)).toEqual(JSON.parse(JSON.stringify(topView(A, B))));
  });

  it('refuses --format json without --once and a bad interval', async () => {
    let err = '';
    const io = { out: () => undefined, err: (s: string) => (err += s) };
    expect(await runCli(['top', '--format', 'json'], io, () => ({ request: async () => A as never }))).toBe(1);
    expect(err).toBe('Error: --format json needs --once (one JSON object per run)\n');
    err = '';
    expect(await runCli(['top', '-n', '0'], io, () => ({ request: async () => A as never }))).toBe(2);
    expect(err).toContain('Expected seconds between 0.1 and 3600.');
  });
});

// `pontoon top` on a real daemon with traffic flowing: a container pings a far host through the
// NAT uplink (50 per second) while top samples the counters, so its rates are not zero.

import { afterAll, beforeAll, expect } from 'vitest';
import { cleanupAll, cliPath } from './harness.js';
import { type Background, type Container, FAR_A, type NatWorld, buildNatWorld, cleanupNatWorlds, startBackground } from './nat-world.js';
import { needs, root, tools } from './requirements.js';

interface Rates {
  rxPacketsPerSecond: number | null;
  rxBytesPerSecond: number | null;
  txPacketsPerSecond: number | null;
  txBytesPerSecond: number | null;
}
interface TopJson {
  time: string;
  intervalSeconds: number;
  networks: ({ name: string; ports: number } & Rates)[];
  ports: ({ name: string; kind: string; network: string | null; rxPackets: number; txPackets: number } & Rates)[];
  drops: { reason: string; packets: number; perSecond: number }[];
  conntrack: { entries: number; max: number };
  natPorts: { tcp: number; udp: number; icmp: number };
}

const suite = needs(root, tools('ip', 'ping', 'timeout'));

suite.describe('pontoon top', () => {
  let w: NatWorld;
  let c1: Container;
  let pinger: Background;

  beforeAll(async () => {
    w = await buildNatWorld({ kind: 'tap', set: { 'conntrack.max': 5000 } });
    c1 = await w.connect('c1');
    // 50 echo requests a second for at most 30 s: the traffic every test below samples
    pinger = startBackground(c1.ns, ['ping', '-n', '-q', '-i', '0.02', '-c', '1500', FAR_A], 40);
    expect(await w.daemon.cli(['conntrack', 'ls'])).toMatchObject({ code: 0 });
  }, 120_000);

  afterAll(async () => {
    await pinger?.stop();
    await cleanupNatWorlds();
    await cleanupAll();
  });

  const portName = () => `eth0@${c1.ns}`;

  suite.it('--once --format json: rates of the container\'s port and its network, conntrack and NAT use', async () => {
    const r = await w.daemon.cliOk(['top', '--once', '--format', 'json']);
    const v = JSON.parse(r.stdout) as TopJson;
    expect(v.intervalSeconds).toBeGreaterThan(0.9);
    expect(v.intervalSeconds).toBeLessThan(3);
    const port = v.ports.find((p) => p.name === portName());
    expect(port, r.stdout).toBeDefined();
    expect(port!.network).toBe('bridge');
    // 50 requests out of the container and 50 replies back per second (rx: from the container)
    expect(port!.rxPacketsPerSecond).toBeGreaterThan(25);
    expect(port!.rxPacketsPerSecond).toBeLessThan(80);
    expect(port!.txPacketsPerSecond).toBeGreaterThan(25);
    expect(port!.rxBytesPerSecond).toBeGreaterThan(25 * 98); // an echo request frame: 98 bytes
    const bridge = v.networks.find((n) => n.name === 'bridge');
    expect(bridge).toMatchObject({ ports: 1 });
    expect(bridge!.rxPacketsPerSecond).toBe(port!.rxPacketsPerSecond);
    const uplink = v.ports.find((p) => p.kind === 'uplink');
    expect(uplink!.txPacketsPerSecond).toBeGreaterThan(25);
    expect(v.conntrack.max).toBe(5000);
    expect(v.conntrack.entries).toBeGreaterThanOrEqual(1);
    expect(v.natPorts.icmp).toBeGreaterThanOrEqual(1);
  });

  suite.it('--once: the table shows the same, with rates that are not zero', async () => {
    const r = await w.daemon.cliOk(['top', '--once']);
    const lines = r.stdout.split('\n');
    expect(lines[0]).toMatch(/^pontoon top: \d{4}-\d\d-\d\dT[\d:.]+Z, rates over 1\.\d s$/);
    expect(lines[1]).toMatch(/^Conntrack: [1-9]\d* of 5000 entries \(\d+\.\d%\) {3}NAT ports in use: tcp \d+, udp \d+, icmp [1-9]\d*$/);
    expect(lines).toContainEqual(expect.stringMatching(/^NETWORK\s+PORTS\s+RX-PKT\/S\s+RX-B\/S\s+TX-PKT\/S\s+TX-B\/S$/));
    const row = lines.find((l) => l.startsWith(`${portName()} `));
    expect(row, r.stdout).toBeDefined();
    const [, kind, network, rxPps, rxBps, txPps] = row!.split(/\s+/);
    expect([kind, network]).toEqual(['tap', 'bridge']);
    for (const n of [rxPps, txPps]) expect(Number(n)).toBeGreaterThan(25);
    expect(rxBps).toMatch(/^\d+(\.\d)?k$/); // thousands of bytes a second
  });

  suite.it('live: a frame every interval until SIGTERM, then exits 0', async () => {
    const top = startBackground(null, [process.execPath, cliPath(), '--socket', w.daemon.config.api.socket, 'top', '-n', '0.3'], 20);
    expect(await top.waitForOutput(/(pontoon top:[\s\S]*){3}/, 10_000)).toBe(true);
    const r = await top.stop();
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    const frames = r.stdout.split('pontoon top: ').slice(1);
    expect(frames.length).toBeGreaterThanOrEqual(3);
    for (const f of frames) expect(f).toContain(`${portName()} `);
  });
});

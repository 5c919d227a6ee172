import { describe, expect, it, vi } from 'vitest';
import { runCli } from '../../../src/cli/program.js';
import type { ConntrackEntryResource } from '../../../src/control/api-types.js';
import { fakeClients } from './fixtures.js';

vi.mock('../../../src/control/daemon.js', () => ({ runDaemon: vi.fn(async () => undefined) }));

async function run(args: string[], answer: (method: string, path: string, body: unknown) => unknown = () => undefined) {
  const { calls, factory } = fakeClients(answer);
  let out = '';
  let err = '';
  const code = await runCli(args, { out: (s) => void (out += s), err: (s) => void (err += s) }, factory, {});
  return { code, out, err, calls };
}

const FLOWS: ConntrackEntryResource[] = [
  {
    proto: 'tcp',
    protoNumber: 6,
    timeoutSeconds: 431999,
    state: 'ESTABLISHED',
    orig: { src: '172.17.0.2', dst: '203.0.113.10', sport: 40000, dport: 80 },
    reply: { src: '203.0.113.10', dst: '198.51.100.2', sport: 80, dport: 40000 },
    flags: ['ASSURED', 'SNAT'],
    packets: [5, 4],
    bytes: [344, 468],
  },
  {
    proto: 'udp',
    protoNumber: 17,
    timeoutSeconds: 29,
    state: '',
    orig: { src: '172.17.0.2', dst: '203.0.113.10', sport: 5000, dport: 3478 },
    reply: { src: '203.0.113.10', dst: '198.51.100.2', sport: 3478, dport: 5000 },
    flags: ['UNREPLIED', 'SNAT'],
    packets: [1, 0],
    bytes: [48, 0],
  },
  {
    proto: 'icmp',
    protoNumber: 1,
    timeoutSeconds: 26,
    state: '',
    orig: { src: '172.17.0.2', dst: '198.51.100.1', sport: 28416, dport: 0 },
    reply: { src: '198.51.100.1', dst: '198.51.100.2', sport: 28416, dport: 0 },
    flags: ['SNAT'],
    packets: [2, 2],
    bytes: [168, 168],
  },
];

describe('conntrack', () => {
  it('lists flows in conntrack -L format', async () => {
    const r = await run(['conntrack', 'ls'], () => FLOWS);
    expect(r.code).toBe(0);
    expect(r.calls[0]).toMatchObject({ method: 'GET', path: '/v1/conntrack' });
    expect(r.out).toBe(
      'tcp      6 431999 ESTABLISHED src=172.17.0.2 dst=203.0.113.10 sport=40000 dport=80 packets=5 bytes=344 src=203.0.113.10 dst=198.51.100.2 sport=80 dport=40000 packets=4 bytes=468 [ASSURED]\n' +
        'udp      17 29 src=172.17.0.2 dst=203.0.113.10 sport=5000 dport=3478 packets=1 bytes=48 [UNREPLIED] src=203.0.113.10 dst=198.51.100.2 sport=3478 dport=5000 packets=0 bytes=0\n' +
        'icmp     1 26 src=172.17.0.2 dst=198.51.100.1 id=28416 packets=2 bytes=168 src=198.51.100.1 dst=198.51.100.2 id=28416 packets=2 bytes=168\n',
    );
    expect(r.err).toBe('pontoon conntrack: 3 flow entries have been shown.\n');
  });

  it('prints JSON with --format json', async () => {
    const r = await run(['conntrack', 'ls', '--format', 'json'], () => FLOWS);
    expect(JSON.parse(r.out)).toEqual(FLOWS);
  });

  it('flushes', async () => {
    const r = await run(['conntrack', 'flush'], () => ({ flushed: 3 }));
    expect(r.calls[0]).toMatchObject({ method: 'DELETE', path: '/v1/conntrack' });
    expect(r.out).toBe('3 flow entries have been deleted.\n');
  });
});

describe('port and connect --publish', () => {
  const MAPS = [
    { proto: 'tcp', hostIp: '0.0.0.0', hostPort: 8080, containerPort: 80, network: 'bridge', containerIp: '172.17.0.3' },
    { proto: 'udp', hostIp: '198.51.100.2', hostPort: 5353, containerPort: 53, network: 'bridge', containerIp: '172.17.0.3' },
  ];

  it('prints mappings like docker port', async () => {
    const r = await run(['port', 'c2'], () => MAPS);
    expect(r.calls[0]).toMatchObject({ method: 'GET', path: '/v1/ports/c2' });
    expect(r.out).toBe('80/tcp -> 0.0.0.0:8080\n53/udp -> 198.51.100.2:5353\n');
    const one = await run(['port', 'c2', '53/udp'], () => MAPS);
    expect(one.out).toBe('53/udp -> 198.51.100.2:5353\n');
    const none = await run(['port', 'c2', '443'], () => MAPS);
    expect(none).toMatchObject({ code: 1, err: "Error: no public port '443' published for c2\n" });
  });

  it('marks the mappings a container asked for (NAT-PMP, PCP) with the seconds they have left', async () => {
    const asked = [
      ...MAPS,
      { proto: 'tcp', hostIp: '198.51.100.2', hostPort: 4000, containerPort: 4000, network: 'bridge', containerIp: '172.17.0.3', source: 'nat-pmp', lifetimeSeconds: 57 },
      { proto: 'udp', hostIp: '198.51.100.2', hostPort: 1024, containerPort: 5000, network: 'bridge', containerIp: '172.17.0.3', source: 'pcp-peer', lifetimeSeconds: 3600 },
    ];
    const r = await run(['port', 'c2'], () => asked);
    expect(r.out).toBe(
      '80/tcp -> 0.0.0.0:8080\n53/udp -> 198.51.100.2:5353\n4000/tcp -> 198.51.100.2:4000 (nat-pmp, 57s left)\n5000/udp -> 198.51.100.2:1024 (pcp-peer, 3600s left)\n',
    );
  });

  it('sends every --publish to the daemon', async () => {
    const r = await run(['network', 'connect', '-p', '8080:80', '--publish', '5353:53/udp', 'bridge', 'c2'], () => ({}));
    expect(r.code).toBe(0);
    expect(r.calls[0]).toMatchObject({
      method: 'POST',
      path: '/v1/networks/bridge/connect',
      body: { netns: 'c2', publish: ['8080:80', '5353:53/udp'] },
    });
  });
});

/**
 * Routed IPv6 through the gateway, end to end (issue 13): the host link carries IPv6
 * (`host.address6`), so the host reaches containers of dual-stack networks over IPv6 through the
 * TUN device, with a route per IPv6 subnet; a hop limit that runs out at the gateway gives ICMPv6
 * time exceeded (ping -t 1, both ways); a packet larger than the next link's MTU gives ICMPv6
 * packet too big (routers never fragment IPv6) and the host's kernel learns the path MTU, after
 * which the same ping goes through in fragments. Every frame the gateway emitted towards the
 * containers decodes in tshark without a bad checksum.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import {
  type Daemon,
  PAYLOAD_AS_DATA,
  cleanupAll,
  createNetns,
  hostAddr,
  makeTempDir,
  nsExec,
  pickHostLink,
  pickSubnets,
  randomHex,
  run,
  runOk,
  startCapture,
  startDaemon,
  tsharkFields,
  waitFor,
} from './harness.js';
import { needs, root, tools } from './requirements.js';

const RUN = randomHex(3);
const C1 = `pte6r-${RUN}-c1`;
const C2 = `pte6r-${RUN}-c2`;
const group = () => (0x8000 | parseInt(randomHex(2), 16)).toString(16);
const ULA = `fd${randomHex(1)}:${group()}:${group()}`;
const BRIDGE6 = `${ULA}:10::/64`;
const SMALL6 = `${ULA}:11::/64`;

interface Route6 {
  dst?: string;
  dev?: string;
  mtu?: number;
  metrics?: { mtu?: number }[];
}

needs(root, tools('ip', 'ping', 'tshark', 'iperf3', 'ss', 'timeout')).describe('routed IPv6 through the host link (e2e)', () => {
  let d: Daemon;
  let host6 = '';
  let hostGw6 = '';
  let cap1: Awaited<ReturnType<typeof startCapture>> | null = null;
  let cap2: Awaited<ReturnType<typeof startCapture>> | null = null;
  const dir = makeTempDir('pte6r-');

  beforeAll(async () => {
    const [S0, S1] = (await pickSubnets(['10.215'], 2)) as [string, string];
    const link = await pickHostLink();
    host6 = link.host6;
    hostGw6 = link.gateway6;
    d = await startDaemon({
      hostAddress: link.hostCidr,
      defaultNetwork: { name: 'bridge', subnet: S0, gateway: hostAddr(S0, 1) },
      set: { 'defaultNetwork.ipv6': true, 'defaultNetwork.fixedCidrV6': BRIDGE6, 'host.address6': link.hostCidr6 },
    });
    await d.cliOk(['network', 'create', '--ipv6', '--subnet', S1, '--subnet', SMALL6, '--mtu', '1400', 'small']);
    await createNetns(C1);
    await createNetns(C2);
    await d.cliOk(['network', 'connect', 'bridge', C1]);
    await d.cliOk(['network', 'connect', 'small', C2]);
    cap1 = await startCapture(C1, 'eth0', join(dir, 'c1.pcap'), 60);
    cap2 = await startCapture(C2, 'eth0', join(dir, 'c2.pcap'), 60);
  });

  afterAll(async () => {
    const problems = await cleanupAll();
    if (problems.length > 0) console.warn(`cleanup problems:\n${problems.join('\n')}`);
  });

  const c1 = () => BRIDGE6.replace('::/64', '::2');
  const c2 = () => SMALL6.replace('::/64', '::2');

  it('the host link has its IPv6 address and a route per IPv6 subnet through the TUN device', async () => {
    const addrs = JSON.parse((await runOk(['ip', '-j', '-6', 'addr', 'show', 'dev', d.config.host.device])).stdout) as { addr_info: { local: string; prefixlen: number }[] }[];
    expect(addrs[0]!.addr_info.map((a) => `${a.local}/${a.prefixlen}`)).toContain(`${host6}/64`);
    const routes = JSON.parse((await runOk(['ip', '-j', '-6', 'route', 'show', 'dev', d.config.host.device])).stdout) as Route6[];
    const dsts = routes.map((r) => r.dst);
    expect(dsts).toContain(BRIDGE6);
    expect(dsts).toContain(SMALL6);
  });

  it('ping -6 from the host reaches containers on both networks, and the gateway on the host link', async () => {
    for (const to of [c1(), c2(), hostGw6]) {
      const r = await run(['ping', '-6', '-n', '-c', '2', '-W', '2', to], { timeoutMs: 10_000 });
      expect(r.code, `host -> ${to}: ${r.stdout}${r.stderr}\n${d.logTail(10)}`).toBe(0);
      expect(r.stdout).toMatch(/2 received/);
    }
    // and back: the containers reach the host's address on the link
    const r = await nsExec(C1, ['ping', '-6', '-n', '-c', '1', '-W', '2', host6], { timeoutMs: 10_000 });
    expect(r.code, r.stdout + r.stderr).toBe(0);
  });

  it('pontoon status lists the IPv6 neighbours beside the IPv4 ones', async () => {
    const out = (await d.cliOk(['status'])).stdout;
    expect(out).toContain(c1());
    expect(out).toContain(c2());
  });

  it('ping -6 -t 1 gets ICMPv6 time exceeded from the gateway, in both directions', async () => {
    const out = await nsExec(C1, ['ping', '-6', '-n', '-c', '1', '-W', '2', '-t', '1', host6], { timeoutMs: 10_000 });
    expect(out.stdout).toMatch(new RegExp(`From ${BRIDGE6.replace('::/64', '::1')} icmp_seq=1 Time exceeded: Hop limit`));
    const back = await run(['ping', '-6', '-n', '-c', '1', '-W', '2', '-t', '1', c1()], { timeoutMs: 10_000 });
    expect(back.stdout).toMatch(new RegExp(`From ${hostGw6} icmp_seq=1 Time exceeded: Hop limit`));
  });

  it('a 1500-byte packet towards the 1400-byte network gets packet too big; the host learns the path MTU and then fragments', async () => {
    const before = (await d.drops()).packet_too_big ?? 0;
    const big = await run(['ping', '-6', '-n', '-c', '1', '-W', '2', '-M', 'do', '-s', '1452', c2()], { timeoutMs: 10_000 });
    expect(big.stdout + big.stderr).toMatch(/Packet too big: mtu=1400|message too long, mtu[=:] ?1400/i);
    expect(((await d.drops()).packet_too_big ?? 0) - before).toBe(1);
    const route = JSON.parse((await runOk(['ip', '-j', '-6', 'route', 'get', c2()])).stdout) as Route6[];
    const mtu = route[0]!.mtu ?? route[0]!.metrics?.find((m) => m.mtu !== undefined)?.mtu;
    expect(mtu, JSON.stringify(route)).toBe(1400);
    // now the host sends the same 1500-byte packet in fragments that fit, and the gateway forwards them
    const again = await run(['ping', '-6', '-n', '-c', '2', '-W', '2', '-s', '1452', c2()], { timeoutMs: 10_000 });
    expect(again.code, again.stdout + again.stderr).toBe(0);
    expect(again.stdout).toMatch(/2 received/);
  });

  it('every IPv6 frame the gateway sent to the containers (routed or its own) decodes without a bad checksum', async () => {
    await cap1!.stop();
    await cap2!.stop();
    for (const [f, net] of [['c1.pcap', 'bridge'], ['c2.pcap', 'small']] as const) {
      const file = join(dir, f);
      const mac = (JSON.parse((await d.cliOk(['network', 'inspect', net])).stdout) as { Options: Record<string, string> }[])[0]!.Options['pontoon.gateway.mac']!;
      const fromGateway = `ipv6 && eth.src == ${mac}`;
      const all = await tsharkFields(file, fromGateway, ['frame.number']);
      expect(all.length, f).toBeGreaterThan(4);
      const bad = await tsharkFields(file, `${fromGateway} && (_ws.malformed || _ws.expert.severity == error || icmpv6.checksum.status == 0)`, ['frame.number', '_ws.col.Info'], PAYLOAD_AS_DATA);
      expect(bad, f).toEqual([]);
    }
  });

  it('TCP over IPv6 between the host and a container, both ways (iperf3 -6 through the TUN device and the TAP, their TSO6)', async () => {
    const before = (await d.drops()).malformed ?? 0;
    for (const reverse of [false, true]) {
      const server = nsExec(C1, ['timeout', '15', 'iperf3', '-s', '-1', '-B', c1()], { timeoutMs: 20_000 });
      await waitFor(async () => (await nsExec(C1, ['ss', '-ltn'])).stdout.includes(':5201'), 5000, 100);
      const r = await run(['iperf3', '-6', '-c', c1(), '-t', '2', '--connect-timeout', '3000', '-J', ...(reverse ? ['-R'] : [])], { timeoutMs: 15_000 });
      await server;
      const j = JSON.parse(r.stdout) as { error?: string; end: { sum_received?: { bytes: number } } };
      expect(j.error, `${reverse ? 'container to host' : 'host to container'}: ${JSON.stringify(await d.drops())}`).toBeUndefined();
      expect(j.end.sum_received!.bytes).toBeGreaterThan(1_000_000);
    }
    expect(((await d.drops()).malformed ?? 0) - before).toBe(0);
  });

  it('removing a network removes its IPv6 route from the host', async () => {
    await d.cliOk(['network', 'disconnect', 'small', C2]);
    await d.cliOk(['network', 'rm', 'small']);
    const routes = JSON.parse((await runOk(['ip', '-j', '-6', 'route', 'show', 'dev', d.config.host.device])).stdout) as Route6[];
    const dsts = routes.map((r) => r.dst);
    expect(dsts).not.toContain(SMALL6);
    expect(dsts).toContain(BRIDGE6);
  });
});

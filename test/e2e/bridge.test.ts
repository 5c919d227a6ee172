/**
 * pontoon end to end, as a user sees it: the built daemon with a host TUN port, network namespaces
 * as containers (each endpoint a TAP device the daemon creates inside), and the tools people use:
 * ping, traceroute, ip, tshark, the pontoon CLI and /metrics.
 *
 * One world is built in beforeAll and the tests run in order on it (kill -9 / restart, disconnect
 * and SIGTERM come last). Traffic only goes to addresses inside the namespaces created here and to
 * the host's side of the TUN link. Needs root.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import {
  type Daemon,
  type NetworkResource,
  cleanupAll,
  createNetns,
  hostAddr,
  linkExists,
  makeTempDir,
  nsAddrs,
  nsIPv4,
  nsNeigh,
  parseMetrics,
  parseTraceroute,
  pickHostLink,
  pickSubnets,
  ping,
  randomHex,
  routes,
  runOk,
  nsExec,
  scapyInNetns,
  startCapture,
  startDaemon,
  tsharkFields,
  waitFor,
} from './harness.js';
import { needs, root, scapy, tools } from './requirements.js';

const RUN = randomHex(3);
const ns = (n: string) => `pte-${RUN}-${n}`;

// the containers
const C1 = ns('c1'); // bridge
const C2 = ns('c2'); // bridge
const C3 = ns('c3'); // bridge
const OTHER = ns('c4'); // backend
const DUAL = ns('c5'); // bridge + backend
const SMALL = ns('c6'); // small (--mtu 1280)
const INT = ns('c7'); // isolated (--internal)

/** Docker's MAC scheme: 02:42 followed by the IPv4 address. */
function macForIp(ip: string): string {
  return ['02', '42', ...ip.split('.').map((o) => Number(o).toString(16).padStart(2, '0'))].join(':');
}

function endpointOf(net: NetworkResource, netns: string) {
  const ep = Object.values(net.Containers).find((c) => c.Name === netns);
  if (ep === undefined) throw new Error(`${netns} is not in network ${net.Name}: ${JSON.stringify(net.Containers)}`);
  return ep;
}

needs(root, tools('ip', 'ping', 'traceroute', 'tshark'), scapy).describe('pontoon bridge networking (e2e)', () => {
  let d: Daemon;
  let tmp: string;
  let link: Awaited<ReturnType<typeof pickHostLink>>;
  let S0: string; // bridge (the default network)
  let S1: string; // backend
  let S2: string; // small, --mtu 1280
  let S3: string; // isolated, --internal
  const gw = (subnet: string) => hostAddr(subnet, 1);
  /** addresses by namespace, from `network inspect` */
  const ip: Record<string, string> = {};
  let gwMac: string; // of bridge

  /** drop counters before/after `fn` */
  async function dropDelta(fn: () => Promise<unknown>): Promise<Record<string, number>> {
    const before = await d.drops();
    await fn();
    const after = await d.drops();
    const delta: Record<string, number> = {};
    for (const k of Object.keys(after)) delta[k] = after[k]! - (before[k] ?? 0);
    return delta;
  }

  beforeAll(async () => {
    [S0, S1, S2, S3] = (await pickSubnets(['10.211', '172.27', '192.168'], 4)) as [string, string, string, string];
    link = await pickHostLink();
    tmp = makeTempDir('pte-bridge-');
    d = await startDaemon({ hostAddress: link.hostCidr, defaultNetwork: { name: 'bridge', subnet: S0, gateway: gw(S0) } });
    for (const n of [C1, C2, C3, OTHER, DUAL, SMALL, INT]) await createNetns(n);
    for (const n of [C1, C2, C3]) await d.cliOk(['network', 'connect', 'bridge', n]);
    await d.cliOk(['network', 'create', '--subnet', S1, 'backend']);
    await d.cliOk(['network', 'connect', 'backend', OTHER]);
    const bridge = await d.inspect('bridge');
    for (const n of [C1, C2, C3]) ip[n] = endpointOf(bridge, n).IPv4Address.split('/')[0]!;
    ip[OTHER] = endpointOf(await d.inspect('backend'), OTHER).IPv4Address.split('/')[0]!;
    gwMac = bridge.Options['pontoon.gateway.mac']!;
  });

  afterAll(async () => {
    const problems = await cleanupAll();
    if (problems.length > 0) console.warn(`cleanup problems:\n${problems.join('\n')}`);
  });

  it('network inspect shows each endpoint exactly as the namespace has it', async () => {
    const bridge = await d.inspect('bridge');
    expect(bridge.IPAM.Config).toEqual([{ Subnet: S0, Gateway: gw(S0) }]);
    expect(bridge.Options['com.docker.network.bridge.default_bridge']).toBe('true');
    expect(gwMac).toMatch(/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/);
    // addresses are handed out in order, after the gateway
    expect([ip[C1], ip[C2], ip[C3]]).toEqual([hostAddr(S0, 2), hostAddr(S0, 3), hostAddr(S0, 4)]);
    for (const n of [C1, C2, C3]) {
      const ep = endpointOf(bridge, n);
      expect(ep).toMatchObject({
        IPv4Address: `${ip[n]}/24`,
        MacAddress: macForIp(ip[n]!),
        Interface: 'eth0',
        Netns: `/run/netns/${n}`,
      });
      const eth0 = (await nsAddrs(n)).find((l) => l.ifname === 'eth0');
      expect(eth0, `${n} has no eth0`).toBeDefined();
      expect(eth0!.address).toBe(ep.MacAddress);
      expect(eth0!.mtu).toBe(1500);
      expect(eth0!.flags).toContain('UP');
      expect(await nsIPv4(n, 'eth0')).toEqual([ep.IPv4Address]);
      expect(await routes(n, ['default'])).toEqual([expect.objectContaining({ dst: 'default', gateway: gw(S0), dev: 'eth0' })]);
    }
  });

  it('two containers on the default network ping each other and the gateway', async () => {
    for (const [from, to] of [
      [C1, ip[C2]!],
      [C2, ip[C1]!],
      [C1, gw(S0)],
      [C2, gw(S0)],
    ] as const) {
      const p = await ping(from, to, { count: 3 });
      expect(p, `${from} → ${to}\n${p.stdout}${p.stderr}`).toMatchObject({ code: 0, transmitted: 3, received: 3, lossPercent: 0 });
      expect(p.replies.map((r) => r.from)).toEqual([to, to, to]);
      expect(p.replies.every((r) => r.ttl === 64)).toBe(true); // same L2 segment / the gateway itself
      expect(p.errors).toEqual([]);
    }
  });

  it("each container's kernel learned the gateway MAC from network inspect by ARP", async () => {
    for (const n of [C1, C2]) {
      const entries = await nsNeigh(n, gw(S0));
      expect(entries).toHaveLength(1);
      expect(entries[0]).toMatchObject({ dst: gw(S0), dev: 'eth0', lladdr: gwMac });
      expect(entries[0]!.state.some((s) => ['REACHABLE', 'STALE', 'DELAY', 'PROBE'].includes(s))).toBe(true);
    }
    // and the gateway knows the containers
    const st = await d.status();
    for (const n of [C1, C2]) {
      expect(st.neighbours).toContainEqual(expect.objectContaining({ network: 'bridge', ip: ip[n], mac: macForIp(ip[n]!), state: 'reachable' }));
    }
  });

  it('networks are isolated: "Packet filtered" from the own gateway, counted as network_isolation', async () => {
    const s0 = await d.status();
    let p = await ping(OTHER, ip[C1]!, { count: 2 });
    expect(p.received).toBe(0);
    expect(p.errorCount).toBe(2);
    expect(p.errors).toEqual([
      { from: gw(S1), seq: 1, message: 'Packet filtered' },
      { from: gw(S1), seq: 2, message: 'Packet filtered' },
    ]);
    p = await ping(C1, ip[OTHER]!, { count: 1 });
    expect(p.errors).toEqual([{ from: gw(S0), seq: 1, message: 'Packet filtered' }]);
    const s1 = await d.status();
    expect(s1.drops['network_isolation']! - s0.drops['network_isolation']!).toBe(3);
    const m = parseMetrics(await d.metrics());
    expect(m.get('pontoon_drops_total{reason="network_isolation"}')).toBe(s1.drops['network_isolation']);
  });

  it('ping -t 1 to the host gets "Time to live exceeded" from the gateway; traceroute lists the gateway as hop 1', async () => {
    let p: Awaited<ReturnType<typeof ping>> | undefined;
    const delta = await dropDelta(async () => {
      p = await ping(C1, link.host, { ttl: 1 });
    });
    expect(p!.received).toBe(0);
    expect(p!.errors).toEqual([{ from: gw(S0), seq: 1, message: 'Time to live exceeded' }]);
    expect(delta['ttl_expired']).toBe(1);

    const tr = await nsExec(C1, ['traceroute', '-n', '-q', '1', '-w', '1', '-m', '3', link.host], { timeoutMs: 20_000 });
    expect(tr.code, tr.stderr).toBe(0);
    expect(tr.stdout).toMatch(new RegExp(`^ 1  ${gw(S0).replace(/\./g, '\\.')}  [0-9.]+ ms$`, 'm'));
    expect(parseTraceroute(tr.stdout)).toEqual([
      { hop: 1, address: gw(S0) },
      { hop: 2, address: link.host },
    ]);
  });

  it('the host reaches containers through the TUN port, and containers reach the host', async () => {
    expect(await routes(null, [S0])).toEqual([expect.objectContaining({ dst: S0, dev: d.config.host.device })]);
    let p = await ping(null, ip[C1]!, { count: 3 });
    expect(p).toMatchObject({ code: 0, received: 3, lossPercent: 0 });
    expect(p.replies.map((r) => [r.from, r.ttl])).toEqual([
      [ip[C1], 63], // one routed hop: the gateway decremented the TTL
      [ip[C1], 63],
      [ip[C1], 63],
    ]);
    p = await ping(C1, link.host, { count: 3 });
    expect(p).toMatchObject({ code: 0, received: 3 });
    expect(p.replies.every((r) => r.from === link.host && r.ttl === 63)).toBe(true);
    // the gateway's own addresses answer from the host too
    for (const addr of [link.gateway, gw(S0), gw(S1)]) {
      p = await ping(null, addr, { count: 1 });
      expect(p.replies, `${addr}\n${p.stdout}`).toEqual([{ from: addr, seq: 1, ttl: 64, bytes: 64 }]);
    }
  });

  it('a container on two networks gets eth0 and eth1 and keeps the default route of its first network', async () => {
    await d.cliOk(['network', 'connect', 'bridge', DUAL]);
    await d.cliOk(['network', 'connect', 'backend', DUAL]);
    const e0 = endpointOf(await d.inspect('bridge'), DUAL);
    const e1 = endpointOf(await d.inspect('backend'), DUAL);
    expect(e0).toMatchObject({ Interface: 'eth0', IPv4Address: `${hostAddr(S0, 5)}/24` });
    expect(e1).toMatchObject({ Interface: 'eth1', IPv4Address: `${hostAddr(S1, 3)}/24` });
    const links = await nsAddrs(DUAL);
    expect(links.map((l) => l.ifname).sort()).toEqual(['eth0', 'eth1', 'lo']);
    for (const [dev, ep] of [
      ['eth0', e0],
      ['eth1', e1],
    ] as const) {
      const l = links.find((x) => x.ifname === dev)!;
      expect(l.address).toBe(macForIp(ep.IPv4Address.split('/')[0]!));
      expect(l.addr_info!.filter((a) => a.family === 'inet').map((a) => `${a.local}/${a.prefixlen}`)).toEqual([ep.IPv4Address]);
    }
    const def = await routes(DUAL, ['default']);
    expect(def).toHaveLength(1);
    expect(def[0]).toMatchObject({ dst: 'default', gateway: gw(S0), dev: 'eth0' });
    // it is a member of both: it reaches a container of each directly
    for (const to of [ip[C1]!, ip[OTHER]!]) {
      const p = await ping(DUAL, to, { count: 2 });
      expect(p.received, `${DUAL} → ${to}\n${p.stdout}`).toBe(2);
      expect(p.replies.every((r) => r.ttl === 64)).toBe(true);
    }
  });

  it('anti-spoofing: a changed MAC gets no answer (spoofed_mac) and works again once restored', async () => {
    expect((await ping(C1, gw(S0))).received).toBe(1);
    let p: Awaited<ReturnType<typeof ping>> | undefined;
    const delta = await dropDelta(async () => {
      await runOk(['ip', '-n', C1, 'link', 'set', 'eth0', 'address', '02:00:00:00:00:99']);
      try {
        p = await ping(C1, gw(S0), { count: 2 });
      } finally {
        await runOk(['ip', '-n', C1, 'link', 'set', 'eth0', 'address', macForIp(ip[C1]!)]);
      }
    });
    expect(p!.received).toBe(0);
    expect(p!.errors).toEqual([]);
    expect(delta['spoofed_mac']).toBeGreaterThanOrEqual(2);
    const again = await ping(C1, gw(S0), { count: 2 });
    expect(again.received).toBe(2);
  });

  it('anti-spoofing: packets from an address not assigned to the container are dropped (spoofed_ip)', async () => {
    const fake = hostAddr(S0, 200);
    expect((await ping(C1, gw(S0))).received).toBe(1); // the gateway's MAC is in C1's ARP cache
    let p: Awaited<ReturnType<typeof ping>> | undefined;
    const delta = await dropDelta(async () => {
      await runOk(['ip', '-n', C1, 'addr', 'add', `${fake}/24`, 'dev', 'eth0']);
      try {
        p = await ping(C1, gw(S0), { count: 2, source: fake });
      } finally {
        await runOk(['ip', '-n', C1, 'addr', 'del', `${fake}/24`, 'dev', 'eth0']);
      }
    });
    expect(p!.stdout).toContain(`from ${fake}`);
    expect(p!.received).toBe(0);
    expect(delta['spoofed_ip']).toBeGreaterThanOrEqual(2);
    expect(await nsIPv4(C1, 'eth0')).toEqual([`${ip[C1]}/24`]);
  });

  it("anti-spoofing: a forged ARP reply (scapy) is dropped (spoofed_arp) and the victim's ARP entry does not change", async () => {
    // C3 knows C2's real MAC
    expect((await ping(C3, ip[C2]!)).received).toBe(1);
    expect((await nsNeigh(C3, ip[C2]!))[0]?.lladdr).toBe(macForIp(ip[C2]!));
    const m1 = macForIp(ip[C1]!);
    const m3 = macForIp(ip[C3]!);
    // C1 claims to be C2: two unicast replies to C3 and two gratuitous broadcast ones
    const script = `
forged = [
  Ether(src="${m1}", dst="${m3}") / ARP(op=2, hwsrc="${m1}", psrc="${ip[C2]}", hwdst="${m3}", pdst="${ip[C3]}"),
  Ether(src="${m1}", dst="${m3}") / ARP(op=2, hwsrc="${m1}", psrc="${ip[C2]}", hwdst="${m3}", pdst="${ip[C3]}"),
  Ether(src="${m1}", dst="ff:ff:ff:ff:ff:ff") / ARP(op=2, hwsrc="${m1}", psrc="${ip[C2]}", hwdst="ff:ff:ff:ff:ff:ff", pdst="${ip[C2]}"),
  Ether(src="${m1}", dst="ff:ff:ff:ff:ff:ff") / ARP(op=1, hwsrc="${m1}", psrc="${ip[C2]}", hwdst="00:00:00:00:00:00", pdst="${ip[C2]}"),
]
sendp(forged, iface="eth0", verbose=False)
`;
    const delta = await dropDelta(async () => {
      await scapyInNetns(C1, script);
    });
    expect(delta['spoofed_arp']).toBe(4);
    const entries = await nsNeigh(C3, ip[C2]!);
    expect(entries).toHaveLength(1);
    expect(entries[0]!.lladdr).toBe(macForIp(ip[C2]!));
    const st = await d.status();
    expect(st.neighbours).toContainEqual(expect.objectContaining({ network: 'bridge', ip: ip[C2], mac: macForIp(ip[C2]!) }));
    expect((await ping(C3, ip[C2]!)).received).toBe(1);
  });

  it('frames with a wrong IPv4 header or ICMP checksum (scapy) are dropped as bad_checksum', async () => {
    const m1 = macForIp(ip[C1]!);
    const script = `
good = bytes(IP(src="${ip[C1]}", dst="${gw(S0)}", ttl=64) / ICMP(id=0x4242, seq=1) / Raw(b"pontoon"))
bad_ip = bytearray(good); bad_ip[10] ^= 0xff
bad_icmp = bytearray(good); bad_icmp[22] ^= 0xff
frames = [Ether(src="${m1}", dst="${gwMac}", type=0x0800) / Raw(bytes(b)) for b in (bad_ip, bad_icmp)]
sendp(frames, iface="eth0", verbose=False)
`;
    const delta = await dropDelta(async () => {
      await scapyInNetns(C1, script);
    });
    expect(delta['bad_checksum']).toBe(2);
  });

  it('a neighbour that never answers: "Destination Host Unreachable" after the ARP retries (neighbour_unreachable)', async () => {
    const ghost = hostAddr(S0, 250);
    const arp0 = parseMetrics(await d.metrics()).get('pontoon_arp_requests_sent_total')!;
    let p: Awaited<ReturnType<typeof ping>> | undefined;
    const delta = await dropDelta(async () => {
      p = await ping(null, ghost, { count: 1, waitS: 10 });
    });
    expect(p!.received).toBe(0);
    expect(p!.errors).toEqual([{ from: link.gateway, seq: 1, message: 'Destination Host Unreachable' }]);
    // 3 requests one second apart, then the error: not before ~2 s, well before ping's 10 s
    expect(p!.ms).toBeGreaterThan(2000);
    expect(p!.ms).toBeLessThan(6000);
    expect(delta['neighbour_unreachable']).toBe(1);
    expect(parseMetrics(await d.metrics()).get('pontoon_arp_requests_sent_total')! - arp0).toBe(3);
    const st = await d.status();
    expect(st.neighbours).toContainEqual(expect.objectContaining({ network: 'bridge', ip: ghost, mac: null, state: 'failed' }));
  });

  it('MTU: a 1280 network fragments for DF-clear packets and sends "Frag needed" for DF-set ones', async () => {
    await d.cliOk(['network', 'create', '--subnet', S2, '--mtu', '1280', 'small']);
    await d.cliOk(['network', 'connect', 'small', SMALL]);
    const small = await d.inspect('small');
    expect(small.Options['com.docker.network.driver.mtu']).toBe('1280');
    const target = endpointOf(small, SMALL).IPv4Address.split('/')[0]!;
    expect((await nsAddrs(SMALL)).find((l) => l.ifname === 'eth0')?.mtu).toBe(1280);

    // DF clear first (a DF-set probe makes the host cache the path MTU and fragment by itself)
    const frag0 = parseMetrics(await d.metrics()).get('pontoon_fragments_created_total')!;
    const pcap = join(tmp, 'small.pcapng');
    const cap = await startCapture(SMALL, 'eth0', pcap);
    const dont = await ping(null, target, { pmtudisc: 'dont', size: 1400, count: 1, waitS: 2 });
    expect((await cap.stop()).timedOut).toBe(false);
    expect(dont.received, dont.stdout + dont.stderr).toBe(1);
    expect(dont.replies[0]).toMatchObject({ from: target, bytes: 1408 });
    // 1428 bytes of IP into a 1280 network: the gateway made 2 fragments of the request...
    expect(parseMetrics(await d.metrics()).get('pontoon_fragments_created_total')! - frag0).toBe(2);
    // ...that fit the MTU, carry valid header checksums and add up to the original packet
    const frags = await tsharkFields(pcap, `eth.src == ${small.Options['pontoon.gateway.mac']} && ip.dst == ${target}`, [
      'ip.len',
      'ip.flags.mf',
      'ip.frag_offset',
      'ip.checksum.status',
    ]);
    expect(frags.map((f) => [Number(f[0]), f[1], Number(f[2]), f[3]])).toEqual([
      // length, more-fragments, offset (8-byte units), header checksum Good
      [1276, '1', 0, '1'], // 20 + 1256 (the largest multiple of 8 that fits)
      [172, '0', 157, '1'], // 20 + 152 at 1256 = 157 * 8: 1408 bytes of ICMP in all
    ]);

    let p: Awaited<ReturnType<typeof ping>> | undefined;
    const delta = await dropDelta(async () => {
      p = await ping(null, target, { pmtudisc: 'do', size: 1400, count: 1, waitS: 2 });
    });
    expect(p!.received).toBe(0);
    expect(p!.errors).toEqual([{ from: link.gateway, seq: 1, message: 'Frag needed and DF set (mtu = 1280)' }]);
    expect(delta['fragmentation_needed']).toBe(1);
  });

  it('--internal network: no default route, and the gateway refuses traffic in and out (internal_network)', async () => {
    await d.cliOk(['network', 'create', '--subnet', S3, '--internal', 'isolated']);
    await d.cliOk(['network', 'connect', 'isolated', INT]);
    const isolated = await d.inspect('isolated');
    expect(isolated.Internal).toBe(true);
    expect(endpointOf(isolated, INT).IPv4Address).toBe(`${hostAddr(S3, 2)}/24`);
    expect(await routes(INT, ['default'])).toEqual([]);
    // the host's route leads to the gateway, which refuses: nothing leaks out of the host's default route
    expect((await routes(null)).filter((r) => r.dst === S3)).toEqual([expect.objectContaining({ dst: S3, dev: d.config.host.device })]);
    const fromHost = await dropDelta(async () => {
      const h = await ping(null, hostAddr(S3, 2), { count: 1 });
      expect(h.received).toBe(0);
      expect(h.errors).toEqual([{ from: link.gateway, seq: 1, message: 'Packet filtered' }]);
    });
    expect(fromHost['internal_network']).toBe(1);
    // without a route the kernel refuses at once
    let p = await ping(INT, link.host);
    expect(p.code).toBe(2);
    expect(p.localErrors).toEqual(['ping: connect: Network is unreachable']);
    // with one, the gateway refuses
    await runOk(['ip', '-n', INT, 'route', 'add', link.cidr, 'via', gw(S3)]);
    const delta = await dropDelta(async () => {
      p = await ping(INT, link.host, { count: 2 });
    });
    expect(p.received).toBe(0);
    expect(p.errors).toEqual([
      { from: gw(S3), seq: 1, message: 'Packet filtered' },
      { from: gw(S3), seq: 2, message: 'Packet filtered' },
    ]);
    expect(delta['internal_network']).toBe(2);
  });

  it('a capture in the containers shows the gateway answering and no bad checksum anywhere', async () => {
    const pcap1 = join(tmp, 'c1.pcapng');
    const cap1 = await startCapture(C1, 'eth0', pcap1);
    await ping(C1, gw(S0), { count: 2 }); // echo replies from the gateway
    await ping(C1, ip[C2]!, { count: 2 }); // a neighbour, switched
    await ping(C1, link.host, { ttl: 1 }); // time exceeded
    await ping(C1, ip[OTHER]!); // admin prohibited
    await nsExec(C1, ['traceroute', '-n', '-q', '1', '-w', '1', '-m', '2', link.host], { timeoutMs: 20_000 }); // UDP
    await ping(null, ip[C1]!, { count: 2 }); // routed: TTL decremented, checksum updated
    const r1 = await cap1.stop();
    expect(r1.timedOut).toBe(false);

    // With TAP offloads the container's own UDP/TCP leaves with a partial checksum (the capture
    // sits before it is filled in, as on any NIC with checksum offload), and a quoted copy of such
    // a probe inside an ICMP error carries it too: UDP is checked where the gateway sent it and it
    // is not a quote. IP and ICMP checksums are always complete.
    const bad =
      'ip.checksum.status == "Bad" || icmp.checksum.status == "Bad" || ' +
      `(eth.src == ${gwMac} && udp && !icmp && udp.checksum.status == "Bad")`;
    expect(await tsharkFields(pcap1, bad, ['frame.number'])).toEqual([]);
    // the filter does see checksums: every IPv4 frame of the capture has a verified ("Good") one
    const statuses = await tsharkFields(pcap1, 'ip', ['ip.checksum.status']);
    expect(statuses.length).toBeGreaterThan(10);
    expect(new Set(statuses.map((f) => f[0]!.split(',')[0]))).toEqual(new Set(['1']));

    // what the gateway sent C1: outer ICMP type/code and checksum statuses (1 = Good)
    const fromGw = await tsharkFields(pcap1, `eth.src == ${gwMac} && icmp`, [
      'ip.src',
      'icmp.type',
      'icmp.code',
      'ip.checksum.status',
      'icmp.checksum.status',
    ]);
    const first = (v: string | undefined) => (v ?? '').split(',')[0];
    const kinds = new Set(fromGw.map((f) => `${first(f[0])} ${first(f[1])}/${first(f[2])}`));
    expect([...kinds].sort()).toEqual(
      [`${gw(S0)} 0/0`, `${gw(S0)} 11/0`, `${gw(S0)} 3/13`, `${link.host} 3/3`, `${link.host} 8/0`].sort(),
    );
    for (const f of fromGw) {
      expect(first(f[3]), f.join(' ')).toBe('1');
      expect(first(f[4]), f.join(' ')).toBe('1');
    }
  });

  it('kill -9 and restart: networks and endpoints come back, containers keep their interfaces and traffic flows', async () => {
    const names = ['backend', 'bridge', 'isolated', 'small'];
    const before = await Promise.all(names.map((n) => d.inspect(n)));
    const lsBefore = (await d.cliOk(['network', 'ls', '--format', 'json', '--no-trunc'])).stdout;
    /** what identifies a container's interfaces: name, ifindex, MAC, IPv4 addresses */
    const ifaces = async (n: string) =>
      (await nsAddrs(n)).map((l) => [l.ifname, l.ifindex, l.address, (l.addr_info ?? []).filter((a) => a.family === 'inet').map((a) => `${a.local}/${a.prefixlen}`)]);
    const linksBefore = new Map<string, unknown>();
    for (const n of [C1, C2, DUAL, OTHER]) linksBefore.set(n, await ifaces(n));
    expect(linksBefore.get(DUAL)).toHaveLength(3);

    await d.kill9();
    // the TUN device goes with the process (once the kernel has torn down its io_uring: milliseconds)
    expect(await waitFor(async () => !(await linkExists(d.config.host.device)), 2000, 10)).toBe(true);
    expect((await routes(null)).filter((r) => r.dst === S0)).toEqual([]);
    // persistent TAP devices: the containers keep them (same ifindex, MAC, addresses)
    for (const n of [C1, C2, DUAL, OTHER]) expect(await ifaces(n)).toEqual(linksBefore.get(n));

    await d.restart();
    expect(d.logs()).toContain('removing stale API socket');
    expect((await d.cliOk(['network', 'ls', '--format', 'json', '--no-trunc'])).stdout).toBe(lsBefore);
    const after = await Promise.all(names.map((n) => d.inspect(n)));
    expect(after).toEqual(before);
    for (const n of [C1, C2, DUAL, OTHER]) expect(await ifaces(n)).toEqual(linksBefore.get(n));
    expect(await routes(null, [S0])).toEqual([expect.objectContaining({ dst: S0, dev: d.config.host.device })]);

    // traffic, without reconnecting anything
    for (const [from, to] of [
      [C1, ip[C2]!],
      [C2, gw(S0)],
      [null, ip[C1]!],
      [C1, link.host],
      [DUAL, ip[OTHER]!],
    ] as const) {
      const p = await ping(from, to, { count: 2, waitS: 2 });
      expect(p.received, `${from ?? 'host'} → ${to}\n${p.stdout}${p.stderr}\n${d.logTail()}`).toBe(2);
    }
    // and isolation still holds
    const p = await ping(OTHER, ip[C1]!);
    expect(p.errors).toEqual([{ from: gw(S1), seq: 1, message: 'Packet filtered' }]);
  });

  it('disconnect removes eth0 from the namespace and frees the address; reconnecting gets it back', async () => {
    const addr = ip[C3]!;
    await d.cliOk(['network', 'disconnect', 'bridge', C3]);
    expect((await nsAddrs(C3)).map((l) => l.ifname)).toEqual(['lo']);
    const bridge = await d.inspect('bridge');
    expect(Object.values(bridge.Containers).map((c) => c.Name)).not.toContain(C3);
    expect((await d.status()).ports.map((p) => p.name)).not.toContain(`eth0@${C3}`);

    await d.cliOk(['network', 'connect', 'bridge', C3]);
    const ep = endpointOf(await d.inspect('bridge'), C3);
    expect(ep).toMatchObject({ IPv4Address: `${addr}/24`, MacAddress: macForIp(addr), Interface: 'eth0' });
    expect(await nsIPv4(C3, 'eth0')).toEqual([`${addr}/24`]);
    expect((await ping(C3, ip[C1]!, { count: 2 })).received).toBe(2);
  });

  it('SIGTERM: the daemon exits 0, removes its TUN device and routes, and leaves the containers their interfaces', async () => {
    const r = await d.stop();
    expect(r, d.logTail()).toEqual({ code: 0, signal: null });
    expect(d.logs()).toContain('"msg":"shutting down"');
    expect(await linkExists(d.config.host.device)).toBe(false);
    expect((await routes(null)).filter((x) => [S0, S1, S2].includes(x.dst))).toEqual([]);
    expect(await nsIPv4(C1, 'eth0')).toEqual([`${ip[C1]}/24`]);
  });
});

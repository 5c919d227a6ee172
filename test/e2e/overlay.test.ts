/**
 * VXLAN overlay networks end to end: two "hosts" (network namespaces, each running its own pontoon
 * daemon) on an underlay bridge, etcd as the cluster store, containers connected on either host, a
 * Linux kernel VXLAN device as a foreign peer, and a second pair of hosts with static peers.
 * Everything is checked as a user sees it: the CLI, ping, iperf3, ip, tshark on the underlay,
 * /metrics. See overlay-world.ts for the topology. Needs root, etcd (/usr/bin/etcd), tshark,
 * iperf3, ethtool and python3-scapy.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import {
  cidrsOverlap,
  cleanupAll,
  createNetns,
  hostAddr,
  linkExists,
  nsExec,
  nsExecOk,
  nsNeigh,
  nsAddrs,
  pickSubnets,
  ping,
  randomHex,
  scapyInNetns,
  startCapture,
  waitFor,
} from './harness.js';
import { cleanupNatWorlds, parseIperf, startBackground } from './nat-world.js';
import {
  ETCD_BIN,
  type OverlayContainer,
  type OverlayHost,
  type OverlayWorld,
  buildOverlayWorld,
  captureFile,
  cleanupOverlayWorlds,
  containerAddress,
  inspectOverlay,
  overlayMetrics,
  readCapture,
  retry,
} from './overlay-world.js';
import { etcdServer, needs, root, scapy, tools } from './requirements.js';

/** two pontoon hosts on an underlay, a kernel VXLAN peer, captures, scapy-made datagrams */
const overlayWorld = [root, ...tools('ip', 'ping', 'tshark', 'iperf3', 'ethtool', 'ss', 'timeout'), scapy];
const LEASE_TTL = 3;

async function cleanupEverything(): Promise<string[]> {
  await cleanupOverlayWorlds();
  const problems = await cleanupNatWorlds();
  return [...problems, ...(await cleanupAll())];
}

needs(overlayWorld, etcdServer(ETCD_BIN), tools('setpriv')).describe('overlay networks with the etcd store', () => {
  let w: OverlayWorld;
  let A: OverlayHost;
  let B: OverlayHost;
  const NET = `ov-${randomHex(3)}`;
  const VNI = 5000 + (parseInt(randomHex(2), 16) % 50_000);
  let subnet = '';
  let gateway = '';
  let ipRange = '';
  let ca: OverlayContainer;
  let cb: OverlayContainer;

  /** daemon logs for failure messages */
  const logs = () => `--- host A:\n${A?.daemon.logTail(25)}\n--- host B:\n${B?.daemon.logTail(25)}\n--- etcd:\n${w?.etcd?.logTail() ?? ''}`;

  beforeAll(async () => {
    w = await buildOverlayWorld({ store: 'etcd', leaseTtlSeconds: LEASE_TTL });
    A = await w.addHost('a');
    B = await w.addHost('b');
    subnet = (await pickSubnets(['10.211', '172.27'], 1))[0]!;
    if (cidrsOverlap(subnet, w.subnet)) throw new Error(`overlay subnet ${subnet} overlaps the underlay ${w.subnet}`);
    gateway = hostAddr(subnet, 1);
    // containers get addresses of .128-.191 on every host; .200 is left for the kernel peer (test 5)
    ipRange = `${hostAddr(subnet, 128)}/26`;
  }, 90_000);

  afterAll(async () => {
    const problems = await cleanupEverything();
    expect(problems).toEqual([]);
  }, 60_000);

  it('1. a network created on host A appears on B; containers on A and B get distinct addresses and ping each other; ARP for remote endpoints is answered locally', async () => {
    const created = await A.daemon.cliOk(['network', 'create', '--driver', 'overlay', '--subnet', subnet, '--ip-range', ipRange, '--vni', String(VNI), NET]);
    const id = created.stdout.trim();
    expect(id).toMatch(/^[0-9a-f]{64}$/);

    // B learns it from the etcd watch, with no command on B
    const appeared = await waitFor(async () => (await B.daemon.cli(['network', 'ls', '--format', 'json'])).stdout.includes(`"${NET}"`), 10_000, 200);
    expect(appeared, logs()).toBe(true);
    const ls = (await B.daemon.cliOk(['network', 'ls', '--format', 'json'])).stdout
      .split('\n')
      .filter((l) => l.trim() !== '')
      .map((l) => JSON.parse(l) as { Name: string; Driver: string; Scope: string; ID: string });
    const row = ls.find((n) => n.Name === NET)!;
    expect(row).toMatchObject({ Driver: 'overlay', Scope: 'swarm' });
    expect(id.startsWith(row.ID)).toBe(true);
    const onB = await inspectOverlay(B.daemon, NET);
    expect(onB.Id).toBe(id);
    expect(onB.Driver).toBe('overlay');
    expect(onB.IPAM.Config[0]).toEqual({ Subnet: subnet, Gateway: gateway, IPRange: ipRange });
    expect(onB.Options['com.docker.network.driver.overlay.vxlanid_list']).toBe(String(VNI));
    expect(onB.Options['com.docker.network.driver.mtu']).toBe('1450');
    // the anycast gateway: same address and MAC on every host
    const onA = await inspectOverlay(A.daemon, NET);
    expect(onB.Options['pontoon.gateway.mac']).toBe(onA.Options['pontoon.gateway.mac']);

    ca = await w.connect(A, 'ca', NET);
    cb = await w.connect(B, 'cb', NET);
    expect(ca.ip).not.toBe(cb.ip);
    for (const c of [ca, cb]) {
      expect(cidrsOverlap(`${c.ip}/32`, ipRange), `${c.ip} outside --ip-range ${ipRange}`).toBe(true);
      expect(c.mtu).toBe(1450);
    }
    // the addresses were claimed in etcd, each by its host
    const ipam = await w.etcd!.list(`${w.etcdPrefix}/ipam/${id}/`);
    expect(JSON.parse(ipam.get(`${w.etcdPrefix}/ipam/${id}/${ca.ip}`) ?? '{}')).toMatchObject({ host: A.ip });
    expect(JSON.parse(ipam.get(`${w.etcdPrefix}/ipam/${id}/${cb.ip}`) ?? '{}')).toMatchObject({ host: B.ip });

    // each host knows the other's endpoint and VTEP
    const known = await waitFor(async () => {
      const a = await inspectOverlay(A.daemon, NET);
      const b = await inspectOverlay(B.daemon, NET);
      const remoteOf = (r: typeof a, c: OverlayContainer) => Object.values(r.RemoteContainers ?? {}).find((e) => e.IPv4Address === `${c.ip}/24`);
      return remoteOf(a, cb)?.Host === B.ip && remoteOf(b, ca)?.Host === A.ip && remoteOf(a, cb)?.MacAddress === cb.mac;
    }, 10_000, 200);
    expect(known, logs()).toBe(true);
    expect((await inspectOverlay(A.daemon, NET)).Peers).toEqual([{ IP: B.ip }]);
    expect((await inspectOverlay(B.daemon, NET)).Peers).toEqual([{ IP: A.ip }]);
    const mA = await overlayMetrics(A.daemon, VNI);
    expect(mA.remoteEndpoints).toBe(1);
    expect(mA.peers).toBe(1);

    // ARP suppression: with the neighbour caches empty, the containers ARP for each other; the
    // underlay must carry no encapsulated ARP request for them (each gateway answers locally)
    await nsExecOk(ca.ns, ['ip', 'neigh', 'flush', 'all']);
    await nsExecOk(cb.ns, ['ip', 'neigh', 'flush', 'all']);
    const file = captureFile('arp');
    const cap = await startCapture(w.ul, A.ulPort, file, 30);
    const p1 = await ping(ca.ns, cb.ip, { count: 3, waitS: 2, intervalS: 0.2 });
    const p2 = await ping(cb.ns, ca.ip, { count: 3, waitS: 2, intervalS: 0.2 });
    await cap.stop();
    expect(p1.lossPercent, `${p1.stdout}\n${logs()}`).toBe(0);
    expect(p2.lossPercent, p2.stdout).toBe(0);
    expect(p1.replies.every((r) => r.from === cb.ip)).toBe(true);

    // the kernel of each container resolved the other's real MAC
    const nA = await nsNeigh(ca.ns, cb.ip);
    const nB = await nsNeigh(cb.ns, ca.ip);
    expect(nA[0]?.lladdr).toBe(cb.mac);
    expect(nB[0]?.lladdr).toBe(ca.mac);

    const icmp = await readCapture(file, 'vxlan && icmp', ['vxlan.vni']);
    expect(icmp.length, 'the capture sees the pings inside VXLAN').toBeGreaterThanOrEqual(12);
    const arpRequests = await readCapture(file, 'vxlan && arp.opcode == 1', ['arp.src.proto_ipv4', 'arp.dst.proto_ipv4']);
    const forContainers = arpRequests.filter(([, target]) => target === ca.ip || target === cb.ip);
    expect(forContainers, 'encapsulated ARP requests for known endpoints').toEqual([]);
  }, 60_000);

  it('2. TCP (iperf3) crosses the overlay; MTU 1450; a frame too big for the underlay gets "Frag needed", not silence', async () => {
    for (const c of [ca, cb]) expect((await containerAddress(c.ns)).mtu).toBe(1450);

    // the largest unfragmented ping fits: 1422 + 8 + 20 = 1450
    const fits = await ping(ca.ns, cb.ip, { count: 2, size: 1422, pmtudisc: 'do', waitS: 2 });
    expect(fits.lossPercent, `${fits.stdout}${fits.stderr}\n${logs()}`).toBe(0);
    expect(fits.replies[0]?.bytes).toBe(1430);
    // a bigger one is refused by the container's own kernel (eth0's MTU)
    const local = await ping(ca.ns, cb.ip, { count: 1, size: 1500, pmtudisc: 'do' });
    expect(local.received).toBe(0);
    expect(local.localErrors.join('\n')).toMatch(/message too long, mtu=1450/);

    // iperf3 TCP, 3 s, bounded
    const server = startBackground(cb.ns, ['iperf3', '-s', '-1', '-B', cb.ip, '-p', '5201'], 40);
    try {
      const listening = await waitFor(async () => /:5201\b/.test((await nsExec(cb.ns, ['ss', '-Hltn'])).stdout), 10_000, 100);
      expect(listening, server.stderr()).toBe(true);
      const r = await nsExec(ca.ns, ['timeout', '-s', 'KILL', '25', 'iperf3', '-c', cb.ip, '-p', '5201', '-t', '3', '-J', '--connect-timeout', '3000'], {
        timeoutMs: 30_000,
      });
      const res = parseIperf(r.stdout);
      expect(res.error, r.stdout.slice(0, 2000)).toBeUndefined();
      const received = res.end?.sum_received?.bytes ?? 0;
      expect(received, `iperf3 moved ${received} bytes`).toBeGreaterThan(1_000_000);
      console.log(`iperf3 across the overlay: ${((received * 8) / 3 / 1e6).toFixed(0)} Mbit/s`);
    } finally {
      await server.stop();
    }

    // a host whose underlay carries less (MTU 1400 on its link, cluster.underlayMtu 1400) joins:
    // its containers get the network's MTU (1450), but its VXLAN datagrams can hold 1350 bytes of
    // IPv4 at most; a bigger packet with DF is answered "Frag needed", not lost silently
    const C = await w.addHost('c', { underlayMtu: 1400 });
    try {
      const joined = await waitFor(async () => (await C.daemon.cli(['network', 'inspect', NET])).code === 0, 10_000, 200);
      expect(joined, C.daemon.logTail(20)).toBe(true);
      const cc = await w.connect(C, 'cc', NET);
      expect(cc.mtu).toBe(1450);
      const knowsB = await waitFor(async () => Object.values((await inspectOverlay(C.daemon, NET)).RemoteContainers ?? {}).some((e) => e.Host === B.ip), 10_000, 200);
      expect(knowsB).toBe(true);
      const fitsC = await ping(cc.ns, cb.ip, { count: 1, size: 1322, pmtudisc: 'do', waitS: 2 });
      expect(fitsC.received, `${fitsC.stdout}${fitsC.stderr}\n${C.daemon.logTail(20)}`).toBe(1);

      const before = await overlayMetrics(C.daemon, VNI);
      const big = await ping(cc.ns, cb.ip, { count: 1, size: 1422, pmtudisc: 'do', waitS: 2 });
      expect(big.received).toBe(0);
      expect(big.errors[0], `${big.stdout}${big.stderr}`).toMatchObject({ from: gateway });
      expect(big.errors[0]!.message).toMatch(/Frag needed.*mtu = 1350/);
      const after = await overlayMetrics(C.daemon, VNI);
      expect((after.drops.vxlan_too_big ?? 0) - (before.drops.vxlan_too_big ?? 0)).toBe(1);
      // the container's kernel took the hint: the path MTU to cb is now 1350
      const known = await ping(cc.ns, cb.ip, { count: 1, size: 1422, pmtudisc: 'do' });
      expect(known.localErrors.join('\n')).toMatch(/message too long, mtu=1350/);

      // TCP finds the path MTU by itself (the first full-size segments are refused with Frag needed)
      const server2 = startBackground(cb.ns, ['iperf3', '-s', '-1', '-B', cb.ip, '-p', '5202'], 30);
      try {
        expect(await waitFor(async () => /:5202\b/.test((await nsExec(cb.ns, ['ss', '-Hltn'])).stdout), 10_000, 100)).toBe(true);
        const r = await nsExec(cc.ns, ['timeout', '-s', 'KILL', '20', 'iperf3', '-c', cb.ip, '-p', '5202', '-t', '1', '-J', '--connect-timeout', '3000'], { timeoutMs: 25_000 });
        const res = parseIperf(r.stdout);
        expect(res.error, r.stdout.slice(0, 2000)).toBeUndefined();
        expect(res.end?.sum_received?.bytes ?? 0).toBeGreaterThan(100_000);
      } finally {
        await server2.stop();
      }
    } finally {
      await C.daemon.cli(['network', 'disconnect', NET, `${w.prefix}-cc`]);
      await C.daemon.stop();
    }
    // C left (its lease revoked at shutdown): A and B are back to one peer each
    const left = await waitFor(async () => JSON.stringify((await inspectOverlay(A.daemon, NET)).Peers) === JSON.stringify([{ IP: B.ip }]), 10_000, 200);
    expect(left, logs()).toBe(true);
  }, 60_000);

  it('3. tshark on the underlay decodes the traffic as VXLAN with the network\'s VNI, between the two VTEPs, with nothing malformed', async () => {
    const file = captureFile('vxlan');
    const cap = await startCapture(w.ul, A.ulPort, file, 30);
    const p1 = await ping(ca.ns, cb.ip, { count: 4, size: 1000, intervalS: 0.2, waitS: 2 });
    const p2 = await ping(cb.ns, ca.ip, { count: 4, size: 56, intervalS: 0.2, waitS: 2 });
    await cap.stop();
    expect(p1.lossPercent).toBe(0);
    expect(p2.lossPercent).toBe(0);

    const frames = await readCapture(file, 'vxlan', ['vxlan.vni', 'ip.src', 'ip.dst', 'udp.dstport', 'udp.checksum.status', 'icmp.type', 'frame.len']);
    expect(frames.length).toBeGreaterThanOrEqual(16);
    for (const [vni, src, dst, dport, csum, icmpType, len] of frames) {
      expect(vni).toBe(String(VNI));
      // outer addresses (the VTEPs), then the inner ones (the containers)
      const [oSrc, iSrc] = src!.split(',');
      const [oDst, iDst] = dst!.split(',');
      expect([oSrc, oDst].sort()).toEqual([A.ip, B.ip].sort());
      expect([iSrc, iDst].sort()).toEqual([ca.ip, cb.ip].sort());
      expect(dport).toBe('4789');
      // a real UDP checksum, verified good (0: bad, 2: unverified)
      expect(csum).toBe('1');
      // an echo request of ca: 1000 bytes of payload, ICMP, IPv4, Ethernet, then 50 bytes of VXLAN encapsulation
      if (icmpType === '8' && iSrc === ca.ip) expect(len).toBe(String(1000 + 8 + 20 + 14 + 50));
    }
    const bad = await readCapture(file, 'vxlan && (_ws.malformed || _ws.expert.severity >= "Warning")', ['frame.number', '_ws.expert.message']);
    expect(bad, 'malformed frames or expert warnings').toEqual([]);
  }, 60_000);

  it(`4. host B killed (-9): its endpoints vanish from A within the lease TTL (${LEASE_TTL} s); restarted, its containers keep their interfaces and are reachable again`, async () => {
    const linkBefore = (await nsAddrs(cb.ns)).find((l) => l.ifname === 'eth0')!;
    expect(Object.keys((await inspectOverlay(A.daemon, NET)).RemoteContainers ?? {})).toHaveLength(1);

    await B.daemon.kill9();
    const killedAt = Date.now();
    const since = () => (Date.now() - killedAt) / 1000;
    // when etcd dropped B's keys (its lease expired) and when A forgot B: which of the two was late, if one is
    const etcdDropped: { after?: number } = {};
    const etcdPoll = async () => {
      const keys = [...(await w.etcd!.list(`${w.etcdPrefix}/vteps/`)).keys()];
      if (etcdDropped.after === undefined && !keys.some((k) => k.endsWith(`/${B.ip}`))) etcdDropped.after = since();
    };
    const gone = await waitFor(async () => {
      await etcdPoll();
      const r = await inspectOverlay(A.daemon, NET);
      const m = await overlayMetrics(A.daemon, VNI);
      return Object.keys(r.RemoteContainers ?? {}).length === 0 && !(r.Peers ?? []).some((p) => p.IP === B.ip) && m.remoteEndpoints === 0 && m.peers === 0;
    }, 20_000, 250);
    const goneAfter = since();
    await etcdPoll();
    const timing = `host B's endpoint vanished from host A ${goneAfter.toFixed(1)} s after kill -9, its keys from etcd after ${etcdDropped.after?.toFixed(1) ?? '-'} s (lease TTL ${LEASE_TTL} s)`;
    console.log(timing);

    // the container on B keeps its persistent TAP while no daemon holds it
    expect(await linkExists('eth0', cb.ns)).toBe(true);

    // B back first, so that a late expiry fails this test alone and not the ones after it
    await B.daemon.restart();
    expect(gone, `${timing}\n${logs()}`).toBe(true);
    // etcd expires a lease within about a second of its TTL; A then forgets B on the watch's event
    expect(goneAfter, timing).toBeLessThan(LEASE_TTL + 5);
    const linkAfter = (await nsAddrs(cb.ns)).find((l) => l.ifname === 'eth0')!;
    expect(linkAfter.ifindex).toBe(linkBefore.ifindex);
    expect(linkAfter.address).toBe(cb.mac);
    expect((await containerAddress(cb.ns)).ip).toBe(cb.ip);

    // re-registered: A learns the endpoint again, and the containers reach each other without reconnecting
    const back = await waitFor(async () => {
      const r = await inspectOverlay(A.daemon, NET);
      return Object.values(r.RemoteContainers ?? {}).some((e) => e.IPv4Address === `${cb.ip}/24` && e.Host === B.ip);
    }, 15_000, 250);
    expect(back, logs()).toBe(true);
    const reachable = await waitFor(async () => (await ping(ca.ns, cb.ip, { count: 1, waitS: 1 })).received === 1, 15_000, 200);
    expect(reachable, logs()).toBe(true);
    const p = await ping(cb.ns, ca.ip, { count: 3, intervalS: 0.2, waitS: 2 });
    expect(p.lossPercent).toBe(0);
    expect((await overlayMetrics(A.daemon, VNI)).remoteEndpoints).toBe(1);
  }, 60_000);

  it('5. a Linux kernel VXLAN device registered as a VTEP in etcd is a peer: its container pings containers behind pontoon and is pinged by them', async () => {
    const id = (await inspectOverlay(A.daemon, NET)).Id;
    // an address of the subnet outside --ip-range, reserved in etcd too, as a foreign host would
    const kcIp = hostAddr(subnet, 200);
    const K = await w.addKernelPeer(VNI, `${kcIp}/24`, [A.ip, B.ip]);
    const vtepKey = `${w.etcdPrefix}/vteps/${id}/${K.ip}`;
    const ipamKey = `${w.etcdPrefix}/ipam/${id}/${kcIp}`;
    await w.etcd!.put(ipamKey, JSON.stringify({ owner: 'kernel-peer', host: K.ip }));
    await w.etcd!.put(vtepKey, JSON.stringify({ vtep: K.ip }));
    try {
      const peered = await waitFor(async () => {
        for (const h of [A, B]) {
          const r = await inspectOverlay(h.daemon, NET);
          if (!(r.Peers ?? []).some((p) => p.IP === K.ip)) return false;
        }
        return true;
      }, 10_000, 200);
      expect(peered, logs()).toBe(true);

      const kc = K.container;
      for (const c of [ca, cb]) {
        const out = await ping(kc.ns, c.ip, { count: 3, intervalS: 0.2, waitS: 2 });
        expect(out.lossPercent, `KC → ${c.ip}: ${out.stdout}\n${logs()}`).toBe(0);
        const back = await ping(c.ns, kc.ip, { count: 3, intervalS: 0.2, waitS: 2 });
        expect(back.lossPercent, `${c.ip} → KC: ${back.stdout}`).toBe(0);
        expect((await nsNeigh(c.ns, kc.ip))[0]?.lladdr).toBe(kc.mac);
      }
      // pontoon learned KC's MAC behind the kernel VTEP
      const fdb = (await A.daemon.status()).fdb.filter((f) => f.network === NET).map((f) => f.mac);
      expect(fdb).toContain(kc.mac);
    } finally {
      await w.etcd!.del(vtepKey);
      await w.etcd!.del(ipamKey);
      await nsExec(K.ns, ['ip', 'link', 'del', 'vx0']);
    }
    // unregistered: no longer a peer
    const unpeered = await waitFor(async () => !((await inspectOverlay(A.daemon, NET)).Peers ?? []).some((p) => p.IP === K.ip), 10_000, 200);
    expect(unpeered).toBe(true);
  }, 60_000);

  it('6. VXLAN datagrams from an unknown VTEP or with an unknown VNI are dropped and counted', async () => {
    const before = await overlayMetrics(A.daemon);
    const strangerMac = '02:00:de:ad:be:ef';
    const inner = `Ether(src='${strangerMac}', dst='${ca.mac}')/IP(src='${hostAddr(subnet, 99)}', dst='${ca.ip}')/ICMP()`;
    // from the underlay namespace's own address (etcd's): on the segment, but not a VTEP of the network
    await scapyInNetns(w.ul, `conf.verb = 0\nsend(IP(dst='${A.ip}')/UDP(sport=40000, dport=4789)/VXLAN(vni=${VNI}, flags=0x08)/${inner}, count=5)\n`);
    // from host B, a peer, but with a VNI no network uses
    await scapyInNetns(B.ns, `conf.verb = 0\nsend(IP(dst='${A.ip}')/UDP(sport=40001, dport=4789)/VXLAN(vni=${VNI + 1}, flags=0x08)/${inner}, count=4)\n`);
    let after = before;
    await waitFor(async () => {
      after = await overlayMetrics(A.daemon);
      return (after.drops.vxlan_unknown_vtep ?? 0) - (before.drops.vxlan_unknown_vtep ?? 0) >= 5 && (after.drops.vxlan_unknown_vni ?? 0) - (before.drops.vxlan_unknown_vni ?? 0) >= 4;
    }, 5000, 200);
    expect((after.drops.vxlan_unknown_vtep ?? 0) - (before.drops.vxlan_unknown_vtep ?? 0)).toBe(5);
    expect((after.drops.vxlan_unknown_vni ?? 0) - (before.drops.vxlan_unknown_vni ?? 0)).toBe(4);
    // nothing of them went further: the stranger's MAC was not learned
    const fdb = (await A.daemon.status()).fdb.map((f) => f.mac);
    expect(fdb).not.toContain(strangerMac);
  }, 30_000);

  it('7. etcd unavailable (hung, then dead): the data plane keeps working, a connect fails with a one-line error in bounded time; etcd back: the daemons recover', async () => {
    const etcd = w.etcd!;
    const names = async () => Object.values((await inspectOverlay(A.daemon, NET)).Containers).map((c) => c.Name).sort();

    const dataPlaneWorks = async (why: string) => {
      const p1 = await ping(ca.ns, cb.ip, { count: 5, intervalS: 0.2, waitS: 2 });
      const p2 = await ping(cb.ns, ca.ip, { count: 5, intervalS: 0.2, waitS: 2 });
      expect(p1.lossPercent, `${why}: ${p1.stdout}\n${logs()}`).toBe(0);
      expect(p2.lossPercent, `${why}: ${p2.stdout}`).toBe(0);
    };

    const connectRefused = async (ns: string, why: string) => {
      const before = await names();
      const started = Date.now();
      const r = await A.daemon.cli(['network', 'connect', NET, ns], { timeoutMs: 30_000 });
      const took = (Date.now() - started) / 1000;
      console.log(`connect with etcd ${why}: exit ${r.code} after ${took.toFixed(1)} s: ${r.stderr.trim()}`);
      expect(r.code).toBe(1);
      expect(took).toBeLessThan(15);
      const lines = r.stderr.trim().split('\n');
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(/^Error: .*cluster store unavailable \(etcd at http:\/\/[0-9.:]+\): \S/);
      // nothing half-done
      expect(await linkExists('eth0', ns)).toBe(false);
      expect(await names()).toEqual(before);
    };

    const connectWorks = async (ns: string) => {
      const r = await retry(() => A.daemon.cli(['network', 'connect', NET, ns], { timeoutMs: 30_000 }), 20_000, 500);
      expect(r.code, `${r.stderr}\n${logs()}`).toBe(0);
      const c = await containerAddress(ns);
      expect([ca.ip, cb.ip]).not.toContain(c.ip);
      // host B learned it through the watch
      const reachable = await waitFor(async () => (await ping(cb.ns, c.ip, { count: 1, waitS: 1 })).received === 1, 15_000, 200);
      expect(reachable, logs()).toBe(true);
    };

    // hung: SIGSTOP, etcd keeps its sockets and answers nothing
    const cn1 = await createNetns(`${w.prefix}-cn1`);
    etcd.pause();
    try {
      await dataPlaneWorks('etcd stopped');
      await connectRefused(cn1, 'stopped (SIGSTOP)');
    } finally {
      etcd.resume();
    }
    await connectWorks(cn1);

    // dead: SIGKILL, connections refused; then started again on the same data directory
    const cn2 = await createNetns(`${w.prefix}-cn2`);
    await etcd.kill();
    try {
      await dataPlaneWorks('etcd killed');
      await connectRefused(cn2, 'killed');
    } finally {
      await etcd.start();
    }
    await connectWorks(cn2);
    await dataPlaneWorks('etcd back');
  }, 90_000);
});

needs(overlayWorld).describe('overlay networks with static peers (store: none)', () => {
  let w: OverlayWorld;
  const NET = `ovs-${randomHex(3)}`;
  const VNI = 60_000 + (parseInt(randomHex(2), 16) % 1000);

  beforeAll(async () => {
    w = await buildOverlayWorld({ store: 'none' });
  }, 60_000);

  afterAll(async () => {
    const problems = await cleanupEverything();
    expect(problems).toEqual([]);
  }, 60_000);

  it('the same network created on both hosts (same VNI, distinct --ip-range): containers ping across', async () => {
    // host numbers are handed out in order: C is .10, D is .11
    const C = await w.addHost('c', { peers: [w.underlayAddr(11)] });
    const D = await w.addHost('d', { peers: [w.underlayAddr(10)] });
    const subnet = (await pickSubnets(['10.211', '172.27'], 1))[0]!;
    const lower = `${hostAddr(subnet, 0)}/25`;
    const upper = `${hostAddr(subnet, 128)}/25`;
    await C.daemon.cliOk(['network', 'create', '--driver', 'overlay', '--subnet', subnet, '--vni', String(VNI), '--ip-range', lower, NET]);
    await D.daemon.cliOk(['network', 'create', '--driver', 'overlay', '--subnet', subnet, '--vni', String(VNI), '--ip-range', upper, NET]);
    expect((await inspectOverlay(C.daemon, NET)).Peers).toEqual([{ IP: D.ip }]);
    expect((await inspectOverlay(D.daemon, NET)).Peers).toEqual([{ IP: C.ip }]);

    const cc = await w.connect(C, 'sc', NET);
    const cd = await w.connect(D, 'sd', NET);
    expect(cidrsOverlap(`${cc.ip}/32`, lower)).toBe(true);
    expect(cidrsOverlap(`${cd.ip}/32`, upper)).toBe(true);
    expect(cc.mtu).toBe(1450);

    const p1 = await ping(cc.ns, cd.ip, { count: 3, intervalS: 0.2, waitS: 2 });
    expect(p1.lossPercent, `${p1.stdout}\n${C.daemon.logTail(20)}\n${D.daemon.logTail(20)}`).toBe(0);
    const p2 = await ping(cd.ns, cc.ip, { count: 3, intervalS: 0.2, waitS: 2 });
    expect(p2.lossPercent).toBe(0);
    expect((await nsNeigh(cc.ns, cd.ip))[0]?.lladdr).toBe(cd.mac);
    const m = await overlayMetrics(C.daemon, VNI);
    expect(m.txPackets).toBeGreaterThanOrEqual(6);
    expect(m.rxPackets).toBeGreaterThanOrEqual(6);
  }, 60_000);
});


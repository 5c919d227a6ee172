/**
 * An overlay network over an IPv6 underlay, end to end: two "hosts" (namespaces with their own
 * daemon) whose underlay is IPv6 only (a ULA /64 on a bridge, no IPv4 address on it), etcd on that
 * underlay too (overlay-world.ts, underlay: 'ipv6'); cluster.advertise is each host's IPv6
 * address, so VXLAN goes over UDP/IPv6. A dual-stack overlay network made on A is adopted by B with
 * the IPv6 underlay's MTU (1500 - 70 = 1430); containers on both ping each other over IPv4 and
 * IPv6, a full-size packet included; iperf3 crosses both ways round (TCP over IPv4 and IPv6);
 * tshark in the underlay decodes VXLAN over IPv6 between the two VTEPs with good UDP checksums
 * and nothing malformed; a Linux VXLAN device over IPv6 (`local` an IPv6 address) joins as a foreign
 * peer (pontoon peer add with its IPv6 VTEP) and its container pings both hosts' containers.
 * Needs root, etcd, ip, ping, iperf3, tshark, bridge.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { cleanupAll, hostAddr, nsExec, nsExecOk, pickSubnets, ping, randomHex, startCapture, waitFor } from './harness.js';
import { cleanupNatWorlds, parseIperf, startBackground } from './nat-world.js';
import {
  ETCD_BIN,
  type OverlayContainer,
  type OverlayHost,
  type OverlayWorld,
  buildOverlayWorld,
  captureFile,
  cleanupOverlayWorlds,
  inspectOverlay,
  overlayMetrics,
  readCapture,
} from './overlay-world.js';
import { etcdServer, needs, root, tools } from './requirements.js';

/** a ULA /64 of random groups, printed as ip prints it (no leading zeros in a group) */
function randomUla64(): string {
  const group = () => (1 + Math.floor(Math.random() * 0xfffe)).toString(16);
  return `fd00:${group()}:${group()}::/64`;
}

needs([root, ...tools('ip', 'ping', 'iperf3', 'tshark', 'ss', 'timeout')], etcdServer(ETCD_BIN), tools('setpriv', 'curl')).describe('overlay networks over an IPv6 underlay', () => {
  let w: OverlayWorld;
  let A: OverlayHost;
  let B: OverlayHost;
  const NET = `ou6-${randomHex(3)}`;
  const VNI = 6000 + (parseInt(randomHex(2), 16) % 50_000);
  const SUBNET6 = randomUla64();
  let subnet = '';
  let ca: OverlayContainer;
  let cb: OverlayContainer;
  let a6 = '';
  let b6 = '';
  const logs = () => `--- host A:\n${A?.daemon.logTail(25)}\n--- host B:\n${B?.daemon.logTail(25)}\n--- etcd:\n${w?.etcd?.logTail() ?? ''}`;

  const global6 = async (c: OverlayContainer): Promise<string> => {
    const out = (await nsExecOk(c.ns, ['ip', '-j', '-6', 'addr', 'show', 'dev', 'eth0', 'scope', 'global'])).stdout;
    const info = (JSON.parse(out) as { addr_info: { local: string }[] }[])[0]?.addr_info ?? [];
    return info.find((a) => a.local.startsWith(SUBNET6.split('::')[0]!))?.local ?? '';
  };

  beforeAll(async () => {
    w = await buildOverlayWorld({ store: 'etcd', leaseTtlSeconds: 3, underlay: 'ipv6' });
    A = await w.addHost('a');
    B = await w.addHost('b');
    subnet = (await pickSubnets(['10.213', '172.29'], 1))[0]!;
  }, 90_000);

  afterAll(async () => {
    await cleanupOverlayWorlds();
    const problems = [...(await cleanupNatWorlds()), ...(await cleanupAll())];
    expect(problems).toEqual([]);
  }, 60_000);

  it('the underlay is IPv6 only: each host has its ULA address and no IPv4 address on it', async () => {
    for (const h of [A, B]) {
      expect(h.ip).toMatch(/^fd[0-9a-f]{2}:/);
      const v4 = (await nsExecOk(h.ns, ['ip', '-4', '-o', 'addr', 'show', 'dev', 'ul0'])).stdout.trim();
      expect(v4).toBe('');
      const v6 = (await nsExecOk(h.ns, ['ip', '-6', '-o', 'addr', 'show', 'dev', 'ul0', 'scope', 'global'])).stdout;
      expect(v6).toContain(`${h.ip}/64`);
      // the daemon's underlay socket is a udp6 one
      expect((await h.daemon.cliOk(['status'])).stdout).toMatch(/^Underlay: UDP\/IPv6, UDP GSO /m);
    }
  });

  it("a dual-stack overlay made on A appears on B with the IPv6 underlay's MTU (1430); containers on both ping each other over IPv4 and IPv6, full-size packets too", async () => {
    await A.daemon.cliOk(['network', 'create', '--driver', 'overlay', '--ipv6', '--subnet', subnet, '--subnet', SUBNET6, '--vni', String(VNI), NET]);
    const appeared = await waitFor(async () => (await B.daemon.cli(['network', 'ls', '--format', 'json'])).stdout.includes(`"${NET}"`), 10_000, 200);
    expect(appeared, logs()).toBe(true);
    const onB = await inspectOverlay(B.daemon, NET);
    expect(onB.Options['com.docker.network.driver.mtu']).toBe('1430');
    expect(onB.IPAM.Config[1]).toMatchObject({ Subnet: SUBNET6 });

    ca = await w.connect(A, 'ca', NET);
    cb = await w.connect(B, 'cb', NET);
    expect(ca.mtu).toBe(1430);
    expect(cb.mtu).toBe(1430);
    a6 = await global6(ca);
    b6 = await global6(cb);
    expect(a6).not.toBe('');
    expect(b6).not.toBe('');

    // each host knows the other's VTEP by its IPv6 underlay address
    const known = await waitFor(async () => {
      const a = await inspectOverlay(A.daemon, NET);
      const b = await inspectOverlay(B.daemon, NET);
      return (
        Object.values(a.RemoteContainers ?? {}).some((e) => e.MacAddress === cb.mac && e.Host === B.ip) &&
        Object.values(b.RemoteContainers ?? {}).some((e) => e.MacAddress === ca.mac && e.Host === A.ip)
      );
    }, 10_000, 200);
    expect(known, logs()).toBe(true);
    expect((await inspectOverlay(A.daemon, NET)).Peers).toEqual([{ IP: B.ip }]);
    expect((await inspectOverlay(B.daemon, NET)).Peers).toEqual([{ IP: A.ip }]);

    const p4 = await ping(ca.ns, cb.ip, { count: 3, intervalS: 0.2, waitS: 2 });
    expect(p4.lossPercent, `${p4.stdout}${p4.stderr}\n${logs()}`).toBe(0);
    const back4 = await ping(cb.ns, ca.ip, { count: 2, intervalS: 0.2, waitS: 2 });
    expect(back4.lossPercent).toBe(0);
    const p6 = await nsExec(ca.ns, ['ping', '-6', '-c', '3', '-i', '0.2', '-W', '2', b6]);
    expect(p6.stdout, `${p6.stderr}\n${logs()}`).toContain('3 packets transmitted, 3 received');
    const back6 = await nsExec(cb.ns, ['ping', '-6', '-c', '2', '-i', '0.2', '-W', '2', a6]);
    expect(back6.stdout).toContain('2 packets transmitted, 2 received');

    // a packet of the full overlay MTU (1430) fits the 1500-byte IPv6 underlay with its 70 bytes of headers
    const full4 = await nsExec(ca.ns, ['ping', '-c', '2', '-i', '0.2', '-W', '2', '-M', 'do', '-s', String(1430 - 28), cb.ip]);
    expect(full4.stdout, `${full4.stderr}\n${logs()}`).toContain('2 packets transmitted, 2 received');
    const full6 = await nsExec(ca.ns, ['ping', '-6', '-c', '2', '-i', '0.2', '-W', '2', '-M', 'do', '-s', String(1430 - 48), b6]);
    expect(full6.stdout, `${full6.stderr}\n${logs()}`).toContain('2 packets transmitted, 2 received');
    const m = await overlayMetrics(A.daemon, VNI);
    expect(m.drops.vxlan_too_big ?? 0).toBe(0);
    expect(m.drops.vxlan_unknown_vtep ?? 0).toBe(0);
  }, 90_000);

  it('iperf3 crosses the IPv6 underlay: TCP over IPv4 and over IPv6 inside, 2 s each', async () => {
    for (const [server, family] of [
      [cb.ip, '-4'],
      [b6, '-6'],
    ] as const) {
      const srv = startBackground(cb.ns, ['iperf3', family, '-s', '-1', '-B', server, '-p', '5201'], 30);
      try {
        const listening = await waitFor(async () => /:5201\b/.test((await nsExec(cb.ns, ['ss', '-Hltn'])).stdout), 10_000, 100);
        expect(listening, srv.stderr()).toBe(true);
        const r = await nsExec(ca.ns, ['timeout', '-s', 'KILL', '20', 'iperf3', family, '-c', server, '-p', '5201', '-t', '2', '-J', '--connect-timeout', '3000'], { timeoutMs: 25_000 });
        const res = parseIperf(r.stdout);
        expect(res.error, r.stdout.slice(0, 2000)).toBeUndefined();
        const received = res.end?.sum_received?.bytes ?? 0;
        expect(received, `iperf3 ${family} moved ${received} bytes\n${logs()}`).toBeGreaterThan(1_000_000);
        console.log(`iperf3 ${family} across the overlay over an IPv6 underlay: ${((received * 8) / 2 / 1e6).toFixed(0)} Mbit/s`);
      } finally {
        await srv.stop();
      }
    }
  }, 90_000);

  it("tshark on the underlay decodes VXLAN over UDP/IPv6 with the network's VNI, between the two VTEPs, good UDP checksums, 70 bytes of encapsulation, nothing malformed", async () => {
    const file = captureFile('vxlan6');
    const cap = await startCapture(w.ul, A.ulPort, file, 30);
    const p1 = await ping(ca.ns, cb.ip, { count: 3, size: 1000, intervalS: 0.2, waitS: 2 });
    const p2 = await nsExec(ca.ns, ['ping', '-6', '-c', '3', '-i', '0.2', '-W', '2', '-s', '1000', b6]);
    await cap.stop();
    expect(p1.lossPercent).toBe(0);
    expect(p2.stdout).toContain('3 packets transmitted, 3 received');

    const frames = await readCapture(file, 'vxlan', ['vxlan.vni', 'ipv6.src', 'ipv6.dst', 'ip.src', 'udp.dstport', 'udp.checksum.status', 'icmp.type', 'icmpv6.type', 'frame.len']);
    expect(frames.length, logs()).toBeGreaterThanOrEqual(12);
    let echo4 = 0;
    let echo6 = 0;
    for (const [vni, src6, dst6, src4, dport, csum, icmpType, icmp6Type, len] of frames) {
      expect(vni).toBe(String(VNI));
      // the outer IPv6 addresses are the VTEPs (an inner IPv6 packet adds the containers' after them)
      const [oSrc, iSrc6] = src6!.split(',');
      const [oDst, iDst6] = dst6!.split(',');
      expect([oSrc, oDst].sort()).toEqual([A.ip, B.ip].sort());
      expect(dport).toBe('4789');
      // the UDP checksum IPv6 makes mandatory, verified good (0: bad, 2: unverified); one per UDP layer
      expect(csum!.split(',')[0]).toBe('1');
      if (src4 === ca.ip && icmpType === '8') {
        echo4++;
        // 1000 bytes of payload, ICMP, IPv4, Ethernet, then 70 bytes: VXLAN, UDP, IPv6, outer Ethernet
        expect(len).toBe(String(1000 + 8 + 20 + 14 + 70));
      }
      if (iSrc6 === a6 && iDst6 === b6 && icmp6Type === '128') {
        echo6++;
        expect(len).toBe(String(1000 + 8 + 40 + 14 + 70));
      }
    }
    expect(echo4).toBe(3);
    expect(echo6).toBe(3);
    const ip4Outer = await readCapture(file, 'udp.port == 4789 && !ipv6', ['frame.number']);
    expect(ip4Outer, 'VXLAN over IPv4 on an IPv6 underlay').toEqual([]);
    const bad = await readCapture(file, 'vxlan && (_ws.malformed || _ws.expert.severity >= "Warning")', ['frame.number', '_ws.expert.message']);
    expect(bad, 'malformed frames or expert warnings').toEqual([]);
  }, 60_000);

  it('a Linux VXLAN device over IPv6 joins as a foreign peer (pontoon peer add with its IPv6 VTEP): its container and the containers on both hosts ping each other', async () => {
    const kcIp = hostAddr(subnet, 200);
    const K = await w.addKernelPeer(VNI, `${kcIp}/24`, [A.ip, B.ip]);
    expect(K.ip).toContain(':');
    const added = await A.daemon.cliOk(['peer', 'add', NET, K.ip.toUpperCase(), '--ip', kcIp]);
    expect(added.stdout.trim()).toBe(K.ip); // kept in RFC 5952 form
    const peered = await waitFor(async () => {
      for (const h of [A, B]) if (!((await inspectOverlay(h.daemon, NET)).Peers ?? []).some((p) => p.IP === K.ip)) return false;
      return true;
    }, 10_000, 200);
    expect(peered, logs()).toBe(true);
    const kc = K.container;
    for (const c of [ca, cb]) {
      const out = await ping(kc.ns, c.ip, { count: 3, intervalS: 0.2, waitS: 2 });
      expect(out.lossPercent, `KC → ${c.ip}: ${out.stdout}\n${logs()}`).toBe(0);
      const back = await ping(c.ns, kc.ip, { count: 2, intervalS: 0.2, waitS: 2 });
      expect(back.lossPercent, `${c.ip} → KC: ${back.stdout}`).toBe(0);
    }
    // an IPv4 VTEP on this IPv6 underlay: one line, nothing registered
    const v4 = await A.daemon.cli(['peer', 'add', NET, '192.0.2.77']);
    expect(v4.code).not.toBe(0);
    expect(v4.stderr.trim()).toMatch(/^Error: VTEP 192\.0\.2\.77 is IPv4 but this host's underlay \(cluster\.advertise fd[0-9a-f:]+\) is IPv6: a cluster's underlay is one family$/);
    expect((await A.daemon.cliOk(['peer', 'ls', NET])).stdout).not.toContain('192.0.2.77');
    await A.daemon.cliOk(['peer', 'rm', NET, K.ip]);
  }, 60_000);
});

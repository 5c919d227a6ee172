/**
 * IPv6 on a network's link, end to end (issue 13): namespaces on a dual-stack network ping each
 * other and the gateway over IPv6 (`ping -6`), the kernel in the namespace resolves the gateway by
 * NDP (a router entry for fe80::1 with the gateway's MAC), a Linux host that accepts router
 * advertisements configures itself from the gateway's answer to its router solicitation (the
 * prefix route and a SLAAC address), and a source address that is not the namespace's own is
 * dropped and counted. TCP flows between the namespaces over IPv6 (iperf3 -6), the kernel's partial
 * checksums passing through the TAPs.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { type Daemon, cleanupAll, createNetns, hostAddr, nsExec, nsExecOk, pickHostLink, pickSubnets, randomHex, runOk, scapyInNetns, sleep, startDaemon, waitFor } from './harness.js';
import { needs, root, scapy, tools } from './requirements.js';

const RUN = randomHex(3);
const C1 = `pte6l-${RUN}-c1`;
const C2 = `pte6l-${RUN}-c2`;
const group = () => (0x8000 | parseInt(randomHex(2), 16)).toString(16);
const PREFIX = `fd${randomHex(1)}:${group()}:${group()}:10`;
const V6 = `${PREFIX}::/64`;
const GW6 = `${PREFIX}::1`;

interface Neigh6 {
  dst: string;
  lladdr?: string;
  router?: null;
  state: string[];
}

needs(root, scapy, tools('ip', 'ping', 'sysctl', 'iperf3', 'ss', 'timeout', 'ethtool')).describe('IPv6 on the link (e2e)', () => {
  let d: Daemon;
  let gatewayMac = '';

  beforeAll(async () => {
    const [S0] = (await pickSubnets(['10.214'], 1)) as [string];
    const link = await pickHostLink();
    d = await startDaemon({
      hostAddress: link.hostCidr,
      defaultNetwork: { name: 'bridge', subnet: S0, gateway: hostAddr(S0, 1) },
      set: { 'defaultNetwork.ipv6': true, 'defaultNetwork.fixedCidrV6': V6 },
    });
    for (const n of [C1, C2]) {
      await createNetns(n);
      await d.cliOk(['network', 'connect', 'bridge', n]);
    }
    gatewayMac = (JSON.parse((await d.cliOk(['network', 'inspect', 'bridge'])).stdout) as { Options: Record<string, string> }[])[0]!.Options['pontoon.gateway.mac']!;
    expect(gatewayMac).toMatch(/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/);
  });

  afterAll(async () => {
    const problems = await cleanupAll();
    if (problems.length > 0) console.warn(`cleanup problems:\n${problems.join('\n')}`);
  });

  it('ping -6 reaches the gateway on fe80::1 and on its address, and the other namespace', async () => {
    const c2 = `${PREFIX}::3`;
    for (const [from, to] of [
      [C1, 'fe80::1%eth0'],
      [C1, GW6],
      [C1, c2],
      [C2, `${PREFIX}::2`],
    ] as const) {
      const r = await nsExec(from, ['ping', '-6', '-n', '-c', '2', '-W', '2', to], { timeoutMs: 10_000 });
      expect(r.code, `${from} -> ${to}: ${r.stdout}${r.stderr}\n${d.logTail(10)}`).toBe(0);
      expect(r.stdout).toMatch(/2 received/);
    }
  });

  it('TCP over IPv6 between the namespaces: iperf3 -6 through the TAPs, with their checksum offload and TSO6', async () => {
    // the TAP in the namespace offers TCP/IPv6 segmentation: the kernel hands over super segments
    const k = await nsExec(C1, ['ethtool', '-k', 'eth0'], { timeoutMs: 5000 });
    expect(k.stdout).toMatch(/tx-tcp6-segmentation: on/);
    const server = nsExec(C2, ['timeout', '15', 'iperf3', '-s', '-1', '-B', `${PREFIX}::3`], { timeoutMs: 20_000 });
    await waitFor(async () => (await nsExec(C2, ['ss', '-ltn'])).stdout.includes(':5201'), 5000, 100);
    const before = (await d.drops()).malformed ?? 0;
    const r = await nsExec(C1, ['iperf3', '-6', '-c', `${PREFIX}::3`, '-t', '2', '--connect-timeout', '3000', '-J'], { timeoutMs: 15_000 });
    await server;
    const j = JSON.parse(r.stdout) as { error?: string; end: { sum_received?: { bytes: number } } };
    expect(j.error, JSON.stringify(await d.drops())).toBeUndefined();
    expect(j.end.sum_received!.bytes).toBeGreaterThan(1_000_000);
    expect(((await d.drops()).malformed ?? 0) - before).toBe(0);
  });

  it('the namespace resolved the gateway by NDP: fe80::1 is a router at the gateway\'s MAC', async () => {
    const neigh = JSON.parse((await runOk(['ip', '-n', C1, '-j', '-6', 'neigh', 'show', 'dev', 'eth0'])).stdout) as Neigh6[];
    const gw = neigh.find((n) => n.dst === 'fe80::1');
    expect(gw, JSON.stringify(neigh)).toBeDefined();
    expect(gw!.router).toBeDefined();
    expect(gw!.lladdr).toBe(gatewayMac);
  });

  it("a host that accepts router advertisements configures itself from the gateway's: the prefix and a SLAAC address", async () => {
    for (const kv of ['accept_ra=1', 'autoconf=1', 'keep_addr_on_down=1']) await nsExecOk(C2, ['sysctl', '-q', '-w', `net.ipv6.conf.eth0.${kv}`]);
    // down and up: the kernel sends a router solicitation
    await runOk(['ip', '-n', C2, 'link', 'set', 'eth0', 'down']);
    await runOk(['ip', '-n', C2, 'link', 'set', 'eth0', 'up']);
    const configured = await waitFor(
      async () => /scope global dynamic/.test((await runOk(['ip', '-n', C2, '-6', 'addr', 'show', 'dev', 'eth0'])).stdout),
      15_000,
      250,
    );
    const addrs = (await runOk(['ip', '-n', C2, '-6', 'addr', 'show', 'dev', 'eth0'])).stdout;
    expect(configured, addrs).toBe(true);
    const mac = (await runOk(['ip', '-n', C2, '-j', 'link', 'show', 'dev', 'eth0'])).stdout.match(/"address":"([0-9a-f:]+)"/)![1]!;
    const b = mac.split(':').map((x) => parseInt(x, 16));
    const slaac = `${PREFIX}:${(((b[0]! ^ 2) << 8) | b[1]!).toString(16)}:${((b[2]! << 8) | 0xff).toString(16)}:${((0xfe << 8) | b[3]!).toString(16)}:${((b[4]! << 8) | b[5]!).toString(16)}`;
    expect(addrs).toContain(`inet6 ${slaac}/64 scope global dynamic`);
    const routes = (await runOk(['ip', '-n', C2, '-6', 'route', 'show'])).stdout;
    expect(routes).toMatch(new RegExp(`${V6.replace(/[.:/]/g, (c) => `\\${c}`)} dev eth0 proto (ra|kernel)`));
    // and the SLAAC address is the namespace's own: it reaches the gateway from it
    const r = await nsExec(C2, ['ping', '-6', '-n', '-c', '1', '-W', '2', '-I', slaac, GW6], { timeoutMs: 10_000 });
    expect(r.code, r.stdout + r.stderr).toBe(0);
  });

  it('a source address that is not the namespace\'s own gets nothing, counted as spoofed_ip', async () => {
    const before = (await d.drops()).spoofed_ip ?? 0;
    await runOk(['ip', '-n', C1, '-6', 'addr', 'add', `${PREFIX}::99/64`, 'dev', 'eth0', 'nodad']);
    const r = await nsExec(C1, ['ping', '-6', '-n', '-c', '2', '-W', '1', '-I', `${PREFIX}::99`, GW6], { timeoutMs: 10_000 });
    expect(r.code).not.toBe(0);
    expect(((await d.drops()).spoofed_ip ?? 0) - before).toBeGreaterThanOrEqual(2);
    await runOk(['ip', '-n', C1, '-6', 'addr', 'del', `${PREFIX}::99/64`, 'dev', 'eth0']);
  });

  it('a router advertisement and an advertisement of another\'s address from a container are dropped, counted as spoofed_ndp', async () => {
    const mac = (await runOk(['ip', '-n', C1, '-j', 'link', 'show', 'dev', 'eth0'])).stdout.match(/"address":"([0-9a-f:]+)"/)![1]!;
    const before = (await d.drops()).spoofed_ndp ?? 0;
    // C2 accepts router advertisements (the test above): a rogue RA would give it an address in 2001:db8:bad::/64
    await scapyInNetns(
      C1,
      [
        `m = "${mac}"`,
        'll = "fe80::" + in6_mactoifaceid(m)',
        'ra = Ether(src=m, dst="33:33:00:00:00:01")/IPv6(src=ll, dst="ff02::1")/ICMPv6ND_RA(routerlifetime=1800)',
        'ra = ra/ICMPv6NDOptPrefixInfo(prefix="2001:db8:bad::", prefixlen=64, L=1, A=1)/ICMPv6NDOptSrcLLAddr(lladdr=m)',
        `na = Ether(src=m, dst="33:33:00:00:00:01")/IPv6(src=ll, dst="ff02::1")/ICMPv6ND_NA(tgt="${PREFIX}::3", R=0, S=0, O=1)/ICMPv6NDOptDstLLAddr(lladdr=m)`,
        'sendp([ra, na], iface="eth0", verbose=0)',
      ].join('\n'),
    );
    await sleep(1500);
    expect(((await d.drops()).spoofed_ndp ?? 0) - before).toBe(2);
    const addrs = (await runOk(['ip', '-n', C2, '-6', 'addr', 'show', 'dev', 'eth0'])).stdout;
    expect(addrs).not.toContain('2001:db8:bad:');
    const routes = (await runOk(['ip', '-n', C2, '-6', 'route', 'show'])).stdout;
    expect(routes).not.toContain('2001:db8:bad::/64');
    // the gateway still reaches C2 at its own MAC: nothing took its address
    const r = await nsExec(C2, ['ping', '-6', '-n', '-c', '1', '-W', '2', GW6], { timeoutMs: 10_000 });
    expect(r.code, r.stdout + r.stderr).toBe(0);
  });
});

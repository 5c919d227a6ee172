/**
 * NAT66 and routed IPv6 end to end, as a user sees it: a dual-stack world (test/e2e/nat-world.ts
 * with ipv6) whose default network has a ULA /64, masqueraded to the uplink's 2001:db8 address as
 * Docker's ip6tables does; a far side on another 2001:db8 /64 behind a router whose own uplink
 * address is fe80::1 (the gateway must not claim it). ping -6, curl -6, iperf3 -6, traceroute -6,
 * published ports on [::], hairpin, a network with a global prefix routed without NAT, tshark.
 * Needs root.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { PAYLOAD_AS_DATA, cleanupAll, dropsFromMetrics, nsExec, pickSubnets, ping, run, startCapture, tsharkFields, waitFor } from './harness.js';
import { type Container, type NatWorld, buildNatWorld, cleanupNatWorlds, parseIperf, startBackground } from './nat-world.js';
import { needs, root, tools } from './requirements.js';

const suite = needs(root, tools('ip', 'ping', 'curl', 'iperf3', 'traceroute', 'tshark', 'tcpdump', 'sysctl', 'timeout'));

/** Client addresses in the node HTTP server's log ("IP PORT METHOD URL"), IPv6 ones included. */
function httpClients(log: string): string[] {
  return [...log.matchAll(/^([0-9a-f:.]+) [0-9]+ GET /gm)].map((m) => m[1]!.replace(/^::ffff:/, ''));
}

async function drops(w: NatWorld): Promise<Record<string, number>> {
  return dropsFromMetrics(await w.daemon.metrics());
}

suite.describe('NAT66: IPv6 out through the uplink, in through published ports (e2e)', () => {
  let w: NatWorld;
  let a: Container;
  let b: Container;
  let capture: Awaited<ReturnType<typeof startCapture>> | null = null;
  let captureFile = '';

  beforeAll(async () => {
    w = await buildNatWorld({ kind: 'tap', ipv6: true });
    captureFile = join(w.dir, 'uplink6.pcap');
    capture = await startCapture(w.router, w.routerUplinkDevice, captureFile, 120);
    a = await w.connect('a', ['[::]:8080:80/tcp', '5201:5201/tcp']);
    b = await w.connect('b');
  }, 90_000);

  afterAll(async () => {
    await capture?.stop();
    const problems = [...(await cleanupNatWorlds()), ...(await cleanupAll())];
    if (problems.length > 0) throw new Error(`cleanup left things behind:\n${problems.join('\n')}`);
  });

  it('the containers have a ULA address of the default network; ping -6 reaches the far host through the gateway', async () => {
    expect(a.ip6).toMatch(/^fd/);
    const r = await ping(a.ns, w.far6A, { count: 3, intervalS: 0.2 });
    expect(r.received, r.stdout + r.stderr).toBe(3);
  });

  it('curl -6 out through NAT66: the far host sees the uplink address, conntrack ls shows the masqueraded flow', async () => {
    const root = w.webRoot('far6', 'far side over IPv6\n');
    const server = await w.httpServer(w.far, '::', 8081, root);
    const r = await w.curl(a.ns, `http://[${w.far6A}]:8081/`);
    expect(r.stdout).toBe('far side over IPv6\n');
    expect(httpClients(server.stdout())).toEqual([w.uplink6]);
    const flows = (await w.conntrack()).filter((e) => e.proto === 'tcp' && e.orig.dst === w.far6A);
    expect(flows.length).toBeGreaterThan(0);
    expect(flows[0]!.orig.src).toBe(a.ip6);
    expect(flows[0]!.reply.dst).toBe(w.uplink6);
    expect(flows[0]!.flags).toContain('SNAT');
    await server.stop();
  });

  it('iperf3 -6 out through NAT66, and in through a port the container published on both families', async () => {
    const far = startBackground(w.far, ['iperf3', '-s', '-1', '-p', '5202'], 30);
    await waitFor(async () => (await nsExec(w.far, ['ss', '-ltnH', 'sport = :5202'])).stdout.includes('5202'), 5000);
    const out = await nsExec(a.ns, ['iperf3', '-6', '-c', w.far6A, '-p', '5202', '-t', '2', '-J'], { timeoutMs: 20_000 });
    const rOut = parseIperf(out.stdout);
    expect(rOut.error, out.stdout).toBeUndefined();
    expect(rOut.end!.sum_received!.bytes).toBeGreaterThan(1_000_000);
    await far.stop();
    // -p 5201:5201 on a dual-stack endpoint publishes [::]:5201 too, as Docker does (and prints it as docker port does)
    const ports = (await w.daemon.cliOk(['port', a.ns])).stdout.split('\n').filter((l) => l !== '');
    expect(ports.sort()).toEqual(['5201/tcp -> 0.0.0.0:5201', '5201/tcp -> :::5201', '80/tcp -> :::8080']);
    const server = startBackground(a.ns, ['iperf3', '-s', '-1', '-p', '5201'], 30);
    await waitFor(async () => (await nsExec(a.ns, ['ss', '-ltnH', 'sport = :5201'])).stdout.includes('5201'), 5000);
    const inb = await nsExec(w.far, ['iperf3', '-6', '-c', w.uplink6, '-p', '5201', '-t', '2', '-J'], { timeoutMs: 20_000 });
    const rIn = parseIperf(inb.stdout);
    expect(rIn.error, inb.stdout).toBeUndefined();
    expect(rIn.end!.sum_received!.bytes).toBeGreaterThan(1_000_000);
    await server.stop();
  });

  it('a port published on [::] is reached from outside with the client address kept, and hairpinned from a neighbour', async () => {
    const root = w.webRoot('a6', 'container a over IPv6\n');
    const server = await w.httpServer(a.ns, '::', 80, root);
    const fromFar = await w.curl(w.far, `http://[${w.uplink6}]:8080/`, ['--interface', w.far6A]);
    expect(fromFar.stdout).toBe('container a over IPv6\n');
    // the neighbour through the uplink address: the target sees the gateway's outside address (RFC 4787 REQ-9)
    const hairpin = await w.curl(b.ns, `http://[${w.uplink6}]:8080/`);
    expect(hairpin.stdout).toBe('container a over IPv6\n');
    expect(httpClients(server.stdout())).toEqual([w.far6A, w.uplink6]);
    // IPv4 never reaches the IPv6-only publication
    const v4 = await w.curl(w.far, `http://198.51.100.2:8080/`, ['--connect-timeout', '2']);
    expect(v4.code).not.toBe(0);
    await server.stop();
  });

  it('the router on the path answers a hop limit of 2 with time exceeded, translated back to the container; traceroute -6 lists it', async () => {
    const p = await nsExec(a.ns, ['ping', '-6', '-n', '-c', '1', '-W', '2', '-t', '2', w.far6A]);
    expect(p.stdout).toMatch(new RegExp(`From ${w.router6.replace(/:/g, ':')}.*Time exceeded`, 'i'));
    const tr = await nsExec(a.ns, ['traceroute', '-6', '-n', '-q', '1', '-w', '1', '-m', '4', w.far6A], { timeoutMs: 30_000 });
    const hops = [...tr.stdout.matchAll(/^\s*[0-9]+\s+([0-9a-f:]+)\s/gm)].map((m) => m[1]!);
    expect(hops).toContain(w.router6);
    expect(hops[hops.length - 1]).toBe(w.far6A);
  });

  it('nothing reaches a masqueraded container from outside, even with a route to its prefix: counted no_mapping', async () => {
    await run(['ip', '-n', w.router, '-6', 'route', 'replace', w.subnet6, 'via', w.uplink6]);
    const before = (await drops(w)).no_mapping ?? 0;
    const r = await ping(w.far, a.ip6!, { count: 2, intervalS: 0.2, waitS: 1 });
    expect(r.received).toBe(0);
    expect(await waitFor(async () => ((await drops(w)).no_mapping ?? 0) >= before + 2, 3000)).toBe(true);
  });

  it('TCP to a port of the uplink address that nothing publishes is refused with a RST, as by a host with no listener', async () => {
    const r = await nsExec(w.far, ['curl', '-6', '-sS', '--connect-timeout', '3', '-o', '/dev/null', `http://[${w.uplink6}]:8099/`]);
    // 7: could not connect (refused); a drop without the RST would be 28 (timed out)
    expect([r.code, r.stderr]).toEqual([7, expect.stringMatching(/Connection refused|Couldn't connect/)]);
  });

  it('a network with a global prefix is routed without NAT: the far host pings the container, which it sees by its own address', async () => {
    const subnet = (await pickSubnets('172.31', 1))[0]!;
    const global6 = `${w.far6A.split(':').slice(0, 2).join(':')}:${(0x8000 | Math.floor(Math.random() * 0x7fff)).toString(16)}:1::/64`;
    await w.daemon.cliOk(['network', 'create', '--ipv6', '--subnet', subnet, '--subnet', global6, 'routed6']);
    const inspect = JSON.parse((await w.daemon.cliOk(['network', 'inspect', 'routed6'])).stdout)[0];
    expect(inspect.Options['pontoon.ipv6.nat']).toBe('false');
    const ns = `${w.prefix}-g`;
    await run(['ip', 'netns', 'add', ns]);
    await w.daemon.cliOk(['network', 'connect', 'routed6', ns]);
    const addr = (await nsExec(ns, ['ip', '-6', '-o', 'addr', 'show', 'dev', 'eth0', 'scope', 'global'])).stdout.match(/inet6 ([0-9a-f:]+)\//)![1]!;
    await run(['ip', '-n', w.router, '-6', 'route', 'replace', global6, 'via', w.uplink6]);
    const r = await ping(w.far, addr, { count: 2, intervalS: 0.2 });
    expect(r.received, r.stdout + r.stderr).toBe(2);
    const root = w.webRoot('far6r', 'routed\n');
    const server = await w.httpServer(w.far, '::', 8082, root);
    expect((await w.curl(ns, `http://[${w.far6A}]:8082/`)).stdout).toBe('routed\n');
    expect(httpClients(server.stdout())).toEqual([addr]);
    await server.stop();
    await w.daemon.cliOk(['network', 'disconnect', 'routed6', ns]);
    await run(['ip', 'netns', 'del', ns]);
    await w.daemon.cliOk(['network', 'rm', 'routed6']);
  });

  it('tshark decodes every IPv6 frame on the uplink with no bad checksum; never a ULA source', async () => {
    await capture!.stop();
    capture = null;
    const rows = await tsharkFields(captureFile, 'ipv6', ['ipv6.src', 'ipv6.dst']);
    expect(rows.length).toBeGreaterThan(100);
    // the containers' TCP and UDP leave the uplink TAP with a partial checksum (offload: the capture
    // sits before it is filled in; the far side, which answered traceroute's probes, got them
    // complete); ICMPv6 checksums, translated errors included, are always complete
    const bad = await tsharkFields(
      captureFile,
      'ipv6 && (_ws.malformed || icmpv6.checksum.status == 0 || (_ws.expert.severity == error && !(udp.checksum.status == 0)))',
      ['frame.number', '_ws.col.Info'],
      PAYLOAD_AS_DATA,
    );
    expect(bad).toEqual([]);
    expect((await tsharkFields(captureFile, 'icmpv6.type == 3', ['icmpv6.checksum.status'])).map((r) => r[0])).toContain('1');
    const ula = rows.filter((r) => /^fd/.test(r[0]!)); // a ULA never leaves as a source (the far side's probes at one are inbound)
    expect(ula).toEqual([]);
  });
});

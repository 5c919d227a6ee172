/**
 * The masquerade against what the NAT RFCs ask, checked with the tools people use: Debian's
 * stun-client against stund on the far host (RFC 3489's classification: mapping, filtering, port
 * preservation, hairpinning), hairpinning between containers through the uplink address, a port
 * published on the host's loopback that no packet from outside can reach, the per-container
 * connection limit, and a published UDP flow that follows its container instead of black-holing
 * the next one. Traffic only to namespaces created here and to the host's loopback. Needs root.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { cleanupAll, nsExec, nsNeigh, SCAPY_PYTHON, waitFor } from './harness.js';
import {
  type Background,
  type Container,
  FAR_A,
  FAR_B,
  jsonLines,
  type NatWorld,
  ROUTER_IP,
  UPLINK_IP,
  buildNatWorld,
  cleanupNatWorlds,
  startBackground,
} from './nat-world.js';
import { needs, root, tools } from './requirements.js';

const suite = needs(root, tools('ip', 'curl', 'ss', 'stun', 'stund', 'tcpdump', 'timeout', 'python3'));

async function cleanup(): Promise<void> {
  const problems = [...(await cleanupNatWorlds()), ...(await cleanupAll())];
  if (problems.length > 0) throw new Error(`cleanup left things behind:\n${problems.join('\n')}`);
}

/** A UDP socket bound to PORT that sends one datagram to DST:DPORT (opening its mapping), then echoes whatever arrives, one JSON line each. */
const OPEN_AND_ECHO_PY = String.raw`
import json, socket, sys
port, dst, dport = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(('0.0.0.0', port))
s.sendto(b'open', (dst, dport))
print(json.dumps({'ready': port}), flush=True)
while True:
    data, peer = s.recvfrom(65535)
    print(json.dumps({'from': '%s:%d' % peer, 'data': data.decode(errors='replace')}), flush=True)
    s.sendto(b'echo:' + data, peer)
`;

/** Sends "n" to DST:DPORT from PORT every 50 ms for SECONDS. */
const TICKER_PY = String.raw`
import socket, sys, time
port, dst, dport, seconds = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(('0.0.0.0', port))
end = time.time() + seconds
n = 0
while time.time() < end:
    s.sendto(str(n).encode(), (dst, dport))
    n += 1
    time.sleep(0.05)
print('sent', n, flush=True)
`;

/** Sends one datagram from PORT to each DST:DPORT argument. */
const FANOUT_PY = String.raw`
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for spec in sys.argv[1:]:
    host, port = spec.rsplit(':', 1)
    s.sendto(b'hi', (host, int(port)))
print('sent', len(sys.argv) - 1, flush=True)
`;

function python(w: NatWorld, ns: string, name: string, source: string, args: (string | number)[], maxSeconds = 60): Background {
  return startBackground(ns, [SCAPY_PYTHON, '-u', w.script(name, source), ...args.map(String)], maxSeconds);
}

const received = (b: Background) => jsonLines<{ from?: string; data?: string; local?: string }>(b.stdout()).filter((l) => l.data !== undefined);

// ---------------------------------------------------------------------------------------------

suite.describe('the masquerade as RFC 4787/5382 ask: stun, hairpinning, loopback publishing, stale flows', () => {
  let w: NatWorld;
  let c1: Container;
  let c2: Container;
  const loopPort = 20_000 + Math.floor(Math.random() * 10_000);

  beforeAll(async () => {
    w = await buildNatWorld({ kind: 'tap' });
    c1 = await w.connect('c1', [`127.0.0.1:${loopPort}:80`]);
    c2 = await w.connect('c2');
    await w.httpServer(c1.ns, '0.0.0.0', 80, w.webRoot('c1', 'c1 on the loopback\n'));
  }, 120_000);

  afterAll(cleanup, 60_000);

  it('stun: Independent Mapping, Port Dependent Filter, preserves ports, will hairpin', async () => {
    const server = startBackground(w.far, ['stund', '-h', FAR_A, '-a', FAR_B], 60);
    await waitFor(async () => (await nsExec(w.far, ['ss', '-lun'])).stdout.includes(`${FAR_A}:3478`), 10_000);
    const r = await nsExec(c1.ns, ['timeout', '30', 'stun', FAR_A], { timeoutMs: 40_000 });
    await server.stop();
    const out = r.stdout + r.stderr;
    expect(out, out).toMatch(/Independent Mapping/);
    expect(out, out).toMatch(/Port Dependent Filter/);
    expect(out, out).toMatch(/preserves ports/);
    expect(out, out).toMatch(/will hairpin/);
    expect(out, out).not.toMatch(/no hairpin/);
  }, 60_000);

  it("hairpin: c2 reaches c1's live UDP mapping at 198.51.100.2:PORT and c1 sees c2's own outside address", async () => {
    const c1Sock = python(w, c1.ns, 'open_and_echo.py', OPEN_AND_ECHO_PY, [7000, FAR_A, 9]);
    expect(await c1Sock.waitForOutput(/"ready"/, 10_000), c1Sock.stderr()).toBe(true);
    const client = w.udpClient(c2.ns, { bind: '0.0.0.0:7100', send: [`${UPLINK_IP}:7000:hello`], listenS: 5, count: 1 });
    const r = await client.exited();
    const answers = jsonLines<{ from?: string; data?: string }>(r.stdout).filter((l) => l.data !== undefined);
    expect(answers, r.stdout + r.stderr).toEqual([{ from: `${UPLINK_IP}:7000`, data: 'echo:hello' }]);
    expect(received(c1Sock)).toEqual([{ from: `${UPLINK_IP}:7100`, data: 'hello' }]);
    await c1Sock.stop();
    const m = await w.daemon.metrics();
    expect(m).toMatch(/^pontoon_nat_hairpin_flows_total [1-9]/m);
  }, 30_000);

  it('a port published on 127.0.0.1 answers the host only: never from the uplink, not even a forged packet for 127.0.0.1', async () => {
    const ports = await w.daemon.cliOk(['port', c1.ns]);
    expect(ports.stdout.trim()).toBe(`80/tcp -> 127.0.0.1:${loopPort}`);
    const fromHost = await w.curl(null, `http://127.0.0.1:${loopPort}/`);
    expect(fromHost.code, fromHost.stderr).toBe(0);
    expect(fromHost.stdout).toBe('c1 on the loopback\n');
    // from outside: the uplink address has no such port (a RST: curl's "connection refused")
    const fromFar = await w.curl(w.far, `http://${UPLINK_IP}:${loopPort}/`);
    expect(fromFar.code).toBe(7);
    // a forged SYN for 127.0.0.1 sent to the gateway's uplink MAC by the router
    const neigh = await nsNeigh(w.router, UPLINK_IP);
    const mac = neigh.find((n) => n.lladdr !== undefined)?.lladdr;
    expect(mac, JSON.stringify(neigh)).toMatch(/^([0-9a-f]{2}:){5}[0-9a-f]{2}$/);
    const before = (await w.daemon.drops()).martian ?? 0;
    const capture = startBackground(c1.ns, ['tcpdump', '-n', '-i', 'eth0', '-c', '1', `tcp port 80 and host ${ROUTER_IP}`], 20);
    await capture.waitForOutput(/listening on/, 10_000);
    const forged = await nsExec(
      w.router,
      [
        SCAPY_PYTHON,
        '-c',
        `from scapy.all import *; sendp([Ether(dst='${mac}')/IP(src='${ROUTER_IP}', dst='127.0.0.1')/TCP(sport=40000+i, dport=${loopPort}, flags='S') for i in range(3)], iface='${w.routerUplinkDevice}', verbose=0)`,
      ],
      { timeoutMs: 30_000 },
    );
    expect(forged.code, forged.stderr).toBe(0);
    expect(await waitFor(async () => ((await w.daemon.drops()).martian ?? 0) >= before + 3, 5000)).toBe(true);
    const seen = await capture.stop(500);
    expect(seen.stdout).not.toMatch(/Flags \[S\]/);
  }, 60_000);

  it('a published UDP flow follows its container: after a disconnect, the next container on the port gets the datagrams', async () => {
    const c3 = await w.connect('c3', ['5300:53/udp']);
    const l3 = await w.udpListener(c3.ns, ['0.0.0.0:53'], false, 60);
    const ticker = python(w, w.far, 'ticker.py', TICKER_PY, [5400, UPLINK_IP, 5300, 12], 30);
    expect(await waitFor(() => received(l3).length >= 5, 10_000), ticker.stderr()).toBe(true);
    expect(received(l3)[0]!.from).toBe(`${FAR_A}:5400`);
    await w.daemon.cliOk(['network', 'disconnect', 'bridge', c3.ns]);
    // its connections went with it, at once
    const left = (await w.conntrack()).filter((e) => e.reply.src === c3.ip || e.orig.src === c3.ip);
    expect(left).toEqual([]);
    // another container, on another address, publishes the same port: the far host's flow reaches it
    const ns4 = c3.ns.replace(/-c3$/, '-c4');
    const c4 = await w.connectAt('c4', ['5300:53/udp'], w.subnet.replace(/\.0\/24$/, '.200'));
    expect(c4.ns).toBe(ns4);
    expect(c4.ip).not.toBe(c3.ip);
    const l4 = await w.udpListener(c4.ns, ['0.0.0.0:53'], false, 60);
    expect(await waitFor(() => received(l4).length >= 5, 5000), `c4 got ${received(l4).length}`).toBe(true);
    expect(received(l4)[0]!.from).toBe(`${FAR_A}:5400`);
    await ticker.stop();
    await l3.stop();
    await l4.stop();
  }, 60_000);
});

// ---------------------------------------------------------------------------------------------

/** TCP server on HOST:PORT: prints one JSON line per received chunk ({t, n}: seconds since start, bytes so far), then {closed, n, error}. */
const TCP_SINK_PY = String.raw`
import json, socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], int(sys.argv[2])))
s.listen(1)
print(json.dumps({'listening': True}), flush=True)
c, peer = s.accept()
t0, n, err = time.time(), 0, None
try:
    while True:
        d = c.recv(4096)
        if not d:
            break
        n += len(d)
        print(json.dumps({'t': round(time.time() - t0, 3), 'n': n}), flush=True)
except OSError as e:
    err = str(e)
print(json.dumps({'closed': True, 'n': n, 'error': err}), flush=True)
`;

/** TCP client: connects to HOST:PORT, sends a byte every 50 ms for SECONDS, closes; prints {sent, error}. */
const TCP_TRICKLE_PY = String.raw`
import json, socket, sys, time
c = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=10)
print(json.dumps({'connected': True}), flush=True)
end, sent, err = time.time() + float(sys.argv[3]), 0, None
try:
    while time.time() < end:
        c.sendall(b'x')
        sent += 1
        time.sleep(0.05)
    c.shutdown(socket.SHUT_WR)
    c.recv(1)
except OSError as e:
    err = str(e)
print(json.dumps({'sent': sent, 'error': err}), flush=True)
`;

suite.describe('per-container connection limit (conntrack.maxPerEndpoint: 8) and mid-stream pickup (unsolicitedTcp: drop)', () => {
  let w: NatWorld;
  let c1: Container;
  let c2: Container;

  beforeAll(async () => {
    w = await buildNatWorld({ kind: 'tap', conntrack: { maxPerEndpoint: 8 }, nat: { unsolicitedTcp: 'drop' } });
    c1 = await w.connect('c1');
    c2 = await w.connect('c2');
  }, 120_000);

  afterAll(cleanup, 60_000);

  it('a container gets 8 flows and no more (counted conntrack_endpoint_limit); another container is not affected', async () => {
    const farPorts = Array.from({ length: 12 }, (_, i) => 9001 + i);
    const listener = await w.udpListener(w.far, farPorts.map((p) => `${FAR_A}:${p}`), false, 60);
    const fan = python(w, c1.ns, 'fanout.py', FANOUT_PY, farPorts.map((p) => `${FAR_A}:${p}`), 30);
    await fan.exited();
    const other = python(w, c2.ns, 'fanout2.py', FANOUT_PY, [`${FAR_A}:9001`], 30);
    await other.exited();
    await waitFor(() => received(listener).length >= 9, 5000);
    const got = received(listener);
    expect(got.filter((l) => l.from!.startsWith(`${UPLINK_IP}:`)).length).toBe(9);
    expect(new Set(got.map((l) => l.local)).size).toBe(8); // c1 reached 8 ports; c2 one of them
    const drops = await w.daemon.drops();
    expect(drops.conntrack_endpoint_limit).toBe(4);
    await listener.stop();
    expect(c2.ip).not.toBe(c1.ip);
  }, 60_000);

  it('tcpLoose: a connection whose entry is flushed mid-stream is picked up by its next segment, on the same outside port', async () => {
    const sink = python(w, w.far, 'tcp_sink.py', TCP_SINK_PY, [FAR_A, 7777], 60);
    expect(await sink.waitForOutput(/"listening"/, 10_000), sink.stderr()).toBe(true);
    const client = python(w, c2.ns, 'tcp_trickle.py', TCP_TRICKLE_PY, [FAR_A, 7777, 4], 60);
    expect(await client.waitForOutput(/"connected"/, 10_000), client.stderr()).toBe(true);
    await waitFor(() => jsonLines<{ n?: number }>(sink.stdout()).some((l) => (l.n ?? 0) >= 10), 5000);
    const before = (await w.conntrack()).find((e) => e.proto === 'tcp' && e.orig.dport === 7777);
    expect(before?.flags).not.toContain('PICKED_UP');
    await w.daemon.cliOk(['conntrack', 'flush']);
    const r = await client.exited();
    const result = jsonLines<{ sent?: number; error?: string | null }>(r.stdout).find((l) => l.sent !== undefined);
    expect(result, r.stdout + r.stderr).toMatchObject({ error: null });
    await waitFor(() => sink.stdout().includes('"closed"'), 5000);
    const lines = jsonLines<{ t?: number; n?: number; closed?: boolean; error?: string | null }>(sink.stdout());
    const closed = lines.find((l) => l.closed === true);
    expect(closed, sink.stdout()).toMatchObject({ n: result!.sent, error: null });
    const times = lines.filter((l) => l.t !== undefined).map((l) => l.t!);
    const stall = Math.max(...times.slice(1).map((t, i) => t - times[i]!));
    expect(stall, `longest gap ${stall} s`).toBeLessThan(1);
    const after = (await w.conntrack()).filter((e) => e.proto === 'tcp' && e.orig.dport === 7777);
    expect(after.map((e) => e.reply.dport)).toEqual([before!.reply.dport]); // the same outside port
    expect(after[0]!.flags).toContain('PICKED_UP');
  }, 60_000);
});

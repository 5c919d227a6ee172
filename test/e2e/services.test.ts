/**
 * Services end to end (`pontoon service`): two hosts of an L2 overlay (etcd), three HTTP backends
 * with the alias "web" (one on host A, two on host B) and clients on both hosts; a VIP of
 * services.cidr DNATed to them, replies switched from a backend on the client's segment translated
 * on the way (same host and across hosts); client-ip affinity; a backend killed mid-test (its
 * namespace deleted and its server killed) leaving within a second; no backend: refused at once;
 * hairpin; --publish reached from an "outside" namespace over host A's uplink; DNS for the service
 * and tasks.NAME; a bridge network on one host; the metrics. Every address is in namespaces made
 * here (TEST-NET-2 for the outside, private ranges for the containers).
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { cleanupAll, createNetns, hostAddr, nsExec, nsExecOk, pickSubnets, randomHex, runOk, sleep, waitFor } from './harness.js';
import { type Background, cleanupNatWorlds, startBackground } from './nat-world.js';
import { ETCD_BIN, type OverlayContainer, type OverlayHost, type OverlayWorld, buildOverlayWorld, cleanupOverlayWorlds } from './overlay-world.js';
import { etcdServer, needs, root, tools } from './requirements.js';

const PYTHON = '/usr/bin/python3';
const HTTP_PORT = 8080;
const PUBLISH_PORT = 30080;
const UPLINK_IP = '198.51.100.2';
const OUTSIDE_IP = '198.51.100.1';

/** A one-line HTTP server answering every GET with its name (HTTP/1.0, one request per connection). */
const SERVER = [
  'import http.server, sys',
  'class H(http.server.BaseHTTPRequestHandler):',
  '    def do_GET(self):',
  '        b = (sys.argv[1] + "\\n").encode()',
  '        self.send_response(200); self.send_header("Content-Length", str(len(b))); self.end_headers(); self.wfile.write(b)',
  '    def log_message(self, *a): pass',
  'http.server.ThreadingHTTPServer(("0.0.0.0", int(sys.argv[2])), H).serve_forever()',
].join('\n');

interface ServiceView {
  Name: string;
  VIP: string;
  Backends: { Name: string; IP: string; Host: string; NewFlows: number; ActiveFlows: number }[];
  Refused: number;
}

async function cleanupEverything(): Promise<string[]> {
  await cleanupOverlayWorlds();
  const problems = await cleanupNatWorlds();
  return [...problems, ...(await cleanupAll())];
}

needs(root, tools('ip', 'curl', 'dig', 'python3', 'setpriv', 'timeout'), etcdServer(ETCD_BIN)).describe('services', () => {
  let w: OverlayWorld;
  let A: OverlayHost;
  let B: OverlayHost;
  const hex = randomHex(3);
  const NET = `sv-${hex}`;
  const outside = `pte-${hex}-out`;
  const uplinkDevice = `pt${hex}up`;
  let subnet = '';
  const servers = new Map<string, Background>();
  const c: Record<string, OverlayContainer> = {};
  let vip = '';
  const BR = `sb-${hex}`;

  const logs = () => `--- host A:\n${A?.daemon.logTail(30)}\n--- host B:\n${B?.daemon.logTail(30)}`;

  async function serve(name: string): Promise<void> {
    const bg = startBackground(c[name]!.ns, [PYTHON, '-c', SERVER, name, String(HTTP_PORT)], 600);
    servers.set(name, bg);
    const up = await waitFor(async () => (await nsExec(c[name]!.ns, ['curl', '-sS', '-m', '2', `http://127.0.0.1:${HTTP_PORT}/`], { timeoutMs: 4000 })).stdout.trim() === name, 15_000, 100);
    if (!up) throw new Error(`the HTTP server of ${name} did not start: ${bg.stderr()}`);
  }

  /** One request: the backend's name, or the curl error. */
  async function get(ns: string, url: string): Promise<{ ok: boolean; body: string; err: string; code: number | null }> {
    const r = await nsExec(ns, ['curl', '-sS', '-m', '3', url], { timeoutMs: 6000 });
    return { ok: r.code === 0, body: r.stdout.trim(), err: r.stderr.trim(), code: r.code };
  }

  async function inspect(h: OverlayHost, name: string): Promise<ServiceView> {
    return (JSON.parse((await h.daemon.cliOk(['service', 'inspect', name])).stdout) as ServiceView[])[0]!;
  }

  async function backendsOn(h: OverlayHost, name: string): Promise<string[]> {
    const r = await h.daemon.cli(['service', 'inspect', name]);
    if (r.code !== 0) return [];
    // container names are the namespaces' (pte-<hex>-b1): the short names the test uses
    return (JSON.parse(r.stdout) as ServiceView[])[0]!.Backends.map((b) => b.Name.replace(/^pte-[0-9a-f]+-/, '')).sort();
  }

  beforeAll(async () => {
    w = await buildOverlayWorld({ store: 'etcd', leaseTtlSeconds: 3 });
    // host A has an uplink to the "outside" namespace (its TAP made there by the daemon)
    await createNetns(outside);
    A = await w.addHost('a', { set: { uplink: { kind: 'tap', device: uplinkDevice, address: `${UPLINK_IP}/24`, gateway: OUTSIDE_IP, netns: outside } } });
    B = await w.addHost('b');
    await runOk(['ip', '-n', outside, 'addr', 'add', `${OUTSIDE_IP}/24`, 'dev', uplinkDevice]);
    await runOk(['ip', '-n', outside, 'link', 'set', uplinkDevice, 'up']);
    subnet = (await pickSubnets(['10.213', '172.28'], 1))[0]!;
    await A.daemon.cliOk(['network', 'create', '--driver', 'overlay', '--subnet', subnet, NET]);
    expect(await waitFor(async () => (await B.daemon.cli(['network', 'ls', '--format', 'json'])).stdout.includes(`"${NET}"`), 10_000, 200), logs()).toBe(true);
    c.b1 = await w.connect(A, 'b1', NET, ['--alias', 'web']);
    c.cl1 = await w.connect(A, 'cl1', NET);
    c.b2 = await w.connect(B, 'b2', NET, ['--alias', 'web']);
    c.b3 = await w.connect(B, 'b3', NET, ['--alias', 'web']);
    c.cl2 = await w.connect(B, 'cl2', NET);
    for (const name of ['b1', 'b2', 'b3']) await serve(name);
    // every host knows every endpoint (the backends on the other host come from etcd)
    const known = await waitFor(async () => {
      const a = await A.daemon.inspect(NET);
      const b = await B.daemon.inspect(NET);
      return Object.keys((a as { RemoteContainers?: object }).RemoteContainers ?? {}).length === 3 && Object.keys((b as { RemoteContainers?: object }).RemoteContainers ?? {}).length === 2;
    }, 15_000, 200);
    expect(known, logs()).toBe(true);
    vip = (await A.daemon.cliOk(['service', 'create', 'web', '--network', NET, '--port', '80', '--target-port', String(HTTP_PORT), '--selector', 'web', '--publish', String(PUBLISH_PORT)])).stdout.trim();
    // host B programs the same service from etcd, with the same backends
    for (const h of [A, B]) expect(await waitFor(async () => (await backendsOn(h, 'web')).join() === 'b1,b2,b3', 10_000, 100), logs()).toBe(true);
  }, 180_000);

  afterAll(async () => {
    for (const s of servers.values()) await s.stop(1000);
    const problems = await cleanupEverything();
    expect(problems).toEqual([]);
  }, 60_000);

  it('1. the VIP comes from services.cidr and is the same on both hosts; the service name resolves to it, tasks.NAME to every backend', async () => {
    expect(vip).toBe('10.96.0.1');
    expect((await inspect(B, 'web')).VIP).toBe(vip);
    const dns = hostAddr(subnet, 1);
    for (const cl of ['cl1', 'cl2']) {
      const a = await nsExecOk(c[cl]!.ns, ['dig', '+short', '+tries=2', '+time=2', `@${dns}`, 'web']);
      expect(a.stdout.trim()).toBe(vip);
      const tasks = await nsExecOk(c[cl]!.ns, ['dig', '+short', '+tries=2', '+time=2', `@${dns}`, 'tasks.web']);
      expect(tasks.stdout.trim().split('\n').sort()).toEqual([c.b1!.ip, c.b2!.ip, c.b3!.ip].sort());
      const svc = await nsExecOk(c[cl]!.ns, ['dig', '+short', '+tries=2', '+time=2', `@${dns}`, `web.${NET}.svc`]);
      expect(svc.stdout.trim()).toBe(vip);
    }
  }, 60_000);

  it('2. 200 requests to the VIP are spread over the three backends on two hosts; replies switched from a backend come from the VIP', async () => {
    const hits = new Map<string, number>();
    const failures: string[] = [];
    // two clients at a time, one on each host
    const loop = async (cl: string, n: number) => {
      for (let i = 0; i < n; i++) {
        const r = await get(c[cl]!.ns, `http://${vip}/`);
        if (r.ok) hits.set(r.body, (hits.get(r.body) ?? 0) + 1);
        else failures.push(`${cl}: ${r.err}`);
      }
    };
    await Promise.all([loop('cl1', 100), loop('cl2', 100)]);
    expect(failures, logs()).toEqual([]);
    expect([...hits.keys()].sort()).toEqual(['b1', 'b2', 'b3']);
    for (const [b, n] of hits) expect(n, `${b} got ${n} of 200`).toBeGreaterThanOrEqual(30);
    // by name too (the embedded DNS gives the VIP)
    expect((await get(c.cl1!.ns, 'http://web/')).ok).toBe(true);
    // the counters: every backend had new flows on host A (cl1's) or B (cl2's)
    const a = await inspect(A, 'web');
    expect(a.Backends.every((b) => b.NewFlows > 0)).toBe(true);
    const metrics = await A.daemon.metrics();
    expect(metrics).toMatch(new RegExp(`pontoon_service_new_flows_total\\{service="web",network="${NET}",backend="${c.b1!.ns}/${c.b1!.ip}"\\} [1-9]`));
    expect(metrics).toMatch(/pontoon_service_backends\{service="web",network="[^"]+"\} 3/);
  }, 120_000);

  it('3. client-ip affinity keeps one client on one backend', async () => {
    await A.daemon.cliOk(['service', 'create', 'sticky', '--network', NET, '--port', '81', '--target-port', String(HTTP_PORT), '--selector', 'web', '--affinity', 'client-ip:600']);
    // every host has it, with every backend, before the first request
    expect(await waitFor(async () => (await backendsOn(B, 'sticky')).length === 3 && (await backendsOn(A, 'sticky')).length === 3, 10_000, 100)).toBe(true);
    const seen = new Set<string>();
    const sticky = (await inspect(A, 'sticky')).VIP;
    for (let i = 0; i < 30; i++) {
      const r = await get(c.cl1!.ns, `http://${sticky}:81/`);
      expect(r.ok, r.err).toBe(true);
      seen.add(r.body);
    }
    expect(seen.size).toBe(1);
    await A.daemon.cliOk(['service', 'rm', 'sticky']);
  }, 60_000);

  it('4. a service without backends refuses at once (Connection refused)', async () => {
    const empty = (await A.daemon.cliOk(['service', 'create', 'empty', '--network', NET, '--port', '80', '--selector', 'nobody'])).stdout.trim();
    const t0 = Date.now();
    const r = await get(c.cl1!.ns, `http://${empty}/`);
    expect(Date.now() - t0).toBeLessThan(1000);
    expect(r.code).toBe(7);
    expect(r.err).toMatch(/Connection refused|Couldn't connect/);
    expect((await inspect(A, 'empty')).Refused).toBe(1);
    await A.daemon.cliOk(['service', 'rm', 'empty']);
  }, 30_000);

  it('5. hairpin: a backend calling its own service reaches itself', async () => {
    const self = (await A.daemon.cliOk(['service', 'create', 'self', '--network', NET, '--port', '80', '--target-port', String(HTTP_PORT), '--backend', c.b1!.ns])).stdout.trim();
    for (let i = 0; i < 5; i++) {
      const r = await get(c.b1!.ns, `http://${self}/`);
      expect(r.ok, r.err).toBe(true);
      expect(r.body).toBe('b1');
    }
    // the big service from its backend: some requests land on itself, all succeed
    for (let i = 0; i < 20; i++) expect((await get(c.b1!.ns, `http://${vip}/`)).ok).toBe(true);
    await A.daemon.cliOk(['service', 'rm', 'self']);
  }, 60_000);

  it("6. --publish: the uplink's port reaches the service from the outside namespace (this host's backend, the client's address kept)", async () => {
    for (let i = 0; i < 10; i++) {
      const r = await get(outside, `http://${UPLINK_IP}:${PUBLISH_PORT}/`);
      expect(r.ok, `${r.err}\n${logs()}`).toBe(true);
      expect(r.body).toBe('b1'); // the only backend on host A
    }
  }, 60_000);

  it('7. a bridge network on one host: client and backend on one segment, the reply translated in the switch', async () => {
    const [bsub] = await pickSubnets(['10.214', '172.29'], 1);
    await A.daemon.cliOk(['network', 'create', '--subnet', bsub!, BR]);
    c.bs = await w.connect(A, 'bs', BR, ['--alias', 'bweb']);
    c.bc = await w.connect(A, 'bc', BR);
    await serve('bs');
    const bvip = (await A.daemon.cliOk(['service', 'create', 'bsvc', '--network', BR, '--port', '80', '--target-port', String(HTTP_PORT), '--selector', 'bweb', '--vip', hostAddr(bsub!, 250)])).stdout.trim();
    expect(bvip).toBe(hostAddr(bsub!, 250)); // a VIP of the network's own subnet: the gateway answers ARP for it
    for (let i = 0; i < 10; i++) {
      const r = await get(c.bc!.ns, `http://${bvip}/`);
      expect(r.ok, r.err).toBe(true);
      expect(r.body).toBe('bs');
    }
  }, 60_000);

  it("8. after a restart the services are back: the bridge network's from services.json, the overlay's from etcd", async () => {
    const bvip = (await inspect(A, 'bsvc')).VIP;
    await A.daemon.restart();
    for (const [name, n] of [['bsvc', 1], ['web', 3]] as const) {
      expect(await waitFor(async () => (await backendsOn(A, name)).length === n, 15_000, 200), `${name}\n${logs()}`).toBe(true);
    }
    expect((await inspect(A, 'bsvc')).VIP).toBe(bvip);
    expect((await inspect(A, 'web')).VIP).toBe(vip);
    expect(await waitFor(async () => (await get(c.bc!.ns, `http://${bvip}/`)).body === 'bs', 10_000, 200)).toBe(true);
    expect(await waitFor(async () => (await get(c.cl1!.ns, `http://${vip}/`)).ok, 10_000, 200)).toBe(true);
    await A.daemon.cliOk(['service', 'rm', 'bsvc']);
    await servers.get('bs')!.stop(1000);
  }, 90_000);

  it('9. a backend killed mid-test leaves within a second, and no request after that fails', async () => {
    const results: { at: number; ok: boolean; err: string; cl: string }[] = [];
    let stop = false;
    const loop = async (cl: string) => {
      while (!stop) {
        const at = Date.now();
        const r = await get(c[cl]!.ns, `http://${vip}/`);
        results.push({ at, ok: r.ok, err: r.err, cl });
      }
    };
    const loops = [loop('cl1'), loop('cl2')];
    await sleep(1000);
    // the container dies: its namespace goes, its server with it
    const killedAt = Date.now();
    await runOk(['ip', 'netns', 'del', c.b3!.ns]);
    await servers.get('b3')!.stop(0);
    let leftAt = 0;
    await waitFor(async () => {
      const onA = await backendsOn(A, 'web');
      if (!onA.includes('b3')) leftAt = Date.now();
      return leftAt !== 0;
    }, 5000, 50);
    await sleep(2000);
    stop = true;
    await Promise.all(loops);
    expect(leftAt, logs()).toBeGreaterThan(0);
    expect(leftAt - killedAt, 'time for the backend to leave').toBeLessThan(1000);
    expect(await backendsOn(B, 'web')).toEqual(['b1', 'b2']);
    const after = results.filter((r) => r.at >= leftAt);
    console.info(`[services] backend left ${leftAt - killedAt} ms after the kill; requests ${results.length}, failed before it left ${results.filter((r) => !r.ok && r.at < leftAt).length}, after ${after.filter((r) => !r.ok).length} of ${after.length}`);
    expect(after.length).toBeGreaterThan(10);
    const failed = after.filter((r) => !r.ok);
    // a failure says which client, when (after the kill, after b3 left A) and what each host dropped
    const why = failed.length === 0 ? '' : `${(await A.daemon.cli(['status'])).stdout}\n${(await B.daemon.cli(['status'])).stdout}\n${logs()}`;
    expect(
      failed.map((r) => `${r.cl} at +${r.at - killedAt} ms (+${r.at - leftAt} ms after b3 left A): ${r.err}`),
      why,
    ).toEqual([]);
  }, 60_000);
});

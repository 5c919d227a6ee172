/**
 * The etcd cluster store against a real etcd (3.4, Debian's etcd-server) that this file starts on
 * loopback: unique names and VNIs, the replay at start, concurrent address claims from two hosts,
 * members vanishing with their host's lease (closed, dead, revoked), and etcd paused, killed and
 * restarted under the stores. Every wait is bounded. Needs /usr/bin/etcd (or $ETCD_BIN).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { Etcd3, type IKeyValue } from 'etcd3';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import type { ClusterEvent, OverlayEndpointDef, OverlayNetworkDef } from '../../src/control/cluster/cluster-store.js';
import { EtcdStore } from '../../src/control/cluster/etcd-store.js';
import { ApiFailure } from '../../src/control/gateway-api.js';
import { ETCD_DATA_BASE, etcdArgs, freePort } from './harness.js';
import { etcdServer, needs } from './requirements.js';

const ETCD_BIN = process.env.ETCD_BIN ?? '/usr/bin/etcd';
const TTL = 2;
const CALL_TIMEOUT_MS = 1000;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function waitFor(cond: () => boolean | Promise<boolean>, timeoutMs: number, stepMs = 50): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await cond()) return true;
    if (Date.now() >= deadline) return false;
    await sleep(stepMs);
  }
}


/**
 * Whether process `pid` holds the listening TCP socket of `port`: the health check alone could be
 * answered by another etcd that got the same "free" port (tests running side by side).
 */
function listensOn(pid: number, port: number): boolean {
  const inodes = new Set<string>();
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text = '';
    try {
      text = readFileSync(table, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/);
      // local_address is HEXIP:HEXPORT, st 0A is LISTEN, then the inode in column 10
      if (cols.length >= 10 && parseInt(cols[1]!.split(':')[1] ?? '', 16) === port && cols[3] === '0A') inodes.add(cols[9]!);
    }
  }
  let fds: string[] = [];
  try {
    fds = readdirSync(`/proc/${pid}/fd`);
  } catch {
    return false;
  }
  return fds.some((fd) => {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      return m !== null && inodes.has(m[1]!);
    } catch {
      return false;
    }
  });
}

/** One etcd member on loopback; restartable on the same data directory and ports. */
class EtcdServer {
  private proc: ChildProcess | null = null;
  private output = '';
  readonly dataDir = mkdtempSync(join(ETCD_DATA_BASE, 'pontoon-etcd-'));

  constructor(
    readonly clientPort: number,
    readonly peerPort: number,
  ) {}

  get url(): string {
    return `http://127.0.0.1:${this.clientPort}`;
  }

  async start(): Promise<void> {
    const peer = `http://127.0.0.1:${this.peerPort}`;
    const proc = spawn(
      ETCD_BIN,
      etcdArgs(this.dataDir, this.url, peer),
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    this.proc = proc;
    const keep = (b: Buffer) => {
      this.output = (this.output + b.toString()).slice(-20_000);
    };
    proc.stdout?.on('data', keep);
    proc.stderr?.on('data', keep);
    let exited = false;
    proc.once('exit', () => (exited = true));
    const ok = await waitFor(async () => {
      if (exited) return true;
      try {
        const res = await fetch(`${this.url}/health`, { signal: AbortSignal.timeout(1000) });
        return ((await res.json()) as { health?: string }).health === 'true';
      } catch {
        return false;
      }
    }, 20_000, 100);
    if (exited || !ok || proc.pid === undefined || !listensOn(proc.pid, this.clientPort)) {
      await this.kill();
      const why = exited ? 'it exited' : ok ? `another process answers on port ${this.clientPort}` : 'timeout';
      throw new Error(`etcd did not become healthy (${why}):\n${this.output}`);
    }
  }

  signal(sig: NodeJS.Signals): void {
    this.proc?.kill(sig);
  }

  /**
   * SIGSTOP, then waits until every thread has stopped: until then a thread still running on
   * another CPU (a preempted vCPU, say) can answer a request sent after kill() returned.
   */
  async pause(): Promise<void> {
    const pid = this.proc?.pid;
    if (pid === undefined) throw new Error('etcd is not running');
    this.proc?.kill('SIGSTOP');
    const stopped = () => {
      try {
        return readdirSync(`/proc/${pid}/task`).every((t) => /^\d+ \(.*\) T /.test(readFileSync(`/proc/${pid}/task/${t}/stat`, 'utf8')));
      } catch {
        return false;
      }
    };
    if (!(await waitFor(stopped, 3000, 5))) throw new Error('etcd did not stop on SIGSTOP');
  }

  /** SIGKILL and wait for the exit (bounded). */
  async kill(): Promise<void> {
    const proc = this.proc;
    this.proc = null;
    if (proc === null || proc.exitCode !== null || proc.signalCode !== null) return;
    const gone = new Promise<void>((r) => proc.once('exit', () => r()));
    proc.kill('SIGCONT');
    proc.kill('SIGKILL');
    await Promise.race([gone, sleep(5000)]);
  }

  async remove(): Promise<void> {
    await this.kill();
    rmSync(this.dataDir, { recursive: true, force: true });
  }

  log(): string {
    return this.output;
  }
}

// ---- fixtures ----------------------------------------------------------------------------------

let etcd: EtcdServer;
const stores: EtcdStore[] = [];
const logLines: string[] = [];
const log = pino({ level: 'debug' }, { write: (s: string) => void logLines.push(s) });
let seq = 0;

function newStore(prefix: string, hostId: string, ttl = TTL): EtcdStore {
  const s = new EtcdStore({ endpoints: [etcd.url], prefix, hostId, leaseTtlSeconds: ttl, log: log.child({ host: hostId }), callTimeoutMs: CALL_TIMEOUT_MS });
  stores.push(s);
  return s;
}

function uniquePrefix(): string {
  return `/pontoon-test-${process.pid}-${++seq}`;
}

function netDef(id: string, name: string, vni: number, third = 77): OverlayNetworkDef {
  return {
    id,
    name,
    subnet: `10.${third}.0.0/24`,
    gateway: `10.${third}.0.1`,
    gatewayMac: '02:42:0a:4d:00:01',
    vni,
    mtu: 1450,
    internal: false,
    created: new Date(0).toISOString(),
  };
}

function epDef(id: string, network: string, ip: string, vtep: string): OverlayEndpointDef {
  return { id, network, name: `c-${id}`, ip, mac: '02:42:0a:4d:00:02', vtep, aliases: [id] };
}

/** Collects a store's events; waits for one that matches. */
class Recorder {
  readonly events: ClusterEvent[] = [];
  readonly push = (e: ClusterEvent): void => void this.events.push(e);

  async next(pred: (e: ClusterEvent) => boolean, timeoutMs: number, from = 0): Promise<{ event: ClusterEvent; index: number; ms: number }> {
    const t0 = Date.now();
    let found = -1;
    await waitFor(() => (found = this.events.findIndex((e, i) => i >= from && pred(e))) >= 0, timeoutMs, 20);
    if (found < 0) throw new Error(`no matching event within ${timeoutMs} ms; got ${JSON.stringify(this.events.slice(from))}`);
    return { event: this.events[found]!, index: found, ms: Date.now() - t0 };
  }
}

const isEpUp = (id: string) => (e: ClusterEvent) => e.kind === 'endpoint-up' && e.endpoint.id === id;
const isEpDown = (id: string) => (e: ClusterEvent) => e.kind === 'endpoint-down' && e.endpointId === id;
const isVtepUp = (net: string, vtep: string) => (e: ClusterEvent) => e.kind === 'vtep-up' && e.networkId === net && e.vtep === vtep;
const isVtepDown = (net: string, vtep: string) => (e: ClusterEvent) => e.kind === 'vtep-down' && e.networkId === net && e.vtep === vtep;

/** A plain client per use, so nothing carries over an etcd restart. */
async function withRaw<T>(fn: (c: Etcd3) => Promise<T>): Promise<T> {
  const c = new Etcd3({ hosts: etcd.url, defaultCallOptions: (ctx) => (ctx.isStream ? {} : { deadline: Date.now() + 3000 }) });
  try {
    return await fn(c);
  } finally {
    c.close();
  }
}

async function rawKvs(prefix: string): Promise<IKeyValue[]> {
  return withRaw(async (c) => (await c.getAll().prefix(`${prefix}/`).exec()).kvs);
}

async function rawGet(key: string): Promise<IKeyValue | undefined> {
  return withRaw(async (c) => (await c.get(key).exec()).kvs[0]);
}

async function leaseAlive(id: string): Promise<boolean> {
  return withRaw(async (c) => Number((await c.leaseClient.leaseTimeToLive({ ID: id })).TTL) > 0);
}

async function failure(p: Promise<unknown>): Promise<ApiFailure> {
  try {
    await p;
  } catch (err) {
    if (err instanceof ApiFailure) return err;
    throw err;
  }
  throw new Error('expected the call to fail');
}

beforeAll(async () => {
  if (!existsSync(ETCD_BIN)) {
    throw new Error(`${ETCD_BIN} does not exist: install etcd-server (apt-get install etcd-server) or set ETCD_BIN`);
  }
  // a "free" port can be taken by someone else before etcd binds it: try other ports then
  for (let attempt = 1; ; attempt++) {
    const clientPort = await freePort();
    let peerPort = await freePort();
    while (peerPort === clientPort) peerPort = await freePort();
    etcd = new EtcdServer(clientPort, peerPort);
    try {
      await etcd.start();
      return;
    } catch (err) {
      await etcd.remove();
      if (attempt === 3) throw err;
    }
  }
});

// each test closes its stores, so they do not react to what later tests do to etcd
afterEach(async (ctx) => {
  await Promise.allSettled(stores.splice(0).map((s) => s.close()));
  if (ctx.task.result?.state === 'fail' || process.env.ETCD_STORE_TEST_LOG === '1') {
    process.stderr.write(`---- store log (last 80 lines) ----\n${logLines.slice(-80).join('')}---- etcd ----\n${etcd.log().slice(-4000)}\n`);
  }
  logLines.length = 0;
});

afterAll(async () => {
  await Promise.allSettled(stores.splice(0).map((s) => s.close()));
  await etcd?.remove();
});

// ---- tests -------------------------------------------------------------------------------------

needs(etcdServer(ETCD_BIN)).describe('EtcdStore against a real etcd', () => {
  it('creates networks with cluster-wide unique names and VNIs, and removes them only without endpoints', async () => {
    const prefix = uniquePrefix();
    const a = newStore(prefix, '192.0.2.1');
    const b = newStore(prefix, '192.0.2.2');
    await a.createNetwork(netDef('n1', 'blue', 100));

    let f = await failure(b.createNetwork(netDef('n2', 'blue', 101)));
    expect([f.status, f.message]).toEqual([409, 'network with name blue already exists']);
    f = await failure(b.createNetwork(netDef('n3', 'green', 100)));
    expect([f.status, f.message]).toEqual([409, 'VNI 100 is already used by network blue']);

    // the keys: the network, its name and its VNI, none under a lease
    const net = await rawGet(`${prefix}/networks/n1`);
    expect(JSON.parse(net!.value.toString())).toMatchObject({ id: 'n1', name: 'blue', vni: 100 });
    expect(net!.lease).toBe('0');
    expect((await rawGet(`${prefix}/names/blue`))!.value.toString()).toBe('"n1"');
    expect((await rawGet(`${prefix}/vnis/100`))!.value.toString()).toBe('"n1"');

    // two hosts creating the same name at once: exactly one wins
    const race = await Promise.allSettled([a.createNetwork(netDef('r1', 'red', 200)), b.createNetwork(netDef('r2', 'red', 201))]);
    expect(race.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    expect(race.filter((r) => r.status === 'rejected').map((r) => (r as PromiseRejectedResult).reason.message)).toEqual([
      'network with name red already exists',
    ]);

    // members only on existing networks
    f = await failure(b.registerEndpoint(epDef('e0', 'nope', '10.77.0.9', '192.0.2.2')));
    expect(f.status).toBe(404);
    f = await failure(b.joinNetwork('nope'));
    expect(f.status).toBe(404);
    f = await failure(a.claimAddress('nope', 'x', ['10.77.0.2']));
    expect(f.status).toBe(404);

    await b.joinNetwork('n1');
    await a.joinNetwork('n1');
    const ip = await b.claimAddress('n1', 'e1', ['10.77.0.2', '10.77.0.3']);
    await b.registerEndpoint(epDef('e1', 'n1', ip, '192.0.2.2'));
    f = await failure(a.removeNetwork('n1'));
    expect([f.status, f.message]).toEqual([409, 'network blue has active endpoints']);

    await b.unregisterEndpoint('n1', 'e1');
    await a.removeNetwork('n1');
    await a.removeNetwork('n1'); // gone already: nothing to do
    // everything of n1 is gone: network, name, VNI, VTEPs, addresses
    const left = (await rawKvs(prefix)).map((kv) => kv.key.toString()).filter((k) => k.includes('/n1') || k.endsWith('/blue') || k.endsWith('/100'));
    expect(left).toEqual([]);

    // name and VNI are free again
    await b.createNetwork(netDef('n4', 'blue', 100));
    expect(a.healthy()).toBe(true);
  });

  it('replays the state to a store that starts later, then streams every change once, in order', async () => {
    const prefix = uniquePrefix();
    const a = newStore(prefix, '192.0.2.1');
    const recA = new Recorder();
    const def = netDef('n1', 'blue', 100);
    await a.createNetwork(def);
    await a.start(recA.push);
    await a.joinNetwork('n1');
    await a.registerEndpoint(epDef('e1', 'n1', '10.77.0.2', '192.0.2.1'));
    // a sees its own keys too
    await recA.next(isEpUp('e1'), 2000);

    const b = newStore(prefix, '192.0.2.2');
    const recB = new Recorder();
    await b.start(recB.push);
    expect(recB.events).toEqual([
      { kind: 'network-added', network: def },
      { kind: 'vtep-up', networkId: 'n1', vtep: '192.0.2.1' },
      { kind: 'endpoint-up', endpoint: epDef('e1', 'n1', '10.77.0.2', '192.0.2.1') },
    ]);

    await b.joinNetwork('n1');
    await recA.next(isVtepUp('n1', '192.0.2.2'), 2000);
    await b.registerEndpoint(epDef('e2', 'n1', '10.77.0.3', '192.0.2.2'));
    await recA.next(isEpUp('e2'), 2000);
    await b.unregisterEndpoint('n1', 'e2');
    await recA.next(isEpDown('e2'), 2000);
    await b.leaveNetwork('n1');
    await recA.next(isVtepDown('n1', '192.0.2.2'), 2000);

    await a.unregisterEndpoint('n1', 'e1');
    await a.removeNetwork('n1');
    const removed = await recB.next((e) => e.kind === 'network-removed' && e.networkId === 'n1', 2000);
    const vtepDown = await recB.next(isVtepDown('n1', '192.0.2.1'), 10);
    expect(vtepDown.index).toBeLessThan(removed.index);

    // every change once
    expect(recB.events.map((e) => e.kind)).toEqual([
      'network-added',
      'vtep-up',
      'endpoint-up',
      'vtep-up', // b's own
      'endpoint-up',
      'endpoint-down',
      'vtep-down',
      'endpoint-down',
      'vtep-down',
      'network-removed',
    ]);
  });

  it('never gives the same address to two hosts claiming concurrently', async () => {
    const prefix = uniquePrefix();
    const a = newStore(prefix, '192.0.2.1');
    const b = newStore(prefix, '192.0.2.2');
    await a.createNetwork(netDef('n1', 'blue', 100, 88));
    const candidates = Array.from({ length: 60 }, (_, i) => `10.88.0.${i + 2}`);

    const claims = await Promise.all([
      ...Array.from({ length: 20 }, (_, i) => a.claimAddress('n1', `a-${i}`, candidates).then((ip) => ({ ip, owner: `a-${i}`, host: '192.0.2.1' }))),
      ...Array.from({ length: 20 }, (_, i) => b.claimAddress('n1', `b-${i}`, candidates).then((ip) => ({ ip, owner: `b-${i}`, host: '192.0.2.2' }))),
    ]);
    const ips = claims.map((c) => c.ip);
    expect(new Set(ips).size).toBe(40);
    // nothing released meanwhile, so the lowest 40
    expect(new Set(ips)).toEqual(new Set(candidates.slice(0, 40)));

    // each key names its owner and host and lives under that host's lease
    const kvs = await rawKvs(`${prefix}/ipam/n1`);
    expect(kvs).toHaveLength(40);
    for (const c of claims) {
      const kv = kvs.find((k) => k.key.toString() === `${prefix}/ipam/n1/${c.ip}`)!;
      expect(JSON.parse(kv.value.toString())).toEqual({ owner: c.owner, host: c.host });
      expect(kv.lease).not.toBe('0');
    }

    let f = await failure(b.claimAddress('n1', 'x', candidates, '10.88.0.2'));
    expect([f.status, f.message]).toEqual([409, 'address 10.88.0.2 is already in use on network blue']);
    expect(await b.claimAddress('n1', 'x', candidates, '10.88.0.200')).toBe('10.88.0.200');
    f = await failure(a.claimAddress('n1', 'y', candidates.slice(0, 40)));
    expect([f.status, f.message]).toEqual([409, 'no available addresses on network blue']);

    // a release frees the address for anyone; another host cannot release it
    const held = claims.find((c) => c.ip === '10.88.0.5')!;
    const [holder, other] = held.host === '192.0.2.1' ? [a, b] : [b, a];
    await other.releaseAddress('n1', '10.88.0.5');
    expect(await rawGet(`${prefix}/ipam/n1/10.88.0.5`)).toBeDefined();
    await holder.releaseAddress('n1', '10.88.0.5');
    expect(await rawGet(`${prefix}/ipam/n1/10.88.0.5`)).toBeUndefined();
    expect(await other.claimAddress('n1', 'z', candidates)).toBe('10.88.0.5');
  });

  it("takes a closing host's members down at once, and a dead host's within the lease TTL", async () => {
    const prefix = uniquePrefix();
    const w = newStore(prefix, '192.0.2.9');
    const rec = new Recorder();
    await w.createNetwork(netDef('n1', 'blue', 100));
    await w.start(rec.push);

    const a = newStore(prefix, '192.0.2.1');
    await a.joinNetwork('n1');
    await a.registerEndpoint(epDef('ea', 'n1', '10.77.0.2', '192.0.2.1'));
    await rec.next(isEpUp('ea'), 2000);
    await a.close();
    const downA = await rec.next(isEpDown('ea'), 2000);
    await rec.next(isVtepDown('n1', '192.0.2.1'), 500);
    expect(downA.ms).toBeLessThan(1000);

    const c = newStore(prefix, '192.0.2.3');
    await c.joinNetwork('n1');
    const ip = await c.claimAddress('n1', 'ec', ['10.77.0.3']);
    await c.registerEndpoint(epDef('ec', 'n1', ip, '192.0.2.3'));
    await rec.next(isEpUp('ec'), 2000);
    const t0 = Date.now();
    await c.close({ revokeLease: false }); // the process "dies": no more keepalives, no revoke
    // the lease lasts up to TTL after the last keepalive, which may have left just before the
    // close, and etcd expires leases on its own clock (its lessor checks every 500 ms, later
    // on a loaded machine: CI saw more than TTL + 2 s once)
    await rec.next(isEpDown('ec'), TTL * 1000 + 5000);
    await rec.next(isVtepDown('n1', '192.0.2.3'), 500);
    const gone = Date.now() - t0;
    expect(gone).toBeGreaterThanOrEqual(1000); // the lease expired; nobody revoked it
    expect(gone).toBeLessThan(TTL * 1000 + 5000);
    expect(await rawGet(`${prefix}/ipam/n1/10.77.0.3`)).toBeUndefined();
  });

  it('notices its lease was revoked, grants a new one and registers everything again', async () => {
    const prefix = uniquePrefix();
    const w = newStore(prefix, '192.0.2.9');
    const rec = new Recorder();
    await w.createNetwork(netDef('n1', 'blue', 100));
    await w.start(rec.push);

    const a = newStore(prefix, '192.0.2.1');
    await a.joinNetwork('n1');
    const ip = await a.claimAddress('n1', 'ea', ['10.77.0.2']);
    await a.registerEndpoint(epDef('ea', 'n1', ip, '192.0.2.1'));
    await rec.next(isEpUp('ea'), 2000);
    const keys = [`${prefix}/vteps/n1/192.0.2.1`, `${prefix}/endpoints/n1/ea`, `${prefix}/ipam/n1/10.77.0.2`];
    const before = (await rawGet(keys[0]!))!.lease;

    await withRaw((c) => c.leaseClient.leaseRevoke({ ID: before }));
    const down = await rec.next(isEpDown('ea'), 2000);
    const up = await rec.next(isEpUp('ea'), 5000, down.index + 1);
    await rec.next(isVtepUp('n1', '192.0.2.1'), 10, down.index + 1);
    expect(up.event).toEqual({ kind: 'endpoint-up', endpoint: epDef('ea', 'n1', ip, '192.0.2.1') });

    expect(await waitFor(async () => (await Promise.all(keys.map(rawGet))).every((kv) => kv !== undefined), 3000)).toBe(true);
    const after = (await Promise.all(keys.map(rawGet))).map((kv) => kv!.lease);
    expect(new Set(after).size).toBe(1);
    expect(after[0]).not.toBe(before);
    expect(await leaseAlive(after[0]!)).toBe(true);
    expect(logLines.some((l) => l.includes('"level":40') && l.includes('lease is lost'))).toBe(true);
    expect(a.healthy()).toBe(true);

    // the new lease is kept alive
    await sleep(TTL * 1000 + 500);
    expect((await Promise.all(keys.map(rawGet))).every((kv) => kv?.lease === after[0])).toBe(true);
  });

  it('fails fast with 503 while etcd is paused or dead, and recovers when it is back', async () => {
    const prefix = uniquePrefix();
    const a = newStore(prefix, '192.0.2.1');
    const b = newStore(prefix, '192.0.2.2');
    const recA = new Recorder();
    const recB = new Recorder();
    await a.createNetwork(netDef('n1', 'blue', 100));
    await a.start(recA.push);
    await b.start(recB.push);
    await a.joinNetwork('n1');
    const ip = await a.claimAddress('n1', 'ea', ['10.77.0.2']);
    await a.registerEndpoint(epDef('ea', 'n1', ip, '192.0.2.1'));
    await b.joinNetwork('n1');
    await recB.next(isEpUp('ea'), 2000);
    const unavailable = /^cluster store unavailable \(etcd at http:\/\/127\.0\.0\.1:\d+\): \S/;

    // paused: calls end at their deadline
    try {
      await etcd.pause();
      const t0 = Date.now();
      const f = await failure(a.removeNetwork('nope'));
      expect(f.status).toBe(503);
      expect(f.message).toMatch(unavailable);
      expect(Date.now() - t0).toBeLessThan(CALL_TIMEOUT_MS + 1500);
      expect(a.healthy()).toBe(false);
    } finally {
      etcd.signal('SIGCONT');
    }
    expect(await waitFor(() => a.healthy(), 5000)).toBe(true);

    // dead: calls fail at once
    await etcd.kill();
    const t1 = Date.now();
    let f = await failure(a.removeNetwork('nope'));
    expect(f.status).toBe(503);
    expect(f.message).toMatch(unavailable);
    f = await failure(b.registerEndpoint(epDef('eb', 'n1', '10.77.0.3', '192.0.2.2')));
    expect(f.message).toMatch(unavailable);
    expect(Date.now() - t1).toBeLessThan(2 * CALL_TIMEOUT_MS + 1000);
    expect(a.healthy()).toBe(false);
    expect(b.healthy()).toBe(false);

    // away longer than twice the TTL: the client gives the lease up and keeps trying to get a new one
    await sleep(2 * TTL * 1000 + 700);
    const marks = recB.events.length;
    await etcd.start();

    expect(await waitFor(() => a.healthy() && b.healthy(), 10_000)).toBe(true);
    const keys = [`${prefix}/vteps/n1/192.0.2.1`, `${prefix}/endpoints/n1/ea`, `${prefix}/ipam/n1/10.77.0.2`, `${prefix}/vteps/n1/192.0.2.2`];
    const present = async () => (await Promise.all(keys.map(rawGet))).every((kv) => kv !== undefined && kv.lease !== '0');
    expect(await waitFor(present, 8000, 200)).toBe(true);
    // registered under a lease that is kept alive: still there after the old lease would have expired
    await sleep(TTL * 1000 + 1000);
    expect(await present()).toBe(true);
    const leases = (await Promise.all(keys.map(rawGet))).map((kv) => kv!.lease);
    for (const l of new Set(leases)) expect(await leaseAlive(l)).toBe(true);
    // whatever b saw meanwhile, a's endpoint is up in the end
    const lastA = recB.events.slice(marks).filter((e) => isEpUp('ea')(e) || isEpDown('ea')(e)).at(-1);
    expect(lastA === undefined || lastA.kind === 'endpoint-up').toBe(true);

    // events flow again, both ways
    await b.registerEndpoint(epDef('eb', 'n1', '10.77.0.3', '192.0.2.2'));
    await recA.next(isEpUp('eb'), 3000);
    await a.registerEndpoint(epDef('ea2', 'n1', '10.77.0.4', '192.0.2.1'));
    await recB.next(isEpUp('ea2'), 3000);
    expect(logLines.some((l) => l.includes('"level":40'))).toBe(true);
  });
});

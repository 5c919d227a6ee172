// The data-plane thread: blocks in epoll_wait on every port's file descriptor, drains each ready
// port in a batch (up to batchSize frames), runs the pipeline on them, and applies control
// requests between batches. Blocking here never delays the control plane, the API or metrics.

import { receiveMessageOnPort, workerData } from 'node:worker_threads';
import { DataplaneCounters, Drop, Gauge } from '../dataplane/counters.js';
import { Dataplane } from '../dataplane/dataplane.js';
import { HEADROOM } from '../dataplane/frame-pool.js';
import { PortKind } from '../dataplane/port.js';
import { ETH_HLEN } from '../wire/ethernet.js';
import { DevicePort } from './device-port.js';
import { Epoll } from './sys/epoll.js';
import { EventFd } from './sys/eventfd.js';
import { readFrame } from './sys/frame-io.js';
import { VXLAN_HLEN } from '../wire/vxlan.js';
import { VNET_HDR_LEN } from '../wire/virtio-net.js';
import { VxlanSocket } from './vxlan-socket.js';
import type { ConntrackRecord, Snapshot, WorkerInit, WorkerReply, WorkerRequest } from './worker-protocol.js';

const TICK_MS = 100;
const WAKE_TOKEN = 0x7fffffff;

const init = workerData as WorkerInit;
const dp = new Dataplane(init.options, new DataplaneCounters(init.counters));
const pool = dp.pool;
const epoll = new Epoll(64);
const wake = EventFd.wrap(init.wakeFd);
epoll.add(wake.fd, WAKE_TOKEN);
const devices: (DevicePort | undefined)[] = [];
const TUNNEL_TOKEN = 0x7ffffffe;
let vxlan: VxlanSocket | null = null;

/**
 * Datagrams from the underlay, a recvmmsg at a time; the inner frame of each lands where any frame
 * starts. A message the kernel coalesced (UDP GRO) is a train of equal datagrams, taken one by one.
 */
function drainTunnel(): void {
  const sock = vxlan!;
  const slab = pool.slab;
  const n = sock.receive(pool, init.batchSize);
  let rxDatagrams = 0;
  for (let i = 0; i < n; i++) {
    const off = sock.rxOffset(i);
    const len = sock.rxLength(i);
    const seg = sock.rxSegment(i);
    const src = sock.rxSource(i);
    if (seg === 0 || len <= seg) {
      if (len > 0) dp.inputTunnel(slab, off, len, src);
      rxDatagrams++;
      continue;
    }
    for (let p = 0; p < len; p += seg, rxDatagrams++) dp.inputTunnel(slab, off + p, Math.min(seg, len - p), src);
  }
  dp.counters.gauges[Gauge.UnderlayRxDatagrams] += rxDatagrams;
  dp.endBatch();
}

// One read view per pool slot and per frame start (Ethernet frames at HEADROOM, TUN packets 14
// bytes later so an Ethernet header fits in front), made once: reads then allocate nothing.
const slotCount = pool.slots;
// With a virtio-net header the read starts 10 bytes earlier, so the frame still lands at HEADROOM.
const ethViews: Buffer[] = [];
const tunViews: Buffer[] = [];
const ethVnetViews: Buffer[] = [];
const tunVnetViews: Buffer[] = [];
for (let i = 0; i < slotCount; i++) {
  const base = pool.slotStart(i) + HEADROOM;
  const end = pool.slotStart(i) + pool.slotSize;
  ethViews.push(pool.slab.subarray(base, end));
  tunViews.push(pool.slab.subarray(base + ETH_HLEN, end));
  ethVnetViews.push(pool.slab.subarray(base - VNET_HDR_LEN, end));
  tunVnetViews.push(pool.slab.subarray(base + ETH_HLEN - VNET_HDR_LEN, end));
}

function drain(portId: number): void {
  const dev = devices[portId];
  const port = dp.ports[portId];
  if (dev === undefined || port === undefined) return;
  const tun = port.kind === PortKind.Host;
  const vnet = port.vnet;
  const l2 = tun ? ETH_HLEN : 0;
  for (let k = 0; k < init.batchSize; k++) {
    const off = pool.alloc();
    if (off < 0) break;
    const slot = pool.slotOf(off);
    const view = vnet ? (tun ? tunVnetViews[slot] : ethVnetViews[slot]) : tun ? tunViews[slot] : ethViews[slot];
    const n = readFrame(dev.fd, view, view.length);
    if (n <= 0) {
      // a device that fails (its namespace was deleted) leaves the loop at once instead of
      // waking it forever; the control plane removes the endpoint when it notices
      if (n < 0) {
        dp.counters.drop(Drop.TxError);
        detach(portId);
      }
      break;
    }
    if (vnet) {
      if (n < VNET_HDR_LEN) continue;
      dp.setOffloadFromVnet(pool.slab, off + l2 - VNET_HDR_LEN, l2);
      dp.input(portId, pool.slab, off + l2, n - VNET_HDR_LEN);
      dp.clearOffload();
    } else {
      dp.input(portId, pool.slab, off + l2, n);
    }
  }
  dp.endBatch();
}

function snapshot(): Snapshot {
  const now = dp.now;
  const sock = vxlan as VxlanSocket | null;
  const out: Snapshot = {
    io: {
      backend: 'read/write',
      fallbackReason: '',
      busyPollUs: init.busyPollUs,
      underlay:
        sock === null
          ? null
          : {
              gso: sock.gso,
              gsoRefused: sock.gsoRefused,
              gro: sock.socket.gro,
              receiveBuffer: sock.socket.receiveBuffer,
              sendBuffer: sock.socket.sendBuffer,
            },
    },
    ports: [],
    neighbours: [],
    fdb: [],
  };
  for (const p of dp.ports) {
    if (p === undefined) continue;
    out.ports.push({
      id: p.id,
      name: p.name,
      kind: p.kind === PortKind.Host ? 'tun' : p.kind === PortKind.Uplink ? 'uplink' : p.kind === PortKind.Tunnel ? 'vxlan' : 'tap',
      network: p.network,
      lastError: devices[p.id]?.lastError ?? 0,
    });
  }
  for (const net of dp.networks) {
    if (net === undefined) continue;
    for (const n of net.neighbours.values()) {
      out.neighbours.push({
        network: net.index,
        ip: n.ip,
        mac: n.macHi * 0x100000000 + (n.macLo >>> 0),
        state: n.state,
        ageMs: now - n.updated,
      });
    }
    for (const e of net.fdb.entries(now)) out.fdb.push({ network: net.index, ...e });
  }
  return out;
}

function conntrackList(limit: number): ConntrackRecord[] {
  const ct = dp.conntrack;
  const out: ConntrackRecord[] = [];
  const now = dp.now;
  for (let e = 0; e < ct.capacity && out.length < limit; e++) {
    if (!ct.isLive(e) || ct.expires[e] <= now) continue;
    const o = e * 2;
    const r = o + 1;
    out.push({
      proto: ct.proto[e],
      state: ct.state[e],
      flags: ct.flags[e],
      expiresInMs: ct.expires[e] - now,
      orig: { src: ct.src[o] >>> 0, dst: ct.dst[o] >>> 0, sport: ct.sport[o], dport: ct.dport[o] },
      reply: { src: ct.src[r] >>> 0, dst: ct.dst[r] >>> 0, sport: ct.sport[r], dport: ct.dport[r] },
      packets: [ct.packets[o], ct.packets[r]],
      bytes: [ct.bytes[o], ct.bytes[r]],
    });
  }
  return out;
}

let running = true;

function handle(req: WorkerRequest): unknown {
  switch (req.op) {
    case 'addNetwork':
      dp.addNetwork(req.spec);
      return null;
    case 'removeNetwork': {
      const net = dp.networks[req.index];
      if (net !== undefined) for (let i = 0; i < net.portCount; i++) detach(net.ports[i]);
      dp.removeNetwork(req.index);
      return null;
    }
    case 'addUplink': {
      const dev = new DevicePort(req.fd);
      const port = dp.addUplink(req.spec, dev);
      devices[port.id] = dev;
      epoll.add(req.fd, port.id);
      return port.id;
    }
    case 'addPublish':
      dp.addPublish(req.rule);
      return null;
    case 'removePublish':
      dp.removePublish(req.proto, req.hostPort);
      return null;
    case 'conntrackList':
      return conntrackList(req.limit);
    case 'setTunnel': {
      vxlan = new VxlanSocket(dp, req.localIp, req.port, req.underlay, init.batchSize);
      const port = dp.setTunnel('vxlan', vxlan, req.underlayMtu);
      epoll.add(vxlan.socket.fd, TUNNEL_TOKEN);
      return port.id;
    }
    case 'setDns':
      dp.dnsIp = req.ip >>> 0;
      dp.dnsPort = req.port;
      return null;
    case 'addPeer':
      dp.addPeer(req.network, req.vtepIp);
      return null;
    case 'removePeer':
      dp.removePeer(req.network, req.vtepIp);
      return null;
    case 'addRemoteEndpoint':
      dp.addRemoteEndpoint(req.network, req.ip, req.mac, req.vtepIp);
      return null;
    case 'removeRemoteEndpoint':
      dp.removeRemoteEndpoint(req.network, req.ip);
      return null;
    case 'conntrackFlush': {
      const n = dp.conntrack.size;
      dp.conntrack.flush();
      return n;
    }
    case 'addEndpoint': {
      const dev = new DevicePort(req.fd);
      const port = dp.addEndpoint(req.spec, dev);
      devices[port.id] = dev;
      epoll.add(req.fd, port.id);
      return port.id;
    }
    case 'addHostPort': {
      const dev = new DevicePort(req.fd);
      const port = dp.addHostPort(req.spec, dev);
      devices[port.id] = dev;
      epoll.add(req.fd, port.id);
      return port.id;
    }
    case 'removePort':
      detach(req.portId);
      dp.removePort(req.portId);
      return null;
    case 'snapshot':
      return snapshot();
    case 'stop':
      running = false;
      return null;
  }
}

function detach(portId: number): void {
  const dev = devices[portId];
  if (dev === undefined) return;
  try {
    epoll.remove(dev.fd);
  } catch {
    // the fd may already be gone (device deleted with its namespace)
  }
  devices[portId] = undefined;
}

function serveControl(): void {
  for (;;) {
    const msg = receiveMessageOnPort(init.port);
    if (msg === undefined) return;
    const req = msg.message as WorkerRequest;
    let reply: WorkerReply;
    try {
      reply = { id: req.id, ok: true, value: handle(req) };
    } catch (err) {
      reply = { id: req.id, ok: false, error: err instanceof Error ? err.message : String(err) };
    }
    init.port.postMessage(reply);
  }
}

// Adaptive busy polling: after traffic the loop keeps polling (epoll_wait with no timeout) for up
// to busyPollUs before it blocks again, so an answer that comes back within that time (a ping's
// echo reply, a request's response) costs no thread wake-up. Idle, the loop blocks as before.
const busyPollMs = init.busyPollUs / 1000;
let lastTraffic = -1e9;
let nextTick = 0;
while (running) {
  const now = performance.now();
  let timeout = nextTick > now ? Math.ceil(nextTick - now) : 0;
  if (now - lastTraffic < busyPollMs) timeout = 0;
  const n = epoll.wait(timeout);
  dp.now = performance.now();
  for (let i = 0; i < n; i++) {
    const token = epoll.token(i);
    if (token === WAKE_TOKEN) {
      wake.drain();
      serveControl();
    } else if (token === TUNNEL_TOKEN) {
      drainTunnel();
      lastTraffic = dp.now;
    } else {
      drain(token);
      lastTraffic = dp.now;
    }
  }
  if (dp.now >= nextTick) {
    dp.tick(dp.now);
    nextTick = dp.now + TICK_MS;
  }
}
epoll.close();
(vxlan as VxlanSocket | null)?.socket.close();
init.port.close();

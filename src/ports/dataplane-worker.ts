// The data-plane thread: waits for every port's device (io_uring, or epoll with read/write: see
// device-loop.ts), runs the pipeline on the frames in batches, and applies control requests
// between batches. Blocking here never delays the control plane, the API or metrics.

import { macOf } from '../wire/mac.js';
import { receiveMessageOnPort, workerData } from 'node:worker_threads';
import { DataplaneCounters, Gauge } from '../dataplane/counters.js';
import { Dataplane } from '../dataplane/dataplane.js';
import { DEFAULT_DATAPLANE_OPTIONS } from '../dataplane/options.js';
import { LiveStateFile, type LiveStateStatus } from './live-state-file.js';
import { type ParentPortIo, type Port, PortKind } from '../dataplane/port.js';
import { ParentSocket } from './parent-socket.js';
import type { DeviceIo, DeviceLoop } from './device-loop.js';
import { EpollLoop } from './epoll-loop.js';
import { UringLoop } from './uring-loop.js';
import { EventFd } from './sys/eventfd.js';
import { VxlanSocket } from './vxlan-socket.js';
import { type ControlRequest, dispatch } from './control-channel.js';
import type { ConntrackRecord, Snapshot, WorkerControl, WorkerInit } from './worker-protocol.js';

const TICK_MS = 100;

const init = workerData as WorkerInit;
let live = openLiveState();
const dp = buildDataplane();
const liveReport = adoptLiveState();
const ctl = dp.control;
const wake = EventFd.wrap(init.wakeFd);
const onWake = (): void => {
  wake.drain();
  serveControl();
};
let fallbackReason = init.fallbackReason;
const loop: DeviceLoop = ((): DeviceLoop => {
  if (init.backend === 'io_uring') {
    try {
      return new UringLoop(dp, init.batchSize, wake.fd, onWake);
    } catch (err) {
      // the probe passed in the main thread, but this ring was refused: read/write still works
      fallbackReason = `io_uring refused in the data-plane thread: ${(err as Error).message}`;
    }
  }
  return new EpollLoop(dp, init.batchSize, wake.fd, onWake);
})();
dp.counters.gauges[Gauge.IoBackendUring] = loop.backend === 'io_uring' ? 1 : 0;
const devices: (DeviceIo | undefined)[] = [];
let vxlan: VxlanSocket | null = null;
const parents: (ParentSocket | undefined)[] = [];

/** The socket of a parent's port. */
function parentOf(p: Port): ParentSocket | undefined {
  const parent = (p.io as ParentPortIo).parent;
  return parents.find((s) => s === parent);
}

function snapshot(): Snapshot {
  const now = dp.now;
  const sock = vxlan as VxlanSocket | null;
  const out: Snapshot = {
    io: {
      backend: loop.backend,
      fallbackReason,
      busyPollUs: init.busyPollUs,
      underlay:
        sock === null
          ? null
          : {
              family: sock.ipv6 ? 'IPv6' : 'IPv4',
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
  for (const p of dp.tables.ports) {
    if (p === undefined) continue;
    out.ports.push({
      id: p.id,
      name: p.name,
      kind: p.kind === PortKind.Host ? 'tun' : p.kind === PortKind.Uplink ? 'uplink' : p.kind === PortKind.Tunnel ? 'vxlan' : p.kind === PortKind.Parent ? 'parent' : 'tap',
      network: p.network,
      lastError: p.kind === PortKind.Parent ? parentOf(p)?.lastError ?? 0 : devices[p.id]?.lastError ?? 0,
    });
  }
  for (const net of dp.tables.networks) {
    if (net === undefined) continue;
    for (const n of net.neighbours.values()) {
      out.neighbours.push({
        network: net.index,
        ip: n.ip,
        ...(n.v6 ? { ip6: [n.ip, n.ip1, n.ip2, n.ip3] as [number, number, number, number] } : {}),
        mac: macOf(n.macHi, n.macLo),
        state: n.state,
        ageMs: now - n.updated,
      });
    }
    for (const e of net.fdb.entries(now)) out.fdb.push({ network: net.index, ...e });
  }
  return out;
}

/** The live-state file for the tables, or null (not configured, or it cannot be made: memory only). */
function openLiveState(): { file: LiveStateFile; error: null } | { file: null; error: string } | null {
  if (init.liveStatePath === null) return null;
  const o = { ...DEFAULT_DATAPLANE_OPTIONS, ...init.options };
  try {
    return { file: new LiveStateFile(init.liveStatePath, { conntrackMax: o.conntrackMax, natPortMin: o.natPortMin, natPortMax: o.natPortMax }), error: null };
  } catch (err) {
    return { file: null, error: (err as Error).message };
  }
}

/** The data plane on the live-state file's columns, or in memory when the file cannot hold them (a full /run). */
function buildDataplane(): Dataplane {
  const counters = new DataplaneCounters(init.counters);
  if (live?.file != null) {
    try {
      return new Dataplane(init.options, counters, live.file.memory);
    } catch (err) {
      live = { file: null, error: (err as Error).message };
    }
  }
  return new Dataplane(init.options, counters);
}

function adoptLiveState(): LiveStateStatus | null {
  if (live === null) return null;
  const path = init.liveStatePath ?? '';
  if (live.file === null) return { outcome: 'unavailable', path, reason: live.error };
  const now = performance.now();
  const wallBase = Date.now() - now;
  try {
    const r = live.file.adopt(dp.tables, now, wallBase);
    dp.counters.gauges[Gauge.LiveStateFlows] = r.flows;
    dp.counters.gauges[Gauge.LiveStateMappings] = r.mappings;
    dp.counters.gauges[Gauge.RestartGapMs] = -1;
    return r;
  } catch (err) {
    return { outcome: 'unavailable', path, reason: (err as Error).message };
  }
}

/** Set by liveStateRestored() after an adoption: the next frame read ends the restart gap. */
let gapFrom = 0;

let running = true;

const control: WorkerControl = {
  addNetwork(spec) {
    ctl.addNetwork(spec);
  },
  removeNetwork(index) {
    const net = dp.tables.networks[index];
    if (net !== undefined) for (let i = 0; i < net.portCount; i++) detach(net.ports[i]);
    ctl.removeNetwork(index);
  },
  addEndpoint(spec, fd) {
    return attach(fd, (io) => ctl.addEndpoint(spec, io));
  },
  addHostPort(spec, fd) {
    return attach(fd, (io) => ctl.addHostPort(spec, io));
  },
  removePort(portId) {
    detach(portId);
    ctl.removePort(portId);
  },
  addUplink(spec, fd) {
    return attach(fd, (io) => ctl.addUplink(spec, io));
  },
  addParent(index, fd, device, vnet) {
    const sock = new ParentSocket(dp, fd, device, index, vnet, init.batchSize);
    ctl.addParent(index, sock);
    parents[index] = sock;
    loop.attachParent(sock);
  },
  removeParent(index) {
    const sock = parents[index];
    if (sock === undefined) return;
    loop.detachParent(index);
    sock.flush();
    ctl.removeParent(index);
    parents[index] = undefined;
  },
  addParentPort(spec) {
    return ctl.addParentPort(spec).id;
  },
  addPublish(rule) {
    ctl.addPublish(rule);
  },
  addPublish6(rule) {
    ctl.addPublish(rule);
  },
  pinMapping(spec) {
    return ctl.pinMapping(spec);
  },
  unpinMapping(proto, insideIp, insidePort) {
    ctl.unpinMapping(proto, insideIp, insidePort);
  },
  removePublish(proto, hostPort, family) {
    ctl.removePublish(proto, hostPort, family);
  },
  setServiceRange(base, prefixLen) {
    ctl.setServiceRange(base, prefixLen);
  },
  setService(spec) {
    ctl.setService(spec);
  },
  removeService(slot) {
    ctl.removeService(slot);
  },
  conntrackList(limit) {
    return ctl.conntrackList(limit);
  },
  conntrackFlush() {
    return ctl.conntrackFlush();
  },
  setTunnel(spec) {
    vxlan = new VxlanSocket(dp, spec.localIp, spec.port, spec.underlay ?? {}, init.batchSize);
    const port = ctl.setTunnel('vxlan', vxlan, spec.underlayMtu, vxlan.ipv6);
    loop.attachTunnel(vxlan);
    return port.id;
  },
  setGatewayService(name, ip, port) {
    ctl.setGatewayService(name, ip, port);
  },
  setGatewayService6(name, ip, port) {
    ctl.setGatewayService6(name, ip, port);
  },
  sendDatagram(spec) {
    ctl.sendDatagram(spec);
  },
  addPeer(network, vtepIp) {
    ctl.addPeer(network, vtepIp);
  },
  removePeer(network, vtepIp) {
    ctl.removePeer(network, vtepIp);
  },
  addRemoteSubnet(spec) {
    ctl.addRemoteSubnet(spec);
  },
  removeRemoteSubnet(network, subnet, prefixLen) {
    ctl.removeRemoteSubnet(network, subnet, prefixLen);
  },
  addHostRoute(prefix, prefixLen) {
    ctl.addHostRoute(prefix, prefixLen);
  },
  removeHostRoute(prefix, prefixLen) {
    ctl.removeHostRoute(prefix, prefixLen);
  },
  addRemoteEndpoint(spec) {
    ctl.addRemoteEndpoint(spec);
  },
  removeRemoteEndpoint(network, ip) {
    ctl.removeRemoteEndpoint(network, ip);
  },
  addRemoteEndpoint6(spec) {
    ctl.addRemoteEndpoint6(spec);
  },
  removeRemoteEndpoint6(network, ip6) {
    ctl.removeRemoteEndpoint6(network, ip6);
  },
  snapshot,
  liveState() {
    return liveReport;
  },
  pinsRestored() {
    return ctl.pinsRestored();
  },
  liveStateRestored() {
    const removed = ctl.liveStateRestored();
    if (liveReport !== null && liveReport.outcome === 'adopted') gapFrom = liveReport.previousHeartbeat;
    return removed;
  },
  stop() {
    running = false;
  },
};

/** A device joins: the port is made with the device's writer, then the loop reads it under the port's id. */
function attach(fd: number, add: (io: DeviceIo) => { id: number }): number {
  const io = loop.open(fd);
  const port = add(io);
  loop.attach(port.id, io);
  devices[port.id] = io;
  return port.id;
}

function detach(portId: number): void {
  loop.detach(portId);
  devices[portId] = undefined;
}

function serveControl(): void {
  for (;;) {
    const msg = receiveMessageOnPort(init.port);
    if (msg === undefined) return;
    init.port.postMessage(dispatch(control, msg.message as ControlRequest));
  }
}

// Adaptive busy polling: after traffic the loop keeps polling (without blocking) for up to
// busyPollUs before it blocks again, so an answer that comes back within that time (a ping's echo
// reply, a request's response) costs no thread wake-up. Idle, the loop blocks as before.
const busyPollMs = init.busyPollUs / 1000;
let lastTraffic = -1e9;
let nextTick = 0;
while (running) {
  const now = performance.now();
  let timeout = nextTick > now ? Math.ceil(nextTick - now) : 0;
  if (now - lastTraffic < busyPollMs) timeout = 0;
  if (loop.poll(timeout)) {
    lastTraffic = dp.now;
    if (gapFrom !== 0) {
      // the first frame after the restore: the old process's last heartbeat to now is the gap
      dp.counters.gauges[Gauge.RestartGapMs] = Date.now() - gapFrom;
      gapFrom = 0;
    }
  }
  if (dp.now >= nextTick) {
    dp.tick(dp.now);
    live?.file?.beat();
    nextTick = dp.now + TICK_MS;
  }
}
loop.close();
(vxlan as VxlanSocket | null)?.socket.close();
init.port.close();

// The data plane: tables, ports and networks, and the entry points the port drivers call.
// The stages a frame travels through are one file each:
//   port -> ethernet-input -> { arp-input | l2-switch | ip4-input } -> ip4-local | ip4-forward
//        -> [ip4-fragment] -> ip4-output -> l2-switch -> port          (icmp-error on the way)

import { ArpPacket } from '../wire/arp.js';
import { ETH_HLEN } from '../wire/ethernet.js';
import { ICMP_DEST_UNREACHABLE, ICMP_HOST_UNREACHABLE, Icmpv4Packet } from '../wire/icmpv4.js';
import { IP_PROTO_ICMP, IP_PROTO_TCP, Ipv4Packet } from '../wire/ipv4.js';
import { TcpPacket } from '../wire/tcp.js';
import { UdpPacket } from '../wire/udp.js';
import { ConntrackTable, protoClass } from './conntrack.js';
import { DEFAULT_DATAPLANE_OPTIONS, type DataplaneOptions } from './options.js';
import type { EndpointSpec, HostPortSpec, NetworkSpec, UplinkSpec } from './specs.js';
import { DataplaneCounters, Drop, Gauge, MAX_PORTS } from './counters.js';
import { ethernetInput } from './ethernet-input.js';
import { copyBytes, FrameMemory, FramePool, HEADROOM, ParkingPool, SLOT_SIZE, TxArena } from './frame-pool.js';
import { icmpError } from './icmp-error.js';
import { ip4Input, ip4Wrap } from './ip4-input.js';
import { l2Flood, l2Output } from './l2-switch.js';
import { putMac } from '../wire/mac.js';
import { NatMappings } from './nat-ports.js';
import { Network } from './network.js';
import { type Neighbour, NeighbourState } from './neighbour-table.js';
import { Port, type PortIo, PortKind, TUNNEL_BASE, type TunnelIo } from './port.js';
import { RemoteEndpoint } from './network.js';
import { vxlanInput } from './vxlan-input.js';
import { type PublishRule, PublishedPorts } from './published-ports.js';
import { RouteTable, RouteTarget } from './route-table.js';
import { uplinkInput } from './uplink-input.js';
import { finishChecksum, segmentTcp4 } from './offload.js';
import { TcpGro } from './tcp-gro.js';
import { vxlanOutput } from './vxlan-output.js';
import {
  readLe16,
  VNET_CSUM_OFFSET,
  VNET_CSUM_START,
  VNET_F_NEEDS_CSUM,
  VNET_GSO_ECN,
  VNET_GSO_SIZE,
  VNET_GSO_TYPE,
  VNET_HDR_LEN,
  VNET_HDR_LENGTH,
  writeLe16,
} from '../wire/virtio-net.js';

export class Dataplane {
  readonly options: DataplaneOptions;
  readonly counters: DataplaneCounters;
  /** one slab for every frame: the pool, the arena, the receive-offload contexts, the parking slots */
  readonly memory: FrameMemory;
  /** where the device I/O layer's own regions start in the slab (deviceRxSlots slots, deviceTxBytes bytes) */
  readonly deviceRxBase: number;
  readonly deviceTxBase: number;
  readonly pool: FramePool;
  /** segments and fragments cut out of a frame: valid until the queued output is flushed */
  readonly arena: TxArena;
  readonly gro: TcpGro | null;
  readonly parking: ParkingPool;
  readonly networks: (Network | undefined)[] = [];
  readonly ports: (Port | undefined)[] = [];
  readonly routes = new RouteTable();
  hostGatewayIp = 0;
  uplink: Network | null = null;
  readonly conntrack: ConntrackTable;
  readonly mappings: NatMappings;
  readonly published = new PublishedPorts();
  // overlay networks
  tunnel: TunnelIo | null = null;
  /** port id of the VXLAN underlay (-2: none; -1 means "the gateway itself" elsewhere) */
  tunnelPort = -2;
  underlayMtu = 1500;
  readonly vnis = new Map<number, Network>();
  /** the embedded DNS: where queries to a gateway address on port 53 are sent (port 0: off) */
  dnsIp = 0;
  dnsPort = 0;
  private readonly vtepIps: number[] = [];
  private readonly vtepByIp = new Map<number, number>();
  /** time of the current batch, ms; set by the driver */
  now = 0;

  // offload metadata of the frame being processed (from its virtio-net header; all 0 without)
  gsoType = 0;
  gsoSize = 0;
  /** where the partial checksum's coverage starts, from the Ethernet header */
  csumStart = 0;
  csumOffset = 0;
  needsCsum = 0;

  private saved = new Int32Array(6);
  private suspended = 0;

  // re-pointed views, one per role, so nothing is allocated per packet
  readonly arp = new ArpPacket();
  readonly ip = new Ipv4Packet();
  readonly icmp = new Icmpv4Packet();
  readonly tcp = new TcpPacket();
  readonly udp = new UdpPacket();

  private icmpTokens: number;
  private icmpRefilled = 0;

  constructor(options: Partial<DataplaneOptions> = {}, counters = new DataplaneCounters()) {
    this.options = { ...DEFAULT_DATAPLANE_OPTIONS, ...options };
    this.counters = counters;
    const o = this.options;
    // parked frames are ordinary MTU-sized frames; 9216 covers jumbo frames
    const parkSlot = HEADROOM + 9216 + ETH_HLEN;
    const memory = new FrameMemory(
      FrameMemory.sizeOf(
        o.poolSlots * SLOT_SIZE,
        o.txArenaBytes,
        o.gro ? TcpGro.BYTES : 0,
        o.parkingSlots * parkSlot,
        o.deviceRxSlots * SLOT_SIZE,
        o.deviceTxBytes,
      ),
    );
    this.memory = memory;
    this.deviceRxBase = memory.region(o.deviceRxSlots * SLOT_SIZE);
    this.deviceTxBase = memory.region(o.deviceTxBytes);
    this.pool = new FramePool(o.poolSlots, SLOT_SIZE, memory);
    this.arena = new TxArena(o.txArenaBytes, memory);
    this.gro = o.gro ? new TcpGro(memory) : null;
    this.parking = new ParkingPool(o.parkingSlots, parkSlot, memory);
    this.icmpTokens = this.options.icmpBurst;
    this.conntrack = new ConntrackTable(this.options.conntrackMax);
    this.mappings = new NatMappings(this.options.conntrackMax, this.options.natPortMin, this.options.natPortMax);
    const maps = this.mappings;
    this.conntrack.onRemove = (m) => maps.unref(m);
  }

  newFlowGauge(proto: number): number {
    return proto === IP_PROTO_TCP ? Gauge.NewFlowsTcp : proto === IP_PROTO_ICMP ? Gauge.NewFlowsIcmp : Gauge.NewFlowsUdp;
  }

  // ---- fast path ---------------------------------------------------------------------------

  /** One frame from a port. For the host (TUN) port `off` is the IPv4 header; HEADROOM is in front. */
  input(portId: number, buf: Buffer, off: number, len: number): void {
    const port = this.ports[portId];
    if (port === undefined) {
      this.counters.drop(Drop.UnknownPort);
      return;
    }
    this.counters.rx(portId, len);
    if (port.kind === PortKind.Endpoint) {
      ethernetInput(this, port, buf, off, len);
      return;
    }
    if (port.kind === PortKind.Uplink) {
      uplinkInput(this, port, buf, off, len);
      return;
    }
    // host TUN: a bare IP packet; give it an Ethernet header so the IPv4 stages see one shape
    if (len < 1 || buf[off] >>> 4 !== 4) {
      this.counters.drop(Drop.UnsupportedEthertype);
      return;
    }
    if (!ip4Wrap(this, buf, off, len)) return;
    const e = off - ETH_HLEN;
    buf.fill(0, e, e + 12);
    buf[e + 12] = 0x08;
    buf[e + 13] = 0x00;
    ip4Input(this, port, null, buf, e, len + ETH_HLEN);
  }

  /**
   * Sends the frame at buf[off] (an Ethernet frame; for the host port, its IP packet) with the
   * current frame's offloads: as they are to a port that takes them (a virtio-net header is written
   * in the headroom), finished or segmented here for one that does not.
   */
  send(portId: number, buf: Buffer, off: number, len: number): void {
    const port = this.ports[portId];
    if (port === undefined) {
      this.counters.drop(Drop.UnknownPort);
      return;
    }
    const l2 = port.kind === PortKind.Host ? ETH_HLEN : 0; // the host port sends from the IP header
    if (!port.vnet) {
      if (this.gsoSize !== 0 && len > port.mtu + ETH_HLEN - l2) {
        segmentTcp4(this, buf, off - l2, len + l2, portId, -1, -1);
        return;
      }
      if (this.needsCsum !== 0) finishChecksum(this, buf, off - l2, len + l2);
      if (port.io.send(buf, off, len)) this.counters.tx(portId, len);
      else this.counters.drop(Drop.TxError);
      return;
    }
    const gro = this.gro;
    if (gro !== null) {
      if (this.gsoSize === 0 && this.needsCsum === 0) {
        if (gro.offer(this, port, buf, off, len)) return;
      } else gro.flushPort(this, portId);
    }
    const h = off - VNET_HDR_LEN;
    if (this.needsCsum !== 0) {
      buf[h] = VNET_F_NEEDS_CSUM;
      writeLe16(buf, h + VNET_CSUM_START, this.csumStart - l2);
      writeLe16(buf, h + VNET_CSUM_OFFSET, this.csumOffset);
    } else {
      buf[h] = 0;
      writeLe16(buf, h + VNET_CSUM_START, 0);
      writeLe16(buf, h + VNET_CSUM_OFFSET, 0);
    }
    if (this.gsoSize !== 0) {
      // header length: IP + TCP headers (+ Ethernet for a TAP)
      const ip = off - l2 + ETH_HLEN;
      const ihl = (buf[ip] & 0x0f) << 2;
      buf[h + VNET_GSO_TYPE] = this.gsoType;
      writeLe16(buf, h + VNET_HDR_LENGTH, ETH_HLEN - l2 + ihl + ((buf[ip + ihl + 12] >> 4) << 2));
      writeLe16(buf, h + VNET_GSO_SIZE, this.gsoSize);
    } else {
      buf[h + VNET_GSO_TYPE] = 0;
      writeLe16(buf, h + VNET_HDR_LENGTH, 0);
      writeLe16(buf, h + VNET_GSO_SIZE, 0);
    }
    if (port.io.send(buf, h, len + VNET_HDR_LEN)) this.counters.tx(portId, len);
    else this.counters.drop(Drop.TxError);
  }

  /** IP length of the largest packet the current frame puts on the wire (a segment of a TCP super segment). */
  wireSize(buf: Buffer, off: number, len: number): number {
    if (this.gsoSize === 0) return len - ETH_HLEN;
    const ip = off + ETH_HLEN;
    const ihl = (buf[ip] & 0x0f) << 2;
    return ihl + ((buf[ip + ihl + 12] >> 4) << 2) + this.gsoSize;
  }

  /** Encapsulates the frame to one VTEP of an overlay network (offloads resolved first). */
  sendToVtep(network: number, vtep: number, buf: Buffer, off: number, len: number): void {
    const net = this.networks[network];
    if (net === undefined) return;
    vxlanOutput(this, net, -1, vtep, buf, off, len);
  }

  /** Frames the gateway makes while handling another (ICMP errors, ARP, segments) carry no offloads. */
  suspendOffload(): void {
    if (this.suspended++ > 0) return;
    const s = this.saved;
    s[0] = this.gsoType;
    s[1] = this.gsoSize;
    s[2] = this.csumStart;
    s[3] = this.csumOffset;
    s[4] = this.needsCsum;
    this.gsoType = this.gsoSize = this.csumStart = this.csumOffset = this.needsCsum = 0;
  }

  resumeOffload(): void {
    if (--this.suspended > 0) return;
    const s = this.saved;
    this.gsoType = s[0];
    this.gsoSize = s[1];
    this.csumStart = s[2];
    this.csumOffset = s[3];
    this.needsCsum = s[4];
  }

  /** Sets the offload metadata of the next frame from its virtio-net header at buf[h]. */
  setOffloadFromVnet(buf: Buffer, h: number, l2: number): void {
    const flags = buf[h];
    this.needsCsum = flags & VNET_F_NEEDS_CSUM;
    this.csumStart = this.needsCsum !== 0 ? readLe16(buf, h + VNET_CSUM_START) + l2 : 0;
    this.csumOffset = this.needsCsum !== 0 ? readLe16(buf, h + VNET_CSUM_OFFSET) : 0;
    const gso = buf[h + VNET_GSO_TYPE] & ~VNET_GSO_ECN;
    this.gsoType = gso;
    this.gsoSize = gso !== 0 ? readLe16(buf, h + VNET_GSO_SIZE) : 0;
  }

  clearOffload(): void {
    this.gsoType = this.gsoSize = this.csumStart = this.csumOffset = this.needsCsum = 0;
  }

  /**
   * Room for a frame cut out of another (a segment, a fragment), `front` bytes reserved in front
   * of it; when the arena is full the queued output is flushed first, so this fails only for a
   * frame larger than the whole arena (-1).
   */
  txAlloc(front: number, len: number): number {
    const o = this.arena.alloc(front, len);
    if (o >= 0) return o;
    this.flushTx();
    return this.arena.alloc(front, len);
  }

  /** Sends what is queued for the underlay; the arena is free again. */
  flushTx(): void {
    if (this.tunnel !== null) this.tunnel.flush();
    this.arena.reset();
  }

  /** End of a batch: coalesced segments and queued datagrams go out, every pool slot is free again. */
  endBatch(): void {
    if (this.gro !== null) this.gro.flushAll(this);
    this.flushTx();
    this.pool.reset();
  }

  /** A datagram from the VXLAN underlay: `off` is its VXLAN header. */
  inputTunnel(buf: Buffer, off: number, len: number, srcIp: number): void {
    if (this.tunnelPort < 0) {
      this.counters.drop(Drop.UnknownPort);
      return;
    }
    this.counters.rx(this.tunnelPort, len);
    vxlanInput(this, buf, off, len, srcIp);
  }

  /** Index of a known VTEP address, or -1. */
  vtepIndex(ip: number): number {
    const v = this.vtepByIp.get(ip | 0);
    return v === undefined ? -1 : v;
  }

  vtepIp(index: number): number {
    return this.vtepIps[index] ?? 0;
  }

  /** Copies a frame in and processes it (tests, benchmarks and the in-memory port). */
  receive(portId: number, frame: Buffer, now = this.now): void {
    this.now = now;
    const off = this.pool.alloc();
    if (off < 0 || frame.length > this.pool.frameCapacity - ETH_HLEN) {
      this.counters.drop(off < 0 ? Drop.NoBuffer : Drop.Oversize);
      this.endBatch();
      return;
    }
    const port = this.ports[portId];
    // leave room for the Ethernet header the host port's packets get
    const at = port !== undefined && port.kind === PortKind.Host ? off + ETH_HLEN : off;
    copyBytes(frame, 0, frame.length, this.pool.slab, at);
    this.input(portId, this.pool.slab, at, frame.length);
    this.endBatch();
  }

  takeIcmpToken(): boolean {
    const elapsed = this.now - this.icmpRefilled;
    if (elapsed > 0) {
      const refill = (elapsed * this.options.icmpRatePerSecond) / 1000;
      this.icmpTokens = Math.min(this.options.icmpBurst, this.icmpTokens + refill);
      this.icmpRefilled = this.now;
    }
    if (this.icmpTokens < 1) return false;
    this.icmpTokens--;
    return true;
  }

  gaugeIcmpSent(): void {
    this.counters.gauges[Gauge.IcmpSent]++;
  }

  // ---- ARP and neighbours ------------------------------------------------------------------

  /** Broadcasts "who has `target`" from the gateway into a network. */
  sendArpRequest(net: Network, target: number): void {
    const o = this.pool.alloc();
    if (o < 0) {
      this.counters.drop(Drop.NoBuffer);
      return;
    }
    const b = this.pool.slab;
    writeArpFrame(b, o, 1, net.gatewayMacHi, net.gatewayMacLo, net.gatewayIp, 0, 0, target, 0xffff, -1);
    this.counters.gauges[Gauge.ArpRequestsSent]++;
    this.suspendOffload();
    l2Flood(this, net, -1, b, o, ETH_HLEN + 28);
    this.resumeOffload();
  }

  /** A neighbour's MAC became known: remember it and release the frames parked on it. */
  neighbourResolved(net: Network, n: Neighbour, hi: number, lo: number): void {
    n.macHi = hi;
    n.macLo = lo;
    n.state = NeighbourState.Reachable;
    n.updated = this.now;
    n.probes = 0;
    const park = this.parking;
    if (n.parkedCount > 0) this.suspendOffload(); // parked frames had their offloads resolved
    for (let i = 0; i < n.parkedCount; i++) {
      const slot = n.parked[i];
      const off = park.offset(slot);
      putMac(park.slab, off, hi, lo);
      putMac(park.slab, off + 6, net.gatewayMacHi, net.gatewayMacLo);
      l2Output(this, net, park.slab, off, park.lengths[slot]);
    }
    if (n.parkedCount > 0) {
      this.resumeOffload();
      // datagrams queued for the underlay point into the parking slots: out before they are reused
      if (this.tunnel !== null) this.tunnel.flush();
      for (let i = 0; i < n.parkedCount; i++) park.release(n.parked[i]);
    }
    n.parkedCount = 0;
  }

  private neighbourFailed(net: Network, n: Neighbour): void {
    n.state = NeighbourState.Failed;
    n.updated = this.now;
    const park = this.parking;
    for (let i = 0; i < n.parkedCount; i++) {
      const slot = n.parked[i];
      const ingress = this.ports[park.ingress[slot]];
      this.counters.drop(Drop.NeighbourUnreachable);
      if (ingress !== undefined) {
        icmpError(this, ingress, park.slab, park.offset(slot), park.lengths[slot], ICMP_DEST_UNREACHABLE, ICMP_HOST_UNREACHABLE, 0);
      }
      park.release(slot);
    }
    n.parkedCount = 0;
  }

  /** Timers: ARP retries and expiry, fdb aging, gauges. Called every ~100 ms by the driver. */
  tick(now: number): void {
    this.now = now;
    const o = this.options;
    let fdbEntries = 0;
    let neighbours = 0;
    let parked = 0;
    for (const net of this.networks) {
      if (net === undefined) continue;
      net.fdb.sweep(now, o.macAgingMs, 1024);
      fdbEntries += net.fdb.size;
      for (const n of net.neighbours.values()) {
        if (n.state === NeighbourState.Incomplete) {
          if (now >= n.nextProbe) {
            if (n.probes >= o.arpRetries) this.neighbourFailed(net, n);
            else {
              this.sendArpRequest(net, n.ip);
              n.probes++;
              n.nextProbe = now + o.arpRetryMs;
            }
          }
        } else if (n.state === NeighbourState.Reachable) {
          if (!n.fixed && now - n.updated > o.neighbourReachableMs) net.neighbours.delete(n.ip);
        } else if (now - n.updated > o.neighbourFailedMs) {
          net.neighbours.delete(n.ip);
        }
        parked += n.parkedCount;
      }
      neighbours += net.neighbours.size;
    }
    const ct = this.conntrack;
    ct.sweep(now, Math.max(1024, Math.ceil(ct.capacity / 50)));
    const g = this.counters.gauges;
    g[Gauge.ConntrackEntries] = ct.size;
    g[Gauge.NatPortsTcp] = this.mappings.inUse[0];
    g[Gauge.NatPortsUdp] = this.mappings.inUse[1];
    g[Gauge.NatPortsIcmp] = this.mappings.inUse[2];
    const states = this.counters.ctStates;
    for (let i = 0; i < states.length; i++) states[i] = ct.live[i];
    g[Gauge.FdbEntries] = fdbEntries;
    g[Gauge.NeighbourEntries] = neighbours;
    g[Gauge.ArpQueued] = parked;
    this.endBatch();
  }

  // ---- control (slow path) ------------------------------------------------------------------

  addNetwork(spec: NetworkSpec): Network {
    if (this.networks[spec.index] !== undefined) throw new Error(`network slot ${spec.index} is in use`);
    const net = new Network(
      spec.index,
      spec.name,
      spec.subnet >>> 0,
      spec.prefixLen,
      spec.gatewayIp >>> 0,
      spec.gatewayMac,
      spec.mtu,
      spec.internal,
      this.options.fdbCapacity,
      this.options.arpQueueLength,
    );
    this.networks[spec.index] = net;
    this.routes.add(net.subnet, net.prefixLen, RouteTarget.Network, net.index);
    if (spec.vni !== undefined && spec.vni > 0) {
      if (this.vnis.has(spec.vni)) {
        this.networks[spec.index] = undefined;
        this.routes.remove(net.subnet, net.prefixLen);
        throw new Error(`VNI ${spec.vni} is already used by network ${this.vnis.get(spec.vni)!.name}`);
      }
      net.vni = spec.vni;
      this.vnis.set(spec.vni, net);
    }
    return net;
  }

  /** Attaches the VXLAN underlay socket; `underlayMtu` is the MTU of the underlay path. */
  setTunnel(name: string, io: TunnelIo, underlayMtu: number): Port {
    if (this.tunnel !== null) throw new Error('a VXLAN underlay is already attached');
    // frames reach the underlay through vxlan-output with a VTEP, never through a plain send
    const port = new Port(this.freePortId(), PortKind.Tunnel, name, { send: () => false });
    port.mtu = underlayMtu;
    this.ports[port.id] = port;
    this.counters.resetPort(port.id);
    this.tunnel = io;
    this.tunnelPort = port.id;
    this.underlayMtu = underlayMtu;
    return port;
  }

  private vtep(ip: number): number {
    let v = this.vtepByIp.get(ip | 0);
    if (v === undefined) {
      v = this.vtepIps.length;
      this.vtepIps.push(ip >>> 0);
      this.vtepByIp.set(ip | 0, v);
    }
    return v;
  }

  /** Makes `vtepIp` a peer of an overlay network: flooded to, accepted from. Returns its index. */
  addPeer(network: number, vtepIp: number): number {
    const net = this.networks[network];
    if (net === undefined || net.vni === 0) throw new Error(`network slot ${network} is not an overlay network`);
    const v = this.vtep(vtepIp);
    net.addPeer(v);
    this.refreshOverlayGauges();
    return v;
  }

  removePeer(network: number, vtepIp: number): void {
    const net = this.networks[network];
    const v = this.vtepIndex(vtepIp);
    if (net === undefined || v < 0) return;
    net.removePeer(v);
    for (const r of [...net.remotes.values()]) if (r.vtep === v) this.removeRemoteEndpoint(network, r.ip);
    // learned MACs behind that VTEP go too
    for (const e of net.fdb.entries(this.now)) if (e.port === TUNNEL_BASE + v) net.fdb.remove(Math.floor(e.mac / 0x100000000), e.mac % 0x100000000 | 0);
    this.refreshOverlayGauges();
  }

  /** An endpoint on another host (from the control plane): static fdb entry, ARP suppression, neighbour. */
  addRemoteEndpoint(network: number, ip: number, mac: number, vtepIp: number): void {
    const net = this.networks[network];
    if (net === undefined || net.vni === 0) throw new Error(`network slot ${network} is not an overlay network`);
    const v = this.vtep(vtepIp);
    net.addPeer(v);
    const hi = Math.floor(mac / 0x100000000);
    const lo = mac % 0x100000000 | 0;
    net.fdb.setStatic(hi, lo, TUNNEL_BASE + v, this.now);
    net.remotes.set(ip | 0, new RemoteEndpoint(ip >>> 0, hi, lo, v));
    const n = net.neighbours.get(ip) ?? net.neighbours.create(ip, this.now);
    n.fixed = true;
    this.neighbourResolved(net, n, hi, lo);
    this.refreshOverlayGauges();
    this.endBatch();
  }

  removeRemoteEndpoint(network: number, ip: number): void {
    const net = this.networks[network];
    if (net === undefined) return;
    const r = net.remotes.get(ip | 0);
    if (r === undefined) return;
    net.remotes.delete(ip | 0);
    net.fdb.remove(r.macHi, r.macLo);
    const n = net.neighbours.get(ip);
    if (n !== undefined && n.parkedCount === 0) net.neighbours.delete(ip);
    this.refreshOverlayGauges();
  }

  private refreshOverlayGauges(): void {
    let peers = 0;
    let remotes = 0;
    for (const net of this.vnis.values()) {
      peers += net.peerCount;
      remotes += net.remotes.size;
    }
    this.counters.gauges[Gauge.VxlanPeers] = peers;
    this.counters.gauges[Gauge.RemoteEndpoints] = remotes;
  }

  removeNetwork(index: number): void {
    const net = this.networks[index];
    if (net === undefined) return;
    for (let i = net.portCount - 1; i >= 0; i--) this.removePort(net.ports[i]);
    for (const n of net.neighbours.values()) {
      for (let i = 0; i < n.parkedCount; i++) this.parking.release(n.parked[i]);
    }
    this.routes.remove(net.subnet, net.prefixLen);
    if (net.vni !== 0) this.vnis.delete(net.vni);
    this.networks[index] = undefined;
    this.refreshOverlayGauges();
  }

  private freePortId(): number {
    for (let i = 0; i < MAX_PORTS; i++) if (this.ports[i] === undefined) return i;
    throw new Error(`no free port: the data plane holds at most ${MAX_PORTS} ports`);
  }

  /** Attaches a container's port to a network and announces it with a gratuitous ARP. */
  addEndpoint(spec: EndpointSpec, io: PortIo): Port {
    const net = this.networks[spec.network];
    if (net === undefined) throw new Error(`no network in slot ${spec.network}`);
    const port = new Port(this.freePortId(), PortKind.Endpoint, spec.name, io);
    port.network = net.index;
    port.macHi = Math.floor(spec.mac / 0x100000000);
    port.macLo = spec.mac % 0x100000000 | 0;
    port.ip = spec.ip >>> 0;
    port.mtu = net.mtu;
    port.vnet = spec.vnet === true;
    this.ports[port.id] = port;
    this.counters.resetPort(port.id);
    net.addPort(port.id);
    net.fdb.learn(port.macHi, port.macLo, port.id, this.now);
    // the gateway knows the endpoint: no ARP needed for its first packet
    const n = net.neighbours.get(port.ip) ?? net.neighbours.create(port.ip, this.now);
    this.neighbourResolved(net, n, port.macHi, port.macLo);
    // gratuitous ARP on the endpoint's behalf: stale caches of its address get its new MAC
    const o = this.pool.alloc();
    if (o >= 0) {
      const b = this.pool.slab;
      writeArpFrame(b, o, 1, port.macHi, port.macLo, port.ip, 0, 0, port.ip, 0xffff, -1);
      l2Flood(this, net, port.id, b, o, ETH_HLEN + 28);
    }
    this.endBatch();
    return port;
  }

  addHostPort(spec: HostPortSpec, io: PortIo): Port {
    const port = new Port(this.freePortId(), PortKind.Host, spec.name, io);
    port.ip = spec.hostIp >>> 0;
    port.mtu = spec.mtu;
    port.vnet = spec.vnet === true;
    this.ports[port.id] = port;
    this.counters.resetPort(port.id);
    this.hostGatewayIp = spec.gatewayIp >>> 0;
    this.routes.add(spec.hostIp, spec.prefixLen, RouteTarget.Host, port.id);
    if (spec.defaultRoute) this.routes.add(0, 0, RouteTarget.Host, port.id);
    return port;
  }

  /** The gateway's own interface to the outside: default route through `gatewayIp`, masquerade. */
  addUplink(spec: UplinkSpec, io: PortIo): Port {
    if (this.uplink !== null) throw new Error('an uplink is already attached');
    const mask = spec.prefixLen === 0 ? 0 : (0xffffffff << (32 - spec.prefixLen)) >>> 0;
    const net = this.addNetwork({
      index: spec.index,
      name: spec.name,
      subnet: (spec.ip & mask) >>> 0,
      prefixLen: spec.prefixLen,
      gatewayIp: spec.ip,
      gatewayMac: spec.mac,
      mtu: spec.mtu,
      internal: false,
    });
    net.isUplink = true;
    const port = new Port(this.freePortId(), PortKind.Uplink, spec.name, io);
    port.network = net.index;
    port.macHi = net.gatewayMacHi;
    port.macLo = net.gatewayMacLo;
    port.ip = spec.ip >>> 0;
    port.mtu = spec.mtu;
    port.vnet = spec.vnet === true;
    this.ports[port.id] = port;
    this.counters.resetPort(port.id);
    net.addPort(port.id);
    this.uplink = net;
    // everything not in a network goes out of the uplink now, not to the host
    this.routes.remove(0, 0);
    this.routes.add(0, 0, RouteTarget.Network, net.index, spec.gatewayIp);
    // announce the address (gratuitous ARP), as a host does when it comes up
    const o = this.pool.alloc();
    if (o >= 0) {
      writeArpFrame(this.pool.slab, o, 1, net.gatewayMacHi, net.gatewayMacLo, spec.ip, 0, 0, spec.ip, 0xffff, -1);
      this.send(port.id, this.pool.slab, o, ETH_HLEN + 28);
    }
    this.endBatch();
    return port;
  }

  /** Publishes a port (DNAT); the uplink port is kept out of masquerade's hands. */
  addPublish(rule: PublishRule): void {
    this.published.add(rule);
    this.mappings.reserve(protoClass(rule.proto), rule.hostPort, true);
  }

  removePublish(proto: 6 | 17, hostPort: number): void {
    this.published.remove(proto, hostPort);
    this.mappings.reserve(protoClass(proto), hostPort, false);
  }

  removePort(id: number): void {
    const port = this.ports[id];
    if (port === undefined) return;
    this.gro?.forget(id);
    if (port.kind === PortKind.Endpoint) {
      const net = this.networks[port.network];
      if (net !== undefined) {
        net.removePort(id);
        net.fdb.flushPort(id);
        const n = net.neighbours.get(port.ip);
        if (n !== undefined && n.parkedCount === 0) net.neighbours.delete(port.ip);
      }
    } else {
      for (let r = this.routes.size - 1; r >= 0; r--) {
        if (this.routes.kindOf(r) === RouteTarget.Host && this.routes.targetOf(r) === id) this.routes.removeAt(r);
      }
      this.hostGatewayIp = 0;
    }
    this.ports[id] = undefined;
  }
}

/** Writes an Ethernet + ARP frame (42 bytes). dstHi/dstLo: the Ethernet destination (0xffff/-1: broadcast). */
export function writeArpFrame(
  b: Buffer,
  o: number,
  op: number,
  shaHi: number,
  shaLo: number,
  spa: number,
  thaHi: number,
  thaLo: number,
  tpa: number,
  dstHi: number,
  dstLo: number,
): void {
  putMac(b, o, dstHi, dstLo);
  putMac(b, o + 6, shaHi, shaLo);
  b[o + 12] = 0x08;
  b[o + 13] = 0x06;
  const a = o + ETH_HLEN;
  b.writeUInt32BE(0x00010800, a); // htype Ethernet, ptype IPv4
  b[a + 4] = 6;
  b[a + 5] = 4;
  b.writeUInt16BE(op, a + 6);
  putMac(b, a + 8, shaHi, shaLo);
  b.writeUInt32BE(spa >>> 0, a + 14);
  putMac(b, a + 18, thaHi, thaLo);
  b.writeUInt32BE(tpa >>> 0, a + 24);
}

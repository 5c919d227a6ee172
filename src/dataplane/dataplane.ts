// The data plane: its parts put together, and the entry points the port drivers call. The stages a
// frame travels through are one file each:
//   port -> ethernet-input | uplink-input | vxlan-input -> { arp-input | l2-switch | ip4-input | ip6-input }
//        -> nat44 -> ip4-local | ip4-forward -> [ip4-fragment] -> ip4-output -> l2-switch
//        ip6-input -> ndp-input | ip6-local | ip6-lookup -> ip6-forward -> ip6-output -> l2-switch
//        -> transmit | vxlan-output -> port                 (icmp-error, icmp6-error on the way)
// Stages see the Datapath interface (context.ts), never this class; control operations live in
// control.ts, transmit in transmit.ts, ARP and NDP resolution in neighbour-discovery.ts, the tables in tables.ts.

import { ETH_HLEN, ETH_TYPE, ETHERTYPE_IPV4, ETHERTYPE_IPV6, ETHERTYPE_VLAN } from '../wire/ethernet.js';
import { NeighbourDiscovery, type NeighbourCounts } from './neighbour-discovery.js';
import type { Datapath } from './context.js';
import { ProtoClass } from './conntrack.js';
import { DataplaneControl } from './control.js';
import { DataplaneCounters, Drop, Gauge, SERVICE_FIELDS, SVC_ACTIVE } from './counters.js';
import { ethernetInput } from './ethernet-input.js';
import { Frame } from './frame.js';
import { copyBytes, FrameMemory, FramePool, HEADROOM, ParkingPool, SLOT_SIZE, TxArena } from './frame-pool.js';
import { IcmpTokenBucket } from './icmp-rate-limit.js';
import { offloadFits } from './offload.js';
import { ip4Input, ip4Wrap } from './ip4-input.js';
import { ip6HostInput } from './ip6-input.js';
import { macvlanFromParent } from './macvlan-switch.js';
import { isGroupMac, macHi, macLo } from '../wire/mac.js';
import { DEFAULT_DATAPLANE_OPTIONS, type DataplaneOptions } from './options.js';
import { PortKind } from './port.js';
import { Tables } from './tables.js';
import { HeapMemory, type TableMemory } from './table-memory.js';
import { TcpGro } from './tcp-gro.js';
import { Transmitter } from './transmit.js';
import { uplinkInput } from './uplink-input.js';
import { vxlanInput } from './vxlan-input.js';

/** An 802.1Q tag: TPID and TCI. */
const VLAN_TAG_LEN = 4;

/** Largest frame parked for ARP: an MTU-sized frame; 9216 covers jumbo frames. */
const PARK_SLOT = HEADROOM + 9216 + ETH_HLEN;

export class Dataplane implements Datapath {
  readonly options: DataplaneOptions;
  readonly counters: DataplaneCounters;
  readonly tables: Tables;
  readonly frame = new Frame();
  /** one slab for every frame: the pool, the arena, the receive-offload contexts, the parking slots */
  readonly memory: FrameMemory;
  /** where the device I/O layer's own regions start in the slab (deviceRxSlots slots, deviceTxBytes bytes) */
  readonly deviceRxBase: number;
  readonly deviceTxBase: number;
  readonly pool: FramePool;
  readonly arena: TxArena;
  readonly parking: ParkingPool;
  readonly tx: Transmitter;
  readonly resolver: NeighbourDiscovery;
  readonly icmpLimit: IcmpTokenBucket;
  /** the control operations (between batches) */
  readonly control: DataplaneControl;
  now = 0;

  private readonly counts: NeighbourCounts = { neighbours: 0, neighbours6: 0, parked: 0 };

  /** `tableMemory`: where the tables' entry columns live (a file that outlives the process: live-state.ts) */
  constructor(options: Partial<DataplaneOptions> = {}, counters = new DataplaneCounters(), tableMemory: TableMemory = new HeapMemory()) {
    const o = { ...DEFAULT_DATAPLANE_OPTIONS, ...options };
    this.options = o;
    this.counters = counters;
    this.tables = new Tables(o, tableMemory);
    this.tables.conntrack.backendActive = counters.services.subarray(SVC_ACTIVE);
    this.tables.conntrack.backendStride = SERVICE_FIELDS;
    const memory = new FrameMemory(
      FrameMemory.sizeOf(
        o.poolSlots * SLOT_SIZE,
        o.txArenaBytes,
        o.gro ? TcpGro.BYTES : 0,
        o.parkingSlots * PARK_SLOT,
        o.deviceRxSlots * SLOT_SIZE,
        o.deviceTxBytes,
      ),
    );
    this.memory = memory;
    this.deviceRxBase = memory.region(o.deviceRxSlots * SLOT_SIZE);
    this.deviceTxBase = memory.region(o.deviceTxBytes);
    this.pool = new FramePool(o.poolSlots, SLOT_SIZE, memory);
    this.arena = new TxArena(o.txArenaBytes, memory);
    const gro = o.gro ? new TcpGro(memory) : null;
    this.parking = new ParkingPool(o.parkingSlots, PARK_SLOT, memory);
    this.icmpLimit = new IcmpTokenBucket(o.icmpRatePerSecond, o.icmpBurst);
    this.tx = new Transmitter(this, gro);
    this.resolver = new NeighbourDiscovery(this);
    this.control = new DataplaneControl(this);
  }

  // ---- fast path ---------------------------------------------------------------------------

  /** One frame from a port. For the host (TUN) port `off` is the IPv4 header; HEADROOM is in front. */
  input(portId: number, buf: Buffer, off: number, len: number): void {
    const port = this.tables.ports[portId];
    if (port === undefined) {
      this.counters.drop(Drop.UnknownPort);
      return;
    }
    this.counters.rx(portId, len);
    const f = this.frame;
    const offloads = (f.needsCsum | f.gsoType) !== 0;
    if (offloads && port.kind !== PortKind.Host && !offloadFits(f, buf, off, len)) {
      this.counters.drop(Drop.Malformed);
      return;
    }
    if (port.kind === PortKind.Endpoint) {
      ethernetInput(this, port, buf, off, len);
      return;
    }
    if (port.kind === PortKind.Uplink) {
      uplinkInput(this, port, buf, off, len);
      return;
    }
    if (port.kind === PortKind.Parent) {
      macvlanFromParent(this, port, buf, off, len);
      return;
    }
    // host TUN: a bare IP packet; give it an Ethernet header so the IP stages see one shape
    const version = len < 1 ? 0 : buf[off] >>> 4;
    if (version !== 4 && version !== 6) {
      this.counters.drop(Drop.UnsupportedEthertype);
      return;
    }
    const ip = version === 4 ? ip4Wrap(this, buf, off, len) : null;
    if (version === 4 && ip === null) return;
    const e = off - ETH_HLEN;
    const etherType = version === 4 ? ETHERTYPE_IPV4 : ETHERTYPE_IPV6;
    buf.fill(0, e, e + ETH_TYPE);
    buf[e + ETH_TYPE] = etherType >>> 8;
    buf[e + ETH_TYPE + 1] = etherType & 0xff;
    if (offloads && !offloadFits(f, buf, e, len + ETH_HLEN)) {
      this.counters.drop(Drop.Malformed);
      return;
    }
    if (ip !== null) ip4Input(this, port, null, ip, buf, e, len + ETH_HLEN);
    else ip6HostInput(this, port, buf, e, len + ETH_HLEN);
  }

  /** A datagram from the VXLAN underlay: `off` is its VXLAN header, `vtep` its source's VTEP index (-1: unknown). */
  inputTunnel(buf: Buffer, off: number, len: number, vtep: number): void {
    const tunnel = this.tables.tunnelPort;
    if (tunnel === null) {
      this.counters.drop(Drop.UnknownPort);
      return;
    }
    this.counters.rx(tunnel.id, len);
    vxlanInput(this, tunnel, buf, off, len, vtep);
  }

  /**
   * A frame from macvlan parent `parent`, of VLAN `vlan` (the tag the kernel took off; -1: none, 0:
   * a priority tag): to the port of the network on that VLAN. A tag still in the frame (a device
   * that leaves it there, or frames given by hand) is taken off here.
   */
  inputParent(parent: number, buf: Buffer, off: number, len: number, vlan: number): void {
    const vlans = this.tables.parentVlans[parent];
    if (vlans === undefined) {
      this.counters.drop(Drop.UnknownPort);
      return;
    }
    if (vlan < 0 && len >= ETH_HLEN + VLAN_TAG_LEN && buf[off + ETH_TYPE] === ETHERTYPE_VLAN >>> 8 && buf[off + ETH_TYPE + 1] === (ETHERTYPE_VLAN & 0xff)) {
      vlan = ((buf[off + ETH_TYPE + 2] & 0x0f) << 8) | buf[off + ETH_TYPE + 3];
      buf.copyWithin(off + VLAN_TAG_LEN, off, off + ETH_TYPE); // the MACs move up over the tag
      off += VLAN_TAG_LEN;
      len -= VLAN_TAG_LEN;
      if (this.frame.needsCsum !== 0) this.frame.csumStart -= VLAN_TAG_LEN;
    }
    // 4095 is reserved (802.1Q): no network has it, as none has a VLAN its parent does not carry
    const id = vlan < 0 ? vlans[0] : vlan < vlans.length ? vlans[vlan] : -1;
    if (id < 0) {
      this.counters.drop(Drop.VlanUnknown);
      return;
    }
    const ports = this.tables.ports;
    if (ports[id]!.vlanNext < 0) {
      this.input(id, buf, off, len);
      return;
    }
    // several macvlan networks on this VLAN of the parent: a group frame is every one's, a unicast
    // one the network's that has the container of that MAC
    if (isGroupMac(buf, off)) {
      for (let p = id; p >= 0; p = ports[p]!.vlanNext) this.input(p, buf, off, len);
      return;
    }
    const hi = macHi(buf, off);
    const lo = macLo(buf, off);
    for (let p = id; p >= 0; p = ports[p]!.vlanNext) {
      const net = this.tables.networks[ports[p]!.network];
      if (net !== undefined && net.fdb.lookup(hi, lo) >= 0) {
        this.input(p, buf, off, len);
        return;
      }
    }
    this.counters.drop(Drop.NotForUs);
  }

  /** End of a batch: coalesced segments and queued datagrams go out, every pool slot is free again. */
  endBatch(): void {
    this.tx.endBatch();
    this.pool.reset();
  }

  /** Copies a frame in and processes it as one batch (tests, benchmarks and the in-memory port). */
  receive(portId: number, frame: Buffer, now = this.now): void {
    this.now = now;
    const off = this.pool.alloc();
    if (off < 0 || frame.length > this.pool.frameCapacity - ETH_HLEN) {
      this.counters.drop(off < 0 ? Drop.NoBuffer : Drop.Oversize);
      this.endBatch();
      return;
    }
    const port = this.tables.ports[portId];
    // leave room for the Ethernet header the host port's packets get
    const at = port !== undefined && port.kind === PortKind.Host ? off + ETH_HLEN : off;
    copyBytes(frame, 0, frame.length, this.pool.slab, at);
    this.input(portId, this.pool.slab, at, frame.length);
    this.endBatch();
  }

  /** Timers: ARP retries and expiry, fdb aging, conntrack expiry, gauges. Called every ~100 ms by the driver. */
  tick(now: number): void {
    this.now = now;
    const t = this.tables;
    const counts = this.counts;
    counts.neighbours = 0;
    counts.neighbours6 = 0;
    counts.parked = 0;
    let fdbEntries = 0;
    for (const net of t.networks) {
      if (net === undefined) continue;
      net.fdb.sweep(now, this.options.macAgingMs, 1024);
      fdbEntries += net.fdb.size;
      this.resolver.tick(net, now, counts);
    }
    const ct = t.conntrack;
    ct.sweep(now, Math.max(1024, Math.ceil(ct.capacity / 50)));
    const g = this.counters.gauges;
    g[Gauge.ConntrackEntries] = ct.size;
    g[Gauge.NatPortsTcp] = t.mappings.inUse[ProtoClass.Tcp];
    g[Gauge.NatPortsUdp] = t.mappings.inUse[ProtoClass.Udp];
    g[Gauge.NatPortsIcmp] = t.mappings.inUse[ProtoClass.Icmp];
    const states = this.counters.ctStates;
    for (let i = 0; i < states.length; i++) states[i] = ct.live[i];
    g[Gauge.FdbEntries] = fdbEntries;
    g[Gauge.NeighbourEntries] = counts.neighbours - counts.neighbours6;
    g[Gauge.Neighbour6Entries] = counts.neighbours6;
    g[Gauge.ArpQueued] = counts.parked;
    this.endBatch();
  }
}

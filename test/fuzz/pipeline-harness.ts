// Runs one fuzz input through the gateway of world.ts and checks, after every frame, the
// invariants a router keeps. An input is a list of records:
//   [selector][length: u16 big-endian][frame bytes]   (a short last record takes what is left)
//   selector bits 0-2 and 7: the ingress (INGRESS order: c1 c2 c3 cv ov host uplink underlay, then
//            with bit 7 set mv lan mv50 rt and round again)
//            bits 3-4: time first (0 none, 1: +100 ms, 2: +5 s, 3: +400 s, each with a tick)
//            bits 5-6: the underlay datagram's source VTEP (peer, remote endpoint's, stranger, peer);
//            for `lan`, the VLAN tag the parent's socket reports beside the frame (none, 0, 50, 60)
// For `lan` (the macvlan parent) the frame may carry its 802.1Q tag itself, as a device that
// leaves it there gives it.
// For `cv` (a TAP with offloads) the frame starts with a virtio-net header, as the device gives it;
// for `host` it is a bare IPv4 packet (TUN); for `underlay` a VXLAN header and the inner frame.
// A broken invariant throws an InvariantError (a finding for the fuzzer, a failure for vitest).

import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Drop } from '../../src/dataplane/counters.js';
import type { Dataplane } from '../../src/dataplane/dataplane.js';
import { inputRead } from '../../src/ports/device-loop.js';
import { finish, internetChecksum, ipv6AddressSum, l4PseudoSum, sum16 } from '../../src/wire/checksum.js';
import { ETH_HLEN } from '../../src/wire/ethernet.js';
import { ipv6ToString, readIpv6 } from '../../src/wire/ipv6-address.js';
import { VNET_HDR_LEN, readLe16 } from '../../src/wire/virtio-net.js';
import { F, type FuzzWorld, INGRESS, type Ingress, makeFuzzWorld, settleFuzzWorld } from './world.js';

export class InvariantError extends Error {
  override name = 'InvariantError';
}

const MAX_RECORDS = 16;
const TIME_STEPS = [0, 100, 5_000, 400_000];
const VTEPS = [F.vtepPeer, F.vtepRemote, F.vtepStranger, F.vtepPeer];
/** the VLAN a macvlan parent's socket reports beside a frame: none (-1), a priority tag (0), a VLAN with a network (50), one without (60) */
const AUX_VLANS = [-1, 0, 50, 60];
/** the TTL of the packets the gateway makes itself (ip4-local, icmp-error, tcp-reset) */
const GATEWAY_TTL = 64;
const VXLAN_OVERHEAD = 50; // outer IPv4 20 + UDP 8 + VXLAN 8 + inner Ethernet 14

export interface FuzzRecord {
  ingress: Ingress;
  timeStep: number;
  vtep: number;
  /** `lan`: the tag beside the frame (AUX_VLANS) */
  auxVlan: number;
  frame: Buffer;
}

/** The records of a fuzz input (at most MAX_RECORDS). */
export function decodeInput(data: Buffer): FuzzRecord[] {
  const out: FuzzRecord[] = [];
  let i = 0;
  while (i < data.length && out.length < MAX_RECORDS) {
    const sel = data[i];
    const want = i + 2 < data.length ? data.readUInt16BE(i + 1) : 0;
    const start = Math.min(i + 3, data.length);
    const end = Math.min(start + want, data.length);
    const k = ((sel & 7) | ((sel >> 7) << 3)) % INGRESS.length;
    out.push({ ingress: INGRESS[k], timeStep: TIME_STEPS[(sel >> 3) & 3], vtep: VTEPS[(sel >> 5) & 3], auxVlan: AUX_VLANS[(sel >> 5) & 3]!, frame: data.subarray(start, end) });
    i = end;
  }
  return out;
}

/** One record as bytes (seeds and reproducers are written with it). */
export function encodeRecord(ingress: Ingress, frame: Buffer, opts: { timeStep?: 0 | 1 | 2 | 3; vtep?: 0 | 1 | 2 | 3 } = {}): Buffer {
  const k = INGRESS.indexOf(ingress);
  const sel = (k & 7) | ((k >> 3) << 7) | ((opts.timeStep ?? 0) << 3) | ((opts.vtep ?? 0) << 5);
  const head = Buffer.alloc(3);
  head[0] = sel;
  head.writeUInt16BE(Math.min(frame.length, 0xffff), 1);
  return Buffer.concat([head, frame]);
}

interface Snapshot {
  rx: number[];
  tx: number[];
  drops: number;
  malformed: number;
  parked: number;
}

const PORT_NAMES = ['c1', 'c2', 'c3', 'cv', 'ov', 'host', 'uplink'] as const;

function parkedFrames(dp: Dataplane): number {
  // ParkingPool keeps its free count private: the slots in use are what is parked
  return dp.parking.slots - (dp.parking as unknown as { freeCount: number }).freeCount;
}

function snapshot(w: FuzzWorld): Snapshot {
  const c = w.dp.counters;
  // the parent's ports count as one ingress, 'lan'
  const ids = INGRESS.map((n) => (n === 'lan' ? w.parentPorts : [w.ids[n]]));
  const sum = (list: number[], f: (id: number) => number) => list.reduce((a, id) => a + f(id), 0);
  let drops = 0;
  for (let i = 0; i < c.drops.length; i++) drops += c.drops[i];
  return {
    rx: ids.map((list) => sum(list, (id) => c.portStats(id).rxPackets)),
    tx: ids.map((list) => sum(list, (id) => c.portStats(id).txPackets)),
    drops,
    malformed: c.drops[Drop.Malformed],
    parked: parkedFrames(w.dp),
  };
}

/** What one frame did: frames sent by each port name (underlay datagrams under `underlay`). */
export interface Outcome {
  sent: Partial<Record<Ingress, Buffer[]>>;
  dropped: number;
  parkedDelta: number;
}

/** State kept across the records of one input. */
interface RunState {
  /** highest TTL of any IPv4 packet given to the gateway so far (forwarded packets never exceed it) */
  maxTtl: number;
  /** IPv4 sources of the packets given to the gateway (a host may send with a gateway address) */
  sources: Set<number>;
  /** the same for IPv6: the highest hop limit, and the sources as ipv6ToString prints them */
  maxHops: number;
  sources6: Set<string>;
}

function fail(msg: string, rec: FuzzRecord, frame?: Buffer): never {
  const tail = frame === undefined ? '' : ` frame=${frame.toString('hex')}`;
  throw new InvariantError(`${msg} (ingress ${rec.ingress}, input ${rec.frame.toString('hex')})${tail}`);
}

function inject(w: FuzzWorld, rec: FuzzRecord): boolean {
  const dp = w.dp;
  const off = dp.pool.alloc();
  const len = rec.frame.length;
  // a device never hands over more than a frame buffer holds
  if (off < 0 || len > dp.pool.frameCapacity - ETH_HLEN) {
    dp.endBatch();
    return false;
  }
  const slab = dp.pool.slab;
  if (rec.ingress === 'underlay') {
    // the worker receives the datagram with its VXLAN header in the slot's headroom
    const at = off - 8;
    rec.frame.copy(slab, at);
    dp.inputTunnel(slab, at, len, dp.tables.vteps.indexOf(rec.vtep)); // as the underlay socket looks its source up
  } else if (rec.ingress === 'lan') {
    rec.frame.copy(slab, off);
    dp.inputParent(0, slab, off, len, rec.auxVlan); // as the parent's socket hands it over
  } else {
    const at = rec.ingress === 'host' ? off + ETH_HLEN : off;
    rec.frame.copy(slab, at);
    inputRead(dp, w.ids[rec.ingress], slab, at, len);
  }
  dp.endBatch();
  return true;
}

/** An IPv4 packet leaving the gateway: a sound header, lengths that agree, TTL not raised. */
/** A frame from one of the gateway's MACs: routed or made by it, not switched between containers. */
function routed(w: FuzzWorld, f: Buffer): boolean {
  return w.gatewayMacs.has(f.readUIntBE(6, 6));
}

/** `strict`: routed or made by the gateway, so nothing trails the packet but Ethernet padding. */
function checkIpv4(w: FuzzWorld, st: RunState, rec: FuzzRecord, pkt: Buffer, room: number, frame: Buffer, strict = true): void {
  if (pkt.length < 20) fail('IPv4 packet shorter than its header', rec, frame);
  if (pkt[0] >> 4 !== 4) fail('IPv4 ethertype with another IP version', rec, frame);
  const ihl = (pkt[0] & 0x0f) * 4;
  if (ihl < 20 || ihl > pkt.length) fail('IPv4 header length out of bounds', rec, frame);
  if (internetChecksum(pkt, 0, ihl) !== 0) fail('IPv4 header checksum wrong', rec, frame);
  const total = pkt.readUInt16BE(2);
  if (total < ihl || total > room) fail(`IPv4 total length ${total} disagrees with the ${room} bytes sent`, rec, frame);
  // an Ethernet frame may be padded to its 60-byte minimum, nothing else trails the packet
  if (strict && total !== room && 14 + room > 60) fail(`IPv4 total length ${total} but ${room} bytes sent`, rec, frame);
  const ttl = pkt[8];
  if (strict && ttl === 0) fail('IPv4 packet routed with TTL 0', rec, frame);
  const src = pkt.readUInt32BE(12);
  // forwarded packets never leave with a TTL above what came in; the gateway's own start at 64
  const own = w.gatewayIps.has(src) && !st.sources.has(src);
  const rst = pkt[9] === 6 && total >= ihl + 14 && (pkt[ihl + 13] & 0x04) !== 0;
  const made = ttl === GATEWAY_TTL && (own || src === w.uplinkIp || pkt[9] === 1 || rst); // echo replies, ICMP errors, RSTs
  if (!made && ttl > st.maxTtl) fail(`TTL ${ttl} above every TTL received (${st.maxTtl})`, rec, frame);
  // the gateway's own ICMP messages carry a valid ICMP checksum
  if (pkt[9] === 1 && own && (pkt.readUInt16BE(6) & 0x3fff) === 0 && total - ihl >= 8) {
    if (internetChecksum(pkt, ihl, total - ihl) !== 0) fail("the gateway's own ICMP message has a wrong checksum", rec, frame);
  }
}

/**
 * An IPv6 packet leaving the gateway: version 6, a payload length within what was sent. One it
 * routed (`routed`: from its MAC, or out of the host port) with a source of another's has a hop
 * limit of at least 1 and below every hop limit it was given; one the gateway made (a source of
 * its own it was not given: NDP, echo replies, ICMPv6 errors) ends where its payload ends, is
 * ICMPv6 with a hop limit of 255 (NDP) or 64, and carries a valid checksum.
 */
function checkIpv6(w: FuzzWorld, st: RunState, rec: FuzzRecord, pkt: Buffer, frame: Buffer, routed: boolean): void {
  if (pkt.length < 40) fail('IPv6 packet shorter than its header', rec, frame);
  if (pkt[0] >> 4 !== 6) fail('IPv6 ethertype with another IP version', rec, frame);
  const total = 40 + pkt.readUInt16BE(4);
  if (total > pkt.length) fail(`IPv6 payload length ${total - 40} beyond the ${pkt.length} bytes sent`, rec, frame);
  if (!routed) return;
  const src = ipv6ToString(readIpv6(pkt, 8));
  if (src === w.uplinkIp6 && !st.sources6.has(src)) {
    // the uplink's address: the gateway's own ICMPv6 (NDP, echo replies, errors), or a packet NAT66 masqueraded
    if (pkt[6] === 58 && (pkt[7] === 64 || pkt[7] === 255)) return;
    if (pkt[7] === 0) fail('masqueraded IPv6 packet with hop limit 0', rec, frame);
    if (pkt[7] >= st.maxHops) fail(`masqueraded IPv6 packet with hop limit ${pkt[7]}, not below every hop limit received (${st.maxHops})`, rec, frame);
    return;
  }
  const made = w.gatewayIps6.has(src) && !st.sources6.has(src);
  if (!made) {
    // a source of the gateway's that it was also given: an ICMPv6 message with 64 or 255 hops may be its own (an error back to that source) or forwarded
    if (w.gatewayIps6.has(src) && pkt[6] === 58 && (pkt[7] === 64 || pkt[7] === 255)) return;
    if (pkt[7] === 0) fail('IPv6 packet routed with hop limit 0', rec, frame);
    if (pkt[7] >= st.maxHops) fail(`IPv6 packet routed with hop limit ${pkt[7]}, not below every hop limit received (${st.maxHops})`, rec, frame);
    return;
  }
  if (total !== pkt.length && 14 + pkt.length > 60) fail(`the gateway's IPv6 packet of ${total} bytes sent in ${pkt.length}`, rec, frame);
  if (pkt[6] !== 58) fail(`the gateway sent IPv6 next header ${pkt[6]}`, rec, frame);
  const type = pkt[40];
  const hops = pkt[7];
  if ((type >= 133 && type <= 137 ? 255 : 64) !== hops) fail(`the gateway's ICMPv6 type ${type} with hop limit ${hops}`, rec, frame);
  if (finish(sum16(pkt, 40, total - 40, l4PseudoSum(ipv6AddressSum(pkt, 8), 58, total - 40))) !== 0) {
    fail("the gateway's ICMPv6 message has a wrong checksum", rec, frame);
  }
}

/** An Ethernet frame leaving a port: a unicast source, IPv4, ARP or IPv6, well formed, within the MTU. */
function checkEthernet(w: FuzzWorld, st: RunState, rec: FuzzRecord, f: Buffer, mtu: number, gso: boolean): void {
  if (f.length < ETH_HLEN) fail('frame shorter than an Ethernet header', rec, f);
  if (f[6] & 1) fail('frame sent with a group source MAC', rec, f);
  if (!gso && f.length - ETH_HLEN > mtu) fail(`frame of ${f.length} bytes above the port MTU ${mtu}`, rec, f);
  const type = f.readUInt16BE(12);
  if (type === 0x0806) {
    if (f.length < 42) fail('ARP frame too short', rec, f);
    if (f.readUInt16BE(14) !== 1 || f.readUInt16BE(16) !== 0x0800 || f[18] !== 6 || f[19] !== 4) fail('ARP header not Ethernet/IPv4', rec, f);
    // the gateway's own ARP is a request or a reply; a container's is switched as it came
    const op = f.readUInt16BE(20);
    if (routed(w, f) && op !== 1 && op !== 2) fail(`ARP opcode ${op} sent by the gateway`, rec, f);
    return;
  }
  if (type === 0x86dd) {
    checkIpv6(w, st, rec, f.subarray(ETH_HLEN), f, routed(w, f));
    return;
  }
  if (type !== 0x0800) fail(`frame sent with ethertype ${type.toString(16)}`, rec, f);
  checkIpv4(w, st, rec, f.subarray(ETH_HLEN), f.length - ETH_HLEN, f, routed(w, f));
}

function checkSent(w: FuzzWorld, st: RunState, rec: FuzzRecord, name: Ingress, f: Buffer): void {
  const dp = w.dp;
  if (name === 'underlay') {
    if (f.length < 8 + ETH_HLEN) fail('underlay datagram shorter than VXLAN + Ethernet', rec, f);
    if (f[0] !== 0x08) fail('VXLAN flags without I', rec, f);
    const vni = f.readUInt32BE(4) >>> 8;
    if (!dp.tables.vnis.has(vni)) fail(`VXLAN datagram for VNI ${vni} that no network has`, rec, f);
    if (f.length - 8 - ETH_HLEN + VXLAN_OVERHEAD > dp.tables.underlayMtu) fail('VXLAN datagram above the underlay MTU', rec, f);
    const net = dp.tables.vnis.get(vni)!;
    checkEthernet(w, st, rec, f.subarray(8), net.mtu, false);
    return;
  }
  if (name === 'lan') {
    checkEthernet(w, st, rec, f, 1500, false);
    return;
  }
  const port = dp.tables.ports[w.ids[name]]!;
  let frame = f;
  let gso = false;
  if (port.vnet) {
    if (f.length < VNET_HDR_LEN) fail('frame on an offload port shorter than its virtio-net header', rec, f);
    gso = f[1] !== 0;
    if (gso && readLe16(f, 4) === 0) fail('GSO frame with a zero segment size', rec, f);
    frame = f.subarray(VNET_HDR_LEN);
  }
  if (name === 'host') {
    if (frame.length > port.mtu && !gso) fail(`packet of ${frame.length} bytes above the host port MTU ${port.mtu}`, rec, f);
    if (frame.length > 0 && frame[0] >> 4 === 6) checkIpv6(w, st, rec, frame, f, true);
    else checkIpv4(w, st, rec, frame, frame.length, f);
    return;
  }
  checkEthernet(w, st, rec, frame, port.mtu, gso);
  // the networks' ULA prefixes are masqueraded: none leaves the uplink as a source
  if (name === 'uplink' && frame.length >= ETH_HLEN + 24 && frame.readUInt16BE(12) === 0x86dd && (frame[ETH_HLEN + 8] & 0xfe) === 0xfc) {
    fail(`IPv6 packet out of the uplink from the unique local ${ipv6ToString(readIpv6(frame, ETH_HLEN + 8))}`, rec, f);
  }
}

/** Notes the highest TTL the gateway was given (the inner frame's for the underlay). */
function noteTtl(st: RunState, rec: FuzzRecord): void {
  let ip = -1;
  const b = rec.frame;
  if (rec.ingress === 'host') ip = 0;
  else if (rec.ingress === 'underlay') ip = 8 + ETH_HLEN;
  else if (rec.ingress === 'cv') ip = VNET_HDR_LEN + ETH_HLEN;
  else if (rec.ingress === 'lan' && b.length >= 14 && b.readUInt16BE(12) === 0x8100) ip = ETH_HLEN + 4; // a tag in the frame
  else ip = ETH_HLEN;
  // an IPv4 packet anywhere in the frame may be what leaves (an ICMP error quotes, never forwards)
  if (b.length >= ip + 9) st.maxTtl = Math.max(st.maxTtl, b[ip + 8]);
  if (b.length >= ip + 16) st.sources.add(b.readUInt32BE(ip + 12));
  // and the same frame read as IPv6 (whatever its ethertype says: the bound only gets looser)
  if (b.length >= ip + 8) st.maxHops = Math.max(st.maxHops, b[ip + 7]);
  if (b.length >= ip + 24) st.sources6.add(ipv6ToString(readIpv6(b, ip + 8)));
}

/** Runs the records of one input through a fresh gateway; throws on a broken invariant. */
export function runPipeline(data: Buffer, world: FuzzWorld = makeFuzzWorld()): Outcome[] {
  const w = world;
  const st: RunState = { maxTtl: 0, sources: new Set(), maxHops: 0, sources6: new Set() };
  const outcomes: Outcome[] = [];
  for (const rec of decodeInput(data)) {
    if (rec.timeStep !== 0) w.dp.tick(w.dp.now + rec.timeStep);
    drainAll(w); // what the timers sent (ARP retries, parked frames given up)
    noteTtl(st, rec);
    const before = snapshot(w);
    if (!inject(w, rec)) continue;
    const after = snapshot(w);
    const k = INGRESS.indexOf(rec.ingress);
    const shortVnet = w.dp.tables.ports[w.ids[rec.ingress]]?.vnet === true && rec.frame.length < VNET_HDR_LEN;
    // received: exactly one more frame on the ingress port (a frame too short for its virtio-net
    // header is dropped as malformed before it reaches the port)
    const rxDelta = after.rx[k] - before.rx[k];
    // from the parent: one of its ports takes it, unless it is dropped before (a VLAN no network has)
    const beforePort = rec.ingress === 'lan' && rxDelta === 0 && after.drops > before.drops;
    if (shortVnet ? rxDelta !== 0 || after.malformed === before.malformed : rxDelta !== 1 && !beforePort) {
      fail(`ingress rx counter moved by ${rxDelta}`, rec);
    }
    const sent: Partial<Record<Ingress, Buffer[]>> = {};
    let sentTotal = 0;
    for (const [i, name] of INGRESS.entries()) {
      const frames = name === 'underlay' ? w.tunnel.sent.splice(0).map((s) => s.bytes) : name === 'lan' ? w.parent.take().map((s) => s.bytes) : w.ports[name].take();
      const txDelta = after.tx[i] - before.tx[i];
      if (txDelta !== frames.length) fail(`${name}: tx counter moved by ${txDelta} for ${frames.length} frames sent`, rec);
      if (frames.length > 0) sent[name] = frames;
      sentTotal += frames.length;
      for (const f of frames) checkSent(w, st, rec, name, f);
    }
    const dropped = after.drops - before.drops;
    const parkedDelta = after.parked - before.parked;
    // accounted for: forwarded or answered (something sent), dropped by a counted reason, parked
    // for ARP, or taken in by the gateway (an ARP reply or announcement teaches it a neighbour)
    if (sentTotal === 0 && dropped === 0 && parkedDelta <= 0 && !consumedByGateway(rec)) {
      fail('frame neither sent, dropped by a reason, parked nor taken in', rec);
    }
    outcomes.push({ sent, dropped, parkedDelta });
  }
  return outcomes;
}

/** ARP frames and neighbour discovery the gateway takes in without answering (replies, advertisements, announcements) are consumed. */
function consumedByGateway(rec: FuzzRecord): boolean {
  const l2 = rec.ingress === 'cv' ? VNET_HDR_LEN : rec.ingress === 'underlay' ? 8 : rec.ingress === 'host' ? -1 : 0;
  if (l2 < 0) return false;
  const b = rec.frame;
  if (b.length < l2 + 14) return false;
  const type = b.readUInt16BE(l2 + 12);
  if (type === 0x0806) return true;
  // a solicitation or advertisement right behind the fixed header (ip6-input's NDP checks want no extension header)
  const nd = l2 + 14 + 40;
  return type === 0x86dd && b.length > nd && b[l2 + 14 + 6] === 58 && (b[nd] === 135 || b[nd] === 136);
}

function drainAll(w: FuzzWorld): void {
  w.tunnel.sent.splice(0);
  w.parent.take();
  for (const p of Object.values(w.ports)) p.take();
}

// A gateway costs about 2 ms to build (its tables are sized for 65536 ports), ten times what an
// input costs to run: the fuzz target keeps one and settles it between inputs (world.ts), and
// builds a new one every WORLD_REUSE inputs. A finding is confirmed on a fresh gateway, so what
// the fuzzer reports reproduces from the input alone; one that does not says so.
const WORLD_REUSE = 5000;
let shared: FuzzWorld | null = null;
let uses = 0;

/** The fuzz target's body: runPipeline on a reused, settled gateway. */
export function fuzzPipeline(data: Buffer): void {
  if (shared === null || ++uses > WORLD_REUSE) {
    shared = makeFuzzWorld();
    uses = 0;
  } else {
    settleFuzzWorld(shared);
  }
  try {
    runPipeline(data, shared);
  } catch (e) {
    shared = null;
    try {
      runPipeline(data);
    } catch (fresh) {
      finding(data, fresh as Error); // reproduces on a fresh gateway
      return;
    }
    finding(data, new InvariantError(`only on a gateway that saw earlier inputs: ${(e as Error).stack ?? String(e)}`));
  }
}

// Long runs keep going past findings: with PONTOON_FUZZ_FINDINGS=<dir> each kind of finding (its
// message up to the input) is written there once, as <sha1>.bin and <sha1>.txt, instead of thrown.
const findingsDir = process.env.PONTOON_FUZZ_FINDINGS;
const seenKinds = new Set<string>();

function finding(data: Buffer, e: Error): void {
  if (findingsDir === undefined || findingsDir === '') throw e;
  const kind = (e.message.split(' (ingress')[0] ?? e.message).replace(/\d+/g, 'N');
  if (seenKinds.has(kind)) return;
  seenKinds.add(kind);
  const name = createHash('sha1').update(data).digest('hex');
  mkdirSync(findingsDir, { recursive: true });
  writeFileSync(join(findingsDir, `${name}.bin`), data);
  writeFileSync(join(findingsDir, `${name}.txt`), `${e.stack ?? e.message}\n`);
}

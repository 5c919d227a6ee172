// nat-flow: what connection tracking does to a flow whatever its family, shared by nat44 and
// nat66: the protocol state and timeout a packet moves its entry to (conntrack-tcp for TCP),
// room in the table for a new entry (per-endpoint limit, early drop of an unreplied one), and the
// new-flow gauges. The family's stage finds the entry and rewrites the packet.

import { IP_PROTO_TCP, IP_PROTO_UDP } from '../wire/ipv4.js';
import { TCP_ACK, TCP_OPT_WSCALE, TCP_RST, TCP_SYN } from '../wire/tcp.js';
import { CtFlag, CtState, type CtTuple, Dir, ProtoClass, protoClass } from './conntrack.js';
import { TCP_INVALID, tcpTimeout, tcpTrack } from './conntrack-tcp.js';
import type { Datapath } from './context.js';
import { Drop, Gauge } from './counters.js';
import type { Network } from './network.js';

/** The new-flow gauge of a protocol (ICMP and ICMPv6 count as ICMP). */
export function newFlowGauge(proto: number): number {
  const cls = protoClass(proto);
  return cls === ProtoClass.Tcp ? Gauge.NewFlowsTcp : cls === ProtoClass.Icmp ? Gauge.NewFlowsIcmp : Gauge.NewFlowsUdp;
}

/** The TCP flags of the packet (0 for other protocols): `dp.frame.tcp` is wrapped around a TCP one. */
export function tcpFlagsOf(dp: Datapath): number {
  const frame = dp.frame;
  return frame.tuple.proto === IP_PROTO_TCP ? frame.tcp.flags : 0;
}

export function fromUplink(dp: Datapath, inNet: Network | null): boolean {
  return inNet !== null && inNet === dp.tables.uplink;
}

/**
 * `slot`, found for a TCP segment with flags `tcpFlags`, or -1 when the segment is a SYN that
 * reuses the ports of a connection that closed (TIME_WAIT, CLOSE): the old entry goes, as
 * nf_conntrack kills it and looks again, and the caller makes a new flow. So a service picks its
 * backend anew, and a server still in TIME_WAIT for the old connection is not forced on the new one.
 */
export function unlessReused(dp: Datapath, slot: number, tcpFlags: number): number {
  if ((tcpFlags & (TCP_SYN | TCP_ACK | TCP_RST)) !== TCP_SYN || (slot & 1) !== Dir.Original) return slot;
  const ct = dp.tables.conntrack;
  const st = ct.state[slot >> 1];
  if (st !== CtState.TimeWait && st !== CtState.Close) return slot;
  ct.remove(slot >> 1);
  return -1;
}

/**
 * Protocol state and timeout for one packet of a known flow, of `l4len` bytes of transport
 * header and payload; false when it must be dropped.
 */
export function advance(dp: Datapath, e: number, dir: number, proto: number, tcpFlags: number, l4len: number): boolean {
  const ct = dp.tables.conntrack;
  const o = dp.options;
  if (dir === Dir.Reply && (ct.flags[e] & CtFlag.SeenReply) === 0) {
    // a connection picked up mid-stream is confirmed by its first answer
    ct.flags[e] |= (ct.flags[e] & CtFlag.Liberal) !== 0 ? CtFlag.SeenReply | CtFlag.Assured : CtFlag.SeenReply;
  }
  if (proto === IP_PROTO_TCP) {
    const t = dp.frame.tcp;
    const next = tcpTrack(ct, e, dir, tcpFlags, t.seq, t.ack, t.window, l4len - t.headerLength, (tcpFlags & TCP_SYN) !== 0 ? windowScale(dp) : -1);
    if (next === TCP_INVALID) {
      dp.counters.drop(Drop.InvalidState);
      return false;
    }
    if (next !== ct.state[e]) ct.setState(e, next);
    ct.expires[e] = dp.now + tcpTimeout(o.tcpTimeouts, next);
    return true;
  }
  if (proto === IP_PROTO_UDP) {
    const replied = (ct.flags[e] & CtFlag.SeenReply) !== 0;
    if (replied) ct.flags[e] |= CtFlag.Assured;
    ct.expires[e] = dp.now + (replied ? o.udpStreamTimeoutMs : o.udpTimeoutMs);
    return true;
  }
  ct.expires[e] = dp.now + o.icmpTimeoutMs;
  return true;
}

function windowScale(dp: Datapath): number {
  const frame = dp.frame;
  const at = frame.tcp.findOption(TCP_OPT_WSCALE);
  return at < 0 ? -1 : frame.tcp.buf[at + 2];
}

/**
 * Room for one more connection counted against endpoint `owner` (-1: none): within the
 * endpoint's limit, and in the table once an unreplied entry was evicted if it was full.
 * Counts the drop when there is none.
 */
export function admit(dp: Datapath, owner: number): boolean {
  const ct = dp.tables.conntrack;
  const limit = dp.options.conntrackMaxPerEndpoint;
  if (owner >= 0 && limit > 0 && ct.owned[owner] >= limit) {
    dp.counters.drop(Drop.EndpointConnLimit);
    return false;
  }
  if (ct.size < ct.capacity) return true;
  if (ct.evictUnreplied(EARLY_DROP_BUDGET)) {
    dp.counters.gauges[Gauge.ConntrackEarlyDrops]++;
    return true;
  }
  dp.counters.drop(Drop.ConntrackFull);
  return false;
}

/** Entries looked at for an unreplied one to evict when the table is full (Linux looks at 8 buckets' worth). */
const EARLY_DROP_BUDGET = 64;

/**
 * The entry of a new inbound flow (a published port, a gateway service, a hairpin): the packet's
 * tuple (`dp.frame.tuple`) and `reply`, with `flags`, keeping the NAT mapping `held` alive (-1:
 * none) and counted against endpoint `owner` (-1: none). The entry, or -1 with the drop counted
 * and `held` let go of when nothing else uses it.
 */
export function createInbound(dp: Datapath, reply: CtTuple, flags: number, held: number, owner: number): number {
  const ct = dp.tables.conntrack;
  const maps = dp.tables.mappings;
  const t = dp.frame.tuple;
  let e = -1;
  if (ct.takenTuple(reply, dp.now)) dp.counters.drop(Drop.InvalidState);
  else if (admit(dp, owner)) {
    e = ct.create(t, reply, t.proto === IP_PROTO_TCP ? CtState.SynSent : CtState.None, flags);
    if (e < 0) dp.counters.drop(Drop.ConntrackFull);
  }
  if (e < 0) {
    if (held >= 0) maps.releaseIfUnused(held);
    return -1;
  }
  if (held >= 0) {
    maps.ref(held);
    ct.mapping[e] = held;
  }
  if (owner >= 0) ct.own(e, owner);
  if ((flags & CtFlag.Snat) !== 0 && held >= 0) dp.counters.gauges[Gauge.HairpinFlows]++;
  return e;
}

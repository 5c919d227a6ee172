// The TCP tracker: state transitions (tcpTrack on a bare table, then the same through the whole
// pipeline), the window check that keeps blind RST/FIN/data from closing or taking over a
// connection, and the timeouts per state.

import { describe, expect, it } from 'vitest';
import { ConntrackTable, CtFlag, CtState, CtTuple } from '../../../src/dataplane/conntrack.js';
import { TCP_INVALID, tcpTrack } from '../../../src/dataplane/conntrack-tcp.js';
import { Drop, Gauge } from '../../../src/dataplane/counters.js';
import { TCP_ACK, TCP_FIN, TCP_RST, TCP_SYN } from '../../../src/wire/tcp.js';
import { A, ACK_C1, drain, hex, makeNatWorld, type NatWorld, SYN_C1, SYNACK_X10 } from './fixture.js';

// c1 closes first
// scapy: fromC1(IP(src=C1, dst=X10, ttl=64, id=0x1002, flags='DF')/TCP(sport=40000, dport=80, seq=1001, ack=5001, flags='FA', window=502))
const FIN_C1 = hex('0250000000010242ac11000208004500002810024000400642b0ac110002cb00710a9c400050000003e900001389501101f611bd0000');
// scapy: fromUp(IP(src=X10, dst=UP, ttl=52, id=1, flags='DF')/TCP(sport=80, dport=40000, seq=5001, ack=1002, flags='A', window=509))
const ACK_X10 = hex('0250000000ff02005e000001080045000028000140003406e08ecb00710ac633640200509c4000001389000003ea501001fd93930000');
// scapy: fromUp(IP(src=X10, dst=UP, ttl=52, id=2, flags='DF')/TCP(sport=80, dport=40000, seq=5001, ack=1002, flags='FA', window=509))
const FIN_X10 = hex('0250000000ff02005e000001080045000028000240003406e08dcb00710ac633640200509c4000001389000003ea501101fd93920000');
// scapy: fromC1(IP(src=C1, dst=X10, ttl=64, id=0x1003, flags='DF')/TCP(sport=40000, dport=80, seq=1002, ack=5002, flags='A', window=502))
const LAST_ACK_C1 = hex('0250000000010242ac11000208004500002810034000400642afac110002cb00710a9c400050000003ea0000138a501001f611bc0000');
// a RST at the sequence number c1 expects: in the window
// scapy: fromUp(IP(src=X10, dst=UP, ttl=52, id=3, flags='DF')/TCP(sport=80, dport=40000, seq=5001, flags='R', window=0))
const RST_X10 = hex('0250000000ff02005e000001080045000028000340003406e08ccb00710ac633640200509c4000001389000000005004000099860000');
// a blind RST: 512 MiB off the window
// scapy: fromUp(IP(src=X10, dst=UP, ttl=52, id=4, flags='DF')/TCP(sport=80, dport=40000, seq=5001 + 0x20000000, flags='R', window=0))
const RST_X10_FAR = hex('0250000000ff02005e000001080045000028000440003406e08bcb00710ac633640200509c4020001389000000005004000079860000');
// a blind FIN
// scapy: fromUp(IP(src=X10, dst=UP, ttl=52, id=5, flags='DF')/TCP(sport=80, dport=40000, seq=5001 + 0x20000000, ack=1001, flags='FA', window=509))
const FIN_X10_FAR = hex('0250000000ff02005e000001080045000028000540003406e08acb00710ac633640200509c4020001389000003e9501101fd73930000');
// injected data far behind the window
// scapy: fromUp(IP(src=X10, dst=UP, ttl=52, id=6, flags='DF')/TCP(sport=80, dport=40000, seq=(5001 - 0x40000000) & 0xffffffff, ack=1001, flags='PA', window=509)/Raw(b'HTTP/1.1 200 OK'))
const DATA_X10_FAR = hex('0250000000ff02005e000001080045000037000640003406e07acb00710ac633640200509c40c0001389000003e9501801fd1dc40000485454502f312e3120323030204f4b');

// the ports of that connection reused by c1 while the server still holds it in TIME_WAIT
// scapy: fromC1(IP(src=C1, dst=X10, ttl=64, id=0x1004, flags='DF')/TCP(sport=40000, dport=80, seq=900000, flags='S', window=64240))
const SYN2_C1 = hex('0250000000010242ac11000208004500002810044000400642aeac110002cb00710a9c400050000dbba0000000005002faf074950000');
// the server's answer from TIME_WAIT: an ACK of what it knows of the old connection
// scapy: fromUp(IP(src=X10, dst=UP, ttl=52, id=7, flags='DF')/TCP(sport=80, dport=40000, seq=5002, ack=1002, flags='A', window=509))
const TWACK_X10 = hex('0250000000ff02005e000001080045000028000740003406e088cb00710ac633640200509c400000138a000003ea501001fd93920000');
// c1's RST for that ACK (RFC 793: seq = the ACK's acknowledgment number), which ends the server's TIME_WAIT
// scapy: fromC1(IP(src=C1, dst=X10, ttl=64, id=0, flags='DF')/TCP(sport=40000, dport=80, seq=1002, flags='R', window=0))
const RST2_C1 = hex('0250000000010242ac11000208004500002800004000400652b2ac110002cb00710a9c400050000003ea000000005004000027480000');
// scapy: fromUp(IP(src=X10, dst=UP, ttl=52, id=8, flags='DF')/TCP(sport=80, dport=40000, seq=777000, ack=900001, flags='SA', window=65160))
const SYNACK2_X10 = hex('0250000000ff02005e000001080045000028000840003406e087cb00710ac633640200509c40000bdb28000dbba15012fe8817960000');

const ORIG = 0;
const REPLY = 1;

/** One entry (c1:40000 -> 203.0.113.10:80, masqueraded) and a step function applying a segment as nat44 does. */
function tracked() {
  const ct = new ConntrackTable(16);
  const e = ct.create(new CtTuple().set(6, A.c1, A.x10, 40000, 80), new CtTuple().set(6, A.x10, A.uplink, 80, 40000), CtState.SynSent, CtFlag.Snat);
  const step = (dir: number, flags: number, seq: number, ack: number, { win = 502, len = 0, wscale = -1 } = {}): number => {
    const next = tcpTrack(ct, e, dir, flags, seq >>> 0, ack >>> 0, win, len, wscale);
    if (next !== TCP_INVALID && next !== ct.state[e]) ct.setState(e, next);
    return next;
  };
  /** SYN / SYN-ACK / ACK with window scaling 7 on both sides; seq 1000 (client), 5000 (server). */
  const handshake = (): void => {
    expect(step(ORIG, TCP_SYN, 1000, 0, { win: 64240, wscale: 7 })).toBe(CtState.SynSent);
    expect(step(REPLY, TCP_SYN | TCP_ACK, 5000, 1001, { win: 65160, wscale: 7 })).toBe(CtState.SynRecv);
    expect(step(ORIG, TCP_ACK, 1001, 5001)).toBe(CtState.Established);
  };
  return { ct, e, step, handshake };
}

describe('tcpTrack', () => {
  it('walks SYN_SENT, SYN_RECV, ESTABLISHED (assured), FIN_WAIT, CLOSE_WAIT, LAST_ACK, TIME_WAIT', () => {
    const { ct, e, step, handshake } = tracked();
    handshake();
    expect(ct.flags[e] & CtFlag.Assured).toBe(CtFlag.Assured);
    expect(step(ORIG, TCP_ACK, 1001, 5001, { len: 100 })).toBe(CtState.Established); // data
    expect(step(ORIG, TCP_FIN | TCP_ACK, 1101, 5001)).toBe(CtState.FinWait);
    expect(step(REPLY, TCP_ACK, 5001, 1102)).toBe(CtState.CloseWait);
    expect(step(REPLY, TCP_FIN | TCP_ACK, 5001, 1102)).toBe(CtState.LastAck);
    expect(step(ORIG, TCP_ACK, 1102, 5002)).toBe(CtState.TimeWait);
    expect(ct.state[e]).toBe(CtState.TimeWait);
    expect(ct.live[CtState.TimeWait]).toBe(1);
    expect(ct.live[CtState.Established]).toBe(0);
  });

  it('tracks a close started by the server the same way', () => {
    const { step, handshake } = tracked();
    handshake();
    expect(step(REPLY, TCP_FIN | TCP_ACK, 5001, 1001)).toBe(CtState.FinWait);
    expect(step(REPLY, TCP_ACK, 5002, 1001)).toBe(CtState.FinWait); // the closer again: no change
    expect(step(ORIG, TCP_ACK, 1001, 5002)).toBe(CtState.CloseWait);
    expect(step(ORIG, TCP_FIN | TCP_ACK, 1001, 5002)).toBe(CtState.LastAck);
    expect(step(REPLY, TCP_ACK, 5002, 1002)).toBe(CtState.TimeWait);
  });

  it('goes to FIN_WAIT and straight to LAST_ACK on a FIN answered by a FIN', () => {
    const { step, handshake } = tracked();
    handshake();
    expect(step(ORIG, TCP_FIN | TCP_ACK, 1001, 5001)).toBe(CtState.FinWait);
    expect(step(REPLY, TCP_FIN | TCP_ACK, 5001, 1002)).toBe(CtState.LastAck);
    expect(step(ORIG, TCP_ACK, 1002, 5002)).toBe(CtState.TimeWait);
  });

  it('closes on a RST inside the window, from either side', () => {
    for (const [dir, seq] of [[REPLY, 5001], [REPLY, 5001 + 60000], [ORIG, 1001]] as const) {
      const { ct, e, step, handshake } = tracked();
      handshake();
      expect(step(dir, TCP_RST, seq, 0, { win: 0 })).toBe(CtState.Close);
      expect(ct.state[e]).toBe(CtState.Close);
    }
  });

  it('refuses a RST or FIN far outside the window and leaves the entry as it was', () => {
    for (const [flags, seq] of [
      [TCP_RST, 5001 + 0x20000000],
      [TCP_RST | TCP_ACK, 5001 - 0x20000000],
      [TCP_RST, 5001 - 0x100000], // a megabyte behind what the peer expects: far older than any window
      [TCP_FIN | TCP_ACK, 5001 + 0x20000000],
      [TCP_FIN | TCP_ACK, 5001 - 0x20000000],
      [TCP_ACK, 5001 + 0x40000000], // data far ahead: cannot take the connection over
    ] as const) {
      const { ct, e, step, handshake } = tracked();
      handshake();
      const before = [ct.tdEnd[e * 2 + 1], ct.tdAck[e * 2 + 1], ct.tdMaxWin[e * 2 + 1], ct.flags[e]];
      expect(step(REPLY, flags, seq, 1001)).toBe(TCP_INVALID);
      expect(ct.state[e]).toBe(CtState.Established);
      expect([ct.tdEnd[e * 2 + 1], ct.tdAck[e * 2 + 1], ct.tdMaxWin[e * 2 + 1], ct.flags[e]]).toEqual(before);
    }
  });

  it('accepts a RST one below what the peer acknowledged, as a Linux server sends it after its FIN', () => {
    const { ct, e, step, handshake } = tracked();
    handshake();
    expect(step(REPLY, TCP_FIN | TCP_ACK, 5001, 1001)).toBe(CtState.FinWait);
    expect(step(ORIG, TCP_ACK, 1001, 5002)).toBe(CtState.CloseWait);
    expect(step(REPLY, TCP_RST, 5001, 0, { win: 0 })).toBe(CtState.Close);
    expect(ct.state[e]).toBe(CtState.Close);
  });

  it('scales windows only when both SYNs offer window scaling (RFC 7323)', () => {
    for (const [synScale, synAckScale] of [[-1, 14], [14, -1]]) {
      const { ct, e, step } = tracked();
      step(ORIG, TCP_SYN, 1000, 0, { win: 64240, wscale: synScale });
      step(REPLY, TCP_SYN | TCP_ACK, 5000, 1001, { win: 65535, wscale: synAckScale });
      expect(step(ORIG, TCP_ACK, 1001, 5001, { win: 64240 })).toBe(CtState.Established);
      expect(step(REPLY, TCP_ACK, 5001, 1001, { win: 65535 })).toBe(CtState.Established);
      expect([ct.tdScale[e * 2], ct.tdScale[e * 2 + 1]]).toEqual([0, 0]);
      expect([ct.tdMaxWin[e * 2], ct.tdMaxWin[e * 2 + 1]]).toEqual([64240, 65535]);
      // so a blind RST 256 MiB away is outside the (64 KiB) window, from either side
      expect(step(ORIG, TCP_RST, 1001 + 0x10000000, 0, { win: 0 })).toBe(TCP_INVALID);
      expect(step(REPLY, TCP_RST, 5001 + 0x10000000, 0, { win: 0 })).toBe(TCP_INVALID);
      expect(ct.state[e]).toBe(CtState.Established);
    }
    // both offer: the scale applies to windows after the SYNs
    const { ct, e, step, handshake } = tracked();
    handshake();
    expect([ct.tdScale[e * 2], ct.tdScale[e * 2 + 1]]).toEqual([7, 7]);
    expect(ct.tdMaxWin[e * 2]).toBe(502 * 128); // the ACK's window, scaled (the SYN's 64240 is not)
    step(REPLY, TCP_ACK, 5001, 1001, { win: 1000 });
    expect(ct.tdMaxWin[e * 2 + 1]).toBe(1000 * 128);
  });

  it('accepts a RST answering the SYN only when it acknowledges the SYN', () => {
    let t = tracked();
    t.step(ORIG, TCP_SYN, 1000, 0, { wscale: 7 });
    expect(t.step(REPLY, TCP_RST, 0, 0)).toBe(TCP_INVALID);
    expect(t.step(REPLY, TCP_RST | TCP_ACK, 0, 999)).toBe(TCP_INVALID);
    expect(t.ct.state[t.e]).toBe(CtState.SynSent);
    expect(t.step(REPLY, TCP_RST | TCP_ACK, 0, 1001)).toBe(CtState.Close);
    t = tracked();
    t.step(ORIG, TCP_SYN, 1000, 0);
    expect(t.step(ORIG, TCP_ACK, 1001, 0)).toBe(TCP_INVALID); // no SYN-ACK yet
  });

  it('lets a bare ACK answering a SYN through, the entry left as it was (nf_conntrack ignores it)', () => {
    const { ct, e, step } = tracked();
    step(ORIG, TCP_SYN, 1000, 0);
    expect(step(REPLY, TCP_ACK, 5002, 77)).toBe(CtState.SynSent);
    expect([ct.tdEnd[e * 2 + 1], ct.tdAck[e * 2 + 1]]).toEqual([0, 0]); // nothing of it recorded
    expect(step(REPLY, TCP_SYN | TCP_ACK, 5000, 1001)).toBe(CtState.SynRecv);
  });

  it('refuses a bare SYN on an established connection, and reopens a closed one with a new SYN', () => {
    const { ct, e, step, handshake } = tracked();
    handshake();
    expect(step(ORIG, TCP_SYN, 777, 0)).toBe(TCP_INVALID);
    expect(step(REPLY, TCP_RST, 5001, 0)).toBe(CtState.Close);
    expect(step(ORIG, TCP_SYN, 90000, 0, { wscale: 7 })).toBe(CtState.SynSent);
    expect(step(REPLY, TCP_SYN | TCP_ACK, 700000, 90001, { wscale: 7 })).toBe(CtState.SynRecv);
    expect(step(ORIG, TCP_ACK, 90001, 700001)).toBe(CtState.Established);
    expect(ct.state[e]).toBe(CtState.Established);
  });
});

/** The NAT world with the flow c1:40000 -> 203.0.113.10:80 established; conntrackMax 1024 so that one tick sweeps the whole table. */
function established(): { w: NatWorld; e: number } {
  const w = makeNatWorld({ conntrackMax: 1024 });
  w.dp.receive(w.ids.c1, SYN_C1);
  w.dp.receive(w.ids.uplink, SYNACK_X10);
  w.dp.receive(w.ids.c1, ACK_C1);
  drain(w);
  const slot = w.dp.tables.conntrack.lookup(6, A.c1, A.x10, 40000, 80, w.dp.now);
  expect(slot).toBeGreaterThanOrEqual(0);
  const e = slot >> 1;
  expect(w.dp.tables.conntrack.state[e]).toBe(CtState.Established);
  return { w, e };
}

const flagsOf = (f: Buffer): number => f[14 + (f[14] & 0x0f) * 4 + 13];

describe('TCP tracking through the pipeline', () => {
  it('follows the close of a masqueraded connection, then forgets it 120 s after TIME_WAIT', () => {
    const { w, e } = established();
    const ct = w.dp.tables.conntrack;
    w.dp.receive(w.ids.c1, FIN_C1);
    expect(w.uplink.take().map(flagsOf)).toEqual([TCP_FIN | TCP_ACK]);
    expect(ct.state[e]).toBe(CtState.FinWait);
    w.dp.receive(w.ids.uplink, ACK_X10);
    expect(w.c1.take().map(flagsOf)).toEqual([TCP_ACK]);
    expect(ct.state[e]).toBe(CtState.CloseWait);
    w.dp.receive(w.ids.uplink, FIN_X10);
    expect(w.c1.take().map(flagsOf)).toEqual([TCP_FIN | TCP_ACK]);
    expect(ct.state[e]).toBe(CtState.LastAck);
    w.dp.receive(w.ids.c1, LAST_ACK_C1);
    expect(w.uplink.take().map(flagsOf)).toEqual([TCP_ACK]);
    expect(ct.state[e]).toBe(CtState.TimeWait);
    expect(drain(w)).toBe(0);
    const t0 = w.dp.now;
    for (let s = 1; s < 120; s++) w.dp.tick(t0 + s * 1000);
    expect(ct.size).toBe(1);
    expect(ct.state[e]).toBe(CtState.TimeWait);
    w.dp.tick(t0 + 120_000);
    expect(ct.size).toBe(0);
    expect(w.dp.tables.mappings.inUse[0]).toBe(0); // the port mapping went with it
    expect(ct.lookup(6, A.c1, A.x10, 40000, 80, w.dp.now)).toBe(-1);
  });

  it('takes a SYN on the ports of a connection in TIME_WAIT as a new flow; the server\'s ACK for the old one reaches the client, whose RST clears the way', () => {
    const { w, e } = established();
    const ct = w.dp.tables.conntrack;
    for (const [from, f] of [[w.ids.c1, FIN_C1], [w.ids.uplink, ACK_X10], [w.ids.uplink, FIN_X10], [w.ids.c1, LAST_ACK_C1]] as const) w.dp.receive(from, f);
    drain(w);
    expect(ct.state[e]).toBe(CtState.TimeWait);
    const flows = w.dp.counters.gauges[Gauge.NewFlowsTcp];
    w.dp.receive(w.ids.c1, SYN2_C1);
    const syn = w.uplink.take();
    expect(syn.map(flagsOf)).toEqual([TCP_SYN]);
    expect(syn[0]!.readUInt16BE(34)).toBe(40000); // the same outside port again
    expect(w.dp.counters.gauges[Gauge.NewFlowsTcp]).toBe(flows + 1);
    expect(ct.size).toBe(1);
    const e2 = ct.lookup(6, A.c1, A.x10, 40000, 80, w.dp.now) >> 1;
    expect(ct.state[e2]).toBe(CtState.SynSent);
    w.dp.receive(w.ids.uplink, TWACK_X10);
    expect(w.c1.take().map(flagsOf)).toEqual([TCP_ACK]);
    expect(w.dp.counters.drops[Drop.InvalidState]).toBe(0);
    w.dp.receive(w.ids.c1, RST2_C1);
    expect(w.uplink.take().map(flagsOf)).toEqual([TCP_RST]);
    // c1 sends its SYN again: a new flow again, answered this time
    w.dp.receive(w.ids.c1, SYN2_C1);
    expect(w.uplink.take().map(flagsOf)).toEqual([TCP_SYN]);
    w.dp.receive(w.ids.uplink, SYNACK2_X10);
    expect(w.c1.take().map(flagsOf)).toEqual([TCP_SYN | TCP_ACK]);
    expect(ct.state[ct.lookup(6, A.c1, A.x10, 40000, 80, w.dp.now) >> 1]).toBe(CtState.SynRecv);
    expect(drain(w)).toBe(0);
  });

  it('keeps an idle ESTABLISHED connection for an hour (and more)', () => {
    const { w, e } = established();
    const t0 = w.dp.now;
    for (let s = 60; s <= 3600; s += 60) w.dp.tick(t0 + s * 1000);
    expect(w.dp.tables.conntrack.size).toBe(1);
    expect(w.dp.tables.conntrack.state[e]).toBe(CtState.Established);
    expect(w.dp.tables.conntrack.lookup(6, A.x10, A.uplink, 80, 40000, w.dp.now) >> 1).toBe(e);
  });

  it('drops blind RST, FIN and data far outside the window (invalid_state); the entry stays ESTABLISHED', () => {
    const { w, e } = established();
    const ct = w.dp.tables.conntrack;
    let n = 0;
    for (const f of [RST_X10_FAR, FIN_X10_FAR, DATA_X10_FAR]) {
      w.dp.receive(w.ids.uplink, f);
      expect(drain(w)).toBe(0);
      expect(w.dp.counters.drops[Drop.InvalidState]).toBe(++n);
      expect(ct.state[e]).toBe(CtState.Established);
    }
    // the RST at the expected sequence number gets through and closes the entry (10 s timeout)
    w.dp.receive(w.ids.uplink, RST_X10);
    expect(w.c1.take().map(flagsOf)).toEqual([TCP_RST]);
    expect(ct.state[e]).toBe(CtState.Close);
    const t0 = w.dp.now;
    w.dp.tick(t0 + 9_999);
    expect(ct.size).toBe(1);
    w.dp.tick(t0 + 10_000);
    expect(ct.size).toBe(0);
  });
});

// NAT66 (masquerade of a ULA network to the uplink's IPv6 address): ICMPv6 echo and TCP out and
// back, an ICMPv6 error from a router on the path translated back to the container, published
// ports on [::], an unsolicited packet. Frames are literal, produced with scapy (/usr/bin/python3),
// compared byte for byte: the checksums in them are scapy's, not the code's.
//
//   C1 fd00:11::2 (02:42:ac:11:00:02) -- gateway 02:50:00:00:00:01 | uplink 2001:db8:64::2
//   (02:50:00:00:00:ff) -- router fe80::1 / 2001:db8:64::1 (02:00:5e:00:00:01) -- far 2001:db8:77::10

import { describe, expect, it } from 'vitest';
import { Family } from '../../../src/dataplane/conntrack.js';
import { drops, hex, makeNatWorld, A6 } from './fixture.js';

// scapy: Ether(src=C1MAC, dst=GW)/IPv6(src=C1, dst=FAR, hlim=64)/ICMPv6EchoRequest(id=0x1234, seq=1, data=b'pontoon6')
const ECHO6_C1 = hex('0250000000010242ac11000286dd6000000000103a40fd00001100000000000000000000000220010db8007700000000000000000010800085a212340001706f6e746f6f6e36');
// scapy: Ether(src=UPMAC, dst=RT)/IPv6(src=UP, dst=FAR, hlim=63)/ICMPv6EchoRequest(id=0x1234, seq=1, data=b'pontoon6')
const ECHO6_C1_OUT = hex('02005e0000010250000000ff86dd6000000000103a3f20010db800640000000000000000000220010db80077000000000000000000108000549712340001706f6e746f6f6e36');
// scapy: Ether(src=RT, dst=UPMAC)/IPv6(src=FAR, dst=UP, hlim=60)/ICMPv6EchoReply(id=0x1234, seq=1, data=b'pontoon6')
const ECHO6_REPLY_IN = hex('0250000000ff02005e00000186dd6000000000103a3c20010db800770000000000000000001020010db80064000000000000000000028100539712340001706f6e746f6f6e36');
// scapy: Ether(src=GW, dst=C1MAC)/IPv6(src=FAR, dst=C1, hlim=59)/ICMPv6EchoReply(id=0x1234, seq=1, data=b'pontoon6')
const ECHO6_REPLY_AT_C1 = hex('0242ac11000202500000000186dd6000000000103a3b20010db8007700000000000000000010fd000011000000000000000000000002810084a212340001706f6e746f6f6e36');
// scapy: Ether(src=C1MAC, dst=GW)/IPv6(src=C1, dst=FAR, hlim=64)/TCP(sport=40000, dport=80, seq=1000, flags='S', window=64800, options=[('MSS', 1440)])
const SYN6_C1 = hex('0250000000010242ac11000286dd6000000000180640fd00001100000000000000000000000220010db80077000000000000000000109c400050000003e8000000006002fd20cf4d0000020405a0');
// the same from UP (port 40000 kept), hop limit 63
const SYN6_C1_OUT = hex('02005e0000010250000000ff86dd600000000018063f20010db800640000000000000000000220010db80077000000000000000000109c400050000003e8000000006002fd209e420000020405a0');
// scapy: Ether(src=RT, dst=UPMAC)/IPv6(src=FAR, dst=UP, hlim=60)/TCP(sport=80, dport=40000, seq=5000, ack=1001, flags='SA', window=65000, options=[('MSS', 1440)])
const SYNACK6_IN = hex('0250000000ff02005e00000186dd600000000018063c20010db800770000000000000000001020010db800640000000000000000000200509c4000001388000003e96012fde889e10000020405a0');
const SYNACK6_AT_C1 = hex('0242ac11000202500000000186dd600000000018063b20010db8007700000000000000000010fd00001100000000000000000000000200509c4000001388000003e96012fde8baec0000020405a0');
// the router's time exceeded quoting SYN6_C1_OUT (hop limit 1 when it expired)
// scapy: Ether(src=RT, dst=UPMAC)/IPv6(src=RTR, dst=UP, hlim=64)/ICMPv6TimeExceeded()/IPv6(<SYN6_C1_OUT's packet, hlim=1>)
const TE6_IN = hex(
  '0250000000ff02005e00000186dd6000000000483a4020010db800640000000000000000000120010db800640000000000000000000203003a4500000000600000000018060120010db800640000000000000000000220010db80077000000000000000000109c400050000003e8000000006002fd209e420000020405a0',
);
// what C1 gets: to C1, quoting what C1 sent (from C1, its own port), every checksum redone
const TE6_AT_C1 = hex(
  '0242ac11000202500000000186dd6000000000483a3f20010db8006400000000000000000001fd00001100000000000000000000000203006b50000000006000000000180601fd00001100000000000000000000000220010db80077000000000000000000109c400050000003e8000000006002fd20cf4d0000020405a0',
);

// scapy: Ether(src=UPMAC, dst=RT)/IPv6(src=UP, dst=FAR, hlim=64)/TCP(sport=40000, dport=80, seq=1001, flags='R', window=0): SYNACK6_IN's RST
const RST6_FOR_SYNACK = hex('02005e0000010250000000ff86dd600000000014064020010db800640000000000000000000220010db80077000000000000000000109c400050000003e90000000050040000b3080000');
// scapy: Ether(src=RT, dst=UPMAC)/IPv6(src=FAR, dst=UP, hlim=60)/TCP(sport=5555, dport=9999, seq=7000, flags='S', window=65000): nothing publishes 9999
const SYN6_UNPUBLISHED_IN = hex('0250000000ff02005e00000186dd600000000014063c20010db800770000000000000000001020010db800640000000000000000000215b3270f00001b58000000005002fde8fd800000');
// scapy: Ether(src=RT, dst=UPMAC)/IPv6(src=FAR, dst=UP, hlim=60)/TCP(sport=5555, dport=9999, seq=7000, flags='R', window=0)
const RST6_UNPUBLISHED_IN = hex('0250000000ff02005e00000186dd600000000014063c20010db800770000000000000000001020010db800640000000000000000000215b3270f00001b580000000050040000fb670000');
// scapy: Ether(src=UPMAC, dst=RT)/IPv6(src=UP, dst=FAR, hlim=64)/TCP(sport=9999, dport=5555, seq=0, ack=7001, flags='RA', window=0)
const RSTACK6_FOR_SYN = hex('02005e0000010250000000ff86dd600000000014064020010db800640000000000000000000220010db8007700000000000000000010270f15b30000000000001b5950140000fb560000');

describe('NAT66', () => {
  it('masquerades an echo request to the uplink address and brings the reply back to the container', () => {
    const w = makeNatWorld({}, { ipv6: true });
    w.dp.receive(w.ids.c1, ECHO6_C1);
    expect(w.uplink.take().map((f) => f.toString('hex'))).toEqual([ECHO6_C1_OUT.toString('hex')]);
    w.dp.receive(w.ids.uplink, ECHO6_REPLY_IN);
    expect(w.c1.take().map((f) => f.toString('hex'))).toEqual([ECHO6_REPLY_AT_C1.toString('hex')]);
    const flows = w.dp.control.conntrackList(10);
    expect(flows).toHaveLength(1);
    expect(flows[0]!.family).toBe(Family.Ipv6);
  });

  it('tracks a TCP connection out and its answer back; a router\'s time exceeded about it reaches the container translated', () => {
    const w = makeNatWorld({}, { ipv6: true });
    w.dp.receive(w.ids.c1, SYN6_C1);
    expect(w.uplink.take().map((f) => f.toString('hex'))).toEqual([SYN6_C1_OUT.toString('hex')]);
    w.dp.receive(w.ids.uplink, SYNACK6_IN);
    expect(w.c1.take().map((f) => f.toString('hex'))).toEqual([SYNACK6_AT_C1.toString('hex')]);
    w.dp.receive(w.ids.uplink, TE6_IN);
    expect(w.c1.take().map((f) => f.toString('hex'))).toEqual([TE6_AT_C1.toString('hex')]);
  });

  it('never lets an unsolicited packet from outside reach a container: no_mapping, and TCP gets a RST from the uplink address (nat.unsolicitedTcp)', () => {
    const w = makeNatWorld({}, { ipv6: true });
    w.dp.receive(w.ids.uplink, SYNACK6_IN); // no flow for it: its ACK says where the RST's sequence is
    w.dp.receive(w.ids.uplink, SYN6_UNPUBLISHED_IN);
    expect(drops(w.dp).no_mapping).toBe(2);
    expect(w.uplink.take().map((f) => f.toString('hex'))).toEqual([RST6_FOR_SYNACK.toString('hex'), RSTACK6_FOR_SYN.toString('hex')]);
    for (const p of w.all) expect(p.take()).toEqual([]);
    // a RST is never answered; with nat.unsolicitedTcp: drop, nothing is
    w.dp.receive(w.ids.uplink, RST6_UNPUBLISHED_IN);
    expect(drops(w.dp).no_mapping).toBe(3);
    for (const p of w.all) expect(p.take()).toEqual([]);
    const quiet = makeNatWorld({ rejectUnsolicitedTcp: false }, { ipv6: true });
    quiet.dp.receive(quiet.ids.uplink, SYN6_UNPUBLISHED_IN);
    expect(drops(quiet.dp).no_mapping).toBe(1);
    for (const p of quiet.all) expect(p.take()).toEqual([]);
  });

  it('a port published on [::] takes the far side to the container, its source kept, and the answer back from the uplink address', () => {
    const w = makeNatWorld({}, { ipv6: true });
    w.dp.control.addPublish({ family: Family.Ipv6, proto: 6, hostIp: [0, 0, 0, 0], hostPort: 40000, targetIp: A6.c1, targetPort: 40000 });
    // the far side's SYN-ACK-shaped probe is no SYN: refused; a SYN to [UP]:40000 reaches C1 at its address
    const syn = Buffer.from(SYNACK6_IN);
    syn[14 + 40 + 13] = 0x02; // flags: SYN alone
    // the TCP checksum covers the flags byte: 0x12 -> 0x02 adds 0x10 to the ones' complement sum
    const ck = syn.readUInt16BE(14 + 40 + 16);
    syn.writeUInt16BE(((ck + 0x10) & 0xffff) + ((ck + 0x10) >> 16), 14 + 40 + 16);
    w.dp.receive(w.ids.uplink, syn);
    const at = w.c1.take();
    expect(at).toHaveLength(1);
    expect(at[0]!.subarray(14 + 24, 14 + 40).toString('hex')).toBe('fd000011000000000000000000000002'); // to C1
    expect(at[0]!.subarray(14 + 8, 14 + 24).toString('hex')).toBe('20010db8007700000000000000000010'); // from the far host, as it was
    expect(drops(w.dp)).toEqual({});
  });
});

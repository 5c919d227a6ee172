// IPv6 routed by the gateway between the host's TUN link and a network (issue 13): the neighbour
// table's IPv6 entries, the hop limit, the egress MTU (packet too big: never fragmented), and
// resolution by neighbour solicitation with the packet parked meanwhile. Frames made with scapy.

import { describe, expect, it } from 'vitest';
import { Drop, Gauge } from '../../../src/dataplane/counters.js';
import { Dataplane } from '../../../src/dataplane/dataplane.js';
import { MemoryPort } from '../../../src/ports/memory-port.js';
import { addDualStackNetwork, hex, words6 as words } from './fixture.js';

// fd00:fe::1 (the host) -> fd00:20::2, echo request id 1 seq 1 "abcd", hop limit 64
const ECHO = hex('60000000000c3a40fd0000fe000000000000000000000001fd0000200000000000000000000000028000bfcd0001000161626364');
// the same routed to c1: its MAC, from the gateway's, hop limit 63
const ECHO_TO_C1 = hex('0242ac14000202500000000186dd60000000000c3a3ffd0000fe000000000000000000000001fd0000200000000000000000000000028000bfcd0001000161626364');
// hop limit 1, seq 2
const ECHO_HL1 = hex('6000000000083a01fd0000fe000000000000000000000001fd0000200000000000000000000000028000849700010002');
// time exceeded from the gateway's host-link address fd00:fe::2, quoting it whole
const TIME_EXCEEDED = hex('6000000000383a40fd0000fe000000000000000000000002fd0000fe000000000000000000000001030066c5000000006000000000083a01fd0000fe000000000000000000000001fd0000200000000000000000000000028000849700010002');

// Extension headers from c1 (fd00:20::2, 02:42:ac:14:00:02), made with scapy, and the gateway's
// ICMPv6 parameter problems (from fd00:20::1, hop limit 64, quoting the packet)
const EXT = {
  /** to the host, a hop-by-hop option 0x82 (unknown, "discard and send a parameter problem") */
  hbhDiscard: hex('0250000000010242ac14000286dd6000000000130040fd000020000000000000000000000002fd0000fe000000000000000000000001110082040000000003e807d0000b289b686268'),
  hbhProblem: hex(
    '0242ac14000202500000000186dd6000000000433a40fd000020000000000000000000000001fd00002000000000000000000000000204020dd60000002a6000000000130040fd000020000000000000000000000002fd0000fe000000000000000000000001110082040000000003e807d0000b289b686268',
  ),
  /** the same with option 0x02 ("skip"): routed on, hop limit 63 */
  hbhSkip: hex('0250000000010242ac14000286dd6000000000130040fd000020000000000000000000000002fd0000fe000000000000000000000001110002040000000003e807d0000b289b686268'),
  hbhSkipOut: hex('600000000013003ffd000020000000000000000000000002fd0000fe000000000000000000000001110002040000000003e807d0000b289b686268'),
  /** to the gateway, a routing header (type 0, deprecated: unrecognised) with one segment left: pointer 42, its routing type (RFC 8200 4.4) */
  routing: hex('0250000000010242ac14000286dd6000000000202b40fd000020000000000000000000000002fd0000200000000000000000000000013a02000100000000fd0000200000000000000000000000038000857000050001'),
  routingProblem: hex(
    '0242ac14000202500000000186dd6000000000503a40fd000020000000000000000000000001fd00002000000000000000000000000204003ec30000002a6000000000202b40fd000020000000000000000000000002fd0000200000000000000000000000013a02000100000000fd0000200000000000000000000000038000857000050001',
  ),
  /** to the gateway, a destination option 0xc2 ("discard, parameter problem unless multicast") */
  destOpt: hex('0250000000010242ac14000286dd6000000000103c40fd000020000000000000000000000002fd0000200000000000000000000000013a00c204000000008000857100050002'),
  destOptProblem: hex(
    '0242ac14000202500000000186dd6000000000403a40fd000020000000000000000000000001fd000020000000000000000000000002040269010000002a6000000000103c40fd000020000000000000000000000002fd0000200000000000000000000000013a00c204000000008000857100050002',
  ),
  /** to the gateway, the first fragment of an echo request: the gateway does not reassemble */
  fragment: hex('0250000000010242ac14000286dd6000000000202c40fd000020000000000000000000000002fd0000200000000000000000000000013a000001000000078000c19c0005000378787878787878787878787878787878'),
};

function world(mtu = 1500, ip6 = 'fd00:20::2') {
  const dp = new Dataplane();
  dp.now = 1_000_000;
  addDualStackNetwork(dp, { mtu });
  const host = new MemoryPort();
  const hostId = dp.control.addHostPort(
    {
      name: 'pontoon0',
      hostIp: 0x0afe0001,
      gatewayIp: 0x0afe0002,
      prefixLen: 30,
      mtu: 1500,
      defaultRoute: true,
      ipv6: { hostIp: words('fd00:fe::1'), gatewayIp: words('fd00:fe::2'), prefixLen: 64 },
    },
    host,
  ).id;
  const c1 = new MemoryPort();
  const c1Id = dp.control.addEndpoint({ name: 'c1', network: 0, mac: 0x0242ac140002, ip: 0xac140002, ip6: words(ip6) }, c1).id;
  c1.take();
  host.take();
  return { dp, host, c1, hostId, c1Id };
}

describe('IPv6 routing', () => {
  it('routes the host to a container: its MAC from the neighbour table, hop limit decremented', () => {
    const w = world();
    w.dp.receive(w.hostId, ECHO);
    expect(w.c1.take()).toEqual([ECHO_TO_C1]);
  });

  it('hop limit 1: ICMPv6 time exceeded back to the host, from the gateway address of the link', () => {
    const w = world();
    w.dp.receive(w.hostId, ECHO_HL1);
    expect(w.host.take()).toEqual([TIME_EXCEEDED]);
    expect(w.c1.take()).toEqual([]);
    expect(w.dp.counters.drops[Drop.TtlExpired]).toBe(1);
    expect(w.dp.counters.gauges[Gauge.Icmp6Sent]).toBe(1);
  });

  it('larger than the egress MTU: packet too big with the MTU, quoting what fits in 1280 bytes, never fragmented', () => {
    const w = world(1400);
    const big = Buffer.alloc(1460);
    ECHO.copy(big, 0, 0, 48);
    big.writeUInt16BE(1420, 4); // payload length
    w.dp.receive(w.hostId, big);
    const [ptb] = w.host.take();
    expect(w.c1.take()).toEqual([]);
    expect(w.dp.counters.drops[Drop.PacketTooBig]).toBe(1);
    expect(ptb!.length).toBe(1280);
    expect(ptb!.subarray(8, 24)).toEqual(TIME_EXCEEDED.subarray(8, 24)); // from fd00:fe::2
    expect(ptb!.subarray(24, 40)).toEqual(ECHO.subarray(8, 24)); // to the host
    expect([ptb![40], ptb![41]]).toEqual([2, 0]);
    expect(ptb!.readUInt32BE(44)).toBe(1400);
    expect(ptb!.subarray(48)).toEqual(big.subarray(0, 1232));
  });

  it('an unknown neighbour is asked by solicitation to its solicited-node group; the packet is parked meanwhile (nothing sent, nothing dropped)', () => {
    const w = world(1500, 'fd00:20::3'); // c1's own address is another: fd00:20::2 is not known
    w.dp.receive(w.hostId, ECHO);
    const [ns] = w.c1.take();
    // 33:33:ff:00:00:02 from the gateway, fd00:20::1 -> ff02::1:ff00:2, NS for fd00:20::2 with the gateway's MAC
    expect(ns!.subarray(0, 14)).toEqual(hex('3333ff00000202500000000186dd'));
    expect(ns!.subarray(22, 38)).toEqual(hex('fd000020000000000000000000000001'));
    expect(ns!.subarray(38, 54)).toEqual(hex('ff0200000000000000000001ff000002'));
    expect(ns![54]).toBe(135);
    expect(ns!.subarray(62, 78)).toEqual(hex('fd000020000000000000000000000002'));
    expect(ns!.subarray(78, 86)).toEqual(hex('0101025000000001'));
    expect(w.dp.counters.gauges[Gauge.NdpSolicitationsSent]).toBe(1);
    expect(w.dp.counters.drops[Drop.NeighbourUnreachable]).toBe(0);
  });

  it("the container's advertisement of its SLAAC address answers the solicitation: the parked packet goes to it", () => {
    // c1 (02:42:ac:14:00:02) configured fd00:20::42:acff:fe14:2 from the RA's prefix: its own, unknown to the table
    const echo = hex('60000000000c3a40fd0000fe000000000000000000000001fd000020000000000042acfffe140002800014750001000361626364');
    const w = world();
    w.dp.receive(w.hostId, echo);
    const [ns] = w.c1.take();
    expect(ns![54]).toBe(135);
    expect(ns!.subarray(62, 78)).toEqual(hex('fd000020000000000042acfffe140002'));
    // NA (solicited, override) from the SLAAC address to the gateway, target it, with c1's MAC
    const na = hex(
      '0250000000010242ac14000286dd6000000000203afffd000020000000000042acfffe140002fd0000200000000000000000000000018800193660000000fd000020000000000042acfffe14000202010242ac140002',
    );
    w.dp.receive(w.c1Id, na);
    // the echo, released: to c1's MAC from the gateway's, hop limit 63
    expect(w.c1.take()).toEqual([
      hex('0242ac14000202500000000186dd60000000000c3a3ffd0000fe000000000000000000000001fd000020000000000042acfffe140002800014750001000361626364'),
    ]);
    expect(w.host.take()).toEqual([]);
    expect(w.dp.counters.drops[Drop.SpoofedNdp]).toBe(0);
  });

  it('extension headers: an unknown hop-by-hop option that says discard is refused on the way, one that says skip is routed on', () => {
    const w = world();
    w.dp.receive(w.c1Id, EXT.hbhDiscard);
    expect(w.c1.take()).toEqual([EXT.hbhProblem]);
    expect(w.host.take()).toEqual([]);
    expect(w.dp.counters.drops[Drop.Ipv6ExtensionRefused]).toBe(1);
    w.dp.receive(w.c1Id, EXT.hbhSkip);
    expect(w.host.take()).toEqual([EXT.hbhSkipOut]);
  });

  it('extension headers to the gateway: a routing header with segments left and a discarding destination option get parameter problems; a fragment is dropped', () => {
    const w = world();
    w.dp.receive(w.c1Id, EXT.routing);
    expect(w.c1.take()).toEqual([EXT.routingProblem]);
    w.dp.receive(w.c1Id, EXT.destOpt);
    expect(w.c1.take()).toEqual([EXT.destOptProblem]);
    expect(w.dp.counters.drops[Drop.Ipv6ExtensionRefused]).toBe(2);
    w.dp.receive(w.c1Id, EXT.fragment);
    expect(w.c1.take()).toEqual([]);
    expect(w.dp.counters.drops[Drop.UnsupportedProtocol]).toBe(1);
  });
});

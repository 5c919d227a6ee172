// IPv6 inside a VXLAN overlay, decapsulation (vxlan-input): inner IPv6 from a peer VTEP is switched
// to the local ports unchanged; malformed frames, router advertisements and the gateway's
// neighbour discovery from a remote are dropped and counted. Frames made with scapy (Ether/IPv6/
// ICMPv6..., as each is described).

import { describe, expect, it } from 'vitest';
import { Dataplane } from '../../../src/dataplane/dataplane.js';
import type { TunnelIo } from '../../../src/dataplane/port.js';
import { MemoryPort } from '../../../src/ports/memory-port.js';
import { parseIpv4 } from '../../../src/wire/ipv4-address.js';
import { parseMac } from '../../../src/wire/mac.js';
import { drops, hex, words6 } from './fixture.js';

const VNI = 0x00102a;
const VTEP_A = parseIpv4('192.0.2.1');
const VXLAN = hex('0800000000102a00');
/** the ICMPv6 message of a frame without extension headers */
const ETH_IP6_ICMP = 14 + 40;

class NullTunnel implements TunnelIo {
  sent = 0;
  sendTo(): boolean {
    this.sent++;
    return true;
  }
  flush(): void {}
}

/** Host B: the dual-stack overlay 10.20.0.0/24 + fd00:20::/64, a local container fd00:20::3 (02:42:0a:14:00:03), peer VTEP A. */
function hostB() {
  const dp = new Dataplane();
  dp.now = 1000;
  const tunnel = new NullTunnel();
  dp.control.setTunnel('vxlan', tunnel, 1500);
  dp.control.addNetwork({
    index: 0,
    name: 'ov',
    subnet: parseIpv4('10.20.0.0'),
    prefixLen: 24,
    gatewayIp: parseIpv4('10.20.0.1'),
    gatewayMac: parseMac('02:50:00:00:10:01'),
    mtu: 1450,
    internal: false,
    vni: VNI,
    ipv6: { subnet: words6('fd00:20::'), prefixLen: 64, gatewayIp: words6('fd00:20::1'), nat: true },
  });
  dp.control.addPeer(0, VTEP_A);
  const port = new MemoryPort();
  const id = dp.control.addEndpoint({ name: 'c', network: 0, mac: parseMac('02:42:0a:14:00:03'), ip: parseIpv4('10.20.0.3'), ip6: words6('fd00:20::3') }, port).id;
  port.take();
  tunnel.sent = 0;
  return { dp, port, tunnel, id };
}

function deliver(dp: Dataplane, frame: Buffer): void {
  const datagram = Buffer.concat([VXLAN, frame]);
  const off = dp.pool.alloc() - 8;
  datagram.copy(dp.pool.slab, off);
  dp.inputTunnel(dp.pool.slab, off, datagram.length, dp.tables.vteps.indexOf(VTEP_A));
  dp.endBatch();
}

// Ether(src=02:42:0a:14:00:02, dst=02:42:0a:14:00:03)/IPv6(fd00:20::2 > fd00:20::3)/ICMPv6EchoRequest(id=1, seq=1, data='abcdefgh')
const PING6 = hex('02420a14000302420a14000286dd6000000000103a40fd000020000000000000000000000002fd0000200000000000000000000000038000f3d6000100016162636465666768');
// router advertisement from fe80::42:aff:fe14:2 to ff02::1, source link-layer option
const RA = hex('33330000000102420a14000286dd6000000000183afffe8000000000000000420afffe140002ff02000000000000000000000000000186005e67000807080000000000000000010102420a140002');
// neighbour solicitation for the gateway's fd00:20::1 (to its solicited-node group)
const NS_GW = hex('3333ff00000102420a14000286dd6000000000203afffd000020000000000000000000000002ff0200000000000000000001ff0000018700730100000000fd000020000000000000000000000001010102420a140002');
// neighbour solicitation for the local container's fd00:20::3
const NS_LOCAL = hex('3333ff00000302420a14000286dd6000000000203afffd000020000000000000000000000002ff0200000000000000000001ff000003870072fd00000000fd000020000000000000000000000003010102420a140002');
// unsolicited neighbour advertisement of fd00:20::1 (the gateway's) by the remote, to ff02::1
const NA_GW = hex('33330000000102420a14000286dd6000000000203afffd000020000000000000000000000002ff0200000000000000000000000000018800500320000000fd000020000000000000000000000001020102420a140002');

// from the local container: a neighbour solicitation for the remote endpoint's fd00:20::2, and the
// advertisement the gateway answers in its name (solicited, override, not a router, its MAC)
const NS_REMOTE = hex('3333ff00000202420a14000386dd6000000000203afffd000020000000000000000000000003ff0200000000000000000001ff000002870072fd00000000fd000020000000000000000000000002010102420a140003');
const NA_PROXY = hex('02420a14000302420a14000286dd6000000000203afffd000020000000000000000000000002fd000020000000000000000000000003880011e260000000fd000020000000000000000000000002020102420a140002');

describe('NDP suppression for remote endpoints (ndp-proxy)', () => {
  it("answers a local solicitation for a remote endpoint's IPv6 address with its MAC, not flooded over the overlay", () => {
    const b = hostB();
    b.dp.control.addRemoteEndpoint({ network: 0, ip: parseIpv4('10.20.0.2'), mac: parseMac('02:42:0a:14:00:02'), vtepIp: VTEP_A });
    b.dp.control.addRemoteEndpoint6({ network: 0, ip6: words6('fd00:20::2'), mac: parseMac('02:42:0a:14:00:02'), vtepIp: VTEP_A });
    b.port.take();
    b.tunnel.sent = 0;
    b.dp.receive(b.id, NS_REMOTE);
    expect(b.port.take()).toEqual([NA_PROXY]);
    expect(b.tunnel.sent).toBe(0);
    expect(drops(b.dp)).toEqual({});
  });

  it('floods the solicitation over the overlay when the address is not known (or no longer)', () => {
    const b = hostB();
    b.dp.control.addRemoteEndpoint6({ network: 0, ip6: words6('fd00:20::2'), mac: parseMac('02:42:0a:14:00:02'), vtepIp: VTEP_A });
    b.dp.control.removeRemoteEndpoint6(0, words6('fd00:20::2'));
    b.port.take();
    b.tunnel.sent = 0;
    b.dp.receive(b.id, NS_REMOTE);
    expect(b.port.take()).toEqual([]);
    expect(b.tunnel.sent).toBe(1);
  });
});

describe('routed IPv6 to a remote endpoint', () => {
  it('goes straight into the overlay: the gateway knows the remote MAC, no solicitation that the remote answer could not settle', () => {
    const b = hostB();
    const host = new MemoryPort();
    const hostId = b.dp.control.addHostPort(
      {
        name: 'pontoon0',
        hostIp: parseIpv4('10.254.0.1'),
        gatewayIp: parseIpv4('10.254.0.2'),
        prefixLen: 30,
        mtu: 1500,
        defaultRoute: false,
        ipv6: { hostIp: words6('fd00:fe::1'), gatewayIp: words6('fd00:fe::2'), prefixLen: 64 },
      },
      host,
    ).id;
    b.dp.control.addRemoteEndpoint6({ network: 0, ip6: words6('fd00:20::2'), mac: parseMac('02:42:0a:14:00:02'), vtepIp: VTEP_A });
    b.port.take();
    b.tunnel.sent = 0;
    // fd00:fe::1 -> fd00:20::2, echo request id 1 seq 1 "abcd" (scapy), from the host's TUN
    b.dp.receive(hostId, hex('60000000000c3a40fd0000fe000000000000000000000001fd0000200000000000000000000000028000bfcd0001000161626364'));
    expect(b.tunnel.sent).toBe(1);
    expect(b.port.take()).toEqual([]); // no solicitation flooded to the local container
    expect(drops(b.dp)).toEqual({});
    // forgotten: the next one is resolved by solicitation again (flooded over the overlay and locally)
    b.dp.control.removeRemoteEndpoint6(0, words6('fd00:20::2'));
    b.tunnel.sent = 0;
    b.dp.receive(hostId, hex('60000000000c3a40fd0000fe000000000000000000000001fd0000200000000000000000000000028000bfcd0001000161626364'));
    expect(b.port.take()[0]![54]).toBe(135);
  });
});

describe('IPv6 inside the overlay, decapsulation', () => {
  it('switches inner IPv6 from a peer to the local container unchanged, and not back into the overlay', () => {
    const b = hostB();
    deliver(b.dp, PING6);
    deliver(b.dp, NS_LOCAL);
    expect(b.port.take()).toEqual([PING6, NS_LOCAL]);
    expect(b.tunnel.sent).toBe(0);
    expect(drops(b.dp)).toEqual({});
  });

  it('drops a malformed inner IPv6 packet and a bad NDP checksum, counted', () => {
    const b = hostB();
    deliver(b.dp, PING6.subarray(0, PING6.length - 4)); // payload length 16, 12 bytes there
    const badSum = Buffer.from(NS_LOCAL);
    badSum[ETH_IP6_ICMP + 2] ^= 0xff;
    deliver(b.dp, badSum);
    expect(b.port.take()).toEqual([]);
    expect(drops(b.dp)).toEqual({ malformed: 1, bad_checksum: 1 });
  });

  it("drops a router advertisement and an advertisement of the gateway's address as spoofed_ndp; a solicitation for the gateway stays remote", () => {
    const b = hostB();
    deliver(b.dp, RA);
    deliver(b.dp, NA_GW);
    deliver(b.dp, NS_GW);
    expect(b.port.take()).toEqual([]);
    expect(b.tunnel.sent).toBe(0);
    expect(drops(b.dp)).toEqual({ spoofed_ndp: 2, not_for_us: 1 });
  });
});

import { describe, expect, it } from 'vitest';
import { Drop } from '../../../src/dataplane/counters.js';
import { Dataplane } from '../../../src/dataplane/dataplane.js';
import type { TunnelIo } from '../../../src/dataplane/port.js';
import { MemoryPort } from '../../../src/ports/memory-port.js';
import { internetChecksum } from '../../../src/wire/checksum.js';
import { parseIpv4 } from '../../../src/wire/ipv4-address.js';
import { parseMac } from '../../../src/wire/mac.js';
import { addOverlayNetwork, hex } from './fixture.js';

const VNI = 0x00102a; // 4138
const GW_MAC = '02:50:00:00:10:01';

/** An underlay that records what each host sends, per destination VTEP address. */
class MemoryTunnel implements TunnelIo {
  sent: { to: number; bytes: Buffer }[] = [];
  constructor(private readonly dp: () => Dataplane) {}
  sendTo(buf: Buffer, off: number, len: number, vtep: number): boolean {
    this.sent.push({ to: this.dp().tables.vteps.ipOf(vtep), bytes: Buffer.from(buf.subarray(off, off + len)) });
    return true;
  }
  flush(): void {
    // copied when queued
  }
  take(): { to: number; bytes: Buffer }[] {
    return this.sent.splice(0);
  }
}

const VTEP_A = parseIpv4('192.0.2.1');
const VTEP_B = parseIpv4('192.0.2.2');

function host(vtepOther: number, localIp: string, localMac: string) {
  const dp = new Dataplane();
  dp.now = 1000;
  const tunnel = new MemoryTunnel(() => dp);
  dp.control.setTunnel('vxlan', tunnel, 1500);
  addOverlayNetwork(dp, VNI, GW_MAC);
  dp.control.addPeer(0, vtepOther);
  const port = new MemoryPort();
  const id = dp.control.addEndpoint({ name: 'c', network: 0, mac: parseMac(localMac), ip: parseIpv4(localIp) }, port).id;
  return { dp, tunnel, port, id };
}

/** Delivers a datagram as the worker would: VXLAN header in front of the frame, from `src`. */
function deliver(dp: Dataplane, datagram: Buffer, src: number): void {
  const off = dp.pool.alloc() - 8;
  datagram.copy(dp.pool.slab, off);
  dp.inputTunnel(dp.pool.slab, off, datagram.length, dp.tables.vteps.indexOf(src)); // the socket looks its source up
  dp.endBatch();
}

// ARP request from 10.20.0.2 (02:42:0a:14:00:02) for 10.20.0.3
const ARP_REQ = hex('ffffffffffff02420a1400020806000108000604000102420a1400020a140002000000000000' + '0a140003');
// echo request 10.20.0.2 -> 10.20.0.3, DF (scapy)
const PING = hex(
  '02420a14000302420a14000208004500003c00004000400126950a1400020a14000308004d5a000100016162636465666768696a6b6c6d6e6f7071727374757677616263646566676869',
);

describe('VXLAN overlay', () => {
  it('floods ARP to the peer VTEP with a VXLAN header in front of the unchanged frame', () => {
    const a = host(VTEP_B, '10.20.0.2', '02:42:0a:14:00:02');
    a.tunnel.take(); // the gratuitous ARP of the attach went out too
    a.dp.receive(a.id, ARP_REQ);
    const sent = a.tunnel.take();
    expect(sent).toHaveLength(1);
    expect(sent[0].to).toBe(VTEP_B);
    expect(sent[0].bytes).toEqual(Buffer.concat([hex('0800000000102a00'), ARP_REQ]));
  });

  it('decapsulates from a peer, learns the inner MAC behind it, and switches to local ports only', () => {
    const b = host(VTEP_A, '10.20.0.3', '02:42:0a:14:00:03');
    b.tunnel.take();
    b.port.take();
    deliver(b.dp, Buffer.concat([hex('0800000000102a00'), ARP_REQ]), VTEP_A);
    expect(b.port.take()).toEqual([ARP_REQ]);
    expect(b.tunnel.take()).toEqual([]); // split horizon: not back into the overlay
    // the reply to 02:42:0a:14:00:02 goes back to VTEP A, unicast
    const reply = hex('02420a14000202420a1400030806000108000604000202420a1400030a14000302420a1400020a140002');
    b.dp.receive(b.id, reply);
    const sent = b.tunnel.take();
    expect(sent.map((s) => s.to)).toEqual([VTEP_A]);
    expect(sent[0].bytes.subarray(8)).toEqual(reply);
  });

  it('drops frames from an unknown VTEP or for an unknown VNI, and counts them', () => {
    const b = host(VTEP_A, '10.20.0.3', '02:42:0a:14:00:03');
    b.port.take();
    deliver(b.dp, Buffer.concat([hex('0800000000102a00'), ARP_REQ]), parseIpv4('192.0.2.99'));
    deliver(b.dp, Buffer.concat([hex('0800000000102b00'), ARP_REQ]), VTEP_A);
    deliver(b.dp, Buffer.concat([hex('0000000000102a00'), ARP_REQ]), VTEP_A); // I flag missing
    expect(b.port.take()).toEqual([]);
    expect(b.dp.counters.drops[Drop.VxlanUnknownVtep]).toBe(1);
    expect(b.dp.counters.drops[Drop.VxlanUnknownVni]).toBe(1);
    expect(b.dp.counters.drops[Drop.Malformed]).toBe(1);
  });

  it('answers ARP for a remote endpoint known from the control plane (ARP suppression)', () => {
    const a = host(VTEP_B, '10.20.0.2', '02:42:0a:14:00:02');
    a.dp.control.addRemoteEndpoint({ network: 0, ip: parseIpv4('10.20.0.3'), mac: parseMac('02:42:0a:14:00:03'), vtepIp: VTEP_B });
    a.tunnel.take();
    a.port.take();
    a.dp.receive(a.id, ARP_REQ);
    expect(a.tunnel.take()).toEqual([]);
    expect(a.port.take()).toEqual([hex('02420a14000202420a1400030806000108000604000202420a1400030a14000302420a1400020a140002')]);
    // and unicast to it is encapsulated straight to its VTEP
    a.dp.receive(a.id, PING);
    const sent = a.tunnel.take();
    expect(sent.map((s) => s.to)).toEqual([VTEP_B]);
    expect(sent[0].bytes).toEqual(Buffer.concat([hex('0800000000102a00'), PING]));
  });

  it('refuses frames too big for the underlay with ICMP fragmentation needed', () => {
    const a = host(VTEP_B, '10.20.0.2', '02:42:0a:14:00:02');
    a.dp.control.addRemoteEndpoint({ network: 0, ip: parseIpv4('10.20.0.3'), mac: parseMac('02:42:0a:14:00:03'), vtepIp: VTEP_B });
    a.dp.tables.underlayMtu = 1400;
    a.tunnel.take();
    a.port.take();
    a.dp.receive(a.id, PING); // small: fits
    expect(a.tunnel.take()).toHaveLength(1);
    const big = Buffer.alloc(14 + 1400);
    PING.copy(big, 0, 0, 34);
    big.writeUInt16BE(1400, 16);
    big.writeUInt16BE(0, 24);
    big.writeUInt16BE(internetChecksum(big, 14, 20), 24);
    a.dp.receive(a.id, big);
    expect(a.tunnel.take()).toEqual([]);
    const [err] = a.port.take();
    expect(err.readUInt32BE(26)).toBe(parseIpv4('10.20.0.1'));
    expect([err[34], err[35]]).toEqual([3, 4]);
    expect(err.readUInt16BE(40)).toBe(1350); // underlay 1400 - 50
    expect(a.dp.counters.drops[Drop.VxlanTooBig]).toBe(1);
  });
});

/**
 * Every captured IPv6 frame, taken apart with the Reprs (Ethernet, IPv6, each extension header,
 * ICMPv6 / UDP / TCP or raw bytes) and put together again, byte for byte; the checksums of the
 * re-emitted frame are computed, not copied, so they must come out as the kernel's.
 */
import { describe, expect, it } from 'vitest';
import { WireError } from '../../../src/wire/error.js';
import { ipv6AddressSumWords } from '../../../src/wire/checksum.js';
import { EthernetPacket, EthernetRepr } from '../../../src/wire/ethernet.js';
import { readIpv6 } from '../../../src/wire/ipv6-address.js';
import { Icmpv6Packet, Icmpv6Repr } from '../../../src/wire/icmpv6.js';
import { IPV6_NH_ICMPV6, IPV6_NH_TCP, IPV6_NH_UDP, Ipv6ExtensionHeaderRepr, Ipv6ExtensionWalk, Ipv6Packet, Ipv6Repr } from '../../../src/wire/ipv6.js';
import { TcpPacket, TcpRepr } from '../../../src/wire/tcp.js';
import { UdpPacket, UdpRepr } from '../../../src/wire/udp.js';
import * as F from './frames6.js';

const frames = Object.entries(F).filter((e): e is [string, Buffer] => Buffer.isBuffer(e[1]));

describe('captured IPv6 frames through the Reprs and back', () => {
  it('has the frames', () => {
    expect(frames.length).toBeGreaterThanOrEqual(23);
  });

  for (const [name, frame] of frames) {
    it(name, () => {
      const eth = new EthernetPacket();
      const ip = new Ipv6Packet();
      const walk = new Ipv6ExtensionWalk();
      expect(eth.wrap(frame, 0, frame.length)).toBe(WireError.Ok);
      expect(ip.wrap(frame, 14, frame.length - 14)).toBe(WireError.Ok);
      expect(ip.totalLength).toBe(frame.length - 14);
      expect(ip.walkExtensions(walk)).toBe(WireError.Ok);
      const ethRepr = EthernetRepr.parse(eth);
      const ipRepr = Ipv6Repr.parse(ip);
      const chain = Ipv6ExtensionHeaderRepr.parseChain(ip)!;
      expect(chain).toHaveLength(walk.headers);

      const out = Buffer.alloc(frame.length, 0x55);
      let o = EthernetRepr.emit(ethRepr, out, 0);
      o += Ipv6Repr.emit(ipRepr, out, o);
      for (const h of chain) o += Ipv6ExtensionHeaderRepr.emit(h, out, o);
      expect(o).toBe(walk.offset);
      // the pseudo-header's destination is the final one (RFC 8200 8.1): behind RH0, its last address
      const finalDst = readIpv6(frame, walk.finalDestination);
      const sum = ipv6AddressSumWords(ipRepr.src, finalDst);
      expect(walk.pseudoAddressSum()).toBe(sum);
      if (walk.protocol === IPV6_NH_ICMPV6) {
        const p = new Icmpv6Packet();
        expect(p.wrap(frame, walk.offset, walk.length)).toBe(WireError.Ok);
        expect(p.verifyChecksum(sum)).toBe(true);
        o += Icmpv6Repr.emit(Icmpv6Repr.parse(p), out, o, ipRepr.src, finalDst);
      } else if (walk.protocol === IPV6_NH_UDP) {
        const p = new UdpPacket();
        expect(p.wrap(frame, walk.offset, walk.length)).toBe(WireError.Ok);
        o += UdpRepr.emitWith(UdpRepr.parse(p), out, o, sum);
      } else if (walk.protocol === IPV6_NH_TCP) {
        const p = new TcpPacket();
        expect(p.wrap(frame, walk.offset, walk.length)).toBe(WireError.Ok);
        o += TcpRepr.emitWith(TcpRepr.parse(p), out, o, sum);
      } else {
        o += frame.copy(out, o, walk.offset);
      }
      expect(o).toBe(frame.length);
      expect(out.toString('hex')).toBe(frame.toString('hex'));
    });
  }
});

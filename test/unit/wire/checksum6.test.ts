/** The IPv6 pseudo-header (RFC 8200 8.1) under TCP, UDP and ICMPv6, on frames the kernel checksummed itself. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { finish, ipv4AddressSum, ipv6AddressSum, ipv6AddressSumWords, l4PseudoSum, pseudoHeaderSum, sum16 } from '../../../src/wire/checksum.js';
import { WireError } from '../../../src/wire/error.js';
import { IPV6_NH_TCP, IPV6_NH_UDP, Ipv6Packet } from '../../../src/wire/ipv6.js';
import { TcpPacket, TcpRepr } from '../../../src/wire/tcp.js';
import { UDP_CHECKSUM, UdpPacket, UdpRepr } from '../../../src/wire/udp.js';
import { ECHO6_REQUEST_FRAME, TCP6_SYN_FRAME, UDP6_FRAME, V6_HOST, V6_ROUTER, refChecksum6 } from './frames6.js';

const ip = new Ipv6Packet();
const udp = new UdpPacket();
const tcp = new TcpPacket();

function wrapUdp(f: Buffer): UdpPacket {
  expect(ip.wrap(f, 14, f.length - 14)).toBe(WireError.Ok);
  expect(udp.wrap(f, 54, ip.payloadLength)).toBe(WireError.Ok);
  return udp;
}

describe('address sums', () => {
  it('ipv6AddressSum of a header equals the words version, and the IPv4 split keeps IPv4 sums unchanged', () => {
    expect(ip.wrap(ECHO6_REQUEST_FRAME, 14, 64)).toBe(WireError.Ok);
    expect(ip.addressSum()).toBe(ipv6AddressSumWords(V6_HOST, V6_ROUTER));
    expect(ipv6AddressSum(ECHO6_REQUEST_FRAME, 22)).toBe(ip.addressSum());
    fc.assert(
      fc.property(fc.nat({ max: 0xffffffff }), fc.nat({ max: 0xffffffff }), fc.nat({ max: 255 }), fc.nat({ max: 0xffff }), (s, d, p, l) => {
        expect(l4PseudoSum(ipv4AddressSum(s, d), p, l)).toBe(pseudoHeaderSum(s, d, p, l));
      }),
    );
  });
});

describe('UDP over IPv6', () => {
  it('the kernel datagram verifies; its fields read; parse/emitWith gives it back', () => {
    const u = wrapUdp(UDP6_FRAME);
    expect([u.srcPort, u.dstPort, u.length, u.checksum]).toEqual([40000, 5353, 25, 0xfc11]);
    expect(u.verifyChecksumIpv6(ip.addressSum())).toBe(true);
    expect(refChecksum6(UDP6_FRAME, 14, 54, 25, IPV6_NH_UDP)).toBe(0);
    const repr = UdpRepr.parse(u);
    expect(repr.payload.toString()).toBe('pontoon over ipv6');
    const out = Buffer.alloc(25);
    expect(UdpRepr.emitWith(repr, out, 0, ipv6AddressSumWords(V6_HOST, V6_ROUTER))).toBe(25);
    expect(out.toString('hex')).toBe(UDP6_FRAME.subarray(54).toString('hex'));
  });

  it('fillChecksumWith restores the kernel value; a flipped bit fails', () => {
    const f = Buffer.from(UDP6_FRAME);
    const u = wrapUdp(f);
    u.checksum = 0x1234;
    expect(u.verifyChecksumIpv6(ip.addressSum())).toBe(false);
    u.fillChecksumWith(ip.addressSum());
    expect(u.checksum).toBe(0xfc11);
    f[60] ^= 0x40;
    expect(u.verifyChecksumIpv6(ip.addressSum())).toBe(false);
  });

  it('a zero checksum is invalid over IPv6 (and still "none" over IPv4)', () => {
    const f = Buffer.from(UDP6_FRAME);
    const u = wrapUdp(f);
    f.writeUInt16BE(0, 54 + UDP_CHECKSUM);
    expect(u.verifyChecksumIpv6(ip.addressSum())).toBe(false);
    expect(u.verifyChecksum(0x0a000001, 0x0a000002)).toBe(true);
  });

  it('a computed 0 is sent as 0xffff, and verifies', () => {
    const f = Buffer.from(UDP6_FRAME);
    const u = wrapUdp(f);
    // make the sum come out at 0: put the complement of the rest into a payload word
    f.writeUInt16BE(0, 62);
    f.writeUInt16BE(0, 54 + UDP_CHECKSUM);
    const c0 = finish(sum16(f, 54, 25, l4PseudoSum(ip.addressSum(), IPV6_NH_UDP, 25)));
    f.writeUInt16BE(c0, 62);
    u.fillChecksumWith(ip.addressSum());
    expect(u.checksum).toBe(0xffff);
    expect(u.verifyChecksumIpv6(ip.addressSum())).toBe(true);
    expect(refChecksum6(f, 14, 54, 25, IPV6_NH_UDP)).toBe(0);
  });
});

describe('TCP over IPv6', () => {
  it('the kernel SYN verifies; parse/emitWith gives it back', () => {
    expect(ip.wrap(TCP6_SYN_FRAME, 14, TCP6_SYN_FRAME.length - 14)).toBe(WireError.Ok);
    expect(tcp.wrap(TCP6_SYN_FRAME, 54, ip.payloadLength)).toBe(WireError.Ok);
    expect(tcp.checksum).toBe(0x3cba);
    expect(tcp.verifyChecksumWith(ip.addressSum())).toBe(true);
    expect(refChecksum6(TCP6_SYN_FRAME, 14, 54, 40, IPV6_NH_TCP)).toBe(0);
    const repr = TcpRepr.parse(tcp);
    expect(repr).toMatchObject({ srcPort: 40001, dstPort: 8080, mss: 1440, sackPermitted: true, windowScale: 10, window: 64800 });
    const out = Buffer.alloc(40);
    expect(TcpRepr.emitWith(repr, out, 0, ip.addressSum())).toBe(40);
    expect(out.toString('hex')).toBe(TCP6_SYN_FRAME.subarray(54).toString('hex'));
    const c = Buffer.from(TCP6_SYN_FRAME);
    tcp.wrap(c, 54, 40);
    tcp.checksum = 0;
    tcp.fillChecksumWith(ip.addressSum());
    expect(tcp.checksum).toBe(0x3cba);
  });
});

describe('properties', () => {
  const word = fc.nat({ max: 0xffffffff });
  const addr = fc.tuple(word, word, word, word);

  it('UDP and TCP emitted over random IPv6 addresses verify, and agree with the reference', () => {
    fc.assert(
      fc.property(addr, addr, fc.nat({ max: 0xffff }), fc.nat({ max: 0xffff }), fc.uint8Array({ maxLength: 300 }), (src, dst, sp, dp, data) => {
        const f = Buffer.alloc(40 + 20 + data.length);
        f[0] = 0x60;
        for (let i = 0; i < 4; i++) {
          f.writeUInt32BE(src[i]!, 8 + 4 * i);
          f.writeUInt32BE(dst[i]!, 24 + 4 * i);
        }
        const sum = ipv6AddressSumWords(src, dst);
        expect(ipv6AddressSum(f, 8)).toBe(sum);
        const n = UdpRepr.emitWith({ srcPort: sp, dstPort: dp, payload: Buffer.from(data) }, f, 40, sum);
        expect(udp.wrap(f, 40, n)).toBe(WireError.Ok);
        expect(udp.verifyChecksumIpv6(sum)).toBe(true);
        expect(udp.checksum).not.toBe(0);
        expect(refChecksum6(f, 0, 40, n, IPV6_NH_UDP)).toBe(0);
        const m = TcpRepr.emitWith({ srcPort: sp, dstPort: dp, seq: sp * 7, ack: dp, flags: 0x18, window: 1000, payload: Buffer.from(data) }, f, 40, sum);
        expect(tcp.wrap(f, 40, m)).toBe(WireError.Ok);
        expect(tcp.verifyChecksumWith(sum)).toBe(true);
        expect(refChecksum6(f, 0, 40, m, IPV6_NH_TCP)).toBe(0);
      }),
    );
  });
});

import { isIPv6 } from 'node:net';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  cidr6Contains,
  cidr6Host,
  cidr6Inside,
  cidr6Network,
  cidrs6Overlap,
  formatCidr6,
  ipv6ToString,
  isLinkLocalIpv6,
  isMulticastIpv6,
  isUniqueLocalIpv6,
  linkLocalFromMac,
  multicastMacIpv6,
  parseCidr6,
  parseCidr6OrNull,
  parseIpv6,
  parseIpv6OrNull,
  readIpv6,
  solicitedNodeMulticast,
  writeIpv6,
  type Ipv6Words,
} from '../../../src/wire/ipv6-address.js';
import { hex } from './frames.js';

const words = fc.tuple(fc.nat(0xffffffff), fc.nat(0xffffffff), fc.nat(0xffffffff), fc.nat(0xffffffff)) as fc.Arbitrary<Ipv6Words>;

describe('ipv6 addresses', () => {
  it('parses the text forms of RFC 4291 2.2', () => {
    expect(parseIpv6('2001:db8::1')).toEqual([0x20010db8, 0, 0, 1]);
    expect(parseIpv6('::')).toEqual([0, 0, 0, 0]);
    expect(parseIpv6('::1')).toEqual([0, 0, 0, 1]);
    expect(parseIpv6('fe80::')).toEqual([0xfe800000, 0, 0, 0]);
    expect(parseIpv6('2001:DB8:0:0:8:800:200C:417A')).toEqual([0x20010db8, 0, 0x00080800, 0x200c417a]);
    expect(parseIpv6('::ffff:192.0.2.1')).toEqual([0, 0, 0xffff, 0xc0000201]);
    expect(parseIpv6('0:0:0:0:0:ffff:192.0.2.1')).toEqual([0, 0, 0xffff, 0xc0000201]);
    for (const bad of ['', ':', ':::', '1::2::3', '1:2:3:4:5:6:7:8:9', '1:2:3:4:5:6:7', '12345::', 'fe80::1%eth0', 'g::', '1.2.3.4', '::1.2.3', '1:2:3:4:5:6:7::8:9']) {
      expect(parseIpv6OrNull(bad), bad).toBeNull();
    }
    expect(() => parseIpv6('1::2::3')).toThrow('"1::2::3" is not an IPv6 address');
  });

  it('prints RFC 5952 text, as Node does, and parses back what it prints', () => {
    expect(ipv6ToString([0x20010db8, 0, 0, 1])).toBe('2001:db8::1');
    expect(ipv6ToString([0x20010db8, 0, 1, 0])).toBe('2001:db8::1:0:0');
    expect(ipv6ToString([0x20010db8, 0x00000001, 0x00000001, 0x00010001])).toBe('2001:db8:0:1:0:1:1:1');
    expect(ipv6ToString([0x20010db8, 0, 0x00010000, 0])).toBe('2001:db8:0:0:1::');
    expect(ipv6ToString([0x20010000, 0, 0x00010000, 0x1])).toBe('2001::1:0:0:1');
    expect(ipv6ToString([0, 0, 0, 0])).toBe('::');
    fc.assert(
      fc.property(words, (w) => {
        const s = ipv6ToString(w);
        expect(isIPv6(s)).toBe(true);
        expect(new URL(`http://[${s}]/`).hostname).toBe(`[${s}]`);
        expect(parseIpv6(s)).toEqual(w.map((x) => x >>> 0));
      }),
    );
  });

  it('reads and writes the 16 bytes', () => {
    const b = hex('ee 20010db8000000000000000000000001 ee');
    expect(readIpv6(b, 1)).toEqual([0x20010db8, 0, 0, 1]);
    const out = Buffer.alloc(18, 0xee);
    writeIpv6(out, 1, parseIpv6('fe80::42:acff:fe11:2'));
    expect(out.toString('hex')).toBe('eefe800000000000000042acfffe110002ee');
  });

  it('parses CIDRs, with their network, containment and ranges', () => {
    const c = parseCidr6('fd00:20::5/64');
    expect(c).toEqual({ addr: [0xfd000020, 0, 0, 5], prefixLen: 64 });
    expect(formatCidr6(cidr6Network(c))).toBe('fd00:20::/64');
    expect(cidr6Contains(c, parseIpv6('fd00:20::ffff:1'))).toBe(true);
    expect(cidr6Contains(c, parseIpv6('fd00:21::1'))).toBe(false);
    expect(formatCidr6(cidr6Network(parseCidr6('2001:db8:abcd:12ff::/57')))).toBe('2001:db8:abcd:1280::/57');
    expect(cidrs6Overlap(parseCidr6('fd00::/48'), parseCidr6('fd00:0:0:7::/64'))).toBe(true);
    expect(cidrs6Overlap(parseCidr6('fd00::/64'), parseCidr6('fd00:0:0:1::/64'))).toBe(false);
    expect(cidr6Inside(parseCidr6('fd00:0:0:7::/64'), parseCidr6('fd00::/48'))).toBe(true);
    expect(ipv6ToString(cidr6Host(c, 1))).toBe('fd00:20::1');
    expect(ipv6ToString(cidr6Host(parseCidr6('fd00::/64'), 2 ** 40 + 3))).toBe('fd00::100:0:3');
    expect(() => cidr6Host(parseCidr6('fd00::/126'), 4)).toThrow('outside fd00::/126');
    expect(parseCidr6OrNull('fd00::/129')).toBeNull();
    expect(() => parseCidr6('fd00::')).toThrow('expected an IPv6 CIDR');
    expect(() => parseCidr6('fd00::/064')).toThrow('the prefix length must be between 0 and 128');
  });

  it('derives the link-local address, the solicited-node group and its MAC as Linux does', () => {
    // Docker's MAC for 172.17.0.2 and the address Linux gives that interface
    expect(ipv6ToString(linkLocalFromMac(0x0242ac110002))).toBe('fe80::42:acff:fe11:2');
    expect(ipv6ToString(solicitedNodeMulticast(parseIpv6('fd00:20::1234:5678')))).toBe('ff02::1:ff34:5678');
    expect(multicastMacIpv6(parseIpv6('ff02::1:ff34:5678'))).toBe(0x3333ff345678);
    expect(isLinkLocalIpv6(parseIpv6('fe80::1'))).toBe(true);
    expect(isLinkLocalIpv6(parseIpv6('fec0::1'))).toBe(false);
    expect(isMulticastIpv6(parseIpv6('ff02::2'))).toBe(true);
    expect(isUniqueLocalIpv6(parseIpv6('fd00::1'))).toBe(true);
    expect(isUniqueLocalIpv6(parseIpv6('2001:db8::1'))).toBe(false);
  });
});

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  cidrContains,
  cidrInside,
  cidrLastAddress,
  cidrNetwork,
  cidrsOverlap,
  formatCidr,
  inSubnet,
  ipv4ToString,
  isLimitedBroadcastIpv4,
  isMulticastIpv4,
  parseCidr,
  parseCidrOrNull,
  parseIpv4,
  parseIpv4OrNull,
  prefixMask,
  type Ipv4Cidr,
} from '../../../src/wire/ipv4-address.js';
import {
  MAC_BROADCAST,
  isBroadcastMac,
  isMulticastMac,
  isUnicastMac,
  macToString,
  parseMac,
  readMac,
  writeMac,
} from '../../../src/wire/mac.js';
import { hex } from './frames.js';

describe('mac', () => {
  it('reads and writes 48-bit numbers', () => {
    const b = hex('aa 0242ac110002 bb');
    expect(readMac(b, 1)).toBe(0x0242ac110002);
    const out = Buffer.alloc(8, 0xee);
    writeMac(out, 1, 0xffffffffffff);
    expect(out.toString('hex')).toBe('eeffffffffffffee');
    writeMac(out, 1, 0x0000ffffffff);
    expect(out.toString('hex')).toBe('ee0000ffffffffee');
    writeMac(out, 1, 0xffff00000000);
    expect(out.toString('hex')).toBe('eeffff00000000ee');
  });

  it('round-trips any MAC through bytes and strings', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 6, maxLength: 6 }), (bytes) => {
        const b = Buffer.from(bytes);
        const mac = readMac(b, 0);
        expect(mac).toBe(parseInt(b.toString('hex'), 16));
        const out = Buffer.alloc(6);
        writeMac(out, 0, mac);
        expect(out.equals(b)).toBe(true);
        const s = macToString(mac);
        expect(s).toBe([...b].map((x) => x.toString(16).padStart(2, '0')).join(':'));
        expect(parseMac(s)).toBe(mac);
        expect(parseMac(s.toUpperCase().replace(/:/g, '-'))).toBe(mac);
        expect(isMulticastMac(mac)).toBe((b[0] & 1) === 1);
        expect(isUnicastMac(mac)).toBe((b[0] & 1) === 0);
      }),
      { numRuns: 500 },
    );
  });

  it('formats and classifies', () => {
    expect(macToString(0x0242ac110002)).toBe('02:42:ac:11:00:02');
    expect(macToString(0)).toBe('00:00:00:00:00:00');
    expect(MAC_BROADCAST).toBe(0xffffffffffff);
    expect(isBroadcastMac(MAC_BROADCAST)).toBe(true);
    expect(isMulticastMac(MAC_BROADCAST)).toBe(true);
    expect(isMulticastMac(parseMac('01:00:5e:00:00:fb'))).toBe(true);
    expect(isMulticastMac(parseMac('33:33:00:00:00:01'))).toBe(true);
    expect(isMulticastMac(parseMac('02:42:ac:11:00:02'))).toBe(false);
    expect(isBroadcastMac(parseMac('ff:ff:ff:ff:ff:fe'))).toBe(false);
  });

  it('rejects bad strings', () => {
    for (const s of ['', '02:42:ac:11:00', '02:42:ac:11:00:02:03', '2:42:ac:11:00:02', '02:42-ac:11:00:02', 'g2:42:ac:11:00:02', '0242ac110002', ' 02:42:ac:11:00:02']) {
      expect(() => parseMac(s), s).toThrow(Error);
    }
  });
});

describe('ipv4-address', () => {
  it('parses and formats', () => {
    expect(parseIpv4('192.0.2.1')).toBe(0xc0000201);
    expect(parseIpv4('255.255.255.255')).toBe(0xffffffff);
    expect(parseIpv4('0.0.0.0')).toBe(0);
    expect(ipv4ToString(0xc0000201)).toBe('192.0.2.1');
    expect(ipv4ToString(0xffffffff)).toBe('255.255.255.255');
    expect(ipv4ToString(-1)).toBe('255.255.255.255');
  });

  it('round-trips every uint32', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0xffffffff }), (n) => {
        expect(parseIpv4(ipv4ToString(n))).toBe(n);
      }),
      { numRuns: 1000 },
    );
  });

  it('rejects bad strings, naming them; the OrNull variant returns null', () => {
    for (const s of ['', '1.2.3', '1.2.3.4.5', '256.1.1.1', '1.2.3.04', '01.2.3.4', '1.2.3.-4', '1.2.3.4 ', 'a.b.c.d', '1..2.3', '1.2.3.1000', '1.2.3.4/32']) {
      expect(() => parseIpv4(s), s).toThrow(new Error(`${JSON.stringify(s)} is not an IPv4 address`));
      expect(parseIpv4OrNull(s), s).toBeNull();
    }
    expect(parseIpv4OrNull('192.0.2.1')).toBe(0xc0000201);
    expect(parseIpv4OrNull('0.0.0.0')).toBe(0);
    expect(parseIpv4OrNull('255.255.255.255')).toBe(0xffffffff);
  });

  it('prefixMask', () => {
    expect(prefixMask(0)).toBe(0);
    expect(prefixMask(1)).toBe(0x80000000);
    expect(prefixMask(8)).toBe(0xff000000);
    expect(prefixMask(24)).toBe(0xffffff00);
    expect(prefixMask(31)).toBe(0xfffffffe);
    expect(prefixMask(32)).toBe(0xffffffff);
    for (const bad of [-1, 33, 1.5, NaN]) expect(() => prefixMask(bad)).toThrow(new RangeError(`invalid prefix length: ${bad}`));
  });

  it('masks every prefix length 0..32 with that many leading ones', () => {
    for (let len = 0; len <= 32; len++) {
      const mask = prefixMask(len);
      expect(mask >= 0 && mask <= 0xffffffff, `/${len}`).toBe(true);
      expect(mask.toString(2).padStart(32, '0'), `/${len}`).toBe('1'.repeat(len) + '0'.repeat(32 - len));
    }
  });

  it('inSubnet', () => {
    const net = parseIpv4('172.17.0.0');
    expect(inSubnet(parseIpv4('172.17.255.254'), net, 16)).toBe(true);
    expect(inSubnet(parseIpv4('172.18.0.1'), net, 16)).toBe(false);
    expect(inSubnet(parseIpv4('8.8.8.8'), 0, 0)).toBe(true);
    expect(inSubnet(0xffffffff, 0xffffffff, 32)).toBe(true);
    expect(inSubnet(0xfffffffe, 0xffffffff, 32)).toBe(false);
    // Host bits in the network argument are ignored.
    expect(inSubnet(parseIpv4('10.1.2.3'), parseIpv4('10.9.9.9'), 8)).toBe(true);
  });

  it('parseCidr keeps host bits; formatCidr prints what it was given', () => {
    expect(parseCidr('10.0.0.0/8')).toEqual({ addr: 0x0a000000, prefixLen: 8 });
    expect(parseCidr('198.51.100.2/24')).toEqual({ addr: 0xc6336402, prefixLen: 24 });
    expect(parseCidr('0.0.0.0/0')).toEqual({ addr: 0, prefixLen: 0 });
    expect(parseCidr('255.255.255.255/32')).toEqual({ addr: 0xffffffff, prefixLen: 32 });
    expect(parseCidrOrNull('192.0.2.7/32')).toEqual({ addr: 0xc0000207, prefixLen: 32 });
    expect(formatCidr({ addr: 0xc0a81000, prefixLen: 20 })).toBe('192.168.16.0/20');
    expect(formatCidr(parseCidr('198.51.100.2/24'))).toBe('198.51.100.2/24');
  });

  it('parseCidr says why, as a reason to follow "invalid subnet \"…\": "; the OrNull variant returns null', () => {
    const cases: [string, string][] = [
      ['192.0.2.7', 'expected an IPv4 CIDR such as 172.18.0.0/16'],
      ['', 'expected an IPv4 CIDR such as 172.18.0.0/16'],
      ['bogus', 'expected an IPv4 CIDR such as 172.18.0.0/16'],
      ['10.0.0.256/8', '"10.0.0.256" is not an IPv4 address'],
      ['010.0.0.0/8', '"010.0.0.0" is not an IPv4 address'],
      ['/8', '"" is not an IPv4 address'],
      ['10.0.0.0/8/8', 'the prefix length must be between 0 and 32'],
      ['10.0.0.0/33', 'the prefix length must be between 0 and 32'],
      ['10.0.0.0/08', 'the prefix length must be between 0 and 32'],
      ['10.0.0.0/', 'the prefix length must be between 0 and 32'],
      ['10.0.0.0/-1', 'the prefix length must be between 0 and 32'],
      ['10.0.0.0/ 8', 'the prefix length must be between 0 and 32'],
      // the address is checked first
      ['10.0.0/33', '"10.0.0" is not an IPv4 address'],
    ];
    for (const [s, reason] of cases) {
      expect(() => parseCidr(s), s).toThrow(new Error(reason));
      expect(parseCidrOrNull(s), s).toBeNull();
    }
  });

  it('network, last address and containment, /0 and /32 included', () => {
    const c = parseCidr('172.17.3.4/16');
    expect(cidrNetwork(c)).toEqual({ addr: 0xac110000, prefixLen: 16 });
    expect(cidrLastAddress(c)).toBe(0xac11ffff);
    expect(cidrContains(c, parseIpv4('172.17.255.255'))).toBe(true);
    expect(cidrContains(c, parseIpv4('172.18.0.0'))).toBe(false);
    const all = parseCidr('10.1.2.3/0');
    expect(cidrNetwork(all)).toEqual({ addr: 0, prefixLen: 0 });
    expect(cidrLastAddress(all)).toBe(0xffffffff);
    expect(cidrContains(all, 0) && cidrContains(all, 0xffffffff)).toBe(true);
    const one = parseCidr('255.255.255.255/32');
    expect(cidrNetwork(one)).toEqual(one);
    expect(cidrLastAddress(one)).toBe(0xffffffff);
    expect(cidrContains(one, 0xffffffff)).toBe(true);
    expect(cidrContains(one, 0xfffffffe)).toBe(false);
    expect(cidrLastAddress(parseCidr('10.0.0.1/31'))).toBe(parseIpv4('10.0.0.1'));
  });

  it('detects overlaps and containment, ignoring host bits', () => {
    const p = parseCidr;
    expect(cidrsOverlap(p('172.17.0.0/16'), p('172.17.5.0/24'))).toBe(true);
    expect(cidrsOverlap(p('172.17.5.0/24'), p('172.17.0.0/16'))).toBe(true);
    expect(cidrsOverlap(p('172.17.0.0/16'), p('172.18.0.0/16'))).toBe(false);
    expect(cidrsOverlap(p('10.0.0.0/8'), p('10.255.255.255/32'))).toBe(true);
    expect(cidrsOverlap(p('0.0.0.0/0'), p('192.168.1.0/24'))).toBe(true);
    expect(cidrsOverlap(p('172.17.0.1/30'), p('172.17.0.0/16'))).toBe(true);
    expect(cidrInside(p('10.1.0.128/25'), p('10.1.0.0/24'))).toBe(true);
    expect(cidrInside(p('10.1.0.0/24'), p('10.1.0.0/24'))).toBe(true);
    expect(cidrInside(p('10.1.0.0/23'), p('10.1.0.0/24'))).toBe(false);
    expect(cidrInside(p('10.2.0.0/25'), p('10.1.0.0/24'))).toBe(false);
    expect(cidrInside(p('255.255.255.255/32'), p('0.0.0.0/0'))).toBe(true);
  });

  it('overlap and containment agree with the address ranges', () => {
    const range = (c: Ipv4Cidr): [number, number] => [cidrNetwork(c).addr, cidrLastAddress(c)];
    const cidr = fc.record({ addr: fc.integer({ min: 0, max: 0xffffffff }), prefixLen: fc.integer({ min: 0, max: 32 }) });
    fc.assert(
      fc.property(cidr, cidr, (a, b) => {
        const [a0, a1] = range(a);
        const [b0, b1] = range(b);
        expect(cidrsOverlap(a, b)).toBe(a0 <= b1 && b0 <= a1);
        expect(cidrInside(a, b)).toBe(b0 <= a0 && a1 <= b1);
        expect(parseCidr(formatCidr(a))).toEqual(a);
      }),
      { numRuns: 2000 },
    );
  });

  it('classifies multicast and limited broadcast', () => {
    expect(isMulticastIpv4(parseIpv4('224.0.0.251'))).toBe(true);
    expect(isMulticastIpv4(parseIpv4('239.255.255.255'))).toBe(true);
    expect(isMulticastIpv4(parseIpv4('240.0.0.1'))).toBe(false);
    expect(isLimitedBroadcastIpv4(0xffffffff)).toBe(true);
    expect(isLimitedBroadcastIpv4(parseIpv4('172.17.255.255'))).toBe(false);
  });
});

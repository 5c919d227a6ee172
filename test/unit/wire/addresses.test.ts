import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  inSubnet,
  ipv4ToString,
  isLimitedBroadcastIpv4,
  isMulticastIpv4,
  parseCidr,
  parseIpv4,
  prefixMask,
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

  it('rejects bad strings', () => {
    for (const s of ['', '1.2.3', '1.2.3.4.5', '256.1.1.1', '1.2.3.04', '01.2.3.4', '1.2.3.-4', '1.2.3.4 ', 'a.b.c.d', '1..2.3', '1.2.3.1000']) {
      expect(() => parseIpv4(s), s).toThrow(Error);
    }
  });

  it('prefixMask', () => {
    expect(prefixMask(0)).toBe(0);
    expect(prefixMask(1)).toBe(0x80000000);
    expect(prefixMask(8)).toBe(0xff000000);
    expect(prefixMask(24)).toBe(0xffffff00);
    expect(prefixMask(31)).toBe(0xfffffffe);
    expect(prefixMask(32)).toBe(0xffffffff);
    for (const bad of [-1, 33, 1.5, NaN]) expect(() => prefixMask(bad)).toThrow(RangeError);
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

  it('parseCidr and classifiers', () => {
    expect(parseCidr('10.0.0.0/8')).toEqual({ addr: 0x0a000000, prefixLen: 8 });
    expect(parseCidr('192.0.2.7')).toEqual({ addr: 0xc0000207, prefixLen: 32 });
    expect(() => parseCidr('10.0.0.0/33')).toThrow(Error);
    expect(() => parseCidr('10.0.0.0/08')).toThrow(Error);
    expect(() => parseCidr('10.0.0.0/')).toThrow(Error);
    expect(isMulticastIpv4(parseIpv4('224.0.0.251'))).toBe(true);
    expect(isMulticastIpv4(parseIpv4('239.255.255.255'))).toBe(true);
    expect(isMulticastIpv4(parseIpv4('240.0.0.1'))).toBe(false);
    expect(isLimitedBroadcastIpv4(0xffffffff)).toBe(true);
    expect(isLimitedBroadcastIpv4(parseIpv4('172.17.255.255'))).toBe(false);
  });
});

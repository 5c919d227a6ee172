import { describe, expect, it } from 'vitest';
import { ARP_LEN, ARP_OP_REPLY, ARP_OP_REQUEST, ArpPacket, ArpRepr } from '../../../src/wire/arp.js';
import { WireError } from '../../../src/wire/error.js';
import {
  ETHERTYPE_ARP,
  ETHERTYPE_IPV4,
  ETH_HLEN,
  EthernetPacket,
  EthernetRepr,
} from '../../../src/wire/ethernet.js';
import { MAC_BROADCAST } from '../../../src/wire/mac.js';
import { ARP_REPLY, ARP_REQUEST, ICMP_ECHO_REQUEST_FRAME, IP_A, IP_B, MAC_A, MAC_B } from './frames.js';

describe('ethernet', () => {
  const eth = new EthernetPacket();

  it('parses the ARP request header', () => {
    expect(eth.wrap(ARP_REQUEST, 0, ARP_REQUEST.length)).toBe(WireError.Ok);
    expect(eth.dst).toBe(MAC_BROADCAST);
    expect(eth.src).toBe(MAC_A);
    expect(eth.etherType).toBe(ETHERTYPE_ARP);
    expect(eth.payloadOffset).toBe(14);
    expect(eth.payloadLength).toBe(28);
    expect(EthernetRepr.parse(eth)).toEqual({ dst: MAC_BROADCAST, src: MAC_A, etherType: ETHERTYPE_ARP });
  });

  it('parses an IPv4 frame at a non-zero offset', () => {
    const b = Buffer.concat([Buffer.alloc(5, 0xee), ICMP_ECHO_REQUEST_FRAME]);
    expect(eth.wrap(b, 5, ICMP_ECHO_REQUEST_FRAME.length)).toBe(WireError.Ok);
    expect(eth.dst).toBe(MAC_B);
    expect(eth.src).toBe(MAC_A);
    expect(eth.etherType).toBe(ETHERTYPE_IPV4);
    expect(eth.payloadOffset).toBe(5 + 14);
  });

  it('emits exactly the literal header', () => {
    const out = Buffer.alloc(ETH_HLEN);
    expect(EthernetRepr.emit({ dst: MAC_B, src: MAC_A, etherType: ETHERTYPE_IPV4 }, out, 0)).toBe(14);
    expect(out.equals(ICMP_ECHO_REQUEST_FRAME.subarray(0, 14))).toBe(true);
    expect(EthernetRepr.bufferLen({ dst: 0, src: 0, etherType: 0 })).toBe(14);
  });

  it('setters write in place', () => {
    const b = Buffer.from(ARP_REQUEST);
    eth.wrap(b, 0, b.length);
    eth.dst = MAC_A;
    eth.src = MAC_B;
    eth.etherType = 0x86dd;
    expect(b.subarray(0, 14).toString('hex')).toBe('0242ac1100020242ac11000186dd');
  });

  it('rejects short frames and bad ranges', () => {
    expect(eth.wrap(ARP_REQUEST, 0, 13)).toBe(WireError.Truncated);
    expect(eth.wrap(ARP_REQUEST, 0, 0)).toBe(WireError.Truncated);
    expect(eth.wrap(ARP_REQUEST, 30, 14)).toBe(WireError.Truncated); // past the end of the Buffer
    expect(eth.wrap(ARP_REQUEST, -1, 14)).toBe(WireError.Truncated);
    expect(eth.wrap(ARP_REQUEST, 0, 14)).toBe(WireError.Ok);
  });

  it('emit refuses a too-small buffer', () => {
    expect(() => EthernetRepr.emit({ dst: 0, src: 0, etherType: 0 }, Buffer.alloc(13), 0)).toThrow(RangeError);
  });
});

describe('arp', () => {
  const arp = new ArpPacket();

  it('parses a real request', () => {
    expect(arp.wrap(ARP_REQUEST, 14, ARP_REQUEST.length - 14)).toBe(WireError.Ok);
    expect(arp.operation).toBe(ARP_OP_REQUEST);
    expect(arp.senderMac).toBe(MAC_A);
    expect(arp.senderIp).toBe(IP_A);
    expect(arp.targetMac).toBe(0);
    expect(arp.targetIp).toBe(IP_B);
    expect(ArpRepr.parse(arp)).toEqual({
      operation: ARP_OP_REQUEST,
      senderMac: MAC_A,
      senderIp: IP_A,
      targetMac: 0,
      targetIp: IP_B,
    });
  });

  it('parses a real reply', () => {
    expect(arp.wrap(ARP_REPLY, 14, 28)).toBe(WireError.Ok);
    expect(ArpRepr.parse(arp)).toEqual({
      operation: ARP_OP_REPLY,
      senderMac: MAC_B,
      senderIp: IP_B,
      targetMac: MAC_A,
      targetIp: IP_A,
    });
  });

  it('emits exactly the literal request and reply (all 28 bytes)', () => {
    for (const frame of [ARP_REQUEST, ARP_REPLY]) {
      arp.wrap(frame, 14, 28);
      const out = Buffer.alloc(ARP_LEN, 0xee);
      expect(ArpRepr.emit(ArpRepr.parse(arp), out, 0)).toBe(ARP_LEN);
      expect(out.equals(frame.subarray(14))).toBe(true);
    }
  });

  it('building a reply from a request with setters gives the literal reply', () => {
    const b = Buffer.from(ARP_REQUEST);
    const eth = new EthernetPacket();
    eth.wrap(b, 0, b.length);
    arp.wrap(b, eth.payloadOffset, eth.payloadLength);
    const ourMac = MAC_B;
    eth.dst = eth.src;
    eth.src = ourMac;
    const askedIp = arp.targetIp;
    arp.operation = ARP_OP_REPLY;
    arp.targetMac = arp.senderMac;
    arp.targetIp = arp.senderIp;
    arp.senderMac = ourMac;
    arp.senderIp = askedIp;
    expect(b.equals(ARP_REPLY)).toBe(true);
  });

  it('Truncated when short, Malformed for non Ethernet/IPv4', () => {
    expect(arp.wrap(ARP_REQUEST, 14, 27)).toBe(WireError.Truncated);
    expect(arp.wrap(ARP_REQUEST.subarray(0, 41), 14, 28)).toBe(WireError.Truncated);
    const corrupt = (at: number, v: number): Buffer => {
      const b = Buffer.from(ARP_REQUEST);
      b[14 + at] = v;
      return b;
    };
    expect(arp.wrap(corrupt(1, 6), 14, 28)).toBe(WireError.Malformed); // htype 6 (IEEE 802)
    expect(arp.wrap(corrupt(2, 0x86), 14, 28)).toBe(WireError.Malformed); // ptype 0x8600
    expect(arp.wrap(corrupt(4, 8), 14, 28)).toBe(WireError.Malformed); // hlen 8
    expect(arp.wrap(corrupt(5, 16), 14, 28)).toBe(WireError.Malformed); // plen 16
    expect(arp.wrap(corrupt(7, 9), 14, 28)).toBe(WireError.Ok); // unknown op is the caller's business
  });
});

// DNS messages through dns-packet: the codec decodes and encodes every byte; this file only adds
// the header fields its typings leave out (opcode, rcode) and a header-only decode for messages
// whose body is malformed.

import * as dnsPacket from 'dns-packet';
import type { Answer, DecodedPacket, Packet, Question } from 'dns-packet';

export type { Answer, Packet, Question };

/** What dns-packet's decode returns: its typings omit opcode and rcode. */
export type DnsMessage = DecodedPacket & { opcode: string; rcode: string };

/** Response codes (RFC 1035 4.1.1), the low 4 bits of the flags word dns-packet encodes. */
export const Rcode = { NoError: 0, FormErr: 1, ServFail: 2, NxDomain: 3, NotImp: 4, Refused: 5 } as const;

const RCODE_BY_NAME: Record<string, number> = { NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4, REFUSED: 5 };

export const Flag = {
  AA: dnsPacket.AUTHORITATIVE_ANSWER,
  TC: dnsPacket.TRUNCATED_RESPONSE,
  RD: dnsPacket.RECURSION_DESIRED,
  RA: dnsPacket.RECURSION_AVAILABLE,
  AD: dnsPacket.AUTHENTIC_DATA,
  CD: dnsPacket.CHECKING_DISABLED,
} as const;

/** dns-packet's name codec (its typings leave it out). */
const nameCodec = (dnsPacket as unknown as { name: { encode(n: string): Buffer; decode(b: Buffer): string } }).name;

/** The header's fixed size. */
export const HEADER_BYTES = 12;
/** Without EDNS, a UDP answer is at most this long (RFC 1035 4.2.1). */
export const CLASSIC_UDP_SIZE = 512;
/** The EDNS payload size pontoon advertises and accepts at most (the DNS flag day 2020 value). */
export const EDNS_UDP_SIZE = 1232;

export function decodeMessage(buf: Buffer): DnsMessage {
  return dnsPacket.decode(buf) as DnsMessage;
}

/**
 * The header of a message whose body does not decode: dns-packet decodes the first 4 bytes (id
 * and flags) with every section count set to zero. Null when even the header is incomplete.
 */
export function decodeHeader(buf: Buffer): DnsMessage | null {
  if (buf.length < HEADER_BYTES) return null;
  const header = Buffer.alloc(HEADER_BYTES);
  buf.copy(header, 0, 0, 4);
  return decodeMessage(header);
}

export function encodeMessage(p: Packet): Buffer {
  return dnsPacket.encode(p);
}

/**
 * True when dns-packet encodes `name` back to what it decoded: labels of at most 63 bytes (a label
 * of invalid UTF-8 decodes to U+FFFD characters, 3 bytes each), 255 bytes in all, and the same
 * labels again. dns-packet joins labels with dots unescaped and strips dots next to a line break
 * (its /^\.|\.$/gm): a label holding a dot or a newline encodes as other labels, and the answer
 * would name another question.
 */
export function encodableName(name: string): boolean {
  if (name === '.') return true;
  const labels = name.split('.');
  let total = 1;
  for (const l of labels) {
    const n = Buffer.byteLength(l);
    if (n === 0 || n > 63) return false;
    total += n + 1;
  }
  if (total > 255) return false;
  try {
    return nameCodec.decode(nameCodec.encode(name)) === name;
  } catch {
    return false;
  }
}

/** A message behind its 2-byte length, as DNS over TCP sends it (RFC 1035 4.2.2). */
export function encodeStreamMessage(p: Packet): Buffer {
  return dnsPacket.streamEncode(p);
}

export function rcodeOf(m: DnsMessage): number {
  return RCODE_BY_NAME[m.rcode] ?? Number(/^RCODE_([0-9]+)$/.exec(m.rcode)?.[1] ?? Rcode.ServFail);
}

/** The OPT pseudo-record of a message, if it has one. */
export function ednsOf(m: Packet): Extract<Answer, { type: 'OPT' }> | undefined {
  return m.additionals?.find((a): a is Extract<Answer, { type: 'OPT' }> => a.type === 'OPT');
}

/** The largest UDP answer the sender of `query` accepts. */
export function maxUdpSize(query: Packet): number {
  const opt = ednsOf(query);
  if (opt === undefined) return CLASSIC_UDP_SIZE;
  return Math.min(Math.max(opt.udpPayloadSize, CLASSIC_UDP_SIZE), EDNS_UDP_SIZE);
}

/** The OPT record pontoon puts in answers to EDNS queries. */
export function ednsRecord(): Answer {
  return { type: 'OPT', name: '.', udpPayloadSize: EDNS_UDP_SIZE, extendedRcode: 0, ednsVersion: 0, flags: 0, flag_do: false, options: [] };
}

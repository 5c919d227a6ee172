// Decoding a NAT-PMP or PCP request: a pure function from the datagram's bytes to a description
// of the request or the error to answer with, no I/O (the fuzz targets call it as it is). Version
// 0 is NAT-PMP (RFC 6886), version 2 PCP (RFC 6887); a PCP server answers both on port 5351.

import {
  NATPMP_ADDRESS_REQUEST_LEN,
  NATPMP_MAP_REQUEST_LEN,
  NATPMP_OP_MAP_TCP,
  NATPMP_OP_MAP_UDP,
  NATPMP_OP_PUBLIC_ADDRESS,
  NATPMP_VERSION,
  NatPmpResult,
  PCP_HEADER_LEN,
  PCP_MAP_LEN,
  PCP_MAX_LEN,
  PCP_NONCE_LEN,
  PCP_OP_ANNOUNCE,
  PCP_OP_MAP,
  PCP_OP_PEER,
  PCP_OPTION_FILTER,
  PCP_OPTION_HEADER_LEN,
  PCP_OPTION_PREFER_FAILURE,
  PCP_OPTION_THIRD_PARTY,
  PCP_OPTIONAL_OPTIONS,
  PCP_PEER_LEN,
  PCP_VERSION,
  PcpResult,
  RESPONSE_BIT,
} from './pcp-codes.js';

/** Why a datagram gets no answer at all: the `reason` label of the drop counter (error: the server failed, counted, never thrown). */
export const PCP_DROP_REASONS = ['short', 'response', 'truncated', 'error'] as const;
export type PcpDropReason = (typeof PCP_DROP_REASONS)[number];

/** A 128-bit PCP address field: an IPv4 address when IPv4-mapped (or all zeros), else null. */
export type PcpAddress = { v4: number } | { v4: null; raw: string };

export interface PcpFilter {
  prefixLength: number;
  remotePort: number;
  remote: PcpAddress;
}

export interface PcpOptions {
  /** THIRD_PARTY's internal address, null when absent */
  thirdParty: PcpAddress | null;
  preferFailure: boolean;
  filters: PcpFilter[];
}

/** MAP's fields (PEER has these and the remote peer). */
export interface PcpMapData {
  /** 12 bytes, as hex */
  nonce: string;
  protocol: number;
  internalPort: number;
  suggestedPort: number;
  suggestedAddress: PcpAddress;
}

export interface PcpPeerData extends PcpMapData {
  remotePort: number;
  remoteAddress: PcpAddress;
}

export type DecodedRequest =
  /** no answer (RFC 6887 §8.3: shorter than 2 bytes, R bit set; RFC 6886: a response, a short request) */
  | { kind: 'drop'; reason: PcpDropReason }
  | { kind: 'natpmp-address' }
  | { kind: 'natpmp-map'; protocol: 6 | 17; internalPort: number; suggestedPort: number; lifetime: number }
  /** NAT-PMP error: the response echoes the request with the result code */
  | { kind: 'natpmp-error'; opcode: number; result: NatPmpResult }
  /** PCP error answered from the request's bytes (RFC 6887 §8.3: the response copies the request) */
  | { kind: 'pcp-error'; opcode: number; result: PcpResult }
  | { kind: 'pcp-announce'; lifetime: number; client: PcpAddress; options: PcpOptions }
  | { kind: 'pcp-map'; lifetime: number; client: PcpAddress; map: PcpMapData; options: PcpOptions }
  | { kind: 'pcp-peer'; lifetime: number; client: PcpAddress; peer: PcpPeerData; options: PcpOptions };

const V4_MAPPED_PREFIX = Buffer.from([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff]);

/** Reads a 16-byte address field (RFC 6887 §5: IPv4 as ::ffff:a.b.c.d; all zeros is "none"). */
export function readPcpAddress(b: Buffer, off: number): PcpAddress {
  if (b.compare(V4_MAPPED_PREFIX, 0, 12, off, off + 12) === 0) return { v4: b.readUInt32BE(off + 12) };
  let zero = true;
  for (let i = 0; i < 16; i++) if (b[off + i] !== 0) zero = false;
  if (zero) return { v4: 0 };
  return { v4: null, raw: b.toString('hex', off, off + 16) };
}

export function decodeRequest(msg: Buffer): DecodedRequest {
  if (msg.length < 2) return { kind: 'drop', reason: 'short' };
  const version = msg[0]!;
  const opcode = msg[1]!;
  if ((opcode & RESPONSE_BIT) !== 0) return { kind: 'drop', reason: 'response' };
  if (version === NATPMP_VERSION) return decodeNatPmp(msg, opcode);
  if (version !== PCP_VERSION) return { kind: 'pcp-error', opcode, result: PcpResult.UnsuppVersion };
  return decodePcp(msg, opcode);
}

function decodeNatPmp(msg: Buffer, opcode: number): DecodedRequest {
  if (opcode === NATPMP_OP_PUBLIC_ADDRESS) {
    return msg.length >= NATPMP_ADDRESS_REQUEST_LEN ? { kind: 'natpmp-address' } : { kind: 'drop', reason: 'short' };
  }
  if (opcode !== NATPMP_OP_MAP_UDP && opcode !== NATPMP_OP_MAP_TCP) return { kind: 'natpmp-error', opcode, result: NatPmpResult.UnsuppOpcode };
  // RFC 6886 has no "malformed" result: a short mapping request cannot be answered sensibly
  if (msg.length < NATPMP_MAP_REQUEST_LEN) return { kind: 'drop', reason: 'short' };
  return {
    kind: 'natpmp-map',
    protocol: opcode === NATPMP_OP_MAP_UDP ? 17 : 6,
    internalPort: msg.readUInt16BE(4),
    suggestedPort: msg.readUInt16BE(6),
    lifetime: msg.readUInt32BE(8),
  };
}

function decodePcp(msg: Buffer, opcode: number): DecodedRequest {
  // RFC 6887 §8.3: a message too short for the common header is dropped; too long or not a
  // multiple of 4 is MALFORMED_REQUEST
  if (msg.length < PCP_HEADER_LEN) return { kind: 'drop', reason: 'truncated' };
  if (msg.length > PCP_MAX_LEN || msg.length % 4 !== 0) return { kind: 'pcp-error', opcode, result: PcpResult.MalformedRequest };
  const lifetime = msg.readUInt32BE(4);
  const client = readPcpAddress(msg, 8);
  let dataLen: number;
  if (opcode === PCP_OP_ANNOUNCE) dataLen = 0;
  else if (opcode === PCP_OP_MAP) dataLen = PCP_MAP_LEN;
  else if (opcode === PCP_OP_PEER) dataLen = PCP_PEER_LEN;
  else return { kind: 'pcp-error', opcode, result: PcpResult.UnsuppOpcode };
  if (msg.length < PCP_HEADER_LEN + dataLen) return { kind: 'pcp-error', opcode, result: PcpResult.MalformedRequest };
  const options = decodeOptions(msg, PCP_HEADER_LEN + dataLen, opcode);
  if (typeof options === 'number') return { kind: 'pcp-error', opcode, result: options };
  if (opcode === PCP_OP_ANNOUNCE) return { kind: 'pcp-announce', lifetime, client, options };
  const d = PCP_HEADER_LEN;
  const map: PcpMapData = {
    nonce: msg.toString('hex', d, d + PCP_NONCE_LEN),
    protocol: msg[d + 12]!,
    internalPort: msg.readUInt16BE(d + 16),
    suggestedPort: msg.readUInt16BE(d + 18),
    suggestedAddress: readPcpAddress(msg, d + 20),
  };
  // protocol 0 is "all protocols": then the internal port must be 0 (RFC 6887 §11.1)
  if (map.protocol === 0 && map.internalPort !== 0) return { kind: 'pcp-error', opcode, result: PcpResult.MalformedRequest };
  if (opcode === PCP_OP_MAP) return { kind: 'pcp-map', lifetime, client, map, options };
  const peer: PcpPeerData = { ...map, remotePort: msg.readUInt16BE(d + 36), remoteAddress: readPcpAddress(msg, d + 40) };
  // a PEER names one remote endpoint of one protocol (RFC 6887 §12.1)
  if (peer.protocol === 0 || peer.internalPort === 0 || peer.remotePort === 0 || (peer.remoteAddress.v4 !== null && peer.remoteAddress.v4 === 0)) {
    return { kind: 'pcp-error', opcode, result: PcpResult.MalformedRequest };
  }
  return { kind: 'pcp-peer', lifetime, client, peer, options };
}

/** The options after the opcode's data (RFC 6887 §7.3), or the result code that refuses them. */
function decodeOptions(msg: Buffer, start: number, opcode: number): PcpOptions | PcpResult {
  const out: PcpOptions = { thirdParty: null, preferFailure: false, filters: [] };
  let seenPreferFailure = false;
  let off = start;
  while (off < msg.length) {
    if (off + PCP_OPTION_HEADER_LEN > msg.length) return PcpResult.MalformedOption;
    const code = msg[off]!;
    const len = msg.readUInt16BE(off + 2);
    const data = off + PCP_OPTION_HEADER_LEN;
    const padded = (len + 3) & ~3;
    if (data + padded > msg.length) return PcpResult.MalformedOption;
    if (code === PCP_OPTION_THIRD_PARTY) {
      if (len !== 16 || out.thirdParty !== null || opcode === PCP_OP_ANNOUNCE) return PcpResult.MalformedOption;
      out.thirdParty = readPcpAddress(msg, data);
    } else if (code === PCP_OPTION_PREFER_FAILURE) {
      if (len !== 0 || seenPreferFailure || opcode !== PCP_OP_MAP) return PcpResult.MalformedOption;
      seenPreferFailure = true;
      out.preferFailure = true;
    } else if (code === PCP_OPTION_FILTER) {
      if (len !== 20 || opcode !== PCP_OP_MAP) return PcpResult.MalformedOption;
      const prefixLength = msg[data + 1]!;
      const remote = readPcpAddress(msg, data + 4);
      // an IPv4 prefix is written as its IPv4-mapped length, 96 + 0..32 (RFC 6887 §13.3)
      if (prefixLength > 128 || (remote.v4 !== null && prefixLength !== 0 && prefixLength < 96)) return PcpResult.MalformedOption;
      out.filters.push({ prefixLength, remotePort: msg.readUInt16BE(data + 2), remote });
    } else if (code < PCP_OPTIONAL_OPTIONS) {
      return PcpResult.UnsuppOption;
    }
    off = data + padded;
  }
  return out;
}

// Encoding NAT-PMP (RFC 6886 §3.2, §3.3) and PCP (RFC 6887 §7.2, §11.1, §12.1) responses and the
// server's announcements. Plain functions from fields to a new Buffer: the server's answers are
// rare (a request now and then per container), not a fast path.

import {
  NATPMP_ADDRESS_RESPONSE_LEN,
  NATPMP_MAP_RESPONSE_LEN,
  NATPMP_OP_PUBLIC_ADDRESS,
  NATPMP_VERSION,
  PCP_HEADER_LEN,
  PCP_MAP_LEN,
  PCP_MAX_LEN,
  PCP_OP_ANNOUNCE,
  PCP_OP_MAP,
  PCP_OP_PEER,
  PCP_OPTION_HEADER_LEN,
  PCP_OPTION_PREFER_FAILURE,
  PCP_OPTION_THIRD_PARTY,
  PCP_PEER_LEN,
  PCP_VERSION,
  PcpResult,
  RESPONSE_BIT,
} from './pcp-codes.js';
import type { PcpAddress } from './request-decode.js';

/** Writes an address field: IPv4 as ::ffff:a.b.c.d, 0 as all zeros, IPv6 as it came. */
export function writePcpAddress(b: Buffer, off: number, a: PcpAddress): void {
  b.fill(0, off, off + 16);
  if (a.v4 === null) {
    Buffer.from(a.raw, 'hex').copy(b, off);
  } else if (a.v4 !== 0) {
    b[off + 10] = 0xff;
    b[off + 11] = 0xff;
    b.writeUInt32BE(a.v4 >>> 0, off + 12);
  }
}

/** NAT-PMP public address response (opcode 128), also the announcement at start. */
export function natPmpAddressResponse(result: number, epoch: number, address: number): Buffer {
  const b = Buffer.alloc(NATPMP_ADDRESS_RESPONSE_LEN);
  b[0] = NATPMP_VERSION;
  b[1] = NATPMP_OP_PUBLIC_ADDRESS | RESPONSE_BIT;
  b.writeUInt16BE(result, 2);
  b.writeUInt32BE(epoch >>> 0, 4);
  b.writeUInt32BE(result === 0 ? address >>> 0 : 0, 8);
  return b;
}

/** NAT-PMP mapping response (opcode 129 or 130). */
export function natPmpMapResponse(opcode: number, result: number, epoch: number, internalPort: number, externalPort: number, lifetime: number): Buffer {
  const b = Buffer.alloc(NATPMP_MAP_RESPONSE_LEN);
  b[0] = NATPMP_VERSION;
  b[1] = opcode | RESPONSE_BIT;
  b.writeUInt16BE(result, 2);
  b.writeUInt32BE(epoch >>> 0, 4);
  b.writeUInt16BE(internalPort, 8);
  b.writeUInt16BE(externalPort, 10);
  b.writeUInt32BE(lifetime >>> 0, 12);
  return b;
}

/** NAT-PMP error without a body (an unsupported opcode): version, opcode + 128, result, epoch. */
export function natPmpErrorResponse(opcode: number, result: number, epoch: number): Buffer {
  const b = Buffer.alloc(8);
  b[0] = NATPMP_VERSION;
  b[1] = (opcode | RESPONSE_BIT) & 0xff;
  b.writeUInt16BE(result, 2);
  b.writeUInt32BE(epoch >>> 0, 4);
  return b;
}

function writePcpHeader(b: Buffer, opcode: number, result: number, lifetime: number, epoch: number): void {
  b[0] = PCP_VERSION;
  b[1] = (opcode | RESPONSE_BIT) & 0xff;
  b[2] = 0;
  b[3] = result;
  b.writeUInt32BE(lifetime >>> 0, 4);
  b.writeUInt32BE(epoch >>> 0, 8);
  b.fill(0, 12, PCP_HEADER_LEN);
}

/** A PCP option: code, reserved, length, data padded to 4 bytes. */
function option(code: number, data: Buffer): Buffer {
  const b = Buffer.alloc(PCP_OPTION_HEADER_LEN + ((data.length + 3) & ~3));
  b[0] = code;
  b.writeUInt16BE(data.length, 2);
  data.copy(b, PCP_OPTION_HEADER_LEN);
  return b;
}

export interface PcpResponseOptions {
  thirdParty?: PcpAddress | null;
  preferFailure?: boolean;
}

function encodeOptions(o: PcpResponseOptions): Buffer[] {
  const out: Buffer[] = [];
  if (o.thirdParty != null) {
    const a = Buffer.alloc(16);
    writePcpAddress(a, 0, o.thirdParty);
    out.push(option(PCP_OPTION_THIRD_PARTY, a));
  }
  if (o.preferFailure === true) out.push(option(PCP_OPTION_PREFER_FAILURE, Buffer.alloc(0)));
  return out;
}

export interface PcpMapResponse {
  result: number;
  lifetime: number;
  epoch: number;
  nonce: string;
  protocol: number;
  internalPort: number;
  externalPort: number;
  externalAddress: PcpAddress;
  options?: PcpResponseOptions;
}

export interface PcpPeerResponse extends PcpMapResponse {
  remotePort: number;
  remoteAddress: PcpAddress;
}

/** MAP's fields, also the start of PEER's: header, the assigned port and address, the options honoured. */
function mappingResponse(opcode: number, r: PcpMapResponse, peer: PcpPeerResponse | null): Buffer {
  const head = Buffer.alloc(PCP_HEADER_LEN + (peer !== null ? PCP_PEER_LEN : PCP_MAP_LEN));
  writePcpHeader(head, opcode, r.result, r.lifetime, r.epoch);
  const d = PCP_HEADER_LEN;
  head.write(r.nonce, d, 12, 'hex');
  head[d + 12] = r.protocol;
  head.writeUInt16BE(r.internalPort, d + 16);
  head.writeUInt16BE(r.externalPort, d + 18);
  writePcpAddress(head, d + 20, r.externalAddress);
  if (peer !== null) {
    head.writeUInt16BE(peer.remotePort, d + 36);
    writePcpAddress(head, d + 40, peer.remoteAddress);
  }
  return Buffer.concat([head, ...encodeOptions(r.options ?? {})]);
}

/** MAP response (RFC 6887 §11.1). */
export function pcpMapResponse(r: PcpMapResponse): Buffer {
  return mappingResponse(PCP_OP_MAP, r, null);
}

/** PEER response (RFC 6887 §12.1): MAP's fields plus the remote peer. */
export function pcpPeerResponse(r: PcpPeerResponse): Buffer {
  return mappingResponse(PCP_OP_PEER, r, r);
}

/** ANNOUNCE response (RFC 6887 §14.1): also what the server multicasts when it (re)starts. */
export function pcpAnnounce(epoch: number): Buffer {
  const b = Buffer.alloc(PCP_HEADER_LEN);
  writePcpHeader(b, PCP_OP_ANNOUNCE, PcpResult.Success, 0, epoch);
  return b;
}

/**
 * An error response built from the request (RFC 6887 §8.3): the request's bytes (up to 1100,
 * whole 32-bit words) with the response header over them, so the client can tell which request
 * it answers. UNSUPP_VERSION carries only the header, with the server's version.
 */
export function pcpErrorResponse(request: Buffer, result: number, lifetime: number, epoch: number): Buffer {
  const copy = result === PcpResult.UnsuppVersion ? 0 : Math.min(request.length, PCP_MAX_LEN) & ~3;
  const b = Buffer.alloc(Math.max(PCP_HEADER_LEN, copy));
  request.copy(b, 0, 0, copy);
  writePcpHeader(b, request.length > 1 ? request[1]! & 0x7f : 0, result, lifetime, epoch);
  return b;
}

// Fuzz target: decoding a NAT-PMP or PCP request (src/control/pcp/request-decode.ts) and, for the
// requests answered from their own bytes, encoding the error answer. An input is a datagram to
// port 5351. decodeRequest must never throw and describe every datagram; an answer built from a
// request's bytes must encode, and a PCP answer stay within PCP's 1100 bytes, a multiple of 4.
import { PCP_MAX_LEN } from '../../../src/control/pcp/pcp-codes.js';
import { decodeRequest } from '../../../src/control/pcp/request-decode.js';
import { natPmpErrorResponse, pcpErrorResponse } from '../../../src/control/pcp/response-encode.js';

const KINDS = new Set(['drop', 'natpmp-address', 'natpmp-map', 'natpmp-error', 'pcp-error', 'pcp-announce', 'pcp-map', 'pcp-peer']);

export function fuzz(data: Buffer): void {
  const r = decodeRequest(data);
  const fail = (why: string): never => {
    throw new Error(`${why}: ${data.toString('hex')} -> ${JSON.stringify(r)}`);
  };
  if (!KINDS.has(r.kind)) fail('an unknown kind');
  if (r.kind === 'natpmp-map' && r.protocol !== 6 && r.protocol !== 17) fail('a NAT-PMP mapping of another protocol');
  if ((r.kind === 'pcp-map' || r.kind === 'pcp-peer' || r.kind === 'pcp-announce') && data.length > PCP_MAX_LEN) fail('a request longer than PCP allows was taken');
  if (r.kind === 'pcp-map' && (r.map.internalPort > 0xffff || r.map.suggestedPort > 0xffff || r.map.nonce.length !== 24)) fail('a field out of range');
  if (r.kind === 'pcp-error') {
    const a = pcpErrorResponse(data, r.result, 0, 1);
    if (a.length > PCP_MAX_LEN || a.length % 4 !== 0 || a.length < 24) fail(`a PCP error answer of ${a.length} bytes`);
  }
  if (r.kind === 'natpmp-error') natPmpErrorResponse(r.opcode, r.result, 1);
}

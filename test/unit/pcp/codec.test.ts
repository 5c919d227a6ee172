// NAT-PMP and PCP messages from literal bytes laid out as RFC 6886 §3 and RFC 6887 §7, §11-§14
// show them (and natpmpc's own requests, captured from Debian's natpmpc 20230423), both ways.

import { describe, expect, it } from 'vitest';
import { PcpResult } from '../../../src/control/pcp/pcp-codes.js';
import { decodeRequest } from '../../../src/control/pcp/request-decode.js';
import {
  natPmpAddressResponse,
  natPmpErrorResponse,
  natPmpMapResponse,
  pcpAnnounce,
  pcpErrorResponse,
  pcpMapResponse,
  pcpPeerResponse,
} from '../../../src/control/pcp/response-encode.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

const V4 = (a: string): string => `00000000 00000000 0000ffff ${a}`;
const CLIENT = V4('0a000002'); // 10.0.0.2
const NONCE = '0102030405060708090a0b0c';
const MAP_TCP_4000 = `${NONCE} 06000000 0fa0 0fa0 ${'00'.repeat(16)}`;
/** MAP TCP 4000, lifetime 7200, from 10.0.0.2 */
const MAP_REQUEST = `02 01 0000 00001c20 ${CLIENT} ${MAP_TCP_4000}`;

describe('NAT-PMP requests (RFC 6886 §3.2, §3.3)', () => {
  it('reads natpmpc\'s public address request', () => {
    expect(decodeRequest(hex('0000'))).toEqual({ kind: 'natpmp-address' });
  });

  it("reads natpmpc's mapping request: -a 4001 4000 tcp 60", () => {
    expect(decodeRequest(hex('00 02 0000 0fa0 0fa1 0000003c'))).toEqual({ kind: 'natpmp-map', protocol: 6, internalPort: 4000, suggestedPort: 4001, lifetime: 60 });
  });

  it("reads natpmpc's delete-all: -a 0 0 udp 0", () => {
    expect(decodeRequest(hex('00 01 0000 0000 0000 00000000'))).toEqual({ kind: 'natpmp-map', protocol: 17, internalPort: 0, suggestedPort: 0, lifetime: 0 });
  });

  it('drops short requests and responses, answers unknown opcodes with 5', () => {
    expect(decodeRequest(hex('00'))).toEqual({ kind: 'drop', reason: 'short' });
    expect(decodeRequest(Buffer.alloc(0))).toEqual({ kind: 'drop', reason: 'short' });
    expect(decodeRequest(hex('00 02 0000 0fa0'))).toEqual({ kind: 'drop', reason: 'short' });
    expect(decodeRequest(hex('00 80 0000 00000005 c6336402'))).toEqual({ kind: 'drop', reason: 'response' });
    expect(decodeRequest(hex('00 03'))).toEqual({ kind: 'natpmp-error', opcode: 3, result: 5 });
  });

  it('writes the public address response (12 bytes)', () => {
    expect(natPmpAddressResponse(0, 5, 0xc6336402)).toEqual(hex('00 80 0000 00000005 c6336402'));
    // a refusal carries no address
    expect(natPmpAddressResponse(2, 5, 0xc6336402)).toEqual(hex('00 80 0002 00000005 00000000'));
  });

  it('writes the mapping response (16 bytes) and the opcode error (8 bytes)', () => {
    expect(natPmpMapResponse(2, 0, 7, 4000, 4001, 60)).toEqual(hex('00 82 0000 00000007 0fa0 0fa1 0000003c'));
    expect(natPmpErrorResponse(3, 5, 7)).toEqual(hex('00 83 0005 00000007'));
  });
});

describe('PCP requests (RFC 6887 §7.1, §11.1, §12.1)', () => {
  it('reads a MAP request', () => {
    expect(decodeRequest(hex(MAP_REQUEST))).toEqual({
      kind: 'pcp-map',
      lifetime: 7200,
      client: { v4: 0x0a000002 },
      map: { nonce: NONCE, protocol: 6, internalPort: 4000, suggestedPort: 4000, suggestedAddress: { v4: 0 } },
      options: { thirdParty: null, preferFailure: false, filters: [] },
    });
  });

  it('reads a PEER request with its remote peer', () => {
    const d = decodeRequest(hex(`02 02 0000 00000e10 ${CLIENT} ${NONCE} 11000000 1388 0000 ${'00'.repeat(16)} 0035 0000 ${V4('cb007105')}`));
    expect(d).toEqual({
      kind: 'pcp-peer',
      lifetime: 3600,
      client: { v4: 0x0a000002 },
      peer: { nonce: NONCE, protocol: 17, internalPort: 5000, suggestedPort: 0, suggestedAddress: { v4: 0 }, remotePort: 53, remoteAddress: { v4: 0xcb007105 } },
      options: { thirdParty: null, preferFailure: false, filters: [] },
    });
  });

  it('reads ANNOUNCE, and an IPv6 client address as not IPv4', () => {
    expect(decodeRequest(hex(`02 00 0000 00000000 ${CLIENT}`))).toMatchObject({ kind: 'pcp-announce', lifetime: 0, client: { v4: 0x0a000002 } });
    expect(decodeRequest(hex(`02 00 0000 00000000 20010db8000000000000000000000001`))).toMatchObject({ client: { v4: null, raw: '20010db8000000000000000000000001' } });
  });

  it('reads THIRD_PARTY, PREFER_FAILURE and FILTER options, ignores unknown optional ones', () => {
    const opts = `01 00 0010 ${V4('0a000003')} 02 00 0000 03 00 0014 00 78 0050 ${V4('c6336400')} 80 00 0001 ff000000`;
    const d = decodeRequest(hex(`${MAP_REQUEST} ${opts}`));
    expect(d).toMatchObject({
      kind: 'pcp-map',
      options: { thirdParty: { v4: 0x0a000003 }, preferFailure: true, filters: [{ prefixLength: 120, remotePort: 80, remote: { v4: 0xc6336400 } }] },
    });
  });

  const err = (result: PcpResult, opcode = 1) => ({ kind: 'pcp-error', opcode, result });

  it('every error path of the header and the opcodes', () => {
    expect(decodeRequest(hex('01 01'))).toEqual(err(PcpResult.UnsuppVersion)); // Apple's pre-RFC version 1
    expect(decodeRequest(hex('03 01 0000 00000000'))).toEqual(err(PcpResult.UnsuppVersion));
    expect(decodeRequest(hex(`02 01 0000 00000000 ${CLIENT}`.slice(0, 30)))).toEqual({ kind: 'drop', reason: 'truncated' });
    expect(decodeRequest(hex(`02 81 0000 00000000 ${CLIENT}`))).toEqual({ kind: 'drop', reason: 'response' });
    expect(decodeRequest(hex(`${MAP_REQUEST} 00`))).toEqual(err(PcpResult.MalformedRequest)); // not whole words
    expect(decodeRequest(Buffer.concat([hex(MAP_REQUEST), Buffer.alloc(1100)]))).toEqual(err(PcpResult.MalformedRequest));
    expect(decodeRequest(hex(`02 01 0000 00001c20 ${CLIENT}`))).toEqual(err(PcpResult.MalformedRequest)); // MAP without its data
    expect(decodeRequest(hex(`02 05 0000 00000000 ${CLIENT}`))).toEqual(err(PcpResult.UnsuppOpcode, 5));
    // protocol 0 (all) with a port
    expect(decodeRequest(hex(`02 01 0000 00001c20 ${CLIENT} ${NONCE} 00000000 0fa0 0000 ${'00'.repeat(16)}`))).toEqual(err(PcpResult.MalformedRequest));
    // PEER without a remote port
    expect(decodeRequest(hex(`02 02 0000 00000e10 ${CLIENT} ${NONCE} 11000000 1388 0000 ${'00'.repeat(16)} 0000 0000 ${V4('cb007105')}`))).toEqual(err(PcpResult.MalformedRequest, 2));
  });

  it('every error path of the options', () => {
    expect(decodeRequest(hex(`${MAP_REQUEST} 01 00 0004 0a000003`))).toEqual(err(PcpResult.MalformedOption)); // THIRD_PARTY of 4 bytes
    expect(decodeRequest(hex(`${MAP_REQUEST} 02 00 0000 02 00 0000`))).toEqual(err(PcpResult.MalformedOption)); // PREFER_FAILURE twice
    expect(decodeRequest(hex(`${MAP_REQUEST} 01 00 0010 ${V4('0a000003')} 01 00 0010 ${V4('0a000004')}`))).toEqual(err(PcpResult.MalformedOption));
    expect(decodeRequest(hex(`${MAP_REQUEST} 01 00 0020 ${V4('0a000003')}`))).toEqual(err(PcpResult.MalformedOption)); // runs past the end
    expect(decodeRequest(hex(`${MAP_REQUEST} 03 00 0014 00 10 0050 ${V4('c6336400')}`))).toEqual(err(PcpResult.MalformedOption)); // IPv4 prefix < 96
    expect(decodeRequest(hex(`${MAP_REQUEST} 7f 00 0000`))).toEqual(err(PcpResult.UnsuppOption)); // unknown mandatory option
    const peer = `02 02 0000 00000e10 ${CLIENT} ${NONCE} 11000000 1388 0000 ${'00'.repeat(16)} 0035 0000 ${V4('cb007105')}`;
    expect(decodeRequest(hex(`${peer} 02 00 0000`))).toEqual(err(PcpResult.MalformedOption, 2)); // PREFER_FAILURE is MAP's only
  });
});

describe('PCP responses (RFC 6887 §7.2)', () => {
  it('writes a MAP response: assigned port and IPv4-mapped address, options honoured', () => {
    const b = pcpMapResponse({
      result: 0,
      lifetime: 3600,
      epoch: 42,
      nonce: NONCE,
      protocol: 6,
      internalPort: 4000,
      externalPort: 4001,
      externalAddress: { v4: 0xc6336402 },
      options: { preferFailure: true },
    });
    expect(b).toEqual(hex(`02 81 00 00 00000e10 0000002a ${'00'.repeat(12)} ${NONCE} 06000000 0fa0 0fa1 ${V4('c6336402')} 02 00 0000`));
  });

  it('writes a PEER response with the remote peer', () => {
    const b = pcpPeerResponse({
      result: 0,
      lifetime: 60,
      epoch: 1,
      nonce: NONCE,
      protocol: 17,
      internalPort: 5000,
      externalPort: 5000,
      externalAddress: { v4: 0xc6336402 },
      remotePort: 53,
      remoteAddress: { v4: 0xcb007105 },
    });
    expect(b).toEqual(hex(`02 82 00 00 0000003c 00000001 ${'00'.repeat(12)} ${NONCE} 11000000 1388 1388 ${V4('c6336402')} 0035 0000 ${V4('cb007105')}`));
  });

  it('writes ANNOUNCE', () => {
    expect(pcpAnnounce(0)).toEqual(hex(`02 80 00 00 00000000 00000000 ${'00'.repeat(12)}`));
  });

  it('an error response copies the request under the response header', () => {
    const b = pcpErrorResponse(hex(MAP_REQUEST), PcpResult.NoResources, 30, 9);
    expect(b).toEqual(hex(`02 81 00 08 0000001e 00000009 ${'00'.repeat(12)} ${MAP_TCP_4000}`));
    // UNSUPP_VERSION: the header alone, with the server's version
    expect(pcpErrorResponse(hex('01 01 0000'), PcpResult.UnsuppVersion, 1800, 9)).toEqual(hex(`02 81 00 01 00000708 00000009 ${'00'.repeat(12)}`));
    // an odd length is cut to whole words
    expect(pcpErrorResponse(hex(`${MAP_REQUEST} 00`), PcpResult.MalformedRequest, 1800, 0).length).toBe(60);
  });
});

describe('decodeRequest never throws', () => {
  it('on random datagrams of every length up to 1200', () => {
    let seed = 7;
    const rnd = (): number => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) % 256;
    for (let n = 0; n < 3000; n++) {
      const b = Buffer.alloc(n % 1200);
      for (let i = 0; i < b.length; i++) b[i] = rnd();
      if (b.length > 0) b[0] = n % 4; // versions 0-3
      if (b.length > 1) b[1] &= 0x7f;
      expect(() => decodeRequest(b)).not.toThrow();
    }
  });
});

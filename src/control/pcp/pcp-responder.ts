// What the server answers to one datagram: decodes it (request-decode.ts), checks who asks (the
// source address is the container's: the data plane DNATs gateway:5351 to the daemon without
// touching the source), asks the mapping manager, encodes the response. Never throws: a datagram
// it cannot answer is dropped and counted.

import {
  NATPMP_OP_MAP_TCP,
  NATPMP_OP_MAP_UDP,
  NATPMP_OP_PUBLIC_ADDRESS,
  NatPmpResult,
  PCP_OP_ANNOUNCE,
  PCP_OP_MAP,
  PCP_OP_PEER,
  PcpResult,
  errorLifetime,
} from './pcp-codes.js';
import type { MapRefusal, MappingManager } from './mapping-manager.js';
import type { PcpOpcodeLabel, PcpStats } from './pcp-stats.js';
import { type DecodedRequest, type PcpOptions, decodeRequest } from './request-decode.js';
import { natPmpAddressResponse, natPmpErrorResponse, natPmpMapResponse, pcpAnnounce, pcpErrorResponse, pcpMapResponse, pcpPeerResponse } from './response-encode.js';

export interface PcpClient {
  /** its network masquerades through the uplink (internal networks do not: no mappings there) */
  masquerading: boolean;
}

export interface PcpResponderDeps {
  manager: MappingManager;
  stats: PcpStats;
  /** the uplink's address: the public address a container learns */
  externalAddress: number;
  /** the endpoint with this address, null when none (the host, a stranger) */
  clientOf(ip: number): PcpClient | null;
}

const PCP_REFUSAL: Record<MapRefusal, PcpResult> = {
  not_authorized: PcpResult.NotAuthorized,
  no_resources: PcpResult.NoResources,
  cannot_provide_external: PcpResult.CannotProvideExternal,
};
const NATPMP_REFUSAL: Record<MapRefusal, NatPmpResult> = {
  not_authorized: NatPmpResult.NotAuthorized,
  no_resources: NatPmpResult.OutOfResources,
  cannot_provide_external: NatPmpResult.OutOfResources,
};

function opcodeLabel(d: DecodedRequest, msg: Buffer): PcpOpcodeLabel {
  switch (d.kind) {
    case 'natpmp-address':
      return 'public_address';
    case 'natpmp-map':
      return d.protocol === 17 ? 'map_udp' : 'map_tcp';
    case 'pcp-announce':
      return 'announce';
    case 'pcp-map':
      return 'map';
    case 'pcp-peer':
      return 'peer';
    default: {
      const op = msg[1]! & 0x7f;
      if (msg[0] === 0) return op === NATPMP_OP_PUBLIC_ADDRESS ? 'public_address' : op === NATPMP_OP_MAP_UDP ? 'map_udp' : op === NATPMP_OP_MAP_TCP ? 'map_tcp' : 'other';
      return op === PCP_OP_ANNOUNCE ? 'announce' : op === PCP_OP_MAP ? 'map' : op === PCP_OP_PEER ? 'peer' : 'other';
    }
  }
}

export class PcpResponder {
  constructor(private readonly d: PcpResponderDeps) {}

  /** The response to a datagram from srcIp:srcPort, or null for none. */
  async answer(msg: Buffer, srcIp: number, srcPort: number): Promise<Buffer | null> {
    const stats = this.d.stats;
    let decoded: DecodedRequest;
    try {
      decoded = decodeRequest(msg);
    } catch {
      stats.drop('error');
      return null;
    }
    if (decoded.kind === 'drop') {
      stats.drop(decoded.reason);
      return null;
    }
    const natpmp = decoded.kind.startsWith('natpmp');
    stats.request(natpmp ? 'natpmp' : 'pcp', opcodeLabel(decoded, msg));
    try {
      return natpmp ? await this.natPmp(decoded, srcIp >>> 0, srcPort) : await this.pcp(decoded, msg, srcIp >>> 0, srcPort);
    } catch {
      stats.drop('error');
      return null;
    }
  }

  private async natPmp(d: DecodedRequest, src: number, srcPort: number): Promise<Buffer> {
    const { manager, stats } = this.d;
    const reply = (code: number, b: Buffer): Buffer => {
      stats.result('natpmp', code);
      return b;
    };
    const epoch = manager.epoch();
    if (d.kind === 'natpmp-error') return reply(d.result, natPmpErrorResponse(d.opcode, d.result, epoch));
    const client = this.d.clientOf(src);
    const allowed = client !== null && client.masquerading;
    if (d.kind === 'natpmp-address') {
      const code = allowed ? NatPmpResult.Success : NatPmpResult.NotAuthorized;
      return reply(code, natPmpAddressResponse(code, epoch, this.d.externalAddress));
    }
    if (d.kind !== 'natpmp-map') throw new Error('not a NAT-PMP request');
    const op = d.protocol === 17 ? NATPMP_OP_MAP_UDP : NATPMP_OP_MAP_TCP;
    const refuse = (code: NatPmpResult): Buffer => reply(code, natPmpMapResponse(op, code, epoch, d.internalPort, 0, 0));
    if (!allowed) return refuse(NatPmpResult.NotAuthorized);
    if (d.lifetime === 0) {
      // RFC 6886 §3.4: internal port 0 with lifetime 0 deletes every mapping of the client (this protocol)
      if (d.internalPort === 0) await manager.deleteAll(src, d.protocol, null);
      else await manager.delete({ opcode: 'map', proto: d.protocol, internalIp: src, internalPort: d.internalPort, nonce: null });
      return reply(NatPmpResult.Success, natPmpMapResponse(op, NatPmpResult.Success, manager.epoch(), d.internalPort, 0, 0));
    }
    if (d.internalPort === 0) return refuse(NatPmpResult.NotAuthorized);
    const r = await manager.request({
      source: 'nat-pmp',
      opcode: 'map',
      proto: d.protocol,
      internalIp: src,
      internalPort: d.internalPort,
      suggestedPort: d.suggestedPort,
      exact: false,
      lifetime: d.lifetime,
      nonce: null,
      remoteIp: 0,
      remotePort: 0,
      clientPort: srcPort,
    });
    if (!r.ok) return refuse(NATPMP_REFUSAL[r.refusal]);
    return reply(NatPmpResult.Success, natPmpMapResponse(op, NatPmpResult.Success, manager.epoch(), d.internalPort, r.mapping.externalPort, r.lifetime));
  }

  private async pcp(d: DecodedRequest, msg: Buffer, src: number, srcPort: number): Promise<Buffer> {
    const { manager, stats } = this.d;
    const fail = (code: PcpResult): Buffer => {
      stats.result('pcp', code);
      return pcpErrorResponse(msg, code, errorLifetime(code), manager.epoch());
    };
    const ok = (b: Buffer): Buffer => {
      stats.result('pcp', PcpResult.Success);
      return b;
    };
    if (d.kind === 'pcp-error') return fail(d.result);
    if (d.kind !== 'pcp-announce' && d.kind !== 'pcp-map' && d.kind !== 'pcp-peer') throw new Error('not a PCP request');
    // the client's own idea of its address must be the packet's source: no NAT in between (RFC 6887 §8.3)
    if (d.client.v4 !== src) return fail(PcpResult.AddressMismatch);
    const client = this.d.clientOf(src);
    if (client === null || !client.masquerading) return fail(PcpResult.NotAuthorized);
    const refused = this.checkOptions(d.options, src);
    if (refused !== PcpResult.Success) return fail(refused);
    // an ANNOUNCE request asks for the epoch only: its lifetime must be 0 (RFC 6887 §14.1)
    if (d.kind === 'pcp-announce') return d.lifetime === 0 ? ok(pcpAnnounce(manager.epoch())) : fail(PcpResult.MalformedRequest);
    const ext = this.d.externalAddress;
    if (d.kind === 'pcp-map') {
      const m = d.map;
      if (m.protocol === 0 || m.internalPort === 0) {
        // "all protocols" / "all ports": only as a delete of the client's own mappings
        if (d.lifetime !== 0) return fail(m.protocol === 0 ? PcpResult.UnsuppProtocol : PcpResult.NotAuthorized);
        await manager.deleteAll(src, m.protocol, m.nonce);
        return ok(pcpMapResponse({ result: 0, lifetime: 0, epoch: manager.epoch(), nonce: m.nonce, protocol: m.protocol, internalPort: 0, externalPort: 0, externalAddress: { v4: ext } }));
      }
      if (m.protocol !== 6 && m.protocol !== 17) return fail(PcpResult.UnsuppProtocol);
      const proto = m.protocol;
      if (d.lifetime === 0) {
        const r = await manager.delete({ opcode: 'map', proto, internalIp: src, internalPort: m.internalPort, nonce: m.nonce });
        if (r === 'not_authorized') return fail(PcpResult.NotAuthorized);
        return ok(pcpMapResponse({ result: 0, lifetime: 0, epoch: manager.epoch(), nonce: m.nonce, protocol: proto, internalPort: m.internalPort, externalPort: m.suggestedPort, externalAddress: { v4: ext } }));
      }
      // another external address than the uplink's cannot be had: with PREFER_FAILURE that is an error
      const otherAddress = m.suggestedAddress.v4 === null || (m.suggestedAddress.v4 !== 0 && m.suggestedAddress.v4 !== ext);
      if (otherAddress && d.options.preferFailure) return fail(PcpResult.CannotProvideExternal);
      if (d.options.preferFailure && m.suggestedPort === 0) return fail(PcpResult.MalformedOption);
      const r = await manager.request({
        source: 'pcp',
        opcode: 'map',
        proto,
        internalIp: src,
        internalPort: m.internalPort,
        suggestedPort: m.suggestedPort,
        exact: d.options.preferFailure,
        lifetime: d.lifetime,
        nonce: m.nonce,
        remoteIp: 0,
        remotePort: 0,
        clientPort: srcPort,
      });
      if (!r.ok) return fail(PCP_REFUSAL[r.refusal]);
      return ok(
        pcpMapResponse({
          result: 0,
          lifetime: r.lifetime,
          epoch: manager.epoch(),
          nonce: m.nonce,
          protocol: proto,
          internalPort: m.internalPort,
          externalPort: r.mapping.externalPort,
          externalAddress: { v4: ext },
          options: { preferFailure: d.options.preferFailure },
        }),
      );
    }
    const p = d.peer;
    if (p.protocol !== 6 && p.protocol !== 17) return fail(PcpResult.UnsuppProtocol);
    // an IPv4 NAT reaches IPv4 peers only
    if (p.remoteAddress.v4 === null) return fail(PcpResult.MalformedRequest);
    const proto = p.protocol;
    const remote = { remotePort: p.remotePort, remoteAddress: p.remoteAddress };
    if (d.lifetime === 0) {
      const r = await manager.delete({ opcode: 'peer', proto, internalIp: src, internalPort: p.internalPort, nonce: p.nonce, remoteIp: p.remoteAddress.v4, remotePort: p.remotePort });
      if (r === 'not_authorized') return fail(PcpResult.NotAuthorized);
      return ok(pcpPeerResponse({ result: 0, lifetime: 0, epoch: manager.epoch(), nonce: p.nonce, protocol: proto, internalPort: p.internalPort, externalPort: p.suggestedPort, externalAddress: { v4: ext }, ...remote }));
    }
    const r = await manager.request({
      source: 'pcp',
      opcode: 'peer',
      proto,
      internalIp: src,
      internalPort: p.internalPort,
      suggestedPort: p.suggestedPort,
      exact: false,
      lifetime: d.lifetime,
      nonce: p.nonce,
      remoteIp: p.remoteAddress.v4,
      remotePort: p.remotePort,
      clientPort: srcPort,
    });
    if (!r.ok) return fail(PCP_REFUSAL[r.refusal]);
    return ok(
      pcpPeerResponse({
        result: 0,
        lifetime: r.lifetime,
        epoch: manager.epoch(),
        nonce: p.nonce,
        protocol: proto,
        internalPort: p.internalPort,
        externalPort: r.mapping.externalPort,
        externalAddress: { v4: ext },
        ...remote,
      }),
    );
  }

  /**
   * THIRD_PARTY: a container asks only for itself (another's address: NOT_AUTHORIZED; its own:
   * MALFORMED_REQUEST, RFC 6887 §13.1). FILTER is parsed but not implemented: UNSUPP_OPTION.
   */
  private checkOptions(o: PcpOptions, src: number): PcpResult {
    if (o.thirdParty !== null) return o.thirdParty.v4 === src ? PcpResult.MalformedRequest : PcpResult.NotAuthorized;
    if (o.filters.length > 0) return PcpResult.UnsuppOption;
    return PcpResult.Success;
  }
}

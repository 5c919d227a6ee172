// The embedded DNS's answers, one query message in, one answer message out (or nothing): names of
// the client's networks from the name table, everything else from upstream resolvers through the
// cache. Transport-agnostic; dns-server.ts moves the bytes.
//
// Policy, as Docker's embedded DNS:
// - container names and aliases of the client's networks: A records and AAAA records (all addresses
//   of the family on those networks, rotated per query), empty (NOERROR, the name exists) for a
//   family the name has no address of and for other types; reverse names (in-addr.arpa, ip6.arpa)
//   of the addresses of those networks' subnets: PTR with the container name, else NXDOMAIN;
// - single-label names that are not local: NXDOMAIN, never forwarded (a name on another network
//   must not resolve through an upstream's search domain either);
// - anything else is forwarded: REFUSED when there is nowhere to forward (`dns.upstream: []`) or
//   the client's network is --internal; SERVFAIL when no upstream answered in time;
// - malformed: FORMERR when the header is readable, else dropped; responses are dropped.

import type { DnsCache, CachedAnswer } from './dns-cache.js';
import { cacheKey } from './dns-cache.js';
import {
  type Answer,
  type DnsMessage,
  Flag,
  type Packet,
  Rcode,
  decodeHeader,
  decodeMessage,
  ednsOf,
  ednsRecord,
  encodableName,
  encodeMessage,
  maxUdpSize,
  rcodeOf,
} from './dns-message.js';
import { type DnsResult, type DnsStats, queryTypeLabel } from './dns-stats.js';
import { type ClientScope, type NameTable, canonicalName, reverseNameToAddress } from './name-table.js';
import type { UpstreamForwarder } from './upstream.js';

export type Transport = 'udp' | 'tcp';

/** TTL of local answers, as Docker's. */
export const LOCAL_TTL_SECONDS = 600;

/** The opcode bits of the flags word dns-packet keeps (bits 11-14). */
const OPCODE_BITS = 0x7800;

export interface ResolverOptions {
  names: NameTable;
  /** null: nothing is forwarded (REFUSED for names that are not local) */
  forwarder: UpstreamForwarder | null;
  cache: DnsCache;
  stats: DnsStats;
}

interface Reply {
  rcode: number;
  answers?: Answer[];
  authorities?: Answer[];
  additionals?: Answer[];
  authoritative?: boolean;
  authenticated?: boolean;
}

function resultOf(rcode: number): DnsResult {
  switch (rcode) {
    case Rcode.NoError:
      return 'forwarded';
    case Rcode.NxDomain:
      return 'nxdomain';
    case Rcode.FormErr:
      return 'formerr';
    case Rcode.Refused:
    case Rcode.NotImp:
      return 'refused';
    default:
      return 'servfail';
  }
}

export class DnsResolver {
  constructor(private readonly o: ResolverOptions) {}

  /** The answer to one message from `clientIp`, encoded, or null to send nothing. Never throws. */
  async handle(msg: Buffer, clientIp: string, transport: Transport): Promise<Buffer | null> {
    let query: DnsMessage;
    try {
      query = decodeMessage(msg);
    } catch {
      return this.malformed(msg);
    }
    if (query.type === 'response') {
      this.o.stats.drop('not_query'); // never answer an answer: no loops, no reflection
      return null;
    }
    const q = query.questions?.[0];
    const type = queryTypeLabel(q?.type ?? '');
    const scope = this.o.names.clientScope(clientIp);
    let reply: Reply;
    let result: DnsResult;
    try {
      if (query.opcode !== 'QUERY') {
        reply = { rcode: Rcode.NotImp };
        result = 'refused';
      } else if (query.questions?.length !== 1 || q === undefined || !encodableName(q.name)) {
        reply = { rcode: Rcode.FormErr };
        result = 'formerr';
      } else if (scope === null) {
        reply = { rcode: Rcode.Refused }; // not one of our containers: not an open resolver
        result = 'refused';
      } else {
        ({ reply, result } = this.answer(scope, q.name, q.type, q.class ?? 'IN') ?? (await this.forward(scope, q)));
      }
    } catch {
      reply = { rcode: Rcode.ServFail };
      result = 'servfail';
    }
    this.o.stats.count(type, result);
    // RA: names that are not local can be resolved for this client
    const recursion = this.o.forwarder !== null && scope !== null && !scope.network.internal;
    return this.encode(query, reply, transport, recursion);
  }

  /** Local answers; null when the name is not ours to answer. */
  private answer(scope: ClientScope, name: string, type: string, klass: string): { reply: Reply; result: DnsResult } | null {
    if (klass !== 'IN') return null;
    const names = this.o.names;
    const reverse = reverseNameToAddress(name);
    if (reverse !== null && names.inScopeSubnet(scope, reverse)) {
      const target = names.lookupAddress(scope, reverse);
      if (target === null) return { reply: { rcode: Rcode.NxDomain, authoritative: true }, result: 'nxdomain' };
      const answers: Answer[] = type === 'PTR' ? [{ type: 'PTR', name, ttl: LOCAL_TTL_SECONDS, class: 'IN', data: target }] : [];
      return { reply: { rcode: Rcode.NoError, answers, authoritative: true }, result: 'local' };
    }
    const family = type === 'AAAA' ? 6 : 4;
    const ips = names.lookupName(scope, name, family);
    if (ips !== null) {
      const answers: Answer[] =
        type === 'A' || type === 'AAAA' ? ips.map((ip): Answer => ({ type, name, ttl: LOCAL_TTL_SECONDS, class: 'IN', data: ip })) : [];
      return { reply: { rcode: Rcode.NoError, answers, authoritative: true }, result: 'local' };
    }
    const canonical = canonicalName(name);
    if (canonical !== '' && !canonical.includes('.')) {
      return { reply: { rcode: Rcode.NxDomain, authoritative: true }, result: 'nxdomain' };
    }
    return null;
  }

  private async forward(scope: ClientScope, q: { name: string; type: string; class?: string }): Promise<{ reply: Reply; result: DnsResult }> {
    const forwarder = this.o.forwarder;
    if (forwarder === null || scope.network.internal) return { reply: { rcode: Rcode.Refused }, result: 'refused' };
    const question = { name: q.name, type: q.type, class: q.class ?? 'IN' } as Parameters<UpstreamForwarder['resolve']>[0];
    const key = cacheKey(question);
    const cached = this.o.cache.get(key);
    if (cached !== null) {
      this.o.stats.cacheHits++;
      return { reply: fromCache(cached), result: resultOf(cached.rcode) };
    }
    const m = await forwarder.resolve(question);
    if (m === null) return { reply: { rcode: Rcode.ServFail }, result: 'servfail' };
    this.o.cache.put(key, m);
    const rcode = rcodeOf(m);
    return {
      reply: {
        rcode,
        answers: (m.answers ?? []).filter((a) => a.type !== 'OPT'),
        authorities: (m.authorities ?? []).filter((a) => a.type !== 'OPT'),
        additionals: (m.additionals ?? []).filter((a) => a.type !== 'OPT'),
        authenticated: m.flag_ad,
      },
      result: resultOf(rcode),
    };
  }

  /** FORMERR when the header decodes (and it is a query), else nothing. */
  private malformed(msg: Buffer): Buffer | null {
    let header: DnsMessage | null = null;
    try {
      header = decodeHeader(msg);
    } catch {
      header = null;
    }
    if (header === null || header.type === 'response') {
      this.o.stats.drop(header === null ? 'malformed' : 'not_query');
      return null;
    }
    this.o.stats.count('other', 'formerr');
    return encodeMessage({ type: 'response', id: header.id, flags: ((header.flags ?? 0) & (OPCODE_BITS | Flag.RD)) | Rcode.FormErr });
  }

  private encode(query: DnsMessage, r: Reply, transport: Transport, recursion: boolean): Buffer {
    const edns = ednsOf(query) !== undefined;
    const flags =
      ((query.flags ?? 0) & (OPCODE_BITS | Flag.RD | Flag.CD)) |
      (recursion ? Flag.RA : 0) |
      (r.authoritative === true ? Flag.AA : 0) |
      (r.authenticated === true ? Flag.AD : 0);
    // the question is echoed only when it encodes as it came (FORMERR answers go without)
    const questions = (query.questions ?? []).every((x) => encodableName(x.name)) ? (query.questions ?? []) : [];
    const packet: Packet = {
      type: 'response',
      id: query.id,
      flags: flags | r.rcode,
      questions,
      answers: r.answers ?? [],
      authorities: r.authorities ?? [],
      additionals: [...(r.additionals ?? []), ...(edns ? [ednsRecord()] : [])],
    };
    let buf: Buffer;
    try {
      buf = encodeMessage(packet);
      // an upstream record dns-packet decodes may encode to bytes it cannot read back (an unknown
      // type's data of invalid UTF-8, say): a client would get a message it cannot parse
      if ((r.answers?.length ?? 0) + (r.authorities?.length ?? 0) + (r.additionals?.length ?? 0) > 0) decodeMessage(buf);
    } catch {
      // an upstream record dns-packet decodes but cannot encode again, or not into what it reads
      const failed = { ...packet, flags: flags | Rcode.ServFail, answers: [], authorities: [], additionals: edns ? [ednsRecord()] : [] };
      try {
        return encodeMessage(failed);
      } catch {
        return encodeMessage({ ...failed, questions: [] });
      }
    }
    if (transport === 'udp' && buf.length > maxUdpSize(query)) {
      // too big for the client's datagrams: TC, and it asks again over TCP
      return encodeMessage({ ...packet, flags: flags | Flag.TC | r.rcode, answers: [], authorities: [], additionals: edns ? [ednsRecord()] : [] });
    }
    return buf;
  }
}

function fromCache(c: CachedAnswer): Reply {
  return { rcode: c.rcode, answers: c.answers, authorities: c.authorities, additionals: c.additionals, authenticated: c.authenticated };
}

// Fuzz target: the embedded DNS server's request path (decode, local answers, forwarding, the
// answer's encoding) for a query from a container, without sockets. An input is
//   [selector][query length: u16 big-endian][query][the upstream's answer]
//   selector bits 0-1: the client (a container of "front", another of "front", one of an
//   --internal network, an address of no network); bit 2: TCP instead of UDP; bit 3: the
//   upstream times out instead of answering with the bytes that follow the query.
// Every answer must decode, be a response with the query's id, echo only the query's question,
// and over UDP fit the size the client accepts; a response is never answered.
import { DnsCache } from '../../../src/control/dns/dns-cache.js';
import { type DnsMessage, decodeMessage, maxUdpSize } from '../../../src/control/dns/dns-message.js';
import { DnsStats } from '../../../src/control/dns/dns-stats.js';
import { NameTable } from '../../../src/control/dns/name-table.js';
import { DnsResolver } from '../../../src/control/dns/resolver.js';
import type { UpstreamForwarder } from '../../../src/control/dns/upstream.js';

const CLIENTS = ['10.1.0.4', '10.1.0.2', '10.3.0.2', '192.0.2.9'];

function names(): NameTable {
  const t = new NameTable();
  t.setNetwork({ id: 'front', name: 'front', subnet: '10.1.0.0/24', internal: false });
  t.setNetwork({ id: 'back', name: 'back', subnet: '10.2.0.0/24', internal: false });
  t.setNetwork({ id: 'sealed', name: 'sealed', subnet: '10.3.0.0/24', internal: true });
  t.setEndpoint('front', { id: 'e1', name: 'web', ip: '10.1.0.2', aliases: ['www'], sandbox: '1:1' });
  t.setEndpoint('front', { id: 'e2', name: 'web2', ip: '10.1.0.3', aliases: ['www'], sandbox: '1:2' });
  t.setEndpoint('front', { id: 'e3', name: 'client', ip: '10.1.0.4', aliases: [], sandbox: '1:3' });
  t.setEndpoint('back', { id: 'e4', name: 'other', ip: '10.2.0.2', aliases: [], sandbox: '1:4' });
  t.setEndpoint('sealed', { id: 'e5', name: 'vault', ip: '10.3.0.2', aliases: [], sandbox: '1:5' });
  return t;
}

let upstreamAnswer: Buffer | null = null;
/** An upstream that answers with the input's bytes (decoded as dns-packet would) or times out. */
const forwarder = {
  resolve: async (): Promise<DnsMessage | null> => {
    if (upstreamAnswer === null) return null;
    try {
      return decodeMessage(upstreamAnswer);
    } catch {
      return null; // the real forwarder drops what does not decode, and times out
    }
  },
  close: () => undefined,
} as unknown as UpstreamForwarder;

const stats = new DnsStats();
const table = names();

function decodes(b: Buffer): DnsMessage | null {
  try {
    return decodeMessage(b);
  } catch {
    return null;
  }
}

export async function fuzz(data: Buffer): Promise<void> {
  if (data.length < 3) return;
  const sel = data[0];
  const qlen = data.readUInt16BE(1);
  const query = data.subarray(3, 3 + qlen);
  upstreamAnswer = sel & 8 ? null : data.subarray(3 + qlen);
  const transport = sel & 4 ? 'tcp' : 'udp';
  // a fresh cache: an answer depends on this input alone
  const resolver = new DnsResolver({ names: table, forwarder, cache: new DnsCache(16, () => 0), stats });
  const answer = await resolver.handle(query, CLIENTS[sel & 3], transport);
  const q = decodes(query);
  const fail = (why: string): never => {
    throw new Error(`${why}: query ${query.toString('hex')} answer ${answer?.toString('hex')}`);
  };
  if (q !== null && q.type === 'response' && answer !== null) fail('a response was answered');
  if (answer === null) return;
  const a = decodes(answer);
  if (a === null) return fail('the answer does not decode');
  if (a.type !== 'response') fail('the answer is not a response');
  if (query.length >= 2 && a.id !== query.readUInt16BE(0)) fail('the answer has another id');
  if (transport === 'udp' && answer.length > (q !== null ? maxUdpSize(q) : 512)) fail(`a UDP answer of ${answer.length} bytes`);
  if ((a.questions?.length ?? 0) > 0) {
    const same = q !== null && a.questions!.length === q.questions?.length && a.questions!.every((x, i) => x.name === q.questions![i].name && x.type === q.questions![i].type);
    if (!same) fail('the answer echoes another question');
  }
}

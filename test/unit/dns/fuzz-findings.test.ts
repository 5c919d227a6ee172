// Queries the fuzzer (test/fuzz/targets/dns.ts) found the resolver mishandling, as literal bytes.
import { describe, expect, it } from 'vitest';
import { DnsCache } from '../../../src/control/dns/dns-cache.js';
import { decodeMessage } from '../../../src/control/dns/dns-message.js';
import { DnsStats } from '../../../src/control/dns/dns-stats.js';
import { NameTable } from '../../../src/control/dns/name-table.js';
import { DnsResolver } from '../../../src/control/dns/resolver.js';
import type { UpstreamForwarder } from '../../../src/control/dns/upstream.js';

describe('the resolver on fuzzed queries', () => {
  it('a label holding a dot is FORMERR, not an answer about another name', async () => {
    const t = new NameTable();
    t.setNetwork({ id: 'front', name: 'front', subnet: '10.1.0.0/24', internal: false });
    t.setEndpoint('front', { id: 'e3', name: 'client', ip: '10.1.0.4', aliases: [], sandbox: '1:3' });
    const resolver = new DnsResolver({ names: t, forwarder: null, cache: new DnsCache(4, () => 0), stats: new DnsStats() });
    // id 0xb852, RD, AD; one question: the single 2-byte label "c." (the dot is part of it), A IN.
    // It was answered NXDOMAIN for the question "c" (one 1-byte label): another name.
    const query = Buffer.from('b8520120000100000000000002632e0000010001', 'hex');
    const answer = await resolver.handle(query, '10.1.0.4', 'udp');
    expect(answer).not.toBeNull();
    const a = decodeMessage(answer!);
    expect(a).toMatchObject({ id: 0xb852, type: 'response', rcode: 'FORMERR', questions: [] });
  });

  it('a label ending in a line break is answered without a question, not with another name', async () => {
    const t = new NameTable();
    t.setNetwork({ id: 'front', name: 'front', subnet: '10.1.0.0/24', internal: false });
    const resolver = new DnsResolver({ names: t, forwarder: null, cache: new DnsCache(4, () => 0), stats: new DnsStats() });
    // id 0x1234, RD; one question: the labels "6", "0" and "\n", A IN. dns-packet decodes the name
    // as "6.0.\n" and encodes it as "6" and "0\n" (it strips a dot before a line break): the answer
    // named another question (found by the fuzzer in CI)
    const query = Buffer.from('12340100000100000000000001360130010a0000010001', 'hex');
    const answer = await resolver.handle(query, '10.1.0.4', 'udp');
    const a = decodeMessage(answer!);
    expect(a).toMatchObject({ id: 0x1234, type: 'response', questions: [] });
  });

  it("an upstream record that re-encodes to bytes no one can read is SERVFAIL, not passed on", async () => {
    const t = new NameTable();
    t.setNetwork({ id: 'front', name: 'front', subnet: '10.1.0.0/24', internal: false });
    t.setEndpoint('front', { id: 'e3', name: 'client', ip: '10.1.0.4', aliases: [], sandbox: '1:3' });
    // the query: id 0xd240, "ex(mple.com" type 0x5b01; the upstream's answer holds a record of that
    // unknown type whose data dns-packet decodes as text and encodes back longer (U+FFFD for each
    // invalid byte): the answer pontoon sent did not decode
    const input = Buffer.from(
      '00001dd24001200001000000000000076578286d706c6503636f6d005b0100010c3c818600010001000000000000076578286d706c6503636f6d005b0100010c3cffffffffffffffffffffffff00000000000000000000000000000000000000fc000000000000f9f9f9f9f901005b0100d70e',
      'hex',
    );
    const query = input.subarray(3, 3 + input.readUInt16BE(1));
    const upstream = input.subarray(3 + query.length);
    const forwarder = { resolve: async () => decodeMessage(upstream), close: () => undefined } as unknown as UpstreamForwarder;
    const resolver = new DnsResolver({ names: t, forwarder, cache: new DnsCache(4, () => 0), stats: new DnsStats() });
    const answer = await resolver.handle(query, '10.1.0.4', 'udp');
    const a = decodeMessage(answer!);
    expect(a).toMatchObject({ id: 0xd240, type: 'response', rcode: 'SERVFAIL', answers: [] });
  });
});

// The DNS fuzz target's input format (targets/dns.ts): [selector][query length u16][query][upstream answer].

/** A DNS target input: the query from the first client over UDP, the upstream's answer after it. */
export function dnsInput(query: Buffer, upstreamAnswer: Buffer = Buffer.alloc(0)): Buffer {
  const h = Buffer.alloc(3);
  h.writeUInt16BE(query.length, 1);
  return Buffer.concat([h, query, upstreamAnswer]);
}

// Counters of the embedded DNS: plain numbers bumped per query, read by prom-client in collect()
// (src/control/metrics.ts) when /metrics is scraped, like the data plane's counters.

/** The `type` label: bounded, every other query type counts as `other`. */
export const DNS_QUERY_TYPES = ['A', 'AAAA', 'PTR', 'other'] as const;
export type DnsQueryType = (typeof DNS_QUERY_TYPES)[number];

/**
 * The `result` label. local: answered from the name table; forwarded: an upstream's answer (also
 * from the cache) other than NXDOMAIN or SERVFAIL; nxdomain: NXDOMAIN, local or upstream;
 * servfail: no usable upstream answer in time, or the upstream's SERVFAIL; formerr: malformed
 * query; refused: not served by policy (client outside every network, nothing to forward to,
 * internal network, opcode other than QUERY).
 */
export const DNS_RESULTS = ['local', 'forwarded', 'nxdomain', 'servfail', 'formerr', 'refused'] as const;
export type DnsResult = (typeof DNS_RESULTS)[number];

/** Why a datagram or TCP message got no answer at all. */
export const DNS_DROP_REASONS = ['malformed', 'not_query'] as const;
export type DnsDropReason = (typeof DNS_DROP_REASONS)[number];

/** Upper bounds (seconds) of the upstream round-trip histogram. */
export const UPSTREAM_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

export function queryTypeLabel(type: string): DnsQueryType {
  return type === 'A' || type === 'AAAA' || type === 'PTR' ? type : 'other';
}

export class DnsStats {
  /** [type][result], flattened */
  readonly queries = new Float64Array(DNS_QUERY_TYPES.length * DNS_RESULTS.length);
  readonly drops = new Float64Array(DNS_DROP_REASONS.length);
  cacheHits = 0;
  /** set by the metrics registry; called once per upstream exchange (cache misses only) */
  upstreamObserver: ((seconds: number) => void) | null = null;

  count(type: DnsQueryType, result: DnsResult): void {
    this.queries[DNS_QUERY_TYPES.indexOf(type) * DNS_RESULTS.length + DNS_RESULTS.indexOf(result)]++;
  }

  queriesOf(type: DnsQueryType, result: DnsResult): number {
    return this.queries[DNS_QUERY_TYPES.indexOf(type) * DNS_RESULTS.length + DNS_RESULTS.indexOf(result)]!;
  }

  drop(reason: DnsDropReason): void {
    this.drops[DNS_DROP_REASONS.indexOf(reason)]++;
  }

  dropsOf(reason: DnsDropReason): number {
    return this.drops[DNS_DROP_REASONS.indexOf(reason)]!;
  }

  upstreamDuration(seconds: number): void {
    this.upstreamObserver?.(seconds);
  }
}

import { describe, expect, it } from 'vitest';
import { DataplaneCounters } from '../../../src/dataplane/counters.js';
import { DnsStats } from '../../../src/control/dns/dns-stats.js';
import { buildRegistry } from '../../../src/control/metrics.js';

function registry(dns: DnsStats | null) {
  return buildRegistry({
    counters: new DataplaneCounters(),
    portNames: () => new Map(),
    inventory: () => ({ networks: 0, endpoints: 0 }),
    conntrackMax: 1024,
    overlays: () => [],
    dns,
  });
}

describe('DNS metrics', () => {
  it('exports queries by type and result, cache hits, drops and the upstream histogram', async () => {
    const stats = new DnsStats();
    const r = registry(stats);
    stats.count('A', 'local');
    stats.count('A', 'local');
    stats.count('PTR', 'nxdomain');
    stats.count('other', 'formerr');
    stats.cacheHits = 3;
    stats.drop('malformed');
    stats.upstreamDuration(0.003);
    stats.upstreamDuration(0.2);
    const text = await r.metrics();
    expect(text).toContain('pontoon_dns_queries_total{type="A",result="local"} 2');
    expect(text).toContain('pontoon_dns_queries_total{type="PTR",result="nxdomain"} 1');
    expect(text).toContain('pontoon_dns_queries_total{type="other",result="formerr"} 1');
    expect(text).toContain('pontoon_dns_queries_total{type="AAAA",result="servfail"} 0');
    expect(text).toContain('pontoon_dns_cache_hits_total 3');
    expect(text).toContain('pontoon_dns_dropped_total{reason="malformed"} 1');
    expect(text).toContain('pontoon_dns_upstream_duration_seconds_bucket{le="0.005"} 1');
    expect(text).toContain('pontoon_dns_upstream_duration_seconds_bucket{le="0.25"} 2');
    expect(text).toContain('pontoon_dns_upstream_duration_seconds_count 2');
    // bounded label values: 4 types x 6 results
    expect(text.split('\n').filter((l) => l.startsWith('pontoon_dns_queries_total{'))).toHaveLength(24);
  });

  it('has no DNS metrics when the embedded DNS is off', async () => {
    expect(await registry(null).metrics()).not.toContain('pontoon_dns_');
  });
});

import { describe, expect, it } from 'vitest';
import { DataplaneCounters } from '../../../src/dataplane/counters.js';
import { buildRegistry } from '../../../src/control/metrics.js';
import { PcpStats } from '../../../src/control/pcp/pcp-stats.js';

describe('NAT-PMP/PCP metrics', () => {
  it('exports requests, responses by result, drops, mappings made, removed and held, with bounded labels', async () => {
    const stats = new PcpStats();
    let held = 2;
    const r = buildRegistry({
      counters: new DataplaneCounters(),
      portNames: () => new Map(),
      inventory: () => ({ networks: 0, endpoints: 0 }),
      conntrackMax: 1024,
      overlays: () => [],
      pcp: { stats, mappings: () => held },
    });
    stats.request('pcp', 'map');
    stats.request('pcp', 'map');
    stats.request('natpmp', 'public_address');
    stats.result('pcp', 0);
    stats.result('pcp', 8);
    stats.result('natpmp', 2);
    stats.drop('short');
    stats.created = 5;
    stats.removed('expired', 2);
    stats.removed('disconnected');
    held = 3;
    const text = await r.metrics();
    expect(text).toContain('pontoon_pcp_requests_total{protocol="pcp",opcode="map"} 2');
    expect(text).toContain('pontoon_pcp_requests_total{protocol="natpmp",opcode="public_address"} 1');
    expect(text).toContain('pontoon_pcp_responses_total{protocol="pcp",result="success"} 1');
    expect(text).toContain('pontoon_pcp_responses_total{protocol="pcp",result="no_resources"} 1');
    expect(text).toContain('pontoon_pcp_responses_total{protocol="natpmp",result="not_authorized"} 1');
    expect(text).toContain('pontoon_pcp_dropped_total{reason="short"} 1');
    expect(text).toContain('pontoon_pcp_mappings_created_total 5');
    expect(text).toContain('pontoon_pcp_mappings_removed_total{reason="expired"} 2');
    expect(text).toContain('pontoon_pcp_mappings_removed_total{reason="disconnected"} 1');
    expect(text).toContain('pontoon_pcp_mappings 3');
    // 2 protocols x 7 opcodes; 14 PCP + 6 NAT-PMP results
    expect(text.split('\n').filter((l) => l.startsWith('pontoon_pcp_requests_total{'))).toHaveLength(14);
    expect(text.split('\n').filter((l) => l.startsWith('pontoon_pcp_responses_total{'))).toHaveLength(20);
  });
});

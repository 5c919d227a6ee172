// Counters of the NAT-PMP/PCP server: plain numbers bumped per request, read by prom-client in
// collect() (src/control/metrics.ts) when /metrics is scraped, like the embedded DNS's.

import { NATPMP_RESULTS, PCP_RESULTS } from './pcp-codes.js';
import { PCP_DROP_REASONS, type PcpDropReason } from './request-decode.js';

/** The `protocol` label. */
export const PCP_PROTOCOLS = ['pcp', 'natpmp'] as const;
export type PcpProtocol = (typeof PCP_PROTOCOLS)[number];
/** The `opcode` label: bounded, anything else is `other`. */
export const PCP_OPCODES = ['announce', 'map', 'peer', 'public_address', 'map_udp', 'map_tcp', 'other'] as const;
export type PcpOpcodeLabel = (typeof PCP_OPCODES)[number];
/** Why an explicit mapping went away: the `reason` label of the removal counter. */
export const MAPPING_REMOVALS = ['deleted', 'expired', 'disconnected', 'lost'] as const;
export type MappingRemoval = (typeof MAPPING_REMOVALS)[number];

export class PcpStats {
  readonly requests = new Map<string, number>();
  readonly results = new Map<string, number>();
  readonly drops = new Float64Array(PCP_DROP_REASONS.length);
  readonly removals = new Float64Array(MAPPING_REMOVALS.length);
  created = 0;

  request(protocol: PcpProtocol, opcode: PcpOpcodeLabel): void {
    const k = `${protocol}/${opcode}`;
    this.requests.set(k, (this.requests.get(k) ?? 0) + 1);
  }

  /** `code` is the protocol's own result code. */
  result(protocol: PcpProtocol, code: number): void {
    const names: readonly string[] = protocol === 'pcp' ? PCP_RESULTS : NATPMP_RESULTS;
    const k = `${protocol}/${names[code] ?? 'other'}`;
    this.results.set(k, (this.results.get(k) ?? 0) + 1);
  }

  drop(reason: PcpDropReason): void {
    this.drops[PCP_DROP_REASONS.indexOf(reason)]++;
  }

  removed(reason: MappingRemoval, n = 1): void {
    this.removals[MAPPING_REMOVALS.indexOf(reason)] += n;
  }

  requestsOf(protocol: PcpProtocol, opcode: PcpOpcodeLabel): number {
    return this.requests.get(`${protocol}/${opcode}`) ?? 0;
  }

  resultsOf(protocol: PcpProtocol, result: string): number {
    return this.results.get(`${protocol}/${result}`) ?? 0;
  }

  dropsOf(reason: PcpDropReason): number {
    return this.drops[PCP_DROP_REASONS.indexOf(reason)]!;
  }

  removalsOf(reason: MappingRemoval): number {
    return this.removals[MAPPING_REMOVALS.indexOf(reason)]!;
  }
}

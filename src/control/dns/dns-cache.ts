// Answers of upstream resolvers, kept as long as their TTLs say (RFC 2308 for negative answers),
// bounded in size: a Map in least-recently-used order, the oldest entry evicted first. TTLs handed
// out are aged by the time spent in the cache.

import { type Answer, type DnsMessage, Rcode, type Question, rcodeOf } from './dns-message.js';
import { canonicalName } from './name-table.js';

/** No answer is kept longer than a day, whatever its TTL. */
export const MAX_CACHE_TTL_SECONDS = 86_400;

export interface CachedAnswer {
  rcode: number;
  /** the upstream's AD bit (authenticated data) */
  authenticated: boolean;
  answers: Answer[];
  authorities: Answer[];
  /** without the OPT record */
  additionals: Answer[];
}

interface Entry {
  storedAt: number;
  expiresAt: number;
  value: CachedAnswer;
}

export function cacheKey(q: Question): string {
  return `${q.type}/${q.class ?? 'IN'}/${canonicalName(q.name)}`;
}

function records(list: Answer[] | undefined): Answer[] {
  return (list ?? []).filter((a) => a.type !== 'OPT');
}

function ttlOf(a: Answer): number {
  return 'ttl' in a && typeof a.ttl === 'number' ? a.ttl : 0;
}

/**
 * How long (seconds) an upstream response may be cached, or null: positive answers by their lowest
 * TTL, NXDOMAIN and empty answers by the SOA of the authority section (the lower of its TTL and its
 * minimum field), nothing without an SOA, nothing truncated, no other response code.
 */
export function cacheTtl(m: DnsMessage): number | null {
  if (m.flag_tc) return null;
  const rcode = rcodeOf(m);
  if (rcode !== Rcode.NoError && rcode !== Rcode.NxDomain) return null;
  const answers = records(m.answers);
  const authorities = records(m.authorities);
  let ttl: number;
  if (rcode === Rcode.NoError && answers.length > 0) {
    ttl = Math.min(...answers.map(ttlOf), ...authorities.map(ttlOf));
  } else {
    const soa = authorities.find((a) => a.type === 'SOA');
    if (soa === undefined || soa.type !== 'SOA') return null;
    ttl = Math.min(ttlOf(soa), soa.data.minimum ?? 0);
  }
  if (!(ttl > 0)) return null;
  return Math.min(ttl, MAX_CACHE_TTL_SECONDS);
}

export class DnsCache {
  private readonly entries = new Map<string, Entry>();

  constructor(
    readonly maxEntries: number,
    private readonly now: () => number = Date.now,
  ) {}

  get size(): number {
    return this.entries.size;
  }

  /** The answer with TTLs reduced by its age, or null when absent or expired. */
  get(key: string): CachedAnswer | null {
    const e = this.entries.get(key);
    if (e === undefined) return null;
    const now = this.now();
    if (now >= e.expiresAt) {
      this.entries.delete(key);
      return null;
    }
    // most recently used last
    this.entries.delete(key);
    this.entries.set(key, e);
    const age = Math.floor((now - e.storedAt) / 1000);
    const aged = (list: Answer[]): Answer[] => list.map((a) => ('ttl' in a ? { ...a, ttl: Math.max(0, ttlOf(a) - age) } : a) as Answer);
    const v = e.value;
    return { rcode: v.rcode, authenticated: v.authenticated, answers: aged(v.answers), authorities: aged(v.authorities), additionals: aged(v.additionals) };
  }

  /** Keeps an upstream response if it is cacheable; returns whether it did. */
  put(key: string, m: DnsMessage): boolean {
    if (this.maxEntries <= 0) return false;
    const ttl = cacheTtl(m);
    if (ttl === null) return false;
    const now = this.now();
    this.entries.delete(key);
    this.entries.set(key, {
      storedAt: now,
      expiresAt: now + ttl * 1000,
      value: {
        rcode: rcodeOf(m),
        authenticated: m.flag_ad,
        answers: records(m.answers),
        authorities: records(m.authorities),
        additionals: records(m.additionals),
      },
    });
    while (this.entries.size > this.maxEntries) {
      const oldest = this.entries.keys().next().value as string;
      this.entries.delete(oldest);
    }
    return true;
  }

  clear(): void {
    this.entries.clear();
  }
}

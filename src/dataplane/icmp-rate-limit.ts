// The rate limit on the ICMP errors the gateway sends (Linux's icmp_ratelimit): a token bucket of
// `burst` tokens refilled at `ratePerSecond`.

import type { IcmpLimiter } from './context.js';

export class IcmpTokenBucket implements IcmpLimiter {
  private tokens: number;
  private refilled = 0;

  constructor(
    private readonly ratePerSecond: number,
    private readonly burst: number,
  ) {
    this.tokens = burst;
  }

  /** Takes one token at time `now` (ms); false when none is left. */
  take(now: number): boolean {
    const elapsed = now - this.refilled;
    if (elapsed > 0) {
      this.tokens = Math.min(this.burst, this.tokens + (elapsed * this.ratePerSecond) / 1000);
      this.refilled = now;
    }
    if (this.tokens < 1) return false;
    this.tokens--;
    return true;
  }
}

// Live state that survives the process: the tables' entry columns (conntrack, NAT mappings,
// published ports) found in memory a previous process wrote (src/ports/live-state-file.ts maps
// it) are adopted here. The shape is "adopt, confirm, sweep the unconfirmed": every entry is
// checked and the derived state (indexes, free lists, refs, owners, reserved ports) is rebuilt
// from the entries alone; what the control plane owns (published ports, pinned mappings)
// is adopted unconfirmed and removed unless the control plane names it again before it declares
// its restore done (sweepUnconfirmed). The forwarding database and neighbours are relearned.

import { CtFlag, Dir } from './conntrack.js';
import { IP_PROTO_ICMP } from '../wire/ipv4.js';
import { IP_PROTO_ICMPV6 } from '../wire/ipv6.js';
import { natClass } from './nat-ports.js';
import type { Tables } from './tables.js';

export interface AdoptionReport {
  flows: number;
  mappings: number;
  published: number;
  /** connection entries that had expired meanwhile */
  expired: number;
  /** entries found that did not validate (conntrack and published rules) */
  dropped: number;
}

/**
 * Adopts what the columns hold. `shiftMs` moves the previous process's clock onto this one's
 * (its expiries are in its own performance.now() milliseconds); entries expired by `now` go.
 */
export function adoptTables(t: Tables, shiftMs: number, now: number): AdoptionReport {
  const ct = t.conntrack;
  const maps = t.mappings;
  maps.beginAdoption();
  const pub = t.published.adopt((proto, port, family) => maps.reserve(natClass(family, proto), port, true));
  maps.claimPins();
  const flows = ct.adopt(shiftMs, now, (e) => {
    const m = ct.mapping[e];
    const flags = ct.flags[e];
    if (m < 0) return (flags & CtFlag.Snat) === 0 || (flags & CtFlag.Dnat) !== 0; // a masquerade flow holds a mapping
    const o = e * 2 + Dir.Original;
    const r = e * 2 + Dir.Reply;
    const proto = ct.proto[e];
    const cls = natClass(ct.family[e], proto);
    const s6 = ct.src6;
    if ((flags & (CtFlag.Dnat | CtFlag.Snat)) === CtFlag.Dnat) {
      // from outside to a mapping (pinned, or endpoint-independent filtering): the inside endpoint answers, the outside port was called
      return maps.claim6(m, cls, ct.src[r], s6[r * 3], s6[r * 3 + 1], s6[r * 3 + 2], ct.sport[r], ct.dport[o]);
    }
    // the mapping is the original direction's inside endpoint; the reply comes back to its outside port
    const out = proto === IP_PROTO_ICMP || proto === IP_PROTO_ICMPV6 ? ct.sport[r] : ct.dport[r];
    return maps.claim6(m, cls, ct.src[o], s6[o * 3], s6[o * 3 + 1], s6[o * 3 + 2], ct.sport[o], out);
  });
  const mappings = maps.finishAdoption();
  return { flows: flows.adopted, mappings, published: pub.adopted, expired: flows.expired, dropped: flows.dropped + pub.dropped };
}

/** Ends the restore of the pins (PCP, NAT-PMP): adopted ones the control plane did not pin again are unpinned. The number removed. */
export function sweepUnconfirmedPins(t: Tables): number {
  return t.mappings.sweepUnconfirmedPins();
}

/** Ends the restore: adopted rules the control plane did not confirm are removed. The number removed. */
export function sweepUnconfirmed(t: Tables): number {
  return t.published.sweepUnconfirmed((proto, port, family) => t.mappings.reserve(natClass(family, proto), port, false));
}

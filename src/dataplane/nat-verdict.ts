// What the NAT stage decided about a packet (nat44 and its ICMP-error half return one).

export const NatVerdict = {
  Untracked: 0, // NAT does not concern the packet: route it as it is
  Translated: 1, // part of a tracked flow, rewritten: route it (isolation rules do not apply)
  Drop: 2, // dropped and counted (maybe answered)
} as const;

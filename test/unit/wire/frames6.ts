/**
 * Literal IPv6 frames for the wire tests.
 *
 * Provenance: captured with `tcpdump -i <veth> -w` on the router side of a veth pair between two
 * throw-away network namespaces, Linux 6.x: host A (02:42:ac:11:00:02, fd00:20::2/64, link-local
 * fe80::42:acff:fe11:2) and router B (02:42:ac:11:00:01, fd00:20::1/64, fe80::42:acff:fe11:1,
 * forwarding on), B routing fd00:99::/64 over an MTU-1280 veth to a third namespace. The kernel's
 * own traffic: A's interface coming up (DAD probes with the RFC 7527 nonce option, router
 * solicitation, MLDv2 report), `ping -6 fd00:20::1` (NS/NA of the resolution, echo),
 * `ping -6 -t 1 fd00:99::2` (time exceeded), `ping -6 -M do -s 1400 fd00:99::2` (packet too big),
 * a raw socket sending next header 253 (parameter problem code 1). Sent with scapy 2.5 from A and
 * answered by B's kernel: hop-by-hop + destination options + an atomic fragment header around an
 * echo request (echo reply), a routing header type 0 with segments left 1 (parameter problem code
 * 0, pointer 42), a hop-by-hop option of unknown type 0x9e (parameter problem code 2, pointer 42).
 * Crafted with scapy, not sent: the router advertisement (as pontoon's gateway sends it: SLLA,
 * MTU 1500, prefix fd00:20::/64 L+A) and a redirect. ICMPv6 checksums are verbatim (veth does
 * not offload them); tcpdump and tshark validated every one. The UDP and TCP frames come from a
 * second pair of namespaces with `ethtool -K <veth> tx off` (so the kernel computed the full
 * checksums): Python sockets, UDP fd00:20::2.40000 -> fd00:20::1.5353 and a TCP connect to :8080.
 */
import { hex, pingPattern, refChecksum } from './frames.js';

export const MAC_HOST = 0x0242ac110002;
export const MAC_ROUTER = 0x0242ac110001;
export const MAC_ROUTER_OTHER = 0x0242ac110003;
/** fd00:20::2, fd00:20::1, fd00:99::2 and the two link-locals, as words. */
export const V6_HOST = [0xfd000020, 0, 0, 2] as const;
export const V6_ROUTER = [0xfd000020, 0, 0, 1] as const;
export const V6_FAR = [0xfd000099, 0, 0, 2] as const;
export const V6_HOST_LL = [0xfe800000, 0, 0x0042acff, 0xfe110002] as const;
export const V6_ROUTER_LL = [0xfe800000, 0, 0x0042acff, 0xfe110001] as const;

// ---------------------------------------------------------------- NDP
/** DAD probe for fd00:20::2: unspecified source, to its solicited-node group, nonce option (14), no SLLA. */
export const NDP_DAD_NS_FRAME = hex(`
  3333ff000002 0242ac110002 86dd
  60000000 0020 3a ff 00000000000000000000000000000000 ff0200000000000000000001ff000002
  87 00 a31c 00000000 fd000020000000000000000000000002
  0e 01 130db64b0305`);

/** Resolution of fd00:20::1 by A (ping): from fd00:20::2 to ff02::1:ff00:1, SLLA 02:42:ac:11:00:02. */
export const NDP_NS_FRAME = hex(`
  3333ff000001 0242ac110002 86dd
  60000000 0020 3a ff fd000020000000000000000000000002 ff0200000000000000000001ff000001
  87 00 d103 00000000 fd000020000000000000000000000001
  01 01 0242ac110002`);

/** B's answer: R, S, O set, target fd00:20::1, TLLA 02:42:ac:11:00:01. */
export const NDP_NA_FRAME = hex(`
  0242ac110002 0242ac110001 86dd
  60000000 0020 3a ff fd000020000000000000000000000001 fd000020000000000000000000000002
  88 00 efe7 e0000000 fd000020000000000000000000000001
  02 01 0242ac110001`);

/** Router solicitation from A's link-local when its interface came up, SLLA. */
export const NDP_RS_FRAME = hex(`
  333300000002 0242ac110002 86dd
  60000000 0010 3a ff fe800000000000000042acfffe110002 ff020000000000000000000000000002
  85 00 2283 00000000
  01 01 0242ac110002`);

/** scapy: RA from B's link-local to ff02::1: hop limit 64, M/O clear, preference medium, lifetime 1800 s, SLLA, MTU 1500, fd00:20::/64 L A valid 86400 preferred 14400. */
export const NDP_RA_FRAME = hex(`
  333300000001 0242ac110001 86dd
  60000000 0040 3a ff fe800000000000000042acfffe110001 ff020000000000000000000000000001
  86 00 04ca 40 00 0708 00000000 00000000
  01 01 0242ac110001
  05 01 0000 000005dc
  03 04 40 c0 00015180 00003840 00000000 fd000020000000000000000000000000`);

/** scapy: redirect from B to A: fd00:99::2 is better reached via fe80::42:acff:fe11:3, TLLA 02:42:ac:11:00:03. */
export const NDP_REDIRECT_FRAME = hex(`
  0242ac110002 0242ac110001 86dd
  60000000 0030 3a ff fe800000000000000042acfffe110001 fd000020000000000000000000000002
  89 00 77d1 00000000 fe800000000000000042acfffe110003 fd000099000000000000000000000002
  02 01 0242ac110003`);

/** MLDv2 report from A's link-local: hop-by-hop (router alert, PadN) before ICMPv6, hop limit 1. */
export const MLD2_REPORT_FRAME = hex(`
  333300000016 0242ac110002 86dd
  60000000 0038 00 01 fe800000000000000042acfffe110002 ff020000000000000000000000000016
  3a 00 0502 0000 0100
  8f 00 c384 0000 0002
  04 00 0000 ff0200000000000000000001ff110002
  04 00 0000 ff0200000000000000000001ff000002`);

// ---------------------------------------------------------------- echo
/** ping -6 -s 16 fd00:20::1: id 0x0ae6 seq 1, 16 bytes of timestamp, flow label 0x0d786. */
export const ECHO6_REQUEST_FRAME = hex(`
  0242ac110001 0242ac110002 86dd
  6000d786 0018 3a 40 fd000020000000000000000000000002 fd000020000000000000000000000001
  80 00 0e54 0ae6 0001
  6e04116b00000000 e5bd070000000000`);

export const ECHO6_REPLY_FRAME = hex(`
  0242ac110002 0242ac110001 86dd
  6002d79f 0018 3a 40 fd000020000000000000000000000001 fd000020000000000000000000000002
  81 00 0d54 0ae6 0001
  6e04116b00000000 e5bd070000000000`);

// ---------------------------------------------------------------- errors
/** ping -6 -t 1 -s 16 fd00:99::2: the request with hop limit 1. */
export const TTL1_REQUEST6_FRAME = hex(`
  0242ac110001 0242ac110002 86dd
  6003d016 0018 3a 01 fd000020000000000000000000000002 fd000099000000000000000000000002
  80 00 a2c3 0ae7 0001
  6e04116b00000000 50d3070000000000`);

/** B: time exceeded (hop limit exceeded in transit), quoting the whole 64-byte request. */
export const TIME_EXCEEDED6_FRAME = hex(`
  0242ac110002 0242ac110001 86dd
  6007a441 0048 3a 40 fd000020000000000000000000000001 fd000020000000000000000000000002
  03 00 9857 00000000
  6003d016 0018 3a 01 fd000020000000000000000000000002 fd000099000000000000000000000002
  80 00 a2c3 0ae7 0001
  6e04116b00000000 50d3070000000000`);

const BIG_REQUEST_IP = `
  6003d016 0580 3a 40 fd000020000000000000000000000002 fd000099000000000000000000000002
  80 00 fd2c 0ae8 0001
  6e04116b00000000 85e4070000000000`;

/** ping -6 -M do -s 1400 fd00:99::2: the 1448-byte request B cannot forward over the MTU-1280 hop. */
export const BIG_REQUEST6_FRAME = hex(`
  0242ac110001 0242ac110002 86dd ${BIG_REQUEST_IP} ${pingPattern(1384)}`);

/** B: packet too big, MTU 1280, quoting the first 1232 bytes of the request (a 1280-byte packet). */
export const PACKET_TOO_BIG_FRAME = hex(`
  0242ac110002 0242ac110001 86dd
  6009de49 04d8 3a 40 fd000020000000000000000000000001 fd000020000000000000000000000002
  02 00 68cd 00000500
  ${BIG_REQUEST_IP} ${pingPattern(1232 - 64)}`);

/** A raw socket: next header 253 (RFC 3692 experimental), 8 bytes "pontoon!". */
export const UNKNOWN_NH_FRAME = hex(`
  0242ac110001 0242ac110002 86dd
  600ee764 0008 fd 40 fd000020000000000000000000000002 fd000020000000000000000000000001
  706f6e746f6f6e21`);

/** B: parameter problem code 1 (unrecognized next header), pointer 6. */
export const PARAM_PROBLEM_NH_FRAME = hex(`
  0242ac110002 0242ac110001 86dd
  600fd555 0038 3a 40 fd000020000000000000000000000001 fd000020000000000000000000000002
  04 01 05cc 00000006
  600ee764 0008 fd 40 fd000020000000000000000000000002 fd000020000000000000000000000001
  706f6e746f6f6e21`);

// ---------------------------------------------------------------- extension headers
/** scapy: hop-by-hop (PadN 4) + destination options (PadN 4) + atomic fragment (id 0x12345678) + echo request id 0x4242 seq 1 "pontoon!". */
export const EXT_CHAIN_FRAME = hex(`
  0242ac110001 0242ac110002 86dd
  60000000 0028 00 40 fd000020000000000000000000000002 fd000020000000000000000000000001
  3c 00 0104 00000000
  2c 00 0104 00000000
  3a 00 0000 12345678
  80 00 86b8 4242 0001 706f6e746f6f6e21`);

/** B's echo reply to it (flow label 0x2d79f). */
export const EXT_CHAIN_REPLY_FRAME = hex(`
  0242ac110002 0242ac110001 86dd
  6002d79f 0010 3a 40 fd000020000000000000000000000001 fd000020000000000000000000000002
  81 00 85b8 4242 0001 706f6e746f6f6e21`);

/** scapy: routing header type 0, segments left 1, address fd00:99::2, then echo request seq 2. */
export const RH0_FRAME = hex(`
  0242ac110001 0242ac110002 86dd
  60000000 0028 2b 40 fd000020000000000000000000000002 fd000020000000000000000000000001
  3a 02 00 01 00000000 fd000099000000000000000000000002
  80 00 863d 4242 0002 706f6e746f6f6e21`);

/** B: parameter problem code 0 (erroneous header field), pointer 42 (the routing type). */
export const RH0_PARAM_PROBLEM_FRAME = hex(`
  0242ac110002 0242ac110001 86dd
  600e6073 0058 3a 40 fd000020000000000000000000000001 fd000020000000000000000000000002
  04 00 3ebb 0000002a
  60000000 0028 2b 40 fd000020000000000000000000000002 fd000020000000000000000000000001
  3a 02 00 01 00000000 fd000099000000000000000000000002
  80 00 863d 4242 0002 706f6e746f6f6e21`);

/** scapy: hop-by-hop with option type 0x9e (action 10: discard, report), 4 zero bytes, then echo request seq 3. */
export const HBH_UNKNOWN_FRAME = hex(`
  0242ac110001 0242ac110002 86dd
  60000000 0018 00 40 fd000020000000000000000000000002 fd000020000000000000000000000001
  3a 00 9e 04 00000000
  80 00 86b6 4242 0003 706f6e746f6f6e21`);

/** B: parameter problem code 2 (unrecognized option), pointer 42 (the option type). */
export const HBH_PARAM_PROBLEM_FRAME = hex(`
  0242ac110002 0242ac110001 86dd
  600e870e 0048 3a 40 fd000020000000000000000000000001 fd000020000000000000000000000002
  04 02 c8f9 0000002a
  60000000 0018 00 40 fd000020000000000000000000000002 fd000020000000000000000000000001
  3a 00 9e 04 00000000
  80 00 86b6 4242 0003 706f6e746f6f6e21`);

// ---------------------------------------------------------------- UDP and TCP over IPv6
/** UDP fd00:20::2.40000 -> fd00:20::1.5353, "pontoon over ipv6" (17 bytes), checksum 0xfc11. */
export const UDP6_FRAME = hex(`
  0242ac110001 0242ac110002 86dd
  60050b55 0019 11 40 fd000020000000000000000000000002 fd000020000000000000000000000001
  9c40 14e9 0019 fc11
  706f6e746f6f6e206f7665722069707636`);

/** Linux SYN over IPv6 to :8080: MSS 1440, SACK_PERM, TS 884862008/0, NOP, WS 10; window 64800. */
export const TCP6_SYN_FRAME = hex(`
  0242ac110001 0242ac110002 86dd
  6006c4a1 0028 06 40 fd000020000000000000000000000002 fd000020000000000000000000000001
  9c41 1f90 7c5fbaca 00000000 a0 02 fd20 3cba 0000
  020405a0 0402 080a 34bdec38 00000000 01 03030a`);

/**
 * Reference ICMPv6/UDP/TCP checksum over IPv6, written from RFC 8200 8.1 independently of
 * src/wire: the pseudo-header's bytes (src, dst, 32-bit length, 3 zero bytes, next header)
 * concatenated with the message, summed by frames.ts's refChecksum. Over a message that already
 * holds a correct checksum it returns 0.
 */
export function refChecksum6(frame: Buffer, ipOff: number, l4Off: number, l4Len: number, nextHeader: number): number {
  const pseudo = Buffer.alloc(40);
  frame.copy(pseudo, 0, ipOff + 8, ipOff + 40);
  pseudo.writeUInt32BE(l4Len, 32);
  pseudo[39] = nextHeader;
  return refChecksum(Buffer.concat([pseudo, frame.subarray(l4Off, l4Off + l4Len)]));
}

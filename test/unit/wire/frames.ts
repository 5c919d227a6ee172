/**
 * Literal frames for the wire tests, and a reference checksum written
 * independently of src/wire/checksum.ts (modular arithmetic instead of
 * carry folding) to cross-check every checksum in them.
 *
 * Provenance: captured with tcpdump on a veth pair between two throw-away
 * network namespaces (02:42:ac:11:00:02 / 172.17.0.2 <-> 02:42:ac:11:00:01 /
 * 172.17.0.1, with 10.0.0.0/8 routed via 172.17.0.1 and an MTU-1000 link
 * behind it), running `ping`, `ping -R`, `ping -t 1`, `ping -M do -s 1200`,
 * `dig`, and a Python TCP client/server. veth offloads TCP/UDP checksums, so
 * tcpdump saw the partial (pseudo-header-only) values in those two fields;
 * they were completed to what a NIC puts on the wire and cross-checked with
 * tshark's checksum validation. IP and ICMP checksums are verbatim.
 * Fields are separated by spaces for readability.
 */

/** Hex with arbitrary whitespace to a Buffer. */
export function hex(s: string): Buffer {
  const clean = s.replace(/\s+/g, '');
  if (!/^(?:[0-9a-f]{2})*$/i.test(clean)) throw new Error(`bad hex literal: ${s}`);
  return Buffer.from(clean, 'hex');
}

/**
 * Reference Internet checksum: the ones-complement sum of 16-bit words equals
 * the plain sum mod 0xffff (a non-zero multiple of 0xffff reading as 0xffff).
 * Returns the value to store; over data that already contains a correct
 * checksum it returns 0.
 */
export function refChecksum(bytes: Uint8Array): number {
  let total = 0;
  for (let i = 0; i < bytes.length; i++) total += i % 2 === 0 ? bytes[i] * 256 : bytes[i];
  let r = total % 0xffff;
  if (r === 0 && total !== 0) r = 0xffff;
  return 0xffff - r;
}

/** Reference TCP/UDP checksum: pseudo-header bytes concatenated with the segment. */
export function refL4Checksum(srcIp: number, dstIp: number, proto: number, segment: Uint8Array): number {
  const pseudo = Buffer.alloc(12);
  pseudo.writeUInt32BE(srcIp >>> 0, 0);
  pseudo.writeUInt32BE(dstIp >>> 0, 4);
  pseudo[9] = proto;
  pseudo.writeUInt16BE(segment.length, 10);
  return refChecksum(Buffer.concat([pseudo, segment]));
}

/** Copy of `b` with the 16-bit field at `at` zeroed (to recompute a stored checksum). */
export function zeroed(b: Uint8Array, at: number): Buffer {
  const c = Buffer.from(b);
  c[at] = 0;
  c[at + 1] = 0;
  return c;
}

export const MAC_A = 0x0242ac110002; // 02:42:ac:11:00:02
export const MAC_B = 0x0242ac110001; // 02:42:ac:11:00:01
export const IP_A = 0xac110002; // 172.17.0.2
export const IP_B = 0xac110001; // 172.17.0.1
export const IP_FAR = 0x0a000001; // 10.0.0.1

/** `ping` payload after the 16-byte timestamp: 0x10, 0x11, ... wrapping at 256. */
export function pingPattern(n: number): string {
  let s = '';
  for (let i = 0; i < n; i++) s += ((0x10 + i) & 0xff).toString(16).padStart(2, '0');
  return s;
}

const PING_DATA = `11c8036b00000000 26cc0e0000000000 ${pingPattern(40)}`;

// ---------------------------------------------------------------- ARP
/** Who has 172.17.0.1? Tell 172.17.0.2 (42 bytes, no padding on veth). */
export const ARP_REQUEST = hex(`
  ffffffffffff 0242ac110002 0806
  0001 0800 06 04 0001 0242ac110002 ac110002 000000000000 ac110001`);

/** 172.17.0.1 is at 02:42:ac:11:00:01. */
export const ARP_REPLY = hex(`
  0242ac110002 0242ac110001 0806
  0001 0800 06 04 0002 0242ac110001 ac110001 0242ac110002 ac110002`);

// ---------------------------------------------------------------- ICMP echo
/** ping 172.17.0.1: echo request id 0x1a10 seq 1, 56 data bytes, DF, ttl 64. */
export const ICMP_ECHO_REQUEST_FRAME = hex(`
  0242ac110001 0242ac110002 0800
  45 00 0054 56d6 4000 40 01 8bad ac110002 ac110001
  08 00 d51c 1a10 0001
  ${PING_DATA}`);

/** The matching echo reply (no DF, ident 0x3b00). */
export const ICMP_ECHO_REPLY_FRAME = hex(`
  0242ac110002 0242ac110001 0800
  45 00 0054 3b00 0000 40 01 e783 ac110001 ac110002
  00 00 dd1c 1a10 0001
  ${PING_DATA}`);

/** ping -R -s 8: echo reply with a 40-byte Record Route option (IHL 15, 3 of 9 slots filled). */
export const ICMP_ECHO_REPLY_RR_FRAME = hex(`
  0242ac110002 0242ac110001 0800
  4f 00 004c 7d33 0000 40 01 4b2d ac110001 ac110002
  07 27 10 ac110002 ac110001 ac110001 00000000 00000000 00000000 00000000 00000000 00000000 00
  00 00 d5c4 1e2a 0001
  0001020304050607`);

// ---------------------------------------------------------------- UDP / DNS
/** dig @172.17.0.1 example.com A (+noedns): 37-byte UDP datagram, 29-byte DNS query. */
export const DNS_QUERY_FRAME = hex(`
  0242ac110001 0242ac110002 0800
  45 00 0039 81bd 0000 40 11 a0d1 ac110002 ac110001
  870d 0035 0025 7e6d
  d240 0120 0001 0000 0000 0000 07 6578616d706c65 03 636f6d 00 0001 0001`);

/** The answer: example.com A 93.184.215.14 TTL 300. */
export const DNS_RESPONSE_FRAME = hex(`
  0242ac110002 0242ac110001 0800
  45 00 0049 789e 4000 40 11 69e0 ac110001 ac110002
  0035 870d 0035 f7f5
  d240 8180 0001 0001 0000 0000 07 6578616d706c65 03 636f6d 00 0001 0001
  c00c 0001 0001 0000012c 0004 5db8d70e`);

/** dig -p 54 (nobody listening): the query that triggers PORT_UNREACHABLE below. */
export const DNS_QUERY_PORT54_FRAME = hex(`
  0242ac110001 0242ac110002 0800
  45 00 0039 aa11 0000 40 11 787d ac110002 ac110001
  c50d 0036 0025 cc80
  462c 0120 0001 0000 0000 0000 07 6578616d706c65 03 636f6d 00 0001 0001`);

// ---------------------------------------------------------------- ICMP errors
/**
 * Port unreachable from 172.17.0.1 (TOS 0xc0), quoting the whole query. The
 * quoted UDP checksum 0x585c is the partial value the kernel really received
 * over veth; the ICMP checksum covers it as sent.
 */
export const ICMP_PORT_UNREACH_FRAME = hex(`
  0242ac110002 0242ac110001 0800
  45 c0 0055 3b04 0000 40 01 e6be ac110001 ac110002
  03 03 c97d 00000000
  45 00 0039 aa11 0000 40 11 787d ac110002 ac110001
  c50d 0036 0025 585c
  462c 0120 0001 0000 0000 0000 07 6578616d706c65 03 636f6d 00 0001 0001`);

/** ping -t 1 10.0.0.1: the echo request (ttl 1) that the router answers with TIME_EXCEEDED below. */
export const ICMP_TTL1_REQUEST_FRAME = hex(`
  0242ac110001 0242ac110002 0800
  45 00 0054 4b8c 4000 01 01 7809 ac110002 0a000001
  08 00 1129 1b64 0001
  32c8036b00000000 d26b040000000000 ${pingPattern(40)}`);

/** ping -t 1 10.0.0.1: TTL exceeded in transit, quoting the 84-byte echo request (ttl 1). */
export const ICMP_TIME_EXCEEDED_FRAME = hex(`
  0242ac110002 0242ac110001 0800
  45 c0 0070 23db 0000 40 01 fdcc ac110001 ac110002
  0b 00 f4ff 00000000
  45 00 0054 4b8c 4000 01 01 7809 ac110002 0a000001
  08 00 1129 1b64 0001
  32c8036b00000000 d26b040000000000 ${pingPattern(40)}`);

/** ping -M do -s 1200 10.0.0.1: the 1228-byte DF echo request that triggers FRAG_NEEDED below. */
export const ICMP_BIG_REQUEST_FRAME = hex(`
  0242ac110001 0242ac110002 0800
  45 00 04cc 0000 4000 40 01 801d ac110002 0a000001
  08 00 8cd7 1b65 0001
  32c8036b00000000 4672040000000000 ${pingPattern(1184)}`);

/**
 * ping -M do -s 1200 10.0.0.1 over the MTU-1000 hop: FRAG_NEEDED, next-hop MTU
 * 1000, quoting the first 548 bytes of the 1228-byte request (576-byte reply).
 */
export const ICMP_FRAG_NEEDED_FRAME = hex(`
  0242ac110002 0242ac110001 0800
  45 c0 0240 23dc 0000 40 01 fbfb ac110001 ac110002
  03 04 73e1 0000 03e8
  45 00 04cc 0000 4000 40 01 801d ac110002 0a000001
  08 00 8cd7 1b65 0001
  32c8036b00000000 4672040000000000 ${pingPattern(504)}`);

// ---------------------------------------------------------------- TCP
/** Linux SYN: MSS 1460, SACK_PERM, TS 2848526169/0, NOP, WS 10; window 64240. */
export const TCP_SYN_FRAME = hex(`
  0242ac110001 0242ac110002 0800
  45 00 003c 742d 4000 40 06 6e69 ac110002 ac110001
  e6fc 0050 a6b4dc0c 00000000 a0 02 faf0 d1b5 0000
  020405b4 0402 080a a9c90f59 00000000 01 03030a`);

/** The SYN-ACK (IP ident 0, as Linux sends for SYN-ACKs with DF). */
export const TCP_SYN_ACK_FRAME = hex(`
  0242ac110002 0242ac110001 0800
  45 00 003c 0000 4000 40 06 e296 ac110001 ac110002
  0050 e6fc b892396d a6b4dc0d a0 12 fe88 f529 0000
  020405b4 0402 080a 4616a0cc a9c90f59 01 03030a`);

/** PSH/ACK carrying "GET / HTTP/1.0\r\n\r\n" (18 bytes) after NOP NOP TS. */
export const TCP_DATA_FRAME = hex(`
  0242ac110001 0242ac110002 0800
  45 00 0046 742f 4000 40 06 6e5d ac110002 ac110001
  e6fc 0050 a6b4dc0d b892396e 80 18 003f 4389 0000
  0101 080a a9c90f59 4616a0cc
  474554202f20485454502f312e300d0a0d0a`);

/** FIN/ACK from the client. */
export const TCP_FIN_FRAME = hex(`
  0242ac110001 0242ac110002 0800
  45 00 0034 7431 4000 40 06 6e6d ac110002 ac110001
  e6fc 0050 a6b4dc1f b8923982 80 11 003f 221a 0000
  0101 080a a9c90f5a 4616a0cd`);

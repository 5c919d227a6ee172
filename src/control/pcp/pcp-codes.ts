// The numbers of NAT-PMP (RFC 6886) and PCP (RFC 6887), declared once: versions, opcodes, result
// codes, option codes and the fixed sizes of their messages. Names are the RFCs' own.

/** UDP port the server listens on (both protocols) and the port clients hear announcements on. */
export const PCP_SERVER_PORT = 5351;
export const PCP_CLIENT_PORT = 5350;
/** All-hosts multicast group the announcements go to (RFC 6886 §3.2.1, RFC 6887 §14.1.3). */
export const ALL_HOSTS_GROUP = 0xe0000001; // 224.0.0.1

export const NATPMP_VERSION = 0;
export const PCP_VERSION = 2;

// ---- NAT-PMP -------------------------------------------------------------------------------
export const NATPMP_OP_PUBLIC_ADDRESS = 0;
export const NATPMP_OP_MAP_UDP = 1;
export const NATPMP_OP_MAP_TCP = 2;
/** the response's opcode is the request's plus this */
export const RESPONSE_BIT = 0x80;
export const NATPMP_ADDRESS_REQUEST_LEN = 2;
export const NATPMP_ADDRESS_RESPONSE_LEN = 12;
export const NATPMP_MAP_REQUEST_LEN = 12;
export const NATPMP_MAP_RESPONSE_LEN = 16;

/** NAT-PMP result codes (RFC 6886 §3.5), index = code. */
export const NATPMP_RESULTS = ['success', 'unsupp_version', 'not_authorized', 'network_failure', 'out_of_resources', 'unsupp_opcode'] as const;
export const enum NatPmpResult {
  Success = 0,
  UnsuppVersion = 1,
  NotAuthorized = 2,
  NetworkFailure = 3,
  OutOfResources = 4,
  UnsuppOpcode = 5,
}

// ---- PCP -----------------------------------------------------------------------------------
export const PCP_OP_ANNOUNCE = 0;
export const PCP_OP_MAP = 1;
export const PCP_OP_PEER = 2;
export const PCP_HEADER_LEN = 24;
export const PCP_MAP_LEN = 36;
export const PCP_PEER_LEN = 56;
export const PCP_NONCE_LEN = 12;
/** a request or response is at most this long (RFC 6887 §7) */
export const PCP_MAX_LEN = 1100;
export const PCP_OPTION_HEADER_LEN = 4;

/** PCP result codes (RFC 6887 §7.4), index = code: also the `result` label of the metrics. */
export const PCP_RESULTS = [
  'success',
  'unsupp_version',
  'not_authorized',
  'malformed_request',
  'unsupp_opcode',
  'unsupp_option',
  'malformed_option',
  'network_failure',
  'no_resources',
  'unsupp_protocol',
  'user_ex_quota',
  'cannot_provide_external',
  'address_mismatch',
  'excessive_remote_peers',
] as const;
export const enum PcpResult {
  Success = 0,
  UnsuppVersion = 1,
  NotAuthorized = 2,
  MalformedRequest = 3,
  UnsuppOpcode = 4,
  UnsuppOption = 5,
  MalformedOption = 6,
  NetworkFailure = 7,
  NoResources = 8,
  UnsuppProtocol = 9,
  UserExQuota = 10,
  CannotProvideExternal = 11,
  AddressMismatch = 12,
  ExcessiveRemotePeers = 13,
}

/** Errors the client should assume last a while (RFC 6887 §7.4: long-lived vs short-lived). */
const SHORT_LIVED = new Set<number>([PcpResult.NetworkFailure, PcpResult.NoResources, PcpResult.UserExQuota, PcpResult.CannotProvideExternal]);
/** Lifetime of an error response, seconds: short-lived errors may clear soon, the others not. */
export function errorLifetime(result: number): number {
  return SHORT_LIVED.has(result) ? 30 : 1800;
}

export const PCP_OPTION_THIRD_PARTY = 1;
export const PCP_OPTION_PREFER_FAILURE = 2;
export const PCP_OPTION_FILTER = 3;
/** option codes below this are mandatory to process; the others may be ignored (RFC 6887 §7.3) */
export const PCP_OPTIONAL_OPTIONS = 128;

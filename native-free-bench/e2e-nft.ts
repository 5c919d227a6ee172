// The kernel world's NAT for `npm run bench:e2e`, as Docker sets it up: masquerade for what the
// bridge's subnet sends out through the uplink, DNAT for the published ports, and a filter FORWARD
// chain with policy drop that lets out what the bridge sends, lets back what conntrack knows, and
// lets in only the published ports.
//
// Applied with the first tool present:
//   1. `nft -f RULESET` (Debian package `nftables`);
//   2. `iptables` (iptables-nft or legacy, Debian package `iptables`): the same rules as commands;
//   3. neither installed: the same nftables rules sent to the kernel over a netlink socket by a small
//      python script (NETLINK_NETFILTER, one batch), expression by expression what `nft -f` sends
//      for the ruleset of (1). The kernel then runs exactly the same chains.

import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ipv4ToString, parseCidr, prefixMask } from '../src/wire/ipv4-address.js';
import { nsExecOk, runOk } from '../test/e2e/harness.js';
import { PYTHON } from '../test/e2e/nat-world.js';

export interface KernelNatSpec {
  /** the bridge ("docker0") */
  bridge: string;
  /** the uplink veth, gateway side */
  uplink: string;
  /** the bridge's subnet, "172.30.5.0/24" */
  subnet: string;
  /** the gateway's uplink address: published ports answer there */
  publicIp: string;
  /** the container behind the published ports */
  containerIp: string;
  /** published TCP ports (same number outside and inside) */
  tcpPorts: number[];
  /** the IPv6 side (Docker's ip6tables rules, the same as IPv4's): subnet, the gateway's uplink address, the container's */
  ipv6?: { subnet: string; publicIp: string; containerIp: string };
}

export type NatMethod = 'nft -f' | 'iptables' | 'netlink (nft ruleset, no nft binary)';

export const TABLE = 'pontoon_bench';

/** The ruleset for `nft -f`. */
export function nftRuleset(s: KernelNatSpec): string {
  const ports = s.tcpPorts.join(', ');
  const dnat = s.tcpPorts.map((p) => `    iifname "${s.uplink}" ip daddr ${s.publicIp} tcp dport ${p} dnat to ${s.containerIp}:${p}`);
  return [
    `table ip ${TABLE} {`,
    '  chain prerouting {',
    '    type nat hook prerouting priority dstnat; policy accept;',
    ...dnat,
    '  }',
    '  chain postrouting {',
    '    type nat hook postrouting priority srcnat; policy accept;',
    `    ip saddr ${s.subnet} oifname "${s.uplink}" masquerade`,
    '  }',
    '  chain forward {',
    '    type filter hook forward priority filter; policy drop;',
    '    ct state established,related accept',
    `    iifname "${s.bridge}" oifname "${s.uplink}" accept`,
    `    iifname "${s.uplink}" oifname "${s.bridge}" ip daddr ${s.containerIp} tcp dport { ${ports} } accept`,
    '  }',
    '}',
    ...(s.ipv6 !== undefined ? nft6Ruleset(s, s.ipv6) : []),
    '',
  ].join('\n');
}

/** The IPv6 table: the same masquerade, DNAT and FORWARD filter, as ip6tables holds them for Docker. */
function nft6Ruleset(s: KernelNatSpec, v6: NonNullable<KernelNatSpec['ipv6']>): string[] {
  const ports = s.tcpPorts.join(', ');
  return [
    `table ip6 ${TABLE} {`,
    '  chain prerouting {',
    '    type nat hook prerouting priority dstnat; policy accept;',
    ...s.tcpPorts.map((p) => `    iifname "${s.uplink}" ip6 daddr ${v6.publicIp} tcp dport ${p} dnat to [${v6.containerIp}]:${p}`),
    '  }',
    '  chain postrouting {',
    '    type nat hook postrouting priority srcnat; policy accept;',
    `    ip6 saddr ${v6.subnet} oifname "${s.uplink}" masquerade`,
    '  }',
    '  chain forward {',
    '    type filter hook forward priority filter; policy drop;',
    '    ct state established,related accept',
    // neighbour discovery is not forwarded; what a router must pass of ICMPv6 (packet too big) comes back as related
    `    iifname "${s.bridge}" oifname "${s.uplink}" accept`,
    `    iifname "${s.uplink}" oifname "${s.bridge}" ip6 daddr ${v6.containerIp} tcp dport { ${ports} } accept`,
    '  }',
    '}',
  ];
}

/** The same rules as iptables commands (argv lists). */
export function iptablesCommands(s: KernelNatSpec): string[][] {
  const cmds: string[][] = [];
  for (const p of s.tcpPorts) {
    cmds.push(['-t', 'nat', '-A', 'PREROUTING', '-i', s.uplink, '-d', s.publicIp, '-p', 'tcp', '--dport', String(p), '-j', 'DNAT', '--to-destination', `${s.containerIp}:${p}`]);
  }
  cmds.push(['-t', 'nat', '-A', 'POSTROUTING', '-s', s.subnet, '-o', s.uplink, '-j', 'MASQUERADE']);
  cmds.push(['-P', 'FORWARD', 'DROP']);
  cmds.push(['-A', 'FORWARD', '-m', 'conntrack', '--ctstate', 'RELATED,ESTABLISHED', '-j', 'ACCEPT']);
  cmds.push(['-A', 'FORWARD', '-i', s.bridge, '-o', s.uplink, '-j', 'ACCEPT']);
  for (const p of s.tcpPorts) {
    cmds.push(['-A', 'FORWARD', '-i', s.uplink, '-o', s.bridge, '-d', s.containerIp, '-p', 'tcp', '--dport', String(p), '-j', 'ACCEPT']);
  }
  return cmds;
}

// ---- the netlink fallback ----------------------------------------------------------------------

/** Low-level nftables expressions, as the python encoder takes them (data in hex). */
type Expr =
  | { meta: { key: number; dreg: number } }
  | { cmp: { sreg: number; op: number; data: string } }
  | { payload: { base: number; offset: number; len: number; dreg: number } }
  | { bitwise: { sreg: number; dreg: number; len: number; mask: string; xor: string } }
  | { ct: { key: number; dreg: number } }
  | { immediate: { dreg: number; data: string } }
  | { verdict: number }
  | { masq: Record<string, never> }
  | { nat: { type: number; family: number; addr: number; proto: number } };

interface ChainSpec {
  name: string;
  type: 'nat' | 'filter';
  hook: number;
  priority: number;
  /** NF_ACCEPT 1, NF_DROP 0 */
  policy: number;
  rules: Expr[][];
}

const REG1 = 1;
const REG2 = 2;
const META_IIFNAME = 6;
const META_OIFNAME = 7;
const META_L4PROTO = 16;
const NET_HDR = 1;
const TRANSPORT_HDR = 2;
const CMP_EQ = 0;
const CMP_NEQ = 1;
const CT_STATE = 0;
const NF_ACCEPT = 1;
const NF_DROP = 0;
const HOOK_PREROUTING = 0;
const HOOK_FORWARD = 2;
const HOOK_POSTROUTING = 4;

const ipHex = (ip: string): string => Buffer.from(ip.split('.').map(Number)).toString('hex');
const be16Hex = (n: number): string => {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(n);
  return b.toString('hex');
};
/** ct state bits are a host-order u32 (x86: little endian) */
const hostU32Hex = (n: number): string => {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n);
  return b.toString('hex');
};
/** interface names are compared over IFNAMSIZ bytes, zero padded */
const ifnameHex = (name: string): string => {
  const b = Buffer.alloc(16);
  b.write(name, 'latin1');
  return b.toString('hex');
};

const ifname = (key: number, name: string): Expr[] => [{ meta: { key, dreg: REG1 } }, { cmp: { sreg: REG1, op: CMP_EQ, data: ifnameHex(name) } }];
const ipField = (offset: number, ip: string): Expr[] => [
  { payload: { base: NET_HDR, offset, len: 4, dreg: REG1 } },
  { cmp: { sreg: REG1, op: CMP_EQ, data: ipHex(ip) } },
];
const tcpDport = (port: number): Expr[] => [
  { meta: { key: META_L4PROTO, dreg: REG1 } },
  { cmp: { sreg: REG1, op: CMP_EQ, data: '06' } },
  { payload: { base: TRANSPORT_HDR, offset: 2, len: 2, dreg: REG1 } },
  { cmp: { sreg: REG1, op: CMP_EQ, data: be16Hex(port) } },
];

function chains(s: KernelNatSpec): ChainSpec[] {
  const subnet = parseCidr(s.subnet);
  const net = ipv4ToString(subnet.addr);
  const mask = prefixMask(subnet.prefixLen);
  const maskBuf = Buffer.alloc(4);
  maskBuf.writeUInt32BE(mask);
  return [
    {
      name: 'prerouting',
      type: 'nat',
      hook: HOOK_PREROUTING,
      priority: -100,
      policy: NF_ACCEPT,
      rules: s.tcpPorts.map((p) => [
        ...ifname(META_IIFNAME, s.uplink),
        ...ipField(16, s.publicIp),
        ...tcpDport(p),
        { immediate: { dreg: REG1, data: ipHex(s.containerIp) } },
        { immediate: { dreg: REG2, data: be16Hex(p) } },
        { nat: { type: 1 /* DNAT */, family: 2 /* NFPROTO_IPV4 */, addr: REG1, proto: REG2 } },
      ]),
    },
    {
      name: 'postrouting',
      type: 'nat',
      hook: HOOK_POSTROUTING,
      priority: 100,
      policy: NF_ACCEPT,
      rules: [
        [
          { payload: { base: NET_HDR, offset: 12, len: 4, dreg: REG1 } },
          { bitwise: { sreg: REG1, dreg: REG1, len: 4, mask: maskBuf.toString('hex'), xor: '00000000' } },
          { cmp: { sreg: REG1, op: CMP_EQ, data: ipHex(net) } },
          ...ifname(META_OIFNAME, s.uplink),
          { masq: {} },
        ],
      ],
    },
    {
      name: 'forward',
      type: 'filter',
      hook: HOOK_FORWARD,
      priority: 0,
      policy: NF_DROP,
      rules: [
        [
          { ct: { key: CT_STATE, dreg: REG1 } },
          // established (1 << 1) | related (1 << 2)
          { bitwise: { sreg: REG1, dreg: REG1, len: 4, mask: hostU32Hex(6), xor: '00000000' } },
          { cmp: { sreg: REG1, op: CMP_NEQ, data: '00000000' } },
          { verdict: NF_ACCEPT },
        ],
        [...ifname(META_IIFNAME, s.bridge), ...ifname(META_OIFNAME, s.uplink), { verdict: NF_ACCEPT }],
        // one rule per port where nft -f uses an anonymous set: the same verdicts
        ...s.tcpPorts.map((p): Expr[] => [
          ...ifname(META_IIFNAME, s.uplink),
          ...ifname(META_OIFNAME, s.bridge),
          ...ipField(16, s.containerIp),
          ...tcpDport(p),
          { verdict: NF_ACCEPT },
        ]),
      ],
    },
  ];
}

/** Encodes table, chains and rules as nf_tables netlink messages in one batch; prints "ok". */
const NFT_NETLINK_PY = String.raw`
import json, os, socket, struct, sys
NLA_F_NESTED = 0x8000
SUBSYS = 10  # NFNL_SUBSYS_NFTABLES
NEWTABLE, NEWCHAIN, NEWRULE = 0, 3, 6
BATCH_BEGIN, BATCH_END = 0x10, 0x11
F_REQUEST, F_ACK, F_EXCL, F_CREATE, F_APPEND = 0x1, 0x4, 0x200, 0x400, 0x800
NFPROTO_IPV4 = 2

def attr(t, payload):
    n = 4 + len(payload)
    return struct.pack('=HH', n, t) + payload + b'\0' * ((4 - n % 4) % 4)
def nest(t, *items): return attr(t | NLA_F_NESTED, b''.join(items))
def s(t, v): return attr(t, v.encode() + b'\0')
def be32(t, v): return attr(t, struct.pack('>i', v) if v < 0 else struct.pack('>I', v))
def data(t, hexs): return nest(t, attr(1, bytes.fromhex(hexs)))  # NFTA_DATA_VALUE

def expr(e):
    (name, a), = e.items()
    if name == 'meta': body = be32(1, a['dreg']) + be32(2, a['key'])
    elif name == 'cmp': body = be32(1, a['sreg']) + be32(2, a['op']) + data(3, a['data'])
    elif name == 'payload': body = be32(1, a['dreg']) + be32(2, a['base']) + be32(3, a['offset']) + be32(4, a['len'])
    elif name == 'bitwise': body = be32(1, a['sreg']) + be32(2, a['dreg']) + be32(3, a['len']) + data(4, a['mask']) + data(5, a['xor'])
    elif name == 'ct': body = be32(1, a['dreg']) + be32(2, a['key'])
    elif name == 'immediate': body = be32(1, a['dreg']) + data(2, a['data'])
    elif name == 'verdict':
        name, body = 'immediate', be32(1, 0) + nest(2, nest(2, be32(1, a)))  # NFT_REG_VERDICT, NFTA_DATA_VERDICT{NFTA_VERDICT_CODE}
    elif name == 'masq': body = b''
    elif name == 'nat': body = be32(1, a['type']) + be32(2, a['family']) + be32(3, a['addr']) + be32(5, a['proto'])
    else: raise SystemExit('unknown expression ' + name)
    return nest(1, s(1, name), *( [nest(2, body)] if body else [] ))  # NFTA_LIST_ELEM{NFTA_EXPR_NAME, NFTA_EXPR_DATA}

spec = json.loads(sys.argv[1])
seq = [0]
def msg(mtype, flags, family, payload, res_id=0):
    seq[0] += 1
    body = struct.pack('=BBH', family, 0, socket.htons(res_id)) + payload
    return struct.pack('=IHHII', 16 + len(body), mtype, flags, seq[0], 0) + body

table = spec['table']
msgs = [msg(BATCH_BEGIN, F_REQUEST, 0, b'', SUBSYS)]
first = seq[0] + 1
msgs.append(msg(SUBSYS << 8 | NEWTABLE, F_REQUEST | F_ACK | F_CREATE, NFPROTO_IPV4, s(1, table)))
for c in spec['chains']:
    hook = nest(4, be32(1, c['hook']), be32(2, c['priority']))
    msgs.append(msg(SUBSYS << 8 | NEWCHAIN, F_REQUEST | F_ACK | F_CREATE, NFPROTO_IPV4,
                    s(1, table) + s(3, c['name']) + hook + be32(5, c['policy']) + s(7, c['type'])))
    for r in c['rules']:
        msgs.append(msg(SUBSYS << 8 | NEWRULE, F_REQUEST | F_ACK | F_CREATE | F_APPEND, NFPROTO_IPV4,
                        s(1, table) + s(2, c['name']) + nest(4, *[expr(e) for e in r])))
last = seq[0]
msgs.append(msg(BATCH_END, F_REQUEST, 0, b'', SUBSYS))

sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 12)  # NETLINK_NETFILTER
sock.bind((0, 0))
sock.settimeout(5)
sock.send(b''.join(msgs))
pending = set(range(first, last + 1))
while pending:
    buf = sock.recv(65536)
    off = 0
    while off + 16 <= len(buf):
        ln, mtype, flags, sq, pid = struct.unpack_from('=IHHII', buf, off)
        if mtype == 2:  # NLMSG_ERROR
            err = struct.unpack_from('=i', buf, off + 16)[0]
            if err != 0:
                raise SystemExit('nf_tables refused message %d (of %d..%d): %s' % (sq, first, last, os.strerror(-err)))
            pending.discard(sq)
        off += (ln + 3) & ~3
print('ok')
`;

/** The nft binary, if installed. */
export function nftPath(): string | undefined {
  return ['/usr/sbin/nft', '/sbin/nft', '/usr/bin/nft'].find((p) => existsSync(p));
}

/**
 * Applies the NAT and filter rules inside namespace `ns` with the first tool present (see the top
 * of this file); `dir` receives the ruleset file. Returns the method used.
 */
export async function applyKernelNat(ns: string, s: KernelNatSpec, dir: string): Promise<NatMethod> {
  const nft = nftPath();
  if (nft !== undefined) {
    const file = join(dir, 'kernel-world.nft');
    writeFileSync(file, nftRuleset(s));
    await nsExecOk(ns, [nft, '-f', file]);
    return 'nft -f';
  }
  // IPv6 NAT is measured against nft's rules only (the fallbacks below write IPv4's)
  if (s.ipv6 !== undefined) throw new Error('the kernel world with IPv6 needs nft (Debian package nftables)');
  const iptables = ['/usr/sbin/iptables', '/sbin/iptables', '/usr/bin/iptables'].find((p) => existsSync(p));
  if (iptables !== undefined) {
    for (const c of iptablesCommands(s)) await nsExecOk(ns, [iptables, '-w', ...c]);
    return 'iptables';
  }
  const file = join(dir, 'nft-netlink.py');
  writeFileSync(file, NFT_NETLINK_PY);
  const spec = { table: TABLE, chains: chains(s) };
  await runOk(['ip', 'netns', 'exec', ns, PYTHON, file, JSON.stringify(spec)], { timeoutMs: 15_000 });
  return 'netlink (nft ruleset, no nft binary)';
}

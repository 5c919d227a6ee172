/**
 * macvlan and VLAN networks end to end, as a user sees them. A "LAN" namespace with a bridge, the
 * LAN's router address on it and a second host behind a veth (lanhost); a veth from the bridge
 * into the daemon's namespace is the parent. Containers on a macvlan network take LAN addresses,
 * are pinged and curled by the LAN host directly (no NAT: each side sees the other's own address),
 * reach the LAN router, see the LAN's broadcasts; private mode keeps them apart; two VLANs on one
 * trunk do not see each other's frames, tshark decodes the tagged frames; the host reaches a
 * container with host access on and
 * not without; bad parents and modes are refused in one line; a parent that vanishes is let go of
 * and taken back when it returns.
 *
 * The LAN side of the VLANs is a responder on the trunk (VLAN_RESPONDER_PY: ARP and ping of one
 * address per VLAN, tagged), not Linux VLAN sub-interfaces: the kernels of this machine's kind are
 * built without 802.1Q (CONFIG_VLAN_8021Q is not set, and bridge VLAN filtering depends on it), so
 * `ip link add ... type vlan` fails there. The tags on the wire are the kernel's: it reads them
 * off the veth (PACKET_AUXDATA) for tshark and the responder alike.
 *
 * The tests run in order on one world built in beforeAll. Needs root.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import {
  type Daemon,
  cleanupAll,
  createNetns,
  dropsFromMetrics,
  makeTempDir,
  nsExec,
  pickHostLink,
  pickSubnets,
  ping,
  randomHex,
  run,
  runOk,
  startCapture,
  startDaemon,
  tsharkFields,
  waitFor,
} from './harness.js';
import { cleanupNatWorlds, startBackground } from './nat-world.js';
import { needs, root, tools } from './requirements.js';

const RUN = randomHex(3);
const ns = (n: string) => `ptmv-${RUN}-${n}`;
const LAN = ns('lan');
const LANHOST = ns('host');
const C = (n: string) => ns(`c${n}`);
/** the parent in the daemon's namespace, and its peer on the LAN's bridge */
const PARENT = `mvp${RUN}`;
const TRUNK = `mvq${RUN}`;

/**
 * `DEV VID,IP,MAC...`: answers ARP requests for IP and pings to it on VLAN VID of DEV, tagged with
 * VID, from MAC (a VLAN's router). `send DEV VID`: sends one tagged broadcast ARP request on VID.
 */
const VLAN_RESPONDER_PY = String.raw`
import socket, struct, sys
SOL_PACKET, PACKET_AUXDATA, TP_STATUS_VLAN_VALID = 263, 8, 0x10
def tagged(dst, src, vid, rest):
    return dst + src + struct.pack('!HH', 0x8100, vid) + rest
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3))
if sys.argv[1] == 'send':
    s.bind((sys.argv[2], 0))
    me = bytes.fromhex('02005e00fe01')
    arp = struct.pack('!HHBBH', 1, 0x0800, 6, 4, 1) + me + socket.inet_aton('192.0.2.1') + bytes(6) + socket.inet_aton('192.0.2.9')
    s.send(tagged(b'\xff' * 6, me, int(sys.argv[3]), b'\x08\x06' + arp))
    sys.exit(0)
dev = sys.argv[1]
vlans = {}
for a in sys.argv[2:]:
    vid, ip, mac = a.split(',')
    vlans[int(vid)] = (socket.inet_aton(ip), bytes.fromhex(mac.replace(':', '')))
s.setsockopt(SOL_PACKET, PACKET_AUXDATA, 1)
s.bind((dev, 0))
print('ready', flush=True)
while True:
    data, anc, _flags, addr = s.recvmsg(65535, socket.CMSG_SPACE(20))
    if addr[2] == socket.PACKET_OUTGOING:
        continue
    vid = None
    for level, kind, d in anc:
        if level == SOL_PACKET and kind == PACKET_AUXDATA and len(d) >= 20:
            status, _l, _s, _m, _n, tci, _tpid = struct.unpack('IIIHHHH', d[:20])
            if status & TP_STATUS_VLAN_VALID:
                vid = tci & 0xfff
    if vid is None and data[12:14] == b'\x81\x00':
        vid = struct.unpack('!H', data[14:16])[0] & 0xfff
        data = data[:12] + data[16:]
    if vid not in vlans:
        continue
    ip, mac = vlans[vid]
    src, et = data[6:12], data[12:14]
    if et == b'\x08\x06' and data[20:22] == b'\x00\x01' and data[38:42] == ip:
        arp = struct.pack('!HHBBH', 1, 0x0800, 6, 4, 2) + mac + ip + data[22:28] + data[28:32]
        s.send(tagged(src, mac, vid, b'\x08\x06' + arp))
    elif et == b'\x08\x00' and data[30:34] == ip and data[23] == 1:
        hl = (data[14] & 0x0f) * 4
        icmp = bytearray(data[14 + hl:14 + struct.unpack('!H', data[16:18])[0]])
        if icmp[0] != 8:
            continue
        icmp[0] = 0
        c = struct.unpack('!H', icmp[2:4])[0] + 0x0800
        icmp[2:4] = struct.pack('!H', (c & 0xffff) + (c >> 16))
        iph = bytearray(data[14:14 + hl])
        iph[12:16], iph[16:20] = data[30:34], data[26:30]
        s.send(tagged(src, mac, vid, b'\x08\x00' + bytes(iph) + bytes(icmp)))
`;

interface Endpoint {
  Name: string;
  MacAddress: string;
  IPv4Address: string;
}
interface Network {
  Name: string;
  Driver: string;
  Internal: boolean;
  IPAM: { Config: { Subnet: string; Gateway: string; AuxiliaryAddresses?: Record<string, string> }[] };
  Containers: Record<string, Endpoint>;
  Options: Record<string, string>;
}

needs(root, tools('ip', 'ping', 'curl', 'python3', 'tcpdump', 'tshark', 'timeout')).describe('macvlan and VLAN networks (e2e)', () => {
  let d: Daemon;
  let lan = '';
  let v10 = '';
  let v20 = '';
  let lan4b = '';
  // a unique local /64 of this run for the LAN's IPv6 (groups with their top bit set: no leading zeros)
  const group = () => (0x8000 | parseInt(randomHex(2), 16)).toString(16);
  const P6 = `fd${randomHex(1)}:${group()}:${group()}:${group()}`;
  const at = (subnet: string, host: number) => subnet.replace(/\.0\/24$/, `.${host}`);
  let dir = '';
  /** the host's own address on the host link */
  let hostIp = '';

  const inspect = async (net: string): Promise<Network> => JSON.parse((await d.cliOk(['network', 'inspect', net])).stdout)[0] as Network;
  const ipOf = async (net: string, container: string): Promise<string> => {
    const ep = Object.values((await inspect(net)).Containers).find((c) => c.Name === container);
    if (ep === undefined) throw new Error(`${container} is not on ${net}`);
    return ep.IPv4Address.split('/')[0]!;
  };
  const reaches = async (from: string | null, to: string, count = 2): Promise<boolean> => (await ping(from, to, { count, intervalS: 0.2, waitS: 2 })).received === count;

  beforeAll(async () => {
    dir = makeTempDir('ptmv-');
    [lan, v10, v20, lan4b] = await pickSubnets('10.97', 4);
    const link = await pickHostLink();
    hostIp = link.host;
    d = await startDaemon({ hostAddress: link.hostCidr, defaultNetwork: null });
    for (const n of [LAN, LANHOST, C('1'), C('2'), C('3'), C('4'), C('5'), C('6'), C('7')]) await createNetns(n);
    // the LAN: a bridge with the router's address, the LAN host on it, and the trunk to the daemon's namespace
    await runOk(['ip', '-n', LAN, 'link', 'add', 'br0', 'type', 'bridge']);
    await runOk(['ip', '-n', LAN, 'addr', 'add', `${at(lan, 1)}/24`, 'dev', 'br0']);
    await runOk(['ip', '-n', LAN, 'link', 'set', 'br0', 'up']);
    await runOk(['ip', '-n', LAN, 'link', 'add', 'h0', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', LANHOST]);
    await runOk(['ip', '-n', LAN, 'link', 'set', 'h0', 'master', 'br0', 'up']);
    await runOk(['ip', '-n', LANHOST, 'addr', 'add', `${at(lan, 50)}/24`, 'dev', 'eth0']);
    await runOk(['ip', '-n', LANHOST, 'link', 'set', 'eth0', 'up']);
    await runOk(['ip', '-n', LANHOST, 'route', 'add', 'default', 'via', at(lan, 1)]);
    await runOk(['ip', '-n', LAN, 'link', 'add', TRUNK, 'type', 'veth', 'peer', 'name', PARENT, 'netns', '1']);
    await runOk(['ip', '-n', LAN, 'link', 'set', TRUNK, 'master', 'br0', 'up']);
    await runOk(['ip', 'link', 'set', PARENT, 'up']);
    writeFileSync(join(dir, 'vlan-responder.py'), VLAN_RESPONDER_PY);
  }, 60_000);

  /** The routers of VLANs 10 and 20 on the trunk, answering until the test ends. */
  async function vlanRouters() {
    const r = startBackground(LAN, ['/usr/bin/python3', join(dir, 'vlan-responder.py'), TRUNK, `10,${at(v10, 1)},02:00:5e:00:0a:01`, `20,${at(v20, 1)},02:00:5e:00:14:01`]);
    expect(await r.waitForOutput(/ready/), r.stderr()).toBe(true);
    return r;
  }

  afterAll(async () => {
    const problems = [...(await cleanupNatWorlds()), ...(await cleanupAll())];
    if (problems.length > 0) console.warn(`cleanup problems:\n${problems.join('\n')}`);
  });

  it('network create -d macvlan with the LAN subnet, its router as gateway and an aux-address: inspect shows the driver, parent, mode and the reserved address', async () => {
    await d.cliOk(['network', 'create', '-d', 'macvlan', '--subnet', lan, '--gateway', at(lan, 1), '--aux-address', `lanhost=${at(lan, 2)}`, '-o', `parent=${PARENT}`, 'lan']);
    const n = await inspect('lan');
    expect([n.Driver, n.Internal, n.Options['parent'], n.Options['macvlan_mode'], n.IPAM.Config]).toEqual([
      'macvlan',
      false,
      PARENT,
      'bridge',
      [{ Subnet: lan, Gateway: at(lan, 1), AuxiliaryAddresses: { lanhost: at(lan, 2) } }],
    ]);
    await d.cliOk(['network', 'connect', 'lan', C('1')]);
    await d.cliOk(['network', 'connect', 'lan', C('2')]);
    // .1 is the gateway, .2 reserved: the containers get .3 and .4; their default route is the LAN's router
    expect([await ipOf('lan', C('1')), await ipOf('lan', C('2'))]).toEqual([at(lan, 3), at(lan, 4)]);
    const routes = (await runOk(['ip', '-n', C('1'), '-4', 'route', 'show', 'default'])).stdout;
    expect(routes).toContain(`default via ${at(lan, 1)}`);
  });

  it('the LAN host pings the containers directly and curls a server in one: the server sees the LAN host\'s own address (no NAT)', async () => {
    expect(await reaches(LANHOST, at(lan, 3))).toBe(true);
    expect(await reaches(LANHOST, at(lan, 4))).toBe(true);
    const srv = startBackground(C('1'), ['python3', '-m', 'http.server', '8080', '--bind', at(lan, 3), '--directory', dir]);
    await srv.waitForOutput(/Serving HTTP/);
    const r = await nsExec(LANHOST, ['curl', '-sS', '-o', '/dev/null', '-w', '%{http_code}', `http://${at(lan, 3)}:8080/`]);
    expect(r.stdout).toBe('200');
    await waitFor(() => /GET \//.test(srv.stderr()), 3000);
    expect(srv.stderr()).toMatch(new RegExp(`^${at(lan, 50).replace(/\./g, '\\.')} - - `, 'm'));
    await srv.stop();
    // and the other way: the LAN host's server sees the container's address
    const back = startBackground(LANHOST, ['python3', '-m', 'http.server', '8081', '--bind', at(lan, 50), '--directory', dir]);
    await back.waitForOutput(/Serving HTTP/);
    expect((await nsExec(C('2'), ['curl', '-sS', '-o', '/dev/null', '-w', '%{http_code}', `http://${at(lan, 50)}:8081/`])).stdout).toBe('200');
    await waitFor(() => /GET \//.test(back.stderr()), 3000);
    expect(back.stderr()).toMatch(new RegExp(`^${at(lan, 4).replace(/\./g, '\\.')} - - `, 'm'));
    await back.stop();
  });

  it('the containers reach the LAN router and each other (bridge mode), and see the LAN\'s broadcasts', async () => {
    expect(await reaches(C('1'), at(lan, 1))).toBe(true);
    expect(await reaches(C('1'), at(lan, 4))).toBe(true);
    const cap = await startCapture(C('2'), 'eth0', join(dir, 'bcast.pcap'), 20);
    await nsExec(LANHOST, ['ping', '-b', '-c', '3', '-i', '0.2', '-W', '1', at(lan, 255)]);
    await cap.stop();
    const seen = await tsharkFields(join(dir, 'bcast.pcap'), `icmp and ip.dst == ${at(lan, 255)}`, ['ip.src', 'ip.dst']);
    expect(seen.length).toBeGreaterThanOrEqual(3);
    expect(seen[0]).toEqual([at(lan, 50), at(lan, 255)]);
  });

  it('the host reaches no container of a network without host access', async () => {
    expect(await reaches(null, at(lan, 3), 1)).toBe(false);
  });

  it('private mode: the containers reach the LAN host but not each other, not even through a LAN switch that sends frames back (hairpin)', async () => {
    await runOk(['ip', '-n', LAN, 'link', 'set', 'dev', TRUNK, 'type', 'bridge_slave', 'hairpin', 'on']);
    await d.cliOk(['network', 'disconnect', 'lan', C('1')]);
    await d.cliOk(['network', 'disconnect', 'lan', C('2')]);
    await d.cliOk(['network', 'rm', 'lan']);
    await d.cliOk(['network', 'create', '-d', 'macvlan', '--subnet', lan, '--gateway', at(lan, 1), '--ip-range', lan.replace(/\.0\/24$/, '.64/26'), '-o', `parent=${PARENT}`, '-o', 'macvlan_mode=private', 'lanp']);
    await d.cliOk(['network', 'connect', 'lanp', C('1')]);
    await d.cliOk(['network', 'connect', 'lanp', C('2')]);
    const [a, b] = [await ipOf('lanp', C('1')), await ipOf('lanp', C('2'))];
    expect(await reaches(C('1'), at(lan, 50))).toBe(true);
    expect(await reaches(C('1'), b, 2)).toBe(false);
    expect(await reaches(C('2'), a, 2)).toBe(false);
    // the LAN switch did send them back: dropped as the mode says, counted
    expect((dropsFromMetrics(await d.metrics()))['macvlan_mode'] ?? 0).toBeGreaterThan(0);
  });

  it('vepa mode: containers reach each other only through the LAN switch, which sends their frames back', async () => {
    await d.cliOk(['network', 'disconnect', 'lanp', C('1')]);
    await d.cliOk(['network', 'disconnect', 'lanp', C('2')]);
    await d.cliOk(['network', 'rm', 'lanp']);
    await d.cliOk(['network', 'create', '-d', 'macvlan', '--subnet', lan, '--gateway', at(lan, 1), '--ip-range', lan.replace(/\.0\/24$/, '.64/26'), '-o', `parent=${PARENT}`, '-o', 'macvlan_mode=vepa', 'lanv']);
    await d.cliOk(['network', 'connect', 'lanv', C('1')]);
    await d.cliOk(['network', 'connect', 'lanv', C('2')]);
    const b = await ipOf('lanv', C('2'));
    expect(await reaches(C('1'), b)).toBe(true);
    // without the hairpin the switch keeps them apart
    await runOk(['ip', '-n', LAN, 'link', 'set', 'dev', TRUNK, 'type', 'bridge_slave', 'hairpin', 'off']);
    await runOk(['ip', 'netns', 'exec', C('1'), 'ip', 'neigh', 'flush', 'all']);
    expect(await reaches(C('1'), b, 2)).toBe(false);
    expect(await reaches(C('1'), at(lan, 50))).toBe(true);
  });

  it('two VLANs of one trunk, tagged by the gateway: each container reaches its VLAN\'s router, never sees the other VLAN; tshark decodes the tags', async () => {
    await d.cliOk(['network', 'create', '-d', 'macvlan', '--subnet', v10, '--gateway', at(v10, 1), '-o', `parent=${PARENT}.10`, 'v10']);
    await d.cliOk(['network', 'create', '-d', 'macvlan', '--subnet', v20, '--gateway', at(v20, 1), '-o', `parent=${PARENT}.20`, 'v20']);
    await d.cliOk(['network', 'connect', 'v10', C('3')]);
    await d.cliOk(['network', 'connect', 'v20', C('4')]);
    const routers = await vlanRouters();
    const trunk = await startCapture(LAN, TRUNK, join(dir, 'trunk.pcap'), 30);
    const only20 = await startCapture(C('4'), 'eth0', join(dir, 'c4.pcap'), 30);
    expect(await reaches(C('3'), at(v10, 1))).toBe(true);
    expect(await reaches(C('4'), at(v20, 1))).toBe(true);
    await trunk.stop();
    await only20.stop();
    const c3 = await ipOf('v10', C('3'));
    const c4 = await ipOf('v20', C('4'));
    // every frame on the trunk carries its VLAN: c3's in 10, c4's in 20
    const tagged = await tsharkFields(join(dir, 'trunk.pcap'), 'ip', ['vlan.id', 'ip.src']);
    expect(tagged.filter(([, src]) => src === c3).every(([vid]) => vid === '10')).toBe(true);
    expect(tagged.filter(([, src]) => src === c4).every(([vid]) => vid === '20')).toBe(true);
    expect(tagged.some(([, src]) => src === c3) && tagged.some(([, src]) => src === c4)).toBe(true);
    // c4 saw nothing of VLAN 10
    const c4saw = await tsharkFields(join(dir, 'c4.pcap'), 'ip', ['ip.src', 'ip.dst']);
    expect(c4saw.some(([s, t]) => s === c3 || t === c3 || s === at(v10, 1))).toBe(false);
    // a frame of a VLAN no network has is ignored and counted
    const before = dropsFromMetrics(await d.metrics())['vlan_unknown'] ?? 0;
    await runOk(['ip', 'netns', 'exec', LAN, '/usr/bin/python3', join(dir, 'vlan-responder.py'), 'send', TRUNK, '30']);
    expect(await waitFor(async () => (dropsFromMetrics(await d.metrics())['vlan_unknown'] ?? 0) > before, 3000)).toBe(true);
    await routers.stop();
  });

  it('with -o pontoon.host_access=true the host reaches the container (and it the host), through the gateway', async () => {
    await d.cliOk(['network', 'disconnect', 'v10', C('3')]);
    await d.cliOk(['network', 'rm', 'v10']);
    await d.cliOk(['network', 'create', '-d', 'macvlan', '--subnet', v10, '--gateway', at(v10, 1), '-o', `parent=${PARENT}.10`, '-o', 'pontoon.host_access=true', 'v10h']);
    await d.cliOk(['network', 'connect', 'v10h', C('3')]);
    const c3 = await ipOf('v10h', C('3'));
    // the container answers through its default route: the VLAN's router must answer its ARP
    const routers = await vlanRouters();
    expect(await reaches(null, c3)).toBe(true);
    // the container's packets to the host's address leave through its LAN router's MAC, and reach the host
    expect(await reaches(C('3'), hostIp)).toBe(true);
    // and it still reaches its router on the VLAN
    expect(await reaches(C('3'), at(v10, 1))).toBe(true);
    await routers.stop();
  });

  it('dual stack: a container gets a LAN IPv6 address with the LAN router as its IPv6 gateway; the LAN host and it ping -6 each other', async () => {
    await runOk(['ip', '-n', LAN, 'addr', 'add', `${at(lan4b, 1)}/24`, 'dev', 'br0']);
    await runOk(['ip', '-n', LAN, '-6', 'addr', 'add', `${P6}::1/64`, 'dev', 'br0', 'nodad']);
    await runOk(['ip', '-n', LANHOST, '-6', 'addr', 'add', `${P6}::50/64`, 'dev', 'eth0', 'nodad']);
    await d.cliOk(['network', 'create', '-d', 'macvlan', '--ipv6', '--subnet', lan4b, '--gateway', at(lan4b, 1), '--subnet', `${P6}::/64`, '--gateway', `${P6}::1`, '-o', `parent=${PARENT}`, 'lan6']);
    await d.cliOk(['network', 'connect', 'lan6', C('7')]);
    const ep = Object.values((await inspect('lan6')).Containers)[0] as Endpoint & { IPv6Address: string };
    const ip6 = ep.IPv6Address.split('/')[0]!;
    expect(ip6.startsWith(`${P6}::`)).toBe(true);
    expect((await runOk(['ip', '-n', C('7'), '-6', 'route', 'show', 'default'])).stdout).toContain(`default via ${P6}::1`);
    const ping6 = async (from: string, to: string) => (await nsExec(from, ['ping', '-6', '-n', '-c', '2', '-i', '0.2', '-W', '2', to], { timeoutMs: 15_000 })).code === 0;
    expect(await waitFor(() => ping6(LANHOST, ip6), 10_000, 500)).toBe(true);
    expect(await ping6(C('7'), `${P6}::50`)).toBe(true);
    expect(await ping6(C('7'), `${P6}::1`)).toBe(true);
    await d.cliOk(['network', 'disconnect', 'lan6', C('7')]);
    await d.cliOk(['network', 'rm', 'lan6']);
  });

  it('refuses in one line, changing nothing: a missing parent, a parent that is down, a VLAN out of range, an unknown mode, a second container on passthru, a port to publish', async () => {
    const before = (await d.cliOk(['network', 'ls', '-q'])).stdout;
    const refused = async (args: string[], re: RegExp) => {
      const r = await d.cli(args);
      expect(r.code, r.stdout).not.toBe(0);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toMatch(re);
    };
    await refused(['network', 'create', '-d', 'macvlan', '--subnet', '192.0.2.0/24', '-o', 'parent=nosuch0', 'x1'], /parent interface was not found on the host: nosuch0/);
    await refused(['network', 'create', '-d', 'macvlan', '--subnet', '192.0.2.0/24', '-o', `parent=${PARENT}.4095`, 'x2'], /vlan id out of range: 4095/);
    await refused(['network', 'create', '-d', 'macvlan', '--subnet', '192.0.2.0/24', '-o', `parent=${PARENT}`, '-o', 'macvlan_mode=source', 'x3'], /macvlan_mode "source" is not supported/);
    await refused(['network', 'create', '-d', 'bridge', '-o', `parent=${PARENT}`, 'x4'], /option parent is for macvlan networks/);
    // a veth pair is made down (this machine's kernels have no dummy devices)
    await runOk(['ip', 'link', 'add', `mvd${RUN}`, 'type', 'veth', 'peer', 'name', `mve${RUN}`]);
    try {
      await refused(['network', 'create', '-d', 'macvlan', '--subnet', '192.0.2.0/24', '-o', `parent=mvd${RUN}`, 'x5'], /is down/);
    } finally {
      await run(['ip', 'link', 'del', `mvd${RUN}`]);
    }
    await d.cliOk(['network', 'create', '-d', 'macvlan', '--subnet', '198.51.100.0/24', '-o', `parent=${PARENT}.30`, '-o', 'macvlan_mode=passthru', 'pt']);
    await d.cliOk(['network', 'connect', 'pt', C('5')]);
    await refused(['network', 'connect', 'pt', C('6')], /passthru: its parent is .*'s alone/);
    await refused(['network', 'connect', '-p', '8080:80', 'lanv', C('6')], /macvlan network: .* no port to publish/);
    expect(await run(['ip', '-n', C('6'), 'link', 'show', 'eth0'])).toMatchObject({ code: 1 });
    await d.cliOk(['network', 'disconnect', 'pt', C('5')]);
    await d.cliOk(['network', 'rm', 'pt']);
    expect((await d.cliOk(['network', 'ls', '-q'])).stdout).toBe(before);
  });

  it('a parent that goes down is let go of and taken back once it is up again', async () => {
    await runOk(['ip', 'link', 'set', PARENT, 'down']);
    expect(await waitFor(() => /"state":"down".*macvlan parent vanished|macvlan parent vanished.*"state":"down"/.test(d.logTail(50)), 10_000)).toBe(true);
    await runOk(['ip', 'link', 'set', PARENT, 'up']);
    expect(await waitFor(() => /macvlan parent is back/.test(d.logTail(50)), 10_000)).toBe(true);
    expect(await waitFor(() => reaches(C('1'), at(lan, 50), 1), 10_000, 500)).toBe(true);
  });

  it('a parent that vanishes is let go of (the containers stay) and taken back when it returns', async () => {
    await run(['ip', 'link', 'del', PARENT]); // its peer on the LAN goes with it
    expect(await waitFor(() => /macvlan parent vanished/.test(d.logTail(50)), 10_000)).toBe(true);
    expect(await reaches(C('1'), at(lan, 50), 1)).toBe(false);
    // reported: `pontoon status` and the metrics
    expect((await d.cliOk(['status'])).stdout).toMatch(new RegExp(`macvlan parents:\\n.*\\n${PARENT} +detached +\\S*lanv\\S* +2\\n`));
    expect(await d.metrics()).toMatch(/^pontoon_macvlan_parent_lost_total 2$/m);
    await runOk(['ip', '-n', LAN, 'link', 'add', TRUNK, 'type', 'veth', 'peer', 'name', PARENT, 'netns', '1']);
    await runOk(['ip', '-n', LAN, 'link', 'set', TRUNK, 'master', 'br0', 'up']);
    await runOk(['ip', 'link', 'set', PARENT, 'up']);
    expect(await waitFor(() => /macvlan parent is back/.test(d.logTail(50)), 10_000)).toBe(true);
    expect(await waitFor(() => reaches(C('1'), at(lan, 50), 1), 10_000, 500)).toBe(true);
  });
});

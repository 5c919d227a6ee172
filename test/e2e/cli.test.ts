/**
 * The pontoon CLI against a real daemon: every bad input gets one clear line on stderr
 * ("Error: ..." and exit 1, or commander's usage error and exit 2) and changes nothing: the
 * networks, the endpoints, the host's routes and the namespaces are identical before and after.
 * Also: JSON output, an unreachable daemon, and daemon start-up failures. Needs root.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import {
  type Daemon,
  cleanupAll,
  cliPath,
  createNetns,
  freePort,
  hostAddr,
  linkExists,
  makeTempDir,
  nsAddrs,
  pickHostLink,
  pickSubnets,
  randomHex,
  routes,
  run,
  runOk,
  SCAPY_PYTHON,
  startDaemon,
} from './harness.js';
import { needs, root, tools } from './requirements.js';

const RUN = randomHex(3);
const C1 = `pte-${RUN}-c1`; // connected to alpha
const C2 = `pte-${RUN}-c2`; // connected to nothing
const NOPE = `pte-${RUN}-nope`; // does not exist

/** The drop reasons the documentation promises (src/dataplane/counters.ts has them all). */
const DROP_REASONS = [
  'malformed',
  'bad_checksum',
  'spoofed_mac',
  'spoofed_ip',
  'spoofed_arp',
  'no_route',
  'ttl_expired',
  'network_isolation',
  'internal_network',
  'neighbour_unreachable',
  'arp_queue_full',
  'fragmentation_needed',
  'unsupported_ethertype',
];

needs(root, tools('ip', 'python3')).describe('pontoon CLI (e2e)', () => {
  let d: Daemon;
  let tmp: string;
  let S0: string; // bridge
  let S1: string; // alpha
  let S2: string; // free
  let S3: string; // free
  let c1Ip: string;
  let before: string;

  /** Everything a failed command must leave alone, as one comparable string. */
  async function world(): Promise<string> {
    const ls = await d.cliOk(['network', 'ls', '--format', 'json', '--no-trunc']);
    const inspect = await d.cliOk(['network', 'inspect', 'bridge', 'alpha']);
    const hostRoutes = (await routes(null)).filter((r) => r.dev === d.config.host.device);
    const ns = await Promise.all([C1, C2].map(async (n) => (await nsAddrs(n)).map((l) => [l.ifname, l.ifindex, l.addr_info?.map((a) => a.local)])));
    return JSON.stringify({ ls: ls.stdout, inspect: inspect.stdout, hostRoutes, ns }, null, 1);
  }

  beforeAll(async () => {
    [S0, S1, S2, S3] = (await pickSubnets(['10.212', '172.26', '192.168'], 4)) as [string, string, string, string];
    tmp = makeTempDir('pte-cli-');
    const link = await pickHostLink();
    d = await startDaemon({ hostAddress: link.hostCidr, defaultNetwork: { name: 'bridge', subnet: S0 } });
    await createNetns(C1);
    await createNetns(C2);
    await d.cliOk(['network', 'create', '--subnet', S1, 'alpha']);
    await d.cliOk(['network', 'connect', '-p', '18080:80', 'alpha', C1]);
    c1Ip = hostAddr(S1, 2);
    before = await world();
  });

  afterAll(async () => {
    const problems = await cleanupAll();
    if (problems.length > 0) console.warn(`cleanup problems:\n${problems.join('\n')}`);
  });

  // [what, argv, the message after "Error: "]: computed once the subnets are known
  const errorCases = (): [string, string[], string][] => {
    const inS0 = S0.replace(/\.0\/24$/, '.128/25');
    const withHostBits = S2.replace(/\.0\/24$/, '.5/24');
    return [
      ['bad CIDR: prefix length', ['network', 'create', '--subnet', S2.replace('/24', '/33'), 'n1'], `invalid subnet "${S2.replace('/24', '/33')}": the prefix length must be between 0 and 32`],
      ['bad CIDR: not an address', ['network', 'create', '--subnet', 'bogus', 'n1'], 'invalid subnet "bogus": expected an IPv4 CIDR such as 172.18.0.0/16'],
      ['bad CIDR: host bits set', ['network', 'create', '--subnet', withHostBits, 'n1'], `invalid subnet ${withHostBits}: it should be ${S2}`],
      ['overlapping subnet', ['network', 'create', '--subnet', inS0, 'n1'], `subnet ${inS0} of network "n1" overlaps with ${S0} of network "bridge"`],
      ['gateway outside the subnet', ['network', 'create', '--subnet', S2, '--gateway', hostAddr(S3, 1), 'n1'], `gateway ${hostAddr(S3, 1)} is not in subnet ${S2}`],
      ['MTU out of range', ['network', 'create', '--subnet', S2, '--mtu', '10', 'n1'], 'invalid mtu 10: it must be between 68 and 65535'],
      ['conflicting MTUs', ['network', 'create', '--mtu', '1400', '-o', 'com.docker.network.driver.mtu=1300', 'n1'], 'conflicting MTUs: --mtu 1400 and com.docker.network.driver.mtu=1300'],
      ['unsupported driver option', ['network', 'create', '-o', 'foo=bar', 'n1'], 'driver option "foo" is not supported (supported: com.docker.network.driver.mtu, pontoon.ipv6.nat, parent, macvlan_mode, pontoon.host_access, pontoon.flannel_prefix)'],
      ['invalid network name', ['network', 'create', '--subnet', S2, 'bad name'], 'invalid network name "bad name": only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed'],
      ['duplicate name', ['network', 'create', '--subnet', S2, 'alpha'], 'network with name alpha already exists'],
      ['address outside the subnet', ['network', 'connect', '--ip', hostAddr(S0, 9), 'alpha', C2], `address ${hostAddr(S0, 9)} is not in subnet ${S1} of network "alpha"`],
      ['address in use', ['network', 'connect', '--ip', hostAddr(S1, 2), 'alpha', C2], `address ${hostAddr(S1, 2)} is already in use on network "alpha"`],
      ['address of the gateway', ['network', 'connect', '--ip', hostAddr(S1, 1), 'alpha', C2], `address ${hostAddr(S1, 1)} is already in use on network "alpha" (it is the gateway)`],
      ['not an address', ['network', 'connect', '--ip', '10.0.0.256', 'alpha', C2], 'invalid address "10.0.0.256": not an IPv4 address'],
      ['unknown netns', ['network', 'connect', 'alpha', NOPE], `network namespace "${NOPE}" not found (no /run/netns/${NOPE})`],
      ['a file that is not a netns', ['network', 'connect', 'alpha', '/etc/hostname'], '"/etc/hostname" is not a network namespace'],
      ['unknown network (connect)', ['network', 'connect', `nosuch-${RUN}`, C2], `network nosuch-${RUN} not found`],
      ['already connected', ['network', 'connect', 'alpha', C1], `${C1} is already connected to network alpha`],
      ['disconnect of a netns not connected', ['network', 'disconnect', 'alpha', C2], `${C2} is not connected to network alpha`],
      ['rm of a network with endpoints', ['network', 'rm', 'alpha'], 'network alpha has active endpoints (1)'],
      ['port already published', ['network', 'connect', '-p', '18080:80', 'alpha', C2], `port 18080/tcp is already published by ${C1} on network alpha`],
      ['published twice in one request', ['network', 'connect', '-p', '18081:80', '-p', '18081:81', 'alpha', C2], `port 18081/tcp is already published by ${C2}`],
      ['port range size mismatch', ['network', 'connect', '-p', '8000-8005:80-90', 'alpha', C2], 'invalid port mapping "8000-8005:80-90": the host range has 6 ports and the container range 11'],
      ['bad port range', ['network', 'connect', '-p', '90-80:80-90', 'alpha', C2], 'invalid port mapping "90-80:80-90": bad host port range "90-80"'],
      ['bad protocol', ['network', 'connect', '-p', '8080:80/sctp', 'alpha', C2], 'invalid port mapping "8080:80/sctp": protocol must be tcp or udp'],
      ['rm of the default network', ['network', 'rm', 'bridge'], 'bridge is a pre-defined network and cannot be removed'],
      ['rm of an unknown network', ['network', 'rm', `nosuch-${RUN}`], `network nosuch-${RUN} not found`],
    ];
  };

  it('bad input: exit 1, one "Error: ..." line, nothing printed on stdout, nothing changed', async () => {
    const cases = errorCases();
    // the subnet of the host's main interface (the link route of the default route's device)
    const hostRoutes = await routes(null);
    const mainDev = hostRoutes.find((r) => r.dst === 'default')?.dev;
    const foreign = hostRoutes.find(
      (r) => r.dev === mainDev && r.protocol === 'kernel' && r.dst.includes('/') && Number(r.dst.split('/')[1]) <= 30,
    );
    if (foreign !== undefined) {
      cases.push([
        'subnet of a host route',
        ['network', 'create', '--subnet', foreign.dst, 'n1'],
        `subnet ${foreign.dst} of network "n1" overlaps with host route ${foreign.dst}`,
      ]);
    }
    const failures: string[] = [];
    for (const [what, argv, message] of cases) {
      const r = await d.cli(argv);
      const got = { code: r.code, stdout: r.stdout, stderr: r.stderr };
      const want = { code: 1, stdout: '', stderr: `Error: ${message}\n` };
      if (JSON.stringify(got) !== JSON.stringify(want)) failures.push(`${what}: pontoon ${argv.join(' ')}\n  got  ${JSON.stringify(got)}\n  want ${JSON.stringify(want)}`);
      const after = await world();
      if (after !== before) failures.push(`${what}: pontoon ${argv.join(' ')} changed the world:\n${after}\nwas:\n${before}`);
    }
    expect(failures.join('\n')).toBe('');
  });

  it('inspect of an unknown network prints [] and one error line, exit 1', async () => {
    const r = await d.cli(['network', 'inspect', `nosuch-${RUN}`]);
    expect(r).toEqual({ code: 1, stdout: '[]\n', stderr: `Error: No such network: nosuch-${RUN}\n` });
    // the known ones are still printed
    const both = await d.cli(['network', 'inspect', 'alpha', `nosuch-${RUN}`]);
    expect(both.code).toBe(1);
    expect((JSON.parse(both.stdout) as { Name: string }[]).map((n) => n.Name)).toEqual(['alpha']);
    expect(both.stderr).toBe(`Error: No such network: nosuch-${RUN}\n`);
  });

  it.each([
    [['network', 'create'], "error: missing required argument 'name'", 'pontoon network create'],
    [['network', 'create', '--mtu', 'abc', 'x'], "error: option '--mtu <bytes>' argument 'abc' is invalid.", 'pontoon network create'],
    [['network', 'connect', 'alpha'], "error: missing required argument 'netns'", 'pontoon network connect'],
    [['network', 'bogus'], "error: unknown command 'bogus'", 'pontoon network'],
    [['network', 'ls', '--format', 'yaml'], "error: option '--format <format>' argument 'yaml' is invalid. Allowed choices are table, json.", 'pontoon network ls'],
    [['status', '--bogus'], "error: unknown option '--bogus'", 'pontoon status'],
  ])('usage error %j: exit 2, the problem and a --help hint, nothing changed', async (argv, first, cmd) => {
    const r = await d.cli(argv);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    const lines = r.stderr.trimEnd().split('\n');
    expect(lines).toHaveLength(2);
    expect(lines[0]!.startsWith(first), lines[0]).toBe(true);
    expect(lines[1]).toBe(`See '${cmd} --help'.`);
    expect(await world()).toBe(before);
  });

  it('--format json output parses and says what inspect says', async () => {
    const ls = await d.cliOk(['network', 'ls', '--format', 'json']);
    const rows = ls.stdout.trimEnd().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    const alpha = await d.inspect('alpha');
    const bridge = await d.inspect('bridge');
    expect(rows).toEqual([
      { ID: alpha.Id.slice(0, 12), Name: 'alpha', Driver: 'bridge', Scope: 'local', Subnet: S1, Gateway: hostAddr(S1, 1), IPv6: false, Internal: false, Endpoints: 1 },
      { ID: bridge.Id.slice(0, 12), Name: 'bridge', Driver: 'bridge', Scope: 'local', Subnet: S0, Gateway: hostAddr(S0, 1), IPv6: false, Internal: false, Endpoints: 0 },
    ]);
    expect(alpha.Id).toMatch(/^[0-9a-f]{64}$/);
    const full = (await d.cliOk(['network', 'ls', '--format', 'json', '--no-trunc'])).stdout.trimEnd().split('\n');
    expect(full.map((l) => (JSON.parse(l) as { ID: string }).ID)).toEqual([alpha.Id, bridge.Id]);
    expect((await d.cliOk(['network', 'ls', '-q'])).stdout).toBe(`${alpha.Id.slice(0, 12)}\n${bridge.Id.slice(0, 12)}\n`);
    // the table, docker style
    expect((await d.cliOk(['network', 'ls'])).stdout).toBe(
      'NETWORK ID     NAME      DRIVER    SCOPE\n' +
        `${alpha.Id.slice(0, 12)}   alpha     bridge    local\n` +
        `${bridge.Id.slice(0, 12)}   bridge    bridge    local\n`,
    );

    const st = await d.status();
    expect(st).toMatchObject({ networks: 2, endpoints: 1 });
    expect(st.ports).toContainEqual(expect.objectContaining({ name: d.config.host.device, kind: 'tun', network: null }));
    expect(st.ports).toContainEqual(expect.objectContaining({ name: `eth0@${C1}`, kind: 'tap', network: 'alpha' }));
    for (const reason of DROP_REASONS) expect(typeof st.drops[reason], reason).toBe('number');
    expect(st.neighbours).toContainEqual(expect.objectContaining({ network: 'alpha', ip: c1Ip, state: 'reachable' }));
    // and the metrics agree on the inventory
    const metrics = await d.metrics();
    expect(metrics).toMatch(/^pontoon_networks 2$/m);
    expect(metrics).toMatch(/^pontoon_endpoints 1$/m);
  });

  it('daemon not running: one line naming the socket, exit 1, for every command', async () => {
    const nothing = join(tmp, 'nothing.sock');
    for (const argv of [['network', 'ls'], ['status'], ['network', 'create', 'n1'], ['network', 'inspect', 'bridge']]) {
      const r = await d.cli(argv, { env: { ...process.env, PONTOON_SOCKET: nothing } });
      expect(r, argv.join(' ')).toEqual({ code: 1, stdout: '', stderr: `Error: cannot reach the pontoon daemon at ${nothing}: is it running? (ENOENT)\n` });
    }
    // --socket wins over PONTOON_SOCKET
    const r = await d.cli(['--socket', nothing, 'network', 'ls']);
    expect(r.stderr).toBe(`Error: cannot reach the pontoon daemon at ${nothing}: is it running? (ENOENT)\n`);
    // a socket file left behind by a dead daemon: nobody listens
    const stale = join(tmp, 'stale.sock');
    await runOk([SCAPY_PYTHON, '-c', `import socket; socket.socket(socket.AF_UNIX).bind(${JSON.stringify(stale)})`]);
    const s = await d.cli(['network', 'ls'], { env: { ...process.env, PONTOON_SOCKET: stale } });
    expect(s).toEqual({ code: 1, stdout: '', stderr: `Error: cannot reach the pontoon daemon at ${stale}: is it running? (ECONNREFUSED)\n` });
  });

  it('a config with an unknown key: the daemon exits 1 with one line naming the key, and creates nothing', async () => {
    const dev = `pe${randomHex(2)}9`;
    const link = await pickHostLink();
    const stateDir = join(tmp, 'badstate');
    const socket = join(tmp, 'bad', 'pontoon.sock');
    const base = `stateDir: ${stateDir}\napi: { socket: ${socket} }\nmetrics: { listen: 127.0.0.1:${await freePort()} }\ndefaultNetwork: { name: bridge, subnet: ${S2} }\n`;
    const cases: [string, string][] = [
      [`${base}host: { device: ${dev}, address: ${link.hostCidr}, colour: blue }\n`, 'unknown key "colour" (in host)'],
      [`${base}host: { device: ${dev}, address: ${link.hostCidr} }\ncolour: blue\n`, 'unknown key "colour" (at top level)'],
      [`${base}host: { device: ${dev}, address: ${link.hostCidr} }\ndataplane: { arp: { retires: 3 } }\n`, 'unknown key "retires" (in dataplane.arp)'],
    ];
    for (const [i, [text, message]] of cases.entries()) {
      const file = join(tmp, `bad-${i}.yaml`);
      writeFileSync(file, text);
      const r = await run([process.execPath, cliPath(), 'daemon', '--config', file], { timeoutMs: 15_000 });
      expect({ code: r.code, stdout: r.stdout, stderr: r.stderr, timedOut: r.timedOut }).toEqual({
        code: 1,
        stdout: '',
        stderr: `Error: ${file}: ${message}\n`,
        timedOut: false,
      });
      expect(await linkExists(dev)).toBe(false);
      expect((await routes(null)).filter((x) => x.dst === S2 || x.dst === link.cidr)).toEqual([]);
    }
    expect((await run(['ls', stateDir, socket])).code).not.toBe(0); // neither was created
  });

  it('a second daemon on the same API socket exits 1 with one line, and the first keeps working', async () => {
    const link = await pickHostLink();
    const dev = `pe${randomHex(2)}8`;
    const file = join(tmp, 'second.yaml');
    writeFileSync(
      file,
      JSON.stringify({
        stateDir: join(tmp, 'second-state'),
        devicePrefix: dev.slice(0, 6),
        api: { socket: d.config.api.socket },
        metrics: { listen: `127.0.0.1:${await freePort()}` },
        host: { device: dev, address: link.hostCidr },
        defaultNetwork: null,
      }),
    );
    const r = await run([process.execPath, cliPath(), 'daemon', '--config', file], { timeoutMs: 15_000 });
    expect({ code: r.code, stderr: r.stderr, timedOut: r.timedOut }).toEqual({
      code: 1,
      stderr: `Error: another pontoon daemon is already listening on ${d.config.api.socket}\n`,
      timedOut: false,
    });
    expect(await linkExists(dev)).toBe(false); // its TUN device went away with it
    expect(await world()).toBe(before);
  });

  let tunBusy: Awaited<ReturnType<typeof run>> | undefined;

  it('a second daemon on the same TUN device prints one line naming the device, and the first keeps working', async () => {
    const file = join(tmp, 'tunbusy.yaml');
    writeFileSync(
      file,
      JSON.stringify({
        stateDir: join(tmp, 'tunbusy-state'),
        devicePrefix: d.config.devicePrefix,
        api: { socket: join(tmp, 'tunbusy.sock') },
        metrics: { listen: `127.0.0.1:${await freePort()}` },
        host: { device: d.config.host.device, address: (await pickHostLink()).hostCidr },
        defaultNetwork: null,
      }),
    );
    tunBusy = await run([process.execPath, cliPath(), 'daemon', '--config', file], { timeoutMs: 5000 });
    expect(tunBusy.stderr).toBe(
      `Error: cannot open TUN device ${d.config.host.device}: Device or resource busy (EBUSY); another process holds the device open\n`,
    );
    expect(await linkExists(d.config.host.device)).toBe(true);
    expect(await world()).toBe(before);
  });

  // (regression: the data-plane worker used to start before the TUN open and kept the process alive)
  it('...and exits 1 instead of hanging', () => {
    expect(tunBusy).toBeDefined();
    expect({ code: tunBusy!.code, timedOut: tunBusy!.timedOut }).toEqual({ code: 1, timedOut: false });
  });

  // Last: the bug below breaks the running daemon's host routes.
  let sharedState: { run: Awaited<ReturnType<typeof run>>; stateBefore: string } | undefined;

  it('a second daemon sharing the state dir and the socket (another TUN) exits 1 with one line', async () => {
    const file = join(tmp, 'shared.yaml');
    const dev = `pe${randomHex(2)}7`;
    writeFileSync(
      file,
      JSON.stringify({
        stateDir: d.config.stateDir,
        devicePrefix: dev.slice(0, 6),
        api: { socket: d.config.api.socket },
        metrics: { listen: `127.0.0.1:${await freePort()}` },
        host: { device: dev, address: (await pickHostLink()).hostCidr },
        defaultNetwork: { name: 'bridge', subnet: S0 },
      }),
    );
    const stateBefore = readFileSync(join(d.config.stateDir, 'state.json'), 'utf8');
    const r = await run([process.execPath, cliPath(), 'daemon', '--config', file], { timeoutMs: 15_000 });
    sharedState = { run: r, stateBefore };
    expect({ code: r.code, stderr: r.stderr, timedOut: r.timedOut }).toEqual({
      code: 1,
      stderr: `Error: another pontoon daemon is already listening on ${d.config.api.socket}\n`,
      timedOut: false,
    });
    expect(await linkExists(dev)).toBe(false);
  });

  // (regression: the second daemon used to restore the state before finding the socket taken,
  // rewriting state.json and moving the running daemon's host routes to its own TUN)
  it("...and leaves the running daemon's routes and state.json alone", async () => {
    expect(sharedState).toBeDefined();
    expect(readFileSync(join(d.config.stateDir, 'state.json'), 'utf8')).toBe(sharedState!.stateBefore);
    expect(await routes(null, [S1])).toEqual([expect.objectContaining({ dst: S1, dev: d.config.host.device })]);
  });
});

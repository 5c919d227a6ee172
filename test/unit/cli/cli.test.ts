import { describe, expect, it, vi } from 'vitest';
import { runCli } from '../../../src/cli/program.js';
import { formatTable } from '../../../src/cli/format.js';
import { ApiRequestError, BACKEND, BACKEND_ID, BRIDGE_ID, fakeClients, STATUS, SUMMARIES } from './fixtures.js';

vi.mock('../../../src/control/daemon.js', () => ({ runDaemon: vi.fn(async () => undefined) }));

async function run(args: string[], answer: (method: string, path: string, body: unknown) => unknown = () => undefined, env = {}) {
  const { calls, factory } = fakeClients(answer);
  let out = '';
  let err = '';
  const code = await runCli(args, { out: (s) => void (out += s), err: (s) => void (err += s) }, factory, env);
  return { code, out, err, calls };
}

describe('format', () => {
  it("pads columns like docker's tabwriter (min 10, padding 3, last column bare)", () => {
    expect(formatTable(['A', 'LONGER HEADER', 'Z'], [['x', 'y', 'z'], ['a-long-cell', '', 'last']])).toBe(
      'A             LONGER HEADER   Z\n' + 'x             y               z\n' + 'a-long-cell                   last\n',
    );
  });
});

describe('network ls', () => {
  it('prints docker\'s table sorted by name', async () => {
    const r = await run(['network', 'ls'], () => SUMMARIES);
    expect(r).toMatchObject({ code: 0, err: '' });
    expect(r.out).toBe(
      'NETWORK ID     NAME      DRIVER    SCOPE\n' +
        '0a1b2c3d4e5f   backend   bridge    local\n' +
        '9f2c1d0b8a7e   bridge    bridge    local\n',
    );
    expect(r.calls).toEqual([{ socket: '/run/pontoon/pontoon.sock', method: 'GET', path: '/v1/networks' }]);
  });

  it('prints only the header when there are no networks', async () => {
    expect((await run(['network', 'ls'], () => [])).out).toBe('NETWORK ID   NAME      DRIVER    SCOPE\n');
  });

  it('prints one JSON object per line with --format json', async () => {
    const r = await run(['network', 'ls', '--format', 'json'], () => SUMMARIES);
    expect(r.out).toBe(
      '{"ID":"0a1b2c3d4e5f","Name":"backend","Driver":"bridge","Scope":"local","Subnet":"172.18.0.0/16","Gateway":"172.18.0.1","IPv6":false,"Internal":true,"Endpoints":0}\n' +
        '{"ID":"9f2c1d0b8a7e","Name":"bridge","Driver":"bridge","Scope":"local","Subnet":"172.17.0.0/16","Gateway":"172.17.0.1","IPv6":false,"Internal":false,"Endpoints":2}\n',
    );
  });

  it('prints ids with -q, full ones with --no-trunc', async () => {
    expect((await run(['network', 'ls', '-q'], () => SUMMARIES)).out).toBe('0a1b2c3d4e5f\n9f2c1d0b8a7e\n');
    expect((await run(['network', 'ls', '-q', '--no-trunc'], () => SUMMARIES)).out).toBe(`${BACKEND_ID}\n${BRIDGE_ID}\n`);
    expect((await run(['network', 'ls', '--no-trunc'], () => SUMMARIES)).out.split('\n')[1]).toBe(
      `${BACKEND_ID}   backend   bridge    local`,
    );
  });
});

describe('network create', () => {
  it('sends the request and prints the full id', async () => {
    const r = await run(
      ['network', 'create', '--subnet', '172.18.0.0/16', '--gateway', '172.18.0.1', '--ip-range', '172.18.5.0/24', '--internal', '--mtu', '9000', 'backend'],
      () => BACKEND,
    );
    expect(r).toMatchObject({ code: 0, out: `${BACKEND_ID}\n`, err: '' });
    expect(r.calls).toEqual([
      {
        socket: '/run/pontoon/pontoon.sock',
        method: 'POST',
        path: '/v1/networks',
        body: { name: 'backend', driver: 'bridge', subnet: '172.18.0.0/16', gateway: '172.18.0.1', ipRange: '172.18.5.0/24', internal: true, mtu: 9000 },
      },
    ]);
  });

  it('sends repeated --subnet/--gateway/--ip-range as lists, --ipv6 and -o pontoon.ipv6.nat', async () => {
    const r = await run(
      [
        'network', 'create', '--ipv6', '--subnet', '172.20.0.0/16', '--subnet', 'fd00:20::/64', '--gateway', 'fd00:20::1',
        '--ip-range', '172.20.5.0/24', '--ip-range', 'fd00:20::100/120', '-o', 'pontoon.ipv6.nat=false', 'dual',
      ],
      () => BACKEND,
    );
    expect(r).toMatchObject({ code: 0, out: `${BACKEND_ID}\n`, err: '' });
    expect(r.calls[0]!.body).toEqual({
      name: 'dual',
      driver: 'bridge',
      subnets: ['172.20.0.0/16', 'fd00:20::/64'],
      gateway: 'fd00:20::1',
      ipRanges: ['172.20.5.0/24', 'fd00:20::100/120'],
      ipv6: true,
      ipv6Nat: false,
    });
    expect((await run(['network', 'create', '-o', 'pontoon.ipv6.nat=yes', 'x'])).err).toBe('Error: invalid value "yes" for pontoon.ipv6.nat: true or false\n');
  });

  it('sends --ip6 with connect', async () => {
    const r = await run(['network', 'connect', '--ip6', 'fd00:20::9', 'dual', 'c1'], () => ({}));
    expect(r.calls[0]!.body).toEqual({ netns: 'c1', ip6: 'fd00:20::9' });
  });

  it('takes the MTU from -o com.docker.network.driver.mtu', async () => {
    const r = await run(['network', 'create', '-o', 'com.docker.network.driver.mtu=1400', '-d', 'bridge', 'x'], () => BACKEND);
    expect(r.calls[0]!.body).toEqual({ name: 'x', driver: 'bridge', mtu: 1400 });
  });

  it('rejects unknown driver options and conflicting MTUs in one line', async () => {
    expect(await run(['network', 'create', '-o', 'foo=1', 'x'])).toMatchObject({
      code: 1,
      out: '',
      err: 'Error: driver option "foo" is not supported (supported: com.docker.network.driver.mtu, pontoon.ipv6.nat, parent, macvlan_mode, pontoon.host_access, pontoon.flannel_prefix)\n',
    });
    expect((await run(['network', 'create', '--mtu', '1500', '-o', 'com.docker.network.driver.mtu=1400', 'x'])).err).toBe(
      'Error: conflicting MTUs: --mtu 1500 and com.docker.network.driver.mtu=1400\n',
    );
  });

  it("prints the daemon's error in one line, exit 1", async () => {
    const r = await run(['network', 'create', 'bridge'], () => {
      throw new ApiRequestError(409, 'network with name bridge already exists');
    });
    expect(r).toMatchObject({ code: 1, out: '', err: 'Error: network with name bridge already exists\n' });
  });
});

describe('network inspect', () => {
  it('prints a JSON array indented by 4 spaces', async () => {
    const r = await run(['network', 'inspect', 'backend'], () => BACKEND);
    expect(r.code).toBe(0);
    expect(r.out).toBe(JSON.stringify([BACKEND], null, 4) + '\n');
    expect(r.out.startsWith('[\n    {\n        "Name": "backend",\n        "Id": "0a1b')).toBe(true);
  });

  it('prints the networks found, then an error per missing one, exit 1', async () => {
    const r = await run(['network', 'inspect', 'backend', 'nope', 'a/b'], (_m, path) => {
      if (path === '/v1/networks/backend') return BACKEND;
      throw new ApiRequestError(404, `network ${decodeURIComponent(path.split('/')[3]!)} not found`);
    });
    expect(r.code).toBe(1);
    expect(JSON.parse(r.out)).toEqual([BACKEND]);
    expect(r.err).toBe('Error: No such network: nope\nError: No such network: a/b\n');
    expect(r.calls.map((c) => c.path)).toEqual(['/v1/networks/backend', '/v1/networks/nope', '/v1/networks/a%2Fb']);
  });

  it('prints [] when nothing is found', async () => {
    const r = await run(['network', 'inspect', 'nope'], () => {
      throw new ApiRequestError(404, 'x');
    });
    expect(r).toMatchObject({ code: 1, out: '[]\n', err: 'Error: No such network: nope\n' });
  });
});

describe('network rm', () => {
  it('prints each removed name', async () => {
    const r = await run(['network', 'rm', 'a', 'b'], () => undefined);
    expect(r).toMatchObject({ code: 0, out: 'a\nb\n', err: '' });
    expect(r.calls.map((c) => `${c.method} ${c.path}`)).toEqual(['DELETE /v1/networks/a', 'DELETE /v1/networks/b']);
  });

  it('goes on after a failure and exits 1', async () => {
    const r = await run(['network', 'rm', 'a', 'bridge', 'c'], (_m, path) => {
      if (path.endsWith('/bridge')) throw new ApiRequestError(409, 'network bridge has active endpoints');
      return undefined;
    });
    expect(r).toMatchObject({ code: 1, out: 'a\nc\n', err: 'Error: network bridge has active endpoints\n' });
  });
});

describe('network connect / disconnect', () => {
  it('connects silently with the options given', async () => {
    const r = await run(['network', 'connect', '--ip', '172.18.0.10', '--alias', 'web', '--alias', 'www', '--name', 'front', 'backend', 'c1'], () => ({}));
    expect(r).toMatchObject({ code: 0, out: '', err: '' });
    expect(r.calls).toEqual([
      {
        socket: '/run/pontoon/pontoon.sock',
        method: 'POST',
        path: '/v1/networks/backend/connect',
        body: { netns: 'c1', ip: '172.18.0.10', aliases: ['web', 'www'], name: 'front' },
      },
    ]);
  });

  it('sends each --link as { name, alias }, the alias defaulting to the container name', async () => {
    const r = await run(['network', 'connect', '--link', 'db:dbalias', '--link', 'cache', '--link', '/api:/web/svc', 'backend', 'web'], () => ({}));
    expect(r).toMatchObject({ code: 0, out: '', err: '' });
    expect(r.calls[0]!.body).toEqual({
      netns: 'web',
      links: [
        { name: 'db', alias: 'dbalias' },
        { name: 'cache', alias: 'cache' },
        { name: 'api', alias: 'svc' },
      ],
    });
  });

  it('reports the daemon\'s refusal of a link in one line', async () => {
    const r = await run(['network', 'connect', '--link', 'nope:x', 'backend', 'web'], () => {
      throw new ApiRequestError(404, 'could not get container for nope: no container nope on network backend');
    });
    expect(r).toMatchObject({ code: 1, out: '', err: 'Error: could not get container for nope: no container nope on network backend\n' });
  });

  it('sends a PID or an absolute path as given, a relative path made absolute', async () => {
    expect((await run(['network', 'connect', 'bridge', '1234'], () => ({}))).calls[0]!.body).toEqual({ netns: '1234' });
    expect((await run(['network', 'connect', 'bridge', './ns/c1'], () => ({}))).calls[0]!.body).toEqual({
      netns: `${process.cwd()}/ns/c1`,
    });
  });

  it('disconnects silently', async () => {
    const r = await run(['network', 'disconnect', 'backend', '/run/netns/c1'], () => undefined);
    expect(r).toMatchObject({ code: 0, out: '', err: '' });
    expect(r.calls).toEqual([
      { socket: '/run/pontoon/pontoon.sock', method: 'POST', path: '/v1/networks/backend/disconnect', body: { netns: '/run/netns/c1' } },
    ]);
  });

  it('reports a connect error in one line', async () => {
    const r = await run(['network', 'connect', 'bridge', 'c9'], () => {
      throw new ApiRequestError(404, 'network namespace "c9" not found (no /run/netns/c9)');
    });
    expect(r).toMatchObject({ code: 1, out: '', err: 'Error: network namespace "c9" not found (no /run/netns/c9)\n' });
  });
});

describe('status', () => {
  it('prints a human summary', async () => {
    const r = await run(['status'], () => STATUS);
    expect(r.code).toBe(0);
    expect(r.out).toBe(
      [
        'Version: 0.1.0',
        'Uptime: 1h 2m 5s',
        'Networks: 2',
        'Endpoints: 1',
        'I/O: io_uring, busy poll 50 us',
        'Underlay: UDP/IPv6, UDP GSO on, UDP GRO on, socket buffers 16777216 B receive / 8388608 B send',
        '',
        'Ports:',
        'ID        NAME       KIND      NETWORK   RX-PKTS   RX-BYTES   TX-PKTS   TX-BYTES',
        '0         pontoon0   tun       -         10        840        12        1008',
        '1         eth0@c1    tap       bridge    1234567   98765432   7         588',
        '',
        'Drops:',
        'REASON       PACKETS',
        'spoofed-ip   12',
        'no-route     3',
        '',
        'Neighbours:',
        'NETWORK   IP           MAC                 STATE        AGE',
        'bridge    172.17.0.2   02:42:ac:11:00:02   reachable    4s',
        'bridge    172.17.0.9   -                   incomplete   0s',
        '',
        'Forwarding database:',
        'NETWORK   MAC                 PORT      AGE',
        'bridge    02:42:ac:11:00:02   1         12s',
        '',
      ].join('\n'),
    );
  });

  it('says none for empty sections', async () => {
    const io = { backend: 'read/write', fallbackReason: 'io_uring refused: Operation not permitted (EPERM)', busyPollUs: 0, underlay: null };
    const r = await run(['status'], () => ({ ...STATUS, io, uptimeSeconds: 42, ports: [], drops: { 'no-route': 0 }, neighbours: [], fdb: [] }));
    expect(r.out).toBe(
      'Version: 0.1.0\nUptime: 42s\nNetworks: 2\nEndpoints: 1\nI/O: read/write (io_uring refused: Operation not permitted (EPERM)), busy poll off\n\nPorts: none\n\nDrops: none\n\nNeighbours: none\n\nForwarding database: none\n',
    );
  });

  it('prints the report as one JSON line with --format json', async () => {
    const r = await run(['status', '--format', 'json'], () => STATUS);
    expect(r.out).toBe(JSON.stringify(STATUS) + '\n');
    expect(JSON.parse(r.out)).toEqual(STATUS);
  });
});

describe('socket selection', () => {
  it('uses --socket, before or after the command', async () => {
    expect((await run(['--socket', '/tmp/a.sock', 'network', 'ls'], () => [])).calls[0]!.socket).toBe('/tmp/a.sock');
    expect((await run(['network', 'ls', '--socket', '/tmp/b.sock'], () => [])).calls[0]!.socket).toBe('/tmp/b.sock');
  });

  it('uses PONTOON_SOCKET when --socket is absent', async () => {
    expect((await run(['network', 'ls'], () => [], { PONTOON_SOCKET: '/tmp/env.sock' })).calls[0]!.socket).toBe('/tmp/env.sock');
    expect((await run(['--socket', '/tmp/flag.sock', 'status'], () => STATUS, { PONTOON_SOCKET: '/tmp/env.sock' })).calls[0]!.socket).toBe(
      '/tmp/flag.sock',
    );
  });
});

describe('errors and exit codes', () => {
  it('prints an unreachable daemon in one line, exit 1', async () => {
    const r = await run(['network', 'ls'], () => {
      throw new Error('cannot reach the pontoon daemon at /run/pontoon/pontoon.sock: is it running? (ENOENT)');
    });
    expect(r).toMatchObject({ code: 1, out: '', err: 'Error: cannot reach the pontoon daemon at /run/pontoon/pontoon.sock: is it running? (ENOENT)\n' });
  });

  it('inspect stops at an unreachable daemon with one error', async () => {
    const r = await run(['network', 'inspect', 'a', 'b'], () => {
      throw new Error('cannot reach the pontoon daemon at /x: is it running? (ECONNREFUSED)');
    });
    expect(r).toMatchObject({ code: 1, out: '', err: 'Error: cannot reach the pontoon daemon at /x: is it running? (ECONNREFUSED)\n' });
    expect(r.calls).toHaveLength(1);
  });

  it.each([
    [['network', 'create', '--foo', 'x'], "error: unknown option '--foo'\nSee 'pontoon network create --help'.\n"],
    [['network', 'create'], "error: missing required argument 'name'\nSee 'pontoon network create --help'.\n"],
    [['network', 'bogus'], "error: unknown command 'bogus'\nSee 'pontoon network --help'.\n"],
    [['bogus'], "error: unknown command 'bogus'\nSee 'pontoon --help'.\n"],
    [['network', 'ls', 'extra'], "error: too many arguments for 'ls'. Expected 0 arguments but got 1.\nSee 'pontoon network ls --help'.\n"],
    [
      ['network', 'ls', '--format', 'yaml'],
      "error: option '--format <format>' argument 'yaml' is invalid. Allowed choices are table, json.\nSee 'pontoon network ls --help'.\n",
    ],
    [
      ['network', 'create', '--mtu', 'big', 'x'],
      "error: option '--mtu <bytes>' argument 'big' is invalid. Expected a number.\nSee 'pontoon network create --help'.\n",
    ],
    [['network', 'connect', 'bridge'], "error: missing required argument 'netns'\nSee 'pontoon network connect --help'.\n"],
    [
      ['network', 'connect', '--link', 'a:b:c', 'bridge', 'c1'],
      "error: option '--link <container[:alias]>' argument 'a:b:c' is invalid. bad format for links (expected CONTAINER[:ALIAS]).\nSee 'pontoon network connect --help'.\n",
    ],
    [
      ['network', 'connect', '--link', 'db:', 'bridge', 'c1'],
      "error: option '--link <container[:alias]>' argument 'db:' is invalid. empty alias.\nSee 'pontoon network connect --help'.\n",
    ],
    [
      ['network', 'connect', '--link', 'db:my.alias', 'bridge', 'c1'],
      "error: option '--link <container[:alias]>' argument 'db:my.alias' is invalid. alias \"my.alias\" is not a DNS label (1 to 63 letters, digits, '-' and '_').\nSee 'pontoon network connect --help'.\n",
    ],
  ])('usage error %j: commander message + hint, exit 2', async (args, err) => {
    const r = await run(args);
    expect(r).toMatchObject({ code: 2, out: '', err });
    expect(r.calls).toEqual([]);
  });

  it('prints help and the version with exit 0', async () => {
    const help = await run(['network', 'connect', '--help']);
    expect(help.code).toBe(0);
    expect(help.out).toMatch(/^Usage: pontoon network connect \[options\] <network> <netns>\n/);
    const version = await run(['--version']);
    expect(version).toMatchObject({ code: 0, out: '0.1.0\n' });
  });
});

describe('daemon', () => {
  it('runs the daemon with the package config by default, or the one given', async () => {
    const { runDaemon } = await import('../../../src/control/daemon.js');
    const root = new URL('../../../', import.meta.url).pathname;
    expect((await run(['daemon'])).code).toBe(0);
    expect(runDaemon).toHaveBeenLastCalledWith(`${root}config/pontoon.yaml`);
    expect((await run(['daemon', '--config', 'config/demo.yaml'])).code).toBe(0);
    expect(runDaemon).toHaveBeenLastCalledWith('config/demo.yaml');
  });

  it('reports a daemon start-up failure in one line', async () => {
    const { runDaemon } = await import('../../../src/control/daemon.js');
    vi.mocked(runDaemon).mockRejectedValueOnce(new Error('config/x.yaml: unknown key "metric" (at top level)'));
    expect(await run(['daemon', '-c', 'config/x.yaml'])).toMatchObject({
      code: 1,
      err: 'Error: config/x.yaml: unknown key "metric" (at top level)\n',
    });
  });
});

// The plugin over a fake daemon and a fake namespace: literal environment and network
// configuration in, the literal result or CNI error JSON out, for CNI 0.4.0 and 1.0.0.

import { describe, expect, it } from 'vitest';
import { ApiRequestError, type ApiClientLike } from '../../../src/cli/api-client.js';
import type { EndpointResource, NetworkResource } from '../../../src/control/api-types.js';
import { type SandboxInterface, runPlugin } from '../../../src/cni/cni-plugin.js';

const NETNS = '/run/netns/netns-8edbc3d5';
const CID = 'dce3c9e1879705adf4a926c123908f272a5d4f8cc2b5203fe8706e8bc2c44043';

const ENDPOINT: EndpointResource = {
  Name: 'web',
  EndpointID: 'e'.repeat(64),
  MacAddress: '02:42:0a:58:00:02',
  IPv4Address: '10.88.0.2/24',
  IPv6Address: '',
  Interface: 'eth0',
  Netns: NETNS,
  ContainerID: CID,
  Aliases: ['dce3c9e18797'],
  Ports: [],
  DNSNames: ['web', 'dce3c9e18797'],
  DNSServer: '10.88.0.1',
};

function network(o: Partial<NetworkResource> = {}): NetworkResource {
  return {
    Name: 'podnet',
    Id: 'a'.repeat(64),
    Created: '2026-12-02T22:00:00.000Z',
    Scope: 'local',
    Driver: 'bridge',
    EnableIPv6: false,
    IPAM: { Driver: 'default', Options: {}, Config: [{ Subnet: '10.88.0.0/24', Gateway: '10.88.0.1' }] },
    Internal: false,
    Attachable: true,
    Containers: {},
    Options: {},
    Labels: {},
    ...o,
  };
}

interface Call {
  socket: string;
  method: string;
  path: string;
  body?: unknown;
}

function harness(answer: (method: string, path: string, body: unknown) => unknown, sandbox: { exists?: boolean; inside?: SandboxInterface | null } = {}) {
  const calls: Call[] = [];
  const deps = {
    client: (socket: string): ApiClientLike => ({
      request: async <T>(method: string, path: string, body?: unknown): Promise<T> => {
        calls.push({ socket, method, path, ...(body !== undefined ? { body } : {}) });
        return answer(method, path, body) as T;
      },
    }),
    sandbox: {
      exists: () => sandbox.exists ?? true,
      inspect: async () => (sandbox.inside === undefined ? { mac: '02:42:0a:58:00:02', addresses: ['10.88.0.2/24'] } : sandbox.inside),
    },
  };
  return { calls, deps };
}

function env(command: string, o: Record<string, string> = {}): NodeJS.ProcessEnv {
  return { CNI_COMMAND: command, CNI_CONTAINERID: CID, CNI_NETNS: NETNS, CNI_IFNAME: 'eth0', CNI_PATH: '/opt/cni/bin', ...o };
}

/** What Podman 4.3 sends on ADD (captured with a logging plugin), in the given version. */
function podmanConfig(cniVersion: string, extra: Record<string, unknown> = {}): string {
  return JSON.stringify({
    capabilities: { aliases: true, ips: true, portMappings: true },
    cniVersion,
    name: 'podnet',
    network: 'podnet',
    runtimeConfig: { aliases: { podnet: ['web', 'dce3c9e18797'] }, portMappings: [{ hostPort: 8080, containerPort: 80, protocol: 'tcp' }] },
    type: 'pontoon-cni',
    ...extra,
  });
}

const daemon = (net: NetworkResource = network()) => (method: string, path: string) => {
  if (method === 'GET' && path === '/v1/networks/podnet') return net;
  if (method === 'POST' && path === '/v1/networks/podnet/connect') return ENDPOINT;
  if (method === 'POST' && path === '/v1/networks/podnet/disconnect') return undefined;
  throw new ApiRequestError(404, `network ${path.split('/')[3]} not found`);
};

describe('ADD', () => {
  it('connects the namespace with Podman\'s name, aliases and ports, and answers a 1.0.0 result', async () => {
    const { calls, deps } = harness(daemon());
    const r = await runPlugin(env('ADD', { CNI_ARGS: 'IgnoreUnknown=1;K8S_POD_NAME=web' }), podmanConfig('1.0.0'), deps);

    expect(r).toEqual({
      exitCode: 0,
      stdout:
        '{"cniVersion":"1.0.0","interfaces":[{"name":"eth0","mac":"02:42:0a:58:00:02","sandbox":"/run/netns/netns-8edbc3d5"}],' +
        '"ips":[{"interface":0,"address":"10.88.0.2/24","gateway":"10.88.0.1"}],"routes":[{"dst":"0.0.0.0/0","gw":"10.88.0.1"}],' +
        '"dns":{"nameservers":["10.88.0.1"]}}\n',
    });
    expect(calls).toEqual([
      { socket: '/run/pontoon/pontoon.sock', method: 'GET', path: '/v1/networks/podnet' },
      {
        socket: '/run/pontoon/pontoon.sock',
        method: 'POST',
        path: '/v1/networks/podnet/connect',
        body: { netns: NETNS, name: 'web', ifName: 'eth0', containerId: CID, aliases: ['dce3c9e18797'], publish: ['8080:80/tcp'] },
      },
    ]);
  });

  it('answers the 0.4.0 shape (ips with "version"), no default route and no DNS on an internal network without DNS', async () => {
    const { deps } = harness(daemon(network({ Internal: true })));
    const { DNSServer: _, DNSNames: __, ...noDns } = ENDPOINT;
    deps.client = (socket) => {
      const inner = harness(daemon(network({ Internal: true }))).deps.client(socket);
      return { request: async <T>(m: string, p: string, b?: unknown) => (p.endsWith('/connect') ? (noDns as T) : inner.request<T>(m, p, b)) };
    };
    const conf = JSON.stringify({ cniVersion: '0.4.0', name: 'podnet', type: 'pontoon-cni', network: 'podnet', socket: '/tmp/p.sock' });
    const r = await runPlugin(env('ADD'), conf, deps);
    expect(JSON.parse(r.stdout)).toEqual({
      cniVersion: '0.4.0',
      interfaces: [{ name: 'eth0', mac: '02:42:0a:58:00:02', sandbox: NETNS }],
      ips: [{ version: '4', interface: 0, address: '10.88.0.2/24', gateway: '10.88.0.1' }],
      routes: [],
      dns: {},
    });
    expect(r.exitCode).toBe(0);
  });

  it('names the network\'s own gateway as nameserver, also when the container resolves through its first network', async () => {
    const second = network({ Name: 'podnet', IPAM: { Driver: 'default', Options: {}, Config: [{ Subnet: '10.89.0.0/24', Gateway: '10.89.0.1' }] } });
    const { deps } = harness((m, p) => (m === 'GET' ? second : p.endsWith('/connect') ? { ...ENDPOINT, Interface: 'eth1', IPv4Address: '10.89.0.2/24' } : undefined));
    const r = await runPlugin(env('ADD', { CNI_IFNAME: 'eth1' }), podmanConfig('1.0.0'), deps);
    expect(JSON.parse(r.stdout)).toMatchObject({ ips: [{ address: '10.89.0.2/24', gateway: '10.89.0.1' }], dns: { nameservers: ['10.89.0.1'] } });
  });

  it('passes on a previous plugin\'s result before its own when it is not first in the chain', async () => {
    const { deps } = harness(daemon());
    const prevResult = {
      cniVersion: '1.0.0',
      interfaces: [{ name: 'lo', mac: '00:00:00:00:00:00', sandbox: NETNS }],
      ips: [{ interface: 0, address: '127.0.0.1/8' }],
      dns: { nameservers: ['192.0.2.53'] },
    };
    const r = await runPlugin(env('ADD'), podmanConfig('1.0.0', { prevResult }), deps);
    expect(JSON.parse(r.stdout)).toEqual({
      cniVersion: '1.0.0',
      interfaces: [
        { name: 'lo', mac: '00:00:00:00:00:00', sandbox: NETNS },
        { name: 'eth0', mac: '02:42:0a:58:00:02', sandbox: NETNS },
      ],
      ips: [
        { interface: 0, address: '127.0.0.1/8' },
        { interface: 1, address: '10.88.0.2/24', gateway: '10.88.0.1' },
      ],
      routes: [{ dst: '0.0.0.0/0', gw: '10.88.0.1' }],
      dns: { nameservers: ['192.0.2.53', '10.88.0.1'] },
    });
  });

  it('asks for the address of CNI_ARGS IP= or runtimeConfig ips, and the host address of a port mapping', async () => {
    const { calls, deps } = harness(daemon());
    const conf = podmanConfig('1.0.0', {
      runtimeConfig: { ips: ['10.88.0.9/24'], portMappings: [{ hostPort: 8443, containerPort: 443, protocol: 'udp', hostIP: '127.0.0.1' }] },
    });
    expect((await runPlugin(env('ADD', { CNI_ARGS: 'IP=10.88.0.9' }), conf, deps)).exitCode).toBe(0);
    expect(calls[1]!.body).toEqual({ netns: NETNS, name: CID.slice(0, 12), ifName: 'eth0', containerId: CID, ip: '10.88.0.9', publish: ['127.0.0.1:8443:443/udp'] });

    const disagree = await runPlugin(env('ADD', { CNI_ARGS: 'IP=10.88.0.7' }), conf, deps);
    expect(disagree).toEqual({
      exitCode: 1,
      stdout: '{"cniVersion":"1.0.0","code":2,"msg":"more than one address asked for (10.88.0.9, 10.88.0.7): a pontoon endpoint has one IPv4 address"}\n',
    });
  });

  it('refuses unknown CNI_ARGS unless IgnoreUnknown is true', async () => {
    const { deps } = harness(daemon());
    const conf = podmanConfig('1.0.0');
    expect(await runPlugin(env('ADD', { CNI_ARGS: 'FOO=bar' }), conf, deps)).toEqual({
      exitCode: 1,
      stdout: '{"cniVersion":"1.0.0","code":4,"msg":"invalid CNI_ARGS: unknown key FOO (add IgnoreUnknown=1 to ignore it)"}\n',
    });
    expect((await runPlugin(env('ADD', { CNI_ARGS: 'IgnoreUnknown=true;FOO=bar' }), conf, deps)).exitCode).toBe(0);
    expect(JSON.parse((await runPlugin(env('ADD', { CNI_ARGS: 'IgnoreUnknown=0;FOO=bar' }), conf, deps)).stdout)).toMatchObject({ code: 4 });
  });

  it('passes the daemon\'s refusal on as code 100, an unknown network as 101, a daemon that is down as 11', async () => {
    const refusing = harness((m, p) => {
      if (m === 'GET') return network();
      throw new ApiRequestError(409, `address 10.88.0.9 is already in use on network podnet (${p})`);
    });
    expect(await runPlugin(env('ADD'), podmanConfig('0.4.0'), refusing.deps)).toEqual({
      exitCode: 1,
      stdout: '{"cniVersion":"0.4.0","code":100,"msg":"address 10.88.0.9 is already in use on network podnet (/v1/networks/podnet/connect)"}\n',
    });

    const unknown = harness(() => {
      throw new ApiRequestError(404, 'network podnet not found');
    });
    expect(await runPlugin(env('ADD'), podmanConfig('1.0.0'), unknown.deps)).toEqual({
      exitCode: 1,
      stdout: '{"cniVersion":"1.0.0","code":101,"msg":"network podnet not found"}\n',
    });

    const down = harness(() => {
      throw new Error('cannot reach the pontoon daemon at /run/pontoon/pontoon.sock: is it running? (ENOENT)');
    });
    expect(await runPlugin(env('ADD'), podmanConfig('1.0.0'), down.deps)).toEqual({
      exitCode: 1,
      stdout: '{"cniVersion":"1.0.0","code":11,"msg":"cannot reach the pontoon daemon at /run/pontoon/pontoon.sock: is it running? (ENOENT)"}\n',
    });
  });

  it('says code 3 when the namespace does not exist, before asking the daemon', async () => {
    const { calls, deps } = harness(daemon(), { exists: false });
    expect(await runPlugin(env('ADD'), podmanConfig('1.0.0'), deps)).toEqual({
      exitCode: 1,
      stdout: '{"cniVersion":"1.0.0","code":3,"msg":"network namespace /run/netns/netns-8edbc3d5 does not exist"}\n',
    });
    expect(calls).toEqual([]);
  });
});

describe('bad configurations and environments', () => {
  const cases: [string, NodeJS.ProcessEnv, string, string][] = [
    ['malformed JSON', env('ADD'), '{"cniVersion":', '{"cniVersion":"1.0.0","code":6,"msg":"cannot decode the network configuration: it is not JSON","details":"Unexpected end of JSON input"}\n'],
    ['no network', env('ADD'), '{"cniVersion":"1.0.0","name":"n","type":"pontoon-cni"}', '{"cniVersion":"1.0.0","code":7,"msg":"invalid network configuration: \\"network\\" is missing"}\n'],
    ['a network that is not a string', env('ADD'), '{"cniVersion":"0.4.0","name":"n","type":"pontoon-cni","network":7}', '{"cniVersion":"0.4.0","code":7,"msg":"invalid network configuration: \\"network\\": expected a string"}\n'],
    ['the wrong type', env('ADD'), '{"cniVersion":"1.0.0","name":"n","type":"bridge","network":"podnet"}', '{"cniVersion":"1.0.0","code":7,"msg":"invalid network configuration: \\"type\\" is \\"bridge\\", this plugin is \\"pontoon-cni\\""}\n'],
    ['an ipam section', env('ADD'), '{"cniVersion":"1.0.0","name":"n","type":"pontoon-cni","network":"podnet","ipam":{"type":"host-local"}}', '{"cniVersion":"1.0.0","code":2,"msg":"unsupported field \\"ipam\\": the pontoon daemon allocates the addresses of its networks itself"}\n'],
    ['a version it does not speak', env('ADD'), '{"cniVersion":"1.1.0","name":"n","type":"pontoon-cni","network":"podnet"}', '{"cniVersion":"1.0.0","code":1,"msg":"incompatible CNI version \\"1.1.0\\": pontoon-cni supports 0.3.0, 0.3.1, 0.4.0, 1.0.0"}\n'],
    ['no CNI_COMMAND', {}, podmanConfig('1.0.0'), '{"cniVersion":"1.0.0","code":4,"msg":"CNI_COMMAND is not set"}\n'],
    ['an unknown command', env('GC'), podmanConfig('1.0.0'), '{"cniVersion":"1.0.0","code":4,"msg":"unknown CNI_COMMAND \\"GC\\": pontoon-cni knows ADD, DEL, CHECK, VERSION"}\n'],
    ['ADD without CNI_NETNS', env('ADD', { CNI_NETNS: '' }), podmanConfig('0.4.0'), '{"cniVersion":"0.4.0","code":4,"msg":"CNI_NETNS is not set"}\n'],
    ['no CNI_IFNAME', { ...env('DEL'), CNI_IFNAME: undefined }, podmanConfig('1.0.0'), '{"cniVersion":"1.0.0","code":4,"msg":"CNI_IFNAME is not set"}\n'],
    ['sctp', env('ADD'), podmanConfig('1.0.0', { runtimeConfig: { portMappings: [{ hostPort: 1, containerPort: 1, protocol: 'sctp' }] } }), '{"cniVersion":"1.0.0","code":2,"msg":"unsupported port mapping protocol \\"sctp\\": pontoon publishes tcp and udp"}\n'],
  ];
  for (const [what, e, stdin, stdout] of cases) {
    it(`answers ${what} with the CNI error JSON and exit 1, asking the daemon nothing`, async () => {
      const { calls, deps } = harness(daemon());
      expect(await runPlugin(e, stdin, deps)).toEqual({ exitCode: 1, stdout });
      expect(calls).toEqual([]);
    });
  }
});

describe('DEL', () => {
  it('disconnects by container id and interface, prints nothing, and also works with an empty CNI_NETNS', async () => {
    const { calls, deps } = harness(daemon(), { exists: false });
    const prev = { cniVersion: '1.0.0', interfaces: [{ name: 'eth0', mac: '02:42:0a:58:00:02', sandbox: NETNS }], ips: [{ address: '10.88.0.2/24', gateway: '10.88.0.1', interface: 0 }] };
    expect(await runPlugin(env('DEL', { CNI_NETNS: '' }), podmanConfig('1.0.0', { prevResult: prev }), deps)).toEqual({ exitCode: 0, stdout: '' });
    expect(calls).toEqual([
      { socket: '/run/pontoon/pontoon.sock', method: 'POST', path: '/v1/networks/podnet/disconnect', body: { containerId: CID, ifName: 'eth0' } },
    ]);
  });

  it('succeeds when nothing is attached or the network is gone, fails (11) when the daemon is down', async () => {
    const gone = harness(() => {
      throw new ApiRequestError(404, `container ${CID} (eth0) is not connected to network podnet`);
    });
    expect(await runPlugin(env('DEL'), podmanConfig('1.0.0'), gone.deps)).toEqual({ exitCode: 0, stdout: '' });
    const down = harness(() => {
      throw new Error('cannot reach the pontoon daemon at /run/pontoon/pontoon.sock: is it running? (ECONNREFUSED)');
    });
    expect(JSON.parse((await runPlugin(env('DEL'), podmanConfig('0.4.0'), down.deps)).stdout)).toMatchObject({ cniVersion: '0.4.0', code: 11 });
  });
});

describe('CHECK', () => {
  const prev = { cniVersion: '1.0.0', interfaces: [{ name: 'eth0', mac: '02:42:0a:58:00:02', sandbox: NETNS }], ips: [{ address: '10.88.0.2/24', gateway: '10.88.0.1', interface: 0 }] };
  const attached = network({ Containers: { [ENDPOINT.EndpointID]: ENDPOINT } });

  it('passes silently when the daemon and the namespace agree with the previous result', async () => {
    const { deps } = harness(daemon(attached));
    expect(await runPlugin(env('CHECK'), podmanConfig('1.0.0', { prevResult: prev }), deps)).toEqual({ exitCode: 0, stdout: '' });
  });

  it('fails with code 102 naming what differs', async () => {
    const cases: [NetworkResource, SandboxInterface | null, unknown, string][] = [
      [network(), null, prev, `container ${CID} (eth0) is not connected to network podnet`],
      [attached, null, { ...prev, ips: [{ address: '10.88.0.3/24' }] }, `container ${CID} (eth0) has 10.88.0.2/24 on network podnet, the previous result says 10.88.0.3/24`],
      [attached, null, prev, `${NETNS} has no interface eth0`],
      [attached, { mac: '02:42:0a:58:00:02', addresses: [] }, prev, `eth0 in ${NETNS} lacks its address 10.88.0.2/24`],
      [attached, { mac: '02:00:00:00:00:01', addresses: ['10.88.0.2/24'] }, prev, `eth0 in ${NETNS} has MAC 02:00:00:00:00:01, network podnet gave it 02:42:0a:58:00:02`],
    ];
    for (const [net, inside, prevResult, msg] of cases) {
      const { deps } = harness(daemon(net), { inside });
      expect(await runPlugin(env('CHECK'), podmanConfig('1.0.0', { prevResult }), deps)).toEqual({
        exitCode: 1,
        stdout: JSON.stringify({ cniVersion: '1.0.0', code: 102, msg }) + '\n',
      });
    }
  });

  it('needs a prevResult and a version that has CHECK', async () => {
    const { deps } = harness(daemon(attached));
    expect(await runPlugin(env('CHECK'), podmanConfig('1.0.0'), deps)).toEqual({
      exitCode: 1,
      stdout: '{"cniVersion":"1.0.0","code":7,"msg":"invalid network configuration: CHECK needs \\"prevResult\\""}\n',
    });
    expect(await runPlugin(env('CHECK'), podmanConfig('0.3.1', { prevResult: prev }), deps)).toEqual({
      exitCode: 1,
      stdout: '{"cniVersion":"0.3.1","code":1,"msg":"CHECK needs cniVersion 0.4.0 or later, the configuration has 0.3.1"}\n',
    });
  });
});

describe('VERSION', () => {
  it('lists the versions it speaks, whatever the configuration', async () => {
    const { deps } = harness(daemon());
    const answer = '{"cniVersion":"1.0.0","supportedVersions":["0.3.0","0.3.1","0.4.0","1.0.0"]}\n';
    expect(await runPlugin({ CNI_COMMAND: 'VERSION' }, '{"cniVersion":"1.0.0"}', deps)).toEqual({ exitCode: 0, stdout: answer });
    expect(await runPlugin({ CNI_COMMAND: 'VERSION' }, '', deps)).toEqual({ exitCode: 0, stdout: answer });
  });
});

describe('a network with IPv6', () => {
  const DUAL_EP: EndpointResource = { ...ENDPOINT, IPv6Address: 'fd00:20::2/64' };
  const dual = network({
    EnableIPv6: true,
    IPAM: {
      Driver: 'default',
      Options: {},
      Config: [
        { Subnet: '10.88.0.0/24', Gateway: '10.88.0.1' },
        { Subnet: 'fd00:20::/64', Gateway: 'fd00:20::1' },
      ],
    },
  });
  const dualDaemon = (net: NetworkResource) => (method: string, path: string) => {
    if (method === 'POST' && path === '/v1/networks/podnet/connect') return DUAL_EP;
    return daemon(net)(method, path);
  };

  it('ADD answers an IPv6 ips entry and an IPv6 default route via fe80::1 (1.0.0 and 0.4.0 shapes)', async () => {
    const { deps } = harness(dualDaemon(dual));
    expect((await runPlugin(env('ADD'), podmanConfig('1.0.0'), deps)).stdout).toBe(
      '{"cniVersion":"1.0.0","interfaces":[{"name":"eth0","mac":"02:42:0a:58:00:02","sandbox":"/run/netns/netns-8edbc3d5"}],' +
        '"ips":[{"interface":0,"address":"10.88.0.2/24","gateway":"10.88.0.1"},{"interface":0,"address":"fd00:20::2/64","gateway":"fd00:20::1"}],' +
        '"routes":[{"dst":"0.0.0.0/0","gw":"10.88.0.1"},{"dst":"::/0","gw":"fe80::1"}],"dns":{"nameservers":["10.88.0.1"]}}\n',
    );
    expect(JSON.parse((await runPlugin(env('ADD'), podmanConfig('0.4.0'), deps)).stdout)).toMatchObject({
      ips: [
        { version: '4', interface: 0, address: '10.88.0.2/24', gateway: '10.88.0.1' },
        { version: '6', interface: 0, address: 'fd00:20::2/64', gateway: 'fd00:20::1' },
      ],
    });
    const internal = harness(dualDaemon({ ...dual, Internal: true }));
    expect(JSON.parse((await runPlugin(env('ADD'), podmanConfig('1.0.0'), internal.deps)).stdout).routes).toEqual([]);
  });

  it('asks for one address per family (runtimeConfig ips, CNI_ARGS IP=a,b); two of one family are refused', async () => {
    const { calls, deps } = harness(dualDaemon(dual));
    const conf = podmanConfig('1.0.0', { runtimeConfig: { ips: ['10.88.0.9/24', 'fd00:20::9/64'] } });
    expect((await runPlugin(env('ADD', { CNI_ARGS: 'IP=fd00:20::9' }), conf, deps)).exitCode).toBe(0);
    expect(calls[1]!.body).toEqual({ netns: NETNS, name: CID.slice(0, 12), ifName: 'eth0', containerId: CID, ip: '10.88.0.9', ip6: 'fd00:20::9' });
    expect((await runPlugin(env('ADD', { CNI_ARGS: 'IP=10.88.0.9,fd00:20::9' }), podmanConfig('1.0.0'), deps)).exitCode).toBe(0);
    expect(calls[3]!.body).toMatchObject({ ip: '10.88.0.9', ip6: 'fd00:20::9' });
    expect(await runPlugin(env('ADD', { CNI_ARGS: 'IP=fd00:20::7' }), conf, deps)).toEqual({
      exitCode: 1,
      stdout: '{"cniVersion":"1.0.0","code":2,"msg":"more than one address asked for (fd00:20::9, fd00:20::7): a pontoon endpoint has one IPv6 address"}\n',
    });
  });

  it('CHECK compares the IPv6 address too, in the previous result and inside the namespace', async () => {
    const attached = { ...dual, Containers: { [DUAL_EP.EndpointID]: DUAL_EP } };
    const prev = {
      cniVersion: '1.0.0',
      interfaces: [{ name: 'eth0', mac: '02:42:0a:58:00:02', sandbox: NETNS }],
      ips: [
        { address: '10.88.0.2/24', gateway: '10.88.0.1', interface: 0 },
        { address: 'fd00:20::2/64', gateway: 'fd00:20::1', interface: 0 },
      ],
    };
    const inside = { mac: '02:42:0a:58:00:02', addresses: ['10.88.0.2/24', 'fd00:20::2/64', 'fe80::42:aff:fe58:2/64'] };
    expect(await runPlugin(env('CHECK'), podmanConfig('1.0.0', { prevResult: prev }), harness(dualDaemon(attached), { inside }).deps)).toEqual({ exitCode: 0, stdout: '' });
    const lacking = harness(dualDaemon(attached), { inside: { ...inside, addresses: ['10.88.0.2/24'] } });
    expect(JSON.parse((await runPlugin(env('CHECK'), podmanConfig('1.0.0', { prevResult: prev }), lacking.deps)).stdout)).toEqual({
      cniVersion: '1.0.0',
      code: 102,
      msg: `eth0 in ${NETNS} lacks its address fd00:20::2/64`,
    });
    const oldPrev = harness(dualDaemon(attached), { inside });
    expect(JSON.parse((await runPlugin(env('CHECK'), podmanConfig('1.0.0', { prevResult: { ...prev, ips: [prev.ips[0]] } }), oldPrev.deps)).stdout).msg).toBe(
      `container ${CID} (eth0) has fd00:20::2/64 on network podnet, the previous result says 10.88.0.2/24`,
    );
  });
});

describe('an IPv6-only network', () => {
  const V6_EP: EndpointResource = { ...ENDPOINT, MacAddress: '02:42:00:00:00:02', IPv4Address: '', IPv6Address: 'fd00:20::2/64', DNSServer: 'fd00:20::1' };
  const only6 = network({ EnableIPv6: true, IPAM: { Driver: 'default', Options: {}, Config: [{ Subnet: 'fd00:20::/64', Gateway: 'fd00:20::1' }] } });
  const v6Daemon = (method: string, path: string) => {
    if (method === 'POST' && path === '/v1/networks/podnet/connect') return V6_EP;
    return daemon(only6)(method, path);
  };

  it('ADD answers only the IPv6 address, the IPv6 default route via fe80::1 and the IPv6 gateway as nameserver; IP= with an IPv6 address asks for it', async () => {
    const { calls, deps } = harness(v6Daemon);
    const conf = podmanConfig('1.0.0', { runtimeConfig: {} });
    expect(await runPlugin(env('ADD', { CNI_ARGS: 'IP=fd00:20::2' }), conf, deps)).toEqual({
      exitCode: 0,
      stdout:
        '{"cniVersion":"1.0.0","interfaces":[{"name":"eth0","mac":"02:42:00:00:00:02","sandbox":"/run/netns/netns-8edbc3d5"}],' +
        '"ips":[{"interface":0,"address":"fd00:20::2/64","gateway":"fd00:20::1"}],' +
        '"routes":[{"dst":"::/0","gw":"fe80::1"}],"dns":{"nameservers":["fd00:20::1"]}}\n',
    });
    expect(calls[1]!.body).toEqual({ netns: NETNS, name: CID.slice(0, 12), ifName: 'eth0', containerId: CID, ip6: 'fd00:20::2' });
  });
});

describe('a macvlan network', () => {
  const LAN_EP: EndpointResource = { ...ENDPOINT, MacAddress: '02:42:c0:a8:28:03', IPv4Address: '192.168.40.3/24', IPv6Address: 'fd00:40::2/64', DNSServer: '192.168.40.1' };
  const lan = network({
    Driver: 'macvlan',
    EnableIPv6: true,
    IPAM: {
      Driver: 'default',
      Options: {},
      Config: [
        { Subnet: '192.168.40.0/24', Gateway: '192.168.40.1', AuxiliaryAddresses: { router2: '192.168.40.2' } },
        { Subnet: 'fd00:40::/64', Gateway: 'fd00:40::1' },
      ],
    },
    Options: { 'com.docker.network.driver.mtu': '1500', parent: 'eth0.40', macvlan_mode: 'bridge', 'pontoon.host_access': 'false' },
  });
  const lanDaemon = (method: string, path: string) => {
    if (method === 'POST' && path === '/v1/networks/podnet/connect') return LAN_EP;
    return daemon(lan)(method, path);
  };
  const conf = (extra: Record<string, unknown> = {}) => JSON.stringify({ cniVersion: '1.0.0', name: 'podnet', type: 'pontoon-cni', network: 'podnet', ...extra });

  it("ADD answers the LAN's router as gateway and next hop of both default routes, and no nameserver (pontoon's DNS does not answer on the LAN)", async () => {
    const { deps } = harness(lanDaemon);
    expect(await runPlugin(env('ADD'), conf(), deps)).toEqual({
      exitCode: 0,
      stdout:
        '{"cniVersion":"1.0.0","interfaces":[{"name":"eth0","mac":"02:42:c0:a8:28:03","sandbox":"/run/netns/netns-8edbc3d5"}],' +
        '"ips":[{"interface":0,"address":"192.168.40.3/24","gateway":"192.168.40.1"},{"interface":0,"address":"fd00:40::2/64","gateway":"fd00:40::1"}],' +
        '"routes":[{"dst":"0.0.0.0/0","gw":"192.168.40.1"},{"dst":"::/0","gw":"fd00:40::1"}],"dns":{}}\n',
    });
  });

  it('takes the reference macvlan plugin\'s "master" and "mode" when they say what the network has; refuses them (code 7) otherwise, attaching nothing', async () => {
    const { calls, deps } = harness(lanDaemon);
    expect((await runPlugin(env('ADD'), conf({ master: 'eth0.40', mode: 'bridge' }), deps)).exitCode).toBe(0);
    expect(await runPlugin(env('ADD'), conf({ master: 'eth1' }), deps)).toEqual({
      exitCode: 1,
      stdout: '{"cniVersion":"1.0.0","code":7,"msg":"invalid network configuration: \\"master\\" is \\"eth1\\", network podnet has parent eth0.40 (pontoon network create -o parent= decides it)"}\n',
    });
    expect(JSON.parse((await runPlugin(env('ADD'), conf({ mode: 'vepa' }), deps)).stdout).msg).toBe(
      'invalid network configuration: "mode" is "vepa", network podnet has macvlan_mode bridge (pontoon network create -o macvlan_mode= decides it)',
    );
    const bridge = harness(daemon());
    expect(JSON.parse((await runPlugin(env('ADD'), conf({ master: 'eth0' }), bridge.deps)).stdout).msg).toBe(
      'invalid network configuration: "master" is "eth0", but network podnet is a bridge network, not macvlan',
    );
    expect(calls.filter((c) => c.path.endsWith('/connect'))).toHaveLength(1);
    expect(bridge.calls.filter((c) => c.path.endsWith('/connect'))).toEqual([]);
  });

  it('CHECK passes on what ADD answered; DEL disconnects', async () => {
    const attached = { ...lan, Containers: { [LAN_EP.EndpointID]: LAN_EP } };
    const prevResult = JSON.parse((await runPlugin(env('ADD'), conf(), harness(lanDaemon).deps)).stdout) as unknown;
    const inside = { mac: LAN_EP.MacAddress, addresses: ['192.168.40.3/24', 'fd00:40::2/64'] };
    const { deps } = harness((m, p) => (m === 'GET' ? attached : lanDaemon(m, p)), { inside });
    expect(await runPlugin(env('CHECK'), conf({ prevResult }), deps)).toEqual({ exitCode: 0, stdout: '' });
    const del = harness(lanDaemon);
    expect(await runPlugin(env('DEL'), conf({ prevResult }), del.deps)).toEqual({ exitCode: 0, stdout: '' });
    expect(del.calls).toEqual([{ socket: '/run/pontoon/pontoon.sock', method: 'POST', path: '/v1/networks/podnet/disconnect', body: { containerId: CID, ifName: 'eth0' } }]);
  });
});

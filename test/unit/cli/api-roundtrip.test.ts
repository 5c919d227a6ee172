import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, statSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiClient, ApiRequestError } from '../../../src/cli/api-client.js';
import { runCli } from '../../../src/cli/program.js';
import { startApiServer } from '../../../src/control/api-server.js';
import type { ConnectRequest, EndpointResource, NetworkCreateRequest, PeerAddRequest, PeerResource, CountersReport, ServiceCreateRequest, ServiceResource } from '../../../src/control/api-types.js';
import { ApiFailure, type GatewayApi } from '../../../src/control/gateway-api.js';
import { BACKEND, STATUS, SUMMARIES } from './fixtures.js';

const ENDPOINT: EndpointResource = {
  Name: 'c1',
  EndpointID: 'e'.repeat(64),
  MacAddress: '02:42:ac:12:00:02',
  IPv4Address: '172.18.0.2/16',
  IPv6Address: '',
  Interface: 'eth0',
  Netns: '/run/netns/c1',
  Aliases: [],
  Ports: [],
};

const PEER: PeerResource = {
  Network: 'ov',
  NetworkID: 'f'.repeat(64),
  VTEP: '192.0.2.20',
  Addresses: [{ IP: '10.0.9.200', MacAddress: '02:42:0a:00:09:c8' }],
  Created: '2026-12-02T22:00:00.000Z',
};

const COUNTERS: CountersReport = {
  time: 1_700_000_000_000,
  ports: [{ id: 1, name: 'eth0@c1', kind: 'tap', network: 'bridge', rxPackets: 10, rxBytes: 1000, txPackets: 9, txBytes: 900 }],
  drops: { no_route: 2 },
  conntrack: { entries: 3, max: 1024 },
  natPorts: { tcp: 1, udp: 0, icmp: 2 },
  overlays: [],
};

const SERVICE: ServiceResource = {
  Name: 'web',
  Id: 'a'.repeat(64),
  Network: 'bridge',
  NetworkID: 'b'.repeat(64),
  VIP: '10.96.0.1',
  Protocol: 'tcp',
  Port: 80,
  TargetPort: 8080,
  Selector: 'web',
  Containers: [],
  Affinity: 'client-ip:10800',
  Publish: 30080,
  Backends: [{ Name: 'c1', IP: '172.17.0.2', Host: 'local', NewFlows: 3, Bytes: 900, ActiveFlows: 1 }],
  Refused: 0,
  Created: '2026-12-07T11:00:00.000Z',
};

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A GatewayApi that records its calls; "missing" does not exist, "bridge" is taken, "boom" crashes. */
function fakeApi() {
  const calls: unknown[][] = [];
  let running = 0;
  let maxRunning = 0;
  const api: GatewayApi = {
    listNetworks: () => {
      calls.push(['listNetworks']);
      return SUMMARIES;
    },
    createNetwork: async (req: NetworkCreateRequest) => {
      calls.push(['createNetwork', req]);
      if (req.name === 'bridge') throw new ApiFailure(409, 'network with name bridge already exists');
      if (req.name === 'boom') throw new Error('disk on fire');
      return BACKEND;
    },
    inspectNetwork: (name: string) => {
      calls.push(['inspectNetwork', name]);
      if (name !== 'backend' && name !== 'a b/c') throw new ApiFailure(404, `network ${name} not found`);
      return BACKEND;
    },
    removeNetwork: async (name: string) => {
      calls.push(['removeNetwork', name]);
      if (name === 'missing') throw new ApiFailure(404, `network ${name} not found`);
    },
    connect: async (network: string, req: ConnectRequest) => {
      calls.push(['connect', network, req]);
      running++;
      maxRunning = Math.max(maxRunning, running);
      await sleep(20);
      running--;
      return ENDPOINT;
    },
    disconnect: async (network: string, req) => {
      calls.push(['disconnect', network, req]);
    },
    status: async () => {
      calls.push(['status']);
      return STATUS;
    },
    ports: (netns: string) => {
      calls.push(['ports', netns]);
      return [{ proto: 'tcp', hostIp: '0.0.0.0', hostPort: 8080, containerPort: 80, network: 'bridge', containerIp: '172.17.0.2' }];
    },
    conntrackList: async () => {
      calls.push(['conntrackList']);
      return [];
    },
    conntrackFlush: async () => {
      calls.push(['conntrackFlush']);
      return 3;
    },
    listPeers: async (network: string | null) => {
      calls.push(['listPeers', network]);
      return [PEER];
    },
    addPeer: async (network: string, req: PeerAddRequest) => {
      calls.push(['addPeer', network, req]);
      return PEER;
    },
    counters: async () => {
      calls.push(['counters']);
      return COUNTERS;
    },
    removePeer: async (network: string, vtep: string) => {
      calls.push(['removePeer', network, vtep]);
      if (vtep === '192.0.2.99') throw new ApiFailure(404, `VTEP ${vtep} is not a foreign peer of network ${network}`);
    },
    listServices: async () => {
      calls.push(['listServices']);
      return [SERVICE];
    },
    createService: async (req: ServiceCreateRequest) => {
      calls.push(['createService', req]);
      return SERVICE;
    },
    inspectService: (name: string) => {
      calls.push(['inspectService', name]);
      if (name !== 'web') throw new ApiFailure(404, `no such service: ${name}`);
      return SERVICE;
    },
    removeService: async (name: string) => {
      calls.push(['removeService', name]);
      if (name !== 'web') throw new ApiFailure(404, `no such service: ${name}`);
    },
  };
  return { api, calls, maxRunning: () => maxRunning };
}

function capturingLogger() {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      lines.push(JSON.parse(chunk.toString()));
      cb();
    },
  });
  return { log: pino({ level: 'info' }, stream), lines };
}

/** Sends raw bytes as a POST body; resolves with status and parsed body. */
function rawPost(socketPath: string, path: string, body: string | Buffer): Promise<{ status: number; body: unknown }> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath, method: 'POST', path, headers: { 'content-type': 'application/json' } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, body: JSON.parse(Buffer.concat(chunks).toString() || 'null') }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

async function apiError(p: Promise<unknown>): Promise<{ status: number; message: string }> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(ApiRequestError);
    return { status: (e as ApiRequestError).status, message: (e as Error).message };
  }
  throw new Error('expected an ApiRequestError');
}

describe('API server and client over a unix socket', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pontoon-api-'));
  const socket = join(dir, 'run', 'pontoon.sock'); // the server creates run/
  const fake = fakeApi();
  const logger = capturingLogger();
  let server: { close(): Promise<void> };
  const client = new ApiClient(socket);

  beforeAll(async () => {
    server = await startApiServer(socket, fake.api, logger.log);
  });

  afterAll(async () => {
    await server.close();
  });

  it('creates the socket with mode 0660', () => {
    const st = statSync(socket);
    expect(st.isSocket()).toBe(true);
    expect(st.mode & 0o777).toBe(0o660);
  });

  it('round-trips every route', async () => {
    expect(await client.request('GET', '/v1/networks')).toEqual(SUMMARIES);
    expect(await client.request('POST', '/v1/networks', { name: 'backend', subnet: '172.18.0.0/16', internal: true })).toEqual(BACKEND);
    expect(await client.request('GET', '/v1/networks/backend')).toEqual(BACKEND);
    expect(await client.request('DELETE', '/v1/networks/backend')).toBeUndefined();
    expect(await client.request('POST', '/v1/networks/backend/connect', { netns: 'c1', ip: '172.18.0.2', aliases: ['web'], name: 'c1' })).toEqual(
      ENDPOINT,
    );
    expect(await client.request('POST', '/v1/networks/backend/disconnect', { netns: 'c1' })).toBeUndefined();
    expect(await client.request('GET', '/v1/status')).toEqual(STATUS);
    expect(await client.request('GET', '/v1/counters')).toEqual(COUNTERS);
    expect(fake.calls.splice(0)).toEqual([
      ['listNetworks'],
      ['createNetwork', { name: 'backend', subnet: '172.18.0.0/16', internal: true }],
      ['inspectNetwork', 'backend'],
      ['removeNetwork', 'backend'],
      ['connect', 'backend', { netns: 'c1', ip: '172.18.0.2', aliases: ['web'], name: 'c1' }],
      ['disconnect', 'backend', { netns: 'c1' }],
      ['status'],
      ['counters'],
    ]);
  });

  it('round-trips the peer routes and the peer commands', async () => {
    expect(await client.request('GET', '/v1/peers')).toEqual([PEER]);
    expect(await client.request('GET', '/v1/networks/ov/peers')).toEqual([PEER]);
    expect(await client.request('POST', '/v1/networks/ov/peers', { vtep: '192.0.2.20', addresses: [{ ip: '10.0.9.200', mac: '02:42:0a:00:09:c8' }] })).toEqual(PEER);
    expect(await client.request('DELETE', '/v1/networks/ov/peers/192.0.2.20')).toBeUndefined();
    expect(await apiError(client.request('DELETE', '/v1/networks/ov/peers/192.0.2.99'))).toEqual({ status: 404, message: 'VTEP 192.0.2.99 is not a foreign peer of network ov' });
    expect(await apiError(client.request('POST', '/v1/networks/ov/peers', { vtep: '192.0.2.20', addresses: [{ ip: '10.0.9.200', mask: 24 }] }))).toEqual({
      status: 400,
      message: 'invalid request body: unknown field "mask"',
    });
    expect(fake.calls.splice(0)).toEqual([
      ['listPeers', null],
      ['listPeers', 'ov'],
      ['addPeer', 'ov', { vtep: '192.0.2.20', addresses: [{ ip: '10.0.9.200', mac: '02:42:0a:00:09:c8' }] }],
      ['removePeer', 'ov', '192.0.2.20'],
      ['removePeer', 'ov', '192.0.2.99'],
    ]);

    const out: string[] = [];
    const err: string[] = [];
    const io = { out: (s: string) => out.push(s), err: (s: string) => err.push(s) };
    const cli = (args: string[]) => runCli(['--socket', socket, ...args], io);
    expect(await cli(['peer', 'add', 'ov', '192.0.2.20', '--ip', '10.0.9.200=02:42:0a:00:09:c8', '--ip', '10.0.9.201'])).toBe(0);
    expect(await cli(['peer', 'ls', 'ov'])).toBe(0);
    expect(await cli(['peer', 'ls', '--format', 'json'])).toBe(0);
    expect(await cli(['peer', 'rm', 'ov', '192.0.2.99'])).toBe(1);
    expect(out.join('')).toBe(
      '192.0.2.20\n' +
        'NETWORK   VTEP         ADDRESSES\n' +
        'ov        192.0.2.20   10.0.9.200=02:42:0a:00:09:c8\n' +
        JSON.stringify(PEER) +
        '\n',
    );
    expect(err.join('')).toBe('Error: VTEP 192.0.2.99 is not a foreign peer of network ov\n');
    expect(fake.calls.splice(0)).toEqual([
      ['addPeer', 'ov', { vtep: '192.0.2.20', addresses: [{ ip: '10.0.9.200', mac: '02:42:0a:00:09:c8' }, { ip: '10.0.9.201' }] }],
      ['listPeers', 'ov'],
      ['listPeers', null],
      ['removePeer', 'ov', '192.0.2.99'],
    ]);
  });

  it('round-trips the service routes and the service commands', async () => {
    const out: string[] = [];
    const err: string[] = [];
    const io = { out: (s: string) => out.push(s), err: (s: string) => err.push(s) };
    const cli = (args: string[]) => runCli(['--socket', socket, ...args], io);
    expect(
      await cli(['service', 'create', 'web', '--network', 'bridge', '--port', '80', '--target-port', '8080', '--selector', 'web', '--affinity', 'client-ip', '--publish', '30080']),
    ).toBe(0);
    expect(await cli(['service', 'create', 'dns', '--network', 'bridge', '--port', '53/udp', '--backend', 'c1', '--backend', 'c2', '--vip', '10.96.0.53'])).toBe(0);
    expect(await cli(['service', 'ls'])).toBe(0);
    expect(await cli(['service', 'ls', '--format', 'json'])).toBe(0);
    expect(await cli(['service', 'inspect', 'web', 'nope'])).toBe(1);
    expect(await cli(['service', 'rm', 'web'])).toBe(0);
    expect(out.join('')).toBe(
      '10.96.0.1\n10.96.0.1\n' +
        'SERVICE ID     NAME      NETWORK   VIP         PORTS                       BACKENDS   SELECTOR\n' +
        'aaaaaaaaaaaa   web       bridge    10.96.0.1   80/tcp->8080, *:30080->80   1          web\n' +
        JSON.stringify(SERVICE) +
        '\n' +
        JSON.stringify([SERVICE], null, 4) +
        '\nweb\n',
    );
    expect(err.join('')).toBe('Error: No such service: nope\n');
    expect(fake.calls.splice(0)).toEqual([
      ['createService', { name: 'web', network: 'bridge', port: '80', targetPort: 8080, selector: 'web', affinity: 'client-ip', publish: 30080 }],
      ['createService', { name: 'dns', network: 'bridge', port: '53/udp', vip: '10.96.0.53', backends: ['c1', 'c2'] }],
      ['listServices'],
      ['listServices'],
      ['inspectService', 'web'],
      ['inspectService', 'nope'],
      ['removeService', 'web'],
    ]);
    fake.calls.length = 0;
    // bad command lines and bodies change nothing: exit 2 before anything is sent, 400 from the API
    err.length = 0;
    expect(await cli(['service', 'create', 'x', '--network', 'bridge', '--port', '80/sctp'])).toBe(2);
    expect(await cli(['service', 'create', 'x', '--network', 'bridge', '--port', '80', '--affinity', 'sticky'])).toBe(2);
    expect(await cli(['service', 'create', 'x', '--network', 'bridge', '--port', '80', '--selector', 'a', '--backend', 'b'])).toBe(2);
    expect(await apiError(client.request('POST', '/v1/services', { name: 'x', network: 'bridge', port: '80', color: 'red' }))).toEqual({
      status: 400,
      message: 'invalid request body: unknown field "color"',
    });
    expect(fake.calls.splice(0)).toEqual([]);
  });

  it('URL-decodes path parameters', async () => {
    expect(await client.request('GET', `/v1/networks/${encodeURIComponent('a b/c')}`)).toEqual(BACKEND);
    expect(fake.calls.splice(0)).toEqual([['inspectNetwork', 'a b/c']]);
  });

  it('answers ApiFailure with its status and message', async () => {
    expect(await apiError(client.request('GET', '/v1/networks/missing'))).toEqual({ status: 404, message: 'network missing not found' });
    expect(await apiError(client.request('DELETE', '/v1/networks/missing'))).toEqual({ status: 404, message: 'network missing not found' });
    expect(await apiError(client.request('POST', '/v1/networks', { name: 'bridge' }))).toEqual({
      status: 409,
      message: 'network with name bridge already exists',
    });
    fake.calls.splice(0);
  });

  it('answers other errors with 500 and logs them', async () => {
    expect(await apiError(client.request('POST', '/v1/networks', { name: 'boom' }))).toEqual({ status: 500, message: 'disk on fire' });
    expect(logger.lines.some((l) => l['msg'] === 'API request failed' && (l['err'] as { message: string }).message === 'disk on fire')).toBe(
      true,
    );
    fake.calls.splice(0);
  });

  it('rejects bad JSON and bad shapes with 400 before calling the API', async () => {
    expect(await rawPost(socket, '/v1/networks', '{"name": ')).toEqual({
      status: 400,
      body: { message: expect.stringMatching(/^invalid JSON in request body: /) },
    });
    expect(await rawPost(socket, '/v1/networks', '')).toEqual({
      status: 400,
      body: { message: 'invalid request body: empty, expected a JSON object' },
    });
    expect(await apiError(client.request('POST', '/v1/networks', { name: 5 }))).toEqual({
      status: 400,
      message: 'invalid request body: name: expected a string',
    });
    expect(await apiError(client.request('POST', '/v1/networks', [1]))).toEqual({
      status: 400,
      message: 'invalid request body: body: expected a JSON object',
    });
    expect(await apiError(client.request('POST', '/v1/networks', { name: 'x', color: 'red' }))).toEqual({
      status: 400,
      message: 'invalid request body: unknown field "color"',
    });
    expect(await apiError(client.request('POST', '/v1/networks', { name: 'x', mtu: 1.5 }))).toEqual({
      status: 400,
      message: 'invalid request body: mtu: expected an integer',
    });
    expect(await apiError(client.request('POST', '/v1/networks/backend/connect', { netns: 'c1', aliases: 'web' }))).toEqual({
      status: 400,
      message: 'invalid request body: aliases: expected a JSON array',
    });
    expect(await apiError(client.request('POST', '/v1/networks/backend/connect', { netns: '' }))).toMatchObject({ status: 400 });
    expect(await apiError(client.request('POST', '/v1/networks/backend/disconnect', {}))).toEqual({
      status: 400,
      message: 'invalid request body: give netns, or containerId and ifName',
    });
    expect(fake.calls).toEqual([]);
  });

  it('limits bodies to 64 KiB', async () => {
    const big = JSON.stringify({ name: 'x', driver: 'y'.repeat(70 * 1024) });
    expect(await rawPost(socket, '/v1/networks', big)).toEqual({ status: 413, body: { message: 'request body too large (limit 64 KiB)' } });
    expect(fake.calls).toEqual([]);
  });

  it('answers unknown routes with 404 and wrong methods with 405', async () => {
    expect(await apiError(client.request('GET', '/v2/networks'))).toEqual({ status: 404, message: 'no such API endpoint: GET /v2/networks' });
    expect(await apiError(client.request('PUT', '/v1/networks/x'))).toEqual({ status: 405, message: 'method PUT is not allowed on /v1/networks/x' });
  });

  it('runs mutating requests one at a time', async () => {
    const results = await Promise.all([1, 2, 3].map(() => client.request('POST', '/v1/networks/backend/connect', { netns: 'c1' })));
    expect(results).toEqual([ENDPOINT, ENDPOINT, ENDPOINT]);
    expect(fake.maxRunning()).toBe(1);
    fake.calls.splice(0);
  });

  it('refuses to start next to a live daemon', async () => {
    await expect(startApiServer(socket, fake.api, logger.log)).rejects.toThrow(`another pontoon daemon is already listening on ${socket}`);
    expect(existsSync(socket)).toBe(true);
  });
});

describe('socket housekeeping', () => {
  it('replaces a stale socket file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pontoon-api-'));
    const socket = join(dir, 'pontoon.sock');
    // a process that dies while listening leaves its socket file behind
    try {
      execFileSync(process.execPath, ['-e', `require('net').createServer().listen(${JSON.stringify(socket)}, () => process.kill(process.pid, 'SIGKILL'))`]);
    } catch {
      // killed, as intended
    }
    expect(statSync(socket).isSocket()).toBe(true);
    await expect(new ApiClient(socket).request('GET', '/v1/status')).rejects.toThrow(
      `cannot reach the pontoon daemon at ${socket}: is it running? (ECONNREFUSED)`,
    );
    const server = await startApiServer(socket, fakeApi().api, pino({ level: 'silent' }));
    try {
      expect(await new ApiClient(socket).request('GET', '/v1/status')).toEqual(STATUS);
    } finally {
      await server.close();
    }
    expect(existsSync(socket)).toBe(false);
  });

  it('refuses a path that is not a socket', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pontoon-api-'));
    const file = join(dir, 'pontoon.sock');
    writeFileSync(file, 'not a socket');
    await expect(startApiServer(file, fakeApi().api, pino({ level: 'silent' }))).rejects.toThrow(`${file} exists and is not a socket`);
  });

  it('reports a daemon that is not running', async () => {
    const socket = join(mkdtempSync(join(tmpdir(), 'pontoon-api-')), 'none.sock');
    await expect(new ApiClient(socket).request('GET', '/v1/networks')).rejects.toThrow(
      `cannot reach the pontoon daemon at ${socket}: is it running? (ENOENT)`,
    );
  });
});

// Requests the fuzzer (test/fuzz/targets/api.ts) found the API mishandling, as literal bytes,
// through the API's dispatcher without its socket.
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { apiDispatcher, parseJsonBody } from '../../../src/control/api-server.js';
import { decodeRequest } from '../../fuzz/targets/api.js';
import { FakeHost } from './network/fake-host.js';

async function dispatcher() {
  const host = new FakeHost();
  const d = host.daemon();
  await d.service.restore();
  return { dispatch: apiDispatcher(d.service, pino({ level: 'silent' })), service: d.service };
}

describe('the API dispatcher', () => {
  it('answers a request target that a URL parser takes for a host name with 400, not 500', async () => {
    const { dispatch, service } = await dispatcher();
    // found as: DELETE //vlish":["808bac  -> 500 {"message":"Invalid URL"}
    const req = decodeRequest(Buffer.from('44454c455445202f2f766c697368223a5b223830386261630a', 'hex'));
    expect(await dispatch(req.method, req.url, async () => parseJsonBody(req.body))).toEqual({
      status: 404,
      body: { message: 'no such API endpoint: DELETE //vlish":["808bac' },
    });
    // "//v1/networks" was read as host "v1", path "/networks"
    expect((await dispatch('GET', '//v1/networks', async () => ({}))).status).toBe(404);
    expect(await dispatch('GET', 'v1/networks', async () => ({}))).toEqual({ status: 400, body: { message: 'invalid request target "v1/networks"' } });
    expect((await dispatch('GET', '/v1/networks?x=1#y', async () => ({}))).status).toBe(200);
    await service.shutdown();
  });
});

describe('connect and disconnect bodies for CNI', () => {
  it('checks ifName, and takes { containerId, ifName } instead of netns for a disconnect', async () => {
    const { dispatch, service } = await dispatcher();
    const post = (path: string, body: unknown) => dispatch('POST', path, async () => body);
    expect(await post('/v1/networks/bridge/connect', { netns: 'c1', ifName: 'a/b' })).toEqual({
      status: 400,
      body: { message: 'invalid request body: ifName: an interface name has 1 to 15 characters, no "/" and no white space' },
    });
    expect((await post('/v1/networks/bridge/connect', { netns: 'c1', ifName: 'sixteen-chars-xx' })).status).toBe(400);
    expect((await post('/v1/networks/bridge/connect', { netns: 'c1', ifName: 'eth 0' })).status).toBe(400);
    expect(await post('/v1/networks/bridge/disconnect', { containerId: 'abc' })).toEqual({
      status: 400,
      body: { message: 'invalid request body: give netns, or containerId and ifName' },
    });
    expect(await post('/v1/networks/bridge/disconnect', { netns: 'c1', containerId: 'abc', ifName: 'eth0' })).toEqual({
      status: 400,
      body: { message: 'invalid request body: give netns, or containerId and ifName' },
    });
    expect(await post('/v1/networks/bridge/disconnect', { containerId: 'abc', ifName: 'eth0' })).toEqual({
      status: 404,
      body: { message: 'container abc (eth0) is not connected to network bridge' },
    });
    await service.shutdown();
  });
});

describe('connect bodies with legacy links', () => {
  it('takes links as "CONTAINER[:ALIAS]" or { name, alias }, and answers a bad one with 400 or 404 and one line', async () => {
    const host = new FakeHost();
    for (const ns of ['db', 'web', 'other']) host.devices.addNamespace(ns);
    const d = host.daemon();
    await d.service.restore();
    const dispatch = apiDispatcher(d.service, pino({ level: 'silent' }));
    const post = (body: unknown) => dispatch('POST', '/v1/networks/bridge/connect', async () => body);
    expect((await post({ netns: 'db' })).status).toBe(200);
    const bad: [unknown, number, string][] = [
      [7, 400, 'invalid request body: links: expected a JSON array'],
      [[7], 400, 'invalid request body: links.0: expected "CONTAINER[:ALIAS]" or {"name", "alias"}'],
      [[{ name: 'db', alias: 'x', extra: 1 }], 400, 'invalid request body: unknown field "extra"'],
      [['db:x:y'], 400, 'invalid link "db:x:y": bad format for links (expected CONTAINER[:ALIAS])'],
      [[{ name: 'db', alias: 'a b' }], 400, `invalid link "db:a b": alias "a b" is not a DNS label (1 to 63 letters, digits, '-' and '_')`],
      [['nope'], 404, 'could not get container for nope: no container nope on network bridge'],
      [Array(65).fill('db'), 400, 'invalid request body: links: Too big: expected array to have <=64 items'],
    ];
    for (const [links, status, message] of bad) expect(await post({ netns: 'web', links }), JSON.stringify(links)).toEqual({ status, body: { message } });
    expect(Object.keys(d.service.inspectNetwork('bridge').Containers)).toHaveLength(1);
    const ok = await post({ netns: 'web', links: ['db:dbalias', { name: 'db', alias: 'data' }] });
    expect(ok.status).toBe(200);
    expect((ok.body as { Links: string[] }).Links).toEqual(['db:dbalias', 'db:data']);
    await d.service.shutdown();
  });
});

describe('network create bodies with IPv6', () => {
  it('takes the lists of subnets, gateways and ip-ranges, ipv6 and ipv6Nat beside the single-subnet form', async () => {
    const { dispatch, service } = await dispatcher();
    const post = (path: string, body: unknown) => dispatch('POST', path, async () => body);
    const dual = await post('/v1/networks', { name: 'dual', ipv6: true, subnets: ['10.40.0.0/24', 'fd00:40::/64'], gateways: ['fd00:40::1'], ipv6Nat: false });
    expect(dual.status).toBe(201);
    expect((dual.body as { IPAM: { Config: unknown[] } }).IPAM.Config).toEqual([
      { Subnet: '10.40.0.0/24', Gateway: '10.40.0.1' },
      { Subnet: 'fd00:40::/64', Gateway: 'fd00:40::1' },
    ]);
    // the old form, as older CLIs send it
    expect((await post('/v1/networks', { name: 'old', subnet: '10.41.0.0/24', gateway: '10.41.0.1' })).status).toBe(201);
    expect(await post('/v1/networks', { name: 'x', subnets: 'fd00::/64' })).toEqual({
      status: 400,
      body: { message: 'invalid request body: subnets: expected a JSON array' },
    });
    expect(await post('/v1/networks/bridge/connect', { netns: 'c1', ip6: 7 })).toEqual({ status: 400, body: { message: 'invalid request body: ip6: expected a string' } });
    await service.shutdown();
  });
});

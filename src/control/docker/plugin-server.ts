// Docker's plugin socket (/run/docker/plugins/pontoon.sock: the plugin is called after the file):
// one POST per call, answered with JSON in the plugin content type. A refusal is answered in the
// protocol's own shape, `{"Err": ...}` for the network driver and `{"Error": ...}` for IPAM, which
// `docker` prints as "Error response from daemon: remote: ...". Calls that change something run
// in the daemon's one mutation queue, with the API's; Docker waits for each answer.

import type { IncomingMessage } from 'node:http';
import type { Logger } from 'pino';
import type { z } from 'zod';
import { ApiFailure } from '../gateway-api.js';
import type { MutationQueue } from '../mutation-queue.js';
import { listenUnixHttp, type UnixHttpServer } from '../unix-http-server.js';
import type { IpamDriver } from './ipam-driver.js';
import type { NetworkDriver } from './network-driver.js';
import type { PluginStats } from './plugin-stats.js';
import {
  PLUGIN_CONTENT_TYPE,
  PluginError,
  createEndpointRequest,
  createNetworkRequest,
  deleteNetworkRequest,
  endpointRequest,
  externalConnectivityRequest,
  joinRequest,
  parseRequest,
  releaseAddressRequest,
  releasePoolRequest,
  requestAddressRequest,
  requestPoolRequest,
} from './plugin-protocol.js';

const MAX_BODY_BYTES = 1024 * 1024;

interface Call {
  /** true: changes state, runs in the mutation queue */
  mutates: boolean;
  handle(body: unknown): Promise<object> | object;
}

function call<T>(schema: z.ZodType<T>, name: string, mutates: boolean, fn: (req: T) => Promise<object> | object): Call {
  return { mutates, handle: (body) => fn(parseRequest(schema, body, name)) };
}

/** Every call Docker 20.10 makes, by path. */
function calls(net: NetworkDriver, ipam: IpamDriver): Map<string, Call> {
  const none = (fn: () => object): Call => ({ mutates: false, handle: fn });
  return new Map<string, Call>([
    ['/Plugin.Activate', none(() => ({ Implements: ['NetworkDriver', 'IpamDriver'] }))],
    ['/NetworkDriver.GetCapabilities', none(() => net.capabilities())],
    ['/NetworkDriver.CreateNetwork', call(createNetworkRequest, 'CreateNetwork', true, (r) => net.createNetwork(r))],
    ['/NetworkDriver.DeleteNetwork', call(deleteNetworkRequest, 'DeleteNetwork', true, (r) => net.deleteNetwork(r))],
    ['/NetworkDriver.CreateEndpoint', call(createEndpointRequest, 'CreateEndpoint', true, (r) => net.createEndpoint(r))],
    ['/NetworkDriver.DeleteEndpoint', call(endpointRequest, 'DeleteEndpoint', true, (r) => net.deleteEndpoint(r))],
    ['/NetworkDriver.EndpointOperInfo', none(() => net.endpointOperInfo())],
    ['/NetworkDriver.Join', call(joinRequest, 'Join', true, (r) => net.join(r))],
    ['/NetworkDriver.Leave', call(endpointRequest, 'Leave', true, (r) => net.leave(r))],
    ['/NetworkDriver.ProgramExternalConnectivity', call(externalConnectivityRequest, 'ProgramExternalConnectivity', true, (r) => net.programExternalConnectivity(r))],
    ['/NetworkDriver.RevokeExternalConnectivity', call(endpointRequest, 'RevokeExternalConnectivity', true, (r) => net.revokeExternalConnectivity(r))],
    // node discovery is swarm's: nothing to do for a local driver
    ['/NetworkDriver.DiscoverNew', none(() => ({}))],
    ['/NetworkDriver.DiscoverDelete', none(() => ({}))],
    ['/IpamDriver.GetCapabilities', none(() => ipam.capabilities())],
    ['/IpamDriver.GetDefaultAddressSpaces', none(() => ipam.addressSpaces())],
    ['/IpamDriver.RequestPool', call(requestPoolRequest, 'RequestPool', true, (r) => ipam.requestPool(r))],
    ['/IpamDriver.ReleasePool', call(releasePoolRequest, 'ReleasePool', true, (r) => ipam.releasePool(r))],
    ['/IpamDriver.RequestAddress', call(requestAddressRequest, 'RequestAddress', true, (r) => ipam.requestAddress(r))],
    ['/IpamDriver.ReleaseAddress', call(releaseAddressRequest, 'ReleaseAddress', true, (r) => ipam.releaseAddress(r))],
  ]);
}

async function readBody(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) throw new PluginError(`request body too large (limit ${MAX_BODY_BYTES / 1024} KiB)`);
    chunks.push(chunk);
  }
  const text = Buffer.concat(chunks).toString('utf8').trim();
  if (text === '' || text === 'null') return {};
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new PluginError(`invalid JSON in request body: ${(e as Error).message}`);
  }
}

/** The plugin's calls without the socket: a path and a body reader to the status and JSON answer. */
export function pluginDispatcher(
  net: NetworkDriver,
  ipam: IpamDriver,
  queue: MutationQueue,
  log: Logger,
  stats?: PluginStats,
): (path: string, body: () => Promise<unknown>) => Promise<{ status: number; body: object }> {
  const table = calls(net, ipam);
  return async (path, body) => {
    const errorKey = path.startsWith('/IpamDriver.') ? 'Error' : 'Err';
    const c = table.get(path);
    if (c === undefined) {
      stats?.count('unknown', 'refused');
      return { status: 404, body: { [errorKey]: `pontoon does not implement ${path.slice(1)}` } };
    }
    const call = path.slice(1);
    try {
      const input = await body();
      const out = c.mutates ? await queue.run(async () => c.handle(input)) : await c.handle(input);
      log.debug({ call }, 'docker plugin call');
      stats?.count(call, 'ok');
      return { status: 200, body: out };
    } catch (err) {
      const known = err instanceof PluginError || err instanceof ApiFailure;
      if (!known) log.error({ err, call }, 'docker plugin call failed');
      else log.info({ call, err: (err as Error).message }, 'docker plugin call refused');
      stats?.count(call, known ? 'refused' : 'failed');
      return { status: 200, body: { [errorKey]: (err as Error).message } };
    }
  };
}

/** Serves the plugin on `socketPath`; resolves once listening. */
export async function startPluginServer(socketPath: string, dispatch: ReturnType<typeof pluginDispatcher>, log: Logger): Promise<UnixHttpServer> {
  const server = await listenUnixHttp(
    socketPath,
    'docker plugin',
    `another process already serves the Docker plugin socket ${socketPath}`,
    async (req, res) => {
      const path = (req.url ?? '/').replace(/[?#][\s\S]*$/, '');
      const reply = req.method !== 'POST' ? { status: 405, body: { Err: 'the plugin protocol uses POST' } } : await dispatch(path, () => readBody(req));
      const data = JSON.stringify(reply.body);
      res.writeHead(reply.status, { 'content-type': PLUGIN_CONTENT_TYPE, 'content-length': Buffer.byteLength(data) });
      res.end(data);
    },
    log,
  );
  log.info({ socket: socketPath }, 'docker network and IPAM plugin listening');
  return server;
}

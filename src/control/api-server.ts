// The daemon's JSON HTTP API on a unix socket: routes → GatewayApi calls. Request bodies are
// validated here, so the network service only sees well-formed requests. Mutating requests run
// one at a time so two concurrent connects cannot race the address allocator.

import { chmodSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { z } from 'zod';
import type { ConnectRequest, DisconnectRequest, NetworkCreateRequest, PeerAddRequest, ServiceCreateRequest } from './api-types.js';
import { ApiFailure, type GatewayApi } from './gateway-api.js';
import { MutationQueue } from './mutation-queue.js';
import { listenUnixHttp, type UnixHttpServer } from './unix-http-server.js';

export { probeSocket } from './unix-http-server.js';

export const MAX_BODY_BYTES = 64 * 1024;
const SOCKET_MODE = 0o660;

const createSchema = z.strictObject({
  name: z.string(),
  driver: z.string().optional(),
  subnet: z.string().optional(),
  gateway: z.string().optional(),
  ipRange: z.string().optional(),
  subnets: z.array(z.string()).max(8).optional(),
  gateways: z.array(z.string()).max(8).optional(),
  ipRanges: z.array(z.string()).max(8).optional(),
  ipv6: z.boolean().optional(),
  ipv6Nat: z.boolean().optional(),
  internal: z.boolean().optional(),
  mtu: z.number().int().optional(),
  vni: z.number().int().optional(),
  mode: z.string().max(32).optional(),
  hostSubnetSize: z.number().int().optional(),
  flannelPrefix: z.string().max(256).optional(),
  parent: z.string().max(64).optional(),
  macvlanMode: z.string().optional(),
  hostAccess: z.boolean().optional(),
  auxAddresses: z.record(z.string().max(64), z.string()).optional(),
});

const connectSchema = z.strictObject({
  netns: z.string().min(1),
  ip: z.string().optional(),
  ip6: z.string().optional(),
  aliases: z.array(z.string()).optional(),
  name: z.string().optional(),
  publish: z.array(z.string()).optional(),
  /** "CONTAINER[:ALIAS]" or { name, alias? }; checked by the connect, with the network's containers at hand */
  links: z
    .array(z.union([z.string(), z.strictObject({ name: z.string(), alias: z.string().optional() })], { error: 'expected "CONTAINER[:ALIAS]" or {"name", "alias"}' }))
    .max(64)
    .optional(),
  ifName: z
    .string()
    .regex(/^[^\s/]{1,15}$/, 'an interface name has 1 to 15 characters, no "/" and no white space')
    .refine((n) => n !== '.' && n !== '..', 'an interface name cannot be "." or ".."')
    .optional(),
  containerId: z.string().min(1).optional(),
});

/** `{ netns }`, or `{ containerId, ifName }` (CNI DEL, whose namespace may be gone). */
const disconnectSchema = z
  .strictObject({ netns: z.string().min(1).optional(), containerId: z.string().min(1).optional(), ifName: z.string().min(1).optional() })
  .refine((b) => (b.netns !== undefined ? b.containerId === undefined && b.ifName === undefined : b.containerId !== undefined && b.ifName !== undefined), {
    message: 'give netns, or containerId and ifName',
  })
  .transform((b): DisconnectRequest => (b.netns !== undefined ? { netns: b.netns } : { containerId: b.containerId!, ifName: b.ifName! }));

const serviceCreateSchema = z.strictObject({
  name: z.string().min(1).max(63),
  network: z.string().min(1),
  port: z.string().min(1).max(16),
  targetPort: z.number().int().optional(),
  vip: z.string().max(64).optional(),
  selector: z.string().min(1).max(253).optional(),
  backends: z.array(z.string().min(1).max(253)).min(1).max(64).optional(),
  affinity: z.string().max(32).optional(),
  publish: z.number().int().optional(),
});

const peerAddSchema = z.strictObject({
  vtep: z.string().min(1),
  addresses: z.array(z.strictObject({ ip: z.string().min(1), mac: z.string().optional() })).optional(),
});

const EXPECTED: Record<string, string> = {
  object: 'a JSON object',
  array: 'a JSON array',
  string: 'a string',
  number: 'a number',
  int: 'an integer',
  boolean: 'true or false',
};

export interface Reply {
  status: number;
  body?: unknown;
}

type Handler = (params: string[], body: () => Promise<unknown>) => Promise<Reply>;

interface Route {
  method: string;
  pattern: RegExp; // matched against the raw path; groups are URL-decoded
  mutates: boolean;
  handler: Handler;
}

function parseBody<T>(schema: z.ZodType<T>, json: unknown): T {
  const r = schema.safeParse(json);
  if (r.success) return r.data;
  const issue = r.error.issues[0]!;
  const path = issue.path.map(String).join('.');
  let reason: string;
  if (issue.code === 'unrecognized_keys') reason = `unknown field${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => JSON.stringify(k)).join(', ')}`;
  else if (issue.code === 'custom' && path === '') reason = issue.message; // a rule about the whole body
  else if (issue.code === 'invalid_type') reason = `${path === '' ? 'body' : path}: expected ${EXPECTED[issue.expected] ?? issue.expected}`;
  else reason = `${path === '' ? 'body' : path}: ${issue.message}`;
  throw new ApiFailure(400, `invalid request body: ${reason}`);
}

function routes(api: GatewayApi): Route[] {
  return [
    { method: 'GET', pattern: /^\/v1\/networks$/, mutates: false, handler: async () => ({ status: 200, body: api.listNetworks() }) },
    {
      method: 'POST',
      pattern: /^\/v1\/networks$/,
      mutates: true,
      handler: async (_p, body) => {
        const req: NetworkCreateRequest = parseBody(createSchema, await body());
        return { status: 201, body: await api.createNetwork(req) };
      },
    },
    {
      method: 'GET',
      pattern: /^\/v1\/networks\/([^/]+)$/,
      mutates: false,
      handler: async ([name]) => ({ status: 200, body: api.inspectNetwork(name!) }),
    },
    {
      method: 'DELETE',
      pattern: /^\/v1\/networks\/([^/]+)$/,
      mutates: true,
      handler: async ([name]) => {
        await api.removeNetwork(name!);
        return { status: 204 };
      },
    },
    {
      method: 'POST',
      pattern: /^\/v1\/networks\/([^/]+)\/connect$/,
      mutates: true,
      handler: async ([name], body) => {
        const req: ConnectRequest = parseBody(connectSchema, await body());
        return { status: 200, body: await api.connect(name!, req) };
      },
    },
    {
      method: 'POST',
      pattern: /^\/v1\/networks\/([^/]+)\/disconnect$/,
      mutates: true,
      handler: async ([name], body) => {
        const req: DisconnectRequest = parseBody(disconnectSchema, await body());
        await api.disconnect(name!, req);
        return { status: 204 };
      },
    },
    { method: 'GET', pattern: /^\/v1\/status$/, mutates: false, handler: async () => ({ status: 200, body: await api.status() }) },
    {
      method: 'GET',
      pattern: /^\/v1\/ports\/([^/]+)$/,
      mutates: false,
      handler: async ([netns]) => ({ status: 200, body: api.ports(netns!) }),
    },
    {
      method: 'GET',
      pattern: /^\/v1\/conntrack$/,
      mutates: false,
      handler: async () => ({ status: 200, body: await api.conntrackList() }),
    },
    {
      method: 'DELETE',
      pattern: /^\/v1\/conntrack$/,
      mutates: true,
      handler: async () => ({ status: 200, body: { flushed: await api.conntrackFlush() } }),
    },
    { method: 'GET', pattern: /^\/v1\/counters$/, mutates: false, handler: async () => ({ status: 200, body: await api.counters() }) },
    { method: 'GET', pattern: /^\/v1\/services$/, mutates: false, handler: async () => ({ status: 200, body: await api.listServices() }) },
    {
      method: 'POST',
      pattern: /^\/v1\/services$/,
      mutates: true,
      handler: async (_p, body) => {
        const req: ServiceCreateRequest = parseBody(serviceCreateSchema, await body());
        return { status: 201, body: await api.createService(req) };
      },
    },
    { method: 'GET', pattern: /^\/v1\/services\/([^/]+)$/, mutates: false, handler: async ([name]) => ({ status: 200, body: api.inspectService(name!) }) },
    {
      method: 'DELETE',
      pattern: /^\/v1\/services\/([^/]+)$/,
      mutates: true,
      handler: async ([name]) => {
        await api.removeService(name!);
        return { status: 204 };
      },
    },
    { method: 'GET', pattern: /^\/v1\/peers$/, mutates: false, handler: async () => ({ status: 200, body: await api.listPeers(null) }) },
    {
      method: 'GET',
      pattern: /^\/v1\/networks\/([^/]+)\/peers$/,
      mutates: false,
      handler: async ([name]) => ({ status: 200, body: await api.listPeers(name!) }),
    },
    {
      method: 'POST',
      pattern: /^\/v1\/networks\/([^/]+)\/peers$/,
      mutates: true,
      handler: async ([name], body) => {
        const req: PeerAddRequest = parseBody(peerAddSchema, await body());
        return { status: 201, body: await api.addPeer(name!, req) };
      },
    },
    {
      method: 'DELETE',
      pattern: /^\/v1\/networks\/([^/]+)\/peers\/([^/]+)$/,
      mutates: true,
      handler: async ([name, vtep]) => {
        await api.removePeer(name!, vtep!);
        return { status: 204 };
      },
    },
  ];
}

/** Reads a JSON body of at most MAX_BODY_BYTES. */
async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  let tooLarge = false;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) tooLarge = true; // keep draining so the answer can be sent
    else chunks.push(chunk);
  }
  if (tooLarge) throw new ApiFailure(413, `request body too large (limit ${MAX_BODY_BYTES / 1024} KiB)`);
  return parseJsonBody(Buffer.concat(chunks));
}

/** A request body's JSON; a 400 ApiFailure when it is empty or not JSON. */
export function parseJsonBody(bytes: Buffer): unknown {
  const text = bytes.toString('utf8');
  if (text.trim() === '') throw new ApiFailure(400, 'invalid request body: empty, expected a JSON object');
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new ApiFailure(400, `invalid JSON in request body: ${(e as Error).message}`);
  }
}

function send(res: ServerResponse, reply: Reply): void {
  if (reply.body === undefined) {
    res.writeHead(reply.status).end();
    return;
  }
  const data = JSON.stringify(reply.body);
  res.writeHead(reply.status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(data) });
  res.end(data);
}

/**
 * The API without its socket: a method, a request URL and the body's reader to the reply. Bodies
 * are read only by routes that take one; calls that change state run one at a time.
 */
export function apiDispatcher(
  api: GatewayApi,
  log: Logger,
  queue = new MutationQueue(),
): (method: string, url: string, body: () => Promise<unknown>) => Promise<Reply> {
  const table = routes(api);
  const serialize = <T>(fn: () => Promise<T>): Promise<T> => queue.run(fn);
  return async (method, url, body) => {
    let rawPath = '/';
    let reply: Reply;
    try {
      // the request target's path as sent (a URL parser would take "//x/..." for a host name)
      rawPath = url.replace(/[?#][\s\S]*$/, '');
      if (!rawPath.startsWith('/')) throw new ApiFailure(400, `invalid request target ${JSON.stringify(url.slice(0, 100))}`);
      const matching = table.filter((r) => r.pattern.test(rawPath));
      if (matching.length === 0) throw new ApiFailure(404, `no such API endpoint: ${method} ${rawPath}`);
      const route = matching.find((r) => r.method === method);
      if (route === undefined) throw new ApiFailure(405, `method ${method} is not allowed on ${rawPath}`);
      const params = route.pattern.exec(rawPath)!.slice(1).map((p) => {
        try {
          return decodeURIComponent(p);
        } catch {
          throw new ApiFailure(400, `invalid URL encoding in ${JSON.stringify(p)}`);
        }
      });
      reply = route.mutates ? await serialize(() => route.handler(params, body)) : await route.handler(params, body);
    } catch (e) {
      if (e instanceof ApiFailure) {
        reply = { status: e.status, body: { message: e.message } };
      } else {
        log.error({ err: e, method, path: rawPath }, 'API request failed');
        reply = { status: 500, body: { message: e instanceof Error ? e.message : String(e) } };
      }
    }
    log.debug({ method, path: rawPath, status: reply.status }, 'API request');
    return reply;
  };
}

/** Serves `api` on a unix socket; resolves once listening. */
export async function startApiServer(socketPath: string, api: GatewayApi, log: Logger, queue?: MutationQueue): Promise<UnixHttpServer> {
  const dispatch = apiDispatcher(api, log, queue);
  const server = await listenUnixHttp(
    socketPath,
    'API',
    `another pontoon daemon is already listening on ${socketPath}`,
    async (req, res) => send(res, await dispatch(req.method ?? 'GET', req.url ?? '/', () => readJson(req))),
    log,
  );
  chmodSync(socketPath, SOCKET_MODE);
  log.info({ socket: socketPath }, 'API listening');
  return server;
}

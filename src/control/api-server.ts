// The daemon's JSON HTTP API on a unix socket: routes → GatewayApi calls. Request bodies are
// validated here, so the network service only sees well-formed requests. Mutating requests run
// one at a time so two concurrent connects cannot race the address allocator.

import { chmodSync, lstatSync, mkdirSync, unlinkSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { connect } from 'node:net';
import { dirname } from 'node:path';
import type { Logger } from 'pino';
import { z } from 'zod';
import type { ConnectRequest, DisconnectRequest, NetworkCreateRequest } from './api-types.js';
import { ApiFailure, type GatewayApi } from './gateway-api.js';

export const MAX_BODY_BYTES = 64 * 1024;
const SOCKET_MODE = 0o660;

const createSchema = z.strictObject({
  name: z.string(),
  driver: z.string().optional(),
  subnet: z.string().optional(),
  gateway: z.string().optional(),
  ipRange: z.string().optional(),
  internal: z.boolean().optional(),
  mtu: z.number().int().optional(),
  vni: z.number().int().optional(),
});

const connectSchema = z.strictObject({
  netns: z.string().min(1),
  ip: z.string().optional(),
  aliases: z.array(z.string()).optional(),
  name: z.string().optional(),
  publish: z.array(z.string()).optional(),
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

/** What is at `path`: nothing, a socket nobody answers on (stale), or a live listener. */
export function probeSocket(path: string): Promise<'absent' | 'stale' | 'live'> {
  try {
    if (!lstatSync(path).isSocket()) throw new Error(`${path} exists and is not a socket`);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return Promise.resolve('absent');
    throw e;
  }
  return new Promise((resolve, reject) => {
    const sock = connect({ path });
    sock.once('connect', () => {
      sock.destroy();
      resolve('live');
    });
    sock.once('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'ECONNREFUSED') resolve('stale');
      else if (err.code === 'ENOENT') resolve('absent');
      else reject(new Error(`cannot check the socket ${path}: ${err.message}`));
    });
  });
}

/**
 * The API without its socket: a method, a request URL and the body's reader to the reply. Bodies
 * are read only by routes that take one; calls that change state run one at a time.
 */
export function apiDispatcher(api: GatewayApi, log: Logger): (method: string, url: string, body: () => Promise<unknown>) => Promise<Reply> {
  const table = routes(api);
  let tail: Promise<unknown> = Promise.resolve();
  const serialize = <T>(fn: () => Promise<T>): Promise<T> => {
    const run = tail.then(fn, fn);
    tail = run.catch(() => undefined);
    return run;
  };
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
export async function startApiServer(socketPath: string, api: GatewayApi, log: Logger): Promise<{ close(): Promise<void> }> {
  mkdirSync(dirname(socketPath), { recursive: true, mode: 0o755 });
  const found = await probeSocket(socketPath);
  if (found === 'live') throw new Error(`another pontoon daemon is already listening on ${socketPath}`);
  if (found === 'stale') {
    log.info({ socket: socketPath }, 'removing stale API socket');
    unlinkSync(socketPath);
  }

  const dispatch = apiDispatcher(api, log);
  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    send(res, await dispatch(req.method ?? 'GET', req.url ?? '/', () => readJson(req)));
  };

  const server: Server = createServer((req, res) => {
    handle(req, res).catch((e: unknown) => {
      log.error({ err: e }, 'API response failed');
      res.destroy();
    });
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(socketPath, () => {
      server.off('error', reject);
      resolve();
    });
  });
  chmodSync(socketPath, SOCKET_MODE);
  server.on('error', (e) => log.error({ err: e }, 'API server error'));
  log.info({ socket: socketPath }, 'API listening');

  let closed: Promise<void> | null = null;
  return {
    close(): Promise<void> {
      // libuv unlinks the socket file when the server closes
      closed ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      return closed;
    },
  };
}

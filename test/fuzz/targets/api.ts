// Fuzz target: the API's request handling without its socket (api-server.ts apiDispatcher) over
// the network service of a fake host (test/unit/control/network/fake-host.ts): routing, URL
// decoding, JSON parsing, zod validation and the service's own checks. An input is an HTTP request
// as the CLI sends it, reduced to "<METHOD> <path>\n<body>". Every reply must be one a client can
// act on: a known status, never 500 (an exception the API did not turn into an error answer), a
// message on every error, JSON that serializes.
import pino from 'pino';
import { apiDispatcher, MAX_BODY_BYTES, parseJsonBody, type Reply } from '../../../src/control/api-server.js';
import { ApiFailure } from '../../../src/control/gateway-api.js';
import type { NetworkService } from '../../../src/control/network-service.js';
import { FakeHost } from '../../unit/control/network/fake-host.js';

const STATUSES = new Set([200, 201, 204, 400, 403, 404, 405, 409, 413, 422, 503]);
const REBUILD = 500;

let service: NetworkService | null = null;
let dispatch: ReturnType<typeof apiDispatcher> | null = null;
let uses = 0;

async function world(): Promise<ReturnType<typeof apiDispatcher>> {
  if (dispatch !== null && uses++ < REBUILD) return dispatch;
  if (service !== null) await service.shutdown();
  const host = new FakeHost();
  host.devices.addNamespace('c1');
  host.devices.addNamespace('c2');
  const d = host.daemon();
  await d.service.restore();
  service = d.service;
  dispatch = apiDispatcher(d.service, pino({ level: 'silent' }));
  uses = 0;
  return dispatch;
}

/** "<METHOD> <path>\n<body>" to its parts. */
export function decodeRequest(data: Buffer): { method: string; url: string; body: Buffer } {
  const nl = data.indexOf(0x0a);
  const line = (nl < 0 ? data : data.subarray(0, nl)).toString('latin1');
  const sp = line.indexOf(' ');
  return {
    method: sp < 0 ? 'GET' : line.slice(0, sp),
    url: sp < 0 ? line : line.slice(sp + 1),
    body: nl < 0 ? Buffer.alloc(0) : data.subarray(nl + 1),
  };
}

export function checkReply(req: string, reply: Reply): void {
  const fail = (why: string): never => {
    throw new Error(`${why}: ${req} -> ${reply.status} ${JSON.stringify(reply.body)}`);
  };
  if (!STATUSES.has(reply.status)) fail(`status ${reply.status}`);
  if (reply.status === 204 && reply.body !== undefined) fail('a body with 204');
  if (reply.status >= 400) {
    const m = (reply.body as { message?: unknown } | undefined)?.message;
    if (typeof m !== 'string' || m === '') fail('an error without a message');
  }
  if (reply.body !== undefined) JSON.stringify(reply.body);
}

export async function fuzz(data: Buffer): Promise<void> {
  const dispatcher = await world();
  const { method, url, body } = decodeRequest(data);
  const read = async (): Promise<unknown> => {
    if (body.length > MAX_BODY_BYTES) throw new ApiFailure(413, 'request body too large');
    return parseJsonBody(body);
  };
  const reply = await dispatcher(method, url, read);
  checkReply(`${method} ${url} ${body.toString('utf8').slice(0, 200)}`, reply);
}

// An HTTP server on a unix socket, as the API and Docker's plugin both serve one: the directory
// made, a stale socket (nobody answers) replaced, a live one refused, and a close that ends every
// connection and removes the file.

import { lstatSync, mkdirSync, unlinkSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { dirname } from 'node:path';
import type { Logger } from 'pino';
import { connect } from 'node:net';

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

export interface UnixHttpServer {
  close(): Promise<void>;
}

/**
 * Listens on `socketPath` with `handle`; `what` names the server in logs ("API", "docker
 * plugin"), `whenLive` is the error when another process listens there. A handler that throws has
 * its connection destroyed, and the error logged.
 */
export async function listenUnixHttp(
  socketPath: string,
  what: string,
  whenLive: string,
  handle: (req: IncomingMessage, res: ServerResponse) => Promise<void>,
  log: Logger,
): Promise<UnixHttpServer> {
  mkdirSync(dirname(socketPath), { recursive: true, mode: 0o755 });
  const found = await probeSocket(socketPath);
  if (found === 'live') throw new Error(whenLive);
  if (found === 'stale') {
    log.info({ socket: socketPath }, `removing stale ${what} socket`);
    unlinkSync(socketPath);
  }
  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      log.error({ err }, `${what} response failed`);
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
  server.on('error', (err) => log.error({ err }, `${what} server error`));
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

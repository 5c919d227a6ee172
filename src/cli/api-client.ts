// The CLI's side of the daemon's API: JSON over HTTP over the unix socket.

import { request as httpRequest } from 'node:http';

/** What the commands need of a client; tests pass a fake. */
export interface ApiClientLike {
  request<T>(method: string, path: string, body?: unknown): Promise<T>;
}

/** An error answer of the daemon: its HTTP status and its one-line message. */
export class ApiRequestError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = 'ApiRequestError';
  }
}

const TIMEOUT_MS = 60_000;
const UNREACHABLE = new Set(['ENOENT', 'ECONNREFUSED', 'ENOTSOCK']);

export class ApiClient implements ApiClientLike {
  constructor(readonly socketPath: string) {}

  request<T>(method: string, path: string, body?: unknown): Promise<T> {
    const data = body === undefined ? undefined : JSON.stringify(body);
    const headers: Record<string, string | number> = { accept: 'application/json' };
    if (data !== undefined) {
      headers['content-type'] = 'application/json';
      headers['content-length'] = Buffer.byteLength(data);
    }
    return new Promise<T>((resolve, reject) => {
      const req = httpRequest({ socketPath: this.socketPath, method, path, headers, timeout: TIMEOUT_MS }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          const status = res.statusCode ?? 0;
          let json: unknown;
          try {
            json = text === '' ? undefined : JSON.parse(text);
          } catch {
            reject(new ApiRequestError(status, `the pontoon daemon sent an invalid answer (HTTP ${status})`));
            return;
          }
          if (status >= 200 && status < 300) {
            resolve(json as T);
            return;
          }
          const message =
            typeof json === 'object' && json !== null && typeof (json as { message?: unknown }).message === 'string'
              ? (json as { message: string }).message
              : `the pontoon daemon answered HTTP ${status}`;
          reject(new ApiRequestError(status, message));
        });
      });
      req.on('timeout', () => {
        req.destroy(new Error(`the pontoon daemon at ${this.socketPath} did not answer within ${TIMEOUT_MS / 1000} s`));
      });
      req.on('error', (err: NodeJS.ErrnoException) => {
        if (err.code !== undefined && UNREACHABLE.has(err.code)) {
          reject(new Error(`cannot reach the pontoon daemon at ${this.socketPath}: is it running? (${err.code})`));
        } else if (err.code === 'EACCES') {
          reject(new Error(`cannot reach the pontoon daemon at ${this.socketPath}: permission denied (EACCES)`));
        } else {
          reject(err);
        }
      });
      req.end(data);
    });
  }
}

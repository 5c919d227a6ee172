// The cluster store's connection to etcd: the client, each call bounded in time with its failure as
// ApiFailure(503), whether etcd answers (logged once when it stops and once when it is back), and
// what the background loops share: sleeps that end when the store closes, one writer per key.

import { Etcd3, EtcdLeaseInvalidError, type ICompare, type IOptions, type IRequestOp, type ITxnResponse } from 'etcd3';
import type { Logger } from 'pino';
import { ApiFailure } from '../gateway-api.js';

type FaultHandling = NonNullable<IOptions['faultHandling']>;
type Policy = NonNullable<FaultHandling['global']>;

/**
 * A fault-handling policy that just runs the call. etcd3's defaults retry failed calls three times
 * (a transaction that timed out but was applied would run twice, and a dead etcd would take three
 * deadlines to report) and open a circuit breaker for 5 s after three failures (the host stays
 * unusable for 5 s after etcd is back). This store retries in its background loops instead.
 */
const JUST_RUN = {
  execute: async (fn: (context: { signal: AbortSignal }) => unknown) => fn({ signal: new AbortController().signal }),
} as unknown as Policy;

/** One readable line from an etcd3 / gRPC error ("14 UNAVAILABLE: No connection established. Last error: ..."). */
export function reasonOf(err: unknown): string {
  const msg = (err instanceof Error ? err.message : String(err))
    .split('\n')[0]!
    .replace(/\s*Resolution note:.*$/, '')
    .trim();
  const noConnection = /^14 UNAVAILABLE: No connection established\. Last error: (?:Error: )?(.*?)\.?$/.exec(msg);
  if (noConnection) return noConnection[1] && noConnection[1] !== 'null' ? `no connection (${noConnection[1]})` : 'no connection';
  const deadline = /^4 DEADLINE_EXCEEDED: Deadline exceeded after ([0-9.]+s)/.exec(msg);
  if (deadline) return `no answer within ${deadline[1]}`;
  return msg.replace(/^\d+ ([A-Z_]+): (.*)$/, '$2 ($1)') || 'unknown error';
}

/** A retry delay with up to 20 % added, so hosts that lost etcd together do not retry together. */
export const jitter = (ms: number): number => ms + Math.floor(Math.random() * ms * 0.2);

export interface EtcdConnectionOptions {
  /** etcd client URLs, e.g. http://192.0.2.10:2379 */
  endpoints: string[];
  log: Logger;
  /** deadline of each call to etcd */
  callTimeoutMs: number;
}

export class EtcdConnection {
  readonly client: Etcd3;
  readonly callTimeoutMs: number;
  private readonly log: Logger;
  private readonly where: string;

  private isClosed = false;
  private up = false;
  private downLogged = false;
  private readonly sleepers = new Set<() => void>();
  private readonly keyLocks = new Map<string, Promise<void>>();

  constructor(opts: EtcdConnectionOptions) {
    const hosts = opts.endpoints.map((e) => e.replace(/\/+$/, ''));
    this.log = opts.log;
    this.callTimeoutMs = opts.callTimeoutMs;
    this.where = hosts.join(', ');
    this.client = new Etcd3({
      hosts,
      // every unary call has a deadline; streams (watch, lease keepalive) have none
      defaultCallOptions: (ctx) => (ctx.isStream ? {} : { deadline: Date.now() + this.callTimeoutMs }),
      faultHandling: { global: JUST_RUN, host: () => JUST_RUN },
      grpcOptions: {
        // notice a dead peer under an idle stream; etcd refuses pings more often than every 5 s
        'grpc.keepalive_time_ms': 15_000,
        'grpc.keepalive_timeout_ms': 5_000,
        // reconnect soon after etcd is back (gRPC's default backoff grows to 2 minutes)
        'grpc.initial_reconnect_backoff_ms': 100,
        'grpc.max_reconnect_backoff_ms': 1_000,
        // the state read at start and after a broken watch can be large
        'grpc.max_receive_message_length': 256 * 1024 * 1024,
      },
    });
  }

  /** Whether the store is closing or closed: every loop stops at its next step. */
  get closed(): boolean {
    return this.isClosed;
  }

  /** Whether etcd answered the last call (and the store is open). */
  healthy(): boolean {
    return this.up && !this.isClosed;
  }

  unavailable(reason: string): ApiFailure {
    return new ApiFailure(503, `cluster store unavailable (etcd at ${this.where}): ${reason}`);
  }

  /** Runs one call to etcd, bounded in time; any failure becomes ApiFailure(503) with the reason (the original as `cause`). */
  async call<T>(fn: () => Promise<T>): Promise<T> {
    if (this.isClosed) throw this.unavailable('the store is closed');
    let timer: NodeJS.Timeout | undefined;
    const limit = this.callTimeoutMs + 1000; // the gRPC deadline should come first
    try {
      const result = await Promise.race([
        fn(),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error(`no answer within ${limit} ms`)), limit);
        }),
      ]);
      this.markUp();
      return result;
    } catch (err) {
      if (err instanceof ApiFailure) throw err;
      // etcd answered: it just does not know the lease any more (handled by the caller)
      if (err instanceof EtcdLeaseInvalidError) this.markUp();
      else this.markDown(err);
      const failure = this.unavailable(reasonOf(err));
      failure.cause = err;
      throw failure;
    } finally {
      clearTimeout(timer);
    }
  }

  txn(compare: ICompare[], success: IRequestOp[], failure: IRequestOp[] = []): Promise<ITxnResponse> {
    return this.call(() => this.client.kv.txn({ compare, success, failure }));
  }

  markUp(): void {
    if (this.isClosed) return;
    if (!this.up && this.downLogged) this.log.info({ etcd: this.where }, 'cluster store: etcd answers again');
    this.up = true;
    this.downLogged = false;
  }

  markDown(err: unknown): void {
    if (this.isClosed) return;
    if (!this.downLogged) this.log.warn({ etcd: this.where, err: reasonOf(err) }, 'cluster store: etcd does not answer');
    this.up = false;
    this.downLogged = true;
  }

  /** Sleeps, or returns at once when the store closes. */
  sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.sleepers.delete(done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.sleepers.add(done);
    });
  }

  /** Runs fn when every earlier fn for the same key has finished. */
  async withKeyLock<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.keyLocks.get(key) ?? Promise.resolve();
    let release!: () => void;
    const mine = new Promise<void>((r) => (release = r));
    const tail = prev.then(() => mine);
    this.keyLocks.set(key, tail);
    await prev;
    try {
      return await fn();
    } finally {
      release();
      if (this.keyLocks.get(key) === tail) this.keyLocks.delete(key);
    }
  }

  /** The first step of closing: calls fail from now on, and every sleeping loop wakes up to stop. */
  shut(): void {
    this.isClosed = true;
    this.up = false;
    for (const wake of [...this.sleepers]) wake();
  }

  /** The last step of closing, once the watch and the lease are done with the client. */
  closeClient(): void {
    this.client.close();
  }
}

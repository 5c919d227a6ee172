// Control operations across a thread boundary, declared once as an interface T: the client turns
// each method of T into a message { id, op, args }, the dispatcher calls the named method of an
// implementation of T and answers { id, ok, value } or { id, ok: false, error }. Control path only.

export interface ControlRequest {
  id: number;
  op: string;
  args: unknown[];
}

export type ControlReply = { id: number; ok: true; value: unknown } | { id: number; ok: false; error: string };

/** T's methods as seen from the other side of the channel: each resolves with the reply. */
export type Remote<T> = {
  [K in keyof T]: T[K] extends (...args: infer A) => infer R ? (...args: A) => Promise<Awaited<R>> : never;
};

type Pending = { resolve: (value: unknown) => void; reject: (err: Error) => void };

/** The calling end: `remote` has every method of T; replies are handed to `receive`. */
export class ControlClient<T> {
  readonly remote: Remote<T>;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;

  /** `post` sends one request (a throw rejects that call). */
  constructor(private readonly post: (request: ControlRequest) => void) {
    this.remote = new Proxy({} as Remote<T>, {
      // 'then' stays undefined so that awaiting or resolving with `remote` does not call the other side
      get: (_target, op) => (typeof op !== 'string' || op === 'then' ? undefined : (...args: unknown[]) => this.call(op, args)),
    });
  }

  /** Settles the call a reply answers; replies to no call in flight are ignored. */
  receive(reply: ControlReply): void {
    const p = this.pending.get(reply.id);
    if (p === undefined) return;
    this.pending.delete(reply.id);
    if (reply.ok) p.resolve(reply.value);
    else p.reject(new Error(reply.error));
  }

  /** Rejects every call in flight (the other side is gone). */
  failAll(err: Error): void {
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
  }

  private call(op: string, args: unknown[]): Promise<unknown> {
    const id = this.nextId++;
    return new Promise<unknown>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      try {
        this.post({ id, op, args });
      } catch (err) {
        this.pending.delete(id);
        reject(err instanceof Error ? err : new Error(String(err)));
      }
    });
  }
}

/**
 * The answering end: calls request.op on impl with request.args. Synchronous, so a thread that never
 * yields to its event loop (the data-plane worker) can answer between batches; an operation that
 * returns a promise is answered with an error. Names that are not methods of impl (nor of Object,
 * such as 'constructor' or 'toString') are answered with an error too.
 */
export function dispatch<T extends object>(impl: T, request: ControlRequest): ControlReply {
  const { id, op } = request;
  const method = typeof op === 'string' && !(op in Object.prototype) ? (impl as Record<string, unknown>)[op] : undefined;
  if (typeof method !== 'function') return { id, ok: false, error: `unknown control operation ${JSON.stringify(op)}` };
  try {
    const value: unknown = method.apply(impl, Array.isArray(request.args) ? request.args : []);
    if (isThenable(value)) {
      value.then(undefined, () => undefined); // its outcome is not awaited: keep a rejection from going unhandled
      return { id, ok: false, error: `control operation ${op} returned a promise` };
    }
    return { id, ok: true, value };
  } catch (err) {
    return { id, ok: false, error: err instanceof Error ? err.message : String(err) };
  }
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return typeof value === 'object' && value !== null && typeof (value as { then?: unknown }).then === 'function';
}

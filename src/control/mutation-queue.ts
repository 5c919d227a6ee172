// Changes to networks and endpoints run one at a time, whoever asks: the API, Docker's drivers, a
// deferred follow-up. Two connects racing the address allocator or the state file cannot happen.

export class MutationQueue {
  private tail: Promise<unknown> = Promise.resolve();

  /** Runs `fn` once everything queued before it has finished, failed or not. */
  run<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.tail.then(fn, fn);
    this.tail = run.catch(() => undefined);
    return run;
  }
}

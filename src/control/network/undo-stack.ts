// What a multi-step operation has made so far, each with how to take it back. A step that makes
// something pushes its undo right after it succeeds; a failure anywhere unwinds the stack, last
// made first, so nothing half-made stays behind.

export class UndoStack {
  private readonly steps: { what: string; undo: () => void | Promise<void> }[] = [];

  constructor(
    /** told about an undo that failed; the others still run */
    private readonly onUndoFailure: (what: string, err: Error) => void,
  ) {}

  /** `what` names the thing made, for the message if taking it back fails. */
  push(what: string, undo: () => void | Promise<void>): void {
    this.steps.push({ what, undo });
  }

  /** Takes back everything pushed, in reverse order, and empties the stack. */
  async unwind(): Promise<void> {
    for (let step = this.steps.pop(); step !== undefined; step = this.steps.pop()) {
      try {
        await step.undo();
      } catch (err) {
        this.onUndoFailure(step.what, err as Error);
      }
    }
  }

  /** Runs `fn` with a fresh stack; if it throws, unwinds the stack, then rethrows. */
  static async run<T>(onUndoFailure: (what: string, err: Error) => void, fn: (undo: UndoStack) => Promise<T>): Promise<T> {
    const undo = new UndoStack(onUndoFailure);
    try {
      return await fn(undo);
    } catch (err) {
      await undo.unwind();
      throw err;
    }
  }
}

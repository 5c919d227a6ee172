import { describe, expect, it } from 'vitest';
import { UndoStack } from '../../../../src/control/network/undo-stack.js';

describe('UndoStack', () => {
  it('takes back what was made, last made first, then rethrows; nothing when all went well', async () => {
    const done: string[] = [];
    const failing = UndoStack.run(
      () => undefined,
      async (undo) => {
        for (const what of ['a', 'b', 'c']) {
          done.push(`+${what}`);
          undo.push(what, async () => void done.push(`-${what}`));
        }
        throw new Error('step d failed');
      },
    );
    await expect(failing).rejects.toThrow('step d failed');
    expect(done).toEqual(['+a', '+b', '+c', '-c', '-b', '-a']);

    const ok = await UndoStack.run(
      () => undefined,
      async (undo) => {
        undo.push('x', () => void done.push('-x'));
        return 42;
      },
    );
    expect(ok).toBe(42);
    expect(done).not.toContain('-x');
  });

  it('an undo that fails is reported and the others still run', async () => {
    const done: string[] = [];
    const reported: string[] = [];
    const undo = new UndoStack((what, err) => reported.push(`${what}: ${err.message}`));
    undo.push('a', () => void done.push('-a'));
    undo.push('b', () => {
      throw new Error('already gone');
    });
    undo.push('c', () => void done.push('-c'));
    await undo.unwind();
    expect(done).toEqual(['-c', '-a']);
    expect(reported).toEqual(['b: already gone']);
    await undo.unwind(); // emptied: nothing twice
    expect(done).toEqual(['-c', '-a']);
  });
});

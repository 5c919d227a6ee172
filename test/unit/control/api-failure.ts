import { expect } from 'vitest';
import { ApiFailure } from '../../../src/control/gateway-api.js';

/** Runs `fn`, which must throw an ApiFailure; returns its status and message. */
export function failure(fn: () => unknown): { status: number; message: string } {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(ApiFailure);
    return { status: (e as ApiFailure).status, message: (e as ApiFailure).message };
  }
  throw new Error('expected an ApiFailure');
}

/** Awaits `p`, which must reject with an ApiFailure; returns its status and message. */
export async function rejection(p: Promise<unknown>): Promise<{ status: number; message: string }> {
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ApiFailure);
  return { status: (err as ApiFailure).status, message: (err as ApiFailure).message };
}

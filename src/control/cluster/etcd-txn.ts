// The pieces of an etcd transaction: compares, requests, and what a range request returned.

import type { ICompare, IKeyValue, IRequestOp, ITxnResponse } from 'etcd3';

const enc = (s: string): Buffer => Buffer.from(s, 'utf8');

/** The end of the key range holding every key that starts with `p`. */
function prefixEnd(p: Buffer): Buffer {
  const end = Buffer.from(p);
  for (let i = end.length - 1; i >= 0; i--) {
    if (end[i]! < 0xff) {
      end[i] = end[i]! + 1;
      return end.subarray(0, i + 1);
    }
  }
  return Buffer.from([0]);
}

export const absent = (key: string): ICompare => ({ key: enc(key), target: 'Version', result: 'Equal', version: 0 });
export const present = (key: string): ICompare => ({ key: enc(key), target: 'Version', result: 'Greater', version: 0 });
export const modIs = (key: string, rev: string): ICompare => ({ key: enc(key), target: 'Mod', result: 'Equal', mod_revision: rev });
export const valueIs = (key: string, value: string): ICompare => ({ key: enc(key), target: 'Value', result: 'Equal', value: enc(value) });
export const leaseIs = (key: string, lease: string): ICompare => ({ key: enc(key), target: 'Lease', result: 'Equal', lease });
/** true when no key starts with `dir` (a range compare: every key in the range must match). */
export const nothingUnder = (dir: string): ICompare => ({ key: enc(dir), range_end: prefixEnd(enc(dir)), target: 'Version', result: 'Equal', version: 0 });

export const put = (key: string, value: string, lease?: string): IRequestOp => ({
  request_put: lease === undefined ? { key: enc(key), value: enc(value) } : { key: enc(key), value: enc(value), lease },
});
export const get = (key: string): IRequestOp => ({ request_range: { key: enc(key) } });
export const getUnder = (dir: string, keysOnly = false): IRequestOp => ({ request_range: { key: enc(dir), range_end: prefixEnd(enc(dir)), keys_only: keysOnly } });
export const countUnder = (dir: string): IRequestOp => ({ request_range: { key: enc(dir), range_end: prefixEnd(enc(dir)), count_only: true } });
export const del = (key: string): IRequestOp => ({ request_delete_range: { key: enc(key) } });
export const delUnder = (dir: string): IRequestOp => ({ request_delete_range: { key: enc(dir), range_end: prefixEnd(enc(dir)) } });

/** The key-values the i-th (range) operation of a transaction returned. */
export function kvsOf(res: ITxnResponse, i: number): IKeyValue[] {
  return res.responses[i]?.response_range?.kvs ?? [];
}

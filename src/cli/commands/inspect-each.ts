// `docker ... inspect A B C`: every object that exists printed as one JSON array, then one line per
// one that does not ("No such network: x"), exit 1 when any was missing.

import type { Command } from 'commander';
import { ApiRequestError } from '../api-client.js';
import { CliExit, type CliContext } from '../context.js';
import { formatInspect } from '../format.js';

/** Inspects `names` at `path(name)`; `what` names the kind in "No such ...". */
export async function inspectEach(ctx: CliContext, cmd: Command, names: string[], what: string, path: (name: string) => string): Promise<void> {
  const client = ctx.client(cmd);
  const found: unknown[] = [];
  const errors: string[] = [];
  for (const name of names) {
    try {
      found.push(await client.request<unknown>('GET', path(name)));
    } catch (e) {
      if (e instanceof ApiRequestError && e.status === 404) errors.push(`No such ${what}: ${name}`);
      else if (e instanceof ApiRequestError) errors.push(e.message);
      else throw e; // the daemon is unreachable: one error is enough
    }
  }
  ctx.io.out(formatInspect(found));
  if (errors.length > 0) {
    ctx.io.err(errors.map((m) => `Error: ${m}\n`).join(''));
    throw new CliExit(1);
  }
}

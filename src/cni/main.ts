#!/usr/bin/env node
// The `pontoon-cni` executable: the runtime's environment and stdin in, only the result (or the
// CNI error JSON) out on stdout.

import { ApiClient } from '../cli/api-client.js';
import { runPlugin } from './cni-plugin.js';
import { nsenterProbe } from './sandbox-probe.js';

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

const outcome = await runPlugin(process.env, await readStdin(), { client: (socket) => new ApiClient(socket), sandbox: nsenterProbe });
process.stdout.write(outcome.stdout);
process.exitCode = outcome.exitCode;

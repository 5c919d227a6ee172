#!/usr/bin/env node
// The `pontoon` executable: a thin entry around runCli.

import { runCli } from './program.js';

process.exitCode = await runCli(process.argv.slice(2), {
  out: (s) => void process.stdout.write(s),
  err: (s) => void process.stderr.write(s),
});

// `npm run fuzz`: runs the fuzz targets of test/fuzz/targets/ with Jazzer.js (libFuzzer), one after
// the other, each from its seed corpus test/fuzz/corpus/<target>/ (read only: new inputs go to a
// temporary directory, or to --corpus-out). Options:
//   --target NAME      only this target (repeatable; default: every target)
//   --time SECONDS     the time budget of the whole run, shared by the targets (default 600)
//   --runs N           a budget of executions per target instead of time
//   --corpus-out DIR   keep the inputs the fuzzer found in DIR/<target>/ (e.g. to merge them later)
// A crash or a broken invariant fails the run: the reproducer stays in a temporary directory,
// whose path and the reproducer's bytes (hex) are printed. Prints executions, exec/s and
// libFuzzer's cov/ft figures per target.

import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureJazzerLoads } from './jazzer-compat.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const TARGETS_DIR = fileURLToPath(new URL('./targets/', import.meta.url));
const CORPUS = join(ROOT, 'test/fuzz/corpus');

/** Share of the time budget, and libFuzzer's -max_len, by target (others: weight 1, 4096 bytes). */
const WEIGHTS: Record<string, number> = { pipeline: 6, dns: 2, api: 2, pcp: 1 };
const MAX_LEN: Record<string, number> = { pipeline: 2048, dns: 1024, api: 2048, pcp: 1100 };
/** Targets whose fuzz function returns a promise (Jazzer.js runs the others in its faster --sync mode). */
const ASYNC = new Set(['api', 'dns']);

export interface TargetResult {
  target: string;
  ok: boolean;
  executions: number;
  execPerSecond: number;
  cov: number;
  ft: number;
  crashes: string[];
  /** the target left a handle open (a listening socket, a timer) and was killed after its final stats */
  lingered: boolean;
}

/** How long a target may take to exit after libFuzzer said it is done. */
const EXIT_GRACE_MS = 10_000;

function parseArgs(argv: string[]): { targets: string[]; time: number; runs: number; corpusOut: string | null } {
  const o = { targets: [] as string[], time: 600, runs: 0, corpusOut: null as string | null };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const v = (): string => {
      const x = argv[++i];
      if (x === undefined) throw new Error(`${a} needs a value`);
      return x;
    };
    if (a === '--target') o.targets.push(v());
    else if (a === '--time') o.time = Number(v());
    else if (a === '--runs') o.runs = Number(v());
    else if (a === '--corpus-out') o.corpusOut = v();
    else throw new Error(`unknown option ${a} (see test/fuzz/run.ts)`);
  }
  return o;
}

export function allTargets(): string[] {
  return readdirSync(TARGETS_DIR)
    .filter((f) => f.endsWith('.js'))
    .map((f) => basename(f, '.js'))
    .sort();
}

function runTarget(target: string, seconds: number, runs: number, outDir: string, artifacts: string): Promise<TargetResult> {
  const require = createRequire(import.meta.url);
  const cli = require.resolve('@jazzer.js/core/dist/cli.js');
  const seeds = join(CORPUS, target);
  mkdirSync(outDir, { recursive: true });
  const libfuzzer = [`-max_len=${MAX_LEN[target] ?? 4096}`, `-artifact_prefix=${artifacts}/`, '-print_final_stats=1', '-timeout=20'];
  if (runs > 0) libfuzzer.push(`-runs=${runs}`);
  else libfuzzer.push(`-max_total_time=${Math.max(1, Math.round(seconds))}`);
  const args = [
    cli,
    join(TARGETS_DIR, `${target}.js`),
    outDir,
    ...(existsSync(seeds) ? [seeds] : []),
    ...(ASYNC.has(target) ? [] : ['--sync']),
    '--includes',
    join(ROOT, 'dist/src/'),
    '--disable_bug_detectors',
    '.*',
    '--',
    ...libfuzzer,
  ];
  const started = Date.now();
  return new Promise((resolve) => {
    const child = spawn(process.execPath, args, { cwd: ROOT, stdio: ['ignore', 'inherit', 'pipe'] });
    let tail = '';
    let last = { cov: 0, ft: 0 };
    let executions = 0;
    let execPerSecond = 0;
    let finished = false;
    let lingered = false;
    let ended = 0;
    // Jazzer.js exits after a clean run only when the event loop is empty: a target that leaves a
    // socket or a timer open would hang the run (and CI) for ever, so it gets a grace period
    let grace: NodeJS.Timeout | null = null;
    child.stderr.on('data', (chunk: Buffer) => {
      process.stderr.write(chunk);
      tail = (tail + chunk.toString()).slice(-20000);
      for (const m of chunk.toString().matchAll(/^#(\d+)\s+\S+\s+cov: (\d+) ft: (\d+)/gm)) {
        last = { cov: Number(m[2]), ft: Number(m[3]) };
        executions = Math.max(executions, Number(m[1]));
      }
      // the final stats, when the target's output got that far before it exited (a --sync target may not)
      const e = /stat::number_of_executed_units: (\d+)/.exec(tail);
      if (e) executions = Number(e[1]);
      if (!finished && /stat::peak_rss_mb:|^#\d+\s+DONE /m.test(tail)) {
        finished = true;
        ended = Date.now();
        grace = setTimeout(() => {
          lingered = true;
          child.kill('SIGKILL');
        }, EXIT_GRACE_MS);
      }
    });
    child.on('close', (code) => {
      if (grace !== null) clearTimeout(grace);
      const crashes = readdirSync(artifacts).map((f) => join(artifacts, f));
      // libFuzzer's own average counts the start-up; this is over the whole run, start-up included too
      execPerSecond = Math.round(executions / Math.max(1, ((finished ? ended : Date.now()) - started) / 1000));
      const clean = code === 0 || (lingered && /\nDone \d+ runs|^#\d+\s+DONE /m.test(tail));
      resolve({ target, ok: clean && crashes.length === 0, executions, execPerSecond, ...last, crashes, lingered });
    });
  });
}

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2));
  ensureJazzerLoads((l) => process.stderr.write(`${l}\n`));
  const targets = o.targets.length > 0 ? o.targets : allTargets();
  for (const t of targets) if (!allTargets().includes(t)) throw new Error(`no fuzz target ${t} (have: ${allTargets().join(', ')})`);
  const total = targets.reduce((s, t) => s + (WEIGHTS[t] ?? 1), 0);
  const work = mkdtempSync(join(tmpdir(), 'pontoon-fuzz-'));
  const results: TargetResult[] = [];
  for (const t of targets) {
    const artifacts = join(work, 'artifacts', t);
    mkdirSync(artifacts, { recursive: true });
    const out = o.corpusOut !== null ? join(o.corpusOut, t) : join(work, 'corpus', t);
    results.push(await runTarget(t, (o.time * (WEIGHTS[t] ?? 1)) / total, o.runs, out, artifacts));
  }
  let failed = false;
  for (const r of results) {
    process.stdout.write(`fuzz ${r.target}: ${r.ok ? 'ok' : 'FAILED'}, ${r.executions} executions, ${r.execPerSecond} exec/s, cov ${r.cov} ft ${r.ft}${r.lingered ? `, killed ${EXIT_GRACE_MS / 1000} s after its last run (it left a handle open)` : ''}\n`);
    for (const c of r.crashes) {
      failed = true;
      process.stdout.write(`  reproducer ${c}\n  bytes ${readFileSync(c).toString('hex')}\n`);
    }
    if (!r.ok) failed = true;
  }
  if (!failed) rmSync(work, { recursive: true, force: true });
  else process.stdout.write(`fuzz: findings kept in ${work}\n`);
  process.exitCode = failed ? 1 : 0;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await main();

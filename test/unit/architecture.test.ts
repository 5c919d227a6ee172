/**
 * The house (STYLE.md): src/wire ← src/dataplane ← src/ports ← src/control ← src/cli, and beside the
 * CLI src/cni (the CNI plugin), which may use only the CLI's API client and the API's types; nothing
 * imports src/cni. Arrows point
 * one way and no file reaches itself through its imports. The import graph is madge's, read from
 * the sources with the project's tsconfig (so `./x.js` specifiers resolve to `./x.ts`), type-only
 * imports included: a type import is an arrow too.
 */
import { readdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import madge from 'madge';
import { beforeAll, describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

interface Arrow {
  layer: string;
  /** the only folders the layer may import from */
  only?: string[];
  /** folders the layer must not import from */
  never?: string[];
}

const ARROWS: Arrow[] = [
  { layer: 'src/wire', only: ['src/wire'] },
  { layer: 'src/dataplane', only: ['src/wire', 'src/dataplane'] },
  { layer: 'src/ports', never: ['src/control', 'src/cli', 'src/cni'] },
  { layer: 'src/control', never: ['src/cli', 'src/cni'] },
  { layer: 'src/cli', never: ['src/cni'] },
  { layer: 'src/cni', only: ['src/cni', 'src/cli/api-client.ts', 'src/control/api-types.ts'] },
];

/** A file in the folder, or the file itself when `dir` names a file. */
const inFolder = (file: string, dir: string): boolean => file === dir || file.startsWith(`${dir}/`);

function ruleOf(a: Arrow): string {
  return a.only !== undefined ? `${a.layer} imports only ${a.only.join(' and ')}` : `${a.layer} imports nothing of ${a.never!.join(' or ')}`;
}

/** The imports that break the arrow, as "from → to". */
function violations(graph: Record<string, string[]>, a: Arrow): string[] {
  const out: string[] = [];
  for (const [from, tos] of Object.entries(graph)) {
    if (!inFolder(from, a.layer)) continue;
    for (const to of tos) {
      const allowed = a.only !== undefined ? a.only.some((d) => inFolder(to, d)) : !a.never!.some((d) => inFolder(to, d));
      if (!allowed) out.push(`${from} → ${to}`);
    }
  }
  return out.sort();
}

function sourceFiles(dir: string): string[] {
  return readdirSync(join(ROOT, dir), { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile() && e.name.endsWith('.ts'))
    .map((e) => relative(ROOT, join(e.parentPath, e.name)))
    .sort();
}

let graph: Record<string, string[]>;
let skipped: string[];
let cycles: string[][];

beforeAll(async () => {
  const res = await madge(join(ROOT, 'src'), {
    baseDir: ROOT,
    fileExtensions: ['ts'],
    tsConfig: join(ROOT, 'tsconfig.json'),
    detectiveOptions: { ts: { skipTypeImports: false } },
  });
  graph = res.obj();
  skipped = res.warnings().skipped;
  cycles = res.circular();
}, 120_000);

describe('the import graph', () => {
  it('has every source file, and every import resolved to one', () => {
    expect(Object.keys(graph).sort()).toEqual(sourceFiles('src'));
    expect(skipped, 'imports madge could not resolve: their arrows would go unchecked').toEqual([]);
    // a `.js` specifier (TypeScript ESM) resolved to its `.ts` file
    expect(graph['src/dataplane/nat44.ts']).toContain('src/wire/ipv4.ts');
    // a type-only import (`import type { ClusterEvent, ... } from './cluster-store.js'`) is an edge
    expect(graph['src/control/cluster/etcd-watch.ts']).toContain('src/control/cluster/cluster-store.ts');
    // the CNI plugin reaches the daemon through the CLI's client
    expect(graph['src/cni/cni-plugin.ts']).toContain('src/cli/api-client.ts');
  });
});

describe('the house', () => {
  it('has no import cycles', () => {
    const shown = cycles.map((c) => [...c, c[0]].join(' → '));
    expect(shown, 'import cycles (each listed back to where it starts)').toEqual([]);
  });

  for (const a of ARROWS) {
    it(ruleOf(a), () => {
      expect(violations(graph, a), ruleOf(a)).toEqual([]);
    });
  }
});

// The pipeline fuzz target's seed corpus (test/fuzz/corpus/pipeline: real captures and the unit
// tests' literal frames) through the fuzz harness: every invariant holds for every seed, and the
// seeds are delivered — a pipeline that dropped everything would keep the invariants but not this.
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { runPipeline } from '../../fuzz/pipeline-harness.js';

const DIR = fileURLToPath(new URL('../../fuzz/corpus/pipeline/', import.meta.url));

describe('the pipeline seed corpus', () => {
  it('keeps every invariant of the fuzz harness, and most seed frames are sent on', () => {
    let frames = 0;
    let delivered = 0;
    const seeds = readdirSync(DIR);
    expect(seeds.length).toBeGreaterThan(100);
    for (const f of seeds) {
      for (const o of runPipeline(readFileSync(DIR + f))) {
        frames++;
        if (Object.keys(o.sent).length > 0) delivered++;
      }
    }
    // real traffic: most of it is forwarded or answered (177 of the 222 frames today)
    expect(delivered / frames).toBeGreaterThan(0.7);
  });
});

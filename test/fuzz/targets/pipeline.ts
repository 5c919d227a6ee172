// Fuzz target: frames into any port of a gateway like the daemon's (see pipeline-harness.ts).
import { fuzzPipeline } from '../pipeline-harness.js';

export function fuzz(data: Buffer): void {
  fuzzPipeline(data);
}

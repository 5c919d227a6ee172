// Fuzz target: frames into any port of a gateway like the daemon's (see pipeline-harness.ts).
import { runPipeline } from '../pipeline-harness.js';

export function fuzz(data: Buffer): void {
  runPipeline(data);
}

// The PCP/NAT-PMP mappings on disk (stateDir/pcp.json), so they and the epoch survive a daemon
// restart; replaced atomically like the network state. A file that does not parse is set aside
// (its mappings are lost, the epoch restarts) rather than stopping the daemon.

import { readFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { writeFileAtomic } from '../state-store.js';
import type { MappingStateFile, SavedMappings } from './mapping-manager.js';

export const PCP_STATE_FILE = 'pcp.json';

const u32 = z.number().int().min(0).max(0xffffffff);
const port = z.number().int().min(0).max(65535);

const savedSchema = z.object({
  version: z.literal(1),
  epochStart: z.number(),
  mappings: z.array(
    z.object({
      source: z.enum(['pcp', 'nat-pmp']),
      opcode: z.enum(['map', 'peer']),
      proto: z.union([z.literal(6), z.literal(17)]),
      internalIp: u32,
      internalPort: port,
      externalPort: port,
      nonce: z.string().regex(/^[0-9a-f]{24}$/).nullable(),
      remoteIp: u32,
      remotePort: port,
      clientPort: port,
      expiresAt: z.number(),
    }),
  ),
});

export class PcpStateFile implements MappingStateFile {
  readonly file: string;

  constructor(
    readonly dir: string,
    private readonly warn: (msg: string, err: Error) => void = () => undefined,
  ) {
    this.file = join(dir, PCP_STATE_FILE);
  }

  load(): SavedMappings | null {
    let text: string;
    try {
      text = readFileSync(this.file, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
      this.warn(`cannot read ${this.file}`, e as Error);
      return null;
    }
    try {
      return savedSchema.parse(JSON.parse(text)) as SavedMappings;
    } catch (e) {
      this.warn(`${this.file} is corrupt: set aside as ${this.file}.corrupt`, e as Error);
      try {
        renameSync(this.file, `${this.file}.corrupt`);
      } catch {
        // nothing more to do: the next save replaces it
      }
      return null;
    }
  }

  save(s: SavedMappings): void {
    writeFileAtomic(this.dir, this.file, JSON.stringify(s) + '\n');
  }
}

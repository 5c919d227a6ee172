// Networks and endpoints persisted as one JSON file, replaced atomically (write, fsync, rename,
// fsync the directory) so a crash leaves either the old state or the new one, never a mix.

import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import type { PortMapping } from './publish.js';

export interface EndpointRecord {
  id: string;
  name: string;
  netnsPath: string;
  netnsDev: number;
  netnsIno: number;
  ifName: string;
  /** the runtime's container id (CNI_CONTAINERID), when the connect named one */
  containerId?: string;
  mac: string;
  ip: string;
  aliases: string[];
  created: string;
  /** published ports (host port already chosen) */
  ports: PortMapping[];
}

export interface NetworkRecord {
  id: string;
  name: string;
  driver: string;
  subnet: string;
  gateway: string;
  ipRange?: string;
  internal: boolean;
  mtu: number;
  gatewayMac: string;
  created: string;
  isDefault: boolean;
  endpoints: EndpointRecord[];
  /** overlay networks: the VXLAN network identifier */
  vni?: number;
}

export interface PersistedState {
  version: 1;
  networks: NetworkRecord[];
}

const endpointSchema = z.object({
  id: z.string(),
  name: z.string(),
  netnsPath: z.string(),
  netnsDev: z.number(),
  netnsIno: z.number(),
  ifName: z.string(),
  containerId: z.string().optional(),
  mac: z.string(),
  ip: z.string(),
  aliases: z.array(z.string()),
  created: z.string(),
  ports: z
    .array(
      z.object({
        proto: z.enum(['tcp', 'udp']),
        hostIp: z.string(),
        hostPort: z.number().int().min(1).max(65535),
        containerPort: z.number().int().min(1).max(65535),
      }),
    )
    .default([]),
});

const networkSchema = z.object({
  id: z.string(),
  name: z.string(),
  driver: z.string(),
  subnet: z.string(),
  gateway: z.string(),
  ipRange: z.string().optional(),
  internal: z.boolean(),
  mtu: z.number(),
  gatewayMac: z.string(),
  created: z.string(),
  isDefault: z.boolean(),
  endpoints: z.array(endpointSchema),
  vni: z.number().int().min(1).max(0xffffff).optional(),
});

const stateSchema = z.object({
  version: z.literal(1),
  networks: z.array(networkSchema),
});

export const STATE_FILE = 'state.json';

/**
 * Replaces `file` (in `dir`, created with mode 0700 if needed) with `data`: written to a temporary
 * file, fsynced, renamed over it, the directory fsynced, so a crash leaves the old or the new one.
 */
export function writeFileAtomic(dir: string, file: string, data: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const tmp = `${file}.tmp-${process.pid}`;
  const fd = openSync(tmp, 'w', 0o600);
  try {
    writeFileSync(fd, data); // loops until every byte is written
    fsyncSync(fd);
  } catch (e) {
    closeSync(fd);
    try {
      unlinkSync(tmp);
    } catch {
      // already gone
    }
    throw e;
  }
  closeSync(fd);
  renameSync(tmp, file);
  // the rename is durable only once the directory entry is
  const dirFd = openSync(dir, 'r');
  try {
    fsyncSync(dirFd);
  } finally {
    closeSync(dirFd);
  }
}

export class StateStore {
  readonly file: string;

  constructor(readonly dir: string) {
    this.file = join(dir, STATE_FILE);
  }

  /** The saved state, or null when nothing was saved yet. A corrupt file throws, naming it. */
  load(): PersistedState | null {
    let text: string;
    try {
      text = readFileSync(this.file, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw new Error(`cannot read state file ${this.file}: ${(e as Error).message}`);
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (e) {
      throw new Error(`state file ${this.file} is corrupt: ${(e as Error).message}`);
    }
    const r = stateSchema.safeParse(json);
    if (!r.success) {
      const issue = r.error.issues[0]!;
      const path = issue.path.map(String).join('.');
      throw new Error(`state file ${this.file} is corrupt: ${path === '' ? '' : `${path}: `}${issue.message}`);
    }
    return r.data as PersistedState;
  }

  /** Replaces the saved state atomically; creates the directory (mode 0700) if needed. */
  save(state: PersistedState): void {
    writeFileAtomic(this.dir, this.file, JSON.stringify(state, null, 2) + '\n');
  }
}

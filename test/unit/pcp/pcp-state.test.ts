import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { SavedMappings } from '../../../src/control/pcp/mapping-manager.js';
import { PcpStateFile } from '../../../src/control/pcp/pcp-state.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
function dir(): string {
  const d = mkdtempSync(join(tmpdir(), 'pcp-state-'));
  dirs.push(d);
  return d;
}

const SAVED: SavedMappings = {
  version: 1,
  epochStart: 1_700_000_000_000,
  mappings: [{ source: 'pcp', opcode: 'map', proto: 6, internalIp: 0xac110002, internalPort: 4000, externalPort: 4000, nonce: 'ab'.repeat(12), remoteIp: 0, remotePort: 0, clientPort: 40000, expiresAt: 1_700_000_060_000 }],
};

describe('PcpStateFile', () => {
  it('saves and loads the mappings and the epoch, no temporary file left', () => {
    const d = dir();
    const f = new PcpStateFile(join(d, 'state'));
    expect(f.load()).toBeNull();
    f.save(SAVED);
    expect(f.load()).toEqual(SAVED);
    expect(readFileSync(join(d, 'state', 'pcp.json'), 'utf8')).toBe(`${JSON.stringify(SAVED)}\n`);
    expect(existsSync(join(d, 'state', `pcp.json.tmp-${process.pid}`))).toBe(false);
  });

  it('sets a corrupt file aside and says so, rather than stop the daemon', () => {
    const d = dir();
    const warnings: string[] = [];
    const f = new PcpStateFile(d, (msg) => warnings.push(msg));
    writeFileSync(join(d, 'pcp.json'), '{"version":1,"epochStart":0,"mappings":[{"proto":99}]}');
    expect(f.load()).toBeNull();
    expect(warnings).toEqual([`${join(d, 'pcp.json')} is corrupt: set aside as ${join(d, 'pcp.json')}.corrupt`]);
    expect(existsSync(join(d, 'pcp.json.corrupt'))).toBe(true);
    expect(existsSync(join(d, 'pcp.json'))).toBe(false);
  });
});

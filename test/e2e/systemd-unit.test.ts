// config/pontoon.service: systemd-analyze verify accepts it (it needs no running systemd, but the
// ExecStart binary must exist: the test verifies a copy whose installed `pontoon` is replaced by the
// CLI of this build, the rest of the command line unchanged), and that command line is one the CLI
// takes.

import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, expect } from 'vitest';
import { cleanupAll, cliPath, makeTempDir, packageRoot, run } from './harness.js';
import { compiled, needs, tools } from './requirements.js';

const UNIT = join(packageRoot(), 'config', 'pontoon.service');
const INSTALLED = '/usr/local/bin/pontoon';

/** The unit's directives as [key, value] pairs, in order, comments and sections left out. */
function directives(text: string): [string, string][] {
  return text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#') && !l.startsWith('['))
    .map((l) => {
      const i = l.indexOf('=');
      return [l.slice(0, i), l.slice(i + 1)] as [string, string];
    });
}

/** A copy of the unit in a temp dir with `edit` applied; its path. */
function unitCopy(edit: (text: string) => string): string {
  const dir = makeTempDir('pt-unit-');
  const path = join(dir, 'pontoon.service');
  writeFileSync(path, edit(readFileSync(UNIT, 'utf8')));
  return path;
}

const withBuiltCli = (text: string): string => text.replace(`ExecStart=${INSTALLED} `, `ExecStart=${process.execPath} ${cliPath()} `);

needs(tools('systemd-analyze'), compiled(join(packageRoot(), 'dist', 'src', 'cli', 'main.js'))).describe('config/pontoon.service', () => {
  afterAll(async () => {
    await cleanupAll();
  });

  const get = (key: string): string[] =>
    directives(readFileSync(UNIT, 'utf8'))
      .filter(([k]) => k === key)
      .map(([, v]) => v);

  needs().it('passes systemd-analyze verify', async () => {
    const r = await run(['systemd-analyze', 'verify', unitCopy(withBuiltCli)]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
  });

  needs().it('fails verify for a missing binary and an unknown directive (the check is real)', async () => {
    const missing = await run(['systemd-analyze', 'verify', unitCopy((t) => t)]);
    expect(missing.code).not.toBe(0);
    expect(missing.stderr).toContain(`Command ${INSTALLED} is not executable`);
    const typo = await run(['systemd-analyze', 'verify', unitCopy((t) => withBuiltCli(t).replace('Restart=on-failure', 'Restrat=on-failure'))]);
    // only a warning (exit 0): why the verify test above insists on an empty stderr
    expect(typo.stderr).toMatch(/Unknown key 'Restrat' in section \[Service\]/);
  });

  needs().it('starts the installed CLI as `pontoon daemon --config /etc/pontoon/pontoon.yaml`, a command line the CLI takes', async () => {
    expect(get('ExecStart')).toEqual([`${INSTALLED} daemon --config /etc/pontoon/pontoon.yaml`]);
    const args = get('ExecStart')[0]!.split(' ').slice(1);
    const r = await run([process.execPath, cliPath(), ...args, '--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('Usage: pontoon daemon [options]');
    expect(r.stdout).toContain('-c, --config <file>');
  });

  needs().it('keeps the directories the default config uses, the runtime one across restarts', () => {
    expect(get('StateDirectory')).toEqual(['pontoon']); // stateDir /var/lib/pontoon
    expect(get('RuntimeDirectory')).toEqual(['pontoon']); // api.socket and liveState.path in /run/pontoon
    expect(get('RuntimeDirectoryPreserve')).toEqual(['yes']);
    expect(get('ConfigurationDirectory')).toEqual(['pontoon']);
    const defaults = readFileSync(join(packageRoot(), 'config', 'pontoon.yaml'), 'utf8');
    expect(defaults).toContain('stateDir: /var/lib/pontoon');
    expect(defaults).toContain('path: /run/pontoon/live-state');
    expect(defaults).toContain('socket: /run/pontoon/pontoon.sock');
  });

  needs().it('starts after the network is online and restarts on failure with exactly the capabilities it needs', () => {
    expect(get('After')).toEqual(['network-online.target']);
    expect(get('Wants')).toEqual(['network-online.target']);
    expect(get('Restart')).toEqual(['on-failure']);
    expect(get('Type')).toEqual(['exec']);
    const caps = ['CAP_NET_ADMIN', 'CAP_NET_RAW', 'CAP_SYS_ADMIN', 'CAP_NET_BIND_SERVICE', 'CAP_SYS_PTRACE'];
    expect(get('CapabilityBoundingSet')[0]!.split(' ').sort()).toEqual([...caps].sort());
    expect(get('AmbientCapabilities')[0]!.split(' ').sort()).toEqual([...caps].sort());
    expect(Number(get('LimitNOFILE')[0])).toBeGreaterThanOrEqual(65536);
  });
});

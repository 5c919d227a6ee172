/**
 * What a suite needs from the machine (root, tools, etcd, a build, a kernel capability), checked
 * when its file is collected. A suite that cannot run says so in one line naming everything that is
 * missing, and is skipped; with CI set (.ci/run exports CI=1) it fails instead, so a green CI run
 * means every suite ran. The exception is a kernel capability (io_uring refused): the machine, not
 * the setup, decides it, and another test covers the fallback. It is skipped in CI too, just as
 * loudly.
 *
 *   needs(root, tools('ip', 'ping', 'tshark')).describe('bridge networking', () => { ... });
 *   needs(kernelCapability(uring.ok ? null : `io_uring refused (${uring.reason})`)).it('uses io_uring', async () => { ... });
 */
import { spawnSync } from 'node:child_process';
import { accessSync, constants, existsSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { packageRoot } from './harness.js';

export interface Requirement {
  /** what is missing ("not root", "tshark missing (apt-get install tshark)"), or null when it is there */
  missing(): string | null;
  /** false for a kernel capability: skipped in CI too, not failed */
  failsInCi: boolean;
}

/** Whether CI is set: any value but empty, "0" or "false". */
const inCi = (): boolean => !['', '0', 'false'].includes((process.env.CI ?? '').trim().toLowerCase());

/** A requirement checked once, the first time a gate asks; missing on CI is a failure. */
function once(check: () => string | null): Requirement {
  let result: string | null | undefined;
  return {
    missing: () => (result === undefined ? (result = check()) : result),
    failsInCi: true,
  };
}

export const root: Requirement = once(() => {
  const uid = process.getuid?.();
  return uid === 0 ? null : `not root (uid ${uid ?? 'unknown'})`;
});

/** The tools the suites run, each with the Debian package that has it (all installed by .ci/run). */
const PACKAGE_OF = {
  busybox: 'busybox-static',
  curl: 'curl',
  dig: 'dnsutils',
  dockerd: 'docker.io',
  ethtool: 'ethtool',
  getent: 'libc-bin',
  hping3: 'hping3',
  ip: 'iproute2',
  iperf3: 'iperf3',
  natpmpc: 'natpmpc',
  nmap: 'nmap',
  nsenter: 'util-linux',
  nstat: 'iproute2',
  ping: 'iputils-ping',
  podman: 'podman',
  promtool: 'prometheus',
  bridge: 'iproute2',
  python3: 'python3',
  setpriv: 'util-linux',
  ss: 'iproute2',
  stun: 'stun-client',
  stund: 'stun-server',
  sysctl: 'procps',
  'systemd-analyze': 'systemd',
  tcpdump: 'tcpdump',
  timeout: 'coreutils',
  traceroute: 'traceroute',
  tshark: 'tshark',
} as const;

export type Tool = keyof typeof PACKAGE_OF;

/** Where a tool is looked for: $PATH, then the sbin directories a non-login root shell may lack. */
function onPath(name: string): boolean {
  const dirs = [...(process.env.PATH ?? '').split(delimiter), '/usr/local/sbin', '/usr/sbin', '/sbin', '/usr/bin', '/bin'];
  return dirs.some((d) => {
    if (d === '') return false;
    try {
      accessSync(join(d, name), constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

const toolRequirements = new Map<Tool, Requirement>();

export function tools(...names: Tool[]): Requirement[] {
  return names.map((name) => {
    let r = toolRequirements.get(name);
    if (r === undefined) {
      r = once(() => (onPath(name) ? null : `${name} missing (apt-get install ${PACKAGE_OF[name]})`));
      toolRequirements.set(name, r);
    }
    return r;
  });
}

/** scapy for the system python the harness runs it with (harness.SCAPY_PYTHON). */
export const scapy: Requirement = once(() => {
  const python = existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';
  // what scapyInNetns imports (a bare `import scapy` also succeeds on an empty directory)
  const r = spawnSync(python, ['-c', 'from scapy.all import Ether'], { stdio: 'ignore', timeout: 20_000 });
  return r.status === 0 ? null : `scapy missing for ${python} (apt-get install python3-scapy)`;
});

export function etcdServer(bin: string): Requirement {
  return once(() => (existsSync(bin) ? null : `etcd missing: no ${bin} (apt-get install etcd-server, or set ETCD_BIN)`));
}

/** A file of the compiled tree a test runs as a child process (npm test builds it first). */
export function compiled(file: string): Requirement {
  return once(() => (existsSync(file) ? null : `not built: no ${file.replace(`${packageRoot()}/`, '')} (npm run build)`));
}

/** A compiled file run as an executable (a plugin a runtime execs): `npm run build` makes it executable. */
export function compiledExecutable(file: string): Requirement {
  return once(() => {
    const shown = file.replace(`${packageRoot()}/`, '');
    if (!existsSync(file)) return `not built: no ${shown} (npm run build)`;
    try {
      accessSync(file, constants.X_OK);
      return null;
    } catch {
      return `${shown} is not executable (npm run build makes it so)`;
    }
  });
}

/** Something this kernel may refuse (io_uring): a skip everywhere, CI included; `refusal` null when it is there. */
export function kernelCapability(refusal: string | null): Requirement {
  return { missing: () => refusal, failsInCi: false };
}

type Body = () => void | Promise<void>;

export interface Gate {
  describe(name: string, fn: () => void): void;
  it(name: string, fn: Body, timeout?: number): void;
}

/** A describe / it that runs when every requirement is met, and otherwise says why it does not. */
export function needs(...reqs: (Requirement | Requirement[])[]): Gate {
  const all = reqs.flat();
  // decided when the gate is used (at collection), so a requirement nobody gates on costs nothing
  const decide = (kind: 'suite' | 'test', name: string): { run: true } | { run: false; fail: boolean; line: string } => {
    const unmet = all.filter((r) => r.missing() !== null);
    if (unmet.length === 0) return { run: true };
    const what = unmet.map((r) => r.missing()!).join('; ');
    const fail = inCi() && unmet.some((r) => r.failsInCi);
    const file = expect.getState().testPath;
    const where = file !== undefined ? ` (${file.replace(`${packageRoot()}/`, '')})` : '';
    const verdict = fail ? 'FAILS (CI is set: what cannot run fails)' : inCi() ? 'SKIPPED (a kernel capability: not a CI failure)' : 'SKIPPED';
    return { run: false, fail, line: `[requirements] ${kind} "${name}"${where} ${verdict}: ${what}` };
  };
  return {
    describe(name, fn) {
      const d = decide('suite', name);
      if (d.run) return describe(name, fn);
      console.warn(d.line);
      if (d.fail) {
        describe(name, () => {
          it('has what it needs', () => {
            throw new Error(d.line);
          });
        });
      } else {
        describe.skip(name, fn);
      }
    },
    it(name, fn, timeout) {
      const d = decide('test', name);
      if (d.run) return it(name, fn, timeout);
      console.warn(d.line);
      if (d.fail) {
        it(name, () => {
          throw new Error(d.line);
        });
      } else {
        it.skip(name, fn, timeout);
      }
    },
  };
}

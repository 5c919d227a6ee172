// CHECK's look inside the container's namespace: `ip -j addr show dev IF` through nsenter. The
// plugin looks itself rather than asking the daemon: the daemon knows what it set up, only the
// namespace shows what is still there.

import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import type { SandboxInterface, SandboxProbe } from './cni-plugin.js';

const TIMEOUT_MS = 10_000;

interface IpAddrJson {
  address?: string;
  addr_info?: { family?: string; local?: string; prefixlen?: number }[];
}

export const nsenterProbe: SandboxProbe = {
  exists: (netns) => netns !== '' && existsSync(netns),
  inspect: (netns, ifName) =>
    new Promise((resolve, reject) => {
      const argv = [`--net=${netns}`, '--', 'ip', '-j', 'addr', 'show', 'dev', ifName];
      execFile('nsenter', argv, { timeout: TIMEOUT_MS, encoding: 'utf8' }, (err, stdout, stderr) => {
        if (err !== null) {
          if (/does not exist|Cannot find device/.test(stderr)) resolve(null);
          else reject(new Error(`nsenter ${argv.join(' ')} failed: ${stderr.trim() || err.message}`));
          return;
        }
        const link = (JSON.parse(stdout) as IpAddrJson[])[0];
        if (link === undefined) {
          resolve(null);
          return;
        }
        const addresses = (link.addr_info ?? []).filter((a) => a.family === 'inet' || a.family === 'inet6').map((a) => `${a.local}/${a.prefixlen}`);
        const found: SandboxInterface = { mac: link.address ?? '', addresses };
        resolve(found);
      });
    }),
};

/**
 * Podman 4.3 on its CNI backend, configured by the test alone: CONTAINERS_CONF (network_backend
 * "cni", a network_config_dir holding the conflists `pontoon cni conflist` printed, a
 * cni_plugin_dirs holding a link to the built pontoon-cni, ulimits this VM allows) and
 * CONTAINERS_STORAGE_CONF (vfs storage in the temp dir). `destroy()` removes its containers and
 * storage, and the places Podman makes by itself on first use when the test made them.
 */
import { existsSync, mkdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pluginPath } from './cni-call.js';
import { type Daemon, type RunResult, makeTempDir, run } from './harness.js';

/** Places Podman itself creates on first use (image blob cache, libcni's result cache, runc's state). */
export const PODMAN_SIDE_PATHS = ['/var/lib/containers', '/var/lib/cni', '/run/runc', '/run/containers', '/run/libpod'];

export class PodmanEngine {
  readonly env: NodeJS.ProcessEnv;
  private readonly netd: string;
  private readonly sideBefore = PODMAN_SIDE_PATHS.filter((p) => existsSync(p));

  constructor(readonly dir = makeTempDir('pte-podman-')) {
    this.netd = join(dir, 'net.d');
    const bin = join(dir, 'cni-bin');
    mkdirSync(this.netd);
    mkdirSync(bin);
    symlinkSync(pluginPath(), join(bin, 'pontoon-cni'));
    for (const d of ['graph', 'run', 'tmp']) mkdirSync(join(dir, d));
    writeFileSync(
      join(dir, 'containers.conf'),
      [
        '[network]',
        'network_backend = "cni"',
        `network_config_dir = "${this.netd}"`,
        `cni_plugin_dirs = ["${bin}"]`,
        '[containers]',
        // this VM lacks CAP_SYS_RESOURCE: Podman's default ulimits cannot be set
        'default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]',
        '[engine]',
        `tmp_dir = "${join(dir, 'tmp')}"`,
        'events_logger = "file"',
        `events_logfile_path = "${join(dir, 'events.log')}"`,
        '',
      ].join('\n'),
    );
    writeFileSync(join(dir, 'storage.conf'), ['[storage]', 'driver = "vfs"', `graphroot = "${join(dir, 'graph')}"`, `runroot = "${join(dir, 'run')}"`, ''].join('\n'));
    this.env = { ...process.env, CONTAINERS_CONF: join(dir, 'containers.conf'), CONTAINERS_STORAGE_CONF: join(dir, 'storage.conf') };
  }

  /** The pontoon network `net` as a Podman network: the conflist `pontoon cni conflist` prints. */
  async addNetwork(daemon: Daemon, net: string): Promise<void> {
    const r = await daemon.cliOk(['cni', 'conflist', net]);
    writeFileSync(join(this.netd, `${net}.conflist`), r.stdout);
  }

  podman(args: string[], timeoutMs = 60_000): Promise<RunResult> {
    return run(['podman', ...args], { env: this.env, timeoutMs });
  }

  async podmanOk(args: string[], timeoutMs = 60_000, context = ''): Promise<RunResult> {
    const r = await this.podman(args, timeoutMs);
    if (r.code !== 0) throw new Error(`podman ${args.join(' ')} failed (exit ${r.code}):\n${r.stderr}\n${r.stdout}\n${context}`);
    return r;
  }

  /** The container's IPv4 address with its prefix on `ifName`, from `ip -o -4 addr` inside it. */
  async address(name: string, ifName = 'eth0'): Promise<string> {
    const r = await this.podmanOk(['exec', name, 'ip', '-o', '-4', 'addr', 'show', 'dev', ifName]);
    const m = /inet ([0-9.]+\/[0-9]+)/.exec(r.stdout);
    if (m === null) throw new Error(`${name} has no IPv4 address on ${ifName}: ${r.stdout}`);
    return m[1]!;
  }

  /** Containers, images and storage gone; the side places removed when this test made them. */
  async destroy(): Promise<void> {
    await this.podman(['rm', '-a', '-f', '-t', '0'], 120_000);
    await this.podman(['system', 'reset', '-f'], 120_000);
    for (const p of PODMAN_SIDE_PATHS) if (!this.sideBefore.includes(p)) rmSync(p, { recursive: true, force: true });
  }
}

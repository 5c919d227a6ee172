/**
 * A dockerd of the test's own: its data root, exec root, API socket, config file and trust key in a
 * temporary directory, no bridge, no iptables (so no docker0 and no firewall rules appear), called
 * with /usr/bin/docker (a newer client may sit earlier in PATH). `destroy()` removes its
 * containers, networks, mounts and directories, and the directories under /run it made.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdirSync, openSync, readdirSync, readFileSync, rmdirSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { makeTempDir, run, type RunResult, sleep, waitFor } from './harness.js';

export const DOCKER_CLIENT = '/usr/bin/docker';
export const DOCKERD = '/usr/sbin/dockerd';

/** Directories outside the temp dir that dockerd and its containerd make when they are missing. */
const SHARED_DIRS = ['/run/containerd', '/run/docker'];

/** True when the process is gone or a zombie (state Z in /proc/PID/stat). */
function deadOrZombie(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) === 'Z';
  } catch {
    return true;
  }
}

export class DockerEngine {
  private child: ChildProcess | null = null;
  private exited: Promise<void> | null = null;
  private readonly createdShared: string[];

  readonly cgroupParent: string;

  private constructor(
    readonly dir: string,
    readonly socket: string,
  ) {
    this.createdShared = SHARED_DIRS.filter((d) => !existsSync(d));
    this.cgroupParent = `/${basename(dir)}`;
  }

  /** Starts a dockerd and resolves once its API answers. */
  static async start(): Promise<DockerEngine> {
    const e = DockerEngine.prepare();
    await e.launch();
    return e;
  }

  /** A dockerd's directories and config, not started yet: its API socket's path is known already. */
  static prepare(): DockerEngine {
    const dir = makeTempDir('pte-dk-');
    const e = new DockerEngine(dir, join(dir, 'exec', 'docker.sock'));
    mkdirSync(join(dir, 'data'), { recursive: true });
    mkdirSync(join(dir, 'exec'), { recursive: true });
    // the trust key would go to /etc/docker/key.json; the containers' cgroups under a parent of the test's own
    writeFileSync(join(dir, 'daemon.json'), JSON.stringify({ 'deprecated-key-path': join(dir, 'key.json'), 'cgroup-parent': e.cgroupParent }));
    return e;
  }

  /** Starts the prepared dockerd, inside network namespace `netns` when given (where its pontoon runs). */
  async launch(netns?: string): Promise<void> {
    this.netns = netns ?? null;
    await this.startDaemon();
  }

  private netns: string | null = null;

  get env(): NodeJS.ProcessEnv {
    return { ...process.env, DOCKER_HOST: `unix://${this.socket}` };
  }

  private async startDaemon(): Promise<void> {
    const log = openSync(join(this.dir, 'dockerd.log'), 'a');
    const argv = [
      DOCKERD,
        '--config-file', join(this.dir, 'daemon.json'),
        '--iptables=false', '--ip6tables=false', '--bridge=none', '--ip-masq=false',
        '--data-root', join(this.dir, 'data'),
        '--exec-root', join(this.dir, 'exec'),
        '--pidfile', join(this.dir, 'exec', 'docker.pid'),
        '-H', `unix://${this.socket}`,
    ];
    // in a namespace: the TAPs pontoon makes there are the ones dockerd moves into its containers
    // (nsenter, not `ip netns exec`: that mounts a fresh /sys, without the cgroups containerd needs)
    const full = this.netns === null ? argv : ['nsenter', `--net=/run/netns/${this.netns}`, '--', ...argv];
    const child = spawn(full[0]!, full.slice(1), { stdio: ['ignore', log, log], detached: true });
    this.child = child;
    this.exited = new Promise((resolve) => child.once('exit', () => resolve()));
    const up = await waitFor(async () => {
      if (child.exitCode !== null) return true;
      return (await this.docker(['version', '--format', '{{.Server.Version}}'], 5000)).code === 0;
    }, 60_000, 250);
    if (!up || child.exitCode !== null) throw new Error(`dockerd did not start:\n${this.logTail()}`);
  }

  logTail(n = 30): string {
    try {
      return readFileSync(join(this.dir, 'dockerd.log'), 'utf8').split('\n').slice(-n).join('\n');
    } catch {
      return '(no log)';
    }
  }

  docker(args: string[], timeoutMs = 60_000): Promise<RunResult> {
    return run([DOCKER_CLIENT, ...args], { env: this.env, timeoutMs });
  }

  async dockerOk(args: string[], timeoutMs = 60_000): Promise<string> {
    const r = await this.docker(args, timeoutMs);
    if (r.code !== 0) throw new Error(`docker ${args.join(' ')} exited ${r.code}:\n${r.stderr}${r.stdout}`);
    return r.stdout;
  }

  /** Imports a root filesystem tarball as image `name`. */
  async importImage(tar: string, name: string): Promise<void> {
    await this.dockerOk(['import', tar, name]);
  }

  /** SIGTERM, and waits until dockerd and the containerd it started are gone (a new one needs the sockets free). */
  async stop(): Promise<void> {
    const child = this.child;
    if (child === null || child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const killer = setTimeout(() => {
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        // gone
      }
    }, 30_000);
    await this.exited;
    clearTimeout(killer);
    await waitFor(() => !existsSync(join(this.dir, 'exec', 'containerd', 'containerd.sock')), 15_000, 100);
    await sleep(200);
  }

  /**
   * SIGKILL to dockerd alone: its containers keep running; its containerd dies with it. PID 1 of
   * these VMs does not reap orphans, so that containerd stays a zombie whose pid file would make
   * the next dockerd wait for it: the file goes once the process is dead or a zombie.
   */
  async kill9(): Promise<void> {
    const child = this.child;
    if (child === null || child.exitCode !== null) return;
    child.kill('SIGKILL');
    await this.exited;
    const pidFile = join(this.dir, 'exec', 'containerd', 'containerd.pid');
    let pid = 0;
    try {
      pid = Number(readFileSync(pidFile, 'utf8').trim());
    } catch {
      return;
    }
    await waitFor(() => deadOrZombie(pid), 15_000, 100);
    try {
      unlinkSync(pidFile);
    } catch {
      // gone already
    }
  }

  async restart(): Promise<void> {
    await this.stop();
    await this.startDaemon();
  }

  /** Every container and network gone, dockerd stopped, its mounts and directories removed. */
  async destroy(): Promise<string[]> {
    const problems: string[] = [];
    if (this.child !== null && this.child.exitCode === null) {
      const ids = (await this.docker(['ps', '-aq'], 30_000)).stdout.split('\n').filter((s) => s !== '');
      if (ids.length > 0) await this.docker(['rm', '-f', ...ids], 60_000);
      const nets = (await this.docker(['network', 'ls', '-q', '--filter', 'type=custom'], 30_000)).stdout.split('\n').filter((s) => s !== '');
      for (const n of nets) await this.docker(['network', 'rm', n], 30_000);
      await this.stop();
    }
    // containers a killed dockerd left running, their shims, their cgroups
    const runcRoot = join(this.dir, 'exec', 'runtime-runc', 'moby');
    if (existsSync(runcRoot)) {
      for (const id of (await run(['runc', '--root', runcRoot, 'list', '-q'])).stdout.split('\n').filter((s) => s !== '')) {
        await run(['runc', '--root', runcRoot, 'kill', '-a', id, 'KILL']);
        await run(['runc', '--root', runcRoot, 'delete', '-f', id]);
      }
    }
    await run(['pkill', '-9', '-f', join(this.dir, 'exec', 'containerd')]);
    for (const controller of existsSync('/sys/fs/cgroup') ? readdirSync('/sys/fs/cgroup') : []) {
      const parent = join('/sys/fs/cgroup', controller, this.cgroupParent);
      if (!existsSync(parent)) continue;
      try {
        for (const c of readdirSync(parent, { withFileTypes: true })) if (c.isDirectory()) rmdirSync(join(parent, c.name));
        rmdirSync(parent);
      } catch (e) {
        problems.push(`${parent}: ${(e as Error).message}`);
      }
    }
    const left = (await run(['pgrep', '-a', '-f', this.dir])).stdout.trim();
    if (left !== '') problems.push(`processes left: ${left}`);
    // sandboxes' namespace files and overlay mounts a killed dockerd may leave
    const mounts = (await run(['findmnt', '-rn', '-o', 'TARGET'])).stdout.split('\n').filter((m) => m.startsWith(this.dir));
    for (const m of mounts.reverse()) {
      const r = await run(['umount', '-l', m]);
      if (r.code !== 0) problems.push(`umount ${m}: ${r.stderr.trim()}`);
    }
    try {
      rmSync(this.dir, { recursive: true, force: true });
    } catch (e) {
      problems.push(`${this.dir}: ${(e as Error).message}`);
    }
    for (const d of this.createdShared) {
      try {
        rmSync(d, { recursive: true, force: true });
      } catch (e) {
        problems.push(`${d}: ${(e as Error).message}`);
      }
    }
    return problems;
  }
}

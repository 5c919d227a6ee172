// Device queues that outlive the daemon. A TAP device whose last descriptor closes loses its
// carrier and the frames queued in it (drivers/net/tun.c), so while no daemon runs everything the
// containers and the uplink send is dropped. The holder is a small process of its own that keeps
// a duplicate of each device descriptor (taken from the daemon with pidfd_getfd): the queues stay
// attached, frames wait in them (up to the device's queue length), and the next daemon takes the
// descriptors back from the holder the same way and reads what waited. The holder leaves when no
// daemon has been connected to it for IDLE_MS.
//
// Protocol: one JSON object per line on a unix socket; every request gets one reply line.
//   {"op":"take","pid":P,"fd":F,"key":K}  the holder keeps a duplicate of P's descriptor F as K
//   {"op":"drop","key":K}                 closes it (a removed endpoint: its device may go)
//   {"op":"list"}                         {"pid":holder pid,"fds":{K: holder's descriptor}}

import { spawn } from 'node:child_process';
import { closeSync, existsSync, rmSync } from 'node:fs';
import { createConnection, createServer, type Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import { takeFd } from './sys/pidfd.js';

const IDLE_MS = 30_000;

interface Request {
  op: 'take' | 'drop' | 'list';
  pid?: number;
  fd?: number;
  key?: string;
}

/** The daemon's side: descriptors handed over by the previous daemon's holder, and the holder kept informed. */
export class DeviceHolder {
  /** descriptors of the previous daemon's devices, by key, taken back at connect (claim() hands each out once) */
  private readonly inherited = new Map<string, number>();
  private readonly replies: ((line: string) => void)[] = [];
  private buffered = '';

  /** the holder process (for the log, and for tests to end it) */
  holderPid = 0;

  private constructor(private readonly socket: Socket) {
    socket.setEncoding('utf8');
    socket.on('data', (s: string) => {
      this.buffered += s;
      let nl: number;
      while ((nl = this.buffered.indexOf('\n')) >= 0) {
        const line = this.buffered.slice(0, nl);
        this.buffered = this.buffered.slice(nl + 1);
        this.replies.shift()?.(line);
      }
    });
    socket.on('error', () => undefined); // a holder gone: the devices are then simply not held
    socket.unref();
  }

  /** Connects to the holder on `path` (starting one when none answers) and takes back the descriptors it holds. */
  static async connect(path: string): Promise<DeviceHolder> {
    let socket = await tryConnect(path);
    if (socket === null) {
      if (existsSync(path)) rmSync(path, { force: true });
      const child = spawn(process.execPath, [fileURLToPath(import.meta.url), path], { detached: true, stdio: 'ignore' });
      child.unref();
      for (let i = 0; i < 150 && socket === null; i++) {
        await new Promise((r) => setTimeout(r, 20));
        socket = await tryConnect(path);
      }
      if (socket === null) throw new Error(`the device holder did not start on ${path}`);
    }
    const holder = new DeviceHolder(socket);
    const list = JSON.parse(await holder.request({ op: 'list' })) as { pid: number; fds: Record<string, number> };
    holder.holderPid = list.pid;
    for (const [key, fd] of Object.entries(list.fds)) {
      try {
        holder.inherited.set(key, takeFd(list.pid, fd));
      } catch {
        // the holder closed it meanwhile: the device is opened afresh
      }
    }
    return holder;
  }

  /** How many descriptors were taken back from the holder. */
  get inheritedCount(): number {
    return this.inherited.size;
  }

  /** The previous daemon's descriptor of `key` (its queue still attached), or -1. */
  claim(key: string): number {
    const fd = this.inherited.get(key);
    if (fd === undefined) return -1;
    this.inherited.delete(key);
    return fd;
  }

  /** The holder keeps a duplicate of this process's descriptor `fd` as `key`. */
  take(key: string, fd: number): Promise<string> {
    return this.request({ op: 'take', pid: process.pid, fd, key });
  }

  /** The holder closes its duplicate of `key`. */
  drop(key: string): Promise<string> {
    return this.request({ op: 'drop', key });
  }

  /** Descriptors taken back that no device claimed (their endpoints are gone): closed, and dropped by the holder. */
  releaseUnclaimed(): void {
    for (const [key, fd] of this.inherited) {
      closeSync(fd);
      void this.drop(key);
    }
    this.inherited.clear();
  }

  private request(r: Request): Promise<string> {
    return new Promise((resolve) => {
      this.replies.push(resolve);
      this.socket.write(`${JSON.stringify(r)}\n`);
    });
  }
}

function tryConnect(path: string): Promise<Socket | null> {
  return new Promise((resolve) => {
    if (!existsSync(path)) {
      resolve(null);
      return;
    }
    const s = createConnection(path);
    s.once('connect', () => resolve(s));
    s.once('error', () => resolve(null));
  });
}

/** The holder process itself. */
function runHolder(path: string): void {
  const fds = new Map<string, number>();
  let clients = 0;
  let idle: NodeJS.Timeout | null = null;
  const arm = () => {
    if (idle !== null) clearTimeout(idle);
    idle = clients === 0 ? setTimeout(() => process.exit(0), IDLE_MS) : null;
  };
  const answer = (r: Request): object => {
    if (r.op === 'list') return { pid: process.pid, fds: Object.fromEntries(fds) };
    if (r.op === 'take' && r.key !== undefined && r.pid !== undefined && r.fd !== undefined) {
      const old = fds.get(r.key);
      if (old !== undefined) closeSync(old);
      fds.set(r.key, takeFd(r.pid, r.fd));
      return { ok: true };
    }
    if (r.op === 'drop' && r.key !== undefined) {
      const fd = fds.get(r.key);
      if (fd !== undefined) closeSync(fd);
      fds.delete(r.key);
      return { ok: true };
    }
    return { error: 'bad request' };
  };
  const server = createServer((c) => {
    clients++;
    arm();
    let buf = '';
    c.setEncoding('utf8');
    c.on('data', (s: string) => {
      buf += s;
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        let reply: object;
        try {
          reply = answer(JSON.parse(line) as Request);
        } catch (err) {
          reply = { error: (err as Error).message };
        }
        c.write(`${JSON.stringify(reply)}\n`);
      }
    });
    c.on('close', () => {
      clients--;
      arm();
    });
    c.on('error', () => undefined);
  });
  server.listen(path);
  arm();
}

if (process.argv[1] === fileURLToPath(import.meta.url)) runHolder(process.argv[2]!);

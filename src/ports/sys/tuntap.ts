/**
 * TUN/TAP devices through /dev/net/tun (see linux Documentation/networking/tuntap.rst).
 *
 * TUNSETIFF resolves/creates the interface in the network namespace of the
 * *calling thread* at the time of the ioctl; wrap `openTunTap` in
 * `withNetns(nsPath, ...)` to create or attach a device inside a container's
 * namespace. The returned fd keeps working after the thread leaves the netns.
 */
import {
  O_CLOEXEC,
  O_NONBLOCK,
  O_RDWR,
  Errno,
  SysError,
  close,
  describeErrno,
  errno,
  ioctlInt,
  ioctlPtr,
  open,
} from './libc.js';

// ioctl requests (_IOW('T', n, int) / _IOR('T', n, unsigned int), generic encoding)
export const TUNSETIFF = 0x400454ca;
export const TUNSETPERSIST = 0x400454cb;
export const TUNSETOFFLOAD = 0x400454d0;
export const TUNGETIFF = 0x800454d2;
export const TUNGETVNETHDRSZ = 0x800454d7;
export const TUNSETVNETHDRSZ = 0x400454d8;

// TUNSETIFF ifr_flags
export const IFF_TUN = 0x0001;
export const IFF_TAP = 0x0002;
export const IFF_MULTI_QUEUE = 0x0100;
export const IFF_PERSIST = 0x0800;
export const IFF_NO_PI = 0x1000;
export const IFF_VNET_HDR = 0x4000;
export const IFF_TUN_EXCL = 0x8000;

// TUNSETOFFLOAD flags
export const TUN_F_CSUM = 0x01;
export const TUN_F_TSO4 = 0x02;
export const TUN_F_TSO6 = 0x04;
export const TUN_F_TSO_ECN = 0x08;
export const TUN_F_UFO = 0x10;
export const TUN_F_USO4 = 0x20;
export const TUN_F_USO6 = 0x40;

export const IFNAMSIZ = 16;
/** sizeof(struct ifreq) on 64-bit Linux. */
export const IFREQ_SIZE = 40;
const IFR_FLAGS_OFFSET = 16;

export const TUN_DEVICE_PATH = '/dev/net/tun';

export interface TunTapOptions {
  mode: 'tap' | 'tun';
  /** Interface name (max 15 bytes). May contain a `%d` template (e.g. "tap%d"), or be '' to let the kernel choose. */
  name: string;
  /** Make the device outlive this fd (TUNSETPERSIST 1). */
  persist?: boolean;
  /** Frames are prefixed with a struct virtio_net_hdr (IFF_VNET_HDR), with checksum and TSO offloads on (TSO4 and TSO6). */
  vnetHdr?: boolean;
  /** How long a busy device is waited for (EBUSY), ms; default 500. */
  busyWaitMs?: number;
}

export interface TunTapHandle {
  fd: number;
  /** The name the kernel gave (resolves `%d` templates). */
  name: string;
}

function validateName(name: string): void {
  const len = Buffer.byteLength(name);
  if (len >= IFNAMSIZ) {
    throw new Error(`invalid interface name "${name}": longer than ${IFNAMSIZ - 1} bytes`);
  }
  if (/[\s/:\0]/.test(name) || name === '.' || name === '..') {
    throw new Error(`invalid interface name "${name}"`);
  }
}

function ifreqName(ifr: Buffer): string {
  const nul = ifr.indexOf(0);
  return ifr.toString('utf8', 0, nul < 0 || nul > IFNAMSIZ ? IFNAMSIZ : nul);
}

/**
 * Open (create, or attach to an existing persistent) TUN/TAP device.
 * The fd is O_RDWR | O_NONBLOCK | O_CLOEXEC; frames carry no packet-info header (IFF_NO_PI).
 * Throws an Error such as "cannot open TAP device eth0: Device or resource busy (EBUSY)";
 * the fd is closed on every failure path.
 */
const BUSY_WAIT_MS = 500;
const pause = new Int32Array(new SharedArrayBuffer(4));

export function openTunTap(opts: TunTapOptions): TunTapHandle {
  const kind = opts.mode === 'tap' ? 'TAP' : opts.mode === 'tun' ? 'TUN' : null;
  if (kind === null) throw new Error(`invalid TUN/TAP mode ${JSON.stringify(opts.mode)}`);
  validateName(opts.name);
  const what = `cannot open ${kind} device ${opts.name || '(auto)'}`;

  const fd = open(TUN_DEVICE_PATH, O_RDWR | O_NONBLOCK | O_CLOEXEC, 0);
  if (fd < 0) {
    const e = errno();
    throw new SysError(`${what}: open ${TUN_DEVICE_PATH}`, e);
  }
  try {
    const ifr = Buffer.alloc(IFREQ_SIZE);
    ifr.write(opts.name, 0, IFNAMSIZ - 1, 'utf8');
    let flags = (opts.mode === 'tap' ? IFF_TAP : IFF_TUN) | IFF_NO_PI;
    if (opts.vnetHdr) flags |= IFF_VNET_HDR;
    ifr.writeUInt16LE(flags, IFR_FLAGS_OFFSET);

    // EBUSY may be a predecessor that was just killed: its io_uring keeps the device until the
    // kernel's deferred teardown of the ring (milliseconds) has run. Wait a little before failing.
    const deadline = Date.now() + (opts.busyWaitMs ?? BUSY_WAIT_MS);
    let r = ioctlPtr(fd, TUNSETIFF, ifr);
    while (r < 0 && errno() === Errno.EBUSY && Date.now() < deadline) {
      Atomics.wait(pause, 0, 0, 10);
      r = ioctlPtr(fd, TUNSETIFF, ifr);
    }
    if (r < 0) {
      const e = errno();
      let hint = '';
      if (e === Errno.EINVAL) {
        hint = `an interface with this name may exist and not be a single-queue ${kind} device`;
      } else if (e === Errno.EBUSY) {
        hint = 'another process holds the device open';
      } else if (e === Errno.EPERM) {
        hint = 'needs CAP_NET_ADMIN or device ownership';
      }
      throw new SysError(what, e, { hint });
    }
    const name = ifreqName(ifr);

    if (opts.persist && ioctlInt(fd, TUNSETPERSIST, 1) < 0) {
      const e = errno();
      throw new SysError(`${what}: TUNSETPERSIST`, e);
    }
    // offloads the data plane takes: partial checksums and TCP super segments of either family (TSO4, TSO6)
    const offloads = TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_TSO_ECN;
    if (opts.vnetHdr && ioctlInt(fd, TUNSETOFFLOAD, offloads) < 0) {
      const e = errno();
      throw new SysError(`${what}: TUNSETOFFLOAD`, e);
    }
    return { fd, name };
  } catch (err) {
    close(fd);
    throw err;
  }
}

/** TUNSETPERSIST: keep (on) or drop (off) the device when the last fd closes. */
export function setPersist(fd: number, on: boolean): void {
  if (ioctlInt(fd, TUNSETPERSIST, on ? 1 : 0) < 0) {
    throw new SysError(`TUNSETPERSIST ${on ? 1 : 0} on fd ${fd}`, errno());
  }
}

/** TUNSETOFFLOAD with TUN_F_* flags (0 disables all offloads). */
export function setOffload(fd: number, flags: number): void {
  if (ioctlInt(fd, TUNSETOFFLOAD, flags >>> 0) < 0) {
    throw new SysError(`TUNSETOFFLOAD 0x${(flags >>> 0).toString(16)} on fd ${fd}`, errno());
  }
}

/** TUNSETVNETHDRSZ (n >= 10, typically 10 or 12). */
export function setVnetHdrSize(fd: number, n: number): void {
  const arg = Buffer.alloc(4);
  arg.writeInt32LE(n);
  if (ioctlPtr(fd, TUNSETVNETHDRSZ, arg) < 0) {
    throw new SysError(`TUNSETVNETHDRSZ ${n} on fd ${fd}`, errno());
  }
}

/** TUNGETVNETHDRSZ */
export function getVnetHdrSize(fd: number): number {
  const arg = Buffer.alloc(4);
  if (ioctlPtr(fd, TUNGETVNETHDRSZ, arg) < 0) {
    throw new SysError(`TUNGETVNETHDRSZ on fd ${fd}`, errno());
  }
  return arg.readInt32LE(0);
}

/** TUNGETIFF: the attached interface's name and flags (IFF_TUN/TAP, IFF_NO_PI, IFF_VNET_HDR, IFF_PERSIST...). */
export function getTunInfo(fd: number): { name: string; flags: number } {
  const ifr = Buffer.alloc(IFREQ_SIZE);
  if (ioctlPtr(fd, TUNGETIFF, ifr) < 0) {
    throw new SysError(`TUNGETIFF on fd ${fd}`, errno());
  }
  return { name: ifreqName(ifr), flags: ifr.readUInt16LE(IFR_FLAGS_OFFSET) };
}

/** close(2); throws on EBADF and friends (EINTR is treated as closed, as on Linux). */
export function closeFd(fd: number): void {
  if (close(fd) < 0) {
    const e = errno();
    if (e === Errno.EINTR) return; // Linux always releases the fd
    throw new Error(`close fd ${fd}: ${describeErrno(e)}`);
  }
}

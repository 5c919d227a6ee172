/**
 * What the batched sockets (the VXLAN underlay's, the macvlan parents') share around
 * sendmmsg(2)/recvmmsg(2): sending a vector's queued messages while waiting for room in the send
 * buffer, and the count of what the receive buffer dropped (SO_RXQ_OVFL). Each socket keeps what is
 * its own: how a refused message is handled, what a message counts for.
 */
import { Errno, errno, poll, sendmmsgAddr } from './libc.js';
import { MMSGHDR_SIZE, type MessageVector } from './msghdr.js';
import { SO_RXQ_OVFL, SOL_SOCKET_LEVEL } from './udp-socket.js';

const POLLOUT = 4;

export class MessageSender {
  /** the errno that stopped the last send() short of its end */
  errno = 0;
  private retries = 0;
  private readonly pollfd = Buffer.alloc(8);

  constructor(
    readonly fd: number,
    private readonly v: MessageVector,
    /** the gauge counting sendmmsg calls: gauges[callGauge] */
    private readonly gauges: Float64Array,
    private readonly callGauge: number,
    /** waits for room per flush (counted afresh after progress), of waitMs each */
    private readonly maxRetries = 20,
    private readonly waitMs = 1,
  ) {
    this.pollfd.writeInt32LE(fd, 0);
    this.pollfd.writeInt16LE(POLLOUT, 4);
  }

  /** A flush starts: its waits are counted afresh. */
  begin(): void {
    this.retries = 0;
  }

  /**
   * Sends messages [from, n), waiting (poll POLLOUT) while the send buffer has no room. Returns
   * where it stopped: n when every message went, else the one the kernel refused for good (errno:
   * too big, unreachable, the device gone, or still no room after the waits).
   */
  send(from: number, n: number): number {
    let done = from;
    while (done < n) {
      const r = sendmmsgAddr(this.fd, this.v.address + done * MMSGHDR_SIZE, n - done, 0);
      this.gauges[this.callGauge]++;
      if (r > 0) {
        done += r;
        this.retries = 0;
        continue;
      }
      const e = r < 0 ? errno() : Errno.EAGAIN;
      if ((e === Errno.EAGAIN || e === Errno.ENOBUFS || e === Errno.EINTR) && this.retries < this.maxRetries) {
        this.retries++;
        poll(this.pollfd, 1, this.waitMs);
        continue;
      }
      this.errno = e;
      return done;
    }
    return n;
  }
}

/** SO_RXQ_OVFL: the socket's cumulative drop count rides on every message received. */
export class OverflowCount {
  private last = 0;

  /** What the count added since the last call, read from message `i` (the batch's last) of `v`. */
  added(v: MessageVector, i: number): number {
    const o = v.findControl(i, SOL_SOCKET_LEVEL, SO_RXQ_OVFL);
    if (o < 0 || o === this.last) return 0;
    const d = (o - this.last) >>> 0;
    this.last = o;
    return d;
  }
}

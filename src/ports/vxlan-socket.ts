import type { Dataplane } from '../dataplane/dataplane.js';
import type { TunnelIo } from '../dataplane/port.js';
import { sockaddrIn, UdpSocket } from './sys/udp-socket.js';

/** The VXLAN underlay: one UDP socket; a sockaddr per VTEP, made the first time it is used. */
export class VxlanSocket implements TunnelIo {
  readonly socket: UdpSocket;
  private readonly addrs: (Buffer | undefined)[] = [];

  constructor(
    private readonly dp: Dataplane,
    localIp: number,
    private readonly port: number,
  ) {
    this.socket = new UdpSocket(localIp, port);
  }

  sendTo(buf: Buffer, off: number, len: number, vtep: number): boolean {
    let to = this.addrs[vtep];
    if (to === undefined) to = this.addrs[vtep] = sockaddrIn(this.dp.vtepIp(vtep), this.port);
    return this.socket.send(buf, off, len, to) >= 0;
  }
}

// The NAT-PMP/PCP server's socket: UDP on the host's address of the TUN link, on a port the kernel
// picks. The data plane DNATs every datagram a container sends to its gateway's port 5351 here,
// source untouched (so the responder knows who asks); replies go back through the same conntrack
// entry and reach the container from gateway:5351.

import { type Socket, createSocket } from 'node:dgram';
import type { Logger } from 'pino';
import { parseIpv4OrNull } from '../../wire/ipv4-address.js';
import type { PcpResponder } from './pcp-responder.js';

export class PcpServer {
  private udp: Socket | null = null;

  constructor(
    private readonly responder: PcpResponder,
    private readonly o: { address: string; log: Logger },
  ) {}

  async start(): Promise<void> {
    const udp = createSocket({ type: 'udp4' });
    this.udp = udp;
    await new Promise<void>((resolve, reject) => {
      udp.once('error', reject);
      udp.bind({ address: this.o.address, port: 0, exclusive: true }, () => {
        udp.off('error', reject);
        resolve();
      });
    }).catch((err: Error) => {
      this.udp = null;
      udp.close();
      throw new Error(`cannot serve NAT-PMP/PCP on udp ${this.o.address}: ${err.message} (or set nat.pcp.enabled: false)`);
    });
    udp.on('error', (err) => this.o.log.warn({ err: err.message }, 'PCP socket error'));
    udp.on('message', (msg, rinfo) => this.onDatagram(msg, rinfo.address, rinfo.port));
  }

  /** The port bound: where the data plane sends gateway:5351. */
  get port(): number {
    return this.udp?.address().port ?? 0;
  }

  async close(): Promise<void> {
    const udp = this.udp;
    this.udp = null;
    if (udp !== null) await new Promise<void>((r) => udp.close(() => r()));
  }

  private onDatagram(msg: Buffer, address: string, port: number): void {
    const ip = parseIpv4OrNull(address.startsWith('::ffff:') ? address.slice(7) : address);
    if (ip === null) return;
    void this.responder.answer(msg, ip, port).then((reply) => {
      if (reply !== null && this.udp !== null) this.udp.send(reply, port, address);
    });
  }
}

/**
 * AF_PACKET raw sockets: attach to an existing interface (a second NIC, a macvlan, a veth) and
 * send and receive whole Ethernet frames on it, with the same read/write/epoll path as TAP fds.
 * The socket joins the interface in promiscuous mode, since the gateway answers for a MAC of its
 * own, and ignores frames the host itself sends (PACKET_IGNORE_OUTGOING).
 *
 * For a macvlan network's parent (parent-socket.ts) two more: PACKET_AUXDATA, since the kernel
 * takes the 802.1Q tag off every frame it receives (skb_vlan_untag, before packet taps see it) and
 * hands it over only as tpacket_auxdata's tp_vlan_tci; and PACKET_VNET_HDR, a virtio-net header in
 * front of every frame both ways, so TCP super segments cross it whole (GSO and partial checksums).
 */
import { bind, close, errno, if_nametoindex, O_CLOEXEC, O_NONBLOCK, setsockopt, socket, SysError } from './libc.js';
import { SO_RXQ_OVFL, SOL_SOCKET_LEVEL, setInt, setSocketBuffers } from './udp-socket.js';

const AF_PACKET = 17;
const SOCK_RAW = 3;
const ETH_P_ALL = 0x0003;
const SOL_PACKET = 263;
const PACKET_ADD_MEMBERSHIP = 1;
const PACKET_MR_PROMISC = 1;
const PACKET_IGNORE_OUTGOING = 23;
const PACKET_AUXDATA = 8;
const PACKET_VNET_HDR = 15;
const SOCK_NONBLOCK = O_NONBLOCK;
const SOCK_CLOEXEC = O_CLOEXEC;

function htons(v: number): number {
  return ((v & 0xff) << 8) | ((v >> 8) & 0xff);
}

export interface PacketSocket {
  fd: number;
  ifindex: number;
}

export interface PacketSocketOptions {
  /** the VLAN tag of each received frame as a control message (PACKET_AUXDATA) */
  auxdata?: boolean;
  /** a virtio-net header before every frame read and written (PACKET_VNET_HDR) */
  vnetHdr?: boolean;
  /** SO_RCVBUF / SO_SNDBUF in bytes (forced when root); absent: the system's defaults */
  receiveBuffer?: number;
  sendBuffer?: number;
  /** the count of frames the full receive buffer dropped rides on each one received (SO_RXQ_OVFL) */
  overflowCount?: boolean;
}

function setOne(fd: number, name: number): boolean {
  const one = Buffer.alloc(4);
  one.writeInt32LE(1, 0);
  return setsockopt(fd, SOL_PACKET, name, one, 4) === 0;
}

/** Opens a non-blocking AF_PACKET socket bound to `device`; throws a clear Error when it cannot. */
export function openPacketSocket(device: string, o: PacketSocketOptions = {}): PacketSocket {
  const ifindex = if_nametoindex(device);
  if (ifindex === 0) throw new Error(`cannot attach to interface ${device}: no such interface`);
  const fd = socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, htons(ETH_P_ALL));
  if (fd < 0) throw new SysError(`cannot open a packet socket on ${device}`, errno());
  try {
    if (o.auxdata === true && !setOne(fd, PACKET_AUXDATA)) throw new SysError(`cannot ask for the VLAN tags of ${device}'s frames (PACKET_AUXDATA)`, errno());
    if (o.vnetHdr === true && !setOne(fd, PACKET_VNET_HDR)) throw new SysError(`cannot take offloads on ${device} (PACKET_VNET_HDR)`, errno());
    setSocketBuffers(fd, o.receiveBuffer ?? 0, o.sendBuffer ?? 0);
    if (o.overflowCount === true) setInt(fd, SOL_SOCKET_LEVEL, SO_RXQ_OVFL, 1); // best effort: without it the drops go uncounted
    // struct sockaddr_ll: family u16, protocol be16, ifindex i32, hatype u16, pkttype u8, halen u8, addr[8]
    const sll = Buffer.alloc(20);
    sll.writeUInt16LE(AF_PACKET, 0);
    sll.writeUInt16BE(ETH_P_ALL, 2);
    sll.writeInt32LE(ifindex, 4);
    if (bind(fd, sll, sll.length) < 0) throw new SysError(`cannot bind a packet socket to ${device}`, errno());
    // struct packet_mreq: ifindex i32, type u16, alen u16, address[8]
    const mreq = Buffer.alloc(16);
    mreq.writeInt32LE(ifindex, 0);
    mreq.writeUInt16LE(PACKET_MR_PROMISC, 4);
    if (setsockopt(fd, SOL_PACKET, PACKET_ADD_MEMBERSHIP, mreq, mreq.length) < 0) {
      throw new SysError(`cannot put ${device} in promiscuous mode`, errno());
    }
    // best effort: kernels before 4.20 lack it and then show us the host's own frames too
    setOne(fd, PACKET_IGNORE_OUTGOING);
    return { fd, ifindex };
  } catch (err) {
    close(fd);
    throw err;
  }
}

// The TCP tracker: the connection state machine of nf_conntrack (simplified where Linux keeps
// extra states), with window tracking so a segment outside the window can neither close nor
// take over a connection.

import { TCP_ACK, TCP_FIN, TCP_RST, TCP_SYN } from '../wire/tcp.js';
import { CtFlag, CtState, type ConntrackTable } from './conntrack.js';

export const TCP_INVALID = -1;

/** Timeouts per state in ms, defaults as Linux's nf_conntrack_tcp_timeout_* sysctls. */
export interface TcpTimeouts {
  synSent: number;
  synRecv: number;
  established: number;
  finWait: number;
  closeWait: number;
  lastAck: number;
  timeWait: number;
  close: number;
}

export const DEFAULT_TCP_TIMEOUTS: TcpTimeouts = {
  synSent: 120_000,
  synRecv: 60_000,
  established: 432_000_000,
  finWait: 120_000,
  closeWait: 60_000,
  lastAck: 30_000,
  timeWait: 120_000,
  close: 10_000,
};

export function tcpTimeout(t: TcpTimeouts, state: number): number {
  switch (state) {
    case CtState.SynSent:
      return t.synSent;
    case CtState.SynRecv:
      return t.synRecv;
    case CtState.Established:
      return t.established;
    case CtState.FinWait:
      return t.finWait;
    case CtState.CloseWait:
      return t.closeWait;
    case CtState.LastAck:
      return t.lastAck;
    case CtState.TimeWait:
      return t.timeWait;
    default:
      return t.close;
  }
}

/** (a - b) as a signed 32-bit distance in sequence space. */
function seqDiff(a: number, b: number): number {
  return (a - b) | 0;
}

/**
 * Applies one segment travelling in direction `dir` to entry `e`. Returns the new state, or
 * TCP_INVALID when the segment does not fit the connection (it must be dropped, state untouched).
 * `wscale` is the window scale option of a SYN (-1 if absent).
 */
export function tcpTrack(
  ct: ConntrackTable,
  e: number,
  dir: number,
  flags: number,
  seq: number,
  ack: number,
  window: number,
  payloadLen: number,
  wscale: number,
): number {
  const me = e * 2 + dir;
  const peer = e * 2 + (dir ^ 1);
  const state = ct.state[e];
  const syn = (flags & TCP_SYN) !== 0;
  const fin = (flags & TCP_FIN) !== 0;
  const rst = (flags & TCP_RST) !== 0;
  const hasAck = (flags & TCP_ACK) !== 0;

  // a bare ACK answering a SYN: the server still holds an earlier connection of these ports in
  // TIME_WAIT and acknowledges what it knows of that one. Let through untouched, as nf_conntrack
  // ignores it: the client answers it with a RST, which ends the server's TIME_WAIT, and its next
  // SYN opens the new connection (dropped, the client would retry the SYN into the same ACK until it
  // gives up)
  if (state === CtState.SynSent && dir === 1 && hasAck && !syn && !rst) return state;

  // window check once the peer has told us what it expects (RFC 793 acceptability, loosely)
  if (!syn && ct.tdAck[peer] !== 0 && ct.tdMaxWin[peer] !== 0 && (ct.flags[e] & CtFlag.Liberal) === 0) {
    const win = Math.max(ct.tdMaxWin[peer], 65535);
    // as nf_conntrack's in-window check: within a window either side of what the peer expects.
    // (A RST exactly at RCV.NXT, as RFC 5961 asks of endpoints, would refuse the RST a Linux
    // server sends with its FIN's sequence number after the FIN was acknowledged.)
    const d = seqDiff(seq, ct.tdAck[peer]);
    if (d < -win || d > win) return TCP_INVALID;
  }
  if (rst && state === CtState.SynSent && dir === 1) {
    // the answer to our SYN: it must acknowledge it
    if (!hasAck || ack !== ct.tdEnd[e * 2]) return TCP_INVALID;
  }

  // record what this side sent
  const end = (seq + payloadLen + (syn ? 1 : 0) + (fin ? 1 : 0)) >>> 0;
  if (ct.tdEnd[me] === 0 || seqDiff(end, ct.tdEnd[me]) > 0) ct.tdEnd[me] = end;
  if (hasAck) ct.tdAck[me] = ack >>> 0;
  if (syn) {
    // scaling is used only when both SYNs offer it (RFC 7323 2.2)
    const offered = CtFlag.WscaleOrig << dir;
    if (wscale >= 0) {
      ct.flags[e] |= offered;
      ct.tdScale[me] = Math.min(wscale, 14);
      if (hasAck && (ct.flags[e] & (CtFlag.WscaleOrig << (dir ^ 1))) === 0) ct.tdScale[me] = 0; // the SYN did not offer it
    } else {
      ct.flags[e] &= ~offered;
      ct.tdScale[me] = 0;
      ct.tdScale[peer] = 0;
    }
  }
  const scaled = syn ? window : window * 2 ** ct.tdScale[me];
  if (scaled > ct.tdMaxWin[me]) ct.tdMaxWin[me] = scaled;

  if (rst) return CtState.Close;
  switch (state) {
    case CtState.SynSent:
      if (dir === 1 && syn && hasAck) return CtState.SynRecv;
      if (dir === 0 && syn) return CtState.SynSent;
      if (dir === 1 && syn) return CtState.SynRecv; // simultaneous open
      return TCP_INVALID;
    case CtState.SynRecv:
      if (dir === 0 && hasAck && !syn) {
        ct.flags[e] |= CtFlag.Assured;
        return fin ? CtState.FinWait : CtState.Established;
      }
      if (syn) return CtState.SynRecv; // retransmissions
      return fin ? CtState.FinWait : state;
    case CtState.Established:
      if (syn) return hasAck ? state : TCP_INVALID;
      if (fin) {
        ct.flags[e] = (ct.flags[e] & ~0x80) | (dir << 7); // who closed first
        return CtState.FinWait;
      }
      return state;
    case CtState.FinWait: {
      const closer = (ct.flags[e] >> 7) & 1;
      if (fin && dir !== closer) return CtState.LastAck;
      if (hasAck && dir !== closer) return CtState.CloseWait;
      return state;
    }
    case CtState.CloseWait: {
      const closer = (ct.flags[e] >> 7) & 1;
      if (fin && dir !== closer) return CtState.LastAck;
      return state;
    }
    case CtState.LastAck:
      if (hasAck && !fin) return CtState.TimeWait;
      return state;
    case CtState.TimeWait:
    case CtState.Close:
      if (syn && !hasAck && dir === 0) {
        // the same ports reused for a new connection
        ct.tdEnd[me] = end;
        ct.tdAck[peer] = 0;
        ct.tdMaxWin[peer] = 0;
        return CtState.SynSent;
      }
      return state;
    default:
      return state;
  }
}

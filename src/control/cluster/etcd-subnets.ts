// Routed overlays' subnet leases in flannel's etcd schema, so that flannel's hosts and pontoon's
// share one cluster (issue 15):
//   <flannel prefix>/config                   {"Network": "10.244.0.0/16", "SubnetLen": 24,
//                                              "Backend": {"Type": "vxlan", "VNI": 1, "Port": 8472}}
//   <flannel prefix>/subnets/10.244.1.0-24    {"PublicIP": "192.0.2.1", "PublicIPv6": null,
//                                              "BackendType": "vxlan",
//                                              "BackendData": {"VNI": 1, "VtepMAC": "02:..."}}
// A lease is written under the host's etcd lease (renewed while it lives, gone when it expires) by
// "put if absent", so no subnet is ever taken twice. pontoon's own prefix keeps which network uses
// a flannel prefix (<prefix>/routed/<encoded flannel prefix> → network id), one network per prefix.

import type { Logger } from 'pino';
import { parseMac } from '../../wire/mac.js';
import { parseIpv4OrNull } from '../../wire/ipv4-address.js';
import type { OverlayNetworkDef, RoutedDef, SubnetLease } from './cluster-store.js';
import { parseJson } from './etcd-keys.js';
import type { WatchSpace } from './etcd-watch.js';

/** flannel's defaults for its vxlan backend */
export const FLANNEL_DEFAULT_VNI = 1;
export const FLANNEL_DEFAULT_PORT = 8472;

/** The keys of one flannel prefix. */
export class FlannelKeys {
  /** without a trailing slash, e.g. "/coreos.com/network" */
  readonly p: string;

  constructor(prefix: string) {
    this.p = prefix.replace(/\/+$/, '');
  }

  configKey = () => `${this.p}/config`;
  subnetDir = () => `${this.p}/subnets/`;
  /** "10.244.1.0/24" → "<prefix>/subnets/10.244.1.0-24" */
  subnetKey = (subnet: string) => `${this.p}${FlannelKeys.subnetTail(subnet)}`;
  /** "10.244.1.0/24" → "/subnets/10.244.1.0-24": how every subnet key ends, whatever its prefix */
  static subnetTail = (subnet: string) => `/subnets/${subnet.replace('/', '-')}`;

  /** "<prefix>/subnets/10.244.1.0-24" → "10.244.1.0/24"; null for any other key */
  subnetOf(key: string): string | null {
    const dir = this.subnetDir();
    if (!key.startsWith(dir)) return null;
    const m = /^(\d{1,3}(?:\.\d{1,3}){3})-(\d{1,2})$/.exec(key.slice(dir.length));
    if (m === null || parseIpv4OrNull(m[1]!) === null || Number(m[2]) > 32) return null;
    return `${m[1]}/${m[2]}`;
  }
}

/** pontoon's key saying which network uses a flannel prefix. */
export function routedClaimKey(pontoonPrefix: string, flannelPrefix: string): string {
  return `${pontoonPrefix.replace(/\/+$/, '')}/routed/${encodeURIComponent(flannelPrefix.replace(/\/+$/, ''))}`;
}

interface FlannelConfig {
  Network?: string;
  SubnetLen?: number;
  Backend?: { Type?: string; VNI?: number; Port?: number };
}

/** The flannel config a routed overlay writes. */
export function flannelConfig(def: OverlayNetworkDef & { routed: RoutedDef }): string {
  return JSON.stringify({ Network: def.subnet, SubnetLen: def.routed.hostSubnetSize, Backend: { Type: 'vxlan', VNI: def.vni, Port: def.routed.port } });
}

/**
 * Why a flannel config found at the prefix cannot be the network's (another range, subnet
 * length, backend, VNI or port than asked for), or null when it matches (flannel's defaults
 * standing in for what it leaves out).
 */
export function flannelConfigProblem(text: string, def: OverlayNetworkDef & { routed: RoutedDef }): string | null {
  const c = parseJson<FlannelConfig>(text);
  const at = `the flannel config at ${def.routed.flannelPrefix}/config`;
  if (c === undefined || typeof c !== 'object' || c === null) return `${at} is not JSON`;
  const have = {
    network: c.Network,
    subnetLen: c.SubnetLen ?? 24,
    type: c.Backend?.Type ?? 'udp',
    vni: c.Backend?.VNI ?? FLANNEL_DEFAULT_VNI,
    port: c.Backend?.Port ?? FLANNEL_DEFAULT_PORT,
  };
  if (have.network !== def.subnet) return `${at} has Network ${String(have.network)}, not ${def.subnet}`;
  if (have.subnetLen !== def.routed.hostSubnetSize) return `${at} has SubnetLen ${have.subnetLen}, not ${def.routed.hostSubnetSize} (--host-subnet-size)`;
  if (have.type !== 'vxlan') return `${at} has Backend.Type ${have.type}: pontoon speaks only flannel's vxlan backend`;
  if (have.vni !== def.vni) return `${at} has Backend.VNI ${have.vni}, not ${def.vni} (--vni)`;
  if (have.port !== def.routed.port) return `${at} has Backend.Port ${have.port}, but this host's VXLAN socket is on port ${def.routed.port} (cluster.vxlanPort)`;
  return null;
}

/** This host's lease as flannel writes one (the key holds the subnet). */
export function flannelLeaseValue(lease: SubnetLease, vni: number): string {
  return JSON.stringify({ PublicIP: lease.publicIp, PublicIPv6: null, BackendType: 'vxlan', BackendData: { VNI: vni, VtepMAC: lease.vtepMac } });
}

interface FlannelLease {
  PublicIP?: string;
  BackendType?: string;
  BackendData?: { VtepMAC?: string };
}

/** A lease's value, checked (an IPv4 PublicIP, the vxlan backend, a unicast VtepMAC); null when it is not one pontoon can route to. */
export function parseFlannelLease(subnet: string, text: string): SubnetLease | null {
  const l = parseJson<FlannelLease>(text);
  if (l === undefined || typeof l !== 'object' || l === null) return null;
  if (typeof l.PublicIP !== 'string' || parseIpv4OrNull(l.PublicIP) === null || l.BackendType !== 'vxlan') return null;
  const mac = l.BackendData?.VtepMAC;
  if (typeof mac !== 'string') return null;
  try {
    if ((Math.floor(parseMac(mac) / 2 ** 40) & 1) !== 0) return null; // a group MAC
  } catch {
    return null;
  }
  return { subnet, publicIp: l.PublicIP, vtepMac: mac.toLowerCase() };
}

/** The subnet leases under one flannel prefix as events for network `networkId`. */
export function subnetSpace(keys: FlannelKeys, networkId: string, log: Logger): WatchSpace {
  return {
    prefix: keys.subnetDir(),
    dirs: [keys.subnetDir()],
    rank: (key) => (keys.subnetOf(key) === null ? null : 1),
    up: (key, value) => {
      const subnet = keys.subnetOf(key)!;
      const lease = parseFlannelLease(subnet, value);
      if (lease === null) {
        log.warn({ key, value }, 'cluster store: ignoring a subnet lease that is not a vxlan lease with an IPv4 PublicIP and a VtepMAC');
        return { kind: 'subnet-down', networkId, subnet }; // whatever it routed before is no longer valid
      }
      return { kind: 'subnet-up', networkId, lease };
    },
    down: (key) => ({ kind: 'subnet-down', networkId, subnet: keys.subnetOf(key)! }),
  };
}

// `network create` and `network rm`: a bridge network is checked, brought up and saved here; an
// overlay network is checked, created in the cluster store and adopted like one another host made.

import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import type { NetworkCreateRequest } from '../api-types.js';
import type { OverlayNetworkDef } from '../cluster/cluster-store.js';
import { ApiFailure } from '../gateway-api.js';
import type { HostDevices } from '../host-devices.js';
import { requestFamilies, validateNetworkRequest } from '../ipam.js';
import type { Pool6 } from '../ipam6.js';
import type { LiveNetwork, LiveNetworkRecord } from '../live-network.js';
import { vxlanOverhead } from '../../wire/vxlan.js';
import { cidrsOverlap, parseCidr, parseCidrOrNull } from '../../wire/ipv4-address.js';
import { FLANNEL_DEFAULT_VNI } from '../cluster/etcd-subnets.js';
import { overlayGatewayMac, randomGatewayMac, vtepFamily } from './addresses.js';
import type { LiveNetworks } from './live-networks.js';
import type { NetworkActivation } from './network-activation.js';
import { ROUTED_NEEDS_IPV4, type OverlaySync } from './overlay-sync.js';
import type { MacvlanParents } from './macvlan-parents.js';
import type { MacvlanRecord } from '../state-store.js';

const MACVLAN_MODES: readonly MacvlanRecord['mode'][] = ['bridge', 'private', 'vepa', 'passthru'];


/** flannel's default etcd prefix */
const FLANNEL_DEFAULT_PREFIX = '/coreos.com/network';

/** What a routed overlay request may not have: leases and routes need etcd and an IPv4 underlay; each host's subnet is its own. */
function routedProblems(req: NetworkCreateRequest, advertise: string, store: string): void {
  if (store !== 'etcd') throw new ApiFailure(400, 'routed overlay networks need the etcd cluster store (cluster.store etcd): each host leases its subnet there');
  if (vtepFamily(advertise) !== 'IPv4') throw new ApiFailure(400, ROUTED_NEEDS_IPV4);
  if (req.ipv6 === true || [req.subnet, ...(req.subnets ?? [])].some((x) => x?.includes(':'))) {
    throw new ApiFailure(400, `network ${req.name}: routed overlay networks are IPv4 only (flannel's vxlan leases carry one IPv4 subnet per host)`);
  }
  if (req.subnet === undefined && (req.subnets ?? []).length === 0) throw new ApiFailure(400, `network ${req.name}: a routed overlay needs its cluster range (--subnet, e.g. 10.244.0.0/16)`);
  if (req.gateway !== undefined || req.ipRange !== undefined || (req.gateways ?? []).length > 0 || (req.ipRanges ?? []).length > 0 || req.auxAddresses !== undefined) {
    throw new ApiFailure(400, `network ${req.name}: each host of a routed overlay leases its own subnet, whose first address is its gateway: --gateway, --ip-range and --aux-address do not apply`);
  }
  const p = req.flannelPrefix;
  if (p !== undefined && !/^\/[A-Za-z0-9_.\/-]*[A-Za-z0-9_.-]$/.test(p)) throw new ApiFailure(400, `invalid pontoon.flannel_prefix ${JSON.stringify(p)}: a key prefix such as /coreos.com/network`);
}

export class NetworkLifecycle {
  constructor(
    private readonly deps: {
      /** this host's underlay address (cluster.advertise), or null, and the underlay's MTU */
      advertise: string | null;
      underlayMtu: number;
      /** the underlay socket's UDP port (cluster.vxlanPort): a routed overlay's Backend.Port */
      vxlanPort: number;
      /** config services.cidr: no network's subnet may overlap it (its addresses are VIPs, refused without a service) */
      servicesCidr: string;
      /** where IPv6 subnets of `--ipv6` without an IPv6 --subnet come from (config defaultPools6) */
      pools6: readonly Pool6[];
      networks: LiveNetworks;
      activation: NetworkActivation;
      /** null: no cluster store */
      overlay: OverlaySync | null;
      devices: HostDevices;
      /** macvlan networks' parents: `-o parent=` resolved and checked */
      parents: MacvlanParents;
      log: Logger;
    },
  ) {}

  async create(req: NetworkCreateRequest, isDefault: boolean): Promise<LiveNetwork> {
    const { networks, activation, devices, log } = this.deps;
    const services = parseCidr(this.deps.servicesCidr);
    for (const subnet of [req.subnet, ...(req.subnets ?? [])]) {
      const c = subnet === undefined ? null : parseCidrOrNull(subnet);
      if (c !== null && cidrsOverlap(c, services)) throw new ApiFailure(409, `subnet ${subnet} overlaps with the services range ${this.deps.servicesCidr} (services.cidr)`);
    }
    const existing = [...networks.values()].map((n) => ({
      name: n.record.name,
      subnet: n.record.subnet,
      ...(n.record.ipv6 !== undefined ? { subnet6: n.record.ipv6.subnet } : {}),
    }));
    // a subnet chosen from the pools skips the services range (a given one was refused above)
    if (req.subnet === undefined) existing.push({ name: 'services.cidr', subnet: this.deps.servicesCidr });
    const macvlan = req.driver === 'macvlan';
    // a macvlan network's subnet is the LAN's: the host's own routes to it are expected
    const routes = macvlan ? [] : await devices.hostRoutes();
    if (req.driver === 'overlay') return this.createOverlay(req, existing, routes);
    if (req.vni !== undefined) throw new ApiFailure(400, '--vni is for overlay networks (--driver overlay)');
    if (req.mode !== undefined || req.hostSubnetSize !== undefined || req.flannelPrefix !== undefined) {
      throw new ApiFailure(400, '--mode, --host-subnet-size and pontoon.flannel_prefix are for overlay networks (--driver overlay)');
    }
    const routes6 = req.ipv6 === true && !macvlan ? await devices.hostRoutes6() : [];
    // only an IPv6 --subnet: an IPv6-only network, its record's IPv4 subnet and gateway ''
    const m = macvlan ? this.macvlanOf(req) : undefined;
    // a macvlan network's MTU is its parent's unless given (and never above it), as Docker's
    const parentMtu = m?.mtu;
    if (parentMtu !== undefined && req.mtu !== undefined && req.mtu > parentMtu) {
      throw new ApiFailure(400, `MTU ${req.mtu} is larger than the parent ${req.parent}'s ${parentMtu}`);
    }
    const v = validateNetworkRequest(parentMtu !== undefined && req.mtu === undefined ? { ...req, mtu: parentMtu } : req, existing, routes, this.deps.pools6, routes6);
    const rec: LiveNetworkRecord = {
      id: randomBytes(32).toString('hex'),
      name: req.name,
      driver: macvlan ? 'macvlan' : 'bridge',
      subnet: v.subnet,
      gateway: v.gateway,
      ...(v.ipRange !== undefined ? { ipRange: v.ipRange } : {}),
      internal: v.internal,
      mtu: v.mtu,
      gatewayMac: randomGatewayMac(),
      created: new Date().toISOString(),
      isDefault,
      ...(v.ipv6 !== undefined ? { ipv6: v.ipv6 } : {}),
      ...(m !== undefined ? { macvlan: m.record, internal: v.internal || m.record.parent === '' } : {}),
      ...(v.auxAddresses !== undefined ? { auxAddresses: v.auxAddresses } : {}),
    };
    const live = await activation.activate(rec);
    try {
      networks.save();
    } catch (err) {
      await activation.deactivate(live);
      throw err;
    }
    log.info({ network: rec.name, ...(rec.subnet !== '' ? { subnet: rec.subnet } : {}), ...(rec.ipv6 !== undefined ? { subnet6: rec.ipv6.subnet } : {}) }, 'network created');
    return live;
  }

  /**
   * A macvlan network's parent and mode, checked: the parent exists and is up, its VLAN is 1-4094,
   * and the mode can be had (passthru owns its parent alone). No parent: internal, as Docker's dummy parent.
   */
  private macvlanOf(req: NetworkCreateRequest): { record: MacvlanRecord; mtu?: number } {
    const mode = req.macvlanMode ?? 'bridge';
    if (!MACVLAN_MODES.includes(mode as MacvlanRecord['mode'])) {
      throw new ApiFailure(400, `macvlan_mode ${JSON.stringify(mode)} is not supported (supported: ${MACVLAN_MODES.join(', ')})`);
    }
    const hostAccess = req.hostAccess ?? false;
    // no parent, or --internal (which Docker's macvlan handles the same: a dummy parent): containers among themselves
    const parent = req.internal === true ? '' : (req.parent ?? '');
    if (parent === '') return { record: { parent: '', device: '', vlan: 0, mode: mode as MacvlanRecord['mode'], hostAccess } };
    const { device, vlan, mtu } = this.deps.parents.resolve(parent);
    for (const other of this.deps.parents.users(device)) {
      const o = other.record.macvlan!;
      if (o.vlan !== vlan) continue;
      const on = `${device}${vlan !== 0 ? ` VLAN ${vlan}` : ''}`;
      if (o.mode === 'passthru') throw new ApiFailure(409, `parent ${on} is network ${other.record.name}'s alone (macvlan_mode passthru)`);
      if (mode === 'passthru') throw new ApiFailure(409, `macvlan_mode passthru needs its parent alone: ${on} already carries network ${other.record.name}`);
    }
    return { record: { parent, device, vlan, mode: mode as MacvlanRecord['mode'], hostAccess }, mtu };
  }

  private async createOverlay(req: NetworkCreateRequest, existing: { name: string; subnet: string; subnet6?: string }[], routes: string[]): Promise<LiveNetwork> {
    const { overlay, advertise, underlayMtu, networks } = this.deps;
    if (overlay === null || advertise === null) {
      throw new ApiFailure(400, 'overlay networks need cluster.advertise (this host\'s underlay address) in the daemon config');
    }
    const mode = req.mode ?? 'l2';
    if (mode !== 'l2' && mode !== 'routed') throw new ApiFailure(400, `invalid --mode ${JSON.stringify(mode)}: l2 or routed`);
    const routed = mode === 'routed';
    if (!routed && (req.hostSubnetSize !== undefined || req.flannelPrefix !== undefined)) {
      throw new ApiFailure(400, '--host-subnet-size and pontoon.flannel_prefix are for routed overlays (--mode routed)');
    }
    if (routed) routedProblems(req, advertise, overlay.cluster.kind);
    // VXLAN over UDP over IPv4 or IPv6 (the underlay's family) over Ethernet: 50 or 70 bytes
    const overhead = vxlanOverhead(vtepFamily(advertise) === 'IPv6');
    const mtu = req.mtu ?? underlayMtu - overhead;
    const v = validateNetworkRequest({ ...req, driver: 'bridge', mtu }, existing, routes, this.deps.pools6);
    const hostSubnetSize = req.hostSubnetSize ?? 24;
    if (routed && !(Number.isInteger(hostSubnetSize) && hostSubnetSize > parseCidr(v.subnet).prefixLen && hostSubnetSize <= 30)) {
      throw new ApiFailure(400, `invalid --host-subnet-size ${hostSubnetSize}: longer than the cluster range's /${parseCidr(v.subnet).prefixLen} and at most 30`);
    }
    if (!v.ipv4) throw new ApiFailure(400, `network ${req.name}: IPv6-only overlay networks are not supported: give an IPv4 subnet too (--subnet)`);
    if (v.ipv6 !== undefined && overlay.cluster.kind === 'static' && !requestFamilies(req).v6.subnet) {
      // the pools' subnet is this host's own choice; without a store no other host would learn it
      throw new ApiFailure(400, `network ${req.name}: an overlay network with --ipv6 and cluster.store none needs its IPv6 --subnet, the same on every host`);
    }
    if (v.mtu > underlayMtu - overhead) {
      throw new ApiFailure(400, `MTU ${v.mtu} does not fit the underlay: at most ${underlayMtu - overhead}`);
    }
    let vni = req.vni;
    if (vni !== undefined && (!Number.isInteger(vni) || vni < 1 || vni > 0xffffff)) {
      throw new ApiFailure(400, `invalid VNI ${vni}: it must be between 1 and 16777215`);
    }
    if (vni === undefined) {
      const used = new Set([...networks.values()].map((n) => n.record.vni));
      // a routed overlay takes flannel's VNI 1 when it is free
      vni = routed && !used.has(FLANNEL_DEFAULT_VNI) ? FLANNEL_DEFAULT_VNI : 4096;
      while (used.has(vni)) vni++;
    }
    const def: OverlayNetworkDef = {
      id: randomBytes(32).toString('hex'),
      name: req.name,
      subnet: v.subnet,
      gateway: v.gateway,
      gatewayMac: overlayGatewayMac(vni),
      vni,
      mtu: v.mtu,
      internal: v.internal,
      ...(v.ipRange !== undefined ? { ipRange: v.ipRange } : {}),
      ...(v.ipv6 !== undefined ? { ipv6: v.ipv6 } : {}),
      // a routed overlay's gateway is each host's subnet's own
      ...(routed ? { gateway: '', routed: { hostSubnetSize, flannelPrefix: (req.flannelPrefix ?? FLANNEL_DEFAULT_PREFIX).replace(/\/+$/, ''), port: this.deps.vxlanPort } } : {}),
      created: new Date().toISOString(),
    };
    await overlay.cluster.createNetwork(def);
    try {
      return await overlay.adopt(def, v.ipRange);
    } catch (err) {
      await overlay.cluster.removeNetwork(def.id).catch(() => undefined);
      throw err;
    }
  }

  async remove(nameOrId: string): Promise<void> {
    const { networks, activation, overlay, log } = this.deps;
    const live = networks.require(nameOrId);
    if (live.record.isDefault) {
      throw new ApiFailure(403, `${live.record.name} is a pre-defined network and cannot be removed`);
    }
    if (live.endpoints.size > 0) {
      throw new ApiFailure(409, `network ${live.record.name} has active endpoints (${live.endpoints.size})`);
    }
    if (live.record.driver === 'overlay' && overlay !== null) await overlay.withdraw(live);
    await activation.deactivate(live);
    networks.save();
    log.info({ network: live.record.name }, 'network removed');
  }
}

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
import { overlayGatewayMac, randomGatewayMac, vtepFamily } from './addresses.js';
import type { LiveNetworks } from './live-networks.js';
import type { NetworkActivation } from './network-activation.js';
import type { OverlaySync } from './overlay-sync.js';


export class NetworkLifecycle {
  constructor(
    private readonly deps: {
      /** this host's underlay address (cluster.advertise), or null, and the underlay's MTU */
      advertise: string | null;
      underlayMtu: number;
      /** where IPv6 subnets of `--ipv6` without an IPv6 --subnet come from (config defaultPools6) */
      pools6: readonly Pool6[];
      networks: LiveNetworks;
      activation: NetworkActivation;
      /** null: no cluster store */
      overlay: OverlaySync | null;
      devices: HostDevices;
      log: Logger;
    },
  ) {}

  async create(req: NetworkCreateRequest, isDefault: boolean): Promise<LiveNetwork> {
    const { networks, activation, devices, log } = this.deps;
    const existing = [...networks.values()].map((n) => ({
      name: n.record.name,
      subnet: n.record.subnet,
      ...(n.record.ipv6 !== undefined ? { subnet6: n.record.ipv6.subnet } : {}),
    }));
    const routes = await devices.hostRoutes();
    if (req.driver === 'overlay') return this.createOverlay(req, existing, routes);
    if (req.vni !== undefined) throw new ApiFailure(400, '--vni is for overlay networks (--driver overlay)');
    const routes6 = req.ipv6 === true ? await devices.hostRoutes6() : [];
    // only an IPv6 --subnet: an IPv6-only network, its record's IPv4 subnet and gateway ''
    const v = validateNetworkRequest(req, existing, routes, this.deps.pools6, routes6);
    const rec: LiveNetworkRecord = {
      id: randomBytes(32).toString('hex'),
      name: req.name,
      driver: 'bridge',
      subnet: v.subnet,
      gateway: v.gateway,
      ...(v.ipRange !== undefined ? { ipRange: v.ipRange } : {}),
      internal: v.internal,
      mtu: v.mtu,
      gatewayMac: randomGatewayMac(),
      created: new Date().toISOString(),
      isDefault,
      ...(v.ipv6 !== undefined ? { ipv6: v.ipv6 } : {}),
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

  private async createOverlay(req: NetworkCreateRequest, existing: { name: string; subnet: string; subnet6?: string }[], routes: string[]): Promise<LiveNetwork> {
    const { overlay, advertise, underlayMtu, networks } = this.deps;
    if (overlay === null || advertise === null) {
      throw new ApiFailure(400, 'overlay networks need cluster.advertise (this host\'s underlay address) in the daemon config');
    }
    // VXLAN over UDP over IPv4 or IPv6 (the underlay's family) over Ethernet: 50 or 70 bytes
    const overhead = vxlanOverhead(vtepFamily(advertise) === 'IPv6');
    const mtu = req.mtu ?? underlayMtu - overhead;
    const v = validateNetworkRequest({ ...req, driver: 'bridge', mtu }, existing, routes, this.deps.pools6);
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
      vni = 4096;
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

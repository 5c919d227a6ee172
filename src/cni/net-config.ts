// The network configuration on stdin (one plugin of a .conflist, with the runtime's name,
// cniVersion, runtimeConfig and prevResult filled in): decoded, checked, with every mistake a
// CNI error naming the key.

import { z } from 'zod';
import { CniCode, CniError } from './cni-error.js';
import { type CniVersion, requireSupportedVersion } from './cni-version.js';

export const PLUGIN_TYPE = 'pontoon-cni';
export const DEFAULT_SOCKET = '/run/pontoon/pontoon.sock';

const portMappingSchema = z.looseObject({
  hostPort: z.number().int().min(0).max(65535),
  containerPort: z.number().int().min(1).max(65535),
  protocol: z.string().optional(),
  hostIP: z.string().optional(),
});

const runtimeConfigSchema = z.looseObject({
  portMappings: z.array(portMappingSchema).optional(),
  ips: z.array(z.string()).optional(),
  /** Podman: the aliases of the container on each network, keyed by the network's (conflist) name */
  aliases: z.record(z.string(), z.array(z.string())).optional(),
});

// loose: a config carries keys for other plugins and runtimes (capabilities, args, ...)
const netConfigSchema = z.looseObject({
  cniVersion: z.string(),
  name: z.string().min(1),
  type: z.string(),
  network: z.string().min(1),
  socket: z.string().min(1).optional(),
  ipam: z.unknown().optional(),
  /** the reference macvlan plugin's keys: the parent and the mode the network must have */
  master: z.string().min(1).optional(),
  mode: z.string().min(1).optional(),
  runtimeConfig: runtimeConfigSchema.optional(),
  prevResult: z.unknown().optional(),
});

export type PortMappingRequest = z.infer<typeof portMappingSchema>;

export interface NetConfig {
  cniVersion: CniVersion;
  /** the runtime's name of the network (the conflist's "name") */
  name: string;
  /** the pontoon network */
  network: string;
  socket: string;
  /** "master" and "mode" as a config written for the reference macvlan plugin has them: checked against the network's parent and macvlan_mode */
  macvlan: { master?: string; mode?: string };
  portMappings: PortMappingRequest[];
  ips: string[];
  aliases: string[];
  prevResult: unknown;
}

const EXPECTED: Record<string, string> = { object: 'a JSON object', array: 'a JSON array', string: 'a string', number: 'a number', int: 'an integer' };

function issueText(issue: z.core.$ZodIssue): string {
  const path = issue.path.map(String).join('.');
  const where = path === '' ? 'the configuration' : JSON.stringify(path);
  if (issue.code === 'invalid_type') {
    return issue.input === undefined ? `${where} is missing` : `${where}: expected ${EXPECTED[issue.expected] ?? issue.expected}`;
  }
  return `${where}: ${issue.message}`;
}

/** The cniVersion of whatever came on stdin, if it names one: errors are answered in it. */
export function versionOf(stdin: string): string | null {
  try {
    const v = (JSON.parse(stdin) as { cniVersion?: unknown } | null)?.cniVersion;
    return typeof v === 'string' ? v : null;
  } catch {
    return null;
  }
}

export function parseNetConfig(stdin: string): NetConfig {
  let json: unknown;
  try {
    json = JSON.parse(stdin);
  } catch (e) {
    throw new CniError(CniCode.decodingFailure, 'cannot decode the network configuration: it is not JSON', (e as Error).message);
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw new CniError(CniCode.decodingFailure, 'cannot decode the network configuration: it is not a JSON object');
  }
  const version = (json as { cniVersion?: unknown }).cniVersion;
  if (typeof version === 'string') requireSupportedVersion(version);
  const r = netConfigSchema.safeParse(json, { reportInput: true });
  if (!r.success) throw new CniError(CniCode.invalidNetworkConfig, `invalid network configuration: ${issueText(r.error.issues[0]!)}`);
  const c = r.data;
  if (c.type !== PLUGIN_TYPE) {
    throw new CniError(CniCode.invalidNetworkConfig, `invalid network configuration: "type" is ${JSON.stringify(c.type)}, this plugin is ${JSON.stringify(PLUGIN_TYPE)}`);
  }
  if (c.ipam !== undefined) {
    throw new CniError(CniCode.unsupportedField, 'unsupported field "ipam": the pontoon daemon allocates the addresses of its networks itself');
  }
  const rc = c.runtimeConfig ?? {};
  const aliases = rc.aliases?.[c.name] ?? [];
  return {
    cniVersion: requireSupportedVersion(c.cniVersion),
    name: c.name,
    network: c.network,
    socket: c.socket ?? DEFAULT_SOCKET,
    macvlan: { ...(c.master !== undefined ? { master: c.master } : {}), ...(c.mode !== undefined ? { mode: c.mode } : {}) },
    portMappings: rc.portMappings ?? [],
    ips: rc.ips ?? [],
    aliases,
    prevResult: c.prevResult,
  };
}

// The CNI versions the plugin speaks; the config's cniVersion decides the shape of the result.

import { CniCode, CniError } from './cni-error.js';

export const SUPPORTED_VERSIONS = ['0.3.0', '0.3.1', '0.4.0', '1.0.0'] as const;
export type CniVersion = (typeof SUPPORTED_VERSIONS)[number];
export const NEWEST_VERSION: CniVersion = '1.0.0';

export function isSupportedVersion(v: unknown): v is CniVersion {
  return typeof v === 'string' && (SUPPORTED_VERSIONS as readonly string[]).includes(v);
}

export function requireSupportedVersion(v: string): CniVersion {
  if (isSupportedVersion(v)) return v;
  throw new CniError(
    CniCode.incompatibleVersion,
    `incompatible CNI version ${JSON.stringify(v)}: pontoon-cni supports ${SUPPORTED_VERSIONS.join(', ')}`,
  );
}

/** Before 1.0.0 an IP of a result names its family ("version": "4"). */
export const ipsCarryVersion = (v: CniVersion): boolean => v !== '1.0.0';

/** CHECK exists since 0.4.0. */
export const knowsCheck = (v: CniVersion): boolean => v === '0.4.0' || v === '1.0.0';

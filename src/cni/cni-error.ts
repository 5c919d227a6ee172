// The errors a CNI plugin answers with: the spec's well-known codes and pontoon's own (100 and up),
// printed as the spec's error JSON on stdout with a non-zero exit.

/** CNI SPEC.md "Error codes"; 100 and above are the plugin's own. */
export const CniCode = {
  incompatibleVersion: 1,
  unsupportedField: 2,
  unknownContainer: 3,
  invalidEnvironment: 4,
  decodingFailure: 6,
  invalidNetworkConfig: 7,
  tryAgainLater: 11,
  /** the daemon refused the request (its one-line reason is the message) */
  daemonRefused: 100,
  /** the network named in the config does not exist in the daemon */
  unknownNetwork: 101,
  /** CHECK: the attachment is not what the previous result says */
  checkFailed: 102,
} as const;

export type CniCodeNumber = (typeof CniCode)[keyof typeof CniCode];

export class CniError extends Error {
  constructor(
    readonly code: CniCodeNumber,
    message: string,
    readonly details = '',
  ) {
    super(message);
    this.name = 'CniError';
  }

  /** The error JSON of the spec, in the config's version (or the newest one when it had none we know). */
  toJson(cniVersion: string): { cniVersion: string; code: number; msg: string; details?: string } {
    return { cniVersion, code: this.code, msg: this.message, ...(this.details !== '' ? { details: this.details } : {}) };
  }
}

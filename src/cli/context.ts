// What every command gets: where to print and how to reach the daemon.

import type { Command } from 'commander';
import type { ApiClientLike } from './api-client.js';

export interface CliIo {
  /** Writes to standard output; the text carries its own newlines. */
  out(s: string): void;
  /** Writes to standard error; the text carries its own newlines. */
  err(s: string): void;
}

export interface CliContext {
  io: CliIo;
  /** A client for the socket chosen by --socket / PONTOON_SOCKET, for the command being run. */
  client(cmd: Command): ApiClientLike;
}

/** Ends the command with an exit code after it has printed its own errors. */
export class CliExit extends Error {
  constructor(readonly code: number) {
    super(`exit ${code}`);
    this.name = 'CliExit';
  }
}

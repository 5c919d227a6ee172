// The pontoon command line, built so tests can run it in-process with a fake API client.

import { Command, CommanderError } from 'commander';
import { ApiClient, type ApiClientLike } from './api-client.js';
import { cniCommand } from './commands/cni.js';
import { daemonCommand } from './commands/daemon.js';
import { conntrackCommand } from './commands/conntrack.js';
import { networkCommand, portCommand } from './commands/network.js';
import { statusCommand } from './commands/status.js';
import { peerCommand } from './commands/peer.js';
import { serviceCommand } from './commands/service.js';
import { topCommand } from './commands/top.js';
import { CliExit, type CliContext, type CliIo } from './context.js';
import { packageVersion } from './package-info.js';

export const DEFAULT_SOCKET = '/run/pontoon/pontoon.sock';

/** Every command gets "See 'pontoon network create --help'." after a usage error. */
function addUsageHints(cmd: Command, prefix: string): void {
  const full = prefix === '' ? cmd.name() : `${prefix} ${cmd.name()}`;
  cmd.showHelpAfterError(`See '${full} --help'.`);
  for (const sub of cmd.commands) addUsageHints(sub, full);
}

export function buildProgram(
  io: CliIo,
  clientFactory: (socket: string) => ApiClientLike = (socket) => new ApiClient(socket),
  env: NodeJS.ProcessEnv = process.env,
): Command {
  const program = new Command('pontoon');
  program
    .description('A userspace container-network gateway that works like `docker network`')
    .version(packageVersion(), '-v, --version', 'print the version')
    .option('--socket <path>', 'API socket of the daemon (env PONTOON_SOCKET)', env['PONTOON_SOCKET'] || DEFAULT_SOCKET)
    .exitOverride()
    .configureOutput({
      writeOut: (s) => io.out(s),
      writeErr: (s) => io.err(s),
      outputError: (s, write) => write(s),
    });

  const ctx: CliContext = {
    io,
    client: (cmd) => clientFactory((cmd.optsWithGlobals() as { socket: string }).socket),
  };
  daemonCommand(program);
  networkCommand(ctx, program);
  statusCommand(ctx, program);
  portCommand(ctx, program);
  conntrackCommand(ctx, program);
  peerCommand(ctx, program);
  serviceCommand(ctx, program);
  topCommand(ctx, program);
  cniCommand(ctx, program);
  addUsageHints(program, '');
  return program;
}

/**
 * Runs one command line (without "node" and the script) and returns the exit code: 0, 1 after an
 * error (printed as one "Error: ..." line), 2 after a usage error (commander's message + a hint).
 */
export async function runCli(
  args: string[],
  io: CliIo,
  clientFactory?: (socket: string) => ApiClientLike,
  env: NodeJS.ProcessEnv = process.env,
): Promise<number> {
  const program = buildProgram(io, clientFactory, env);
  try {
    await program.parseAsync(args, { from: 'user' });
    return 0;
  } catch (e) {
    if (e instanceof CliExit) return e.code;
    if (e instanceof CommanderError) return e.exitCode === 0 ? 0 : 2;
    const message = e instanceof Error ? e.message : String(e);
    io.err(`Error: ${message.split('\n')[0]}\n`);
    return 1;
  }
}

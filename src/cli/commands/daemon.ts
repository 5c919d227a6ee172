// `pontoon daemon`: runs the gateway in the foreground.

import { join } from 'node:path';
import type { Command } from 'commander';
import { packageRoot } from '../package-info.js';

/** config/pontoon.yaml of the installed package, whatever the working directory. */
export function defaultConfigPath(): string {
  return join(packageRoot(), 'config', 'pontoon.yaml');
}

export function daemonCommand(parent: Command): Command {
  return parent
    .command('daemon')
    .description('Run the pontoon daemon in the foreground')
    .option('-c, --config <file>', 'configuration file (default: config/pontoon.yaml of the package)')
    .action(async (o: { config?: string }) => {
      const { runDaemon } = await import('../../control/daemon.js');
      await runDaemon(o.config ?? defaultConfigPath());
    });
}

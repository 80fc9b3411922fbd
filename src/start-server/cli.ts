// The start_server command. Exit status: 0 after a clean stop, 2 for bad options (before anything is
// opened), 1 for anything else that went wrong.

import { restartServer, stopServer } from './control';
import { parseCommandLine, USAGE, UsageError, type Command } from './options';
import { startServer } from './superdaemon';

/** The Server::Starter version whose behaviour this implements (what Perl's `--version` prints). */
export const SERVER_STARTER_VERSION = '0.35';

export async function main(argv: readonly string[]): Promise<number> {
  let command: Command;
  try {
    command = parseCommandLine(argv);
  } catch (err) {
    return fail(err, 2);
  }
  try {
    switch (command.action) {
      case 'help':
        process.stdout.write(USAGE);
        return 0;
      case 'version':
        process.stdout.write(`${SERVER_STARTER_VERSION}\n`);
        return 0;
      case 'restart':
        await restartServer(command.options);
        return 0;
      case 'stop':
        await stopServer(command.options, (line) => process.stderr.write(`${line}\n`));
        return 0;
      case 'start':
        await startServer(command.options);
        return 0;
    }
  } catch (err) {
    return fail(err, err instanceof UsageError ? 2 : 1);
  }
}

function fail(err: unknown, status: number): number {
  const message = err instanceof Error ? err.message : String(err);
  const hint = err instanceof UsageError ? ' (see start_server --help)' : '';
  process.stderr.write(`start_server: ${message.split('\n')[0]}${hint}\n`);
  return status;
}

if (require.main === module) {
  void main(process.argv.slice(2)).then((status) => process.exit(status));
}

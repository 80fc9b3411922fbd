// The fcgi-pm command. Exit status: 2 for bad options or a socket that cannot be bound (before
// anything forks); 0 for --help, --version and a good --check-config. A running manager exits
// as ProcManager's does (0 after TERM, 1 after die_timeout).

import * as fs from 'node:fs';
import * as path from 'node:path';
import { preflight } from '../preflight';
import { describeListen } from '../socket/address';
import { loadConfigFile, effectiveParams } from './config';
import { parameterFlags } from './flags';
import { parseCommandLine, UsageError, type RunCommand } from './command-line';
import { defaultProcesses, planApp, runApp, type AppPlan, type RunAppOptions } from './run-app';
import { usage } from './usage';
import { controlSocketPath } from '../control/path';
import { isPoolCommand, likelyCommand, runPoolCommand } from './pool-commands';

export async function main(argv: readonly string[]): Promise<number> {
  // `fcgi-pm status` and its kind talk to a running pool (an app named so is run as ./status).
  if (isPoolCommand(argv[0])) return runPoolCommand(argv[0], argv.slice(1));
  let plan: AppPlan;
  let command;
  try {
    command = parseCommandLine(argv);
    if (command.action === 'help') return print(usage(parameterFlags()));
    if (command.action === 'version') return print(`${packageVersion()}\n`);
    const meant = fs.existsSync(command.app) ? undefined : likelyCommand(command.app);
    if (meant) throw new UsageError(`${command.app} is neither an app nor a command (did you mean fcgi-pm ${meant}?)`);
    warnOfFlagsAfterTheApp(command);
    plan = planApp(await runOptions(command));
    if (command.action === 'check') {
      // The check pass a start runs before it forks (src/preflight.ts), creating nothing.
      const socket = describeListen(preflight(plan.params, { check: true }).address);
      return print(`${JSON.stringify(effectiveConfiguration(plan, command.configFile, socket), null, 2)}\n`);
    }
  } catch (err) {
    return fail(err);
  }
  try {
    // A reload reads the config file again; the flags still win over it.
    const reread = command.configFile === undefined ? undefined : () => runOptions(command);
    return await runApp({ ...plan.params, app: plan.app, args: plan.args }, reread);
  } catch (err) {
    return fail(err); // bad socket: nothing has forked
  }
}

/**
 * What --check-config prints: the app, then every parameter in the order of the flags (null: unset),
 * then where the pool will listen and where its control socket will be.
 */
function effectiveConfiguration(plan: AppPlan, configFile: string | undefined, socket: string): Record<string, unknown> {
  const params = Object.fromEntries(parameterFlags().map((flag) => [flag.param, plan.params[flag.param] ?? null]));
  // A file mode reads as it is written: 0660, not 432.
  if (typeof params.listen_mode === 'number') params.listen_mode = `0${params.listen_mode.toString(8)}`;
  return { app: plan.app, args: plan.args, config_file: configFile ?? null, ...params, socket, control_socket: controlSocketPath(plan.params) ?? null };
}

async function runOptions(command: RunCommand): Promise<RunAppOptions> {
  const fileParams = command.configFile === undefined ? {} : await loadConfigFile(command.configFile);
  const params = effectiveParams(fileParams, command.flagParams, defaultProcesses());
  return { ...params, app: command.app, args: command.args };
}

/**
 * Everything after the app's path is the app's (as with node and PM2's `--`), so a flag of fcgi-pm's
 * given there goes to the app: said once, since the app may take a flag of the same name.
 */
function warnOfFlagsAfterTheApp(command: RunCommand): void {
  const ours = new Set(['--config', '--check-config']);
  for (const flag of parameterFlags()) {
    ours.add(`--${flag.name}`);
    for (const alias of flag.aliases) ours.add(`--${alias}`);
    if (flag.short) ours.add(`-${flag.short}`);
  }
  const misplaced = command.args.find((arg) => ours.has(arg.split('=')[0]!));
  if (misplaced) {
    process.stderr.write(`fcgi-pm: ${misplaced.split('=')[0]} comes after the app (${command.app}), so it is the app's own argument; fcgi-pm's options go before the app\n`);
  }
}

function print(text: string): number {
  process.stdout.write(text);
  return 0;
}

function fail(err: unknown): number {
  const message = err instanceof Error ? err.message : String(err);
  const hint = err instanceof UsageError ? '; see fcgi-pm --help' : '';
  process.stderr.write(`fcgi-pm: ${message.split('\n')[0]}${hint}\n`);
  return 2;
}

function packageVersion(): string {
  const pkg = JSON.parse(fs.readFileSync(path.join(__dirname, '..', '..', 'package.json'), 'utf8')) as { version: string };
  return pkg.version;
}

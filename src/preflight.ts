// Everything a manager's start checks before it opens or forks anything, in one pass: the
// parameters that go together (params.ts's checkParamCombinations, pm's limits, user and group),
// what the pool needs of this machine (the accounts, posix-node for pm = ondemand, a socket to
// listen on) and the files it will write. ProcManager.manage() runs it, and so does
// `fcgi-pm --check-config`, which therefore refuses exactly what a start refuses (PHP-FPM's
// `php-fpm -t` runs its one check pass the same way). A check run opens and creates nothing.

import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as util from 'node:util';
import { HOW_TO_GIVE_A_SOCKET, type ListenAddress, noDirectoryFor, resolveListenAddress, type SocketOptions } from './socket/listen';
import { groupId, userId } from './os/accounts';
import { describeFileError } from './os/files';
import { planPrivileges, type PrivilegePlan } from './os/privileges';
import { checkParamCombinations, type Configuration } from './params';
import { poolSizing, type PoolSizing } from './pool/scaling';
import { canWatchSockets } from './pool/socket-watch';
import { describeListen } from './socket/address';
import { controlSocketPath } from './control/path';

export interface StartPlan {
  address: ListenAddress;
  /** listen_backlog, and a unix socket's mode, owner and group (the accounts looked up). */
  socket: SocketOptions;
  sizing: PoolSizing;
  privileges: PrivilegePlan;
  /** The control socket's path and group, or none. */
  control: { path: string; gid: number | undefined } | undefined;
  /** Why the default control socket (beside the pid file) is left out: its folder is missing. */
  controlLeftOut: string | undefined;
  /** env_file's variables, then env's: what the workers get over the manager's environment. */
  workerEnv: Record<string, string>;
}

/** The files a pool writes: the manager's log, and the workers' own (created for them as root). */
const WRITTEN_FILES = ['log_file', 'access_log', 'slowlog'] as const;

/**
 * Checks `params` (validated one by one already) for a start. With `check`, nothing is created:
 * files are only tested for whether they could be written. Throws with one line.
 */
export function preflight(params: Configuration, { check = false } = {}): StartPlan {
  checkParamCombinations(params);
  const address = resolveListenAddress(params.listen);
  if (!address) throw new Error(`no socket to listen on; ${HOW_TO_GIVE_A_SOCKET}`);
  if (address.kind === 'unix' && !fs.existsSync(path.dirname(address.path))) {
    throw noDirectoryFor(`listen ${describeListen(address)}`, address.path);
  }
  const { listen_owner: owner, listen_group: group } = params;
  const socket: SocketOptions = {
    backlog: params.listen_backlog,
    mode: params.listen_mode,
    uid: owner === undefined ? undefined : userId(owner, 'listen_owner'),
    gid: group === undefined ? undefined : groupId(group, 'listen_group'),
  };
  const sizing = poolSizing(params);
  if (sizing.mode === 'ondemand' && !canWatchSockets()) {
    throw new Error("pm = ondemand needs posix-node (its pollSocket watches the socket for a waiting connection without accepting it); install it, or use pm = 'dynamic'");
  }
  if (params.node_args.length > 0) checkNodeArgs(params.node_args);
  const { control, leftOut: controlLeftOut } = planControlSocket(params);
  const workerEnv = { ...(params.env_file ? readEnvFile(params.env_file) : {}), ...params.env };
  checkWatchPaths(params);
  for (const param of WRITTEN_FILES) {
    const file = params[param];
    if (file) checkWritable(param, file);
  }
  // As root with a user, the workers' own files are created and given to that user: not on a check.
  const handOver = check ? {} : { access_log: params.access_log, slowlog: params.slowlog };
  const privileges = planPrivileges(params.user, params.group, handOver);
  return { address, socket, sizing, privileges, control, controlLeftOut, workerEnv };
}

/** watch_paths must exist, and is for watch. */
function checkWatchPaths(params: Configuration): void {
  if (!params.watch_paths) return;
  if (!params.watch) throw new Error('watch_paths is for watch, which is off');
  for (const file of params.watch_paths) {
    if (!fs.existsSync(file)) throw new Error(`watch_paths ${file}: no such file or folder`);
  }
}

/** An env file's variables, read by Node's own .env parser (what node --env-file reads). */
function readEnvFile(file: string): Record<string, string> {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new Error(`env_file ${file}: ${describeFileError(err)}`);
  }
  return { ...util.parseEnv(text) } as Record<string, string>;
}

/**
 * The control socket, if any: its folder must exist, its path fit a unix socket, its group exist. A
 * default one whose folder is missing is left out, with why: a missing pid file folder is only a
 * warning (Perl's), and must not stop a start that worked before there was a control socket.
 */
function planControlSocket(params: Configuration): { control: StartPlan['control']; leftOut?: string } {
  const file = controlSocketPath(params);
  if (file === undefined) {
    if (params.control_group !== undefined) throw new Error('control_group is for a control socket, and there is none (give control, or pid_fname)');
    return { control: undefined };
  }
  const given = typeof params.control === 'string';
  if (Buffer.byteLength(file) > 107) {
    if (!given) return { control: undefined, leftOut: `no control socket: ${file} is longer than a unix socket path can be (107 bytes); give one with control` };
    throw new Error(`control ${file}: a unix socket path holds at most 107 bytes; give a shorter one`);
  }
  if (!fs.existsSync(path.dirname(file))) {
    if (!given) return { control: undefined, leftOut: `no control socket: the folder of ${file} is missing` };
    throw noDirectoryFor(`control ${file}`, file);
  }
  return { control: { path: file, gid: params.control_group === undefined ? undefined : groupId(params.control_group, 'control_group') } };
}

/** Refuses a file that could not be written: an existing one not writable, or a missing one in a folder that is missing or not writable. Creates nothing. */
function checkWritable(param: string, file: string): void {
  try {
    if (fs.existsSync(file)) fs.accessSync(file, fs.constants.W_OK);
    else fs.accessSync(path.dirname(path.resolve(file)), fs.constants.W_OK);
  } catch (err) {
    throw new Error(`${param} ${file}: ${describeFileError(err)}`);
  }
}

/**
 * Refuses node options this node does not take, by running it once with them: node's own parser is
 * the only complete list (V8's options included). The inspector's options are left out of the run,
 * which must bind no address.
 */
function checkNodeArgs(args: readonly string[]): void {
  // A reload checks its configuration again (twice: the file, and what will run): node runs once per set.
  const key = JSON.stringify(args);
  if (acceptedNodeArgs.has(key)) return;
  const tried = args.filter((arg) => !/^--(inspect|debug)/.test(arg));
  const run = spawnSync(process.execPath, [...tried, '-e', ''], { encoding: 'utf8', timeout: 30_000, env: { ...process.env, NODE_OPTIONS: '' } });
  if (run.status !== 0) {
    const lines = run.stderr.split('\n').map((line) => line.trim()).filter((line) => line !== '');
    const why = run.error?.message ?? lines.find((line) => /^\w*Error\b|bad option/.test(line)) ?? lines[0] ?? `exit status ${run.status ?? run.signal}`;
    throw new Error(`node_args ${args.join(' ')}: node refused them: ${why}`);
  }
  acceptedNodeArgs.add(key);
}

/** node_args that node has taken, in this process. */
const acceptedNodeArgs = new Set<string>();

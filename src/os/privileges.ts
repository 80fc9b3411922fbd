// user and group, decided in the manager before anything forks: what the workers are to become (the
// preload and its environment, os/drop-privileges.ts), and the line the manager logs about it.

import * as fs from 'node:fs';
import { account, groupId } from './accounts';
import { dropPrivilegesArgs, RUN_AS_ENV } from './drop-privileges';
import { openOrThrow } from './files';

export interface PrivilegePlan {
  /** Put in front of each worker's execArgv. */
  execArgv: string[];
  /** Added to each worker's environment. */
  env: Record<string, string>;
  /** What the manager says about it once it is up (as root with no user: a warning). */
  notice: { level: 'info' | 'warn'; text: string } | undefined;
  /** The workers' user and group, when they drop to them: the owner of what is made for them. */
  owner?: { uid: number; gid: number };
}

/**
 * As root with `user`: the workers drop to it, and the files they open themselves (`handOver`) are
 * given to it. As another user, only that same user is possible. As root with no user, one warning:
 * PHP-FPM refuses to run so, gunicorn does it silently. Throws on a bad combination.
 */
export function planPrivileges(user: string | number | undefined, group: string | number | undefined, handOver: Record<string, string | undefined>): PrivilegePlan {
  const isRoot = process.getuid?.() === 0;
  const none: PrivilegePlan = { execArgv: [], env: {}, notice: undefined };
  if (user === undefined) {
    if (group !== undefined) throw new Error('group needs user: the workers run as a user, with that group');
    return isRoot ? { ...none, notice: { level: 'warn', text: 'running the workers as root: set user (and group) to run them unprivileged' } } : none;
  }
  const runAs = account(user, 'user');
  if (group !== undefined) runAs.gid = groupId(group, 'group');
  if (!isRoot) {
    if (runAs.uid === process.getuid?.() && runAs.gid === process.getgid?.()) return none; // already so
    throw new Error(`user ${String(user)}: changing user needs a manager started as root (this one is uid ${process.getuid?.()})`);
  }
  for (const [param, file] of Object.entries(handOver)) {
    if (file) openOrThrow(param, file, (f) => {
      fs.closeSync(fs.openSync(f, 'a'));
      fs.chownSync(f, runAs.uid, runAs.gid);
    });
  }
  return {
    execArgv: dropPrivilegesArgs(),
    env: { [RUN_AS_ENV]: JSON.stringify(runAs) },
    owner: { uid: runAs.uid, gid: runAs.gid },
    notice: { level: 'info', text: `workers run as user ${runAs.name} (uid ${runAs.uid}, gid ${runAs.gid})` },
  };
}

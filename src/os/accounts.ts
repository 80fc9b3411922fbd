// User and group names to ids, as the system resolves them (getent, so NSS sources count), with
// /etc/passwd and /etc/group read directly where getent is missing. Numbers are taken as they are.

import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';

function lookup(database: 'passwd' | 'group', name: string): string[] | undefined {
  try {
    const line = execFileSync('getent', [database, name], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).split('\n')[0];
    if (line) return line.split(':');
  } catch {
    // no getent, or no such entry: read the file
  }
  try {
    const line = fs.readFileSync(`/etc/${database}`, 'utf8').split('\n').find((l) => l.split(':')[0] === name);
    return line?.split(':');
  } catch {
    return undefined;
  }
}

/** The uid of a user name or number; throws naming `param` when there is no such user. */
export function userId(value: string | number, param: string): number {
  if (typeof value === 'number' || /^\d+$/.test(value)) return Number(value);
  const entry = lookup('passwd', value);
  if (!entry) throw new Error(`${param}: no such user ${JSON.stringify(value)}`);
  return Number(entry[2]);
}

/** The gid of a group name or number; throws naming `param` when there is no such group. */
export function groupId(value: string | number, param: string): number {
  if (typeof value === 'number' || /^\d+$/.test(value)) return Number(value);
  const entry = lookup('group', value);
  if (!entry) throw new Error(`${param}: no such group ${JSON.stringify(value)}`);
  return Number(entry[2]);
}

export interface Account {
  name: string;
  uid: number;
  /** The user's primary group. */
  gid: number;
}

/** A user by name or uid, with its primary group; throws naming `param` when there is no such user. */
export function account(value: string | number, param: string): Account {
  const entry = lookup('passwd', String(value));
  if (entry) return { name: entry[0]!, uid: Number(entry[2]), gid: Number(entry[3]) };
  if (typeof value === 'number' || /^\d+$/.test(String(value))) {
    // A uid with no passwd entry: no name, so no supplementary groups to look up.
    return { name: String(value), uid: Number(value), gid: Number(value) };
  }
  throw new Error(`${param}: no such user ${JSON.stringify(value)}`);
}

// user and group: each worker becomes that user before any application code runs. Loaded with
// `--require` first in every worker (the manager puts it in front of execArgv), it sets the
// supplementary groups with initgroups(3), then the group, then the user, from the environment the
// manager gave it, and removes that variable. node:cluster's own uid/gid options would not do:
// libuv calls setgroups(0) and never initgroups, so every supplementary group would be lost.

/** What the worker is to become, as JSON: { name, uid, gid }. */
export const RUN_AS_ENV = 'FCGI_PM_RUN_AS';

/** The execArgv entry that loads this file. */
export function dropPrivilegesArgs(): string[] {
  return ['--require', __filename];
}

function dropPrivileges(encoded: string): void {
  delete process.env[RUN_AS_ENV];
  const { name, uid, gid } = JSON.parse(encoded) as { name: string; uid: number; gid: number };
  // POSIX only, so optional in Node's types.
  const proc = process as unknown as {
    initgroups(user: string, extraGroup: number): void;
    setgroups(groups: number[]): void;
    setgid(id: number): void;
    setuid(id: number): void;
  };
  try {
    if (/^\d+$/.test(name)) proc.setgroups([gid]);
    else proc.initgroups(name, gid);
    proc.setgid(gid);
    proc.setuid(uid);
  } catch (err) {
    process.stderr.write(`FastCGI: server (pid ${process.pid}): cannot become user ${name} (uid ${uid}, gid ${gid}): ${(err as Error).message}\n`);
    process.exit(2);
  }
}

const encoded = process.env[RUN_AS_ENV];
if (encoded !== undefined) dropPrivileges(encoded);

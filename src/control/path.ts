// Where a pool's control socket is: the `control` parameter, else beside the pid file, else in
// systemd's RuntimeDirectory. The manager and the `fcgi-pm status|reload|stop|scale|top` commands
// both ask here, so that a command given the pool's pid file or config file finds the same socket.
// Pure.

import * as path from 'node:path';

export interface ControlSocketParams {
  control?: string | false | undefined;
  pid_fname?: string | undefined;
}

/** The file name in $RUNTIME_DIRECTORY when neither `control` nor a pid file says where. */
export const RUNTIME_DIRECTORY_NAME = 'fcgi-pm.control';

/** The socket's absolute path, or undefined for none (`control: 'off'`, or nothing to derive it from). */
export function controlSocketPath(params: ControlSocketParams, env: NodeJS.ProcessEnv = process.env, cwd: string = process.cwd()): string | undefined {
  if (params.control === false) return undefined;
  if (params.control) return path.resolve(cwd, params.control);
  if (params.pid_fname) return path.resolve(cwd, params.pid_fname.replace(/\.pid$/, '') + '.control');
  // systemd's RuntimeDirectory= (several are separated by colons): the first is the unit's own.
  const runtime = env.RUNTIME_DIRECTORY?.split(':')[0];
  if (runtime) return path.join(path.resolve(cwd, runtime), RUNTIME_DIRECTORY_NAME);
  return undefined;
}

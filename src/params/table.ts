// Every parameter of a ProcManager, declared once: its kind of value, default, section, flag,
// environment variable, what other managers call it, whether a reload can change it, and its docs.
// The public parameter types, the validation, the defaults, fcgi-pm's flags and --help, the config
// file's keys, paramsFromEnv()'s variables and docs/configuration.md are all derived from this table
// (see ./index.ts); adding a parameter is adding an entry here, and using it.

import { DEFAULT_ACCESS_FORMAT } from '../log/access-format';
import * as kind from './value-types';
import type { ValueType } from './value-types';

/** The reference's and --help's sections, in their order. */
export const SECTIONS = {
  pool: 'Pool size',
  socket: 'The listening socket',
  reload: 'Reloads and shutdown',
  recycle: 'Recycling',
  timeouts: 'Stuck requests and blocked workers',
  logging: 'Logging',
  status: 'Status and ping',
  control: 'The control socket',
  process: 'The processes',
} as const;

export type Section = keyof typeof SECTIONS;

export interface ParameterSpec<In, Out> {
  type: ValueType<In, Out>;
  section: Section;
  /** One line, for --help and the reference. */
  doc: string;
  /** More for the reference, when there is more to say. */
  details?: string;
  default?: Out;
  /** How the default is worked out, when it is not a constant (or to say what a constant means). */
  defaultText?: string;
  /** A one-letter flag. */
  short?: string;
  /** Other long flags for it, without dashes (the names users know from other tools). */
  aliases?: readonly string[];
  /** The --help placeholder, when the value type's own says less. */
  placeholder?: string;
  /** The variable paramsFromEnv() reads, when not `PM_<NAME>`; false for none. */
  env?: string | false;
  /** What other process managers call it (gunicorn, PHP-FPM, PM2, unicorn, Puma): suggested for those names. */
  otherNames?: readonly string[];
  /** Whether a reload (HUP) can apply a new value, or only a restart can. */
  reload: 'applies' | 'needs restart';
  /** Why neither a flag nor a config file can set it (the library-only parameters). */
  notConfigurable?: string;
  /** In Perl's FCGI::ProcManager, or new here (most, from PHP-FPM, gunicorn and unicorn). */
  perl?: true;
}

/** Identity, for the types: each entry's value types are checked against its default. */
function param<In, Out, const S extends ParameterSpec<In, Out>>(spec: S & ParameterSpec<In, Out>): S {
  return spec;
}

export const PARAMETERS = {
  // ---- Pool size
  n_processes: param({
    type: kind.count,
    section: 'pool',
    perl: true,
    doc: 'workers to keep alive',
    details: 'In code, 0 or none means no manager: the calling process serves requests itself. fcgi-pm needs at least 1.',
    default: 0,
    defaultText: 'the number of CPUs in fcgi-pm; 0 in code, which is no manager',
    short: 'n',
    aliases: ['processes'],
    otherNames: ['workers', 'num_workers', 'worker_processes', 'processes', 'instances', 'max_children', 'pm_max_children'],
    reload: 'applies',
  }),
  pm: param({
    type: kind.processManagerMode,
    section: 'pool',
    doc: 'how the pool is sized: static (n_processes workers), dynamic or ondemand (n_processes is the maximum)',
    details: "PHP-FPM's `pm`: `static` keeps `n_processes` workers; `dynamic` sizes the pool between the spares below, and `ondemand` from none at rest, each with `n_processes` as the maximum (`pm.max_children`). `ondemand` needs posix-node.",
    default: 'static',
    reload: 'needs restart',
  }),
  start_servers: param({
    type: kind.positiveCount,
    section: 'pool',
    doc: 'pm dynamic: workers at start',
    defaultText: 'min_spare_servers + (max_spare_servers - min_spare_servers) / 2',
    otherNames: ['pm_start_servers'],
    reload: 'applies',
  }),
  min_spare_servers: param({
    type: kind.positiveCount,
    section: 'pool',
    doc: 'pm dynamic: fewer idle workers than this and more start',
    details: 'More are started at a rate that doubles each second (1, 2, 4, ...) up to `max_spawn_rate`. Required by `pm = dynamic`.',
    otherNames: ['pm_min_spare_servers'],
    reload: 'applies',
  }),
  max_spare_servers: param({
    type: kind.positiveCount,
    section: 'pool',
    doc: 'pm dynamic: more idle workers than this and one retires each second',
    details: 'The oldest idle worker retires. Required by `pm = dynamic`.',
    otherNames: ['pm_max_spare_servers'],
    reload: 'applies',
  }),
  max_spawn_rate: param({
    type: kind.positiveCount,
    section: 'pool',
    doc: 'pm dynamic: the most workers started in one second',
    default: 32,
    otherNames: ['pm_max_spawn_rate'],
    reload: 'applies',
  }),
  process_idle_timeout: param({
    type: kind.positiveSeconds,
    section: 'pool',
    doc: 'pm ondemand: seconds a worker may idle before it retires',
    default: 10,
    otherNames: ['pm_process_idle_timeout'],
    reload: 'applies',
  }),

  // ---- The listening socket
  listen: param({
    type: kind.listenAddress,
    section: 'socket',
    doc: 'unix socket path, host:port or port; a socket inherited on fd 0, from start_server or systemd wins',
    details: 'Not in Perl, where FCGI opens the socket: a unix path (`/run/app.sock`, `unix:app.sock`), `host:port`, `[v6]:port`, a port (all addresses, as PHP-FPM\'s `listen = 9000`), or `{ fd }` in code. A URL such as `tcp://127.0.0.1:9000` is refused with the address to write instead.',
    short: 'l',
    env: 'FCGI_LISTEN',
    otherNames: ['bind', 'socket'],
    reload: 'needs restart',
  }),
  listen_owner: param({
    type: kind.userName,
    section: 'socket',
    doc: "a unix socket's owner: a user name or uid",
    defaultText: "the manager's user",
    reload: 'needs restart',
  }),
  listen_group: param({
    type: kind.groupName,
    section: 'socket',
    doc: "a unix socket's group: a group name or gid",
    defaultText: "the manager's group",
    reload: 'needs restart',
  }),
  listen_mode: param({
    type: kind.fileMode,
    section: 'socket',
    doc: "a unix socket's mode, octal",
    details: "PHP-FPM's default since CVE-2014-0185: the owner and the group may connect, nobody else. Mode and owner are set between bind(2) and listen(2), when connect(2) is still refused, so there is no moment at which others could connect. A TCP socket ignores `listen_owner`, `listen_group` and `listen_mode`.",
    default: 0o660,
    defaultText: '0660',
    reload: 'needs restart',
  }),
  listen_backlog: param({
    type: kind.positiveCount,
    section: 'socket',
    doc: 'the listen backlog of a socket fcgi-pm opens',
    details: "Each worker's listen(2) repeats it (a listen on a listening socket sets the backlog anew); a socket inherited from start_server or systemd keeps its own.",
    default: 511,
    otherNames: ['backlog'],
    reload: 'needs restart',
  }),
  listen_allowed_clients: param({
    type: kind.addressList,
    section: 'socket',
    doc: 'TCP: the client addresses allowed, comma-separated',
    details: "Any other client is closed at accept and logged `connection disallowed: IP address '192.0.2.7' has been dropped`.",
    defaultText: 'all',
    otherNames: ['allowed_clients'],
    reload: 'applies',
  }),

  // ---- Reloads and shutdown
  die_timeout: param({
    type: kind.seconds,
    section: 'reload',
    perl: true,
    doc: 'seconds to wait for workers after TERM before KILL; 0: for ever',
    details: "The manager then KILLs the workers left and exits 1. 0 waits forever (as Perl's `alarm 0`).",
    default: 60,
    otherNames: ['graceful_timeout'],
    reload: 'applies',
  }),
  start_delay: param({
    type: kind.seconds,
    section: 'reload',
    perl: true,
    doc: 'seconds between two forks',
    default: 0,
    reload: 'applies',
  }),
  reload_surge: param({
    type: kind.positiveCount,
    section: 'reload',
    doc: 'on HUP, new workers started at once beyond n_processes',
    details: 'The pool never has more than `n_processes + reload_surge` processes, counting those still draining.',
    defaultText: 'n_processes',
    reload: 'applies',
  }),
  reload_timeout: param({
    type: kind.seconds,
    section: 'reload',
    doc: "seconds a reload's new workers have to accept before it is abandoned; 0: no bound",
    details: 'Past that, or when a new worker exits before it accepts, the reload is abandoned and the old workers serve on.',
    default: 30,
    reload: 'applies',
  }),
  reload_warmup: param({
    type: kind.seconds,
    section: 'reload',
    doc: 'seconds a new worker accepts beside the one it replaces before that one retires',
    details: 'On reload and recycle. A fresh Node process runs slowly until V8 has compiled its hot paths, so the warm worker carries the load meanwhile; 0 retires it as soon as the new one accepts.',
    default: 1,
    reload: 'applies',
  }),
  boot_nice: param({
    type: kind.niceSteps,
    section: 'reload',
    doc: 'nice steps lower a replacement worker boots at while the workers it replaces serve; 0: off',
    details: "Linux only. A worker that boots while the workers it replaces still serve (a reload, a recycle) boots at a nice this many steps above the manager's, and gets the manager's back (every thread of it) when it accepts, when the pool loses a serving worker meanwhile, or after 5 s at the latest. Booting a Node process costs about 110 ms of CPU, and at equal priority the boots take their share from the workers serving beside them. A worker that replaces missing capacity (the start, a crash, TTIN) boots at full priority. Giving the priority back needs CAP_SYS_NICE outside a user namespace or RLIMIT_NICE (systemd's `LimitNICE=`): without either the manager never lowers it, and says so for a value other than the default.",
    default: 10,
    reload: 'applies',
  }),

  watch: param({
    type: kind.onOff,
    section: 'reload',
    doc: "for development: a change to the app's files is a rolling reload",
    details: "PM2's `--watch`, gunicorn's `--reload`, `node --watch`. The folders of `watch_paths` (default: the app's folder) are watched, each with its subfolders but `node_modules` and dot folders; a change, once they have been quiet for 300 ms, is a reload as HUP makes one, and the log says which file changed. A release that fails to load is abandoned and the old workers serve on, as after a HUP.",
    default: false,
    otherNames: ['reload_on_change', 'watch_mode'],
    reload: 'needs restart',
  }),
  watch_paths: param({
    type: kind.pathList,
    section: 'reload',
    doc: 'what watch watches: files or folders, comma-separated',
    defaultText: "the app's folder",
    otherNames: ['watch_path', 'reload_extra_files'],
    reload: 'needs restart',
  }),

  // ---- Recycling
  max_requests: param({
    type: kind.count,
    section: 'recycle',
    doc: 'recycle a worker after this many requests; 0: never',
    details: "PHP-FPM's `pm.max_requests` (FCGI::ProcManager::Constrained has it too).",
    default: 0,
    otherNames: ['max_requests_per_child', 'pm_max_requests'],
    reload: 'applies',
  }),
  max_requests_jitter: param({
    type: kind.count,
    section: 'recycle',
    doc: "raise each worker's max_requests by a random 0..N, so they do not recycle together",
    default: 0,
    reload: 'applies',
  }),
  max_memory: param({
    type: kind.bytes,
    section: 'recycle',
    doc: 'recycle a worker whose RSS passes this: bytes, or 300M, 1G; 0: never',
    details: 'Binary units. Checked after requests (at most every 100 ms) and once a second while busy.',
    default: 0,
    otherNames: ['max_memory_restart'],
    reload: 'applies',
  }),

  // ---- Stuck requests and blocked workers
  request_terminate_timeout: param({
    type: kind.seconds,
    section: 'timeouts',
    doc: 'seconds a request may run before its worker ends it with a 503; 0: no limit',
    details: "PHP-FPM's name. The worker answers 503 (or cuts the connection of a response already begun), the app's request emits `aborted` and `close`, and its slot is freed; the worker serves on.",
    default: 0,
    otherNames: ['request_timeout'],
    reload: 'applies',
  }),
  worker_timeout: param({
    type: kind.seconds,
    section: 'timeouts',
    doc: 'KILL a worker whose event loop sends no heartbeat for this many seconds; 0: off',
    details: "gunicorn's `timeout`. It must exceed the app's longest synchronous stretch, start-up included.",
    default: 0,
    otherNames: ['timeout'],
    reload: 'needs restart',
  }),
  request_slowlog_timeout: param({
    type: kind.seconds,
    section: 'timeouts',
    doc: "log a request still running after this many seconds, with the worker's JavaScript stack; 0: off",
    details: "PHP-FPM's name. One slow-log entry per request, with the worker's JavaScript stack when its event loop is blocked.",
    default: 0,
    otherNames: ['request_slowlog', 'slowlog_timeout'],
    reload: 'applies',
  }),
  slowlog: param({
    type: kind.file,
    section: 'timeouts',
    doc: 'the slow log file; needs request_slowlog_timeout',
    details: 'USR1 reopens it.',
    defaultText: "the log: the worker's stderr, or log_file",
    reload: 'applies',
  }),

  // ---- Logging
  log_file: param({
    type: kind.file,
    section: 'logging',
    doc: "append the log (the pool's lines, the workers' stdout and stderr) here; USR1 reopens it",
    details: "Each line is written whole. Excludes `logger`.",
    defaultText: 'stderr',
    otherNames: ['error_log', 'errorlog'],
    reload: 'needs restart',
  }),
  log_timestamps: param({
    type: kind.onOff,
    section: 'logging',
    doc: 'begin each log line (the workers\' output included) with an ISO 8601 time',
    default: false,
    reload: 'needs restart',
  }),
  log_format: param({
    type: kind.logFormat,
    section: 'logging',
    doc: "the log's lines: 'text' (Perl's, the default) or 'json', one object a line",
    details: "With `json`, each line the pool writes is one JSON object with `time`, `level`, `pid`, `role` and `msg`, and the event's own fields (`worker` pid, `generation`, `slot`, `exitCode`, `signal`); the app's own stdout and stderr lines come through the manager wrapped as `role` `app`, with the worker's `pid` and their `stream`. PM2's `--log-type json`. Excludes `logger`.",
    default: 'text',
    otherNames: ['log_type', 'logformat'],
    reload: 'needs restart',
  }),
  access_log: param({
    type: kind.file,
    section: 'logging',
    doc: 'append one line per request here, in access_format; USR1 reopens it',
    details: 'Written by the worker that served the request.',
    defaultText: 'off',
    otherNames: ['accesslog'],
    reload: 'applies',
  }),
  access_format: param({
    type: kind.accessFormat,
    section: 'logging',
    doc: "the access log's line, with PHP-FPM's access.format tokens",
    default: DEFAULT_ACCESS_FORMAT,
    otherNames: ['access_log_format', 'access_logformat'],
    reload: 'applies',
  }),
  logger: param({
    type: kind.loggerObject,
    section: 'logging',
    doc: "an object with info, warn and error methods (pino, console) that gets the library's lines instead of stderr",
    details: 'Excludes `log_file` and `log_timestamps`.',
    env: false,
    reload: 'needs restart',
    notConfigurable: 'logger is for the library (new ProcManager({ logger })); fcgi-pm logs to stderr, or to --log-file',
  }),

  // ---- Status and ping
  status_path: param({
    type: kind.urlPath,
    section: 'status',
    doc: 'the status page, matched on SCRIPT_NAME, e.g. /status',
    details: "PHP-FPM's `pm.status_path`: answered in the worker before the app sees the request.",
    defaultText: 'off',
    otherNames: ['pm_status_path'],
    reload: 'applies',
  }),
  ping_path: param({
    type: kind.urlPath,
    section: 'status',
    doc: 'the ping page, matched on SCRIPT_NAME, e.g. /ping',
    details: "PHP-FPM's `ping.path`: answers `ping_response` with status 200, for health checks.",
    defaultText: 'off',
    reload: 'applies',
  }),
  ping_response: param({
    type: kind.text,
    section: 'status',
    doc: "the ping page's body",
    default: 'pong',
    reload: 'applies',
  }),
  status_listen: param({
    type: kind.statusAddress,
    section: 'status',
    doc: 'the manager answers status and ping over HTTP here: a unix path or 127.0.0.1:PORT',
    details: "PHP-FPM's `pm.status_listen`: at `status_path` (default `/status`) and `ping_path` (default `/ping`), while every worker is busy or blocked too.",
    defaultText: 'off',
    reload: 'needs restart',
  }),
  status_listen_public: param({
    type: kind.onOff,
    section: 'status',
    doc: 'allow status_listen on an address that is not loopback (?full shows request URIs)',
    default: false,
    reload: 'needs restart',
  }),

  // ---- The control socket
  control: param({
    type: kind.socketPathOrOff,
    section: 'control',
    doc: 'the unix socket that `fcgi-pm status`, `reload`, `stop`, `scale` and `top` talk to; off for none',
    details:
      "Made with mode 0600 and the manager's owner (0660 and `control_group` with one), so only those who could signal the manager can use it: connect(2) refuses everyone else. One JSON request a line, one JSON answer a line ([docs/control.md](control.md)). The default puts it beside the pid file (`app.pid` gives `app.control`), or in systemd's `$RUNTIME_DIRECTORY` as `fcgi-pm.control`; with neither there is none unless given.",
    defaultText: 'beside pid_fname, else $RUNTIME_DIRECTORY/fcgi-pm.control, else off',
    otherNames: ['control_socket', 'socket_path', 'rpc_socket'],
    reload: 'needs restart',
  }),
  control_group: param({
    type: kind.groupName,
    section: 'control',
    doc: 'a group whose members may use the control socket too (mode 0660)',
    defaultText: 'none: the owner only',
    reload: 'needs restart',
  }),

  // ---- The processes
  pid_fname: param({
    type: kind.file,
    section: 'process',
    perl: true,
    doc: "the manager's pid file",
    aliases: ['pid-file'],
    env: 'PM_PID_FILE',
    otherNames: ['pidfile', 'pid_file'],
    reload: 'needs restart',
  }),
  pm_title: param({
    type: kind.text,
    section: 'process',
    perl: true,
    doc: "the manager's process title (workers are titled node-fcgi)",
    default: 'node-fcgi-pm',
    placeholder: 'TITLE',
    aliases: ['title'],
    otherNames: ['proc_name', 'title'],
    reload: 'needs restart',
  }),
  no_signals: param({
    type: kind.onOff,
    section: 'process',
    perl: true,
    doc: 'leave signal handling to the application',
    default: false,
    reload: 'needs restart',
  }),
  user: param({
    type: kind.userName,
    section: 'process',
    doc: 'as root: the workers run as this user, with its groups',
    details: "PHP-FPM's `user`: each worker becomes this user, with its supplementary groups (initgroups), before any application code runs; the manager stays root (the socket, the pid file, signals). `access_log` and `slowlog` are handed to the user. As root without it, one warning; as another user, only that user itself is accepted.",
    reload: 'needs restart',
  }),
  group: param({
    type: kind.groupName,
    section: 'process',
    doc: "as root: the workers' group; needs user",
    defaultText: "the user's primary group",
    reload: 'needs restart',
  }),
  node_args: param({
    type: kind.nodeOptions,
    section: 'process',
    doc: 'node options for the workers, such as --max-old-space-size=512 --enable-source-maps',
    details: "PM2's `node_args`. They come after the manager's own node options, so they win where both set one. A start runs `node ARGS -e ''` once to check them (the `--inspect` family left out of that check), so an option this node does not know is refused before anything forks.",
    default: [],
    defaultText: 'none',
    otherNames: ['interpreter_args', 'node_options', 'exec_argv'],
    reload: 'applies',
  }),
  env_file: param({
    type: kind.file,
    section: 'process',
    doc: "variables for the workers, from a file in Node's .env syntax (as node --env-file reads it)",
    details: "Read by the manager at each start (a missing or unreadable file is refused before anything forks), with Node's own parser (`util.parseEnv`). The workers get these variables over the manager's environment, which is not changed; `env` wins over them. On the command line, name a file that exists: node itself looks for `--env-file` anywhere on its command line, after the script too, and exits 9 (`node: FILE: not found`) on a missing one before fcgi-pm runs (nodejs/node#54232); from a config file or `PM_ENV_FILE` a missing file gets fcgi-pm's own line.",
    otherNames: ['envfile', 'env_path'],
    reload: 'applies',
  }),
  env: param({
    type: kind.environment,
    section: 'process',
    doc: 'variables for the workers: an object in a config file, --env NAME=VALUE (repeated) on the command line',
    details: "PHP-FPM's `env[NAME]`, PM2's `env`, gunicorn's `--env`. Over `env_file` and the manager's environment, which is not changed. A config file's and the flags' add up, the flags winning name by name.",
    default: {},
    defaultText: 'none',
    otherNames: ['environment', 'raw_env'],
    reload: 'applies',
  }),
  max_semi_space: param({
    type: kind.count,
    section: 'process',
    doc: "the workers' young generation: V8's --max-semi-space-size, in MiB; 0 leaves it to V8",
    details:
      "Node 24's V8 lets the young generation grow to 128 MiB under load, Node 26's to about 50 (Node 22's to 16): that is most of what a worker's RSS grew by on those lines. 16 brings it back near Node 22's size: in the bench's kept-connection run, per worker, Node 24 207 → 127 MiB and Node 26 136 → 116 MiB, at 0.93 and 0.95 of the requests per second (CPU per request 1.01 and 1.07, within this machine's noise); 8 costs Node 24 a third more CPU per request ([benchmarks.md](benchmarks.md#worker-memory-and-the-young-generation)). Left out where the manager's own node options or `NODE_OPTIONS` already set it; `node_args` come after it and win.",
    default: 16,
    placeholder: 'MIB',
    otherNames: ['max_semi_space_size', 'semi_space', 'young_generation'],
    reload: 'applies',
  }),
  compile_cache: param({
    type: kind.onOff,
    section: 'process',
    doc: "keep the workers' compiled code on disk (Node 22.1+), so that each new worker skips compiling it",
    details: "A folder of the manager's in the temporary directory (given to `user`), removed when it exits, through `NODE_COMPILE_CACHE`; one the user sets wins. Node keys each entry by the module's source and its own version, so a reload onto changed files compiles them anew. On a Node without it, nothing is said and nothing changes.",
    default: true,
    reload: 'needs restart',
  }),
  role: param({
    type: kind.role,
    section: 'process',
    perl: true,
    doc: "'manager' or 'server' (a worker, in Perl's word); manage() sets it",
    default: 'manager',
    env: false,
    reload: 'needs restart',
    notConfigurable: 'role is set by manage() itself',
  }),
} as const;

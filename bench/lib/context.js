'use strict';
// What every phase shares: the temp dir with the sockets, one nginx in front of all of them, and
// starting a backend until it answers through nginx.

const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const processes = require('./processes');
const { startNginx, freePort } = require('./nginx');
const { startBackend, READY_LINE, BACKENDS } = require('./backends');
const { waitUntilAnswers } = require('./http');

/**
 * nginx's idle upstream pool per backend, as each would be configured. A Node worker serves many
 * connections at once: a pool as large as the client concurrency lets nginx keep them all. A Perl
 * or PHP-FPM worker serves one connection at a time and stays on a kept one until nginx closes it,
 * so a pool larger than the worker count leaves requests waiting behind idle connections.
 */
function keepalivePoolSize(id, options) {
  return BACKENDS[id]?.peer === 'node' ? options.keepaliveNode : options.keepalive;
}

class BenchContext {
  constructor(options, peers) {
    this.options = options;
    this.peers = peers;
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fcgi-bench-'));
    this.nginx = undefined;
    /** Instance name to 127.0.0.1:port, for those planned on TCP. */
    this.tcpAddresses = new Map();
  }

  /** Where instance `name` listens: its unix socket, or its TCP address if it was planned with `tcp`. */
  socketOf(name) {
    return this.tcpAddresses.get(name) ?? path.join(this.dir, `${name}.sock`);
  }

  /**
   * Starts nginx with a location for each planned instance: [{ name, id, tcp?, keepalive? }]. nginx only connects
   * on request, so instances can come and go behind it. `tcp: true` gives the instance a free port
   * on 127.0.0.1 instead of a unix socket.
   */
  async startNginx(planned) {
    for (const { name, tcp } of planned) if (tcp) this.tcpAddresses.set(name, `127.0.0.1:${await freePort()}`);
    const upstreams = planned.map(({ name, id, keepalive }) => ({
      name,
      socket: this.socketOf(name),
      script: id === 'php' ? path.join(__dirname, '..', 'apps', 'hello.php') : undefined,
      keepalive: keepalive ?? keepalivePoolSize(id, this.options),
    }));
    this.nginx = await startNginx({ bin: this.peers.nginx, dir: this.dir, upstreams });
    return this.nginx;
  }

  /**
   * Starts backend `id` as instance `name` and waits until it answers through nginx (and, for
   * ProcManager, until it logs that every worker accepts). `waitReady: false` returns at once;
   * `env`: extra environment variables for the backend.
   */
  async launch(id, { name = id, mode = 'plain', workers = this.options.workers, crashAtStart = false, nodeArgs, env, waitReady = true, timeoutMs = 30_000 } = {}) {
    const instance = startBackend(id, {
      name,
      dir: this.dir,
      socket: this.socketOf(name),
      workers,
      peers: this.peers,
      crashAtStart,
      nodeArgs,
      env,
    });
    instance.startedAtNs = process.hrtime.bigint();
    if (!waitReady) return instance;
    try {
      const answered = waitUntilAnswers(`${this.nginx.url(mode, name)}?pid`, { timeoutMs });
      const exited = instance.proc.exited.then((e) => {
        throw new Error(`${BACKENDS[id].label} exited (${e.code ?? e.signal}) before answering: ${instance.proc.lines.slice(-5).join(' | ')}`);
      });
      await Promise.race([answered, exited]);
      if (READY_LINE[id]) await instance.proc.waitFor(READY_LINE[id], timeoutMs);
    } catch (err) {
      await processes.stop(instance.proc);
      throw err;
    }
    return instance;
  }

  async stop(instance, options) {
    await processes.stop(instance.proc, options);
  }

  /** Stops everything and removes the temp dir (kept with BENCH_KEEP_TMP=1, for debugging). */
  async close() {
    await processes.stopAll();
    if (!process.env.BENCH_KEEP_TMP) fs.rmSync(this.dir, { recursive: true, force: true, maxRetries: 3 });
  }
}

module.exports = { BenchContext, keepalivePoolSize };

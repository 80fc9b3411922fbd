'use strict';
// systemd's notify protocol against a stand-in notify socket (a real unix datagram socket, bound by
// Python): READY with MAINPID and STATUS, RELOADING with MONOTONIC_USEC then READY at a HUP,
// STOPPING at TERM, WATCHDOG at half WATCHDOG_USEC; for a path and an abstract name. The workers do
// not see NOTIFY_SOCKET.

const test = require('node:test');
const assert = require('node:assert/strict');
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const { tempDir, startHello, livePids, eventually, sleep, skipWithout, have } = require('../helpers/helpers');

const PYTHON = '/usr/bin/python3';
const RECEIVER = path.join(__dirname, '..', 'fixtures', 'notify-receiver.py');
const skip = skipWithout(have('systemd-notify') && fs.existsSync(PYTHON), 'systemd-notify (systemd) and python3 are needed');

function startReceiver(address) {
  const child = spawn(PYTHON, [RECEIVER, address], { stdio: ['ignore', 'pipe', 'inherit'] });
  const messages = [];
  let ready;
  const isReady = new Promise((resolve) => (ready = resolve));
  let partial = '';
  child.stdout.on('data', (chunk) => {
    partial += chunk;
    const lines = partial.split('\n');
    partial = lines.pop();
    for (const line of lines) {
      if (line === 'ready') ready();
      else messages.push(JSON.parse(line));
    }
  });
  return { child, messages, isReady };
}

for (const kind of ['a path', 'an abstract name']) {
  test(`NOTIFY_SOCKET as ${kind}: READY, RELOADING then READY at a HUP, WATCHDOG at half WATCHDOG_USEC, STOPPING at TERM`, { skip }, async () => {
    const address = kind === 'a path' ? path.join(tempDir(), 'notify') : `@fcgi-pm-test-${process.pid}-${Date.now()}`;
    const receiver = startReceiver(address);
    await receiver.isReady;
    try {
      const pm = await startHello({ n: 2, env: { NOTIFY_SOCKET: address, WATCHDOG_USEC: '1000000', PM_RELOAD_WARMUP: '0' } });
      // systemd-notify follows each message with BARRIER=1 (it waits until the socket's owner has read it).
      const fields = () => receiver.messages.map((m) => m.fields).filter((f) => !f.BARRIER);
      assert.ok(await eventually(() => fields().some((f) => f.READY === '1'), 10_000), 'READY=1');
      const ready = fields().find((f) => f.READY === '1');
      assert.equal(ready.MAINPID, String(pm.pid), 'MAINPID is the manager');
      assert.equal(ready.STATUS, '2 of 2 servers accepting, generation 1');

      for (const pid of livePids(pm)) {
        assert.doesNotMatch(fs.readFileSync(`/proc/${pid}/environ`, 'utf8'), /(^|\0)(NOTIFY_SOCKET|WATCHDOG_USEC)=/, 'the workers do not see it');
      }

      const count = fields().length;
      pm.kill('SIGHUP');
      await pm.waitFor(/reload complete: generation 2/, 20_000);
      assert.ok(await eventually(() => fields().slice(count).some((f) => f.READY === '1'), 5_000), 'READY=1 after the reload');
      const afterHup = fields().slice(count).filter((f) => !f.WATCHDOG);
      assert.equal(afterHup[0].RELOADING, '1');
      assert.match(afterHup[0].MONOTONIC_USEC, /^\d+$/);
      assert.ok(Number(afterHup[0].MONOTONIC_USEC) > 0);
      assert.equal(afterHup[1].READY, '1');
      assert.equal(afterHup[1].STATUS, '2 of 2 servers accepting, generation 2');

      // WATCHDOG_USEC=1 s: at least every 0.5 s.
      const before = receiver.messages.filter((m) => m.fields.WATCHDOG === '1').length;
      await sleep(2600);
      const pings = receiver.messages.filter((m) => m.fields.WATCHDOG === '1');
      assert.ok(pings.length - before >= 4, `${pings.length - before} WATCHDOG=1 in 2.6 s`);
      const gaps = pings.slice(1).map((m, i) => m.at - pings[i].at);
      assert.ok(Math.max(...gaps.slice(-4)) < 1.0, `within WATCHDOG_USEC: ${gaps.map((g) => g.toFixed(2))}`);

      pm.kill('SIGTERM');
      assert.equal((await pm.exited).code, 0);
      assert.ok(await eventually(() => fields().some((f) => f.STOPPING === '1'), 5_000), 'STOPPING=1');
    } finally {
      receiver.child.kill();
    }
  });
}

'use strict';
// Two builds of this library side by side: `node bench/compare-builds.js OTHER_CHECKOUT` runs the test
// app (test/helpers/fcgi-raw-client.js --serve pool, 2 workers) from this checkout and from OTHER_CHECKOUT (built,
// with its own node_modules), and drives each in turn with the raw FastCGI client: 8 loops on kept
// connections, then 8 loops opening a connection per request. Rounds alternate which build goes first.
// A first round of each is not counted (warm-up). It prints each round's requests/s and the medians' ratio (this / other): the way to tell whether a
// change on the hot path costs anything, on a machine where absolute figures drift. Needs no web server.
// Options: --rounds=8 --seconds=3 --workers=2.

const path = require('node:path');
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');

const ROOT = path.resolve(__dirname, '..');
/** The raw client of a checkout: in test/helpers/ since the tests were put in folders, in test/ before. */
function rawClientOf(checkout) {
  const now = path.join(checkout, 'test', 'helpers', 'fcgi-raw-client.js');
  return fs.existsSync(now) ? now : path.join(checkout, 'test', 'fcgi-raw-client.js');
}
const { RawConnection, request } = require(rawClientOf(ROOT));

const option = (name, fallback) => Number((process.argv.find((a) => a.startsWith(`--${name}=`)) ?? '').split('=')[1]) || fallback;
const ROUNDS = option('rounds', 8);
const SECONDS = option('seconds', 3);
const WORKERS = option('workers', 2);
const LOOPS = 8;

function startPool(checkout, socket) {
  const child = spawn(process.execPath, [rawClientOf(checkout), '--serve', 'pool', socket, String(WORKERS)], {
    stdio: ['ignore', 'ignore', 'pipe'],
    detached: true,
  });
  return new Promise((resolve, reject) => {
    let output = '';
    child.stderr.on('data', (d) => {
      output += d;
      if (/ready: \d+ servers? accepting/.test(output)) resolve(child);
    });
    child.on('exit', () => reject(new Error(`the pool of ${checkout} exited:\n${output}`)));
  });
}

/** Requests/s over `ms` with LOOPS kept connections, each sending its next request once the last is answered. */
async function keptConnections(socket, ms) {
  let answered = 0;
  const end = Date.now() + ms;
  await Promise.all(
    Array.from({ length: LOOPS }, async () => {
      const conn = await RawConnection.open(socket);
      for (let id = 1; Date.now() < end; id = (id % 60000) + 1) {
        await conn.write(request(id, { keepConn: true, params: { REQUEST_URI: '/' } }));
        await conn.response(id, 5_000);
        conn.records.length = 0;
        answered++;
      }
      conn.close();
    }),
  );
  return answered / (ms / 1000);
}

/** Requests/s over `ms` with LOOPS loops that each open a connection per request. */
async function connectionPerRequest(socket, ms) {
  let answered = 0;
  const end = Date.now() + ms;
  await Promise.all(
    Array.from({ length: LOOPS }, async () => {
      while (Date.now() < end) {
        const conn = await RawConnection.open(socket);
        await conn.write(request(1, { params: { REQUEST_URI: '/' } }));
        await conn.response(1, 5_000);
        conn.close();
        answered++;
      }
    }),
  );
  return answered / (ms / 1000);
}

const median = (values) => values.slice().sort((a, b) => a - b)[Math.floor(values.length / 2)];

async function main() {
  const other = process.argv.slice(2).find((a) => !a.startsWith('--'));
  if (!other || !fs.existsSync(path.join(other, 'dist', 'index.js'))) {
    console.error('usage: node bench/compare-builds.js OTHER_CHECKOUT (built: npm ci && npm run build there) [--rounds=8 --seconds=3 --workers=2]');
    process.exit(2);
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fcgi-pm-compare-'));
  const builds = { this: { checkout: ROOT }, other: { checkout: path.resolve(other) } };
  for (const [name, build] of Object.entries(builds)) {
    build.socket = path.join(dir, `${name}.sock`);
    build.pool = await startPool(build.checkout, build.socket);
    build.kept = [];
    build.perConnection = [];
  }
  try {
    // A round each first, not counted: fresh workers run cold until V8 has compiled the hot paths.
    for (const build of Object.values(builds)) {
      await keptConnections(build.socket, SECONDS * 1000);
      await connectionPerRequest(build.socket, SECONDS * 1000);
    }
    for (let round = 0; round < ROUNDS; round++) {
      for (const name of round % 2 ? ['other', 'this'] : ['this', 'other']) {
        const build = builds[name];
        build.kept.push(await keptConnections(build.socket, SECONDS * 1000));
        build.perConnection.push(await connectionPerRequest(build.socket, SECONDS * 1000));
      }
    }
  } finally {
    for (const build of Object.values(builds)) process.kill(-build.pool.pid, 'SIGKILL');
    fs.rmSync(dir, { recursive: true, force: true });
  }
  console.log(`${ROUNDS} rounds of ${SECONDS} s, ${WORKERS} workers, ${LOOPS} loops; requests/s per round:`);
  for (const load of ['kept', 'perConnection']) {
    const [mine, theirs] = [builds.this[load], builds.other[load]];
    console.log(`${load}: this ${mine.map(Math.round).join(' ')} | other ${theirs.map(Math.round).join(' ')} | this/other (medians) ${(median(mine) / median(theirs)).toFixed(3)}`);
  }
}

main().catch((err) => {
  console.error(err.message);
  process.exit(1);
});

// What the cluster checks (cluster_check.js, recovery_check.js) share: options, TAP-like
// output, and asking a socket.io-client socket with a deadline.
"use strict";

function option(name, fallback) {
  const at = process.argv.indexOf(name);
  return at > 0 && at + 1 < process.argv.length ? process.argv[at + 1] : fallback;
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/// Run before exiting on a failure (a broker the check restarted, say).
const cleanups = [];

function fail(message) {
  console.log(`not ok - ${message}`);
  for (const cleanup of cleanups) cleanup();
  process.exit(1);
}

function ok(message) {
  console.log(`ok - ${message}`);
}

function check(condition, message) {
  if (!condition) fail(message);
}

/// Resolves once the client `c` ({name, socket}) is connected.
function connected(c) {
  return new Promise((resolve, reject) => {
    if (c.socket.connected) return resolve();
    c.socket.once("connect", resolve);
    c.socket.once("connect_error", (error) => reject(new Error(`${c.name}: ${error.message}`)));
  });
}

/// Emits `event` and waits (8 s at most, the contract's limit) for its acknowledgement.
function ask(c, event, ...args) {
  return c.socket.timeout(8000).emitWithAck(event, ...args);
}

async function until(what, condition, ms) {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await condition()) return;
    await sleep(50);
  }
  fail(`${what}: not within ${ms} ms`);
}

module.exports = { option, sleep, cleanups, fail, ok, check, connected, ask, until };

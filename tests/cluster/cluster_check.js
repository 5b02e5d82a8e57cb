// Drives a cluster of cluster_node processes (shared/contracts/cluster-node.md) with the real
// socket.io-client 4.8, sockets spread over the nodes, and checks every delivery exactly once:
// room messages, broadcasts without the sender, order per sender, cluster-wide counts; then a
// SIGKILLed node (no longer counted within 10 s, never a wrong count) and a Redis restart
// (counts are errors while it is down, then right again; nothing duplicated; the nodes keep
// serving and re-subscribe by themselves). Works for Redis and NATS alike.
//
//   node cluster_check.js --nodes URL,URL,URL --pids PID,PID,PID [--node-js URL]
//        [--broker-pid PID --broker-restart "CMD" [--broker-hang]] [--log]
//        [--broker-pid PID --broker-restart "PROGRAM ARG…"] [--log]
//
// Prints `ok - …` per check; exits 1 with the reason on the first failure.
"use strict";
const { spawn } = require("node:child_process");
const { io } = require("socket.io-client");
const { option, sleep, cleanups, fail, ok, check, connected, ask, until } = require("./common");

const nodes = option("--nodes", "").split(",").filter(Boolean);
const pids = option("--pids", "").split(",").filter(Boolean).map(Number);
const nodeJs = option("--node-js", "");
const brokerPid = Number(option("--broker-pid", "0"));
const brokerRestart = option("--broker-restart", "").split(" ").filter(Boolean);
// --broker-hang: after the restart, the broker is stopped (SIGSTOP) for 8 s, then resumed.
const hang = process.argv.includes("--broker-hang");
// A log adapter (redis-streams, nats) keeps what is sent while the broker is down and
// delivers it, once, when it is back; pub/sub may drop it.
const log = process.argv.includes("--log");
// Publish into the cluster from processes that serve nothing: Node's @socket.io/redis-emitter
// and windlass's cluster_emit example (Redis pub/sub clusters).
const brokerUrl = option("--broker-url", "");
const rustEmitter = option("--rust-emitter", "");

let restarted = null;
cleanups.push(() => restarted && restarted.kill("SIGKILL"));

function deepEqual(a, b) {
  return JSON.stringify(a) === JSON.stringify(b);
}

/// A client with everything it receives recorded.
function client(name, url) {
  const socket = io(url, { transports: ["websocket"], reconnection: false, timeout: 5000 });
  const got = { said: [], broadcast: [] };
  socket.on("said", (message) => got.said.push(message));
  socket.on("broadcast", (message) => got.broadcast.push(message));
  return { name, url, socket, got };
}

function count(list, predicate) {
  return list.filter(predicate).length;
}

async function health(url) {
  const response = await fetch(new URL("/health", url));
  return response.status;
}

async function main() {
  check(nodes.length >= 3 && pids.length === nodes.length, "three nodes and their pids are given");
  const a = client("a", nodes[0]);
  const b = client("b", nodes[1]);
  const c = client("c", nodes[2]);
  const d = client("d", nodes[0]);
  const clients = [a, b, c, d];
  const e = nodeJs ? client("e", nodeJs) : null;
  if (e) clients.push(e);
  await Promise.all(clients.map(connected));
  ok(`${clients.length} sockets connected over ${nodes.length + (e ? 1 : 0)} nodes`);

  for (const [i, x] of [a, b, c].entries()) {
    const me = await ask(x, "whoami");
    check(me.sid === x.socket.id, `whoami sid of ${x.name}: ${JSON.stringify(me)}`);
    check(me.port === Number(new URL(nodes[i]).port), `whoami port of ${x.name}: ${JSON.stringify(me)}`);
    check(me.recovered === false, `whoami recovered of ${x.name}`);
  }
  ok("whoami answers port, node, sid, recovered");

  const members = e ? [a, b, c, e] : [a, b, c];
  for (const x of members) {
    const reply = await ask(x, "join", "room1");
    check(reply.ok === true && reply.room === "room1" && typeof reply.node === "string",
      `join ack of ${x.name}: ${JSON.stringify(reply)}`);
  }
  ok("join acks {ok, room, node}");

  // A room message from one node reaches every member on every node once, nobody else.
  const hello = await ask(a, "say", { room: "room1", text: "hello" });
  check(deepEqual(hello, { ok: true }), `say ack: ${JSON.stringify(hello)}`);
  const isHello = (m) => m.text === "hello";
  await until("every member gets hello", () => members.every((x) => count(x.got.said, isHello) >= 1), 5000);
  await sleep(300);
  for (const x of members) {
    check(count(x.got.said, isHello) === 1, `${x.name} got hello ${count(x.got.said, isHello)} times`);
    const m = x.got.said.find(isHello);
    check(deepEqual(m, { from: a.socket.id, room: "room1", text: "hello" }), `said payload: ${JSON.stringify(m)}`);
  }
  check(count(d.got.said, isHello) === 0, "d, not a member, got hello");
  ok("a room message reaches each member once, on every node, and nobody else");

  // A broadcast reaches every other socket once, not the sender.
  await ask(b, "broadcast", "hi all");
  const others = clients.filter((x) => x !== b);
  const isHi = (m) => m.text === "hi all";
  await until("every other socket gets the broadcast", () => others.every((x) => count(x.got.broadcast, isHi) >= 1), 5000);
  await sleep(300);
  for (const x of others) {
    check(count(x.got.broadcast, isHi) === 1, `${x.name} got the broadcast ${count(x.got.broadcast, isHi)} times`);
    check(x.got.broadcast.find(isHi).from === b.socket.id, "broadcast from");
  }
  check(count(b.got.broadcast, isHi) === 0, "the sender got its own broadcast");
  ok("a broadcast reaches every other socket once, not the sender");

  // Order per sender.
  const burst = 50;
  for (let i = 0; i < burst; i++) a.socket.emit("say", { room: "room1", text: `seq ${i}` });
  const isSeq = (m) => typeof m.text === "string" && m.text.startsWith("seq ");
  await until("the burst arrives", () => members.every((x) => count(x.got.said, isSeq) >= burst), 8000);
  await sleep(300);
  for (const x of members) {
    const seen = x.got.said.filter(isSeq).map((m) => m.text);
    const expected = Array.from({ length: burst }, (_, i) => `seq ${i}`);
    check(deepEqual(seen, expected), `${x.name} got the burst out of order or twice: ${seen.slice(0, 5)}… (${seen.length})`);
  }
  ok(`${burst} messages from one sender arrive once each and in order at every member`);

  if (e) {
    await ask(e, "say", { room: "room1", text: "from node" });
    const isFromNode = (m) => m.text === "from node";
    await until("windlass members get the Node node's message", () => members.every((x) => count(x.got.said, isFromNode) >= 1), 5000);
    await sleep(300);
    for (const x of members) check(count(x.got.said, isFromNode) === 1, `${x.name} got the Node message twice`);
    ok("a message sent through the Node socket.io node reaches windlass members once");
  }

  // Counts over every node.
  for (const x of [a, b, c]) {
    const reply = await ask(x, "count");
    check(deepEqual(reply, { count: clients.length }), `count from ${x.name}'s node: ${JSON.stringify(reply)}`);
  }
  if (e) {
    const reply = await ask(e, "count");
    check(deepEqual(reply, { count: clients.length }), `count from the Node node: ${JSON.stringify(reply)}`);
  }
  ok(`count is ${clients.length} from every node`);

  // Leaving.
  const left = await ask(c, "leave", "room1");
  check(deepEqual(left, { ok: true }), `leave ack: ${JSON.stringify(left)}`);
  await ask(a, "say", { room: "room1", text: "after leave" });
  const isAfter = (m) => m.text === "after leave";
  await until("members get the message", () => [a, b].every((x) => count(x.got.said, isAfter) === 1), 5000);
  await sleep(300);
  check(count(c.got.said, isAfter) === 0, "c got a message of a room it left");
  ok("a socket that left a room gets nothing more from it");

  if (brokerUrl) {
    const { createClient } = require("redis");
    const { Emitter } = require("@socket.io/redis-emitter");
    const redis = createClient({ url: brokerUrl });
    await redis.connect();
    new Emitter(redis).to("room1").emit("said", { from: "emitter", room: "room1", text: "from node emitter" });
    await redis.quit();
    const { execFileSync } = require("node:child_process");
    const rust = { from: "emitter", room: "room1", text: "from rust emitter" };
    execFileSync(rustEmitter, ["--broker", brokerUrl, "--to", "room1", "said", JSON.stringify(rust)]);
    const inRoom = [a, b].concat(e ? [e] : []);
    for (const text of ["from node emitter", "from rust emitter"]) {
      const is = (m) => m.text === text && m.from === "emitter";
      await until(`members get "${text}"`, () => inRoom.every((x) => count(x.got.said, is) >= 1), 5000);
      await sleep(300);
      for (const x of clients) {
        const expected = inRoom.includes(x) ? 1 : 0;
        check(count(x.got.said, is) === expected, `${x.name} got "${text}" ${count(x.got.said, is)} times`);
      }
    }
    ok("events published by Node's @socket.io/redis-emitter and windlass's RedisEmitter reach the room's members once, on every node");
  }

  // A node SIGKILLed: its sockets stop being counted within 10 s, and no count is wrong.
  process.kill(pids[2], "SIGKILL");
  const killedAt = Date.now();
  const truth = clients.length - 1;
  let answers = 0;
  // Counts asked in the first 10 s may wait for the dead node and fail; none may be wrong.
  await until("the killed node's socket stops being counted", async () => {
    const reply = await ask(a, "count");
    answers++;
    check(reply.error !== undefined || reply.count === truth,
      `count after the kill was ${JSON.stringify(reply)}, neither ${truth} nor an error`);
    return reply.count === truth;
  }, 16000);
  const settled = Date.now() - killedAt;
  if (Date.now() - killedAt < 10000) await sleep(10000 - (Date.now() - killedAt));
  const asked = Date.now();
  const late = await ask(a, "count");
  check(late.count === truth && Date.now() - asked < 1000,
    `a count asked 10 s after the kill: ${JSON.stringify(late)} in ${Date.now() - asked} ms`);
  ok(`a SIGKILLed node stops being counted (right answer ${settled} ms after the kill, ${answers} counts, none wrong; asked after 10 s: answered at once)`);

  if (!brokerPid) return;
  // The broker goes away: counts are errors, the nodes keep serving.
  const survivors = [a, b, d].concat(e ? [e] : []);
  process.kill(brokerPid, "SIGKILL");
  await sleep(200);
  const during = await ask(a, "count");
  check(during.error !== undefined, `count while Redis is down: ${JSON.stringify(during)}`);
  for (const url of nodes.slice(0, 2)) check((await health(url)) === 200, `health of ${url} while Redis is down`);
  await ask(a, "say", { room: "room1", text: "while down" });
  ok(`while the broker is down a count is an error (${during.error}) and the nodes serve`);

  restarted = spawn(brokerRestart[0], brokerRestart.slice(1), { stdio: "ignore" });
  const backAt = Date.now();
  await until("counts are right again after the broker restarts", async () => {
    const reply = await ask(a, "count");
    check(reply.error !== undefined || reply.count === truth, `count after the restart: ${JSON.stringify(reply)}`);
    return reply.count === truth;
  }, 15000);
  // Every surviving node has re-subscribed once each node's count is answered by all.
  await until("every node answers counts again", async () => {
    const replies = await Promise.all([a, b].map((x) => ask(x, "count")));
    return replies.every((r) => r.count === truth);
  }, 15000);
  await ask(b, "say", { room: "room1", text: "after restart" });
  const isRestart = (m) => m.text === "after restart";
  const inRoom = [a, b].concat(e ? [e] : []);
  await until("members get messages after the restart", () => inRoom.every((x) => count(x.got.said, isRestart) >= 1), 5000);
  await sleep(300);
  for (const x of survivors) {
    const down = count(x.got.said, (m) => m.text === "while down");
    check(down <= 1, `${x.name} got a message sent while the broker was down ${down} times`);
    if (log && inRoom.includes(x)) check(down === 1, `${x.name} never got the message sent while the broker was down`);
    if (inRoom.includes(x)) check(count(x.got.said, isRestart) === 1, `${x.name} got a message twice after the restart`);
  }
  ok(`after the broker restarts (${Date.now() - backAt} ms to right counts) messages flow again, each once${log ? ", and the one sent while it was down arrived once" : ""}`);

  if (hang) {
    // The broker hangs (SIGSTOP) without closing a connection: the nodes notice, keep
    // serving, answer counts with errors, never wrong numbers, and recover when it resumes.
    process.kill(restarted.pid, "SIGSTOP");
    await sleep(8000);
    const hung = await ask(a, "count");
    check(hung.error !== undefined, `count while the broker hangs: ${JSON.stringify(hung)}`);
    for (const url of nodes.slice(0, 2)) check((await health(url)) === 200, `health of ${url} while the broker hangs`);
    process.kill(restarted.pid, "SIGCONT");
    const resumedAt = Date.now();
    await until("counts are right again after the broker resumes", async () => {
      const reply = await ask(a, "count");
      check(reply.error !== undefined || reply.count === truth, `count after the broker resumed: ${JSON.stringify(reply)}`);
      return reply.count === truth;
    }, 20000);
    await until("every node answers counts again after the hang", async () => {
      const replies = await Promise.all([a, b].map((x) => ask(x, "count")));
      return replies.every((r) => r.count === truth);
    }, 15000);
    await ask(b, "say", { room: "room1", text: "after hang" });
    const isResumed = (m) => m.text === "after hang";
    await until("members get messages after the hang", () => inRoom.every((x) => count(x.got.said, isResumed) >= 1), 5000);
    await sleep(300);
    for (const x of inRoom) check(count(x.got.said, isResumed) === 1, `${x.name} got a message twice after the hang`);
    ok(`a broker that hangs for 8 s: counts are errors meanwhile, the nodes serve, and ${Date.now() - resumedAt} ms after it resumes counts are right and messages flow, each once`);
  }

  for (const x of clients) x.socket.close();
  restarted.kill("SIGKILL");
}

main().then(
  () => process.exit(0),
  (error) => fail(error && error.stack ? error.stack : String(error)),
);

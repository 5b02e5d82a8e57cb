// Broadcast acknowledgements counted across nodes (tests/cluster_api.rs starts the windlass
// servers). Every server answers `poll` (room) with `io.to(room).timeout(1500).emitWithAck
// ("vote")`: `{answers: [...]}` (each client's first argument) or `{error}`. Each client
// answers `vote` with its socket id, except the `mute` one.
//
//   node ack_check.js --nodes http://a,http://b --broker redis://… [--sharded]
//   (with --broker, a Node node is added; --sharded: Node's createShardedAdapter)
"use strict";
const http = require("node:http");
const { io: connect } = require("socket.io-client");
const { option, ok, check, connected, ask } = require("./common");

/// A Node socket.io node with @socket.io/redis-adapter and the same handlers; its URL.
async function nodeNode(broker) {
  const { Server } = require("socket.io");
  const { createAdapter, createShardedAdapter } = require("@socket.io/redis-adapter");
  const { createClient } = require("redis");
  const pub = createClient({ url: broker });
  const sub = pub.duplicate();
  for (const client of [pub, sub]) client.on("error", () => {});
  await Promise.all([pub.connect(), sub.connect()]);
  const server = http.createServer();
  const sharded = process.argv.includes("--sharded");
  const io = new Server(server, { adapter: (sharded ? createShardedAdapter : createAdapter)(pub, sub) });
  io.on("connection", (socket) => {
    socket.on("join", (room, ack) => {
      socket.join(room);
      ack({ ok: true });
    });
    socket.on("poll", async (room, ack) => {
      try {
        const to = room ? io.to(room) : io;
        ack({ answers: await to.timeout(1500).emitWithAck("vote") });
      } catch (error) {
        ack({ error: error.message });
      }
    });
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  return `http://127.0.0.1:${server.address().port}`;
}

function client(url, name, answers) {
  const socket = connect(url, { transports: ["websocket"], reconnection: false });
  // windlass's emit_with_ack sends one argument, Node's emitWithAck("vote") none: the
  // acknowledgement callback is the last.
  if (answers) socket.on("vote", (...args) => args[args.length - 1](socket.id));
  return { name, socket };
}

const sorted = (items) => [...items].sort();

async function main() {
  const urls = option("--nodes", "").split(",").filter(Boolean);
  const broker = option("--broker", "");
  if (broker) urls.push(await nodeNode(broker));

  // On every server: one client in room `r`, one outside it.
  const members = urls.map((url, i) => client(url, `member${i}`, true));
  const outsiders = urls.map((url, i) => client(url, `outsider${i}`, true));
  await Promise.all([...members, ...outsiders].map(connected));
  for (const m of members) check((await ask(m, "join", "r")).ok, `${m.name} joins r`);
  const expected = sorted(members.map((m) => m.socket.id));

  for (const asker of outsiders) {
    const reply = await ask(asker, "poll", "r");
    check(!reply.error, `${asker.name}: poll failed: ${reply.error}`);
    check(
      JSON.stringify(sorted(reply.answers)) === JSON.stringify(expected),
      `${asker.name}: one answer per member of r on every node: ${JSON.stringify(reply.answers)} ≠ ${JSON.stringify(expected)}`,
    );
  }
  ok(`a broadcast with acks from each of ${urls.length} nodes collects the ${expected.length} members' answers`);

  const everyone = sorted([...members, ...outsiders].map((c) => c.socket.id));
  const all = await ask(members[0], "poll", "");
  const got = all.answers ? sorted(all.answers) : all;
  check(JSON.stringify(got) === JSON.stringify(everyone), `everyone: ${JSON.stringify(got)}`);
  ok("to the whole namespace: every socket of every node answers once");

  // A member that never answers: every asker hears a timeout, not a shorter list.
  const mute = client(urls[urls.length - 1], "mute", false);
  await connected(mute);
  check((await ask(mute, "join", "r")).ok, "mute joins r");
  for (const asker of outsiders) {
    const reply = await ask(asker, "poll", "r");
    check(
      reply.error && /timed out/.test(reply.error),
      `${asker.name}: a member that does not answer is a timeout: ${JSON.stringify(reply)}`,
    );
  }
  ok("a member that never answers makes every node's poll time out");

  for (const c of [...members, ...outsiders, mute]) c.socket.disconnect();
  process.exit(0);
}

main().catch((error) => {
  console.log(`not ok - ${error.stack || error}`);
  process.exit(1);
});

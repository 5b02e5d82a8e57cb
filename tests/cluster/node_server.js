// The cluster_node contract (shared/contracts/cluster-node.md) in Node: socket.io 4.8 with
// @socket.io/redis-adapter 8.3 over Redis pub/sub. A node of the same cluster as windlass's
// cluster_node (tests/cluster.rs mixes them), and the reference it is compared with.
// --sharded: the sharded adapter (Redis 7 sharded pub/sub); --streams:
// @socket.io/redis-streams-adapter 0.3 with connection state recovery (the Node reference for
// windlass's log adapters in bench/cluster/run).
//
//   node node_server.js --listen 127.0.0.1:0 --broker redis://127.0.0.1:6379 --node-id n [--sharded | --streams]
"use strict";
const http = require("node:http");
const { Server } = require("socket.io");
const { createAdapter, createShardedAdapter } = require("@socket.io/redis-adapter");
const { createClient } = require("redis");

function option(name, fallback) {
  const at = process.argv.indexOf(name);
  return at > 0 && at + 1 < process.argv.length ? process.argv[at + 1] : fallback;
}

async function main() {
  const [host, port] = option("--listen", "127.0.0.1:0").split(":");
  const broker = option("--broker", "redis://127.0.0.1:6379");
  const nodeId = option("--node-id", "node");

  const pub = createClient({ url: broker });
  const sub = pub.duplicate();
  for (const client of [pub, sub]) client.on("error", () => {});
  await Promise.all([pub.connect(), sub.connect()]);

  const server = http.createServer((req, res) => {
    if (req.url === "/health") {
      res.writeHead(200, { "content-type": "text/plain" });
      return res.end("ok\n");
    }
    res.writeHead(404);
    res.end();
  });
  // --sharded: Redis 7 sharded pub/sub (createShardedAdapter, dynamic subscriptions).
  const sharded = process.argv.includes("--sharded");
  const streams = process.argv.includes("--streams");
  let io;
  if (streams) {
    // Required here only: the tests' nodes run without it (bench/cluster/run's comparator).
    const { createAdapter: createStreamsAdapter } = require("@socket.io/redis-streams-adapter");
    // The same recovery window as cluster_node's (2 minutes, socket.io's default).
    io = new Server(server, { adapter: createStreamsAdapter(pub), connectionStateRecovery: {} });
  } else {
    io = new Server(server, { adapter: sharded ? createShardedAdapter(pub, sub) : createAdapter(pub, sub) });
  }
  let listened = 0;

  io.on("connection", (socket) => {
    socket.on("join", async (room, ack) => {
      socket.join(room);
      // The sharded adapter subscribes to the room's channel without saying when it is
      // done: a moment is left for it before answering (as the contract asks).
      if (sharded) await new Promise((resolve) => setTimeout(resolve, 100));
      if (typeof ack === "function") ack({ ok: true, room, node: nodeId });
    });
    socket.on("leave", (room, ack) => {
      socket.leave(room);
      if (typeof ack === "function") ack({ ok: true });
    });
    socket.on("say", (args, ack) => {
      const { room, text } = args || {};
      io.to(room).emit("said", { from: socket.id, room, text });
      if (typeof ack === "function") ack({ ok: true });
    });
    socket.on("broadcast", (text, ack) => {
      socket.broadcast.emit("broadcast", { from: socket.id, text });
      if (typeof ack === "function") ack({ ok: true });
    });
    socket.on("count", async (ack) => {
      try {
        const sockets = await io.fetchSockets();
        ack({ count: sockets.length });
      } catch (error) {
        ack({ error: String(error && error.message ? error.message : error) });
      }
    });
    socket.on("whoami", (ack) => {
      ack({ port: listened, node: nodeId, sid: socket.id, recovered: socket.recovered });
    });
  });

  server.listen(Number(port), host, () => {
    listened = server.address().port;
    console.log(`listening on ${host}:${listened}`);
  });
  process.on("SIGTERM", () => {
    io.close();
    process.exit(0);
  });
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});

#!/usr/bin/env node
// Node reference for windlass's `socketio_scenario` example
// (contract: shared/contracts/socketio-fixtures.md, section 2).
//
// Usage: node scenario_server.js --listen 127.0.0.1:3001
// Prints "listening on 127.0.0.1:PORT" when ready.
"use strict";

const http = require("http");
const { Server } = require("socket.io");
const { parseListen, notFound } = require("./common");

const { host, port } = parseListen(process.argv.slice(2), 3001);

const httpServer = http.createServer(notFound);

const io = new Server(httpServer, {
  serveClient: true, // GET /socket.io/socket.io.js, .min.js, ... (2a)
  pingInterval: 25000,
  pingTimeout: 20000,
  connectTimeout: 45000,
  maxHttpBufferSize: 1e6,
  cors: { origin: "*" },
  connectionStateRecovery: { maxDisconnectionDuration: 120000, skipMiddlewares: true },
  // allowEIO3 is false by default: EIO=3 is refused
});

const ackIfAny = (args) => (typeof args[args.length - 1] === "function" ? args.pop() : null);

// ---- 2c. Namespace "/" ---------------------------------------------------------
io.on("connection", (socket) => {
  socket.emit("welcome", {
    id: socket.id,
    engineId: socket.conn.id,
    nsp: "/",
    recovered: socket.recovered,
  });

  socket.on("echo", (...args) => {
    const ack = ackIfAny(args);
    if (ack) ack(...args);
  });

  socket.on("chat message", (text) => {
    io.emit("chat message", { from: socket.id, text });
  });

  socket.on("broadcast message", (payload) => {
    socket.broadcast.emit("broadcast message", { from: socket.id, payload });
  });

  socket.on("join", (room, ack) => {
    socket.join(room);
    if (typeof ack === "function") ack({ rooms: [...socket.rooms] });
  });

  socket.on("leave", (room, ack) => {
    socket.leave(room);
    if (typeof ack === "function") ack({ rooms: [...socket.rooms] });
  });

  socket.on("room size", (room, ack) => {
    const members = io.of("/").adapter.rooms.get(room);
    if (typeof ack === "function") ack({ size: members ? members.size : 0 });
  });

  socket.on("to room", ({ room, payload } = {}, ack) => {
    socket.to(room).emit("room message", { from: socket.id, room, payload });
    if (typeof ack === "function") ack({ ok: true });
  });

  socket.on("to rooms", ({ rooms, payload } = {}, ack) => {
    let op = io;
    for (const r of rooms || []) op = op.to(r);
    op.emit("rooms message", { from: socket.id, rooms, payload });
    if (typeof ack === "function") ack({ ok: true });
  });

  socket.on("to room except", ({ room, except, payload } = {}, ack) => {
    io.to(room).except(except).emit("except message", { from: socket.id, room, except, payload });
    if (typeof ack === "function") ack({ ok: true });
  });

  socket.on("to id", ({ id, payload } = {}, ack) => {
    io.to(id).emit("private message", { from: socket.id, payload });
    if (typeof ack === "function") ack({ ok: true });
  });

  socket.on("ask", ({ timeout, question } = {}, ack) => {
    socket
      .timeout(timeout)
      .emitWithAck("question", question)
      .then(
        (answer) => typeof ack === "function" && ack({ ok: true, answer }),
        (err) => typeof ack === "function" && ack({ ok: false, error: String((err && err.message) || err) }),
      );
  });

  socket.on("binary push", (ack) => {
    socket.emit("binary data", {
      text: "bin",
      one: Buffer.from([1, 2, 3]),
      list: [Buffer.from("hello"), { deep: Buffer.from([0xff, 0x00, 0x80]) }],
    });
    if (typeof ack === "function") ack({ ok: true });
  });

  socket.on("watch", (ack) => {
    socket.join("watchers");
    if (typeof ack === "function") ack({ ok: true });
  });

  // two listeners, run in registration order
  socket.on("double", (n) => socket.emit("double reply", { handler: 1, n }));
  socket.on("double", (n) => socket.emit("double reply", { handler: 2, n }));

  // catch-all for `any:*`
  socket.onAny((event, ...args) => {
    if (typeof event === "string" && event.startsWith("any:")) {
      socket.emit("any seen", { event, args });
    }
  });

  socket.on("kick me", () => {
    socket.disconnect(); // server DISCONNECT: client sees "io server disconnect"
  });

  const burst = ({ room, count, tag }) => {
    for (let seq = 0; seq < count; seq++) io.to(room).emit("burst", { tag, seq });
  };

  socket.on("burst", (opts = {}, ack) => {
    burst(opts);
    if (typeof ack === "function") ack({ sent: opts.count });
  });

  socket.on("drop transport", (opts = {}, ack) => {
    const { id } = opts;
    const target = io.of("/").sockets.get(id);
    if (!target || target.id === socket.id) {
      if (typeof ack === "function") ack({ ok: false });
      return;
    }
    target.once("disconnect", (reason) => {
      burst(opts);
      if (typeof ack === "function") ack({ ok: true, reason });
    });
    // close the engine connection without a Socket.IO DISCONNECT packet (recoverable)
    target.conn.close();
  });

  // lifecycle reports to room "watchers"
  socket.on("disconnecting", (reason) => {
    io.to("watchers").emit("disconnecting report", { id: socket.id, rooms: [...socket.rooms], reason });
  });
  socket.on("disconnect", (reason) => {
    io.to("watchers").emit("disconnect report", { id: socket.id, rooms: [...socket.rooms], reason });
  });
});

// ---- 2d. Namespace "/admin" ------------------------------------------------------
const admin = io.of("/admin");
admin.use((socket, next) => {
  const auth = socket.handshake.auth || {};
  if (auth.token === "s3cret") return next();
  const err = new Error("unauthorized");
  err.data = { reason: "bad token" };
  next(err);
});
admin.on("connection", (socket) => {
  const token = (socket.handshake.auth || {}).token;
  socket.emit("admin welcome", {
    id: socket.id,
    engineId: socket.conn.id,
    nsp: "/admin",
    token,
    recovered: socket.recovered,
  });
  socket.on("whoami", (...args) => {
    const ack = ackIfAny(args);
    if (ack) ack({ id: socket.id, engineId: socket.conn.id, nsp: "/admin", token });
  });
  socket.on("admin news", (payload) => {
    admin.emit("admin news", { from: socket.id, payload });
  });
});

httpServer.listen(port, host, () => {
  const a = httpServer.address();
  console.log(`socketio_scenario (node reference) listening on ${a.address}:${a.port}`);
});

for (const sig of ["SIGINT", "SIGTERM"]) {
  process.on(sig, () => {
    io.close();
    httpServer.close();
    process.exit(0);
  });
}

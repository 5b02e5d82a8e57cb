#!/usr/bin/env node
// Node reference for windlass's `socketio_protocol` example
// (contract: shared/contracts/socketio-fixtures.md, section 1).
//
// One HTTP listener:
//   /socket.io/  Socket.IO 4.8.4 (section 1a handlers and options)
//   /engine.io/  raw Engine.IO 6.6 echo (section 1b)
//
// Usage: node protocol_server.js --listen 127.0.0.1:3000
// Prints "listening on 127.0.0.1:PORT" when ready.
"use strict";

const http = require("http");
const { Server } = require("socket.io");
const engine = require("engine.io");
const { parseListen, notFound } = require("./common");

const { host, port } = parseListen(process.argv.slice(2), 3000);

// Requests that neither Socket.IO nor Engine.IO claim. Without this listener a
// plain Node http.Server would leave such a request hanging; 404 is our choice.
const httpServer = http.createServer(notFound);

// ---- 1a. Socket.IO at /socket.io/ ---------------------------------------------
const io = new Server(httpServer, {
  pingInterval: 300,
  pingTimeout: 200,
  maxHttpBufferSize: 1000000,
  connectTimeout: 1000,
  cors: { origin: "*" },
  // no connectionStateRecovery: CONNECT reply is exactly {"sid"}
});

io.on("connection", (socket) => {
  socket.emit("auth", socket.handshake.auth); // CONNECT payload, {} if none
  socket.on("message", (...args) => socket.emit("message-back", ...args));
  socket.on("message-with-ack", (...args) => {
    const ack = args.pop();
    ack(...args);
  });
});
io.of("/custom").on("connection", (socket) => {
  socket.emit("auth", socket.handshake.auth);
});

// ---- 1b. Raw Engine.IO echo at /engine.io/ ---------------------------------------
const eio = new engine.Server({
  pingInterval: 300,
  pingTimeout: 200,
  maxHttpBufferSize: 1e6, // advertised as maxPayload
  cors: { origin: "*" },
});
eio.attach(httpServer, { path: "/engine.io" }); // engine.io appends the trailing slash
eio.on("connection", (socket) => {
  socket.on("message", (data) => socket.send(data)); // text stays text, binary binary
});

httpServer.listen(port, host, () => {
  const a = httpServer.address();
  console.log(`socketio_protocol (node reference) listening on ${a.address}:${a.port}`);
});

for (const sig of ["SIGINT", "SIGTERM"]) {
  process.on(sig, () => {
    io.close();
    eio.close();
    httpServer.close();
    process.exit(0);
  });
}

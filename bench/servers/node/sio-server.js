// The Node socket.io bench server (`--mode sio`, the only mode): the same Socket.IO workload
// as `windlass-server --mode sio` and `socketioxide-server`.
//
// Run with:
//
//   npm ci && node sio-server.js --listen 127.0.0.1:0 [--mode sio]
//
// It prints `listening on ADDR` once ready. socket.io 4.8 on Node's `http` server with the
// library's defaults (25 s pings, 1 MB messages, no permessage-deflate, no connection state
// recovery, `ws` as the WebSocket engine) except: the browser bundle is not served and the
// listen backlog is 1,024 (Node's default is 511; the Rust servers use windlass's 1,024).
// Node cannot raise its own open-file limit: run it under `ulimit -n`.
//
// Each socket of `/` joins the room `bench`; `ack` is acknowledged with its own arguments,
// `fanout` goes on to the rest of the room as `tick` (`socket.to('bench').emit`).
'use strict';

const http = require('http');
const { Server } = require('socket.io');

function usage(message) {
  process.stderr.write(`sio-server.js: ${message}\n`);
  process.stderr.write('usage: node sio-server.js --listen ADDR [--mode sio]\n');
  process.exit(2);
}

function parseArgs(argv) {
  let listen = null;
  for (let i = 0; i < argv.length; i += 2) {
    const flag = argv[i];
    const value = argv[i + 1];
    if (value === undefined) usage(`${flag} needs a value`);
    if (flag === '--listen') {
      // HOST:PORT or [V6HOST]:PORT
      const match = /^\[?([^\]]+?)\]?:(\d+)$/.exec(value);
      if (!match) usage(`--listen: not an address: ${value}`);
      listen = { host: match[1], port: Number(match[2]) };
    } else if (flag === '--mode') {
      if (value !== 'sio') usage(`--mode: unknown mode ${value}`);
    } else {
      usage(`unknown option ${flag}`);
    }
  }
  if (!listen) usage('--listen is required');
  return { listen };
}

const { listen } = parseArgs(process.argv.slice(2));

const httpServer = http.createServer();
const io = new Server(httpServer, { serveClient: false });

io.on('connection', (socket) => {
  socket.join('bench');
  socket.on('ack', (...args) => {
    const callback = args.pop();
    if (typeof callback === 'function') callback(...args);
  });
  socket.on('fanout', (...args) => {
    socket.to('bench').emit('tick', ...args);
  });
});

httpServer.listen({ host: listen.host, port: listen.port, backlog: 1024 }, () => {
  const { address, family, port } = httpServer.address();
  const host = family === 'IPv6' ? `[${address}]` : address;
  process.stdout.write(`listening on ${host}:${port}\n`);
});

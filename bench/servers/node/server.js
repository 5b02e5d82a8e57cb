// The Node `ws` bench server: the same protocol and arguments as the Rust bench servers.
//
// Run with:
//
//   npm ci && node server.js --listen 127.0.0.1:0 [--mode echo|broadcast]
//
// It prints `listening on ADDR` once ready. Library defaults except: no permessage-deflate,
// messages up to 16 MiB (`maxPayload`, default 100 MiB) and a listen backlog of 1,024 (Node's
// default is 511; the Rust servers use windlass's 1,024). `ws` sets TCP_NODELAY on every
// connection. Node cannot raise its own open-file limit: run it under `ulimit -n`.
//
// Broadcast is the loop from the `ws` README: `send` to every other open client. `ws` has no
// public way to frame a message once, but each `send` writes the same payload buffer after its
// own header, so the payload is not copied per client.
'use strict';

const { WebSocketServer, WebSocket } = require('ws');

function usage(message) {
  process.stderr.write(`server.js: ${message}\n`);
  process.stderr.write('usage: node server.js --listen ADDR [--mode echo|broadcast]\n');
  process.exit(2);
}

function parseArgs(argv) {
  let listen = null;
  let mode = 'echo';
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
      if (value !== 'echo' && value !== 'broadcast') usage(`--mode: unknown mode ${value}`);
      mode = value;
    } else {
      usage(`unknown option ${flag}`);
    }
  }
  if (!listen) usage('--listen is required');
  return { listen, mode };
}

const { listen, mode } = parseArgs(process.argv.slice(2));

const wss = new WebSocketServer({
  host: listen.host,
  port: listen.port,
  backlog: 1024,
  perMessageDeflate: false,
  maxPayload: 16 * 1024 * 1024,
});

wss.on('connection', (ws) => {
  // A peer that breaks its connection is routine under load; without a listener the error
  // event would end the process.
  ws.on('error', () => {});
  if (mode === 'echo') {
    ws.on('message', (data, isBinary) => {
      ws.send(data, { binary: isBinary });
    });
  } else {
    ws.on('message', (data, isBinary) => {
      for (const client of wss.clients) {
        if (client !== ws && client.readyState === WebSocket.OPEN) {
          client.send(data, { binary: isBinary });
        }
      }
    });
  }
});

wss.on('listening', () => {
  const { address, family, port } = wss.address();
  const host = family === 'IPv6' ? `[${address}]` : address;
  process.stdout.write(`listening on ${host}:${port}\n`);
});

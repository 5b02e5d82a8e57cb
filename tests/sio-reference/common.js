"use strict";
// Shared bits of the two reference servers.

// `--listen HOST:PORT` (or `--listen=HOST:PORT`); default 127.0.0.1:<defPort>.
function parseListen(argv, defPort) {
  let spec = null;
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === "--listen") spec = argv[++i];
    else if (argv[i].startsWith("--listen=")) spec = argv[i].slice("--listen=".length);
  }
  if (!spec) return { host: "127.0.0.1", port: defPort };
  const idx = spec.lastIndexOf(":");
  if (idx < 0) throw new Error(`--listen wants HOST:PORT, got ${spec}`);
  let host = spec.slice(0, idx);
  if (host.startsWith("[") && host.endsWith("]")) host = host.slice(1, -1);
  const port = Number(spec.slice(idx + 1));
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`bad port in ${spec}`);
  return { host: host || "127.0.0.1", port };
}

// Fallback for paths nobody claims (engine.io and socket.io chain to the
// listeners that were registered before them).
function notFound(req, res) {
  res.writeHead(404, { "Content-Type": "text/plain" });
  res.end("Not Found");
}

module.exports = { parseListen, notFound };

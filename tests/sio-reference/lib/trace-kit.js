"use strict";
// Raw wire tracing helpers: plain `http` for polling, `ws` for WebSocket, `net`
// for byte-exact upgrade attempts. No socket.io-client / engine.io-client here.

const http = require("http");
const net = require("net");
const zlib = require("zlib");
const crypto = require("crypto");
const WebSocket = require("ws");

// ---------------------------------------------------------------------------
// Escaping: every byte visible.
//   text:   printed as is, except  \ -> \\ , 0x1e -> \x1e , other C0/DEL -> \xNN
//           (\r and \n are shown as \r \n)
//   binary: hex bytes "01 02 03"
function escText(s) {
  let out = "";
  for (const ch of s) {
    const c = ch.codePointAt(0);
    if (ch === "\\") out += "\\\\";
    else if (c === 0x0d) out += "\\r";
    else if (c === 0x0a) out += "\\n";
    else if (c < 0x20 || c === 0x7f) out += "\\x" + c.toString(16).padStart(2, "0");
    else out += ch;
  }
  return out;
}
function hex(buf, max = 64) {
  const b = Buffer.from(buf);
  const shown = b.subarray(0, max);
  let s = [...shown].map((x) => x.toString(16).padStart(2, "0")).join(" ");
  if (b.length > max) s += ` ... (+${b.length - max} bytes)`;
  return s;
}
function isUtf8Text(buf) {
  try {
    new TextDecoder("utf-8", { fatal: true }).decode(buf);
    return true;
  } catch (_) {
    return false;
  }
}
function showBody(buf, contentType, maxText = 4000) {
  if (buf.length === 0) return "(empty)";
  const ct = (contentType || "").toLowerCase();
  const textual = !ct.includes("octet-stream") && isUtf8Text(buf);
  if (!textual) return `(${buf.length} bytes, hex) ${hex(buf)}`;
  const s = buf.toString("utf8");
  if (s.length > maxText) {
    const sha = crypto.createHash("sha256").update(buf).digest("hex");
    return `(${buf.length} bytes, sha256 ${sha}) ${escText(s.slice(0, 120))} ...`;
  }
  return `(${buf.length} bytes) ${escText(s)}`;
}

// ---------------------------------------------------------------------------
// Optional normalisation of random tokens (sids, pids, offsets) so that traces
// from two servers can be diffed. Tokens are registered as they are parsed.
class Tokens {
  constructor() {
    this.map = new Map();
    this.counters = {};
  }
  add(tok, kind) {
    if (typeof tok !== "string" || !tok || this.map.has(tok)) return;
    this.counters[kind] = (this.counters[kind] || 0) + 1;
    this.map.set(tok, `<${kind}${this.counters[kind]}>`);
  }
  apply(s) {
    if (this.map.size === 0) return s;
    // longest first so "abc.1" wins over "abc"
    const keys = [...this.map.keys()].sort((a, b) => b.length - a.length);
    for (const k of keys) s = s.split(k).join(this.map.get(k));
    return s;
  }
}

// ---------------------------------------------------------------------------
class Trace {
  constructor(name, opts) {
    this.name = name;
    this.opts = opts;
    this.t0 = Date.now();
    this.lines = [];
    this.tokens = new Tokens();
    this.agent = new http.Agent({ keepAlive: true, maxSockets: 16 });
    this.open = new Set(); // things to tear down
    this.reqSeq = 0;
    this.wsSeq = 0;
  }
  ms() {
    return Date.now() - this.t0;
  }
  log(s) {
    this.lines.push({ t: this.ms(), s });
  }
  note(s) {
    this.lines.push({ t: null, s: `   # ${s}` });
  }
  sleep(ms) {
    return new Promise((r) => setTimeout(r, ms));
  }
  // tokens seen in an Engine.IO open packet or a Socket.IO CONNECT reply
  learn(text) {
    if (typeof text !== "string") return;
    for (const part of text.split("\x1e")) {
      let m;
      if ((m = /^0(\{.*\})$/.exec(part))) {
        try {
          this.tokens.add(JSON.parse(m[1]).sid, "eio");
        } catch (_) {}
      } else if ((m = /^40(?:\/[^,]*,)?(\{.*\})$/.exec(part))) {
        try {
          const o = JSON.parse(m[1]);
          this.tokens.add(o.sid, "sio");
          this.tokens.add(o.pid, "pid");
        } catch (_) {}
      } else if ((m = /^4[25](?:\d+-)?(?:\/[^,]*,)?(\[.*\])$/.exec(part))) {
        // stored events carry their offset as last argument (yeast: 7 chars, ".N" suffix)
        try {
          const arr = JSON.parse(m[1]);
          const last = arr[arr.length - 1];
          if (typeof last === "string" && /^[0-9A-Za-z_-]{7}(\.[0-9A-Za-z_-]+)?$/.test(last) && this.opts.offsets)
            this.tokens.add(last, "off");
          for (const v of arr) {
            if (v && typeof v === "object") {
              for (const k of ["id", "engineId", "from"]) {
                if (typeof v[k] === "string" && v[k].length === 20) this.tokens.add(v[k], k === "engineId" ? "eio" : "sio");
              }
            }
          }
        } catch (_) {}
      }
    }
  }
  render() {
    const out = [];
    for (const { t, s } of this.lines) {
      let line = t === null || this.opts.noTime ? s : `+${String(t).padStart(5)}ms ${s}`;
      if (this.opts.normalize) line = this.tokens.apply(line);
      out.push(line);
    }
    return out.join("\n");
  }
  async teardown() {
    for (const o of this.open) {
      try {
        o.destroy();
      } catch (_) {}
    }
    this.agent.destroy();
  }

  // -------------------------------------------------------------------------
  // HTTP request. Logs the request line, the headers we set and the body; then
  // the status, every response header (Date shown as <date>) and the body.
  http(method, path, { headers = {}, body, timeout = 4000, label, quietBody = false, raw = false } = {}) {
    const id = label || `h${++this.reqSeq}`;
    const reqHeaders = Object.assign({}, headers);
    let payload = body;
    if (typeof payload === "string") payload = Buffer.from(payload, "utf8");
    if (payload && !("Content-Type" in reqHeaders) && !("content-type" in reqHeaders) && !raw)
      reqHeaders["Content-Type"] = "text/plain;charset=UTF-8"; // what browsers send for a string body
    const hdrStr = Object.entries(reqHeaders)
      .map(([k, v]) => `${k}: ${v}`)
      .join(" | ");
    let line = `${id}> ${method} ${path}`;
    if (hdrStr) line += `   [${hdrStr}]`;
    this.log(line);
    if (payload) this.log(`${id}>   body ${showBody(payload, reqHeaders["Content-Type"] || reqHeaders["content-type"])}`);
    return new Promise((resolve) => {
      const u = new URL(path, this.opts.base);
      const req = http.request(
        {
          method,
          host: u.hostname,
          port: u.port,
          path: u.pathname + u.search,
          headers: Object.assign({}, reqHeaders, payload ? { "Content-Length": payload.length } : {}),
          agent: this.agent,
        },
        (res) => {
          const chunks = [];
          res.on("data", (c) => chunks.push(c));
          res.on("end", () => {
            clearTimeout(timer);
            let buf = Buffer.concat(chunks);
            const enc = res.headers["content-encoding"];
            let decoded = buf;
            try {
              if (enc === "gzip") decoded = zlib.gunzipSync(buf);
              else if (enc === "deflate") decoded = zlib.inflateSync(buf);
              else if (enc === "br") decoded = zlib.brotliDecompressSync(buf);
            } catch (e) {
              decoded = buf;
            }
            this.log(`${id}< ${res.statusCode} ${res.statusMessage}`);
            const rh = res.rawHeaders;
            for (let i = 0; i < rh.length; i += 2) {
              const v = rh[i].toLowerCase() === "date" ? "<date>" : rh[i + 1];
              this.log(`${id}<   ${rh[i]}: ${v}`);
            }
            if (enc) this.log(`${id}<   (body ${enc}-encoded: ${buf.length} bytes on the wire, ${decoded.length} decoded)`);
            const text = decoded.toString("utf8");
            this.learn(text);
            if (!quietBody) this.log(`${id}<   body ${showBody(decoded, res.headers["content-type"])}`);
            resolve({ id, status: res.statusCode, headers: res.headers, rawHeaders: rh, body: decoded, text, wire: buf });
          });
          res.on("error", (e) => {
            clearTimeout(timer);
            this.log(`${id}! response error: ${e.code || ""} ${e.message}`);
            resolve({ id, status: res.statusCode, error: e });
          });
        },
      );
      const timer = setTimeout(() => {
        this.log(`${id}! no answer within ${timeout}ms: request aborted by the tracer`);
        req.destroy();
        resolve({ id, status: null, timeout: true });
      }, timeout);
      req.on("error", (e) => {
        clearTimeout(timer);
        if (req.destroyed && e.code === "ECONNRESET" && e.message === "socket hang up") {
          this.log(`${id}! connection closed by the server without a response (${e.code}: ${e.message})`);
        } else this.log(`${id}! request error: ${e.code || ""} ${e.message}`);
        resolve({ id, status: null, error: e });
      });
      if (payload) req.write(payload);
      req.end();
    });
  }

  // -------------------------------------------------------------------------
  ws(path, { headers = {}, autoPong = false, label } = {}) {
    const c = new WsConn(this, label || `ws${++this.wsSeq}`, path, headers, autoPong);
    this.open.add(c);
    return c;
  }

  // -------------------------------------------------------------------------
  // Byte-exact WebSocket upgrade attempt over a raw TCP socket: logs every byte
  // the server sends (HTTP head as text, then frames decoded) until it closes
  // or `wait` ms pass. `send` = list of text frames to send after a 101.
  rawUpgrade(path, { headers = {}, wait = 1500, send = [], label } = {}) {
    const id = label || `raw${++this.wsSeq}`;
    return new Promise((resolve) => {
      const u = new URL(path, this.opts.base);
      const sock = net.connect({ host: u.hostname, port: Number(u.port) });
      this.open.add(sock);
      const key = "dGhlIHNhbXBsZSBub25jZQ==";
      const reqHead =
        `GET ${u.pathname}${u.search} HTTP/1.1\r\n` +
        `Host: ${u.host}\r\n` +
        "Upgrade: websocket\r\nConnection: Upgrade\r\n" +
        `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n` +
        Object.entries(headers)
          .map(([k, v]) => `${k}: ${v}\r\n`)
          .join("") +
        "\r\n";
      let got = Buffer.alloc(0);
      let headDone = false;
      let is101 = false;
      let done = false;
      const finish = (why) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        this.log(`${id}  ${why}`);
        sock.destroy();
        resolve({ id, bytes: got });
      };
      sock.on("connect", () => {
        this.log(`${id}> ${escText(reqHead)}`);
        sock.write(reqHead);
      });
      let pending = Buffer.alloc(0);
      sock.on("data", (d) => {
        got = Buffer.concat([got, d]);
        pending = Buffer.concat([pending, d]);
        if (!headDone) {
          const idx = pending.indexOf("\r\n\r\n");
          if (idx < 0) return;
          const head = pending.subarray(0, idx + 4).toString("latin1");
          this.log(`${id}< ${escText(head.replace(/Date: [^\r]*/i, "Date: <date>"))}`);
          pending = pending.subarray(idx + 4);
          headDone = true;
          is101 = /^HTTP\/1\.1 101/.test(head);
          if (is101) {
            for (const f of send) {
              this.log(`${id}> frame text ${escText(f)}`);
              sock.write(maskFrame(f));
            }
          }
        }
        if (!is101) {
          if (pending.length) this.log(`${id}< body ${escText(pending.toString("latin1"))}`);
          pending = Buffer.alloc(0);
          return;
        }
        // decode server frames (unmasked)
        if (pending.subarray(0, 5).toString("latin1") === "HTTP/") {
          this.log(`${id}< NOT A FRAME (raw bytes after the 101): ${escText(pending.toString("latin1"))}`);
          pending = Buffer.alloc(0);
          return;
        }
        while (pending.length >= 2) {
          const b0 = pending[0];
          const b1 = pending[1];
          let len = b1 & 0x7f;
          let off = 2;
          if (len === 126) {
            if (pending.length < 4) break;
            len = pending.readUInt16BE(2);
            off = 4;
          } else if (len === 127) {
            if (pending.length < 10) break;
            len = Number(pending.readBigUInt64BE(2));
            off = 10;
          }
          if (pending.length < off + len) break;
          const payload = pending.subarray(off, off + len);
          const op = b0 & 0x0f;
          const name = { 1: "text", 2: "binary", 8: "close", 9: "ping", 10: "pong" }[op] || `op${op}`;
          let desc;
          if (op === 1) desc = escText(payload.toString("utf8"));
          else if (op === 8)
            desc = payload.length >= 2 ? `code=${payload.readUInt16BE(0)} reason="${escText(payload.subarray(2).toString())}"` : "(no status code)";
          else desc = hex(payload);
          this.log(`${id}< frame ${name}${b0 & 0x80 ? "" : " (not FIN)"}: ${desc}   [raw ${hex(pending.subarray(0, off + len), 24)}]`);
          pending = pending.subarray(off + len);
        }
      });
      sock.on("end", () => finish("server closed the TCP connection (FIN)"));
      sock.on("error", (e) => finish(`socket error ${e.code || ""} ${e.message}`));
      sock.on("close", () => finish("TCP connection closed"));
      const timer = setTimeout(() => finish(`(still open after ${wait}ms; tracer closes it)`), wait);
    });
  }
}

function maskFrame(text) {
  const payload = Buffer.from(text, "utf8");
  const mask = Buffer.from([1, 2, 3, 4]);
  let head;
  if (payload.length < 126) head = Buffer.from([0x81, 0x80 | payload.length]);
  else {
    head = Buffer.alloc(4);
    head[0] = 0x81;
    head[1] = 0x80 | 126;
    head.writeUInt16BE(payload.length, 2);
  }
  const masked = Buffer.from(payload.map((b, i) => b ^ mask[i % 4]));
  return Buffer.concat([head, mask, masked]);
}

// ---------------------------------------------------------------------------
class WsConn {
  constructor(t, id, path, headers, autoPong) {
    this.t = t;
    this.id = id;
    this.autoPong = autoPong;
    this.queue = [];
    this.waiters = [];
    this.closed = null;
    this.closeWaiters = [];
    const u = new URL(path, t.opts.base);
    u.protocol = "ws:";
    t.log(`${id}> WS ${u.pathname}${u.search}${Object.keys(headers).length ? "   [" + Object.entries(headers).map(([k, v]) => `${k}: ${v}`).join(" | ") + "]" : ""}`);
    this.sock = new WebSocket(u.toString(), { headers, perMessageDeflate: false });
    this.sock.binaryType = "nodebuffer";
    this.opened = new Promise((resolve) => {
      this.sock.on("upgrade", (res) => {
        t.log(`${id}< ${res.statusCode} ${res.statusMessage}`);
        const rh = res.rawHeaders;
        for (let i = 0; i < rh.length; i += 2) t.log(`${id}<   ${rh[i]}: ${rh[i + 1]}`);
      });
      this.sock.on("open", () => resolve(true));
      this.sock.on("unexpected-response", (req, res) => {
        const chunks = [];
        res.on("data", (c) => chunks.push(c));
        res.on("end", () => {
          t.log(`${id}< ${res.statusCode} ${res.statusMessage} (upgrade refused)`);
          const rh = res.rawHeaders;
          for (let i = 0; i < rh.length; i += 2) t.log(`${id}<   ${rh[i]}: ${rh[i + 1]}`);
          t.log(`${id}<   body ${showBody(Buffer.concat(chunks), res.headers["content-type"])}`);
          this._closed({ code: null, reason: "upgrade refused" });
          resolve(false);
        });
        res.on("error", () => {});
      });
      this.sock.on("error", (e) => {
        t.log(`${id}! error: ${e.message}`);
        resolve(false);
      });
    });
    this.sock.on("message", (data, isBinary) => {
      let frame;
      if (isBinary) {
        frame = { bin: Buffer.from(data) };
        t.log(`${id}< bin  ${hex(frame.bin)}`);
      } else {
        frame = { text: data.toString("utf8") };
        t.learn(frame.text);
        t.log(`${id}< text ${escText(frame.text)}`);
        if (this.autoPong && frame.text === "2") this.send("3");
      }
      const w = this.waiters.shift();
      if (w) w(frame);
      else this.queue.push(frame);
    });
    this.sock.on("close", (code, reason) => {
      this._closed({ code, reason: reason.toString() });
    });
  }
  _closed(info) {
    if (this.closed) return;
    this.closed = info;
    if (info.code !== null)
      this.t.log(`${this.id}  closed: code=${info.code}${info.code === 1005 ? " (close frame without status)" : info.code === 1006 ? " (no close frame: TCP dropped)" : ""} reason="${info.reason}"`);
    for (const w of this.waiters.splice(0)) w(null);
    for (const w of this.closeWaiters.splice(0)) w(info);
  }
  send(data) {
    if (Buffer.isBuffer(data) || data instanceof Uint8Array) {
      this.t.log(`${this.id}> bin  ${hex(data)}`);
      this.sock.send(Buffer.from(data), { binary: true });
    } else {
      this.t.log(`${this.id}> text ${escText(data)}`);
      this.sock.send(data);
    }
  }
  // next frame (optionally skipping pings "2"), or null on timeout/close
  recv(timeout = 2000, { skipPings = false } = {}) {
    const take = () => {
      while (this.queue.length) {
        const f = this.queue.shift();
        if (skipPings && f.text === "2") continue;
        return f;
      }
      return undefined;
    };
    const f = take();
    if (f !== undefined) return Promise.resolve(f);
    if (this.closed) return Promise.resolve(null);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        const i = this.waiters.indexOf(w);
        if (i >= 0) this.waiters.splice(i, 1);
        this.t.log(`${this.id}  (no frame within ${timeout}ms)`);
        resolve(null);
      }, timeout);
      const w = (frame) => {
        if (frame && skipPings && frame.text === "2") {
          this.waiters.unshift(w);
          return;
        }
        clearTimeout(timer);
        resolve(frame);
      };
      this.waiters.push(w);
    });
  }
  async recvN(n, timeout = 2000, opts) {
    const out = [];
    for (let i = 0; i < n; i++) {
      const f = await this.recv(timeout, opts);
      if (!f) break;
      out.push(f);
    }
    return out;
  }
  // drain frames for `ms` milliseconds (everything is logged anyway)
  async idle(ms) {
    await this.t.sleep(ms);
    this.queue.length = 0;
  }
  waitClose(timeout = 3000) {
    if (this.closed) return Promise.resolve(this.closed);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.t.log(`${this.id}  (still open after ${timeout}ms)`);
        resolve(null);
      }, timeout);
      this.closeWaiters.push((info) => {
        clearTimeout(timer);
        resolve(info);
      });
    });
  }
  close() {
    if (this.closed) return;
    this.t.log(`${this.id}> (client closes the WebSocket, code 1000)`);
    this.sock.close(1000);
  }
  destroy() {
    try {
      this.sock.terminate();
    } catch (_) {}
  }
}

module.exports = { Trace, escText, hex };

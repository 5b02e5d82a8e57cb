#!/usr/bin/env node
// Raw wire tracer for the windlass Socket.IO fixtures (shared/contracts/socketio-fixtures.md).
//
//   node trace.js --url http://127.0.0.1:3000 --set protocol   [--only a,b] [--normalize] [--no-time]
//   node trace.js --url http://127.0.0.1:3001 --set scenario   [...]
//   node trace.js --list
//
// Runs named scenarios one after another against the server at --url and
// prints every HTTP exchange (method, path+query, status, all response
// headers, exact body) and every WebSocket frame, with the time since the
// scenario started. Plain `http`, `ws` and `net` only: no socket.io-client.
//
// Body/frame notation: text is printed verbatim except  \ -> \\ , \x1e (the
// polling packet separator) and other control bytes -> \xNN , CR/LF -> \r \n ;
// binary is hex. `--normalize` replaces sids/pids/offsets with <eio1>, <sio1>,
// <pid1>, <off1>... and `--no-time` drops the timings, so two servers' traces
// can be diffed. Nothing is asserted: the output is the reference.
"use strict";

const { Trace } = require("./lib/trace-kit");

const S = "/socket.io/";
const E = "/engine.io/";
const POLL = "EIO=4&transport=polling";
const WSQ = "EIO=4&transport=websocket";

// ---------------------------------------------------------------------------
// helpers
async function openPoll(t, prefix, opts = {}) {
  const r = await t.http("GET", `${prefix}?${POLL}`, opts);
  if (r.status !== 200) return null;
  return JSON.parse(r.text.slice(1)).sid;
}
const poll = (t, prefix, sid, opts = {}) => t.http("GET", `${prefix}?${POLL}&sid=${sid}`, opts);
const post = (t, prefix, sid, body, opts = {}) => t.http("POST", `${prefix}?${POLL}&sid=${sid}`, Object.assign({ body }, opts));
async function openWs(t, prefix, opts = {}) {
  const ws = t.ws(`${prefix}?${WSQ}`, opts);
  await ws.opened;
  const open = await ws.recv(1000);
  ws.sid = open && open.text ? JSON.parse(open.text.slice(1)).sid : null;
  return ws;
}
// websocket-first Socket.IO session connected to "/" (open, 40, CONNECT reply, auth)
async function sioWs(t, opts = {}) {
  const ws = await openWs(t, S, Object.assign({ autoPong: true }, opts));
  ws.send("40");
  await ws.recvN(2, 1000, { skipPings: true });
  return ws;
}
const b64 = (arr) => Buffer.from(arr).toString("base64");
const lastArg = (text) => {
  const m = /^4\d(?:\d+-)?(?:\/[^,]*,)?\d*(\[.*\])$/.exec(text);
  if (!m) return null;
  const a = JSON.parse(m[1]);
  return a[a.length - 1];
};
const parseConnect = (text) => {
  const m = /^40(?:\/[^,]*,)?(\{.*\})$/.exec(text || "");
  return m ? JSON.parse(m[1]) : null;
};

// ---------------------------------------------------------------------------
// scenarios: { name, set, bullet, desc, run(t) }
const scenarios = [];
const add = (set, name, bullet, desc, run, timeout = 10000) => scenarios.push({ set, name, bullet, desc, run, timeout });

// ===========================================================================
// SET protocol: section 1a (/socket.io/) and 1b (/engine.io/)
// ===========================================================================
for (const [p, tag] of [
  [S, "sio"],
  [E, "eio"],
]) {
  add("protocol", `${tag}-open-polling`, "1a/1b open packet (polling)", `GET ${p}?${POLL}, then the same with an Origin header`, async (t) => {
    await t.http("GET", `${p}?${POLL}`);
    await t.http("GET", `${p}?${POLL}`, { headers: { Origin: "http://example.com" } });
  });

  add("protocol", `${tag}-open-websocket`, "1a/1b open packet (websocket-first)", "WS handshake response headers and the open packet; upgrades is []", async (t) => {
    const ws = await openWs(t, p);
    ws.close();
    await ws.waitClose(1000);
  });

  add("protocol", `${tag}-400-polling`, "1a/1b HTTP 400 cases (no session)", "Each bad handshake request, with the exact JSON body and headers", async (t) => {
    const reqs = [
      ["GET", `${p}?transport=polling`],
      ["GET", `${p}?EIO=abc&transport=polling`],
      ["GET", `${p}?EIO=3&transport=polling`],
      ["GET", `${p}?EIO=5&transport=polling`],
      ["GET", `${p}?EIO=4`],
      ["GET", `${p}?EIO=4&transport=abc`],
      ["GET", `${p}?EIO=4&transport=websocket`],
      ["POST", `${p}?${POLL}`],
      ["PUT", `${p}?${POLL}`],
      ["GET", `${p}?${POLL}&sid=doesnotexist`],
      ["POST", `${p}?${POLL}&sid=doesnotexist`, "4hello"],
    ];
    for (const [m, path, body] of reqs) await t.http(m, path, body ? { body } : {});
    t.note("with an Origin header the 400 also carries Access-Control-Allow-Origin:");
    await t.http("GET", `${p}?EIO=4&transport=abc`, { headers: { Origin: "http://example.com" } });
    t.note("edge: an empty sid= is treated as no sid (a new session is opened):");
    await t.http("GET", `${p}?${POLL}&sid=`);
  });
}

add("protocol", "sio-404-outside-path", "HTTP details", "Paths outside /socket.io/ and /engine.io/ (our fallback 404; /socket.io without slash is NOT the engine path)", async (t) => {
  await t.http("GET", `/socket.io?${POLL}`);
  await t.http("GET", `/`);
});

add("protocol", "sio-400-with-sid", "1a HTTP 400/500 cases on a live sid", "PUT with sid, EIO=3 with a v4 sid, transport=websocket GET with a polling sid, octet-stream POST", async (t) => {
  const sid = await openPoll(t, S);
  await t.http("PUT", `${S}?${POLL}&sid=${sid}`);
  await t.http("GET", `${S}?EIO=3&transport=polling&sid=${sid}`);
  await t.http("GET", `${S}?${WSQ}&sid=${sid}`);
  t.note("is the session still alive after those? (PUT errors nothing; the two 400s happen in verify(), before the session)");
  await post(t, S, sid, "3");
  t.note("POST with Content-Type application/octet-stream is refused on EIO=4 and closes the session");
  await post(t, S, sid, "4hello", { headers: { "Content-Type": "application/octet-stream" } });
  await poll(t, S, sid);
});

add("protocol", "sio-400-websocket", "1a websocket refusals (byte exact)", "Raw TCP upgrade attempts with bad EIO / transport / sid", async (t) => {
  for (const q of [
    "transport=websocket",
    "EIO=abc&transport=websocket",
    "EIO=3&transport=websocket",
    "EIO=4",
    "EIO=4&transport=abc",
    "EIO=4&transport=websocket&sid=doesnotexist",
    "EIO=4&transport=polling",
  ])
    await t.rawUpgrade(`${S}?${q}`, { wait: 700 });
});

add("protocol", "eio-400-websocket", "1b websocket refusals (byte exact)", "Same on /engine.io/", async (t) => {
  for (const q of ["transport=websocket", "EIO=4&transport=abc", "EIO=4&transport=websocket&sid=doesnotexist"]) await t.rawUpgrade(`${E}?${q}`, { wait: 700 });
});

add("protocol", "sio-ws-raw-open", "1a websocket-first open (byte exact)", "Raw TCP: the 101 head and the first frames (open packet, first ping), then nothing answered -> ping timeout", async (t) => {
  await t.rawUpgrade(`${S}?${WSQ}`, { wait: 900 });
});

// ---- heartbeat ------------------------------------------------------------
for (const [p, tag] of [
  [S, "sio"],
  [E, "eio"],
]) {
  add("protocol", `${tag}-poll-heartbeat`, "1a/1b heartbeat (polling)", "GET waits for the ping (~300 ms), POST the pong, three times", async (t) => {
    const sid = await openPoll(t, p);
    if (tag === "sio") {
      await post(t, p, sid, "40");
      await poll(t, p, sid);
    }
    for (let i = 0; i < 3; i++) {
      await poll(t, p, sid, { timeout: 2000 });
      await post(t, p, sid, "3");
    }
  });

  add("protocol", `${tag}-poll-ping-timeout`, "1a/1b ping timeout (polling)", "No GET, no pong: after 300+200 ms the next GET is 400", async (t) => {
    const sid = await openPoll(t, p);
    await t.sleep(600);
    await poll(t, p, sid);
    await post(t, p, sid, "3");
  });

  add("protocol", `${tag}-poll-ping-timeout-pending-get`, "1a/1b ping timeout with a GET pending", "GET gets the ping; a second GET waits and no pong is sent", async (t) => {
    const sid = await openPoll(t, p);
    await poll(t, p, sid, { timeout: 2000 });
    await poll(t, p, sid, { timeout: 2000 });
    await poll(t, p, sid);
  });

  add("protocol", `${tag}-ws-heartbeat`, "1a/1b heartbeat (websocket)", "Server pings first (~300 ms after open); we pong each; 1.2 s of frames", async (t) => {
    const ws = await openWs(t, p, { autoPong: true });
    if (tag === "sio") ws.send("40"); // else the 1000 ms connect timeout closes it
    await ws.idle(1200);
    ws.close();
    await ws.waitClose(1000);
  });

  add("protocol", `${tag}-ws-ping-timeout`, "1a/1b ping timeout (websocket)", "No pong: closed ~500 ms after open", async (t) => {
    const ws = await openWs(t, p);
    if (tag === "sio") ws.send("40");
    await ws.waitClose(2000);
  });
}

add("protocol", "eio-ws-ping-timeout-refresh", "surprise: timeout refresh", "No pong, but a message while the ping is outstanding extends the pong deadline once", async (t) => {
  const ws = await openWs(t, E);
  await ws.recv(1000); // the ping
  await t.sleep(150);
  ws.send("4x");
  await ws.waitClose(2000);
});

add("protocol", "sio-ws-connect-timeout", "1a connect timeout", "Websocket, pongs answered, no namespace CONNECT: closed at ~1000 ms", async (t) => {
  const ws = await openWs(t, S, { autoPong: true });
  await ws.waitClose(2500);
});

add("protocol", "sio-poll-connect-timeout", "1a connect timeout (polling)", "Polling, pongs answered, no CONNECT: what the GET sees at ~1000 ms", async (t) => {
  const sid = await openPoll(t, S);
  for (let i = 0; i < 5; i++) {
    const r = await poll(t, S, sid, { timeout: 1500 });
    if (r.status !== 200 || !r.text.split("\x1e").includes("2")) break;
    await post(t, S, sid, "3");
  }
  await poll(t, S, sid);
});

// ---- close ----------------------------------------------------------------
for (const [p, tag] of [
  [S, "sio"],
  [E, "eio"],
]) {
  add("protocol", `${tag}-poll-close-pending-get`, "1a/1b close while GET pending", "GET pending, POST `1`: GET gets `6`, then GET 400", async (t) => {
    const sid = await openPoll(t, p);
    const g = poll(t, p, sid);
    await t.sleep(50);
    await post(t, p, sid, "1");
    await g;
    await poll(t, p, sid);
  });

  add("protocol", `${tag}-poll-close-no-get`, "1a/1b close without a GET pending", "POST `1` alone, then GET", async (t) => {
    const sid = await openPoll(t, p);
    await post(t, p, sid, "1");
    await poll(t, p, sid);
  });

  add("protocol", `${tag}-ws-close`, "1a/1b close (websocket)", "Text `1` closes the websocket", async (t) => {
    const ws = await openWs(t, p);
    ws.send("1");
    await ws.waitClose(2000);
  });

  add("protocol", `${tag}-poll-concurrent-get`, "1a/1b two concurrent GETs", "GET, then 5 ms later a second GET on the same sid, then a third", async (t) => {
    const sid = await openPoll(t, p);
    const g1 = poll(t, p, sid);
    await t.sleep(5);
    const g2 = t.http("GET", `${p}?${POLL}&sid=${sid}&t=burst`);
    await Promise.all([g1, g2]);
    await poll(t, p, sid);
  });
}

add("protocol", "sio-poll-concurrent-post", "HTTP details", "Two overlapping POSTs on one sid (second while the first body is still streaming)", async (t) => {
  const sid = await openPoll(t, S);
  // first POST announces 10 bytes but sends them slowly
  const http = require("http");
  const u = new URL(`${S}?${POLL}&sid=${sid}`, t.opts.base);
  t.log(`slow> POST ${u.pathname}${u.search}   [Content-Length: 10, body "40" sent now, the rest later]`);
  const slow = new Promise((resolve) => {
    const req = http.request({ method: "POST", host: u.hostname, port: u.port, path: u.pathname + u.search, headers: { "Content-Type": "text/plain;charset=UTF-8", "Content-Length": 10 } }, (res) => {
      const c = [];
      res.on("data", (d) => c.push(d));
      res.on("end", () => {
        t.log(`slow< ${res.statusCode} body ${JSON.stringify(Buffer.concat(c).toString())}`);
        resolve();
      });
    });
    req.on("error", (e) => {
      t.log(`slow! ${e.code || ""} ${e.message}`);
      resolve();
    });
    req.write("40");
    setTimeout(() => {
      try {
        req.end("\x1e4xxxxxx");
      } catch (_) {}
    }, 200);
  });
  await t.sleep(50);
  await post(t, S, sid, "3");
  await slow;
  await poll(t, S, sid);
});

for (const [p, tag] of [
  [S, "sio"],
  [E, "eio"],
]) {
  add("protocol", `${tag}-ws-close-with-pongs`, "1a/1b close (websocket) - does `1` close at all?", "Text `1`, then keep answering pings for 1.2 s", async (t) => {
    const ws = await openWs(t, p, { autoPong: true });
    if (tag === "sio") {
      ws.send("40");
      await ws.recvN(2, 1000);
    }
    ws.send("1");
    await ws.waitClose(1200);
    ws.close();
    await ws.waitClose(500);
  });
}

add("protocol", "sio-connect-and-event-same-payload", "1a CONNECT + EVENT in one polling payload", "POST `40\\x1e42[...]`: the EVENT is decoded before the (async) namespace join completes", async (t) => {
  const sid = await openPoll(t, S);
  await post(t, S, sid, '40\x1e42["message","a"]');
  await poll(t, S, sid);
  await poll(t, S, sid);
});

add("protocol", "sio-connect-and-event-back-to-back", "1a CONNECT + EVENT back to back (websocket)", "`40` and `42[...]` sent without waiting for the CONNECT reply (same TCP write)", async (t) => {
  for (let i = 0; i < 3; i++) {
    const ws = await openWs(t, S, { autoPong: true });
    t.log(`${ws.id}> text 40  +  text 42["message","a"]  (corked: one TCP write)`);
    ws.sock._socket.cork();
    ws.sock.send("40");
    ws.sock.send('42["message","a"]');
    process.nextTick(() => ws.sock._socket.uncork());
    await ws.recvN(3, 500, { skipPings: true });
    ws.close();
    await ws.waitClose(500);
  }
});

// ---- upgrade --------------------------------------------------------------
for (const [p, tag] of [
  [S, "sio"],
  [E, "eio"],
]) {
  add("protocol", `${tag}-upgrade-pending-get`, "1a/1b upgrade with a GET pending", "GET pending; WS with sid; 2probe -> 3probe; the pending GET gets `6`; 5; message over WS; polling GET and 2nd WS afterwards", async (t) => {
    const sid = await openPoll(t, p);
    if (tag === "sio") {
      await post(t, p, sid, "40");
      await poll(t, p, sid);
    }
    const g = poll(t, p, sid, { timeout: 3000 });
    await t.sleep(20);
    const ws = t.ws(`${p}?${WSQ}&sid=${sid}`, { autoPong: true });
    await ws.opened;
    ws.send("2probe");
    await ws.recv(1000);
    await g;
    ws.send("5");
    ws.send(tag === "sio" ? '42["message","over ws"]' : "4hello");
    await ws.recv(1000, { skipPings: true });
    t.note("after the upgrade: polling GET on the sid, then a second websocket with the sid");
    await poll(t, p, sid);
    const ws2 = t.ws(`${p}?${WSQ}&sid=${sid}`);
    await ws2.opened;
    await ws2.waitClose(1000);
    t.note("the upgraded websocket still works:");
    ws.send(tag === "sio" ? '42["message","still"]' : "4still");
    await ws.recv(1000, { skipPings: true });
    ws.close();
    await ws.waitClose(1000);
  });

  add("protocol", `${tag}-upgrade-next-get`, "1a/1b upgrade, GET after the probe", "No GET pending at probe time; then two GETs before `5` (noop count)", async (t) => {
    const sid = await openPoll(t, p);
    const ws = t.ws(`${p}?${WSQ}&sid=${sid}`, { autoPong: true });
    await ws.opened;
    ws.send("2probe");
    await ws.recv(1000);
    await poll(t, p, sid, { timeout: 2000 });
    await poll(t, p, sid, { timeout: 2000 });
    ws.send("5");
    await ws.idle(150);
    await poll(t, p, sid);
    ws.close();
    await ws.waitClose(1000);
  });

  add("protocol", `${tag}-upgrade-no-get`, "1a/1b upgrade, 2probe and 5 back to back (suite style)", "No GET at all during the upgrade; what arrives on the websocket after `5`", async (t) => {
    const sid = await openPoll(t, p);
    const ws = t.ws(`${p}?${WSQ}&sid=${sid}`, { autoPong: true });
    await ws.opened;
    ws.send("2probe");
    ws.send("5");
    await ws.recvN(2, 700);
    await poll(t, p, sid);
    ws.send(tag === "sio" ? "40" : "4hello");
    await ws.recvN(tag === "sio" ? 3 : 1, 1000, { skipPings: true });
    ws.close();
    await ws.waitClose(1000);
  });
}

add("protocol", "eio-upgrade-second-ws-while-upgrading", "1b upgrade edge", "A second WS with the sid while the first is still probing", async (t) => {
  const sid = await openPoll(t, E);
  const ws = t.ws(`${E}?${WSQ}&sid=${sid}`, { autoPong: true });
  await ws.opened;
  ws.send("2probe");
  await ws.recv(1000);
  const ws2 = t.ws(`${E}?${WSQ}&sid=${sid}`);
  await ws2.opened;
  await ws2.waitClose(1000);
  ws.send("5");
  ws.send("4hello");
  await ws.recv(1000, { skipPings: true });
  ws.close();
  await ws.waitClose(1000);
});

add("protocol", "eio-upgrade-bad-first-packet", "1b upgrade edge", "The probing WS sends `4x` instead of `2probe`", async (t) => {
  const sid = await openPoll(t, E);
  const ws = t.ws(`${E}?${WSQ}&sid=${sid}`, { autoPong: true });
  await ws.opened;
  ws.send("4x");
  await ws.waitClose(1000);
  t.note("the polling session is untouched:");
  await post(t, E, sid, "4after");
  await poll(t, E, sid);
});

// ---- raw engine messages (1b) ---------------------------------------------
add("protocol", "eio-poll-messages", "1b polling messages", "POST 4hello / three packets / text+binary / UTF-8; POST answers `ok`", async (t) => {
  const sid = await openPoll(t, E);
  await post(t, E, sid, "4hello");
  await poll(t, E, sid);
  await post(t, E, sid, "4test1\x1e4test2\x1e4test3");
  await poll(t, E, sid);
  await post(t, E, sid, "4hello\x1ebAQIDBA==");
  await poll(t, E, sid);
  await post(t, E, sid, "4h\u00e9llo \u20ac\u4e9c");
  await poll(t, E, sid);
  t.note("two POSTs before one GET: everything buffered comes in one response");
  await post(t, E, sid, "4a");
  await post(t, E, sid, "4b\x1ebAA==");
  await poll(t, E, sid);
});

add("protocol", "eio-poll-bad-packet", "1b bad packet over polling", "POST `abc` closes the session (the POST itself?), then GET", async (t) => {
  const sid = await openPoll(t, E);
  await post(t, E, sid, "abc");
  await poll(t, E, sid);
});

add("protocol", "eio-ws-messages", "1b websocket messages", "4hello, binary 01 02 03 04, 4 with UTF-8, then `abc` closes", async (t) => {
  const ws = await openWs(t, E, { autoPong: true });
  ws.send("4hello");
  await ws.recv(1000, { skipPings: true });
  ws.send(Buffer.from([1, 2, 3, 4]));
  await ws.recv(1000, { skipPings: true });
  ws.send("4h\u00e9llo \u20ac");
  await ws.recv(1000, { skipPings: true });
  ws.send("abc");
  await ws.waitClose(1000);
});

add("protocol", "eio-ws-binary-then-poll", "1b binary over polling (server side)", "Binary message sent over WS-first is echoed as binary; over polling the echo is `b<base64>`", async (t) => {
  const sid = await openPoll(t, E);
  await post(t, E, sid, "bAQIDBA==");
  await poll(t, E, sid);
});

for (const [p, tag] of [
  [S, "sio"],
  [E, "eio"],
]) {
  add("protocol", `${tag}-client-ping`, "surprise: heartbeat direction", "A client-sent `2` (ping) on EIO=4 (websocket, then polling)", async (t) => {
    const ws = await openWs(t, p);
    ws.send("2");
    await ws.waitClose(1000);
    const sid = await openPoll(t, p);
    await post(t, p, sid, "2");
    await poll(t, p, sid);
  });
}

add("protocol", "eio-ws-odd-packets", "1b edge packets", "noop `6`, pong without ping `3`, upgrade `5`, 2probe outside an upgrade, empty frame", async (t) => {
  const ws = await openWs(t, E);
  for (const f of ["6", "3", "5", "4after-noop-pong-upgrade"]) ws.send(f);
  await ws.recv(1000, { skipPings: true });
  ws.send("2probe");
  await ws.waitClose(700);
  const ws2 = await openWs(t, E);
  ws2.send("");
  await ws2.waitClose(700);
});

// ---- Socket.IO namespaces (1a) --------------------------------------------
const nsCases = [
  ["sio-ns-main", "40"],
  ["sio-ns-main-auth", '40{"token":"123"}'],
  ["sio-ns-custom-comma", "40/custom,"],
  ["sio-ns-custom-nocomma", "40/custom"],
  ["sio-ns-custom-auth", '40/custom,{"token":"abc"}'],
];
for (const [name, pkt] of nsCases) {
  add("protocol", name, "1a namespace CONNECT", `WS-first, send ${pkt}`, async (t) => {
    const ws = await openWs(t, S, { autoPong: true });
    ws.send(pkt);
    await ws.recvN(2, 1000, { skipPings: true });
    ws.close();
    await ws.waitClose(1000);
  });
}

add("protocol", "sio-ns-auth-not-object", "1a namespace CONNECT edge", "CONNECT payloads that are not objects: 40\"x\", 40[1], 40null, 4012", async (t) => {
  for (const pkt of ['40"x"', "40[1]", "40null", "4012"]) {
    const ws = await openWs(t, S, { autoPong: true });
    ws.send(pkt);
    await ws.recvN(2, 600, { skipPings: true });
    ws.close();
    await ws.waitClose(600);
  }
});

add("protocol", "sio-ns-invalid", "1a invalid namespace", "40/random -> 44; the engine session stays up (pings continue, 40 still works)", async (t) => {
  const ws = await openWs(t, S, { autoPong: true });
  ws.send("40/random");
  await ws.recv(1000, { skipPings: true });
  await ws.idle(400);
  ws.send("40/random,{\"a\":1}");
  await ws.recv(1000, { skipPings: true });
  ws.send("40");
  await ws.recvN(2, 1000, { skipPings: true });
  ws.close();
  await ws.waitClose(1000);
});

add("protocol", "sio-ns-invalid-then-timeout", "1a invalid namespace + connect timeout", "After 44 only, the connect timeout still closes at ~1000 ms", async (t) => {
  const ws = await openWs(t, S, { autoPong: true });
  ws.send("40/random");
  await ws.waitClose(2500);
});

add("protocol", "sio-ns-invalid-polling", "1a invalid namespace (polling)", "Same over polling", async (t) => {
  const sid = await openPoll(t, S);
  await post(t, S, sid, "40/random");
  await poll(t, S, sid);
  await post(t, S, sid, "40");
  await poll(t, S, sid);
});

add("protocol", "sio-ns-leave-main", "1a `41` on /", "41 keeps the engine session: the next frame is the ping; 40 again gives a new socket id", async (t) => {
  const ws = await sioWs(t);
  ws.send("41");
  await ws.recv(1000);
  await ws.idle(100);
  ws.send("40");
  await ws.recvN(2, 1000, { skipPings: true });
  ws.close();
  await ws.waitClose(1000);
});

add("protocol", "sio-ns-leave-custom", "1a `41/custom`", "40, 40/custom, 41/custom, 42[message] on / still answered", async (t) => {
  const ws = await sioWs(t);
  ws.send("40/custom");
  await ws.recvN(2, 1000, { skipPings: true });
  ws.send("41/custom");
  ws.send('42["message","message to main namespace"]');
  await ws.recv(1000, { skipPings: true });
  t.note("an event to /custom after leaving it:");
  ws.send('42/custom,["message","x"]');
  await ws.waitClose(700);
});

add("protocol", "sio-ns-leave-all-then-timeout", "1a `41` then nothing", "After 41 on the only namespace: is the connect timeout re-armed? (watch 1.5 s)", async (t) => {
  const ws = await sioWs(t);
  ws.send("41");
  await ws.waitClose(1500);
  ws.close();
});

add("protocol", "sio-ns-state-errors", "1a invalid state", "Second CONNECT on a connected namespace; EVENT before CONNECT; 41 before CONNECT", async (t) => {
  let ws = await sioWs(t);
  ws.send("40");
  await ws.waitClose(700);
  ws = await openWs(t, S, { autoPong: true });
  ws.send('42["message","x"]');
  await ws.waitClose(700);
  ws = await openWs(t, S, { autoPong: true });
  ws.send("41");
  await ws.waitClose(700);
});

// ---- malformed (1a) -------------------------------------------------------
const bad = [
  ["sio-bad-4abc-before", null, "4abc"],
  ["sio-bad-4abc-after", "40", "4abc"],
  ["sio-bad-42-object", "40", "42{}"],
  ["sio-bad-42-ackid", "40", '42abc["message-with-ack",1,"2",{"3":[false]}]'],
  ["sio-bad-42-string", "40", '42"x"'],
  ["sio-bad-42-empty-array", "40", "42[]"],
  ["sio-bad-42-number-event", "40", "42[1]"],
  ["sio-bad-42-truncated", "40", '42["message"'],
  ["sio-bad-40-json", null, '40{"token":'],
  ["sio-bad-4-alone", "40", "4"],
  ["sio-bad-empty-frame", "40", ""],
  ["sio-bad-43-unknown-ack", "40", '4399["x"]'],
  ["sio-bad-44-from-client", "40", '44{"message":"x"}'],
];
for (const [name, pre, pkt] of bad) {
  add("protocol", name, "1a malformed packets", `${pre ? "after 40, " : "before CONNECT, "}send ${JSON.stringify(pkt)}`, async (t) => {
    const ws = pre ? await sioWs(t) : await openWs(t, S, { autoPong: true });
    ws.send(pkt);
    await ws.waitClose(700);
    ws.close();
  });
}

add("protocol", "sio-bad-polling", "1a malformed packets (polling)", "POST `4abc` after CONNECT over polling", async (t) => {
  const sid = await openPoll(t, S);
  await post(t, S, sid, "40");
  await poll(t, S, sid);
  const g = poll(t, S, sid, { timeout: 2000 });
  await t.sleep(20);
  await post(t, S, sid, "4abc");
  await g;
  await poll(t, S, sid);
});

// ---- messages, acks, binary (1a) -------------------------------------------
add("protocol", "sio-msg-plain", "1a plain event", '42["message",1,"2",{"3":[true]}]', async (t) => {
  const ws = await sioWs(t);
  ws.send('42["message",1,"2",{"3":[true]}]');
  await ws.recv(1000, { skipPings: true });
  ws.send('42["message"]');
  await ws.recv(1000, { skipPings: true });
  ws.send('42["message","h\u00e9 \u20ac \\"q\\" \\u001e"]');
  await ws.recv(1000, { skipPings: true });
  ws.close();
  await ws.waitClose(1000);
});

add("protocol", "sio-msg-binary", "1a binary event", "452-[message,<ph0>,<ph1>] + 01 02 03 + 04 05 06", async (t) => {
  const ws = await sioWs(t);
  ws.send('452-["message",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]');
  ws.send(Buffer.from([1, 2, 3]));
  ws.send(Buffer.from([4, 5, 6]));
  await ws.recvN(3, 1000, { skipPings: true });
  t.note("nested placeholders and an empty buffer:");
  ws.send('451-["message",{"a":[{"_placeholder":true,"num":0}]},"x"]');
  ws.send(Buffer.alloc(0));
  await ws.recvN(2, 1000, { skipPings: true });
  ws.close();
  await ws.waitClose(1000);
});

add("protocol", "sio-msg-ack", "1a ack", '42456["message-with-ack",1,"2",{"3":[false]}] and the binary variant 452-789[...]', async (t) => {
  const ws = await sioWs(t);
  ws.send('42456["message-with-ack",1,"2",{"3":[false]}]');
  await ws.recv(1000, { skipPings: true });
  ws.send('452-789["message-with-ack",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]');
  ws.send(Buffer.from([1, 2, 3]));
  ws.send(Buffer.from([4, 5, 6]));
  await ws.recvN(3, 1000, { skipPings: true });
  t.note("ack on /custom:");
  ws.send("40/custom");
  await ws.recvN(2, 1000, { skipPings: true });
  ws.send('42/custom,7["message-with-ack",1]');
  await ws.recv(700, { skipPings: true });
  ws.close();
  await ws.waitClose(1000);
});

add("protocol", "sio-msg-polling", "1a events over polling", "plain, ack and binary (b64 attachments) over polling; the order of packets in one response", async (t) => {
  const sid = await openPoll(t, S);
  await post(t, S, sid, "40");
  await poll(t, S, sid);
  await post(t, S, sid, '42["message","a"]\x1e42["message","b"]\x1e421["message-with-ack","c"]');
  await poll(t, S, sid);
  await post(t, S, sid, `452-["message",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]\x1eb${b64([1, 2, 3])}\x1eb${b64([4, 5, 6])}`);
  await poll(t, S, sid);
  await post(t, S, sid, `452-789["message-with-ack",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]\x1eb${b64([1, 2, 3])}\x1eb${b64([4, 5, 6])}`);
  await poll(t, S, sid);
});

add("protocol", "sio-poll-get-pending-then-post", "HTTP details: long-poll answer timing", "GET pending when the POST 40 arrives: what that GET carries, and the next one", async (t) => {
  const sid = await openPoll(t, S);
  const g = poll(t, S, sid);
  await t.sleep(30);
  await post(t, S, sid, "40");
  await g;
  await poll(t, S, sid);
  const g2 = poll(t, S, sid);
  await t.sleep(30);
  await post(t, S, sid, '42["message","x"]\x1e42["message","y"]');
  await g2;
  await poll(t, S, sid);
});

add("protocol", "sio-poll-buffered-ping-order", "HTTP details: order of packets in one response", "CONNECT reply, auth and a ping all buffered (no GET for 350 ms), then one GET", async (t) => {
  const sid = await openPoll(t, S);
  await post(t, S, sid, "40");
  await t.sleep(350);
  await post(t, S, sid, '42["message","late"]');
  await poll(t, S, sid);
  await post(t, S, sid, "3");
  await poll(t, S, sid, { timeout: 1000 });
});

add("protocol", "sio-poll-many-packets", "HTTP details: packets per response", "300 events in one POST, then one GET", async (t) => {
  const sid = await openPoll(t, S);
  await post(t, S, sid, "40");
  await poll(t, S, sid);
  const body = Array.from({ length: 300 }, (_, i) => `42["message",${i}]`).join("\x1e");
  await post(t, S, sid, body, { quietBody: true });
  const r = await poll(t, S, sid, { quietBody: true });
  if (r.text) {
    const parts = r.text.split("\x1e");
    t.note(`GET body: ${Buffer.byteLength(r.text)} bytes, ${parts.length} packets, first ${JSON.stringify(parts[0])}, last ${JSON.stringify(parts[parts.length - 1])}`);
  }
  const r2 = await poll(t, S, sid, { timeout: 1000 });
});

add("protocol", "sio-poll-compression", "HTTP details: gzip", "A >= 1024-byte polling answer with and without Accept-Encoding", async (t) => {
  const sid = await openPoll(t, S);
  await post(t, S, sid, "40");
  await poll(t, S, sid);
  const big = "x".repeat(1200);
  await post(t, S, sid, `42["message","${big}"]`, { quietBody: true });
  await poll(t, S, sid, { headers: { "Accept-Encoding": "gzip, deflate, br" }, quietBody: true });
  await post(t, S, sid, `42["message","${big}"]`, { quietBody: true });
  await poll(t, S, sid, { quietBody: true });
  await post(t, S, sid, `42["message","${"y".repeat(900)}"]`, { quietBody: true });
  await poll(t, S, sid, { headers: { "Accept-Encoding": "gzip" }, quietBody: true });
});

// ---- CORS / HTTP headers ----------------------------------------------------
for (const [p, tag] of [
  [S, "sio"],
  [E, "eio"],
]) {
  add("protocol", `${tag}-cors`, "HTTP details: CORS (origin *)", "OPTIONS preflight (with/without request headers), GET/POST with Origin, credentials", async (t) => {
    await t.http("OPTIONS", `${p}?${POLL}`, {
      headers: { Origin: "http://example.com", "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type,x-custom" },
    });
    await t.http("OPTIONS", `${p}?${POLL}`, { headers: { Origin: "http://example.com", "Access-Control-Request-Method": "GET" } });
    await t.http("OPTIONS", `${p}?${POLL}`);
    const sid = await openPoll(t, p, { headers: { Origin: "http://example.com", Cookie: "io=abc" } });
    await post(t, p, sid, tag === "sio" ? "40" : "4x", { headers: { Origin: "http://example.com" } });
    await poll(t, p, sid, { headers: { Origin: "http://example.com" } });
    await t.http("OPTIONS", `${p}?${POLL}&sid=${sid}`, { headers: { Origin: "http://example.com", "Access-Control-Request-Method": "POST" } });
  });
}

// ===========================================================================
// SET scenario: section 2
// ===========================================================================
add("scenario", "sc-open", "2 handshake", "Polling and websocket-first open packets; EIO=3 refused (polling and websocket)", async (t) => {
  await t.http("GET", `${S}?${POLL}`);
  const ws = await openWs(t, S);
  ws.close();
  await ws.waitClose(1000);
  await t.http("GET", `${S}?EIO=3&transport=polling`);
  await t.http("GET", `${S}?EIO=3&transport=polling&b64=1`);
  await t.rawUpgrade(`${S}?EIO=3&transport=websocket`, { wait: 500 });
});

add("scenario", "sc-connect", "2b CONNECT reply + offsets", "40 -> 40{sid,pid} then welcome with an offset; /admin refused/accepted; unknown namespace", async (t) => {
  const ws = await openWs(t, S, { autoPong: true });
  ws.send("40");
  await ws.recvN(2, 1000);
  ws.send("40/admin");
  await ws.recv(1000);
  ws.send('40/admin,{"token":"nope"}');
  await ws.recv(1000);
  ws.send('40/admin,{"token":"s3cret"}');
  await ws.recvN(2, 1000);
  ws.send('42/admin,5["whoami"]');
  await ws.recv(1000);
  ws.send('42/admin,["admin news",{"x":1}]');
  await ws.recv(1000);
  ws.send("40/nope");
  await ws.recv(1000);
  ws.close();
  await ws.waitClose(1000);
});

add("scenario", "sc-connect-polling", "2b CONNECT over polling", "40 and 40/admin with token in one POST; one GET; then events", async (t) => {
  const sid = await openPoll(t, S);
  await post(t, S, sid, '40\x1e40/admin,{"token":"s3cret"}');
  await t.sleep(50);
  await poll(t, S, sid);
  await post(t, S, sid, '42["chat message","hi"]\x1e42/admin,["admin news","n"]');
  await poll(t, S, sid);
  t.note("the known trap: an EVENT in the same payload as its namespace CONNECT");
  const sid2 = await openPoll(t, S);
  await post(t, S, sid2, '40\x1e42["chat message","hi"]');
  await poll(t, S, sid2);
  await post(t, S, sid, "1");
});

add("scenario", "sc-events-one-client", "2c single-client rows", "echo (text+binary), chat message, join/leave/room size, binary push, double, any:*, ask (answer and timeout), burst, watch, kick me", async (t) => {
  const ws = await openWs(t, S, { autoPong: true });
  ws.send("40");
  await ws.recvN(2, 1000);
  ws.send('421["echo","a",1,{"b":[true,null]}]');
  await ws.recv(1000);
  ws.send('451-2["echo",{"_placeholder":true,"num":0},"x"]');
  ws.send(Buffer.from([0xde, 0xad]));
  await ws.recvN(2, 1000);
  ws.send('42["chat message","hello"]');
  await ws.recv(1000);
  ws.send('423["join","r1"]');
  await ws.recv(1000);
  ws.send('424["room size","r1"]');
  await ws.recv(1000);
  ws.send('425["room size","nobody"]');
  await ws.recv(1000);
  ws.send('426["leave","r1"]');
  await ws.recv(1000);
  ws.send('427["binary push"]');
  await ws.recvN(5, 1000);
  ws.send('42["double",7]');
  await ws.recvN(2, 1000);
  ws.send('42["any:thing",1,"two"]');
  await ws.recv(1000);
  ws.send('428["any:acked","x"]');
  await ws.recvN(1, 500);
  ws.send('429["ask",{"timeout":1000,"question":"what?"}]');
  const q = await ws.recv(1000);
  const m = q && q.text && /^42(\d+)\[/.exec(q.text);
  if (m) ws.send(`43${m[1]}["forty-two"]`);
  await ws.recv(1000);
  ws.send('4210["ask",{"timeout":200,"question":"silent?"}]');
  await ws.recvN(2, 1000);
  ws.send('4211["burst",{"room":null,"count":0,"tag":"none"}]');
  await ws.recv(1000);
  ws.send('4212["join","b"]');
  await ws.recv(1000);
  ws.send('4213["burst",{"room":"b","count":4,"tag":"t"}]');
  await ws.recvN(5, 1000);
  ws.send('4214["watch"]');
  await ws.recv(1000);
  ws.send('42["kick me"]');
  await ws.recvN(3, 1000);
  t.note("after the server DISCONNECT the engine session stays open?");
  await ws.idle(300);
  ws.close();
  await ws.waitClose(1000);
});

add("scenario", "sc-events-two-clients", "2c multi-client rows", "A and B: broadcast (with binary), to room, to rooms, to room except, to id, chat message, watchers reports for a client 41", async (t) => {
  const A = await openWs(t, S, { autoPong: true, label: "A" });
  A.send("40");
  const [ca] = await A.recvN(2, 1000);
  const aId = parseConnect(ca && ca.text).sid;
  const B = await openWs(t, S, { autoPong: true, label: "B" });
  B.send("40");
  const [cb] = await B.recvN(2, 1000);
  const bId = parseConnect(cb && cb.text).sid;
  const C = await openWs(t, S, { autoPong: true, label: "C" });
  C.send("40");
  await C.recvN(2, 1000);
  C.send('421["watch"]');
  await C.recv(1000);
  A.send('421["join","r1"]');
  await A.recv(1000);
  B.send('421["join","r1"]');
  await B.recv(1000);
  B.send('422["join","r2"]');
  await B.recv(1000);
  t.note("broadcast message with a binary payload (sender excluded)");
  A.send('451-["broadcast message",{"bin":{"_placeholder":true,"num":0}}]');
  A.send(Buffer.from([9, 8, 7]));
  await t.sleep(150);
  t.note("to room r1 (sender excluded), with ack");
  A.send('422["to room",{"room":"r1","payload":"p1"}]');
  await t.sleep(150);
  t.note("to rooms [r1, r2] from C (union, once per socket)");
  C.send('422["to rooms",{"rooms":["r1","r2"],"payload":"p2"}]');
  await t.sleep(150);
  t.note("to room r1 except r2 (io.to: the sender A is included)");
  A.send('423["to room except",{"room":"r1","except":"r2","payload":"p3"}]');
  await t.sleep(150);
  t.note("to id B");
  A.send(`424["to id",{"id":"${bId}","payload":"p4"}]`);
  await t.sleep(150);
  t.note("chat message (io.emit, everyone incl. sender)");
  B.send('42["chat message","hi all"]');
  await t.sleep(150);
  t.note("A leaves with 41: C (watcher) gets both reports");
  A.send("41");
  await t.sleep(200);
  t.note("A's websocket itself after the 41:");
  await A.idle(100);
  A.close();
  t.note("B closes its websocket: reason transport close for the watcher");
  B.close();
  await t.sleep(200);
  C.close();
  await C.waitClose(1000);
  void aId;
});

add("scenario", "sc-drop-transport-ws", "2b/2c drop transport + recovery (websocket)", "A in room r; B asks to drop A with 2 bursts; A reconnects with {pid, offset}", async (t) => {
  const A = await openWs(t, S, { autoPong: true, label: "A" });
  A.send("40");
  const [ca, wa] = await A.recvN(2, 1000);
  const ai = parseConnect(ca.text);
  let offset = lastArg(wa.text);
  A.send('421["join","r"]');
  await A.recv(1000);
  const B = await openWs(t, S, { autoPong: true, label: "B" });
  B.send("40");
  await B.recvN(2, 1000);
  B.send('421["watch"]');
  await B.recv(1000);
  t.note("one stored event for A before the drop (A receives it, so its offset moves on):");
  B.send(`422["to id",{"id":"${ai.sid}","payload":"before"}]`);
  const pm = await A.recv(1000, { skipPings: true });
  await B.recv(1000, { skipPings: true });
  offset = lastArg(pm.text);
  B.send(`423["drop transport",{"id":"${ai.sid}","room":"r","count":2,"tag":"w"}]`);
  await A.waitClose(1000);
  await B.recvN(3, 1000, { skipPings: true });
  t.note(`A reconnects: new engine session, CONNECT with pid ${ai.pid} and last offset ${offset}`);
  const A2 = await openWs(t, S, { autoPong: true, label: "A2" });
  A2.send(`40{"pid":"${ai.pid}","offset":"${offset}"}`);
  await A2.recvN(4, 1000, { skipPings: true });
  A2.send('421["join","x"]');
  await A2.recv(1000, { skipPings: true });
  t.note("the same pid+offset again from a third connection, while A2 is connected:");
  const A3 = await openWs(t, S, { autoPong: true, label: "A3" });
  A3.send(`40{"pid":"${ai.pid}","offset":"${offset}"}`);
  await A3.recvN(4, 700, { skipPings: true });
  A3.close();
  A2.close();
  B.close();
  await B.waitClose(1000);
});

add("scenario", "sc-drop-transport-polling", "2b/2c drop transport + recovery (polling)", "A on polling with a GET pending is dropped; A recovers over polling", async (t) => {
  const sid = await openPoll(t, S);
  await post(t, S, sid, "40");
  const r = await poll(t, S, sid);
  const [c, w] = r.text.split("\x1e");
  const ai = parseConnect(c);
  const offset = lastArg(w);
  await post(t, S, sid, '421["join","r"]');
  await poll(t, S, sid);
  const B = await openWs(t, S, { autoPong: true, label: "B" });
  B.send("40");
  await B.recvN(2, 1000);
  const g = poll(t, S, sid, { timeout: 3000 });
  await t.sleep(30);
  B.send(`423["drop transport",{"id":"${ai.sid}","room":"r","count":2,"tag":"p"}]`);
  await g;
  await B.recv(1000, { skipPings: true });
  await poll(t, S, sid);
  t.note("recovery over a new polling session:");
  const sid2 = await openPoll(t, S);
  await post(t, S, sid2, `40{"pid":"${ai.pid}","offset":"${offset}"}`);
  await t.sleep(30);
  await poll(t, S, sid2);
  await post(t, S, sid2, "1");
  B.close();
  await B.waitClose(1000);
});

add("scenario", "sc-drop-transport-polling-no-get", "2c drop transport, polling target without a GET", "When does `disconnect` fire if the target has no GET pending?", async (t) => {
  const sid = await openPoll(t, S);
  await post(t, S, sid, "40");
  const r = await poll(t, S, sid);
  const ai = parseConnect(r.text.split("\x1e")[0]);
  const B = await openWs(t, S, { autoPong: true, label: "B" });
  B.send("40");
  await B.recvN(2, 1000);
  B.send(`423["drop transport",{"id":"${ai.sid}","room":"r","count":1,"tag":"q"}]`);
  await B.recv(800, { skipPings: true });
  t.note("now A polls:");
  await poll(t, S, sid);
  await B.recv(800, { skipPings: true });
  B.close();
  await B.waitClose(1000);
});

add("scenario", "sc-drop-self-or-unknown", "2c drop transport refusals", "drop transport on own id, unknown id", async (t) => {
  const A = await openWs(t, S, { autoPong: true, label: "A" });
  A.send("40");
  const [ca] = await A.recvN(2, 1000);
  const ai = parseConnect(ca.text);
  A.send(`421["drop transport",{"id":"${ai.sid}","room":"r","count":1,"tag":"x"}]`);
  await A.recv(1000);
  A.send('422["drop transport",{"id":"nobody","room":"r","count":1,"tag":"x"}]');
  await A.recv(1000);
  A.close();
  await A.waitClose(1000);
});

add("scenario", "sc-recovery-negative", "2b fresh session cases", "unknown pid; pid of a client that sent 41; bad offset; double restore; pid of a kicked client", async (t) => {
  const ws = await openWs(t, S, { autoPong: true });
  ws.send('40{"pid":"nope","offset":"nope"}');
  await ws.recvN(2, 1000);
  ws.close();
  await ws.waitClose(1000);

  const A = await openWs(t, S, { autoPong: true, label: "A" });
  A.send("40");
  const [ca, wa] = await A.recvN(2, 1000);
  const ai = parseConnect(ca.text);
  const off = lastArg(wa.text);
  A.send("41");
  await t.sleep(50);
  A.send(`40{"pid":"${ai.pid}","offset":"${off}"}`);
  const [c2, w2] = await A.recvN(2, 1000);
  t.note("known pid (A persisted? no: 41 is not recoverable) -> fresh");
  const a2 = parseConnect(c2.text);
  A.close();
  await A.waitClose(1000);
  t.note("A (second socket) dropped by closing its websocket (transport close -> kept); recover with a bad offset:");
  const A3 = await openWs(t, S, { autoPong: true, label: "A3" });
  A3.send(`40{"pid":"${a2.pid}","offset":"zzzzzzz"}`);
  await A3.recvN(2, 1000);
  t.note("and with the right offset:");
  const A4 = await openWs(t, S, { autoPong: true, label: "A4" });
  A4.send(`40{"pid":"${a2.pid}","offset":"${lastArg(w2.text)}"}`);
  await A4.recvN(2, 1000);
  t.note("the restored session is NOT removed from the store: the same pid+offset restores again (A5 becomes a 2nd copy of A4's socket id)");
  const A5 = await openWs(t, S, { autoPong: true, label: "A5" });
  A5.send(`40{"pid":"${a2.pid}","offset":"${lastArg(w2.text)}"}`);
  await A5.recvN(3, 700);
  A5.close();
  A3.close();
  A4.close();
  await A4.waitClose(1000);
  t.note("kick me (server disconnect) is not persisted: a fresh client K kicks itself, then tries its pid");
  const K = await openWs(t, S, { autoPong: true, label: "K" });
  K.send("40");
  const [ck, wk] = await K.recvN(2, 1000);
  const ki = parseConnect(ck.text);
  K.send('42["kick me"]');
  await K.recv(1000);
  K.close();
  await K.waitClose(1000);
  const K2 = await openWs(t, S, { autoPong: true, label: "K2" });
  K2.send(`40{"pid":"${ki.pid}","offset":"${lastArg(wk.text)}"}`);
  await K2.recvN(2, 1000);
  K2.close();
  await K2.waitClose(1000);
});

add("scenario", "sc-admin-recovery", "2b/2d recovery on /admin", "/admin socket dropped with its engine; recovered without the middleware (no token)", async (t) => {
  const A = await openWs(t, S, { autoPong: true, label: "A" });
  A.send('40/admin,{"token":"s3cret"}');
  const [ca, wa] = await A.recvN(2, 1000);
  const ai = parseConnect(ca.text);
  A.close();
  await A.waitClose(1000);
  const A2 = await openWs(t, S, { autoPong: true, label: "A2" });
  A2.send(`40/admin,{"pid":"${ai.pid}","offset":"${lastArg(wa.text)}"}`);
  await A2.recvN(2, 1000);
  A2.close();
  await A2.waitClose(1000);
});

add("scenario", "sc-oversize", "2 maxHttpBufferSize", "POST of 1,000,000 bytes (ok) and 1,000,001 bytes (413), websocket frame of 1,000,001 bytes", async (t) => {
  const sid = await openPoll(t, S);
  await post(t, S, sid, "40");
  await poll(t, S, sid);
  await post(t, S, sid, `42["x","${"a".repeat(1000000 - 10)}"]`, { quietBody: true }); // exactly 1,000,000 bytes
  await post(t, S, sid, `42["x","${"a".repeat(1000000 - 9)}"]`, { quietBody: true }); // 1,000,001 bytes
  t.note("Node destroys the TCP connection right after the 413 (no Connection: close header); wait before reusing the pool");
  await t.sleep(50);
  await poll(t, S, sid);
  await post(t, S, sid, "3");
  const ws = await openWs(t, S, { autoPong: true });
  ws.send("40");
  await ws.recvN(2, 1000);
  t.log(`ws1> text (1000000 bytes) 42["x","aaaa..."]`);
  ws.sock.send(`42["x","${"a".repeat(1000000 - 10)}"]`);
  await ws.recv(500);
  t.log(`ws1> text (1000001 bytes) 42["x","aaaa..."]`);
  ws.sock.send(`42["x","${"a".repeat(1000000 - 9)}"]`);
  await ws.waitClose(2000);
});

add("scenario", "sc-bundle", "2a client bundle", "socket.io.js (+ETag, 304, W/, gzip), min.js, map, unknown file under /socket.io/, HEAD, query string", async (t) => {
  const js = "/socket.io/socket.io.js";
  const r = await t.http("GET", js, { quietBody: true });
  if (r.body) {
    const crypto = require("crypto");
    t.note(`socket.io.js: ${r.body.length} bytes, sha256 ${crypto.createHash("sha256").update(r.body).digest("hex")}, first line ${JSON.stringify(r.text.split("\n")[0])}, second ${JSON.stringify(r.text.split("\n")[1])}`);
  }
  await t.http("GET", js, { headers: { "If-None-Match": '"4.8.4"' } });
  await t.http("GET", js, { headers: { "If-None-Match": 'W/"4.8.4"' } });
  await t.http("GET", js, { headers: { "If-None-Match": '"4.8.3"' }, quietBody: true });
  await t.http("GET", js, { headers: { "If-None-Match": '"x", "4.8.4"' }, quietBody: true });
  await t.http("GET", js, { headers: { "Accept-Encoding": "gzip, deflate, br" }, quietBody: true });
  await t.http("GET", js, { headers: { "Accept-Encoding": "gzip" }, quietBody: true });
  await t.http("GET", `${js}?v=1`, { quietBody: true });
  await t.http("HEAD", js);
  await t.http("GET", js, { headers: { Origin: "http://example.com" }, quietBody: true });
  const m = await t.http("GET", "/socket.io/socket.io.min.js", { quietBody: true });
  if (m.body) t.note(`socket.io.min.js: ${m.body.length} bytes, first line ${JSON.stringify(m.text.split("\n")[0].slice(0, 80))}`);
  await t.http("GET", "/socket.io/socket.io.min.js.map", { quietBody: true });
  await t.http("GET", "/socket.io/socket.io.esm.min.js", { quietBody: true });
  await t.http("GET", "/socket.io/socket.io.msgpack.min.js", { quietBody: true });
  await t.http("GET", "/socket.io/nope.js");
  await t.http("POST", js, { body: "x" , quietBody: true});
});

// ===========================================================================
async function main() {
  const argv = process.argv.slice(2);
  const opt = (name, def) => {
    const i = argv.indexOf(name);
    return i >= 0 ? argv[i + 1] : def;
  };
  if (argv.includes("--list")) {
    for (const s of scenarios) console.log(`${s.set.padEnd(9)} ${s.name.padEnd(40)} ${s.bullet}: ${s.desc}`);
    return;
  }
  const base = opt("--url", null);
  const set = opt("--set", null);
  if (!base || !set) {
    console.error("usage: node trace.js --url http://127.0.0.1:3000 --set protocol|scenario [--only a,b] [--normalize] [--no-time] | --list");
    process.exit(2);
  }
  const only = opt("--only", null);
  const wanted = only ? new Set(only.split(",")) : null;
  const list = scenarios.filter((s) => s.set === set && (!wanted || wanted.has(s.name)));
  const opts = {
    base,
    normalize: argv.includes("--normalize"),
    noTime: argv.includes("--no-time"),
    offsets: set === "scenario",
  };
  for (const s of list) {
    const t = new Trace(s.name, opts);
    let err = null;
    let timer;
    try {
      await Promise.race([
        s.run(t),
        new Promise((_, rej) => {
          timer = setTimeout(() => rej(new Error(`scenario timed out after ${s.timeout}ms`)), s.timeout);
        }),
      ]);
    } catch (e) {
      err = e;
    }
    clearTimeout(timer);
    await t.sleep(30);
    await t.teardown();
    console.log(`### ${s.name}  [${s.bullet}]`);
    console.log(`# ${s.desc}`);
    console.log(t.render());
    if (err) console.log(`!! tracer error: ${err.stack || err}`);
    console.log("");
    await new Promise((r) => setTimeout(r, 50));
  }
}

main().then(
  () => process.exit(0),
  (e) => {
    console.error(e);
    process.exit(1);
  },
);

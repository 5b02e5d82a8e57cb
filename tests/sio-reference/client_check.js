#!/usr/bin/env node
// End-to-end check of a scenario server with the real socket.io-client 4.8.4
// (the same library the served bundle is built from). Exits 0 when every check
// passes. Usage: node client_check.js --url http://127.0.0.1:3001
"use strict";

const { io } = require("socket.io-client");

const argv = process.argv.slice(2);
const url = argv[argv.indexOf("--url") + 1] || "http://127.0.0.1:3001";
let failed = 0;
let passed = 0;
const check = (name, cond, detail) => {
  if (cond) passed++;
  else failed++;
  console.log(`${cond ? "ok  " : "FAIL"} ${name}${detail !== undefined ? "  " + JSON.stringify(detail) : ""}`);
};
const once = (s, ev, ms = 3000) =>
  new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`timeout waiting for ${ev}`)), ms);
    s.once(ev, (...a) => {
      clearTimeout(t);
      resolve(a);
    });
  });

async function main() {
  for (const transports of [["websocket"], ["polling"], ["polling", "websocket"]]) {
    const tag = transports.join("+");
    const a = io(url, { transports, reconnectionDelay: 100, reconnectionDelayMax: 200 });
    const b = io(url, { transports: ["websocket"] });
    const pa = once(a, "welcome");
    const pb = once(b, "welcome");
    const [wa] = await pa;
    await pb;
    check(`${tag}: welcome not recovered`, wa.recovered === false && wa.nsp === "/", wa);
    const ja = await a.timeout(2000).emitWithAck("join", "r");
    check(`${tag}: join ack lists own id first`, ja.rooms[0] === a.id && ja.rooms.includes("r"), ja);
    await b.timeout(2000).emitWithAck("watch");

    const bursts = [];
    a.on("burst", (x) => bursts.push(x));
    const reasons = [];
    a.on("disconnect", (r) => reasons.push(r));
    const oldId = a.id;
    const drop = b.timeout(3000).emitWithAck("drop transport", { id: a.id, room: "r", count: 3, tag });
    const [reconnectWelcome] = await once(a, "welcome", 5000);
    const dr = await drop;
    check(`${tag}: drop ack`, dr.ok === true && typeof dr.reason === "string", dr);
    check(`${tag}: client saw a recoverable disconnect`, reasons[0] === "transport close", reasons);
    check(`${tag}: recovered with the same id`, a.recovered === true && a.id === oldId && reconnectWelcome.recovered === true, {
      recovered: a.recovered,
      same: a.id === oldId,
    });
    check(`${tag}: missed bursts delivered once, in order`, bursts.map((x) => x.seq).join(",") === "0,1,2", bursts);
    const rs = await a.timeout(2000).emitWithAck("room size", "r");
    check(`${tag}: rooms restored`, rs.size === 1, rs);

    // binary echo
    const bin = await a.timeout(2000).emitWithAck("echo", Buffer.from([1, 2, 3]));
    check(`${tag}: binary echo`, Buffer.isBuffer(bin) && bin.equals(Buffer.from([1, 2, 3])), bin);

    // /admin
    const bad = io(`${url}/admin`, { transports, auth: { token: "x" } });
    const [err] = await once(bad, "connect_error");
    check(`${tag}: /admin refused`, err.message === "unauthorized" && err.data && err.data.reason === "bad token", { message: err.message, data: err.data });
    bad.close();
    const adm = io(`${url}/admin`, { transports, auth: { token: "s3cret" } });
    const [aw] = await once(adm, "admin welcome");
    check(`${tag}: /admin welcome`, aw.token === "s3cret" && aw.nsp === "/admin", aw);
    adm.close();

    // kick me
    const kicked = once(a, "disconnect");
    a.emit("kick me");
    const [kr] = await kicked;
    check(`${tag}: kick me -> io server disconnect`, kr === "io server disconnect", kr);
    a.close();
    b.close();
  }
  console.log(`${passed} passed, ${failed} failed`);
  process.exit(failed ? 1 : 0);
}

main().catch((e) => {
  console.error(e);
  console.log(`${passed} passed, ${failed + 1} failed`);
  process.exit(1);
});

// Cross-node fan-out through a broker, measured with the real socket.io-client 4.8: a
// publisher on node A emits `say` {room, text} at a fixed rate (open loop); subscribers on
// the other nodes time each `said` from the send time carried in its text. With several
// subscriber nodes, each node's subscribers are in a room of their own and the publisher
// sends to the rooms in turn (rooms spread over nodes). Works with any server that follows
// shared/contracts/cluster-node.md (windlass's cluster_node, Node's
// tests/cluster/node_server.js).
//
//   node fanout.js --publisher URL --subscriber URL[,URL…] --subscribers 50 --rate 400
//                  --seconds 10 --size 128 --pids PID,PID
//
// Prints one JSON line: sent, delivered, expected, latency p50/p99/max (ms), the window, and
// the CPU seconds each pid used over it (utime + stime from /proc).
"use strict";
const fs = require("node:fs");
const path = require("node:path");
const { io } = require(path.join(__dirname, "../../tests/cluster/node_modules/socket.io-client"));

function option(name, fallback) {
  const at = process.argv.indexOf(name);
  return at > 0 && at + 1 < process.argv.length ? process.argv[at + 1] : fallback;
}

const publisherUrl = option("--publisher", "");
const subscriberUrls = option("--subscriber", "").split(",").filter(Boolean);
const subscribers = Number(option("--subscribers", "50"));
const rate = Number(option("--rate", "400"));
const seconds = Number(option("--seconds", "10"));
const size = Number(option("--size", "128"));
const pids = option("--pids", "").split(",").filter(Boolean).map(Number);
const CLK_TCK = 100;

function cpuSeconds(pid) {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
  } catch {
    return NaN;
  }
}

function connect(url) {
  return new Promise((resolve, reject) => {
    const socket = io(url, { transports: ["websocket"], reconnection: false, timeout: 10000 });
    socket.once("connect", () => resolve(socket));
    socket.once("connect_error", reject);
  });
}

function percentile(sorted, p) {
  if (sorted.length === 0) return null;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

async function main() {
  // The subscribers, split evenly over the subscriber nodes; node i's are in room bench-i.
  const rooms = subscriberUrls.map((_, i) => `bench-${i}`);
  const members = rooms.map(() => 0);
  const subs = [];
  for (let i = 0; i < subscribers; i++) {
    const at = i % subscriberUrls.length;
    const s = await connect(subscriberUrls[at]);
    await s.timeout(8000).emitWithAck("join", rooms[at]);
    members[at]++;
    subs.push(s);
  }
  const publisher = await connect(publisherUrl);

  let measuring = false;
  const latencies = [];
  let delivered = 0;
  for (const s of subs) {
    s.on("said", (message) => {
      const sent = Number(message.text.slice(0, message.text.indexOf("|")));
      if (!measuring || !(sent > 0)) return;
      delivered++;
      latencies.push(performance.timeOrigin + performance.now() - sent);
    });
  }
  const padding = "x".repeat(size);
  let turn = 0;
  let expected = 0;
  const send = () => {
    const stamp = String(performance.timeOrigin + performance.now());
    const text = (stamp + "|" + padding).slice(0, Math.max(size, stamp.length + 1));
    const at = turn++ % rooms.length;
    if (measuring) expected += members[at];
    publisher.emit("say", { room: rooms[at], text });
  };

  // Warm up for a second, then measure.
  const warmup = setInterval(send, 1000 / Math.min(rate, 100));
  await new Promise((resolve) => setTimeout(resolve, 1000));
  clearInterval(warmup);
  await new Promise((resolve) => setTimeout(resolve, 300));

  const cpuBefore = pids.map(cpuSeconds);
  const started = performance.now();
  measuring = true;
  let sent = 0;
  const total = Math.round(rate * seconds);
  // Open loop: sends are due on a fixed schedule, whatever the answers do.
  await new Promise((resolve) => {
    const tick = () => {
      const due = Math.min(total, Math.floor(((performance.now() - started) / 1000) * rate));
      while (sent < due) {
        send();
        sent++;
      }
      if (sent >= total) return resolve();
      setTimeout(tick, 1);
    };
    tick();
  });
  // Drain: what was sent may still be on its way.
  const drainUntil = performance.now() + 5000;
  while (delivered < expected && performance.now() < drainUntil) {
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  const window = (performance.now() - started) / 1000;
  const cpuAfter = pids.map(cpuSeconds);
  measuring = false;
  latencies.sort((a, b) => a - b);
  const result = {
    sent,
    delivered,
    expected,
    window_s: window,
    latency_ms: { p50: percentile(latencies, 50), p99: percentile(latencies, 99), max: latencies[latencies.length - 1] ?? null },
    cpu_s: pids.map((pid, i) => cpuAfter[i] - cpuBefore[i]),
  };
  console.log(JSON.stringify(result));
  for (const s of subs) s.close();
  publisher.close();
  process.exit(0);
}

main().catch((error) => {
  console.error(error && error.stack ? error.stack : String(error));
  process.exit(1);
});

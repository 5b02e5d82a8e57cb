// Two Chromium pages chat through the socketio_chat example and the Socket.IO client bundle it
// serves, the way people would: open the page, type a name, type messages, change rooms. Run by
// `tests/socketio.rs` (`two_chromium_pages_chat_through_the_served_socket_io_client`) as
// `node socketio_chat.mjs http://127.0.0.1:PORT/`; prints one line per step and exits non-zero
// with the reason on the first failure. With a second URL, bob's page opens there: two nodes
// of `cluster_chat` (`tests/cluster.rs`).
//
// Uses Debian's Chromium (/usr/bin/chromium, or $CHROMIUM) through playwright-core, which never
// downloads a browser.

import { chromium } from "playwright-core";

const url = process.argv[2];
const bobUrl = process.argv[3] ?? url;
if (!url) {
  console.error("usage: node socketio_chat.mjs http://127.0.0.1:PORT/");
  process.exit(2);
}
const WAIT = 10_000;

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking"],
  timeout: 30_000,
});

function step(text) {
  console.log(`ok: ${text}`);
}

function exactly(text) {
  return new RegExp(`^${text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}$`);
}

/** Waits until the element `selector` of `page` has an entry with exactly `text`. */
async function sees(page, who, text, selector = "#log li") {
  await page.locator(selector).filter({ hasText: exactly(text) }).first().waitFor({ timeout: WAIT });
  step(`${who} sees ${JSON.stringify(text)}`);
}

/** Waits until the rooms list of `page` is exactly `rooms`, in order. */
async function seesRooms(page, who, rooms) {
  await page.waitForFunction(
    (expected) => [...document.querySelectorAll("#rooms li")].map((li) => li.textContent).join(", ") === expected,
    rooms.join(", "),
    { timeout: WAIT },
  );
  step(`${who} sees the rooms ${rooms.join(", ")}`);
}

async function say(page, text) {
  await page.fill("#message", text);
  await page.click("#submit");
}

async function open(context, name, at = url) {
  const page = await context.newPage();
  page.on("pageerror", (error) => {
    console.error(`page error in ${name}'s page: ${error}`);
    process.exitCode = 1;
  });
  // Every Engine.IO request the page makes: polling first, then the WebSocket upgrade.
  const transports = [];
  page.on("request", (request) => {
    const transport = new URL(request.url()).searchParams.get("transport");
    if (transport) transports.push(transport);
  });
  page.on("websocket", (ws) => transports.push(`ws ${new URL(ws.url()).searchParams.get("transport")}`));
  const response = await page.goto(at, { timeout: WAIT });
  if (!response.ok()) throw new Error(`the page answered ${response.status()}`);
  await page.waitForFunction(() => typeof io === "function", null, { timeout: WAIT });
  step(`${name}'s page loaded the client from /socket.io/socket.io.js`);
  await page.locator("#status.connected", { hasText: "connected over websocket" }).waitFor({ timeout: WAIT });
  const transport = await page.evaluate(() => socket.io.engine.transport.name);
  if (transport !== "websocket" || transports[0] !== "polling" || !transports.includes("ws websocket")) {
    throw new Error(`${name}: transport ${transport}, requests ${transports.join(" ")}`);
  }
  step(`${name}'s page connected over polling, then upgraded to websocket`);
  await say(page, name);
  await sees(page, name, `Welcome, ${name}!`);
  await sees(page, name, "You are in #lobby.");
  return page;
}

try {
  const context = await browser.newContext();
  const alice = await open(context, "alice");
  const bob = await open(context, "bob", bobUrl);
  await sees(alice, "alice", "bob joined");
  await seesRooms(alice, "alice", ["#lobby (2)"]);

  await say(alice, "hello from alice");
  await sees(bob, "bob", "alice: hello from alice");
  await sees(alice, "alice", "alice: hello from alice"); // sent back to the sender too

  await say(bob, "hi alice, <b>not bold</b>");
  await sees(alice, "alice", "bob: hi alice, <b>not bold</b>");
  if ((await alice.locator("#log b").count()) !== 0) {
    throw new Error("a message was rendered as HTML");
  }
  step("messages are shown as text, not HTML");

  // bob moves to #den: alice, left in #lobby, is told, and his message there is not hers.
  await say(bob, "/join den");
  await sees(bob, "bob", "You are in #den.");
  await sees(alice, "alice", "bob left #lobby");
  await seesRooms(alice, "alice", ["#den (1)", "#lobby (1)"]);
  await say(bob, "only in the den");
  await sees(bob, "bob", "bob: only in the den");
  // alice follows. Had the den message been sent to her, it would have come before the
  // answer to her join (her socket's packets keep their order).
  await say(alice, "/join den");
  await sees(alice, "alice", "You are in #den.");
  await sees(bob, "bob", "alice joined #den");
  await say(bob, "welcome to the den");
  await sees(alice, "alice", "bob: welcome to the den");
  if ((await alice.locator("#log li", { hasText: "only in the den" }).count()) !== 0) {
    throw new Error("alice got a message of a room she was not in");
  }
  step("a room message reaches only the room's members");
  await seesRooms(bob, "bob", ["#den (2)"]);

  await alice.fill("#message", "I am typ");
  await sees(bob, "bob", "alice is typing…", "#typing");

  await bob.close();
  await sees(alice, "alice", "bob left");
  await seesRooms(alice, "alice", ["#den (1)"]);
  console.log("passed");
} catch (error) {
  console.error(`failed: ${error.message ?? error}`);
  process.exitCode = 1;
} finally {
  await browser.close();
}

// Two Chromium tabs chat through the web_chat example, the way a person would: open the page,
// type a name, type messages. Run by `tests/examples.rs` (`web_chat_chats_between_two_chromium_tabs`)
// as `node web_chat.mjs http://127.0.0.1:PORT/`; prints one line per step and exits non-zero
// with the reason on the first failure.
//
// Uses Debian's Chromium (/usr/bin/chromium, or $CHROMIUM) through playwright-core, which never
// downloads a browser.

import http from "node:http";

import { chromium } from "playwright-core";

const url = process.argv[2];
if (!url) {
  console.error("usage: node web_chat.mjs http://127.0.0.1:PORT/");
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

/** Waits until the chat log of `page` has an entry with exactly `text`. */
async function sees(page, who, text) {
  const exactly = new RegExp(`^${text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}$`);
  await page.locator("#log li").filter({ hasText: exactly }).first().waitFor({ timeout: WAIT });
  step(`${who} sees ${JSON.stringify(text)}`);
}

async function say(page, text) {
  await page.fill("#message", text);
  await page.click("#submit");
}

async function join(context, name, pageUrl) {
  const page = await context.newPage();
  page.on("pageerror", (error) => {
    console.error(`page error in ${name}'s tab: ${error}`);
    process.exitCode = 1;
  });
  await page.goto(pageUrl, { timeout: WAIT });
  await page.locator("#status.connected").waitFor({ timeout: WAIT });
  step(`${name}'s tab connected`);
  await sees(page, name, "Enter your name:");
  await say(page, name);
  await sees(page, name, `Welcome, ${name}!`);
  return page;
}

try {
  const context = await browser.newContext();
  // The page works wherever it is served from: its socket's origin is the page's own.
  const alice = await join(context, "alice", url);
  const bob = await join(context, "bob", url.replace("//127.0.0.1:", "//localhost:"));
  await sees(alice, "alice", "bob joined");

  await say(alice, "hello from alice");
  await sees(bob, "bob", "alice: hello from alice");
  await sees(alice, "alice", "alice: hello from alice"); // her own line, shown by the page

  await say(bob, "hi alice, <b>not bold</b>");
  await sees(alice, "alice", "bob: hi alice, <b>not bold</b>");
  if ((await alice.locator("#log b").count()) !== 0) {
    throw new Error("a message was rendered as HTML");
  }
  step("messages are shown as text, not HTML");

  await bob.close();
  await sees(alice, "alice", "bob left");

  // A page from another origin opens the chat's socket: the server refuses it. The page is
  // served by a second server on another port of this host (an origin on a public host would
  // be stopped by Chromium's private network checks before it reached the server).
  const foreignServer = http.createServer((_, response) => {
    response.writeHead(200, { "content-type": "text/html" });
    response.end("<!doctype html><title>foreign</title>");
  });
  await new Promise((resolve) => foreignServer.listen(0, "127.0.0.1", resolve));
  const other = await context.newPage();
  await other.goto(`http://127.0.0.1:${foreignServer.address().port}/`, { timeout: WAIT });
  const socketUrl = `${url.replace("http://", "ws://")}chat`;
  const outcome = await other.evaluate(
    (target) =>
      new Promise((resolve) => {
        const ws = new WebSocket(target);
        ws.onopen = () => resolve("open");
        ws.onclose = (event) => resolve(`closed with ${event.code}`);
      }),
    socketUrl,
  );
  if (outcome === "open") {
    throw new Error("a page from another origin was let in");
  }
  step(`a page from another origin is refused (${outcome})`);
  foreignServer.close();
  console.log("passed");
} catch (error) {
  console.error(`failed: ${error.message ?? error}`);
  process.exitCode = 1;
} finally {
  await browser.close();
}

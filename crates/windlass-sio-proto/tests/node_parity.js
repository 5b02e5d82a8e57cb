// Reads a JSON array of strings on stdin; for each prints what Node's parsers make of it:
// socket.io-parser (decode, then re-encode), JSON.stringify(JSON.parse(s)), and
// engine.io-parser's decodePayload. Run by tests/node_parity.rs with NODE_PATH set to
// tests/sio-reference/node_modules.
const { Encoder, Decoder } = require("socket.io-parser");
const eio = require("engine.io-parser");

const inputs = JSON.parse(require("fs").readFileSync(0, "utf8"));
const out = inputs.map((s) => {
  let sio;
  try {
    const d = new Decoder();
    let got = null;
    d.on("decoded", (p) => (got = p));
    d.add(s);
    sio = got === null ? "WAIT" : new Encoder().encode(got)[0];
  } catch (e) {
    sio = "ERR";
  }
  let json;
  try {
    json = JSON.stringify(JSON.parse(s));
  } catch (e) {
    json = "ERR";
  }
  const eioOut = eio.decodePayload(s).map((p) =>
    p.type === "error" ? "ERR" : p.type + ":" + (Buffer.isBuffer(p.data) ? "bin:" + [...p.data].join(",") : p.data === undefined ? "-" : p.data),
  );
  return { sio, json, eio: eioOut };
});
process.stdout.write(JSON.stringify(out));

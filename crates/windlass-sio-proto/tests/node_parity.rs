//! Differential test against Node's real parsers (socket.io-parser 4.2, engine.io-parser 5.2
//! from `tests/sio-reference/node_modules`): a corpus of packet texts is decoded and re-encoded
//! by both, and `JSON.stringify(JSON.parse(s))` is compared with `Value` parsing and printing.
//! Skipped, with a note, when `node` or `node_modules` are missing
//! (`npm ci --prefix tests/sio-reference`).

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use bytes::Bytes;
use windlass_sio_proto::engine::{self, Data};
use windlass_sio_proto::socket::{Decoded, DecoderConfig, decode};
use windlass_sio_proto::{Utf8Bytes, Value};

/// Inputs where windlass refuses on purpose what Node accepts (see `socket::decode` and the
/// `value` module): whitespace after the header, unsafe ack ids, lone surrogates.
fn known_divergence(s: &str) -> bool {
    s.contains("\\ud8") || s.contains("\\udc") || s.starts_with("2 ") || s.starts_with("2999999999999999999")
}

fn corpus() -> Vec<String> {
    let mut c: Vec<String> = [
        "0",
        "0{}",
        r#"0{"token":"123"}"#,
        "0/custom,",
        "0/custom",
        r#"0/custom,{"token":"abc"}"#,
        "1",
        "1/custom",
        "1/custom,",
        r#"2["message",1,"2",{"3":[true]}]"#,
        r#"2456["message-with-ack",1,"2",{"3":[false]}]"#,
        r#"3456[1,"2",{"3":[false]}]"#,
        r#"4/admin,{"message":"unauthorized","data":{"reason":"bad token"}}"#,
        r#"4"x""#,
        "abc",
        "2{}",
        r#"2abc["a"]"#,
        "2[]",
        "2[1]",
        r#"2["connect"]"#,
        "0null",
        "1x",
        r#"2["a"]x"#,
        r#"2["a"] "#,
        r#"2007["a"]"#,
        r#"2/a["x"]"#,
        "0/",
        "0/,",
        "2",
        "3",
        "7",
        "8[]",
        r#"2/x,12["a"]"#,
        "3/x,12",
        r#"2["a",{"b":1,"2":2,"1":3,"b":5}]"#,
        r#"2["n",1.0,1e21,-0,123456789012345678901,0.1,1e-7,5e-324,1E400]"#,
        "2[\"s\",\"\\u007f\\u0000\\u001f\\u2028\\ud83d\\ude00\\u00e9\\\"\\\\\\/\\b\\f\\n\\r\\t\\u000B\"]",
        "2[\"raw é 😀 \u{7f}\u{2028}\"]",
        r#"2[ "sp" , { "a" : [ ] } ]"#,
        r#"2["__proto__",{"__proto__":1}]"#,
        r#"2["a",[[[[[[[[[[1]]]]]]]]]]]"#,
        r#"2["a",{"_placeholder":true,"num":0}]"#,
        r#"2["a",01]"#,
        r#"2["a",1.]"#,
        r#"2["a","\x"]"#,
        "2[\"a\",\"\t\"]",
        r#"2["a",-]"#,
        r#"2["a",.5]"#,
        r#"2["a",tru]"#,
        r#"2["a",9007199254740993]"#,
        r#"2["a",-9007199254740993]"#,
        r#"2["a",1e-400]"#,
        r#"2["a",123.456e10]"#,
        r#"2["a",0.000001]"#,
        r#"2["a",1e-7]"#,
        r#"2["a",1e+2]"#,
        r#"2["a",100000000000000000000]"#,
        "4hello",
        "2probe",
        "",
        "4\x1e",
        "4a\x1e4b\x1e4c",
        "bAQIDBA==",
        "4hello\x1ebAQIDBA==",
        "b!!!",
        "bAQ=ID",
        "b-_8",
        "7x",
        "6",
        "4\x1e\x1e4",
        "4é",
        "b",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    // Numbers of every shape.
    for n in [
        "0.1",
        "2.5e-5",
        "1.7976931348623157e308",
        "4.9e-324",
        "123e-20",
        "0.30000000000000004",
        "-1.5e300",
        "1e21",
        "999999999999999999999",
        "1.5e20",
    ] {
        c.push(format!("2[\"n\",{n}]"));
    }
    c
}

#[test]
fn decoding_and_encoding_match_node() {
    let modules =
        PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/sio-reference/node_modules"));
    if !modules.join("socket.io-parser").exists() {
        eprintln!("node_parity: skipped, run `npm ci --prefix tests/sio-reference` first");
        return;
    }
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/node_parity.js");
    let child = Command::new("node")
        .arg(script)
        .env("NODE_PATH", &modules)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn();
    let Ok(mut child) = child else {
        eprintln!("node_parity: skipped, `node` not found");
        return;
    };
    let corpus = corpus();
    let input = serde_json::to_string(&corpus).unwrap();
    child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "node failed");
    let node: Vec<serde_json::Value> = serde_json::from_slice(&output.stdout).unwrap();

    let mut checked = 0;
    for (s, want) in corpus.iter().zip(&node) {
        // JSON: JSON.stringify(JSON.parse(s)).
        let json = Value::from_json(s).map_or("ERR".to_owned(), |v| v.to_json());
        if !known_divergence(s) {
            assert_eq!(json, want["json"].as_str().unwrap(), "json of {s:?}");
        }
        // socket.io-parser: decode, re-encode.
        let sio = match decode(&Utf8Bytes::from(s.as_str()), &DecoderConfig::default()) {
            Ok(Decoded::Packet(p)) => p.encode().text.to_string(),
            Ok(Decoded::Binary(_)) => "WAIT".to_owned(),
            Err(_) => "ERR".to_owned(),
        };
        // Node decodes "" (and " ") as CONNECT; the engine layer never hands it an empty text.
        if !known_divergence(s) && !s.is_empty() {
            assert_eq!(sio, want["sio"].as_str().unwrap(), "socket.io-parser on {s:?}");
        }
        // engine.io-parser: decodePayload.
        let eio: Vec<String> = engine::decode_payload(Bytes::copy_from_slice(s.as_bytes()))
            .map(|p| match p {
                Err(_) => "ERR".to_owned(),
                Ok(p) => {
                    let kind =
                        ["open", "close", "ping", "pong", "message", "upgrade", "noop"][p.kind as usize];
                    match &p.data {
                        Data::None => format!("{kind}:-"),
                        Data::Text(t) => format!("{kind}:{t}"),
                        Data::Binary(b) => format!(
                            "{kind}:bin:{}",
                            b.iter().map(u8::to_string).collect::<Vec<_>>().join(",")
                        ),
                    }
                }
            })
            .collect();
        let want_eio: Vec<&str> =
            want["eio"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
        assert_eq!(eio, want_eio, "engine.io-parser on {s:?}");
        checked += 1;
    }
    assert_eq!(checked, corpus.len());
}

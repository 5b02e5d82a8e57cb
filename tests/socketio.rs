//! Socket.IO end to end: the fixture examples `socketio_scenario` and `socketio_protocol`
//! driven by clients written by others — the npm `socket.io-client` 4.8 (Node) over
//! websocket-only, polling-only and polling-then-upgrade — and raw Engine.IO exchanges whose
//! bytes are Node's (captured from Node's socket.io 4.8 with `tests/sio-reference/trace.js`).
//!
//! The Node client lives in `tests/sio-reference` (`npm ci --prefix tests/sio-reference`).
//! Without Node or those packages the Node tests are skipped with a note, except under CI
//! (`CI=true`), where they fail.

#[path = "support/http.rs"]
mod http_support;
mod support;

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use http_support::Client;
use support::example::Example;
use tokio::process::Command;

/// `tests/sio-reference`: the Node client, its scripts and its `node_modules`.
fn reference_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("sio-reference")
}

fn client_package() -> PathBuf {
    reference_dir().join("node_modules/socket.io-client")
}

/// Whether Node and the npm client are installed; if not, what is missing.
fn node_ready() -> Result<(), String> {
    if std::process::Command::new("node").arg("--version").output().is_err() {
        return Err("node is missing".to_owned());
    }
    if !client_package().join("dist").is_dir() {
        return Err("socket.io-client is missing (npm ci --prefix tests/sio-reference)".to_owned());
    }
    Ok(())
}

fn skip_without_node() -> bool {
    if let Err(missing) = node_ready() {
        assert!(std::env::var_os("CI").is_none(), "CI must run the Socket.IO client tests, but {missing}");
        eprintln!("skipped: {missing}; see tests/socketio.rs");
        return true;
    }
    false
}

async fn scenario() -> Example {
    let bundle = client_package();
    Example::start_with_env("socketio_scenario", &[], &[("WINDLASS_SOCKET_IO_CLIENT", OsStr::new(&bundle))])
        .await
}

/// Runs a Node script of `tests/sio-reference` with `args`; its stdout, after asserting it
/// exited 0.
async fn node(script: &str, args: &[&str]) -> String {
    let run = Command::new("node")
        .arg(reference_dir().join(script))
        .args(args)
        .current_dir(reference_dir())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .output();
    let output =
        tokio::time::timeout(Duration::from_secs(120), run).await.expect("the node client hung").unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{script} failed:\n{stdout}\n{stderr}");
    stdout
}

#[tokio::test]
async fn the_real_socket_io_client_passes_the_scenario_suite_on_every_transport() {
    if skip_without_node() {
        return;
    }
    let server = scenario().await;
    let url = format!("http://{}", server.addr);
    let out = node("client_check.js", &["--url", &url]).await;
    assert!(!out.contains("FAIL"), "{out}");
    let passed = out.lines().filter(|line| line.starts_with("ok ")).count();
    assert!(passed >= 33, "only {passed} checks passed:\n{out}");
    for transports in ["websocket", "polling", "polling+websocket"] {
        assert!(out.contains(&format!("ok   {transports}: recovered with the same id")), "{out}");
    }
}

#[tokio::test]
async fn the_client_bundle_is_served_with_an_etag_and_304_when_unchanged() {
    if skip_without_node() {
        return;
    }
    let server = scenario().await;
    let mut client = Client::connect(server.addr).await;
    client.send("GET /socket.io/socket.io.js HTTP/1.1\r\nHost: x\r\n\r\n").await;
    let response = client.response().await;
    assert!(response.starts_with("HTTP/1.1 200 OK\r\n"), "{}", &response[..200.min(response.len())]);
    assert!(response.contains("content-type: application/javascript; charset=utf-8\r\n"));
    let version = std::fs::read_to_string(client_package().join("package.json")).unwrap();
    let version =
        version.split("\"version\": \"").nth(1).and_then(|v| v.split('"').next()).unwrap().to_owned();
    let etag = format!("etag: \"{version}\"\r\n");
    assert!(response.contains(&etag), "no {etag:?}");
    let dist = std::fs::read(client_package().join("dist/socket.io.js")).unwrap();
    assert!(response.ends_with(std::str::from_utf8(&dist).unwrap()), "the body is not dist/socket.io.js");

    client
        .send(format!(
            "GET /socket.io/socket.io.js HTTP/1.1\r\nHost: x\r\nIf-None-Match: W/\"{version}\"\r\n\r\n"
        ))
        .await;
    let head = client.head().await;
    assert!(head.starts_with("HTTP/1.1 304 Not Modified\r\n"), "{head}");

    client.send("GET /socket.io/socket.io.min.js HTTP/1.1\r\nHost: x\r\n\r\n").await;
    let min = client.response().await;
    let dist = std::fs::read(client_package().join("dist/socket.io.min.js")).unwrap();
    assert!(min.starts_with("HTTP/1.1 200 OK\r\n"));
    assert!(min.ends_with(std::str::from_utf8(&dist).unwrap()), "the body is not dist/socket.io.min.js");
}

//! Socket.IO end to end: the fixture examples `socketio_scenario` and `socketio_protocol`
//! driven by clients written by others — the npm `socket.io-client` 4.8 (Node) over
//! websocket-only, polling-only and polling-then-upgrade — and raw Engine.IO exchanges whose
//! bytes are Node's (captured from Node's socket.io 4.8 with `tests/sio-reference/trace.js`).
//!
//! The Node client lives in `tests/sio-reference` (`npm ci --prefix tests/sio-reference`).
//! Without Node or those packages the Node tests are skipped with a note, except under CI
//! (`CI=true`), where they fail.
//!
//! The `socketio_chat` example is driven by two Chromium pages that load the bundle it serves
//! (`tests/browser/socketio_chat.mjs`); that test also needs `chromium` and
//! `npm ci --prefix tests/browser`, and is skipped without them on the same terms.

#[path = "support/http.rs"]
mod http_support;
mod support;

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use http_support::Client;
use support::browser::{browser_ready, run_script};
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

/// Whether Chromium and playwright-core are installed besides Node and the client (see
/// [`node_ready`]); if not, what is missing.
fn chat_browser_ready() -> Result<(), String> {
    node_ready()?;
    browser_ready()
}

#[tokio::test]
async fn the_chat_page_is_served_at_the_root_beside_the_client_bundle() {
    let bundle = client_package();
    let env = [("WINDLASS_SOCKET_IO_CLIENT", OsStr::new(&bundle))];
    let chat = Example::start_with_env("socketio_chat", &[], &env).await;
    let mut client = Client::connect(chat.addr).await;
    client.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n").await;
    let page = client.response().await;
    assert!(page.starts_with("HTTP/1.1 200 OK\r\n"), "{page}");
    assert!(page.contains("\r\ncontent-type: text/html; charset=utf-8\r\n"), "{page}");
    let html = include_str!("../examples/socketio_chat.html");
    assert!(page.ends_with(html), "the page differs from examples/socketio_chat.html");
    assert!(html.contains(r#"<script src="/socket.io/socket.io.js"></script>"#));
    assert!(!html.contains("innerHTML"), "the page must not render other people's text as HTML");
    if node_ready().is_ok() {
        client.send("GET /socket.io/socket.io.js HTTP/1.1\r\nHost: x\r\n\r\n").await;
        let script = client.response().await;
        assert!(script.starts_with("HTTP/1.1 200 OK\r\n"), "{}", &script[..200.min(script.len())]);
    }
    // The router's refusal closes the connection: a fresh one.
    let mut client = Client::connect(chat.addr).await;
    client.send("GET /nowhere HTTP/1.1\r\nHost: x\r\n\r\n").await;
    let missing = client.response().await;
    assert!(missing.starts_with("HTTP/1.1 404 Not Found\r\n"), "{missing}");
}

#[tokio::test]
async fn two_chromium_pages_chat_through_the_served_socket_io_client() {
    if let Err(missing) = chat_browser_ready() {
        assert!(std::env::var_os("CI").is_none(), "CI must run the browser test, but {missing}");
        eprintln!("skipped: {missing}; see tests/socketio.rs");
        return;
    }
    let bundle = client_package();
    let env = [("WINDLASS_SOCKET_IO_CLIENT", OsStr::new(&bundle))];
    let chat = Example::start_with_env("socketio_chat", &[], &env).await;
    let url = format!("http://{}/", chat.addr);
    let stdout = run_script("socketio_chat.mjs", std::slice::from_ref(&url)).await;
    for step in [
        "ok: alice's page loaded the client from /socket.io/socket.io.js",
        "ok: alice's page connected over polling, then upgraded to websocket",
        "ok: bob's page connected over polling, then upgraded to websocket",
        r#"ok: alice sees "bob joined""#,
        r#"ok: bob sees "alice: hello from alice""#,
        r#"ok: alice sees "alice: hello from alice""#,
        r#"ok: alice sees "bob: hi alice, <b>not bold</b>""#,
        "ok: messages are shown as text, not HTML",
        r#"ok: alice sees "bob left #lobby""#,
        "ok: alice sees the rooms #den (1), #lobby (1)",
        r#"ok: bob sees "alice joined #den""#,
        r#"ok: alice sees "bob: welcome to the den""#,
        "ok: a room message reaches only the room's members",
        r#"ok: bob sees "alice is typing…""#,
        r#"ok: alice sees "bob left""#,
        "ok: alice sees the rooms #den (1)",
    ] {
        assert!(stdout.contains(&format!("{step}\n")), "missing step {step:?} in:\n{stdout}");
    }
    assert!(stdout.ends_with("passed\n"), "{stdout}");
}

/// `tests/sio-python`: the python-socketio suite and its pinned requirements.
fn python_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("sio-python")
}

/// The python of `target/sio-python-venv`, a virtualenv with `tests/sio-python/requirements.txt`
/// installed; created when missing, reinstalled when the requirements changed (a copy of the
/// installed ones is kept in the venv), untouched otherwise. If it cannot be made, why not.
fn python_venv() -> Result<PathBuf, String> {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("tests/ is inside the workspace");
    let venv = workspace.join("target/sio-python-venv");
    let python = venv.join(if cfg!(windows) { "Scripts/python.exe" } else { "bin/python" });
    let requirements = python_dir().join("requirements.txt");
    let wanted = std::fs::read(&requirements).map_err(|e| format!("{}: {e}", requirements.display()))?;
    let installed = venv.join("requirements.installed.txt");
    if python.is_file() && std::fs::read(&installed).is_ok_and(|have| have == wanted) {
        return Ok(python);
    }
    let run = |program: &Path, args: &[&OsStr]| -> Result<(), String> {
        let shown = format!("{} {}", program.display(), args.join(OsStr::new(" ")).to_string_lossy());
        let output =
            std::process::Command::new(program).args(args).output().map_err(|e| format!("{shown}: {e}"))?;
        if output.status.success() {
            Ok(())
        } else {
            Err(format!("{shown} failed: {}", String::from_utf8_lossy(&output.stderr).trim()))
        }
    };
    if !python.is_file() {
        run(Path::new("python3"), &[OsStr::new("-m"), OsStr::new("venv"), venv.as_os_str()])?;
    }
    let pip = ["-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--retries", "2", "-r"];
    let mut args: Vec<&OsStr> = pip.iter().map(OsStr::new).collect();
    args.push(requirements.as_os_str());
    run(&python, &args)?;
    std::fs::write(&installed, wanted).map_err(|e| format!("{}: {e}", installed.display()))?;
    Ok(python)
}

#[tokio::test]
async fn python_socketio_passes_the_scenario_suite_on_every_transport() {
    let python = match tokio::task::spawn_blocking(python_venv).await.unwrap() {
        Ok(python) => python,
        Err(why) => {
            assert!(std::env::var_os("CI").is_none(), "CI must run the python-socketio suite, but {why}");
            eprintln!("skipped: no python-socketio virtualenv: {why}; see tests/socketio.rs");
            return;
        }
    };
    let server = scenario().await;
    let url = format!("http://{}", server.addr);
    let run = Command::new(&python)
        .arg(python_dir().join("client_check.py"))
        .args(["--url", &url])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .output();
    let output =
        tokio::time::timeout(Duration::from_secs(120), run).await.expect("the python client hung").unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "client_check.py failed:\n{stdout}\n{stderr}");
    assert!(!stdout.contains("FAIL"), "{stdout}");
    let passed = stdout.lines().filter(|line| line.starts_with("ok ")).count();
    assert!(passed >= 150, "only {passed} checks passed:\n{stdout}");
    for transports in ["websocket", "polling", "polling+websocket"] {
        assert!(
            stdout.contains(&format!("ok   {transports}: kick me: the client sees a server disconnect\n"))
        );
    }
}

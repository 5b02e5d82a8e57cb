//! Several `cluster_node` processes (the example of `shared/contracts/cluster-node.md`) sharing
//! rooms and broadcasts through a real `redis-server` or `nats-server` (started here, on free
//! loopback ports), driven by the real `socket.io-client` 4.8 with sockets spread over the
//! nodes; over Redis pub/sub, classic and sharded, one of the nodes is Node socket.io 4.8 with
//! `@socket.io/redis-adapter` 8.3 (`createAdapter`, `createShardedAdapter`: mixed clusters). `tests/cluster/cluster_check.js` makes
//! the checks: every delivery exactly once, sender exclusion, order per sender, counts over
//! every node; a node killed with `SIGKILL` mid-run; the broker killed and restarted mid-run.
//! `tests/cluster/recovery_check.js`: a client whose node is killed recovers on another node.
//!
//! Needs Debian's `redis-server` and `nats-server`, Node and `npm ci --prefix tests/cluster`.
//! Without them a test is skipped with a note, except under CI (`CI=true`), where it fails.

mod support;

use support::broker::{BrokerKind, BrokerProcess, start_broker, which};

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use support::example::Example;
use tokio::io::{AsyncBufReadExt as _, BufReader};
use tokio::process::{Child, Command};

fn cluster_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("cluster")
}

/// What the test needs, or what is missing.
fn ready(broker: BrokerKind) -> Result<PathBuf, String> {
    let program = broker.program();
    let binary = which(program).ok_or_else(|| format!("{program} is missing (apt-get install {program})"))?;
    if std::process::Command::new("node").arg("--version").output().is_err() {
        return Err("node is missing".to_owned());
    }
    for package in
        ["socket.io-client", "socket.io", "@socket.io/redis-adapter", "@socket.io/redis-emitter", "redis"]
    {
        if !cluster_dir().join("node_modules").join(package).is_dir() {
            return Err(format!("{package} is missing (npm ci --prefix tests/cluster)"));
        }
    }
    Ok(binary)
}

/// `tests/cluster/node_server.js`: a Node socket.io node of the same cluster.
async fn start_node_server(broker: &str, sharded: bool) -> (Child, SocketAddr) {
    let mut child = Command::new("node")
        .arg(cluster_dir().join("node_server.js"))
        .args(["--listen", "127.0.0.1:0", "--broker", broker, "--node-id", "node-js"])
        .args(sharded.then_some("--sharded"))
        .current_dir(cluster_dir())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("start node_server.js");
    let mut stdout = BufReader::new(child.stdout.take().expect("piped"));
    let mut line = String::new();
    tokio::time::timeout(Duration::from_secs(20), stdout.read_line(&mut line))
        .await
        .expect("node_server.js did not say where it listens")
        .expect("read node_server.js's stdout");
    let addr = line.trim().strip_prefix("listening on ").and_then(|a| a.parse().ok());
    let addr = addr.unwrap_or_else(|| panic!("node_server.js printed {line:?}"));
    // Keep its stdout open for the rest of its life.
    tokio::spawn(async move {
        let mut sink = String::new();
        while stdout.read_line(&mut sink).await.is_ok_and(|n| n > 0) {
            sink.clear();
        }
    });
    (child, addr)
}

/// One cluster test at a time: each runs several servers and times node deaths.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The cluster a test drives: a broker, three `cluster_node`s and maybe a Node node.
struct Cluster {
    broker: BrokerProcess,
    nodes: Vec<Example>,
    node_js: Option<(Child, SocketAddr)>,
}

impl Cluster {
    /// `None` (after a note) when a tool is missing outside CI.
    async fn start(adapter: &str, with_node_js: bool) -> Option<Self> {
        let kind = if adapter.starts_with("nats") { BrokerKind::Nats } else { BrokerKind::Redis };
        let binary = match ready(kind) {
            Ok(binary) => binary,
            Err(missing) => {
                assert!(std::env::var_os("CI").is_none(), "CI must run the cluster tests, but {missing}");
                eprintln!("skipped: {missing}; see tests/cluster.rs");
                return None;
            }
        };
        let broker = start_broker(kind, &binary).await;
        let mut nodes = Vec::new();
        for id in ["n1", "n2", "n3"] {
            let args = ["--adapter", adapter, "--broker", broker.url.as_str(), "--node-id", id];
            // The first and third nodes run on tokio's current-thread runtime (what a node
            // pinned to one CPU gets), the second on the multi-threaded one: both serve every
            // check, and the nodes the checks stop (SIGTERM on the first, SIGKILL on the third)
            // run the current-thread one.
            let threads: &[(&str, &std::ffi::OsStr)] =
                if id == "n2" { &[] } else { &[("TOKIO_WORKER_THREADS", std::ffi::OsStr::new("1"))] };
            nodes.push(Example::start_with_env("cluster_node", &args, threads).await);
        }
        let node_js = if with_node_js {
            Some(start_node_server(&broker.url, adapter == "redis-sharded").await)
        } else {
            None
        };
        Some(Self { broker, nodes, node_js })
    }

    fn urls(&self) -> String {
        self.nodes.iter().map(|n| format!("http://{}", n.addr)).collect::<Vec<_>>().join(",")
    }

    fn pids(&self) -> String {
        self.nodes.iter().map(|n| n.child.id().expect("running").to_string()).collect::<Vec<_>>().join(",")
    }

    /// Runs a script of `tests/cluster` with the nodes' addresses and pids; its output, after
    /// asserting it passed.
    async fn check(&self, script: &str, extra: &[String]) -> String {
        let mut command = Command::new("node");
        command
            .arg(cluster_dir().join(script))
            .args(["--nodes", &self.urls(), "--pids", &self.pids()])
            .args(extra)
            .current_dir(cluster_dir())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let output = tokio::time::timeout(Duration::from_secs(150), command.output())
            .await
            .expect("the check hung")
            .unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&output.stderr);
        println!("{stdout}");
        assert!(output.status.success(), "{script} failed:\n{stdout}\n{stderr}");
        stdout
    }

    /// The arguments that let `cluster_check.js` kill and restart the broker, then stop it
    /// (`SIGSTOP`) for a while.
    fn broker_args(&self) -> Vec<String> {
        vec![
            "--broker-pid".to_owned(),
            self.broker.child.id().expect("running").to_string(),
            "--broker-restart".to_owned(),
            self.broker.command.join(" "),
            "--broker-hang".to_owned(),
        ]
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_share_rooms_through_redis_pubsub_with_a_node_socket_io_node_and_survive_a_kill_and_a_broker_restart()
 {
    let _serial = SERIAL.lock().await;
    let Some(cluster) = Cluster::start("redis-pubsub", true).await else { return };
    let mut args = cluster.broker_args();
    let (_, node_js) = cluster.node_js.as_ref().expect("started");
    args.extend(["--node-js".to_owned(), format!("http://{node_js}")]);
    let emitter = support::example::example_binary("cluster_emit");
    args.extend(["--broker-url".to_owned(), cluster.broker.url.clone()]);
    args.extend(["--rust-emitter".to_owned(), emitter.to_string_lossy().into_owned()]);
    let out = cluster.check("cluster_check.js", &args).await;
    assert!(out.contains("ok - a message sent through the Node socket.io node"), "{out}");
    assert!(
        out.contains("ok - events published by Node's @socket.io/redis-emitter and windlass's RedisEmitter"),
        "{out}"
    );
    assert!(out.contains("ok - after the broker restarts"), "the run stopped early:\n{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_share_rooms_through_redis_sharded_pubsub_with_a_node_socket_io_node_and_survive_a_kill_and_a_broker_restart()
 {
    let _serial = SERIAL.lock().await;
    let Some(cluster) = Cluster::start("redis-sharded", true).await else { return };
    let mut args = cluster.broker_args();
    let (_, node_js) = cluster.node_js.as_ref().expect("started");
    args.extend(["--node-js".to_owned(), format!("http://{node_js}")]);
    let out = cluster.check("cluster_check.js", &args).await;
    assert!(out.contains("ok - a message sent through the Node socket.io node"), "{out}");
    assert!(out.contains("ok - after the broker restarts"), "the run stopped early:\n{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_share_rooms_through_core_nats_and_survive_a_kill_and_a_broker_restart() {
    let _serial = SERIAL.lock().await;
    let Some(cluster) = Cluster::start("nats-core", false).await else { return };
    let out = cluster.check("cluster_check.js", &cluster.broker_args()).await;
    assert!(out.contains("ok - after the broker restarts"), "the run stopped early:\n{out}");
}

/// The log adapters' run: every check of `cluster_check.js`, and what was sent while the
/// broker was down delivered once when it is back.
async fn log_cluster_survives_a_kill_and_a_broker_restart(adapter: &str) {
    let _serial = SERIAL.lock().await;
    let Some(cluster) = Cluster::start(adapter, false).await else { return };
    let mut args = cluster.broker_args();
    args.push("--log".to_owned());
    let out = cluster.check("cluster_check.js", &args).await;
    assert!(out.contains("the one sent while it was down arrived once"), "the run stopped early:\n{out}");
}

async fn client_recovers_on_another_node_after_its_node_is_killed(adapter: &str) {
    let _serial = SERIAL.lock().await;
    let Some(cluster) = Cluster::start(adapter, false).await else { return };
    let out = cluster.check("recovery_check.js", &[]).await;
    assert!(out.contains("ok - every missed event arrived exactly once and in order"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_share_a_redis_stream_deliver_once_across_a_kill_and_a_broker_restart() {
    log_cluster_survives_a_kill_and_a_broker_restart("redis-streams").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_recovers_on_another_node_after_its_node_is_killed_over_redis_streams() {
    client_recovers_on_another_node_after_its_node_is_killed("redis-streams").await;
}

/// The contract's graceful stop: on SIGTERM a node closes its clients' connections so that
/// they can recover (sessions saved, the node's leaving sent to the cluster) and exits within
/// 10 s; its client recovers on another node with everything it missed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_stopped_with_sigterm_exits_and_its_client_recovers_on_another_node() {
    let _serial = SERIAL.lock().await;
    let Some(mut cluster) = Cluster::start("redis-streams", false).await else { return };
    let out = cluster.check("recovery_check.js", &["--signal".to_owned(), "SIGTERM".to_owned()]).await;
    assert!(out.contains("ok - x's node was stopped with SIGTERM"), "{out}");
    assert!(out.contains("ok - every missed event arrived exactly once and in order"), "{out}");
    // The check took a few seconds after the signal; the node has 10 s more at most.
    let mut exited = None;
    for _ in 0..100 {
        exited = cluster.nodes[0].child.try_wait().expect("wait for the node");
        if exited.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(exited.is_some(), "the node did not exit within 10 s of SIGTERM");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_share_a_nats_jetstream_deliver_once_across_a_kill_and_a_broker_restart() {
    log_cluster_survives_a_kill_and_a_broker_restart("nats").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_recovers_on_another_node_after_its_node_is_killed_over_nats() {
    client_recovers_on_another_node_after_its_node_is_killed("nats").await;
}

/// The `cluster_chat` example on two nodes over Redis pub/sub: two Chromium pages, one per
/// node, load the served client and chat across the nodes (names, rooms and the room list,
/// typing, leaving), as `tests/browser/socketio_chat.mjs` scripts it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_chromium_pages_chat_across_two_cluster_chat_nodes() {
    let _serial = SERIAL.lock().await;
    if let Err(missing) = support::browser::browser_ready() {
        assert!(std::env::var_os("CI").is_none(), "CI must run the browser test, but {missing}");
        eprintln!("skipped: {missing}; see tests/cluster.rs");
        return;
    }
    let Some(binary) = support::broker::binary_or_skip(BrokerKind::Redis) else { return };
    let broker = start_broker(BrokerKind::Redis, &binary).await;
    let bundle = Path::new(env!("CARGO_MANIFEST_DIR")).join("sio-reference/node_modules/socket.io-client");
    let env = [("WINDLASS_SOCKET_IO_CLIENT", bundle.as_os_str())];
    let args = ["--broker", broker.url.as_str()];
    let one = Example::start_with_env("cluster_chat", &args, &env).await;
    let two = Example::start_with_env("cluster_chat", &args, &env).await;
    let urls = [format!("http://{}/", one.addr), format!("http://{}/", two.addr)];
    let stdout = support::browser::run_script("socketio_chat.mjs", &urls).await;
    for step in [
        r#"ok: alice sees "bob joined""#,
        r#"ok: bob sees "alice: hello from alice""#,
        "ok: alice sees the rooms #den (1), #lobby (1)",
        "ok: a room message reaches only the room's members",
        r#"ok: bob sees "alice is typing…""#,
        r#"ok: alice sees "bob left""#,
    ] {
        assert!(stdout.contains(&format!("{step}\n")), "missing step {step:?} in:\n{stdout}");
    }
    assert!(stdout.ends_with("passed\n"), "{stdout}");
}

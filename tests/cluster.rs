//! Several `cluster_node` processes (the example of `shared/contracts/cluster-node.md`) sharing
//! rooms and broadcasts through a real `redis-server`, driven by the real `socket.io-client`
//! 4.8 with sockets spread over the nodes, one of the nodes being Node socket.io 4.8 with
//! `@socket.io/redis-adapter` 8.3 (the mixed cluster). `tests/cluster/cluster_check.js` makes
//! the checks: every delivery exactly once, sender exclusion, order per sender, counts over
//! every node; a node killed with `SIGKILL` mid-run; Redis killed and restarted mid-run.
//!
//! Needs `redis-server` (Debian's `redis-server`), Node and `npm ci --prefix tests/cluster`.
//! Without them the test is skipped with a note, except under CI (`CI=true`), where it fails.

mod support;

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use support::example::Example;
use tokio::io::{AsyncBufReadExt as _, BufReader};
use tokio::process::{Child, Command};

fn cluster_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("cluster")
}

/// The path of a program on `PATH`.
fn which(program: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|dir| Path::new(dir).join(program))
        .find(|path| path.is_file())
}

/// What the test needs, or what is missing.
fn ready() -> Result<PathBuf, String> {
    let redis = which("redis-server").ok_or("redis-server is missing (apt-get install redis-server)")?;
    if std::process::Command::new("node").arg("--version").output().is_err() {
        return Err("node is missing".to_owned());
    }
    for package in ["socket.io-client", "socket.io", "@socket.io/redis-adapter", "redis"] {
        if !cluster_dir().join("node_modules").join(package).is_dir() {
            return Err(format!("{package} is missing (npm ci --prefix tests/cluster)"));
        }
    }
    Ok(redis)
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("a free port")
}

/// A `redis-server` on a free loopback port, without persistence; killed when dropped.
async fn start_redis(binary: &Path) -> (Child, u16) {
    let port = free_port();
    let child = Command::new(binary)
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("start redis-server");
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(addr).await.is_ok() {
            return (child, port);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("redis-server did not listen on {addr}");
}

/// `tests/cluster/node_server.js`: a Node socket.io node of the same cluster.
async fn start_node_server(broker: &str) -> (Child, SocketAddr) {
    let mut child = Command::new("node")
        .arg(cluster_dir().join("node_server.js"))
        .args(["--listen", "127.0.0.1:0", "--broker", broker, "--node-id", "node-js"])
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
    redis: Child,
    port: u16,
    redis_binary: PathBuf,
    nodes: Vec<Example>,
    node_js: Option<(Child, SocketAddr)>,
}

impl Cluster {
    /// `None` (after a note) when a tool is missing outside CI.
    async fn start(adapter: &str, with_node_js: bool) -> Option<Self> {
        let redis_binary = match ready() {
            Ok(binary) => binary,
            Err(missing) => {
                assert!(std::env::var_os("CI").is_none(), "CI must run the cluster tests, but {missing}");
                eprintln!("skipped: {missing}; see tests/cluster.rs");
                return None;
            }
        };
        let (redis, port) = start_redis(&redis_binary).await;
        let broker = format!("redis://127.0.0.1:{port}");
        let mut nodes = Vec::new();
        for id in ["n1", "n2", "n3"] {
            let args = ["--adapter", adapter, "--broker", broker.as_str(), "--node-id", id];
            nodes.push(Example::start("cluster_node", &args).await);
        }
        let node_js = if with_node_js { Some(start_node_server(&broker).await) } else { None };
        Some(Self { redis, port, redis_binary, nodes, node_js })
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

    /// The arguments that let `cluster_check.js` kill and restart the broker.
    fn broker_args(&self) -> Vec<String> {
        vec![
            "--redis-pid".to_owned(),
            self.redis.id().expect("running").to_string(),
            "--redis-port".to_owned(),
            self.port.to_string(),
            "--redis-server".to_owned(),
            self.redis_binary.to_string_lossy().into_owned(),
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
    let out = cluster.check("cluster_check.js", &args).await;
    assert!(out.contains("ok - a message sent through the Node socket.io node"), "{out}");
    assert!(out.contains("ok - after Redis restarts"), "the run stopped early:\n{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_share_a_redis_stream_deliver_once_across_a_kill_and_a_broker_restart() {
    let _serial = SERIAL.lock().await;
    let Some(cluster) = Cluster::start("redis-streams", false).await else { return };
    let mut args = cluster.broker_args();
    args.push("--log".to_owned());
    let out = cluster.check("cluster_check.js", &args).await;
    assert!(out.contains("ok - after Redis restarts"), "the run stopped early:\n{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_recovers_on_another_node_after_its_node_is_killed_over_redis_streams() {
    let _serial = SERIAL.lock().await;
    let Some(cluster) = Cluster::start("redis-streams", false).await else { return };
    let out = cluster.check("recovery_check.js", &[]).await;
    assert!(out.contains("ok - every missed event arrived exactly once and in order"), "{out}");
}

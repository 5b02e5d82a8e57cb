//! The adapters' requests between servers, in process: three `SocketIo` servers sharing a
//! real broker (started here) through each adapter, `server_side_emit` to the others and
//! `server_side_emit_with_ack` collecting one answer per other server — or an error, never a
//! shorter list, when one does not answer.
//!
//! Broadcasts with acknowledgements, with real `socket.io-client` sockets on every server
//! (`tests/cluster/ack_check.js`): one answer per socket reached on every node, a Node
//! socket.io node in the Redis cluster asking and answering too, and a socket that never
//! answers making the broadcast time out on every node.
//!
//! Needs Debian's `redis-server` and `nats-server`, and node with `tests/cluster`'s packages;
//! skipped with a note without them, except under CI (`CI=true`).

mod support;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use support::TestServer;
use support::broker::{BrokerKind, binary_or_skip, start_broker, start_broker_requiring};
use windlass::HttpServer;
use windlass::event_server::{Adapter, ClusterError, Event, EventServer, Map, SocketIo, Value};
use windlass_cluster::{
    NatsAdapter, NatsCoreAdapter, RedisAdapter, RedisStreamsAdapter, ShardedRedisAdapter,
};

/// What each server's listeners saw: (server, event, args).
type Seen = Arc<Mutex<Vec<(usize, String, Vec<Value>)>>>;

/// Three servers on `adapter`, each answering `ping` with its name, hearing `hello`, and
/// never answering `quiet` on the third.
fn servers(adapters: Vec<impl Adapter + Clone>) -> (Vec<SocketIo>, Seen) {
    let seen: Seen = Arc::default();
    let mut servers = Vec::new();
    for (i, adapter) in adapters.into_iter().enumerate() {
        let io = SocketIo::builder().adapter(adapter).build();
        let ns = io.of("/");
        let name = format!("n{i}");
        ns.on_server_side("ping", move |_args, ack| {
            let name = name.clone();
            async move {
                if let Some(ack) = ack {
                    ack(Value::from(name.as_str()));
                }
            }
        });
        let log = Arc::clone(&seen);
        ns.on_server_side("hello", move |args, _ack| {
            log.lock().unwrap().push((i, "hello".to_owned(), args));
            async {}
        });
        ns.on_server_side("quiet", move |_args, ack| {
            // The third server never answers.
            if i != 2
                && let Some(ack) = ack
            {
                ack(Value::Null);
            }
            async {}
        });
        servers.push(io);
    }
    (servers, seen)
}

/// Three adapters (three servers' worth) connected by `connect`.
async fn three<A, E: std::fmt::Debug, F: Future<Output = Result<A, E>>>(connect: impl Fn() -> F) -> Vec<A> {
    let mut adapters = Vec::with_capacity(3);
    for _ in 0..3 {
        adapters.push(connect().await.expect("the adapter connects"));
    }
    adapters
}

/// Whether every log adapter of `all` knows the two others (heartbeat membership).
fn know_each_other<B: windlass_cluster::Broker>(all: &[windlass_cluster::LogAdapter<B>]) -> bool {
    all.iter().all(|a| a.nodes().len() == 2)
}

async fn until(what: &str, mut done: impl FnMut() -> bool) {
    for _ in 0..200 {
        if done() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{what}: not within 10 s");
}

async fn check_requests(io: &[SocketIo], seen: &Seen) {
    let ns = io[0].of("/");
    let mut answers = ns.server_side_emit_with_ack("ping", vec![], Duration::from_secs(5)).await.unwrap();
    answers.sort_by_key(|a| a.as_str().map(str::to_owned));
    assert_eq!(answers, vec![Value::from("n1"), Value::from("n2")], "one answer per other server");

    ns.server_side_emit("hello", vec![Value::from("world")]).unwrap();
    until("both other servers hear hello", || seen.lock().unwrap().len() >= 2).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut heard: Vec<usize> = seen.lock().unwrap().iter().map(|(i, _, _)| *i).collect();
    heard.sort_unstable();
    assert_eq!(heard, vec![1, 2], "the other servers, once each, not the sender");
    assert!(seen.lock().unwrap().iter().all(|(_, _, args)| *args == vec![Value::from("world")]));

    let silent = ns.server_side_emit_with_ack("quiet", vec![], Duration::from_millis(800)).await;
    match silent {
        Err(ClusterError::Timeout { answered: 1, expected: 2, .. }) => {}
        other => panic!("a server that does not answer must make the request fail: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_side_emit_over_redis_pubsub() {
    let Some(binary) = binary_or_skip(BrokerKind::Redis) else { return };
    let broker = start_broker(BrokerKind::Redis, &binary).await;
    let adapters = three(|| RedisAdapter::connect(&broker.url)).await;
    let (io, seen) = servers(adapters);
    check_requests(&io, &seen).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_side_emit_over_redis_pubsub_behind_a_password() {
    let Some(binary) = binary_or_skip(BrokerKind::Redis) else { return };
    let broker = start_broker_requiring(BrokerKind::Redis, &binary, Some("s3cret")).await;
    let wrong = broker.url.replace("s3cret", "wrong");
    assert!(RedisAdapter::connect(&wrong).await.is_err(), "a wrong password is refused at connect");
    let adapters = three(|| RedisAdapter::connect(&broker.url)).await;
    let (io, seen) = servers(adapters);
    check_requests(&io, &seen).await;
    let sharded = three(|| ShardedRedisAdapter::connect(&broker.url)).await;
    let (io, seen) = servers(sharded);
    check_requests(&io, &seen).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_side_emit_over_redis_sharded_pubsub() {
    let Some(binary) = binary_or_skip(BrokerKind::Redis) else { return };
    let broker = start_broker(BrokerKind::Redis, &binary).await;
    let adapters = three(|| ShardedRedisAdapter::connect(&broker.url)).await;
    let (io, seen) = servers(adapters);
    check_requests(&io, &seen).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_side_emit_over_redis_streams() {
    let Some(binary) = binary_or_skip(BrokerKind::Redis) else { return };
    let broker = start_broker(BrokerKind::Redis, &binary).await;
    let adapters = three(|| RedisStreamsAdapter::connect(&broker.url)).await;
    let all = adapters.clone();
    let (io, seen) = servers(adapters);
    until("every server knows the two others", || know_each_other(&all)).await;
    check_requests(&io, &seen).await;
}

/// `XLEN socket.io` in database `db` of the Redis at `url`, asked over a plain connection.
async fn stream_length(url: &str, db: u8) -> String {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let address = url.trim_start_matches("redis://").split('/').next().unwrap();
    let mut socket = tokio::net::TcpStream::connect(address).await.unwrap();
    let db = db.to_string();
    let command =
        format!("*2\r\n$6\r\nSELECT\r\n${}\r\n{db}\r\n*2\r\n$4\r\nXLEN\r\n$9\r\nsocket.io\r\n", db.len());
    socket.write_all(command.as_bytes()).await.unwrap();
    let mut replies = String::new();
    let mut buf = [0_u8; 256];
    while replies.matches("\r\n").count() < 2 {
        let n = socket.read(&mut buf).await.unwrap();
        assert!(n > 0, "Redis closed the connection");
        replies.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    replies.split("\r\n").nth(1).unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_streams_keeps_to_the_database_of_its_url() {
    let Some(binary) = binary_or_skip(BrokerKind::Redis) else { return };
    let broker = start_broker(BrokerKind::Redis, &binary).await;
    let url = format!("{}/3", broker.url);
    let adapters = three(|| RedisStreamsAdapter::connect(&url)).await;
    let all = adapters.clone();
    let (io, seen) = servers(adapters);
    until("every server knows the two others", || know_each_other(&all)).await;
    check_requests(&io, &seen).await;
    // Written and read in database 3, not 0 (the crate's own connections select it too).
    assert_eq!(stream_length(&broker.url, 0).await, ":0");
    let in_3 = stream_length(&broker.url, 3).await;
    assert!(in_3.trim_start_matches(':').parse::<u64>().unwrap() > 3, "{in_3}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_side_emit_over_nats() {
    let Some(binary) = binary_or_skip(BrokerKind::Nats) else { return };
    let broker = start_broker(BrokerKind::Nats, &binary).await;
    let adapters = three(|| NatsAdapter::connect(&broker.url)).await;
    let all = adapters.clone();
    let (io, seen) = servers(adapters);
    until("every server knows the two others", || know_each_other(&all)).await;
    check_requests(&io, &seen).await;
}

fn cluster_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("cluster")
}

/// Whether node and `tests/cluster`'s packages are here; under CI they must be.
fn node_or_skip() -> bool {
    let node = std::process::Command::new("node").arg("--version").output().is_ok();
    let packages = ["socket.io-client", "socket.io", "@socket.io/redis-adapter", "redis"]
        .iter()
        .all(|package| cluster_dir().join("node_modules").join(package).is_dir());
    if !(node && packages) {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must run the cluster tests, but node or its packages are missing"
        );
        eprintln!("skipped: node or tests/cluster's packages are missing (npm ci --prefix tests/cluster)");
    }
    node && packages
}

fn answer(event: &Event, value: Value) {
    if event.wants_ack() {
        let _ = event.ack_args(vec![value]);
    }
}

/// Serves `io` on loopback with `ack_check.js`'s handlers: `join`, and `poll` (a broadcast
/// with acknowledgements to a room, or to everyone for `""`).
async fn serve_poll(io: &SocketIo) -> TestServer {
    let server = io.clone();
    io.on_connection(move |socket| {
        let io = server.clone();
        socket.on("join", |socket, event| async move {
            socket.join(event.args().first().and_then(Value::as_str).unwrap_or_default().to_owned());
            answer(&event, Value::Object(Map::from_iter([("ok".to_owned(), Value::Bool(true))])));
        });
        socket.on("poll", move |_socket, event| {
            let io = io.clone();
            async move {
                let room = event.args().first().and_then(Value::as_str).unwrap_or_default();
                let to = if room.is_empty() { io.of("/").broadcast() } else { io.of("/").to(room) };
                let reply =
                    match to.timeout(Duration::from_millis(1500)).emit_with_ack("vote", &Value::Null).await {
                        // Each client's first argument, as Node gives them.
                        Ok(answers) => Value::Array(
                            answers.into_iter().map(|a| a.into_iter().next().unwrap_or_default()).collect(),
                        ),
                        Err(error) => {
                            return answer(
                                &event,
                                Value::Object(Map::from_iter([(
                                    "error".to_owned(),
                                    Value::from(error.to_string()),
                                )])),
                            );
                        }
                    };
                answer(&event, Value::Object(Map::from_iter([("answers".to_owned(), reply)])));
            }
        });
        async {}
    });
    TestServer::start(HttpServer::new(EventServer::new(io.clone()))).await
}

/// Runs `ack_check.js` against three windlass servers over `adapters` (and, with `node_js`
/// its `--broker` options, a Node socket.io node of the same Redis cluster), once they
/// `know_each_other`.
async fn check_broadcast_acks(
    adapters: Vec<impl Adapter + Clone>,
    node_js: &[&str],
    know_each_other: impl FnMut() -> bool,
) {
    let mut servers = Vec::new();
    for adapter in adapters {
        let io = SocketIo::builder().adapter(adapter).build();
        servers.push((serve_poll(&io).await, io));
    }
    until("every server knows the others", know_each_other).await;
    let urls: Vec<String> = servers.iter().map(|(server, _)| format!("http://{}", server.addr)).collect();
    let mut command = tokio::process::Command::new("node");
    command
        .arg(cluster_dir().join("ack_check.js"))
        .args(["--nodes", &urls.join(",")])
        .current_dir(cluster_dir())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    command.args(node_js);
    let output =
        tokio::time::timeout(Duration::from_secs(60), command.output()).await.expect("hung").unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    println!("{stdout}");
    assert!(
        output.status.success(),
        "ack_check.js failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(stdout.matches("ok - ").count(), 3, "{stdout}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broadcast_acks_over_redis_pubsub_with_a_node_socket_io_node() {
    let Some(binary) = binary_or_skip(BrokerKind::Redis) else { return };
    if !node_or_skip() {
        return;
    }
    let broker = start_broker(BrokerKind::Redis, &binary).await;
    let adapters = three(|| RedisAdapter::connect(&broker.url)).await;
    check_broadcast_acks(adapters, &["--broker", &broker.url], || true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broadcast_acks_over_redis_sharded_pubsub_with_a_node_socket_io_node() {
    let Some(binary) = binary_or_skip(BrokerKind::Redis) else { return };
    if !node_or_skip() {
        return;
    }
    let broker = start_broker(BrokerKind::Redis, &binary).await;
    let adapters = three(|| ShardedRedisAdapter::connect(&broker.url)).await;
    check_broadcast_acks(adapters, &["--broker", &broker.url, "--sharded"], || true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broadcast_acks_over_redis_streams() {
    let Some(binary) = binary_or_skip(BrokerKind::Redis) else { return };
    if !node_or_skip() {
        return;
    }
    let broker = start_broker(BrokerKind::Redis, &binary).await;
    let adapters = three(|| RedisStreamsAdapter::connect(&broker.url)).await;
    let all = adapters.clone();
    check_broadcast_acks(adapters, &[], || know_each_other(&all)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broadcast_acks_over_nats() {
    let Some(binary) = binary_or_skip(BrokerKind::Nats) else { return };
    if !node_or_skip() {
        return;
    }
    let broker = start_broker(BrokerKind::Nats, &binary).await;
    let adapters = three(|| NatsAdapter::connect(&broker.url)).await;
    let all = adapters.clone();
    check_broadcast_acks(adapters, &[], || know_each_other(&all)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_side_emit_over_core_nats() {
    let Some(binary) = binary_or_skip(BrokerKind::Nats) else { return };
    let broker = start_broker(BrokerKind::Nats, &binary).await;
    let adapters = three(|| NatsCoreAdapter::connect(&broker.url)).await;
    let all = adapters.clone();
    let (io, seen) = servers(adapters);
    until("every server knows the two others", || know_each_other(&all)).await;
    check_requests(&io, &seen).await;
}

/// Core NATS connections are made without echo, so a node never reads its own heartbeats
/// back; the probe each heartbeat sends over a second connection is what proves the log flows
/// through the node. With heartbeats every 250 ms: requests made long after the start (when
/// only that proof keeps them answerable) get every answer, and a node that goes away is
/// forgotten by the others (which takes the log flowing through them for a whole heartbeat
/// timeout) so that their requests stop waiting for it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn core_nats_requests_stay_answerable_without_echo() {
    let Some(binary) = binary_or_skip(BrokerKind::Nats) else { return };
    let broker = start_broker(BrokerKind::Nats, &binary).await;
    let config = windlass_cluster::NatsCoreConfig {
        log: windlass_cluster::LogConfig {
            heartbeat_interval: Duration::from_millis(250),
            heartbeat_timeout: Duration::from_secs(1),
            ..windlass_cluster::LogConfig::default()
        },
        ..windlass_cluster::NatsCoreConfig::default()
    };
    let adapters = three(|| NatsCoreAdapter::connect_with(&broker.url, config.clone())).await;
    let mut all = adapters.clone();
    let (mut io, seen) = servers(adapters);
    until("every server knows the two others", || know_each_other(&all)).await;
    // Eight heartbeat intervals: the start's grace (two intervals) is long past.
    tokio::time::sleep(Duration::from_secs(2)).await;
    check_requests(&io, &seen).await;

    // The third server goes away without a word (its adapter is dropped, not closed).
    drop(io.pop());
    drop(all.pop());
    until("the two left forget the third", || all.iter().all(|a| a.nodes().len() == 1)).await;
    let answers =
        io[0].of("/").server_side_emit_with_ack("ping", vec![], Duration::from_secs(5)).await.unwrap();
    assert_eq!(answers, vec![Value::from("n1")], "one answer, from the one other server left");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broadcast_acks_over_core_nats() {
    let Some(binary) = binary_or_skip(BrokerKind::Nats) else { return };
    if !node_or_skip() {
        return;
    }
    let broker = start_broker(BrokerKind::Nats, &binary).await;
    let adapters = three(|| NatsCoreAdapter::connect(&broker.url)).await;
    let all = adapters.clone();
    check_broadcast_acks(adapters, &[], || know_each_other(&all)).await;
}

//! The adapters' requests between servers, in process: three `SocketIo` servers sharing a
//! real broker (started here) through each adapter, `server_side_emit` to the others and
//! `server_side_emit_with_ack` collecting one answer per other server — or an error, never a
//! shorter list, when one does not answer.
//!
//! Needs Debian's `redis-server` and `nats-server`; skipped with a note without them, except
//! under CI (`CI=true`).

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use support::broker::{BrokerKind, binary_or_skip, start_broker};
use windlass::event_server::{Adapter, ClusterError, SocketIo, Value};
use windlass_cluster::{NatsAdapter, RedisAdapter, RedisStreamsAdapter};

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
    let mut adapters = Vec::new();
    for _ in 0..3 {
        adapters.push(RedisAdapter::connect(&broker.url).await.unwrap());
    }
    let (io, seen) = servers(adapters);
    check_requests(&io, &seen).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_side_emit_over_redis_streams() {
    let Some(binary) = binary_or_skip(BrokerKind::Redis) else { return };
    let broker = start_broker(BrokerKind::Redis, &binary).await;
    let mut adapters = Vec::new();
    for _ in 0..3 {
        adapters.push(RedisStreamsAdapter::connect(&broker.url).await.unwrap());
    }
    let first = adapters[0].clone();
    let (io, seen) = servers(adapters);
    until("the first server knows the two others", || first.nodes().len() == 2).await;
    check_requests(&io, &seen).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_side_emit_over_nats() {
    let Some(binary) = binary_or_skip(BrokerKind::Nats) else { return };
    let broker = start_broker(BrokerKind::Nats, &binary).await;
    let mut adapters = Vec::new();
    for _ in 0..3 {
        adapters.push(NatsAdapter::connect(&broker.url).await.unwrap());
    }
    let first = adapters[0].clone();
    let (io, seen) = servers(adapters);
    until("the first server knows the two others", || first.nodes().len() == 2).await;
    check_requests(&io, &seen).await;
}

//! Publishes one event into a cluster of Socket.IO servers on the Redis pub/sub adapter (windlass
//! `cluster_node`s, Node servers with `@socket.io/redis-adapter`) from a process that serves
//! nothing — a job, a cron task — through `windlass_cluster::RedisEmitter`.
//!
//! ```text
//! cargo run --example cluster_emit -- --broker redis://127.0.0.1:6379 --to room1 said '{"text":"hi"}'
//! ```

mod support;

use std::error::Error;
use std::process;

use windlass::event_server::Value;
use windlass_cluster::RedisEmitter;

const USAGE: &str = "\
usage: cluster_emit --broker URL [--nsp NSP] [--to ROOM] [--except ROOM] EVENT [JSON]

  --broker URL    redis://HOST:PORT of the cluster's Redis
  --nsp NSP       the namespace (default /)
  --to ROOM       only the sockets in ROOM
  --except ROOM   not the sockets in ROOM
  EVENT [JSON]    the event and its one argument (JSON; none when left out)";

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let mut args = support::Args::from_env(USAGE);
    let broker: Option<String> = args.value("--broker");
    let nsp: String = args.value("--nsp").unwrap_or_else(|| "/".to_owned());
    let to: Option<String> = args.value("--to");
    let except: Option<String> = args.value("--except");
    let event = args.positional();
    let data = args.positional();
    args.finish();
    let (Some(broker), Some(event)) = (broker, event) else {
        eprintln!("error: --broker URL and EVENT are required\n\n{USAGE}");
        process::exit(2);
    };
    let data = match data.as_deref().map(Value::from_json).transpose() {
        Ok(data) => data,
        Err(error) => {
            eprintln!("error: the data is not JSON: {error}");
            process::exit(2);
        }
    };

    let mut emitter = RedisEmitter::connect(&broker).await?.of(&nsp);
    if let Some(room) = &to {
        emitter = emitter.to(room);
    }
    if let Some(room) = &except {
        emitter = emitter.except(room);
    }
    emitter.emit_args(&event, data.into_iter().collect()).await?;
    println!("emitted {event}");
    Ok(())
}

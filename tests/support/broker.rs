//! Brokers the cluster tests start themselves: `redis-server` (no persistence) and
//! `nats-server` (`JetStream` in a directory of its own), each on a free loopback port.

#![allow(dead_code)]

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::process::{Child, Command};

/// The path of a program on `PATH` (or in `/usr/sbin`, where Debian puts `nats-server`).
pub fn which(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let dirs = path.to_str().unwrap_or_default().split(':').map(PathBuf::from);
    dirs.chain([PathBuf::from("/usr/sbin")]).map(|dir| dir.join(program)).find(|path| path.is_file())
}

/// The brokers the tests start.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum BrokerKind {
    Redis,
    Nats,
}

impl BrokerKind {
    pub fn program(self) -> &'static str {
        match self {
            Self::Redis => "redis-server",
            Self::Nats => "nats-server",
        }
    }
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("a free port")
}

/// A directory removed when dropped.
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A running broker on a free loopback port (Redis without persistence; NATS with
/// `JetStream` in a directory of its own), killed when dropped.
pub struct BrokerProcess {
    pub child: Child,
    pub url: String,
    /// The command line that starts it again, same port and storage.
    pub command: Vec<String>,
    _dir: Option<TempDir>,
}

pub async fn start_broker(kind: BrokerKind, binary: &Path) -> BrokerProcess {
    start_broker_requiring(kind, binary, None).await
}

/// A broker that lets in only clients with `password` (Redis only; its URL carries it).
pub async fn start_broker_requiring(
    kind: BrokerKind,
    binary: &Path,
    password: Option<&str>,
) -> BrokerProcess {
    let port = free_port();
    let (args, url, dir) = match kind {
        BrokerKind::Redis => {
            let mut args: Vec<String> =
                ["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
                    .map(str::to_owned)
                    .to_vec();
            let user = password.map(|password| {
                args.extend(["--requirepass".to_owned(), password.to_owned()]);
                format!(":{password}@")
            });
            (args, format!("redis://{}127.0.0.1:{port}", user.unwrap_or_default()), None)
        }
        BrokerKind::Nats => {
            let dir = std::env::temp_dir().join(format!("windlass-nats-{}-{port}", std::process::id()));
            std::fs::create_dir_all(&dir).expect("a JetStream directory");
            let store = dir.to_string_lossy().into_owned();
            let args = ["-a", "127.0.0.1", "-p", &port.to_string(), "-js", "-sd", &store].map(str::to_owned);
            (args.to_vec(), format!("nats://127.0.0.1:{port}"), Some(TempDir(dir)))
        }
    };
    let child = Command::new(binary)
        .args(&args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| panic!("start {}: {e}", binary.display()));
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(addr).await.is_ok() {
            let mut command = vec![binary.to_string_lossy().into_owned()];
            command.extend(args);
            return BrokerProcess { child, url, command, _dir: dir };
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{} did not listen on {addr}", binary.display());
}

/// The broker's binary, or a note of what is missing; under CI (`CI=true`) a missing broker
/// fails the test instead.
pub fn binary_or_skip(kind: BrokerKind) -> Option<PathBuf> {
    let program = kind.program();
    let binary = which(program);
    if binary.is_none() {
        assert!(std::env::var_os("CI").is_none(), "CI must run the cluster tests, but {program} is missing");
        eprintln!("skipped: {program} is missing (apt-get install {program})");
    }
    binary
}

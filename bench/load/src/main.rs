//! `windlass-load`: the load generator of the windlass benchmarks.
//!
//! Drives any server that speaks the bench protocol (`bench/servers`): WebSocket at any path,
//! `echo` mode sends every message back, `broadcast` mode sends it to every other connection.
//!
//! ```text
//! windlass-load echo      ws://127.0.0.1:9001/ [-c 100] [-s 20] [--binary] [--validate] [--rate R]
//! windlass-load broadcast ws://127.0.0.1:9001/ [-c 100] [-s 20] [--binary] [--rate R]
//! windlass-load slow      ws://127.0.0.1:9001/ [-c 1000] [--rate 2000] [--slow-count 1] [--slow-after 100]
//! windlass-load handshake ws://127.0.0.1:9001/ [-c 50] [-s 20]
//! windlass-load idle      ws://127.0.0.1:9001/ --server-pid PID [-c 10000] [--settle 2]
//! windlass-load broadcast ws://127.0.0.1:9001/ --sio [-c 100] [-s 128]     (Socket.IO)
//! windlass-load idle      ws://127.0.0.1:9001/ --sio --server-pid PID      (Socket.IO)
//! windlass-load sio-ack   ws://127.0.0.1:9001/ [-c 100] [-s 20]            (Socket.IO)
//!   common: [--duration 10] [--warmup 2] [--server-pid PID] [--json PATH] [--quiet]
//! ```
//!
//! One thread runs every connection (a current-thread tokio runtime and a `LocalSet`), so the
//! generator costs one core; pin it away from the server (`taskset -c 1`) and compare its
//! `client_cpu_seconds` with the window: near 1 CPU-second per second means the client, not the
//! server, was the limit. Client frames are masked once per connection and written as they are.
//!
//! The soft `RLIMIT_NOFILE` is raised to the hard limit at start, so `ulimit -n` is not needed
//! up to the hard limit (20000 on the bench machines).

// Counts, byte sizes and nanoseconds become f64 only for rates and averages in the report;
// none comes near 2^52, where f64 starts rounding.
#![allow(clippy::cast_precision_loss)]

mod broadcast;
mod cli;
mod conn;
mod cycle;
mod echo;
mod frame;
mod idle;
mod procfs;
mod report;
mod sio;
mod stats;
mod upgrade;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser as _;

use crate::cli::{Cli, Mode};
use crate::report::Summary;
use crate::stats::Run;

/// Why a run could not produce a summary, or produced one that means nothing.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Fatal {
    #[error(transparent)]
    Url(#[from] upgrade::UrlError),
    #[error("every connection failed ({failures} attempts); first error: {first}")]
    NoConnection { failures: u64, first: String },
    #[error("cannot read /proc/{pid} (is --server-pid right?): {source}")]
    ServerPid { pid: u32, source: std::io::Error },
    #[error("cannot write {}: {source}", path.display())]
    Json { path: PathBuf, source: std::io::Error },
    #[error("cannot start the runtime: {0}")]
    Runtime(std::io::Error),
    #[error("{0}")]
    Args(String),
}

/// Fails the run when its connect phase left no connection to load.
pub(crate) fn require_connections(run: &Run) -> Result<(), Fatal> {
    if run.connected() > 0 {
        return Ok(());
    }
    Err(Fatal::NoConnection {
        failures: run.connect_failures(),
        first: run.first_errors().into_iter().next().unwrap_or_default(),
    })
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    raise_fd_limit();
    match run(&cli) {
        Ok(summary) => {
            print!("{}", summary.render());
            if summary.messages == 0 && summary.errors > 0 {
                eprintln!("windlass-load: nothing succeeded ({} errors)", summary.errors);
                return ExitCode::FAILURE;
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("windlass-load: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: &Cli) -> Result<Summary, Fatal> {
    let runtime =
        tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(Fatal::Runtime)?;
    let local = tokio::task::LocalSet::new();
    let (server_pid, json) = match &cli.mode {
        Mode::Echo(a) => (a.common.server_pid, &a.common.json),
        Mode::Broadcast(a) => (a.common.server_pid, &a.common.json),
        Mode::Slow(a) => (a.common.server_pid, &a.common.json),
        Mode::Handshake(a) => (a.common.server_pid, &a.common.json),
        Mode::Idle(a) => (Some(a.server_pid), &a.json),
        Mode::SioAck(a) => (a.common.server_pid, &a.common.json),
    };
    if let Some(pid) = server_pid {
        procfs::Pid::Of(pid).cpu_seconds().map_err(|source| Fatal::ServerPid { pid, source })?;
    }
    let summary = local.block_on(&runtime, async {
        match &cli.mode {
            Mode::Echo(args) => echo::run(args).await,
            Mode::Broadcast(args) => broadcast::run_broadcast(args).await,
            Mode::Slow(args) => broadcast::run_slow(args).await,
            Mode::Handshake(args) => cycle::run(args).await,
            Mode::Idle(args) => idle::run(args).await,
            Mode::SioAck(args) => sio::run_ack(args).await,
        }
    })?;
    if let Some(path) = json {
        summary.write_json(path).map_err(|source| Fatal::Json { path: path.clone(), source })?;
    }
    Ok(summary)
}

/// Raises the soft descriptor limit to the hard one: ten thousand sockets need it.
fn raise_fd_limit() {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let mut limit = getrlimit(Resource::Nofile);
    if limit.current == limit.maximum {
        return;
    }
    limit.current = limit.maximum;
    if let Err(e) = setrlimit(Resource::Nofile, limit) {
        eprintln!(
            "windlass-load: cannot raise the descriptor limit ({e}); use `ulimit -n` if connections fail"
        );
    }
}

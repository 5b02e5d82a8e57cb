//! What every example needs besides its component and its server: command-line options and
//! logging.

// Each example is its own crate and uses a different part of this module.
#![allow(dead_code)]

use std::fmt::Display;
use std::io;
use std::process;
use std::str::FromStr;

use tracing_subscriber::EnvFilter;

pub(crate) mod cluster;
pub(crate) mod named_chat;
pub(crate) mod socketio_chat;

/// Where the servers listen unless told otherwise.
pub(crate) const DEFAULT_LISTEN: &str = "127.0.0.1:8080";

/// The command line, taken apart option by option: `--flag`, `--name VALUE` or `--name=VALUE`,
/// and positional arguments.
///
/// A problem (a missing or unparsable value, an unknown argument) prints the usage and exits
/// with status 2; `-h`/`--help` prints the usage and exits with status 0.
pub(crate) struct Args {
    usage: &'static str,
    rest: Vec<String>,
}

impl Args {
    /// Reads the process arguments.
    pub(crate) fn from_env(usage: &'static str) -> Self {
        let rest: Vec<String> =
            std::env::args_os().skip(1).map(|arg| arg.to_string_lossy().into_owned()).collect();
        if rest.iter().any(|arg| arg == "-h" || arg == "--help") {
            println!("{usage}");
            process::exit(0);
        }
        Self { usage, rest }
    }

    /// Whether `--name` was given.
    pub(crate) fn flag(&mut self, name: &str) -> bool {
        let before = self.rest.len();
        self.rest.retain(|arg| arg != name);
        self.rest.len() != before
    }

    /// The value of `--name VALUE` or `--name=VALUE`, parsed.
    pub(crate) fn value<T>(&mut self, name: &str) -> Option<T>
    where
        T: FromStr,
        T::Err: Display,
    {
        let at = self
            .rest
            .iter()
            .position(|arg| arg == name || arg.strip_prefix(name).is_some_and(|r| r.starts_with('=')))?;
        let arg = self.rest.remove(at);
        let raw = match arg.split_once('=') {
            Some((_, value)) => value.to_owned(),
            None if at < self.rest.len() => self.rest.remove(at),
            None => self.fail(format_args!("{name} needs a value")),
        };
        match raw.parse() {
            Ok(value) => Some(value),
            Err(e) => self.fail(format_args!("{name} {raw}: {e}")),
        }
    }

    /// `--listen ADDR`, or [`DEFAULT_LISTEN`].
    pub(crate) fn listen(&mut self) -> String {
        self.value("--listen").unwrap_or_else(|| DEFAULT_LISTEN.to_owned())
    }

    /// The first argument that is not an option.
    pub(crate) fn positional(&mut self) -> Option<String> {
        let at = self.rest.iter().position(|arg| !arg.starts_with('-'))?;
        Some(self.rest.remove(at))
    }

    /// Checks that every argument was used.
    pub(crate) fn finish(self) {
        if let Some(arg) = self.rest.first() {
            self.fail(format_args!("unexpected argument {arg}"));
        }
    }

    fn fail(&self, problem: impl Display) -> ! {
        eprintln!("error: {problem}\n\n{}", self.usage);
        process::exit(2);
    }
}

/// Logs to stderr, filtered by `RUST_LOG` (for example `RUST_LOG=debug`); only warnings and
/// errors by default, so stdout carries nothing but the example's own output.
pub(crate) fn init_tracing() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn"));
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(io::stderr).init();
}

/// The runtime for a server process: tokio's multi-threaded one when the process may run on
/// several CPUs, its current-thread one when it has one (pinned with `taskset`, a container of
/// one CPU, or `TOKIO_WORKER_THREADS=1`, the variable tokio's multi-threaded runtime reads
/// for its number of threads), where a second thread could only take turns with the first and
/// the multi-threaded scheduler's bookkeeping (work stealing, wake-ups across threads, its
/// statistics) would cost every task for nothing: about a tenth of a `cluster_node`'s
/// instructions per message.
pub(crate) fn runtime() -> io::Result<tokio::runtime::Runtime> {
    let threads = std::env::var("TOKIO_WORKER_THREADS")
        .ok()
        .and_then(|n| n.trim().parse::<usize>().ok())
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, std::num::NonZero::get));
    let mut builder = if threads == 1 {
        tokio::runtime::Builder::new_current_thread()
    } else {
        tokio::runtime::Builder::new_multi_thread()
    };
    builder.enable_all().build()
}

//! Command line: one subcommand per workload, options shared by all of them.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// WebSocket load generator for the windlass benchmarks.
///
/// Every mode connects to URL (ws://HOST:PORT/PATH), prints a progress line to stderr each
/// second and a summary to stdout. Bad arguments exit 2; a run where no connection succeeded
/// exits 1.
#[derive(Debug, Parser)]
#[command(name = "windlass-load", version)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) mode: Mode,
}

/// The workloads.
#[derive(Debug, Subcommand)]
pub(crate) enum Mode {
    /// Round trips against an echo server: closed loop (one message in flight per connection)
    /// or open loop with --rate.
    Echo(EchoArgs),
    /// One publisher, N subscribers on a broadcast server: deliveries/s, delivery latency and
    /// time to the last recipient.
    Broadcast(BroadcastArgs),
    /// Open N idle connections and report the server's resident memory per connection
    /// (needs --server-pid).
    Idle(IdleArgs),
    /// Workers that each loop connect, upgrade, one echo, close: handshakes/s and cycle latency.
    Handshake(HandshakeArgs),
    /// Broadcast at a fixed rate while some subscribers stop reading: the others' latency and
    /// the server's memory each second. --slow-count 0 gives the baseline.
    Slow(SlowArgs),
    /// Socket.IO events with an acknowledgement: each connection emits `ack` with one string
    /// and waits for the server to acknowledge it with the same string (closed loop).
    SioAck(AckArgs),
}

/// Options every mode takes.
#[derive(Debug, Args)]
pub(crate) struct Common {
    /// Server URL, ws://HOST:PORT/PATH.
    #[arg(value_parser = ws_url)]
    pub(crate) url: String,
    /// Measurement window in seconds.
    #[arg(long, default_value_t = 10.0, value_parser = positive_seconds)]
    pub(crate) duration: f64,
    /// Seconds of load before the window, not measured.
    #[arg(long, default_value_t = 2.0, value_parser = seconds)]
    pub(crate) warmup: f64,
    /// The server's process id: CPU time (and memory, where the mode reports it) from /proc.
    #[arg(long, value_name = "PID")]
    pub(crate) server_pid: Option<u32>,
    /// Also write the summary as JSON to this file.
    #[arg(long, value_name = "PATH")]
    pub(crate) json: Option<PathBuf>,
    /// No progress lines on stderr (errors and the summary are still printed).
    #[arg(long)]
    pub(crate) quiet: bool,
}

/// `echo` options.
#[derive(Debug, Args)]
pub(crate) struct EchoArgs {
    #[command(flatten)]
    pub(crate) common: Common,
    /// Connections.
    #[arg(long, short = 'c', default_value_t = 100, value_parser = at_least_one)]
    pub(crate) connections: usize,
    /// Payload bytes per message.
    #[arg(long, short = 's', default_value_t = 20)]
    pub(crate) size: usize,
    /// Binary messages instead of text (the payload is ASCII either way).
    #[arg(long)]
    pub(crate) binary: bool,
    /// Parse every echoed frame and check its opcode and payload instead of counting bytes.
    #[arg(long)]
    pub(crate) validate: bool,
    /// Open loop: this many messages per second in total, latency from the intended send time.
    #[arg(long, value_parser = positive_rate)]
    pub(crate) rate: Option<f64>,
}

/// `broadcast` options.
#[derive(Debug, Args)]
pub(crate) struct BroadcastArgs {
    #[command(flatten)]
    pub(crate) common: Common,
    /// Subscriber connections (the publisher is one more).
    #[arg(long, short = 'c', default_value_t = 100, value_parser = at_least_one)]
    pub(crate) connections: usize,
    /// Payload bytes per message, at least 16 (sequence number and send timestamp).
    #[arg(long, short = 's', default_value_t = 20, value_parser = broadcast_size)]
    pub(crate) size: usize,
    /// Binary messages instead of text.
    #[arg(long)]
    pub(crate) binary: bool,
    /// Publish at this many messages per second instead of waiting for the last recipient.
    #[arg(long, value_parser = positive_rate)]
    pub(crate) rate: Option<f64>,
    /// Socket.IO (Engine.IO v4 over WebSocket; the URL's path defaults to /socket.io/): every
    /// connection joins `/`, the publisher emits `fanout` with one string, subscribers get
    /// `tick` with it. --size is then the bytes of the delivered packet `42["tick","..."]`,
    /// at least 29.
    #[arg(long, conflicts_with = "binary")]
    pub(crate) sio: bool,
}

/// `slow` options.
#[derive(Debug, Args)]
pub(crate) struct SlowArgs {
    #[command(flatten)]
    pub(crate) common: Common,
    /// Subscriber connections, slow ones included.
    #[arg(long, short = 'c', default_value_t = 1000, value_parser = at_least_one)]
    pub(crate) connections: usize,
    /// Payload bytes per message, at least 16.
    #[arg(long, short = 's', default_value_t = 20, value_parser = broadcast_size)]
    pub(crate) size: usize,
    /// Binary messages instead of text.
    #[arg(long)]
    pub(crate) binary: bool,
    /// Messages published per second.
    #[arg(long, default_value_t = 2000.0, value_parser = positive_rate)]
    pub(crate) rate: f64,
    /// Subscribers that stop reading; 0 runs the same workload as a baseline.
    #[arg(long, default_value_t = 1)]
    pub(crate) slow_count: usize,
    /// Messages a slow subscriber reads before it stops.
    #[arg(long, default_value_t = 100)]
    pub(crate) slow_after: u64,
}

/// `idle` options.
#[derive(Debug, Args)]
pub(crate) struct IdleArgs {
    /// Server URL, ws://HOST:PORT/PATH.
    #[arg(value_parser = ws_url)]
    pub(crate) url: String,
    /// Connections to open and hold.
    #[arg(long, short = 'c', default_value_t = 10_000, value_parser = at_least_one)]
    pub(crate) connections: usize,
    /// Seconds to wait after the last handshake before reading the server's memory.
    #[arg(long, default_value_t = 2.0, value_parser = seconds)]
    pub(crate) settle: f64,
    /// Connection attempts in flight at once, so the listen backlog does not overflow.
    #[arg(long, default_value_t = 200, value_parser = at_least_one)]
    pub(crate) concurrency: usize,
    /// The server's process id (required: memory is read from /proc/PID/status).
    #[arg(long, value_name = "PID")]
    pub(crate) server_pid: u32,
    /// Socket.IO: every connection also joins the namespace `/` (Engine.IO v4 over WebSocket;
    /// the URL's path defaults to /socket.io/) and answers the server's pings.
    #[arg(long)]
    pub(crate) sio: bool,
    /// Also write the summary as JSON to this file.
    #[arg(long, value_name = "PATH")]
    pub(crate) json: Option<PathBuf>,
    /// No progress lines on stderr.
    #[arg(long)]
    pub(crate) quiet: bool,
}

/// `sio-ack` options.
#[derive(Debug, Args)]
pub(crate) struct AckArgs {
    #[command(flatten)]
    pub(crate) common: Common,
    /// Connections.
    #[arg(long, short = 'c', default_value_t = 100, value_parser = at_least_one)]
    pub(crate) connections: usize,
    /// Bytes of the string each event carries (and its acknowledgement brings back).
    #[arg(long, short = 's', default_value_t = 20)]
    pub(crate) size: usize,
}

/// `handshake` options.
#[derive(Debug, Args)]
pub(crate) struct HandshakeArgs {
    #[command(flatten)]
    pub(crate) common: Common,
    /// Concurrent workers, each with at most one connection.
    #[arg(long, short = 'c', default_value_t = 50, value_parser = at_least_one)]
    pub(crate) connections: usize,
    /// Payload bytes of the one message each connection sends.
    #[arg(long, short = 's', default_value_t = 20)]
    pub(crate) size: usize,
    /// Binary message instead of text.
    #[arg(long)]
    pub(crate) binary: bool,
}

fn ws_url(s: &str) -> Result<String, String> {
    crate::upgrade::split_url(s)
        .map(|_| s.to_owned())
        .map_err(|why| format!("{why} (expected ws://HOST:PORT/PATH)"))
}

fn seconds(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && v >= 0.0 => Ok(v),
        _ => Err(format!("{s:?} is not a number of seconds")),
    }
}

fn positive_seconds(s: &str) -> Result<f64, String> {
    seconds(s).and_then(|v| if v > 0.0 { Ok(v) } else { Err("must be more than 0".into()) })
}

fn positive_rate(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 => Ok(v),
        _ => Err(format!("{s:?} is not a positive rate")),
    }
}

fn at_least_one(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(v) if v >= 1 => Ok(v),
        _ => Err(format!("{s:?} is not a count of at least 1")),
    }
}

fn broadcast_size(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(v) if v >= 16 => Ok(v),
        _ => Err(format!("{s:?}: broadcast messages carry 16 bytes of sequence and timestamp")),
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory as _;

    use super::*;

    #[test]
    fn definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn parses_and_rejects() {
        let cli = Cli::try_parse_from(["w", "echo", "ws://h:1/", "--rate", "5000", "--validate"]).unwrap();
        let Mode::Echo(echo) = cli.mode else { panic!("not echo") };
        assert_eq!((echo.connections, echo.size, echo.rate, echo.validate), (100, 20, Some(5000.0), true));
        assert!(Cli::try_parse_from(["w", "broadcast", "ws://h:1/", "--size", "8"]).is_err());
        assert!(Cli::try_parse_from(["w", "echo", "ws://h:1/", "--connections", "0"]).is_err());
        assert!(Cli::try_parse_from(["w", "echo", "http://h:1/"]).is_err());
        assert!(Cli::try_parse_from(["w", "idle", "ws://h:1/"]).is_err()); // --server-pid required
        assert!(Cli::try_parse_from(["w", "broadcast", "ws://h:1/", "--sio", "--binary"]).is_err());
        let cli = Cli::try_parse_from(["w", "sio-ack", "ws://h:1/", "-c", "7"]).unwrap();
        let Mode::SioAck(ack) = cli.mode else { panic!("not sio-ack") };
        assert_eq!((ack.connections, ack.size), (7, 20));
        let err = Cli::try_parse_from(["w", "echo"]).unwrap_err();
        assert_eq!(err.exit_code(), 2);
    }
}

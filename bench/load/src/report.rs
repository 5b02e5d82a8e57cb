//! The summary every mode ends with: printed to stdout, optionally written as JSON.

use std::fmt::Write as _;
use std::io;
use std::path::Path;

use serde::Serialize;

use crate::procfs;
use crate::stats::{Percentiles, Run, Window};

/// A run's results. Fields a mode does not measure are `None` and left out of the JSON.
#[derive(Debug, Default, Serialize)]
pub(crate) struct Summary {
    pub(crate) mode: &'static str,
    pub(crate) url: String,
    /// Connections asked for (subscribers in broadcast and slow, workers in handshake).
    pub(crate) connections: usize,
    /// Connections upgraded in the connect phase (handshake mode: none are kept).
    pub(crate) connected: usize,
    pub(crate) connect_failures: u64,
    pub(crate) size: usize,
    pub(crate) binary: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) validate: Option<bool>,
    /// Messages per second asked for (open loop); `None` for closed loop.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) rate: Option<f64>,
    /// Measured window in seconds (idle: time to open every connection).
    pub(crate) duration_s: f64,
    pub(crate) warmup_s: f64,
    /// What `messages` counts: echoes, deliveries, handshakes or connections.
    pub(crate) unit: &'static str,
    pub(crate) messages: u64,
    pub(crate) messages_per_sec: f64,
    /// Round trip (echo), delivery (broadcast, slow) or whole-cycle (handshake) latency.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) latency_us: Option<Percentiles>,
    pub(crate) errors: u64,
    pub(crate) first_errors: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) server_cpu_seconds: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) messages_per_server_cpu_second: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) client_cpu_seconds: Option<f64>,
    /// Busy fraction of the core the server is pinned to, when it is pinned to one (`taskset`),
    /// by anything running there. Counts softirq time, where loopback TCP work lands but
    /// `server_cpu_seconds` misses it; busy with little CPU of its own means a noisy neighbour.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) server_core_busy: Option<f64>,
    /// The same for the load generator's core: near 1.0 means the client was the limit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) client_core_busy: Option<f64>,
    /// Ticks per second used to convert `/proc/PID/stat` times.
    pub(crate) clock_ticks_per_second: u64,

    // Open-loop echo.
    /// Latency from the actual write instead of the intended send time.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) service_latency_us: Option<Percentiles>,
    /// How late writes went out against their schedule (client timer slop plus backpressure).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) send_lag_us: Option<Percentiles>,
    /// Messages sent but not answered when the run stopped.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) in_flight_at_end: Option<u64>,

    // Broadcast and slow.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) published: Option<u64>,
    /// Time from a message's send timestamp until its last (non-slow) subscriber had it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) last_recipient_latency_us: Option<Percentiles>,
    /// Closed loop: messages whose last recipient never came within a second.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) incomplete_messages: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) slow_count: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) slow_after: Option<u64>,

    // Server memory (idle, slow, broadcast with --server-pid).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) rss_baseline_bytes: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) rss_after_bytes: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) rss_per_connection_bytes: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) rss_max_bytes: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) rss_final_bytes: Option<u64>,
    /// One sample per second of the run (slow mode).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) rss_samples_bytes: Option<Vec<u64>>,
}

impl Summary {
    /// The fields every timed mode fills the same way, from the run and its window.
    pub(crate) fn timed(mode: &'static str, url: &str, run: &Run, window: Window, warmup: f64) -> Self {
        let messages = run.measured();
        Self {
            mode,
            url: url.to_owned(),
            connected: run.connected(),
            connect_failures: run.connect_failures(),
            duration_s: window.seconds,
            warmup_s: warmup,
            messages,
            messages_per_sec: messages as f64 / window.seconds,
            latency_us: run.latency(),
            errors: run.errors(),
            first_errors: run.first_errors(),
            server_cpu_seconds: window.server_cpu,
            messages_per_server_cpu_second: window
                .server_cpu
                .filter(|s| *s > 0.0)
                .map(|s| messages as f64 / s),
            client_cpu_seconds: window.client_cpu,
            server_core_busy: window.server_core_busy,
            client_core_busy: window.client_core_busy,
            clock_ticks_per_second: procfs::clock_ticks(),
            ..Self::default()
        }
    }

    /// Human-readable summary, one `name  value` per line.
    pub(crate) fn render(&self) -> String {
        let mut out = String::new();
        let mut line = |name: &str, value: String| {
            let _ = writeln!(out, "{name:<26}{value}");
        };
        line("mode", self.mode.to_owned());
        line("url", self.url.clone());
        if self.mode == "handshake" {
            line("workers", self.connections.to_string());
        } else {
            line(
                "connections",
                format!(
                    "{} ({} connected, {} failed)",
                    self.connections, self.connected, self.connect_failures
                ),
            );
        }
        if self.mode.ends_with("idle") {
            line("open time", format!("{:.2} s", self.duration_s));
        } else {
            line("size", format!("{} B {}", self.size, if self.binary { "binary" } else { "text" }));
            if let Some(v) = self.validate {
                line("validate", v.to_string());
            }
            line("rate", self.rate.map_or_else(|| "closed loop".to_owned(), |r| format!("{r} msg/s")));
            line("window", format!("{:.2} s (warmup {:.2} s)", self.duration_s, self.warmup_s));
        }
        if let Some(p) = self.published {
            line("published", p.to_string());
        }
        line(self.unit, self.messages.to_string());
        line(&format!("{}/s", self.unit), format!("{:.1}", self.messages_per_sec));
        let mut percentiles = |name: &str, p: &Option<Percentiles>| {
            if let Some(p) = p {
                line(
                    name,
                    format!(
                        "p50 {:.1}  p99 {:.1}  p99.9 {:.1}  max {:.1}  mean {:.1}  (n={})",
                        p.p50, p.p99, p.p999, p.max, p.mean, p.count
                    ),
                );
            }
        };
        percentiles("latency us", &self.latency_us);
        percentiles("service latency us", &self.service_latency_us);
        percentiles("send lag us", &self.send_lag_us);
        percentiles("last recipient us", &self.last_recipient_latency_us);
        let mut optional = |name: &str, value: Option<String>| {
            if let Some(value) = value {
                line(name, value);
            }
        };
        optional("in flight at end", self.in_flight_at_end.map(|v| v.to_string()));
        optional("incomplete messages", self.incomplete_messages.map(|v| v.to_string()));
        optional(
            "slow subscribers",
            self.slow_count.map(|v| format!("{v} (stop after {:?})", self.slow_after)),
        );
        optional("errors", Some(self.errors.to_string()));
        optional("server cpu s", self.server_cpu_seconds.map(|v| format!("{v:.2}")));
        optional("msgs/server-cpu-s", self.messages_per_server_cpu_second.map(|v| format!("{v:.0}")));
        optional("client cpu s", self.client_cpu_seconds.map(|v| format!("{v:.2}")));
        let percent = |v: f64| format!("{:.0}% (incl. softirq)", v * 100.0);
        optional("server core busy", self.server_core_busy.map(percent));
        optional("client core busy", self.client_core_busy.map(percent));
        optional("server rss baseline", self.rss_baseline_bytes.map(mib));
        optional("server rss after", self.rss_after_bytes.map(mib));
        optional("server rss per conn", self.rss_per_connection_bytes.map(|v| format!("{v:.0} B")));
        optional("server rss max", self.rss_max_bytes.map(mib));
        optional("server rss final", self.rss_final_bytes.map(mib));
        out
    }

    /// Writes the summary as pretty JSON.
    pub(crate) fn write_json(&self, path: &Path) -> io::Result<()> {
        let mut text = serde_json::to_string_pretty(self).map_err(io::Error::other)?;
        text.push('\n');
        std::fs::write(path, text)
    }
}

fn mib(bytes: u64) -> String {
    format!("{bytes} B ({:.1} MiB)", bytes as f64 / f64::from(1 << 20))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_leaves_out_what_was_not_measured() {
        let summary = Summary { mode: "echo", unit: "echoes", messages: 3, ..Summary::default() };
        let json = serde_json::to_value(&summary).unwrap();
        assert_eq!(json["messages"], 3);
        assert!(json.get("server_cpu_seconds").is_none());
        assert!(json.get("rss_per_connection_bytes").is_none());
        assert!(summary.render().contains("echoes/s"));
    }
}

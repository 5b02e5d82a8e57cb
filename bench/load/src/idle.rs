//! `idle`: the server's resident memory per open, idle WebSocket connection.
//!
//! Reads the server's `VmRSS` before connecting, opens N connections a bounded number at a time,
//! waits for the server to settle, reads `VmRSS` again and divides the growth by the
//! connections open. The result includes the server's user-space memory only; the kernel's
//! socket buffers (a few KB per socket) are not in `VmRSS`.
//!
//! With `--sio` every connection also joins the Socket.IO namespace `/` before it counts as
//! open, and answers the server's pings while it waits.

use std::rc::Rc;
use std::time::{Duration, Instant};

use tokio::io::AsyncReadExt as _;
use tokio::task::JoinHandle;

use crate::Fatal;
use crate::cli::IdleArgs;
use crate::conn::{self, ConnError};
use crate::frame::{Decoder, Event};
use crate::procfs::{self, Pid};
use crate::report::Summary;
use crate::sio;
use crate::stats::{self, Run, nanos};
use crate::upgrade::Target;

pub(crate) async fn run(args: &IdleArgs) -> Result<Summary, Fatal> {
    let target = Target::resolve(&args.url).await?;
    let target = Rc::new(if args.sio { target.socket_io() } else { target });
    let server = Pid::Of(args.server_pid);
    let rss_error = |source| Fatal::ServerPid { pid: args.server_pid, source };
    let baseline = server.rss_bytes().map_err(rss_error)?;
    let server_cpu_before = server.cpu_seconds().ok();
    let client_cpu_before = Pid::Me.cpu_seconds().ok();

    let run = Run::new(args.quiet, args.connections, args.concurrency);
    let progress = run.spawn_progress("connects/s");
    // The connect phase is what this mode measures: handshake latency and connects/s.
    run.set_measuring(true);
    let began = Instant::now();
    let tasks: Vec<JoinHandle<()>> = (0..args.connections)
        .map(|conn| tokio::task::spawn_local(hold(conn, Rc::clone(&run), Rc::clone(&target), args.sio)))
        .collect();
    run.all_connected().await;
    let open_seconds = began.elapsed().as_secs_f64();
    run.set_measuring(false);
    run.set_phase("settle");
    let server_cpu = server.cpu_seconds().ok().zip(server_cpu_before).map(|(after, before)| after - before);
    let client_cpu = Pid::Me.cpu_seconds().ok().zip(client_cpu_before).map(|(after, before)| after - before);
    crate::require_connections(&run)?;

    tokio::time::sleep(Duration::from_secs_f64(args.settle)).await;
    let after = server.rss_bytes().map_err(rss_error)?;
    // Connections the server dropped while settling do not count.
    let open = run.open();
    run.stop();
    stats::drain(tasks, Duration::from_secs(2)).await;
    if let Some(p) = progress {
        p.abort();
    }

    let connected = run.connected() as u64;
    Ok(Summary {
        mode: if args.sio { "sio-idle" } else { "idle" },
        url: args.url.clone(),
        connections: args.connections,
        connected: run.connected(),
        connect_failures: run.connect_failures(),
        duration_s: open_seconds,
        unit: "connects",
        messages: connected,
        messages_per_sec: connected as f64 / open_seconds,
        latency_us: run.latency(),
        errors: run.errors(),
        first_errors: run.first_errors(),
        server_cpu_seconds: server_cpu,
        messages_per_server_cpu_second: server_cpu.filter(|s| *s > 0.0).map(|s| connected as f64 / s),
        client_cpu_seconds: client_cpu,
        clock_ticks_per_second: procfs::clock_ticks(),
        rss_baseline_bytes: Some(baseline),
        rss_after_bytes: Some(after),
        rss_per_connection_bytes: (open > 0).then(|| (after as f64 - baseline as f64) / open as f64),
        ..Summary::default()
    })
}

/// Opens one connection and keeps it until the run stops, reading only to notice a close
/// (and, over Socket.IO, to answer pings).
async fn hold(conn: usize, run: Rc<Run>, target: Rc<Target>, sio: bool) {
    let label = format!("connection {conn}");
    let Some(mut connected) = run.connect(&label, &target).await else { return };
    run.complete(nanos(connected.handshake));
    if sio {
        if let Err(e) = answer_pings(&run, &mut connected.stream, &mut connected.leftover).await {
            run.error(&label, e);
        }
        drop(connected.open);
        return;
    }
    let mut scratch = [0u8; 64];
    let stopped = run.stopped();
    tokio::pin!(stopped);
    let dropped = loop {
        tokio::select! {
            () = &mut stopped => break None,
            r = connected.stream.read(&mut scratch) => match r {
                Ok(0) => break Some(ConnError::Eof),
                Ok(_) => {} // a ping, say: not an error, the connection is still open
                Err(e) => break Some(ConnError::Io(e)),
            },
        }
    };
    if let Some(e) = dropped {
        run.error(&label, e);
    }
    drop(connected.open);
}

/// Reads a Socket.IO connection until the run stops, answering each ping with a pong.
async fn answer_pings(
    run: &Run,
    stream: &mut tokio::net::TcpStream,
    buf: &mut bytes::BytesMut,
) -> Result<(), ConnError> {
    use tokio::io::AsyncWriteExt as _;
    let pong = sio::pong_frame(fastrand::u32(..).to_ne_bytes());
    let mut decoder = Decoder::default();
    let stopped = run.stopped();
    tokio::pin!(stopped);
    loop {
        let next = conn::next_event(stream, buf, &mut decoder, |event| match event {
            Event::Message { payload, .. } => Some(Ok(payload == sio::PING)),
            Event::Close(code) => Some(Err(ConnError::ServerClosed(code))),
            Event::Ping | Event::Pong => None,
        });
        let pinged = tokio::select! {
            () = &mut stopped => return Ok(()),
            r = next => r??,
        };
        if pinged {
            stream.write_all(&pong).await?;
        }
    }
}

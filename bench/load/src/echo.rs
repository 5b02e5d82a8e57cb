//! `echo`: round trips against an echo server.
//!
//! Closed loop (default): each connection keeps one message in flight. Open loop (`--rate`):
//! each connection sends on a fixed schedule, whatever is in flight, and latency runs from the
//! intended send time, so a stalled server shows up as latency instead of as fewer samples
//! (no coordinated omission).

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::rc::Rc;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use hdrhistogram::Histogram;
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio::task::JoinHandle;

use crate::Fatal;
use crate::cli::EchoArgs;
use crate::conn::ConnError;
use crate::frame::{self, Decoder, EchoCounter, Event, OP_BINARY, OP_TEXT};
use crate::report::Summary;
use crate::stats::{self, Percentiles, Run, nanos};
use crate::upgrade::Target;

/// Connection attempts in flight during the connect phase.
const CONNECT_CONCURRENCY: usize = 200;

/// What every connection sends, and how.
#[derive(Debug)]
struct Plan {
    size: usize,
    opcode: u8,
    validate: bool,
    /// Open loop: time between two sends of one connection.
    interval: Option<Duration>,
    connections: usize,
    /// Open loop only: latency from the actual write, and how late writes were.
    service: RefCell<Histogram<u64>>,
    send_lag: RefCell<Histogram<u64>>,
    in_flight_at_end: Cell<u64>,
}

pub(crate) async fn run(args: &EchoArgs) -> Result<Summary, Fatal> {
    let common = &args.common;
    let target = Rc::new(Target::resolve(&common.url).await?);
    let run = Run::new(common.quiet, args.connections, CONNECT_CONCURRENCY);
    let progress = run.spawn_progress("echoes/s");
    let plan = Rc::new(Plan {
        size: args.size,
        opcode: if args.binary { OP_BINARY } else { OP_TEXT },
        validate: args.validate,
        interval: args.rate.map(|rate| Duration::from_secs_f64(args.connections as f64 / rate)),
        connections: args.connections,
        service: RefCell::new(stats::histogram()),
        send_lag: RefCell::new(stats::histogram()),
        in_flight_at_end: Cell::new(0),
    });
    let tasks: Vec<JoinHandle<()>> = (0..args.connections)
        .map(|conn| {
            tokio::task::spawn_local(connection(conn, Rc::clone(&run), Rc::clone(&target), Rc::clone(&plan)))
        })
        .collect();
    run.all_connected().await;
    crate::require_connections(&run)?;
    let window = stats::window_then_drain(&run, common, tasks, progress, Duration::from_secs(1)).await;

    let mut summary = Summary::timed("echo", &common.url, &run, window, common.warmup);
    summary.connections = args.connections;
    summary.size = args.size;
    summary.binary = args.binary;
    summary.validate = Some(args.validate);
    summary.rate = args.rate;
    summary.unit = "echoes";
    if args.rate.is_some() {
        summary.service_latency_us = Percentiles::of(&plan.service.borrow());
        summary.send_lag_us = Percentiles::of(&plan.send_lag.borrow());
        summary.in_flight_at_end = Some(plan.in_flight_at_end.get());
    }
    Ok(summary)
}

async fn connection(conn: usize, run: Rc<Run>, target: Rc<Target>, plan: Rc<Plan>) {
    let Some(connected) = run.connect(format_args!("connection {conn}"), &target).await else { return };
    let mut stream = connected.stream;
    let payload = frame::ascii_payload(plan.size, conn);
    // One mask per connection: the frame is masked once here and written as is every time.
    let mask = fastrand::u32(..).to_ne_bytes();
    let message = frame::client_frame(plan.opcode, &payload, mask);
    let mut reader = if plan.validate {
        EchoReader::Parse {
            decoder: Decoder::default(),
            buf: connected.leftover,
            opcode: plan.opcode,
            payload,
        }
    } else {
        let mut counter = EchoCounter::new(plan.size);
        counter.feed(connected.leftover.len());
        EchoReader::Count { counter, scratch: vec![0; read_size(plan.size)] }
    };
    run.started().await;
    let result = match plan.interval {
        None => closed_loop(conn, &run, &mut stream, &message, &mut reader).await,
        Some(interval) => {
            // Spread the connections' schedules evenly over one interval.
            let offset = interval.mul_f64(conn as f64 / plan.connections as f64);
            open_loop(&run, &plan, &mut stream, &message, &mut reader, Instant::now() + offset).await
        }
    };
    match result {
        Ok(()) => {
            let _ = stream.write_all(&frame::close_frame(frame::CLOSE_NORMAL, mask)).await;
        }
        Err(e) => run.error(format_args!("connection {conn}"), e),
    }
    drop(connected.open);
}

/// Read buffer for byte counting: a whole echo where that is small, 64 KiB at most.
fn read_size(payload: usize) -> usize {
    frame::server_frame_len(payload).clamp(4096, 64 * 1024)
}

async fn closed_loop(
    conn: usize,
    run: &Run,
    stream: &mut TcpStream,
    message: &[u8],
    reader: &mut EchoReader,
) -> Result<(), ConnError> {
    while !run.is_stopped() {
        let sent = Instant::now();
        stream.write_all(message).await?;
        let echoes = loop {
            let echoes = reader.read_some(stream).await?;
            if echoes.matched + echoes.mismatched > 0 {
                break echoes;
            }
        };
        if echoes.matched + echoes.mismatched > 1 {
            return Err(ConnError::Unsolicited);
        }
        if let Some(why) = echoes.first_mismatch {
            run.error(format_args!("connection {conn}"), ConnError::Mismatch(why));
        } else {
            run.complete(nanos(sent.elapsed()));
        }
    }
    Ok(())
}

async fn open_loop(
    run: &Run,
    plan: &Plan,
    stream: &mut TcpStream,
    message: &[u8],
    echo_reader: &mut EchoReader,
    first: Instant,
) -> Result<(), ConnError> {
    let interval = plan.interval.unwrap_or(Duration::from_secs(1));
    let (mut rd, mut wr) = stream.split();
    // Latency start (the earlier of intended and actual send time, see `stats::TIMER_TICK`) and
    // actual send time of the messages in flight, oldest first: echoes come back in order.
    let in_flight: RefCell<VecDeque<(Instant, Instant)>> = RefCell::new(VecDeque::new());
    let writer = async {
        let stopped = run.stopped();
        tokio::pin!(stopped);
        let mut intended = first;
        loop {
            let wake = stats::wake_for(intended);
            if wake > Instant::now() {
                tokio::select! {
                    biased;
                    () = &mut stopped => return Ok(()),
                    () = tokio::time::sleep_until(wake.into()) => {}
                }
            }
            let now = Instant::now();
            run.record(&plan.send_lag, nanos(now.saturating_duration_since(intended)));
            in_flight.borrow_mut().push_back((intended.min(now), now));
            tokio::select! {
                biased;
                () = &mut stopped => return Ok(()),
                r = wr.write_all(message) => r?,
            }
            intended += interval;
        }
    };
    let reader = async {
        let stopped = run.stopped();
        tokio::pin!(stopped);
        loop {
            let echoes = tokio::select! {
                biased;
                () = &mut stopped => return Ok(()),
                r = echo_reader.read_some(&mut rd) => r?,
            };
            let now = Instant::now();
            let mut in_flight = in_flight.borrow_mut();
            for _ in 0..echoes.matched + echoes.mismatched {
                let (start, sent) = in_flight.pop_front().ok_or(ConnError::Unsolicited)?;
                run.complete(nanos(now.saturating_duration_since(start)));
                run.record(&plan.service, nanos(now.saturating_duration_since(sent)));
            }
            if let Some(why) = echoes.first_mismatch {
                return Err(ConnError::Mismatch(why));
            }
        }
    };
    let result = tokio::try_join!(writer, reader).map(|_| ());
    let left = in_flight.borrow().len() as u64;
    plan.in_flight_at_end.set(plan.in_flight_at_end.get() + left);
    result
}

/// Echoes completed by one read.
#[derive(Debug, Default)]
struct Echoes {
    matched: usize,
    mismatched: usize,
    first_mismatch: Option<String>,
}

/// How echoes are recognised: by counting bytes (throughput) or by parsing (`--validate`).
#[derive(Debug)]
enum EchoReader {
    Count { counter: EchoCounter, scratch: Vec<u8> },
    Parse { decoder: Decoder, buf: BytesMut, opcode: u8, payload: Vec<u8> },
}

impl EchoReader {
    /// Reads once (or decodes what is buffered) and returns the echoes that completed.
    async fn read_some<R: AsyncRead + Unpin>(&mut self, rd: &mut R) -> Result<Echoes, ConnError> {
        match self {
            EchoReader::Count { counter, scratch } => {
                let n = rd.read(scratch).await?;
                if n == 0 {
                    return Err(ConnError::Eof);
                }
                Ok(Echoes { matched: counter.feed(n), ..Echoes::default() })
            }
            EchoReader::Parse { decoder, buf, opcode, payload } => loop {
                let mut echoes = Echoes::default();
                loop {
                    let (used, event) = decoder.decode(buf)?;
                    if used == 0 {
                        break;
                    }
                    match event {
                        Some(Event::Message { opcode: op, payload: got }) => {
                            if op == *opcode && got == payload.as_slice() {
                                echoes.matched += 1;
                            } else {
                                echoes.mismatched += 1;
                                echoes
                                    .first_mismatch
                                    .get_or_insert_with(|| describe(*opcode, payload, op, got));
                            }
                        }
                        Some(Event::Close(code)) => return Err(ConnError::ServerClosed(code)),
                        Some(Event::Ping | Event::Pong) | None => {}
                    }
                    bytes::Buf::advance(buf, used);
                }
                if echoes.matched + echoes.mismatched > 0 {
                    return Ok(echoes);
                }
                buf.reserve(read_size(payload.len()));
                if rd.read_buf(buf).await? == 0 {
                    return Err(ConnError::Eof);
                }
            },
        }
    }
}

/// Says how an echo differs from what was sent.
fn describe(sent_op: u8, sent: &[u8], got_op: u8, got: &[u8]) -> String {
    if sent_op != got_op {
        return format!("opcode {got_op:#x}, sent {sent_op:#x}");
    }
    if sent.len() != got.len() {
        return format!("{} bytes, sent {}", got.len(), sent.len());
    }
    let at = sent.iter().zip(got).position(|(a, b)| a != b).unwrap_or(0);
    format!("payload differs at byte {at}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn describes_mismatches() {
        assert_eq!(describe(1, b"ab", 2, b"ab"), "opcode 0x2, sent 0x1");
        assert_eq!(describe(1, b"ab", 1, b"abc"), "3 bytes, sent 2");
        assert_eq!(describe(1, b"ab", 1, b"ax"), "payload differs at byte 1");
    }

    #[tokio::test(flavor = "current_thread")]
    async fn parse_reader_counts_matches_and_mismatches() {
        let echo = |payload: &[u8]| {
            let mut f = vec![0x81, payload.len() as u8];
            f.extend_from_slice(payload);
            f
        };
        let mut stream = echo(b"hi");
        stream.extend(echo(b"ho"));
        stream.extend(echo(b"hi")[..3].iter()); // half an echo
        let mut reader = EchoReader::Parse {
            decoder: Decoder::default(),
            buf: BytesMut::new(),
            opcode: OP_TEXT,
            payload: b"hi".to_vec(),
        };
        let mut rd = stream.as_slice();
        let echoes = reader.read_some(&mut rd).await.unwrap();
        assert_eq!((echoes.matched, echoes.mismatched), (1, 1));
        assert_eq!(echoes.first_mismatch.as_deref(), Some("payload differs at byte 1"));
        assert!(matches!(reader.read_some(&mut rd).await, Err(ConnError::Eof)));
    }
}

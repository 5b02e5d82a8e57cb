//! `handshake`: workers that each loop through a whole connection's life — connect, upgrade,
//! one echo, close handshake — measuring handshakes per second and the cycle's latency.

use std::rc::Rc;
use std::time::{Duration, Instant};

use tokio::io::AsyncWriteExt as _;
use tokio::task::JoinHandle;

use crate::Fatal;
use crate::cli::HandshakeArgs;
use crate::conn::{self, ConnError};
use crate::frame::{self, Decoder, Event, OP_BINARY, OP_TEXT};
use crate::report::Summary;
use crate::stats::{self, Run, nanos};
use crate::upgrade::Target;

/// Pause after a failed cycle, so a refusing server is not hammered in a tight loop.
const BACKOFF: Duration = Duration::from_millis(10);

/// The bytes every cycle of one worker sends.
#[derive(Debug)]
struct Script {
    opcode: u8,
    payload: Vec<u8>,
    message: Vec<u8>,
    close: Vec<u8>,
}

pub(crate) async fn run(args: &HandshakeArgs) -> Result<Summary, Fatal> {
    let common = &args.common;
    let target = Rc::new(Target::resolve(&common.url).await?);
    // No connect phase: every cycle connects.
    let run = Run::new(common.quiet, 0, 1);
    let progress = run.spawn_progress("handshakes/s");
    let opcode = if args.binary { OP_BINARY } else { OP_TEXT };
    let tasks: Vec<JoinHandle<()>> = (0..args.connections)
        .map(|w| {
            let payload = frame::ascii_payload(args.size, w);
            let mask = fastrand::u32(..).to_ne_bytes();
            let script = Script {
                opcode,
                message: frame::client_frame(opcode, &payload, mask),
                close: frame::close_frame(frame::CLOSE_NORMAL, mask),
                payload,
            };
            tokio::task::spawn_local(worker(w, Rc::clone(&run), Rc::clone(&target), script))
        })
        .collect();
    let window = stats::window_then_drain(&run, common, tasks, progress, Duration::from_secs(2)).await;

    let mut summary = Summary::timed("handshake", &common.url, &run, window, common.warmup);
    summary.connections = args.connections;
    summary.size = args.size;
    summary.binary = args.binary;
    summary.unit = "handshakes";
    Ok(summary)
}

async fn worker(w: usize, run: Rc<Run>, target: Rc<Target>, script: Script) {
    run.started().await;
    while !run.is_stopped() {
        let began = Instant::now();
        match cycle(&run, &target, &script).await {
            Ok(()) => run.complete(nanos(began.elapsed())),
            Err(e) => {
                run.error(format_args!("worker {w}"), e);
                tokio::time::sleep(BACKOFF).await;
            }
        }
    }
}

/// One connection's life; dropped (TCP closed) once the server's close frame or EOF is in.
async fn cycle(run: &Rc<Run>, target: &Target, script: &Script) -> Result<(), ConnError> {
    let (mut stream, mut buf) = target.connect().await?;
    let _open = run.open_guard();
    let mut decoder = Decoder::default();
    stream.write_all(&script.message).await?;
    let echo = conn::next_event(&mut stream, &mut buf, &mut decoder, |event| match event {
        Event::Message { opcode, payload } => {
            Some(if opcode == script.opcode && payload == script.payload.as_slice() {
                Ok(())
            } else {
                Err(ConnError::Mismatch(format!("opcode {opcode:#x}, {} bytes", payload.len())))
            })
        }
        Event::Close(code) => Some(Err(ConnError::ServerClosed(code))),
        Event::Ping | Event::Pong => None,
    });
    echo.await??;
    stream.write_all(&script.close).await?;
    let close = conn::next_event(&mut stream, &mut buf, &mut decoder, |event| {
        matches!(event, Event::Close(_)).then_some(())
    });
    match close.await {
        Ok(()) | Err(ConnError::Eof) => Ok(()),
        Err(e) => Err(e),
    }
}

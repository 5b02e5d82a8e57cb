//! A small WebSocket client for trying the servers (built on tokio-tungstenite): it prints each
//! text message it receives as a line and sends each line of stdin as a text message.
//!
//! Run with:
//!
//! ```text
//! cargo run --example client -- ws://127.0.0.1:8080/
//! ```
//!
//! after starting a server, e.g. `cargo run --example chat` (run two clients to chat) or
//! `cargo run --example push`. It also works in pipes:
//!
//! ```text
//! echo hello | cargo run --example client -- ws://127.0.0.1:8080/
//! ```
//!
//! At the end of stdin (Ctrl-D) or on Ctrl-C it sends a close frame, waits for the server's, and exits; it
//! also exits when the server closes the connection.

mod support;

use std::error::Error;
use std::io::{self, BufRead as _};
use std::process::ExitCode;
use std::time::Duration;

use futures_util::{SinkExt as _, StreamExt as _};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

const USAGE: &str = "\
usage: client [URL]

  URL   the server to connect to (default ws://127.0.0.1:8080/)";

/// How long to wait for the server's close frame after sending ours.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);

#[tokio::main]
async fn main() -> ExitCode {
    let mut args = support::Args::from_env(USAGE);
    let url = args.positional().unwrap_or_else(|| "ws://127.0.0.1:8080/".to_owned());
    args.finish();
    support::init_tracing();

    match run(&url).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("client: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(url: &str) -> Result<(), Box<dyn Error>> {
    let (ws, _response) =
        tokio_tungstenite::connect_async(url).await.map_err(|e| format!("cannot connect to {url}: {e}"))?;
    let (mut sink, mut stream) = ws.split();
    let mut lines = stdin_lines();
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    // Set once our close frame is out: from then on only the server's close is awaited.
    let mut close_deadline: Option<Instant> = None;

    loop {
        tokio::select! {
            line = lines.recv(), if close_deadline.is_none() => match line {
                Some(Ok(line)) => sink.send(Message::text(line)).await?,
                Some(Err(e)) => return Err(format!("cannot read stdin: {e}").into()),
                None => {
                    sink.send(normal_close()).await?;
                    close_deadline = Some(Instant::now() + CLOSE_TIMEOUT);
                }
            },
            _ = &mut ctrl_c, if close_deadline.is_none() => {
                sink.send(normal_close()).await?;
                close_deadline = Some(Instant::now() + CLOSE_TIMEOUT);
            }
            msg = stream.next() => match msg {
                Some(Ok(Message::Text(text))) => println!("{text}"),
                Some(Ok(Message::Binary(bytes))) => {
                    eprintln!("(binary message, {} bytes)", bytes.len());
                }
                Some(Ok(Message::Close(Some(frame)))) if close_deadline.is_none() => {
                    // tungstenite answers it; the stream then ends.
                    eprintln!("server closed the connection: {} {}", frame.code, frame.reason);
                }
                // Pings are answered by tungstenite; the answer to our close ends the stream.
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(format!("connection failed: {e}").into()),
                None => break,
            },
            () = sleep_until(close_deadline) => {
                return Err("the server did not answer our close frame in time".into());
            }
        }
    }
    Ok(())
}

/// A close frame with 1000 "normal closure".
fn normal_close() -> Message {
    Message::Close(Some(CloseFrame { code: CloseCode::Normal, reason: "".into() }))
}

/// Waits until `deadline`, or forever when there is none.
async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

/// Lines of stdin, read on a plain thread.
///
/// Not `tokio::io::stdin`: its blocking read cannot be cancelled, so when the server closes
/// first the runtime would wait at exit for a line the user never types. A plain thread does
/// not keep the process alive.
fn stdin_lines() -> mpsc::Receiver<io::Result<String>> {
    let (tx, rx) = mpsc::channel(16);
    std::thread::spawn(move || {
        for line in io::stdin().lock().lines() {
            if tx.blocking_send(line).is_err() {
                break;
            }
        }
    });
    rx
}

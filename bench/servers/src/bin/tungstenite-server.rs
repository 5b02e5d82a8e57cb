//! The tokio-tungstenite bench server: `accept_async_with_config` and a read/send loop per
//! connection, as the crate's examples show.
//!
//! Run with:
//!
//! ```text
//! cargo run --release -p windlass-bench-servers --bin tungstenite-server -- --listen 127.0.0.1:0 [--mode broadcast] [--read-buffer 4096]
//! ```
//!
//! `--read-buffer BYTES` sets `WebSocketConfig::read_buffer_size` (default 128 KiB, allocated
//! up front for every connection) and `write_buffer_size` to match (also 128 KiB by default;
//! it is the threshold past which queued frames are written, not an allocation). Everything
//! else is the library's default: messages up to 64 MiB, frames up to 16 MiB.
//!
//! Broadcast follows tokio-tungstenite's `server` example: a shared map of unbounded queues of
//! `Message` (a clone shares the payload's `Bytes`); each connection's task writes its queue,
//! feeding everything queued before one flush, as the example's `forward` does.

use futures_util::{SinkExt as _, StreamExt as _};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{Error, Message};
use tokio_tungstenite::{WebSocketStream, accept_async_with_config};
use windlass_bench_servers::{
    Args, Mode, Options, Peers, accept, announce, bind, raise_nofile_limit, runtime,
};

async fn echo(mut ws: WebSocketStream<TcpStream>) -> Result<(), Error> {
    while let Some(msg) = ws.next().await {
        let msg = msg?;
        // Pings are answered and closes completed inside `next`.
        if msg.is_text() || msg.is_binary() {
            ws.send(msg).await?;
        }
    }
    Ok(())
}

async fn broadcast(mut ws: WebSocketStream<TcpStream>, peers: &Peers<Message>) -> Result<(), Error> {
    let (me, mut queue) = peers.join();
    loop {
        tokio::select! {
            incoming = ws.next() => match incoming {
                Some(msg) => {
                    let msg = msg?;
                    if msg.is_text() || msg.is_binary() {
                        me.broadcast(&msg);
                    }
                }
                None => return Ok(()),
            },
            Some(msg) = queue.recv() => {
                ws.feed(msg).await?;
                while let Ok(msg) = queue.try_recv() {
                    ws.feed(msg).await?;
                }
                ws.flush().await?;
            }
        }
    }
}

async fn handle(
    stream: TcpStream,
    config: WebSocketConfig,
    mode: Mode,
    peers: Peers<Message>,
) -> Result<(), Error> {
    let ws = accept_async_with_config(stream, Some(config)).await?;
    match mode {
        Mode::Echo => echo(ws).await,
        Mode::Broadcast => broadcast(ws, &peers).await,
        Mode::Http | Mode::Sio => unreachable!("Options::WithReadBuffer refuses --mode http and sio"),
    }
}

fn main() -> std::io::Result<()> {
    let args = Args::from_env(Options::WithReadBuffer);
    raise_nofile_limit();
    let mut config = WebSocketConfig::default();
    if let Some(bytes) = args.read_buffer {
        config = config.read_buffer_size(bytes).write_buffer_size(bytes);
    }
    runtime()?.block_on(async {
        let listener = bind(args.listen)?;
        announce(listener.local_addr()?)?;
        let peers = Peers::new();
        loop {
            let stream = accept(&listener).await;
            let peers = peers.clone();
            tokio::spawn(async move {
                // Peers that vanish mid-handshake or mid-message are routine under load.
                let _ = handle(stream, config, args.mode, peers).await;
            });
        }
    })
}

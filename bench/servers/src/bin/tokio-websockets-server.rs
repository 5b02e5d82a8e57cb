//! The tokio-websockets bench server: `ServerBuilder::accept` and a read/send loop per
//! connection, as the crate's README shows.
//!
//! Run with:
//!
//! ```text
//! cargo run --release -p windlass-bench-servers --bin tokio-websockets-server -- --listen 127.0.0.1:0 [--mode broadcast]
//! ```
//!
//! Library defaults: payloads up to 64 MiB, outgoing messages split into 4 MiB frames, queued
//! frames flushed past 8 KiB or on `flush`; pings are answered and closes completed inside
//! `next`. Built with `server` and the pure-Rust `sha1_smol` (the handshake's SHA-1); a server
//! needs no random-number backend (only a client masks frames).
//!
//! Broadcast: a shared map of unbounded queues of `Message` (a clone shares the payload's
//! `Bytes`); each connection's task feeds everything queued before one flush.

use futures_util::{SinkExt as _, StreamExt as _};
use tokio::net::TcpStream;
use tokio_websockets::{Error, Message, ServerBuilder, WebSocketStream};
use windlass_bench_servers::{
    Args, Mode, Options, Peers, accept, announce, bind, raise_nofile_limit, runtime,
};

async fn echo(mut ws: WebSocketStream<TcpStream>) -> Result<(), Error> {
    while let Some(msg) = ws.next().await {
        let msg = msg?;
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

async fn handle(stream: TcpStream, mode: Mode, peers: Peers<Message>) -> Result<(), Error> {
    let (_request, ws) = ServerBuilder::new().accept(stream).await?;
    match mode {
        Mode::Echo => echo(ws).await,
        Mode::Broadcast => broadcast(ws, &peers).await,
        Mode::Http | Mode::Sio => unreachable!("Options::Common refuses --mode http and sio"),
    }
}

fn main() -> std::io::Result<()> {
    let args = Args::from_env(Options::Common);
    raise_nofile_limit();
    runtime()?.block_on(async {
        let listener = bind(args.listen)?;
        announce(listener.local_addr()?)?;
        let peers = Peers::new();
        loop {
            let stream = accept(&listener).await;
            let peers = peers.clone();
            tokio::spawn(async move {
                // Peers that vanish mid-handshake or mid-message are routine under load.
                let _ = handle(stream, args.mode, peers).await;
            });
        }
    })
}

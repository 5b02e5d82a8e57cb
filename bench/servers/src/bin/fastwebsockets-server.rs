//! The fastwebsockets bench server: hyper 1 serves the upgrade request and
//! `fastwebsockets::upgrade::upgrade` answers it, as the crate's `echo_server` example shows;
//! `FragmentCollector` joins fragmented messages.
//!
//! Run with:
//!
//! ```text
//! cargo run --release -p windlass-bench-servers --bin fastwebsockets-server -- --listen 127.0.0.1:0 [--mode broadcast]
//! ```
//!
//! Library defaults: an 8 KiB read buffer that grows to fit a frame, messages up to 64 MiB,
//! auto-pong and auto-close on, payloads over 1 KiB written with `writev`. Every frame is
//! written as soon as it is handed over: the library has no write buffering to batch frames.
//! The example also runs each connection under `tokio::task::unconstrained`; this server does
//! not, like the others.
//!
//! Broadcast: `read_frame` is not cancel-safe (a frame half read is lost), so a connection
//! cannot `select!` between its socket and its queue. It is split instead (the
//! `unstable-split` feature, as the `echo_server_split` example does): the reader broadcasts,
//! a writer task drains the connection's queue of shared payloads, and the reader's
//! obligatory replies (pong, close) go through that queue too.

use bytes::Bytes;
use fastwebsockets::upgrade::{UpgradeFut, upgrade};
use fastwebsockets::{FragmentCollector, FragmentCollectorRead, Frame, OpCode, Payload, WebSocketError};
use http_body_util::Empty;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use windlass_bench_servers::{
    Args, Mode, Options, Peers, accept, announce, bind, raise_nofile_limit, runtime,
};

/// A frame waiting in a connection's queue: its payload is shared by every recipient.
#[derive(Clone, Debug)]
struct Outbound {
    opcode: OpCode,
    payload: Bytes,
}

impl From<Frame<'_>> for Outbound {
    fn from(frame: Frame<'_>) -> Self {
        let payload = match frame.payload {
            Payload::Bytes(bytes) => bytes.freeze(),
            Payload::Owned(vec) => Bytes::from(vec),
            Payload::Borrowed(slice) => Bytes::copy_from_slice(slice),
            Payload::BorrowedMut(slice) => Bytes::copy_from_slice(slice),
        };
        Self { opcode: frame.opcode, payload }
    }
}

async fn echo(fut: UpgradeFut) -> Result<(), WebSocketError> {
    let mut ws = fut.await?;
    ws.set_auto_close(true);
    ws.set_auto_pong(true);
    let mut ws = FragmentCollector::new(ws);
    loop {
        let frame = ws.read_frame().await?;
        match frame.opcode {
            OpCode::Close => return Ok(()),
            OpCode::Text | OpCode::Binary => ws.write_frame(frame).await?,
            _ => {}
        }
    }
}

async fn broadcast(fut: UpgradeFut, peers: Peers<Outbound>) -> Result<(), WebSocketError> {
    let mut ws = fut.await?;
    ws.set_auto_close(true);
    ws.set_auto_pong(true);
    let (read, mut write) = ws.split(tokio::io::split);
    let mut read = FragmentCollectorRead::new(read);
    let (me, mut queue) = peers.join();
    tokio::spawn(async move {
        // Ends once the reader has left `peers` (no sender is left) or after our close frame.
        while let Some(out) = queue.recv().await {
            let frame = Frame::new(true, out.opcode, None, Payload::Borrowed(&out.payload));
            if write.write_frame(frame).await.is_err() || out.opcode == OpCode::Close {
                break;
            }
        }
    });
    let mut reply = |frame: Frame<'_>| {
        let queued = me.send_to_self(Outbound::from(frame));
        async move { if queued { Ok(()) } else { Err(WebSocketError::ConnectionClosed) } }
    };
    loop {
        let frame = read.read_frame(&mut reply).await?;
        match frame.opcode {
            OpCode::Close => return Ok(()),
            OpCode::Text | OpCode::Binary => {
                me.broadcast(&Outbound::from(frame));
            }
            _ => {}
        }
    }
}

fn server_upgrade(
    mut req: Request<Incoming>,
    mode: Mode,
    peers: &Peers<Outbound>,
) -> Result<Response<Empty<Bytes>>, WebSocketError> {
    let (response, fut) = upgrade(&mut req)?;
    let peers = peers.clone();
    tokio::spawn(async move {
        // Peers that vanish mid-message are routine under load.
        let _ = match mode {
            Mode::Echo => echo(fut).await,
            Mode::Broadcast => broadcast(fut, peers).await,
            Mode::Http | Mode::Sio => unreachable!("Options::Common refuses --mode http and sio"),
        };
    });
    Ok(response)
}

fn main() -> std::io::Result<()> {
    let args = Args::from_env(Options::Common);
    raise_nofile_limit();
    runtime()?.block_on(async {
        let listener = bind(args.listen)?;
        announce(listener.local_addr()?)?;
        let peers = Peers::new();
        loop {
            let io = TokioIo::new(accept(&listener).await);
            let peers = peers.clone();
            let mode = args.mode;
            tokio::spawn(async move {
                let service = service_fn(|req| std::future::ready(server_upgrade(req, mode, &peers)));
                let _ = http1::Builder::new().serve_connection(io, service).with_upgrades().await;
            });
        }
    })
}

//! The socketioxide bench server (`--mode sio`, the only mode): socketioxide 0.18's
//! `SocketIoService` served by hyper 1 (`http1::Builder` with upgrades), as the crate's hyper
//! example does, on the `current_thread` runtime every bench server uses.
//!
//! Run with:
//!
//! ```text
//! cargo run --release -p windlass-bench-servers --bin socketioxide-server -- --listen 127.0.0.1:0
//! ```
//!
//! Library defaults (25 s pings, 128 packets buffered per socket, 100 kB payloads, a 4 KiB
//! WebSocket read buffer). Each socket of `/` joins [`SIO_ROOM`]; `ack` is acknowledged with
//! its argument (`Data<serde_json::Value>` and `AckSender`, as in the crate's echo examples: one
//! argument back, which is what the load generator sends), `fanout` goes on to the rest of the
//! room as `tick` (`socket.to(room).emit`).

use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use serde_json::Value;
use socketioxide::SocketIo;
use socketioxide::extract::{AckSender, Data, SocketRef};
use windlass_bench_servers::{
    Args, Options, SIO_ACK_EVENT, SIO_FANOUT_EVENT, SIO_ROOM, SIO_TICK_EVENT, accept, announce, bind,
    raise_nofile_limit, runtime,
};

fn main() -> std::io::Result<()> {
    let args = Args::from_env(Options::SioOnly);
    raise_nofile_limit();
    runtime()?.block_on(async {
        let (service, io) = SocketIo::new_svc();
        io.ns("/", async |socket: SocketRef| {
            socket.join(SIO_ROOM);
            socket.on(SIO_ACK_EVENT, async |Data(data): Data<Value>, ack: AckSender| {
                let _ = ack.send(&data);
            });
            socket.on(SIO_FANOUT_EVENT, async |socket: SocketRef, Data(data): Data<Value>| {
                let _ = socket.to(SIO_ROOM).emit(SIO_TICK_EVENT, &data).await;
            });
        });
        let listener = bind(args.listen)?;
        announce(listener.local_addr()?)?;
        loop {
            let io = TokioIo::new(accept(&listener).await);
            let service = service.clone();
            tokio::spawn(async move {
                let _ = http1::Builder::new().serve_connection(io, service).with_upgrades().await;
            });
        }
    })
}

//! The hyper bench server, for the plain-HTTP workload only (`--mode http`, its one mode): the
//! minimal hyper 1 server of hyper's own `hello` example. `http1::Builder` serves each
//! connection (keep-alive on, the default) and a `service_fn` answers every request with
//! `Hello, world!` as `text/plain` in a `Full<Bytes>`.
//!
//! Run with:
//!
//! ```text
//! cargo run --release -p windlass-bench-servers --bin hyper-server -- --listen 127.0.0.1:0
//! ```
//!
//! Runtime: tokio `current_thread` ([`runtime`]), the same flavour as `windlass-server` and every
//! other bench server, with a task per connection. Library defaults otherwise: no timer is
//! given to the builder, so there is no header-read timeout, and no cap on requests per
//! connection. hyper adds `Date` and `Content-Length` to the answer by itself.

use std::convert::Infallible;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use windlass_bench_servers::{
    Args, HELLO, HELLO_CONTENT_TYPE, Options, accept, announce, bind, raise_nofile_limit, runtime,
};

/// Answers any request with [`HELLO`].
async fn hello(_request: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let mut response = Response::new(Full::new(Bytes::from_static(HELLO)));
    response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static(HELLO_CONTENT_TYPE));
    Ok(response)
}

fn main() -> std::io::Result<()> {
    // `--mode http` is the only mode, and the default.
    let args = Args::from_env(Options::HttpOnly);
    raise_nofile_limit();
    runtime()?.block_on(async {
        let listener = bind(args.listen)?;
        announce(listener.local_addr()?)?;
        loop {
            let io = TokioIo::new(accept(&listener).await);
            tokio::spawn(async move {
                // Clients that leave mid-request are routine under load.
                let _ = http1::Builder::new().serve_connection(io, service_fn(hello)).await;
            });
        }
    })
}

//! The browser chat: a page at `/`, the named chat's socket at `/chat`, Prometheus metrics at
//! `/metrics` and a health check at `/health`, all on one port, built with `App`.
//!
//! Run with:
//!
//! ```text
//! cargo run --release --example web_chat
//! ```
//!
//! then open <http://127.0.0.1:8080/> (or <http://localhost:8080/>) in two browser tabs, pick a
//! name in each, and chat. The socket accepts pages from its own origin only: an `Origin`
//! whose host and port are the request's `Host`, whatever name the browser used, or
//! `http(s)://HOST:PORT` for `--host` (`localhost` by default). A refused page is logged at
//! `warn` with the origin and what was expected. With `--cert` and `--key` (PEM files) the
//! same port serves `https://` and `wss://` instead.
//!
//! The chat itself is the `named_chat` example's component (`support/named_chat.rs`); the page
//! is `web_chat.html`, compiled into the binary.

mod support;

use std::error::Error;

use support::named_chat::NamedChat;
use windlass::{App, Health, Metrics, StaticResponse, TlsConfig};

const USAGE: &str = "\
usage: web_chat [--listen ADDR] [--host NAME] [--cert PEM --key PEM]

  --listen ADDR   address to listen on (default 127.0.0.1:8080; port 0 picks one)
  --host NAME     a host name browsers use to reach the page (default localhost); the
                  socket accepts pages from their own origin and from http(s)://NAME:PORT
  --cert PEM      certificate chain (PEM) to serve https:// and wss:// (needs --key)
  --key PEM       private key (PEM) for --cert";

/// The page, compiled in so that the binary runs from any directory.
const PAGE: &str = include_str!("web_chat.html");

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let mut args = support::Args::from_env(USAGE);
    let listen = args.listen();
    let host: String = args.value("--host").unwrap_or_else(|| "localhost".to_owned());
    let cert: Option<String> = args.value("--cert");
    let key: Option<String> = args.value("--key");
    args.finish();
    support::init_tracing();

    let mut app = App::new(&host, &listen)
        .route_http("/", StaticResponse::new("text/html; charset=utf-8", PAGE))
        .route("/chat", NamedChat::default(), &[])
        .route_http("/metrics", Metrics::install()?)
        .route_http("/health", Health);
    let scheme = match (cert, key) {
        (Some(cert), Some(key)) => {
            app = app.tls(TlsConfig::from_pem_files(cert, key)?);
            "https"
        }
        (None, None) => "http",
        _ => {
            eprintln!("error: --cert and --key go together\n\n{USAGE}");
            std::process::exit(2);
        }
    };
    let server = app.bind().await?;
    let addr = server.local_addr()?;
    println!("listening on {addr}");
    println!("open {scheme}://{host}:{}/ in two browser tabs", addr.port());
    server.run_until(tokio::signal::ctrl_c()).await?;
    Ok(())
}

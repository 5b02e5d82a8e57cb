//! The browser chat inside an axum application: axum serves the page and its own routes, and
//! windlass's `WsServer` is mounted at `/chat` as a tower service, upgrading through axum's
//! server. This is how an existing axum app adopts windlass.
//!
//! Run with:
//!
//! ```text
//! cargo run --release --example axum_chat
//! ```
//!
//! then open <http://127.0.0.1:8080/> (or <http://localhost:8080/>) in two browser tabs, pick a
//! name in each, and chat. `GET /api/health` is an ordinary axum handler beside it.
//!
//! The chat is the `named_chat` example's component (`support/named_chat.rs`) and the page is
//! `web_chat.html`, the same as the `web_chat` example's.

mod support;

use std::error::Error;
use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Request};
use axum::middleware::{self, Next};
use axum::response::{Html, Response};
use axum::routing::get;
use support::named_chat::NamedChat;
use windlass::{ComponentService, ConnectionInfo, OriginCheck, WsServer};

const USAGE: &str = "\
usage: axum_chat [--listen ADDR]

  --listen ADDR   address to listen on (default 127.0.0.1:8080; port 0 picks one)";

const PAGE: &str = include_str!("web_chat.html");

/// Tells windlass who the peer is: axum knows it from `into_make_service_with_connect_info`.
async fn connection_info(
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    mut request: Request,
    next: Next,
) -> Response {
    request.extensions_mut().insert(ConnectionInfo::for_remote_addr(peer));
    next.run(request).await
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let mut args = support::Args::from_env(USAGE);
    let listen = args.listen();
    args.finish();
    support::init_tracing();

    // Browsers may connect from the page's own origin only, whatever name they used.
    let chat = OriginCheck::same_origin(WsServer::new(NamedChat::default()));
    let app = axum::Router::new()
        .route("/", get(|| async { Html(PAGE) }))
        .route("/api/health", get(|| async { "ok\n" }))
        .route_service("/chat", ComponentService::new(chat))
        .layer(middleware::from_fn(connection_info));

    let listener = tokio::net::TcpListener::bind(&listen).await?;
    let addr = listener.local_addr()?;
    println!("listening on {addr}");
    println!("open http://{addr}/ in two browser tabs");
    axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>())
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}

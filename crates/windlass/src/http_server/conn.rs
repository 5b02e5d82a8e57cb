//! One HTTP/1.1 connection: read a head, run the handler while feeding it the body and
//! watching for the client leaving, write the response, and go round again while the
//! connection is kept alive.

use std::future::poll_fn;
use std::io::{self, IoSlice};
use std::pin::{Pin, pin};
use std::task::Poll;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http::header::{CONNECTION, DATE, EXPECT, HOST, HeaderValue};
use http::{Method, Request, Response, StatusCode, Version};
use http_body::Body as _;
use http_body_util::BodyExt as _;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::time::{Instant, Sleep};
use tracing::Instrument as _;
use windlass_proto::body::{
    BodyDecoder, BodyFraming, CRLF, Decoded, LAST_CHUNK, ResponseFraming, chunk_prefix, encode_response_head,
    request_framing,
};
use windlass_proto::head::take_request_head;
use windlass_proto::{BodyError as FramingError, HeadError};

use super::body::{Body, BodySender, Demand, pipe};
use super::response::{closing, refusal, says_close};
use super::upgrade::{ConnectionInfo, OnUpgrade, Upgraded};
use super::{HttpComponent, HttpConfig};
use crate::io_server::{IoConnection, ServerContext, Socket};

/// How long a refused client gets to take our answer and close before we close anyway.
const REFUSAL_LINGER: Duration = Duration::from_secs(2);

/// Serves requests on one connection until it closes or is upgraded.
pub(super) async fn serve<H: HttpComponent + ?Sized>(inner: &H, config: &HttpConfig, conn: IoConnection) {
    let IoConnection { socket, id, remote_addr, server, permit } = conn;
    let info = ConnectionInfo { id, remote_addr, tls: socket.is_tls(), own_server: true };
    let mut conn =
        HttpConn { socket, buf: BytesMut::with_capacity(1024), head: Vec::new(), idle: None, config, server };
    let mut served: u64 = 0;
    loop {
        let first = served == 0;
        let request = match conn.read_head(first).await {
            HeadOutcome::Request(request) => request,
            HeadOutcome::Refused(e) => {
                tracing::debug!(error = %e, status = e.status().as_u16(), "bad request head");
                conn.refuse(refusal(e.status(), &[], &e.to_string())).await;
                return;
            }
            HeadOutcome::Gone => return,
        };
        served += 1;
        tracing::debug!(method = %request.method(), uri = %request.uri(), "request");
        let facts = HeadFacts::of(request.headers());
        let framing = match check(&request, &facts, config) {
            Ok(framing) => framing,
            Err(refused) => {
                conn.refuse(*refused).await;
                return;
            }
        };
        let head_only = request.method() == Method::HEAD;
        // HTTP/1.0 closes after each answer unless the client asks to keep the connection.
        let http10 = request.version() == Version::HTTP_10;
        let keep_alive_asked = http10 && facts.keep_alive;
        let last = facts.close
            || (http10 && !keep_alive_asked)
            || served >= config.max_requests_per_connection
            || conn.server.shutdown.is_cancelled();
        let expect_continue = facts.expects > 0;
        let mut decoder = BodyDecoder::new(framing, config.body);
        let (sender, body) = if framing == BodyFraming::Empty {
            (None, Body::empty())
        } else {
            let (sender, incoming) = pipe(decoder.declared_length());
            (Some(sender), Body::incoming(incoming))
        };
        let mut request = request.map(|()| body);
        request.extensions_mut().insert(info);
        let Some(exchange) =
            conn.exchange(inner.on_request(request), sender, &mut decoder, expect_continue).await
        else {
            tracing::debug!("client left before the answer");
            return;
        };
        let mut response = exchange.response;
        // A body the handler left unread is skipped if it is already here; otherwise the
        // connection cannot be reused (its next bytes are not a request head).
        let body_done = exchange.body_ok && skip_buffered(&mut decoder, &mut conn.buf);
        if response.status() == StatusCode::SWITCHING_PROTOCOLS {
            if let Some(run) = response.extensions().get::<OnUpgrade>().and_then(OnUpgrade::take) {
                conn.server.metrics.handshake(StatusCode::SWITCHING_PROTOCOLS);
                let HttpConn { socket, buf, server, .. } = conn;
                let tracker = server.tracker.clone();
                let upgraded = Upgraded { socket, buffered: buf, server, permit: Some(permit) };
                // The new owner runs as a task of its own, so that this connection's HTTP
                // state is freed now rather than kept for the upgraded connection's life.
                let span = tracing::Span::current();
                if span.is_disabled() {
                    tracker.spawn(run(upgraded));
                } else {
                    tracker.spawn(run(upgraded).instrument(span));
                }
                return;
            }
            tracing::warn!("101 answer without an upgrade to run; answering 500");
            response = refusal(StatusCode::INTERNAL_SERVER_ERROR, &[], "upgrade failed");
        }
        let mut close =
            last || !body_done || says_close(response.headers()) || conn.server.shutdown.is_cancelled();
        // An HTTP/1.0 client reads a body of unknown length to the end of the connection.
        if http10 && response.body().size_hint().exact().is_none() {
            close = true;
        }
        if close {
            response = closing(response);
        } else if http10 {
            response.headers_mut().insert(CONNECTION, HeaderValue::from_static("keep-alive"));
        }
        match conn.write_response(response, head_only, http10).await {
            Ok(()) if !close => {}
            Ok(()) => {
                conn.close().await;
                return;
            }
            Err(e) => {
                tracing::debug!(error = %e, "writing the response failed");
                return;
            }
        }
    }
}

/// What the server needs from a request's fields, found in one pass over them rather than a
/// hashed lookup per field name.
#[derive(Default)]
struct HeadFacts {
    hosts: usize,
    expects: usize,
    /// `Content-Length` or `Transfer-Encoding` is present: the framing must be worked out.
    body_fields: bool,
    /// `Connection` lists `close`.
    close: bool,
    /// `Connection` lists `keep-alive`.
    keep_alive: bool,
}

impl HeadFacts {
    fn of(headers: &http::HeaderMap) -> Self {
        let mut facts = Self::default();
        for (name, value) in headers {
            if *name == HOST {
                facts.hosts += 1;
            } else if *name == EXPECT {
                facts.expects += 1;
            } else if *name == CONNECTION {
                for token in value.as_bytes().split(|&b| b == b',') {
                    let token = token.trim_ascii();
                    facts.close |= token.eq_ignore_ascii_case(b"close");
                    facts.keep_alive |= token.eq_ignore_ascii_case(b"keep-alive");
                }
            } else if *name == http::header::CONTENT_LENGTH || *name == http::header::TRANSFER_ENCODING {
                facts.body_fields = true;
            }
        }
        facts
    }
}

/// Checks what the head parser leaves to the server: body framing, `Host`, `Expect`.
fn check(
    request: &Request<()>,
    facts: &HeadFacts,
    config: &HttpConfig,
) -> Result<BodyFraming, Box<Response<Body>>> {
    let framing = if facts.body_fields {
        request_framing(request.headers()).map_err(|e: HeadError| {
            tracing::debug!(error = %e, status = e.status().as_u16(), "request framing refused");
            Box::new(refusal(e.status(), &[], &e.to_string()))
        })?
    } else {
        BodyFraming::Empty
    };
    // RFC 9112 §3.2: exactly one Host field (HTTP/1.0 may send none).
    let hosts = facts.hosts;
    if hosts > 1 || (hosts == 0 && request.version() != Version::HTTP_10) {
        return Err(Box::new(refusal(
            StatusCode::BAD_REQUEST,
            &[],
            "a request must carry exactly one Host header",
        )));
    }
    if facts.expects > 0
        && let Some(expect) = request.headers().get(EXPECT)
        && (!expect.as_bytes().eq_ignore_ascii_case(b"100-continue") || facts.expects > 1)
    {
        {
            return Err(Box::new(refusal(
                StatusCode::EXPECTATION_FAILED,
                &[],
                "only Expect: 100-continue is supported",
            )));
        }
    }
    if let BodyFraming::Length(length) = framing {
        let max = config.body.max_body_bytes;
        if length > max {
            return Err(Box::new(refusal(
                StatusCode::PAYLOAD_TOO_LARGE,
                &[],
                &FramingError::TooLarge { max }.to_string(),
            )));
        }
    }
    Ok(framing)
}

/// Decodes and discards body bytes already read; true if the body ends within them.
fn skip_buffered(decoder: &mut BodyDecoder, buf: &mut BytesMut) -> bool {
    loop {
        if decoder.is_done() {
            return true;
        }
        match decoder.decode(buf) {
            Ok(Decoded::Data(_)) => {}
            Ok(Decoded::End) => return true,
            Ok(Decoded::NeedMore) | Err(_) => return false,
        }
    }
}

enum HeadOutcome {
    Request(Request<()>),
    Refused(HeadError),
    /// The peer left, stayed idle too long, or the server is shutting down: nothing to answer.
    Gone,
}

/// The handler's answer, and whether its body (if any) was read or skipped without a fault.
struct Exchange {
    response: Response<Body>,
    body_ok: bool,
}

struct HttpConn<'a> {
    socket: Socket,
    /// Bytes read and not yet used: the rest of a head, body bytes, pipelined requests.
    buf: BytesMut,
    /// The response head being written, kept between responses for its allocation.
    head: Vec<u8>,
    /// What a kept-alive connection waits on between requests, made at its first wait.
    idle: Option<Box<IdleWatch>>,
    config: &'a HttpConfig,
    server: ServerContext,
}

impl HttpConn<'_> {
    /// Reads the next request head. Before the first byte of a request after the first, the
    /// connection may idle for the keep-alive timeout; once a head has begun it must be
    /// complete within the head timeout.
    async fn read_head(&mut self, first: bool) -> HeadOutcome {
        let Self { socket, buf, config, server, idle, .. } = self;
        let shutdown = &server.shutdown;
        let started = Instant::now();
        if !first && buf.is_empty() {
            let idle = idle.get_or_insert_with(|| {
                Box::new(IdleWatch {
                    timer: Box::pin(tokio::time::sleep_until(started + config.keep_alive_timeout)),
                    shutdown: Box::pin(shutdown.clone().cancelled_owned()),
                })
            });
            let until = started + config.keep_alive_timeout;
            // Biased: when the next request is already there the watch is never polled.
            tokio::select! {
                biased;
                read = read_more(socket, buf) => {
                    if read.is_err() {
                        return HeadOutcome::Gone;
                    }
                }
                () = idle.expired(until) => return HeadOutcome::Gone,
            }
        }
        // Most heads arrive whole in one read: parse before any timer is made.
        if let Some(outcome) = parse_head(buf, config) {
            return outcome;
        }
        // The head timeout runs from the head's first byte (after an idle wait, about now).
        let deadline = if first { started } else { Instant::now() } + config.head_timeout;
        let read = async {
            loop {
                if read_more(socket, buf).await.is_err() {
                    return HeadOutcome::Gone;
                }
                if let Some(outcome) = parse_head(buf, config) {
                    return outcome;
                }
            }
        };
        tokio::select! {
            outcome = tokio::time::timeout_at(deadline, read) => outcome.unwrap_or(HeadOutcome::Refused(HeadError::Timeout)),
            () = shutdown.cancelled(), if first => HeadOutcome::Gone,
        }
    }

    /// Runs the handler to its answer while feeding it the request body on demand and
    /// watching for the client going away. `None` if it went away (the handler is dropped).
    async fn exchange(
        &mut self,
        handler: impl Future<Output = Response<Body>>,
        sender: Option<BodySender>,
        decoder: &mut BodyDecoder,
        expect_continue: bool,
    ) -> Option<Exchange> {
        let mut handler = pin!(handler);
        let mut body_open = sender.is_some();
        let mut body_ok = true;
        // The handler waits for body bytes that are not here yet.
        let mut want = false;
        let mut continued = !expect_continue;
        // Made only for a request with a body: a timer costs a clock read and a runtime handle.
        let mut stall: Option<Pin<Box<Sleep>>> = None;
        let body_timeout = self.config.body_timeout;
        let arm = |stall: &mut Option<Pin<Box<Sleep>>>| match stall {
            Some(sleep) => sleep.as_mut().reset(Instant::now() + body_timeout),
            None => *stall = Some(Box::pin(tokio::time::sleep(body_timeout))),
        };
        let watch_limit = self.config.head.max_head_bytes;
        loop {
            let demand = async {
                match &sender {
                    Some(sender) => poll_fn(|cx| sender.poll_demand(cx)).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                biased;
                response = &mut handler => return Some(Exchange { response, body_ok: body_ok && !want }),
                demand = demand, if body_open && !want => match demand {
                    Demand::Dropped => body_open = false,
                    Demand::Data => {
                        if !continued {
                            continued = true;
                            if self.socket.write_all(b"HTTP/1.1 100 Continue\r\n\r\n").await.is_err() {
                                return None;
                            }
                        }
                        let sender = sender.as_ref()?;
                        match pump(decoder, &mut self.buf, sender) {
                            Pumped::Sent => {}
                            Pumped::Ended => body_open = false,
                            Pumped::Failed => {
                                body_open = false;
                                body_ok = false;
                            }
                            Pumped::NeedMore => {
                                want = true;
                                arm(&mut stall);
                            }
                        }
                    }
                },
                read = read_more(&mut self.socket, &mut self.buf), if want || (!body_open && self.buf.len() < watch_limit) => {
                    if read.is_err() {
                        // Gone mid-body or while the handler worked: nobody is left to answer.
                        return None;
                    }
                    if want {
                        let sender = sender.as_ref()?;
                        match pump(decoder, &mut self.buf, sender) {
                            Pumped::Sent => want = false,
                            Pumped::Ended => {
                                want = false;
                                body_open = false;
                            }
                            Pumped::Failed => {
                                want = false;
                                body_open = false;
                                body_ok = false;
                            }
                            Pumped::NeedMore => arm(&mut stall),
                        }
                    }
                }
                () = poll_fn(|cx| stall.as_mut().map_or(Poll::Pending, |sleep| sleep.as_mut().poll(cx))), if want => {
                    tracing::debug!(timeout = ?self.config.body_timeout, "request body stalled");
                    if let Some(sender) = &sender {
                        sender.finish(Err(FramingError::Timeout));
                    }
                    want = false;
                    body_open = false;
                    body_ok = false;
                }
            }
        }
    }

    /// Writes a response: head and body in one write when the body is in memory, otherwise
    /// the head and then each chunk as the body yields it.
    async fn write_response(
        &mut self,
        response: Response<Body>,
        head_only: bool,
        http10: bool,
    ) -> io::Result<()> {
        let (parts, body) = response.into_parts();
        let status = parts.status;
        let headers = parts.headers;
        self.server.metrics.handshake(status);
        let bodiless = status.is_informational()
            || status == StatusCode::NO_CONTENT
            || status == StatusCode::NOT_MODIFIED;
        let exact = body.size_hint().exact();
        let framing = match exact {
            _ if bodiless => ResponseFraming::None,
            Some(length) => ResponseFraming::Length(length),
            // HTTP/1.0 has no chunked coding: the body ends with the connection.
            None if head_only || http10 => ResponseFraming::None,
            None => ResponseFraming::Chunked,
        };
        let mut head = std::mem::take(&mut self.head);
        head.clear();
        encode_response_head(status, &headers, framing, &mut head);
        if !headers.contains_key(DATE) {
            // Written into the head rather than inserted in the map: no map growth, no
            // hashing, per response.
            head.truncate(head.len() - CRLF.len());
            head.extend_from_slice(b"date: ");
            super::date::with_now(|date| head.extend_from_slice(date));
            head.extend_from_slice(CRLF);
            head.extend_from_slice(CRLF);
        }
        let written = if head_only || bodiless {
            self.socket.write_all(&head).await
        } else if let Some(full) = body.as_full() {
            write_all_vectored(&mut self.socket, &mut [IoSlice::new(&head), IoSlice::new(full)]).await
        } else {
            self.socket.write_all(&head).await?;
            self.head = head;
            return self.write_body(body, framing, exact).await;
        };
        // Kept for the next response unless one was unusually large.
        if head.capacity() <= 4096 {
            self.head = head;
        }
        written
    }

    /// Writes a streamed body after its head, chunk by chunk as the body yields it, watching
    /// for the client going away meanwhile.
    async fn write_body(
        &mut self,
        mut body: Body,
        framing: ResponseFraming,
        exact: Option<u64>,
    ) -> io::Result<()> {
        let chunked = framing == ResponseFraming::Chunked;
        let mut left = exact.unwrap_or(u64::MAX);
        let watch_limit = self.config.head.max_head_bytes;
        loop {
            let frame = tokio::select! {
                frame = body.frame() => frame,
                read = read_more(&mut self.socket, &mut self.buf), if self.buf.len() < watch_limit => {
                    read?;
                    continue;
                }
            };
            let data: Bytes = match frame {
                None => break,
                Some(Ok(frame)) => match frame.into_data() {
                    Ok(data) => data,
                    Err(_) => continue, // trailers are not sent
                },
                Some(Err(e)) => return Err(io::Error::other(e)),
            };
            if data.is_empty() {
                continue;
            }
            if chunked {
                let prefix = chunk_prefix(data.len());
                write_all_vectored(
                    &mut self.socket,
                    &mut [IoSlice::new(prefix.as_slice()), IoSlice::new(&data), IoSlice::new(CRLF)],
                )
                .await?;
            } else {
                let len = data.len() as u64;
                if len > left {
                    return Err(io::Error::other("response body longer than its length"));
                }
                left -= len;
                self.socket.write_all(&data).await?;
            }
            self.socket.flush().await?;
        }
        if chunked {
            self.socket.write_all(LAST_CHUNK).await?;
        } else if left != 0 && exact.is_some() {
            return Err(io::Error::other("response body shorter than its length"));
        }
        self.socket.flush().await
    }

    /// Answers and closes: a refused request's connection cannot be trusted for another.
    async fn refuse(&mut self, response: Response<Body>) {
        if tokio::time::timeout(REFUSAL_LINGER, self.write_response(closing(response), false, false))
            .await
            .is_ok()
        {
            self.close().await;
        }
    }

    /// Sends FIN after our last bytes, then reads and discards until the client closes (for a
    /// short while), so unread input does not turn the close into a reset that destroys the
    /// answer.
    async fn close(&mut self) {
        if let Ok(Ok(())) = tokio::time::timeout(REFUSAL_LINGER, self.socket.shutdown()).await {
            self.socket.linger(REFUSAL_LINGER).await;
        }
    }
}

/// The idle timeout and the server's shutdown, kept for a connection's life: waiting for
/// the next request then costs no timer registration and no new shutdown waiter per
/// request, only when the timer fires (once per timeout) is it set again.
struct IdleWatch {
    timer: Pin<Box<Sleep>>,
    shutdown: Pin<Box<tokio_util::sync::WaitForCancellationFutureOwned>>,
}

impl IdleWatch {
    /// Completes at `until` or at shutdown, whichever comes first.
    async fn expired(&mut self, until: Instant) {
        poll_fn(|cx| {
            if self.shutdown.as_mut().poll(cx).is_ready() {
                return Poll::Ready(());
            }
            // The timer may be set to an earlier wait's end: when it fires before `until`,
            // it is set again rather than made anew.
            while self.timer.as_mut().poll(cx).is_ready() {
                if self.timer.deadline() >= until {
                    return Poll::Ready(());
                }
                self.timer.as_mut().reset(until);
            }
            Poll::Pending
        })
        .await;
    }
}

/// Parses a request head at the front of `buf`, taking its bytes; `None` until it is whole.
/// The request's target and field values are slices of the head's bytes, not copies.
fn parse_head(buf: &mut BytesMut, config: &HttpConfig) -> Option<HeadOutcome> {
    if buf.is_empty() {
        return None;
    }
    match take_request_head(buf, &config.head) {
        Ok(Some(request)) => Some(HeadOutcome::Request(request)),
        Ok(None) => None,
        Err(e) => Some(HeadOutcome::Refused(e)),
    }
}

enum Pumped {
    Sent,
    Ended,
    Failed,
    NeedMore,
}

/// Hands the handler the next piece of body from `buf`, if there is one.
fn pump(decoder: &mut BodyDecoder, buf: &mut BytesMut, sender: &BodySender) -> Pumped {
    match decoder.decode(buf) {
        Ok(Decoded::Data(data)) => {
            sender.send(data);
            Pumped::Sent
        }
        Ok(Decoded::End) => {
            sender.finish(Ok(()));
            Pumped::Ended
        }
        Ok(Decoded::NeedMore) => Pumped::NeedMore,
        Err(e) => {
            tracing::debug!(error = %e, "bad request body");
            sender.finish(Err(e));
            Pumped::Failed
        }
    }
}

/// Reads more into `buf`; the end of input is an error (nothing more will come).
async fn read_more(socket: &mut Socket, buf: &mut BytesMut) -> io::Result<()> {
    if buf.capacity() - buf.len() < 512 {
        buf.reserve(4096);
    }
    match socket.read_buf(buf).await {
        Ok(0) => Err(io::ErrorKind::UnexpectedEof.into()),
        Ok(_) => Ok(()),
        Err(e) => Err(e),
    }
}

async fn write_all_vectored(socket: &mut Socket, mut slices: &mut [IoSlice<'_>]) -> io::Result<()> {
    while !slices.is_empty() {
        let n = socket.write_vectored(slices).await?;
        if n == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        IoSlice::advance_slices(&mut slices, n);
    }
    Ok(())
}

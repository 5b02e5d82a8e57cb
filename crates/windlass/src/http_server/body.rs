//! Bodies of requests and responses: [`Body`], and the pipe through which the connection task
//! feeds a request body to its handler.

use std::fmt;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, Waker};

use bytes::{Bytes, BytesMut};
use http::StatusCode;
use http_body::{Body as _, Frame, SizeHint};
use http_body_util::BodyExt as _;
use http_body_util::combinators::UnsyncBoxBody;

use crate::error::BoxError;

/// The body of a request or a response.
///
/// A request's body is read from the connection as the handler asks for it ([`bytes`] or
/// `http_body::Body::poll_frame`), under the [`HttpServer`](crate::HttpServer)'s size limit
/// and read timeout. A response's body is a whole buffer (`Body::from`), nothing
/// ([`Body::empty`]), or any [`http_body::Body`] ([`Body::new`]), sent as it is produced
/// (chunked when its length is not known in advance).
///
/// [`bytes`]: Body::bytes
pub struct Body {
    kind: Kind,
}

enum Kind {
    Empty,
    Full(Bytes),
    Incoming(Incoming),
    Boxed(UnsyncBoxBody<Bytes, BoxError>),
}

/// Reading a request body failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BodyError {
    /// The body broke HTTP/1.1 framing, passed the size limit, stalled, or ended early;
    /// [`status`](Self::status) says how to answer.
    #[error(transparent)]
    Framing(#[from] windlass_proto::BodyError),
    /// A body from elsewhere (a tower service's, say) failed.
    #[error("body failed: {0}")]
    Other(BoxError),
}

impl BodyError {
    /// The status that answers this error: 413 past the size limit, 408 for a stalled body,
    /// 400 for broken framing, 500 for another body's failure.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Framing(e) => e.status(),
            Self::Other(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// A plain-text response with [`status`](Self::status) that also closes the connection
    /// (the rest of the body cannot be trusted to be read).
    pub fn into_response(self) -> http::Response<Body> {
        crate::http_server::response::refusal(self.status(), &[], &self.to_string())
    }
}

impl Body {
    /// No bytes.
    pub fn empty() -> Self {
        Self { kind: Kind::Empty }
    }

    /// Any body whose frames carry [`Bytes`]: a tower service's response, a stream.
    pub fn new<B>(body: B) -> Self
    where
        B: http_body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        // A windlass body passed through a tower layer comes back as itself, not boxed again.
        let mut slot = Some(body);
        if let Some(own) = (&mut slot as &mut dyn std::any::Any).downcast_mut::<Option<Body>>() {
            return own.take().unwrap_or_default();
        }
        match slot {
            Some(body) => Self { kind: Kind::Boxed(body.map_err(Into::into).boxed_unsync()) },
            None => Self::empty(),
        }
    }

    pub(crate) fn incoming(incoming: Incoming) -> Self {
        Self { kind: Kind::Incoming(incoming) }
    }

    /// Reads the whole body into one buffer.
    pub async fn bytes(self) -> Result<Bytes, BodyError> {
        match self.kind {
            Kind::Empty => Ok(Bytes::new()),
            Kind::Full(bytes) => Ok(bytes),
            kind => {
                let mut body = Self { kind };
                let mut first: Option<Bytes> = None;
                let mut joined = BytesMut::new();
                while let Some(frame) = body.frame().await {
                    let Ok(data) = frame?.into_data() else { continue };
                    // One frame needs no copy; several are joined.
                    match first.take() {
                        None if joined.is_empty() => first = Some(data),
                        Some(previous) => {
                            joined.extend_from_slice(&previous);
                            joined.extend_from_slice(&data);
                        }
                        None => joined.extend_from_slice(&data),
                    }
                }
                Ok(first.unwrap_or_else(|| joined.freeze()))
            }
        }
    }

    /// The whole body if it is already in memory (responses built from bytes).
    pub(crate) fn as_full(&self) -> Option<&[u8]> {
        match &self.kind {
            Kind::Empty => Some(&[]),
            Kind::Full(bytes) => Some(bytes),
            _ => None,
        }
    }
}

impl Default for Body {
    fn default() -> Self {
        Self::empty()
    }
}

impl fmt::Debug for Body {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match &self.kind {
            Kind::Empty => "empty",
            Kind::Full(_) => "full",
            Kind::Incoming(_) => "incoming",
            Kind::Boxed(_) => "stream",
        };
        f.debug_struct("Body").field("kind", &kind).field("size_hint", &self.size_hint()).finish()
    }
}

impl From<Bytes> for Body {
    fn from(bytes: Bytes) -> Self {
        if bytes.is_empty() { Self::empty() } else { Self { kind: Kind::Full(bytes) } }
    }
}

impl From<Vec<u8>> for Body {
    fn from(bytes: Vec<u8>) -> Self {
        Bytes::from(bytes).into()
    }
}

impl From<String> for Body {
    fn from(text: String) -> Self {
        Bytes::from(text).into()
    }
}

impl From<&'static str> for Body {
    fn from(text: &'static str) -> Self {
        Bytes::from_static(text.as_bytes()).into()
    }
}

impl From<&'static [u8]> for Body {
    fn from(bytes: &'static [u8]) -> Self {
        Bytes::from_static(bytes).into()
    }
}

impl From<()> for Body {
    fn from((): ()) -> Self {
        Self::empty()
    }
}

impl http_body::Body for Body {
    type Data = Bytes;
    type Error = BodyError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        let this = self.get_mut();
        match &mut this.kind {
            Kind::Empty => Poll::Ready(None),
            Kind::Full(_) => {
                let Kind::Full(bytes) = std::mem::replace(&mut this.kind, Kind::Empty) else {
                    unreachable!()
                };
                Poll::Ready(Some(Ok(Frame::data(bytes))))
            }
            Kind::Incoming(incoming) => incoming.poll_data(cx).map(|data| data.map(|d| d.map(Frame::data))),
            Kind::Boxed(body) => Pin::new(body).poll_frame(cx).map_err(BodyError::Other),
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.kind {
            Kind::Empty => true,
            Kind::Full(_) => false,
            Kind::Incoming(incoming) => incoming.is_end_stream(),
            Kind::Boxed(body) => body.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Empty => SizeHint::with_exact(0),
            Kind::Full(bytes) => SizeHint::with_exact(bytes.len() as u64),
            Kind::Incoming(incoming) => incoming.size_hint(),
            Kind::Boxed(body) => body.size_hint(),
        }
    }
}

/// A request body as its handler sees it: data handed over by the connection task, one chunk
/// at a time, read from the socket only when asked for (so `Expect: 100-continue` is answered
/// only if the handler reads, and a handler that never reads costs no reading).
pub(crate) struct Incoming {
    pipe: Arc<Pipe>,
    /// `Content-Length`, when the body has one.
    length: Option<u64>,
}

/// The connection task's end of a request body.
pub(crate) struct BodySender {
    pipe: Arc<Pipe>,
}

#[derive(Default)]
struct Pipe {
    state: Mutex<PipeState>,
}

#[derive(Default)]
struct PipeState {
    /// One chunk handed over and not yet taken.
    chunk: Option<Bytes>,
    /// Set once the body has ended, well or not.
    end: Option<Result<(), windlass_proto::BodyError>>,
    /// The handler waits for data.
    wanted: bool,
    /// The handler dropped its body.
    dropped: bool,
    received: u64,
    reader: Option<Waker>,
    writer: Option<Waker>,
}

impl Pipe {
    fn lock(&self) -> std::sync::MutexGuard<'_, PipeState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A request body's two ends.
pub(crate) fn pipe(length: Option<u64>) -> (BodySender, Incoming) {
    let pipe = Arc::new(Pipe::default());
    (BodySender { pipe: Arc::clone(&pipe) }, Incoming { pipe, length })
}

/// What the handler's side of a body asks of the connection task.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Demand {
    /// The handler waits for the next chunk.
    Data,
    /// The handler dropped the body; nothing more will be read for it.
    Dropped,
}

impl BodySender {
    /// Ready when the handler asks for data (and the last chunk was taken), or dropped the body.
    pub(crate) fn poll_demand(&self, cx: &mut Context<'_>) -> Poll<Demand> {
        let mut state = self.pipe.lock();
        if state.dropped {
            return Poll::Ready(Demand::Dropped);
        }
        if state.wanted && state.chunk.is_none() && state.end.is_none() {
            return Poll::Ready(Demand::Data);
        }
        if !state.writer.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
            state.writer = Some(cx.waker().clone());
        }
        Poll::Pending
    }

    /// Hands over one chunk.
    pub(crate) fn send(&self, data: Bytes) {
        let mut state = self.pipe.lock();
        state.received += data.len() as u64;
        state.chunk = Some(data);
        state.wanted = false;
        if let Some(reader) = state.reader.take() {
            reader.wake();
        }
    }

    /// Ends the body, with an error if it broke.
    pub(crate) fn finish(&self, end: Result<(), windlass_proto::BodyError>) {
        let mut state = self.pipe.lock();
        if state.end.is_none() {
            state.end = Some(end);
        }
        if let Some(reader) = state.reader.take() {
            reader.wake();
        }
    }
}

impl Incoming {
    fn poll_data(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Bytes, BodyError>>> {
        let mut state = self.pipe.lock();
        if let Some(chunk) = state.chunk.take() {
            return Poll::Ready(Some(Ok(chunk)));
        }
        match &state.end {
            Some(Ok(())) => return Poll::Ready(None),
            Some(Err(e)) => return Poll::Ready(Some(Err(BodyError::Framing(e.clone())))),
            None => {}
        }
        state.wanted = true;
        state.reader = Some(cx.waker().clone());
        if let Some(writer) = state.writer.take() {
            writer.wake();
        }
        Poll::Pending
    }

    fn is_end_stream(&self) -> bool {
        let state = self.pipe.lock();
        state.chunk.is_none() && matches!(state.end, Some(Ok(())))
    }

    fn size_hint(&self) -> SizeHint {
        match self.length {
            Some(length) => {
                let state = self.pipe.lock();
                let pending = state.chunk.as_ref().map_or(0, |c| c.len() as u64);
                SizeHint::with_exact(length.saturating_sub(state.received) + pending)
            }
            None => SizeHint::default(),
        }
    }
}

impl Drop for Incoming {
    fn drop(&mut self) {
        let mut state = self.pipe.lock();
        state.dropped = true;
        if let Some(writer) = state.writer.take() {
            writer.wake();
        }
    }
}

//! The byte stream a connection runs on.

use std::io::{self, IoSlice};
use std::pin::Pin;
use std::task::{Context, Poll};

use std::time::Duration;

use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::server::TlsStream;

use super::read_buffer;

/// Bytes discarded per read while lingering.
const LINGER_CHUNK: usize = 4096;

/// An accepted connection's byte stream: plain TCP, or TLS over TCP when the server was given
/// a [`TlsConfig`](crate::TlsConfig). Every layer above works unchanged over either.
#[derive(Debug)]
pub struct Socket {
    inner: Inner,
}

#[derive(Debug)]
enum Inner {
    Tcp(TcpStream),
    // Boxed: the TLS session is over a kilobyte (1,224 bytes against 40 for a `TcpStream`).
    Tls(Box<TlsStream<TcpStream>>),
    /// A connection another server (hyper, under axum) accepted and upgraded: boxed I/O,
    /// the price of mounting in someone else's server.
    Foreign(Box<TokioIo<hyper::upgrade::Upgraded>>),
}

impl Socket {
    pub(crate) fn tcp(stream: TcpStream) -> Self {
        Self { inner: Inner::Tcp(stream) }
    }

    pub(crate) fn tls(stream: TlsStream<TcpStream>) -> Self {
        Self { inner: Inner::Tls(Box::new(stream)) }
    }

    pub(crate) fn foreign(upgraded: hyper::upgrade::Upgraded) -> Self {
        Self { inner: Inner::Foreign(Box::new(TokioIo::new(upgraded))) }
    }

    /// Whether the connection runs over TLS.
    pub fn is_tls(&self) -> bool {
        matches!(self.inner, Inner::Tls(_))
    }
}

impl Socket {
    /// After our last bytes and FIN: read and discard until the peer closes, for at most
    /// `timeout`. Closing a socket with unread input makes the kernel send a reset, which can
    /// destroy our last bytes (a close frame, an error response) before the peer reads them —
    /// for instance while a peer is still sending the rest of a message we refused with 1009.
    /// Bounded by time only: discarding costs no memory.
    pub(crate) async fn linger(&mut self, timeout: Duration) {
        // Over TLS our `close_notify` is already out (it goes with the FIN), so what the peer
        // still sends is never looked at: it is discarded from the TCP stream undecrypted,
        // which costs nothing and does not stop early on records the session would reject.
        let stream = match &mut self.inner {
            Inner::Tcp(stream) => stream,
            Inner::Tls(stream) => stream.get_mut().0,
            // Another server owns the socket; its own close handling applies.
            Inner::Foreign(_) => return,
        };
        // The thread's spare read buffer, not an array: an array would sit in every
        // connection's future for its whole life, though lingering happens once, at the end.
        let mut sink = read_buffer::borrow(LINGER_CHUNK);
        let drain = async {
            loop {
                sink.clear();
                if !matches!(stream.read_buf(&mut sink).await, Ok(1..)) {
                    break;
                }
            }
        };
        let _ = tokio::time::timeout(timeout, drain).await;
        sink.clear();
        read_buffer::give_back(&mut sink);
    }
}

impl AsyncRead for Socket {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        match &mut self.get_mut().inner {
            Inner::Tcp(stream) => Pin::new(stream).poll_read(cx, buf),
            Inner::Tls(stream) => Pin::new(stream.as_mut()).poll_read(cx, buf),
            Inner::Foreign(io) => Pin::new(io.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Socket {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        match &mut self.get_mut().inner {
            Inner::Tcp(stream) => Pin::new(stream).poll_write(cx, buf),
            Inner::Tls(stream) => Pin::new(stream.as_mut()).poll_write(cx, buf),
            Inner::Foreign(io) => Pin::new(io.as_mut()).poll_write(cx, buf),
        }
    }

    /// Over TLS, all the slices are encrypted into records in one call and the records go out
    /// in one vectored write. A TLS write can report bytes as written while they still wait in
    /// the session's buffer (up to 64 KiB): [`poll_flush`](AsyncWrite::poll_flush) or
    /// [`poll_shutdown`](AsyncWrite::poll_shutdown) sends them.
    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match &mut self.get_mut().inner {
            Inner::Tcp(stream) => poll_send_vectored(stream, cx, bufs),
            Inner::Tls(stream) => Pin::new(stream.as_mut()).poll_write_vectored(cx, bufs),
            Inner::Foreign(io) => Pin::new(io.as_mut()).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match &self.inner {
            Inner::Tcp(stream) => stream.is_write_vectored(),
            Inner::Tls(stream) => stream.is_write_vectored(),
            Inner::Foreign(io) => io.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.get_mut().inner {
            Inner::Tcp(stream) => Pin::new(stream).poll_flush(cx),
            Inner::Tls(stream) => Pin::new(stream.as_mut()).poll_flush(cx),
            Inner::Foreign(io) => Pin::new(io.as_mut()).poll_flush(cx),
        }
    }

    /// Over TLS: `close_notify`, whatever is still buffered, then FIN.
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.get_mut().inner {
            Inner::Tcp(stream) => Pin::new(stream).poll_shutdown(cx),
            Inner::Tls(stream) => Pin::new(stream.as_mut()).poll_shutdown(cx),
            Inner::Foreign(io) => Pin::new(io.as_mut()).poll_shutdown(cx),
        }
    }
}

/// One gather write with `sendmsg`, where tokio would use `writev`: the same system call
/// underneath the socket layer, without the file layer `writev` passes through first, which
/// costs an echo server a few per cent of its CPU on Linux (see docs/PERFORMANCE.md).
#[cfg(unix)]
fn poll_send_vectored(
    stream: &TcpStream,
    cx: &mut Context<'_>,
    bufs: &[IoSlice<'_>],
) -> Poll<io::Result<usize>> {
    loop {
        std::task::ready!(stream.poll_write_ready(cx))?;
        // MSG_NOSIGNAL: a peer that is gone is an error, not a SIGPIPE.
        let sent = stream.try_io(tokio::io::Interest::WRITABLE, || {
            socket2::SockRef::from(stream).send_vectored_with_flags(bufs, libc::MSG_NOSIGNAL)
        });
        match sent {
            // Readiness was stale; `try_io` cleared it, so the next poll waits for the socket.
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            result => return Poll::Ready(result),
        }
    }
}

#[cfg(not(unix))]
fn poll_send_vectored(
    stream: &mut TcpStream,
    cx: &mut Context<'_>,
    bufs: &[IoSlice<'_>],
) -> Poll<io::Result<usize>> {
    Pin::new(stream).poll_write_vectored(cx, bufs)
}

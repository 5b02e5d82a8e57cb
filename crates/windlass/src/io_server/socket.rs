//! The byte stream a connection runs on.

use std::io::{self, IoSlice};
use std::pin::Pin;
use std::task::{Context, Poll};

use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// An accepted connection's byte stream. Today a TCP stream; TLS will be another variant, so
/// every layer above works unchanged over `wss://`.
#[derive(Debug)]
pub struct Socket {
    inner: TcpStream,
}

impl Socket {
    pub(crate) fn tcp(stream: TcpStream) -> Self {
        Self { inner: stream }
    }
}

impl Socket {
    /// After our last bytes and FIN: read and discard until the peer closes, for at most
    /// `timeout`. Closing a socket with unread input makes the kernel send a reset, which can
    /// destroy our last bytes (a close frame, an error response) before the peer reads them —
    /// for instance while a peer is still sending the rest of a message we refused with 1009.
    /// Bounded by time only: discarding costs no memory.
    pub(crate) async fn linger(&mut self, timeout: Duration) {
        let drain = async {
            let mut sink = [0u8; 2048];
            while let Ok(1..) = self.read(&mut sink).await {}
        };
        let _ = tokio::time::timeout(timeout, drain).await;
    }
}

impl AsyncRead for Socket {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for Socket {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

//! The Redis pub/sub adapters' own connections for `redis://` (RESP written and read by
//! [`resp`](crate::resp)): the outbox publishes over one, the classic adapter subscribes
//! over another. TLS and Unix-socket URLs keep the `redis` crate's connection manager.
//!
//! Every broadcast is a publish. Through the crate's multiplexed connection one cost a task
//! hop each way, a command object and a `combine` parse of its one-integer reply: a fifth of
//! a publishing node's user-space instructions (docs/PERFORMANCE.md). Here a batch of
//! publishes is one write and its replies one read.

use std::collections::VecDeque;
use std::io;
use std::time::Duration;

use bytes::{Buf as _, BytesMut};
use redis::ConnectionAddr;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio::sync::oneshot;

use crate::resp::{self, Reply};

/// How long a connection may take to be made, and a batch's replies to come.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
const REPLY_TIMEOUT: Duration = Duration::from_secs(2);

/// Where an outbox publishes.
pub(crate) enum PublishVia {
    /// A connection of its own to a `redis://` address, made again when lost.
    Tcp(Target),
    /// The `redis` crate's connection manager.
    Manager(ConnectionManager),
}

impl PublishVia {
    /// The connection for `client`'s address.
    pub(crate) async fn for_client(client: &redis::Client) -> redis::RedisResult<Self> {
        let info = client.get_connection_info();
        if let ConnectionAddr::Tcp(host, port) = info.addr() {
            let settings = info.redis_settings();
            return Ok(Self::Tcp(Target {
                host: host.clone(),
                port: *port,
                username: settings.username().map(str::to_owned),
                password: settings.password().map(str::to_owned),
            }));
        }
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(CONNECT_TIMEOUT))
            .set_response_timeout(Some(REPLY_TIMEOUT))
            .set_number_of_retries(2)
            .set_max_delay(Duration::from_secs(1));
        Ok(Self::Manager(ConnectionManager::new_with_config(client.clone(), config).await?))
    }
}

/// A `redis://` address and its credentials.
#[derive(Clone)]
pub(crate) struct Target {
    host: String,
    port: u16,
    username: Option<String>,
    password: Option<String>,
}

/// What a publish is answered with: how many subscribers received it, or why it failed.
pub(crate) type Answer = oneshot::Sender<Result<usize, String>>;

/// One connection to Redis, used in turns: a batch written, its replies read.
pub(crate) struct Connection {
    stream: TcpStream,
    read: BytesMut,
}

impl Connection {
    /// Connects and authenticates.
    pub(crate) async fn open(target: &Target) -> io::Result<Self> {
        let stream =
            tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect((target.host.as_str(), target.port)))
                .await
                .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "connecting to Redis timed out"))??;
        stream.set_nodelay(true)?;
        let mut connection = Self { stream, read: BytesMut::with_capacity(1024) };
        if let Some(password) = &target.password {
            let mut auth = Vec::new();
            match &target.username {
                Some(user) => resp::command(&mut auth, &[b"AUTH", user.as_bytes(), password.as_bytes()]),
                None => resp::command(&mut auth, &[b"AUTH", password.as_bytes()]),
            }
            let mut answer = VecDeque::from([None]);
            let mut failed = None;
            connection.exchange(&auth, &mut answer, |error| failed = Some(error)).await?;
            if let Some(error) = failed {
                return Err(io::Error::new(io::ErrorKind::PermissionDenied, error));
            }
        }
        Ok(connection)
    }

    /// Writes `bytes` (within the reply timeout).
    pub(crate) async fn send(&mut self, bytes: &[u8]) -> io::Result<()> {
        tokio::time::timeout(REPLY_TIMEOUT, self.stream.write_all(bytes))
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "Redis did not take the bytes in time"))?
    }

    /// Reads what has come into the buffer; an error when Redis closed the connection.
    /// Cancel-safe: what a cancelled read got stays in the buffer.
    pub(crate) async fn fill(&mut self) -> io::Result<()> {
        if self.stream.read_buf(&mut self.read).await? == 0 {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "Redis closed the connection"));
        }
        Ok(())
    }

    /// What has been read and not consumed.
    pub(crate) fn buffered(&self) -> &[u8] {
        &self.read
    }

    /// Drops the first `n` bytes read.
    pub(crate) fn consume(&mut self, n: usize) {
        self.read.advance(n);
    }

    /// Writes `commands` and reads one reply per entry of `answers`, in order, popping each
    /// as its reply comes: an integer goes to its answer, an error to it or (when nobody
    /// waits for it) to `on_error`. On an error of the connection itself, what is left in
    /// `answers` got no reply.
    pub(crate) async fn exchange(
        &mut self,
        commands: &[u8],
        answers: &mut VecDeque<Option<Answer>>,
        mut on_error: impl FnMut(String),
    ) -> io::Result<()> {
        let timed_out = |_| io::Error::new(io::ErrorKind::TimedOut, "Redis did not answer in time");
        tokio::time::timeout(REPLY_TIMEOUT, self.stream.write_all(commands)).await.map_err(timed_out)??;
        tokio::time::timeout(REPLY_TIMEOUT, async {
            while !answers.is_empty() {
                while let Some((reply, used)) =
                    resp::parse(&self.read).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?
                {
                    self.read.advance(used);
                    let answer = answers.pop_front().flatten();
                    let result = match reply {
                        Reply::Integer(n) => Ok(usize::try_from(n).unwrap_or(0)),
                        Reply::Error(error) => Err(error),
                        Reply::Status(_) if answer.is_none() => Ok(0),
                        other => Err(format!("unexpected reply {other:?}")),
                    };
                    match (answer, result) {
                        (Some(answer), result) => {
                            let _ = answer.send(result);
                        }
                        (None, Err(error)) => on_error(error),
                        (None, Ok(_)) => {}
                    }
                    if answers.is_empty() {
                        return Ok(());
                    }
                }
                if self.stream.read_buf(&mut self.read).await? == 0 {
                    return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "Redis closed the connection"));
                }
            }
            Ok(())
        })
        .await
        .map_err(timed_out)?
    }
}

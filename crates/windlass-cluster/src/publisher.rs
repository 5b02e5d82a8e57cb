//! The Redis adapters' own connections for `redis://` (RESP written and read by
//! [`resp`](crate::resp)): the pub/sub outbox publishes over one, the classic adapter
//! subscribes over another; the Redis Streams adapter appends over one and reads over
//! another. TLS and Unix-socket URLs keep the `redis` crate's connection manager.
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
                db: settings.db(),
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

/// A `redis://` address, its credentials and its database (`redis://host/2`: keys, such
/// as a stream, are per database; channels are not).
#[derive(Clone)]
pub(crate) struct Target {
    host: String,
    port: u16,
    username: Option<String>,
    password: Option<String>,
    db: i64,
}

/// What a publish is answered with: how many subscribers received it, or why it failed.
pub(crate) type Answer = oneshot::Sender<Result<usize, String>>;

/// One connection to Redis, used in turns: a batch written, its replies read.
pub(crate) struct Connection {
    stream: TcpStream,
    read: BytesMut,
    /// Replies still owed (for batches whose replies came too late, or a request not waited
    /// for to its end): read and dropped before the next batch's or request's. The connection
    /// is kept through a slow broker so that what it sends stays in order (a new connection's
    /// commands could overtake the old one's).
    stale: usize,
    /// A command's writing was cancelled part way: what Redis reads next is garbled, so the
    /// connection is not used again.
    unsent: bool,
}

/// Past this many replies owed, the connection is given up for a new one.
const MAX_STALE: usize = 100_000;

/// Why an exchange failed, and whether the connection can go on.
pub(crate) struct Failure {
    pub(crate) error: io::Error,
    /// The broker was only slow: the replies are owed, the connection kept.
    pub(crate) late: bool,
}

impl Connection {
    /// Connects (to each address of the host in turn, each within the connect timeout) and
    /// authenticates.
    pub(crate) async fn open(target: &Target) -> io::Result<Self> {
        let mut last = io::Error::new(io::ErrorKind::NotFound, format!("{} has no address", target.host));
        let mut stream = None;
        for addr in tokio::net::lookup_host((target.host.as_str(), target.port)).await? {
            match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(addr)).await {
                Ok(Ok(connected)) => {
                    stream = Some(connected);
                    break;
                }
                Ok(Err(error)) => last = error,
                Err(_) => {
                    last = io::Error::new(io::ErrorKind::TimedOut, format!("connecting to {addr} timed out"));
                }
            }
        }
        let stream = stream.ok_or(last)?;
        stream.set_nodelay(true)?;
        let mut connection =
            Self { stream, read: BytesMut::with_capacity(READ_RESERVE), stale: 0, unsent: false };
        if let Some(password) = &target.password {
            let mut auth = Vec::new();
            match &target.username {
                Some(user) => resp::command(&mut auth, &[b"AUTH", user.as_bytes(), password.as_bytes()]),
                None => resp::command(&mut auth, &[b"AUTH", password.as_bytes()]),
            }
            let mut answer = VecDeque::from([None]);
            let mut failed = None;
            connection
                .exchange(&auth, &mut answer, |error| failed = Some(error))
                .await
                .map_err(|f| f.error)?;
            if let Some(error) = failed {
                return Err(io::Error::new(io::ErrorKind::PermissionDenied, error));
            }
        }
        if target.db != 0 {
            let mut select = Vec::new();
            resp::command(&mut select, &[b"SELECT", target.db.to_string().as_bytes()]);
            let mut refused = None;
            connection
                .exchange_replies(&select, 1, |reply| {
                    if let Reply::Error(error) = reply {
                        refused = Some(error);
                    }
                })
                .await
                .map_err(|f| f.error)?;
            if let Some(error) = refused {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("SELECT {}: {error}", target.db),
                ));
            }
        }
        Ok(connection)
    }

    /// Whether the connection may still be up: `false` once Redis is known to have closed it
    /// (noticed without waiting, so that a batch is not written into a dead connection), or
    /// once a write into it was cancelled part way.
    pub(crate) fn is_open(&mut self) -> bool {
        if self.unsent {
            return false;
        }
        match self.stream.try_read_buf(&mut self.read) {
            Ok(0) => false,
            Ok(_) => true,
            Err(error) => error.kind() == io::ErrorKind::WouldBlock,
        }
    }

    /// Writes `bytes`, failing when Redis takes none of them for the reply timeout (a long
    /// batch of big messages may take longer than that in all, and is not refused for it).
    pub(crate) async fn send(&mut self, bytes: &[u8]) -> io::Result<()> {
        let mut at = 0;
        while at < bytes.len() {
            let written =
                tokio::time::timeout(REPLY_TIMEOUT, self.stream.write(&bytes[at..])).await.map_err(
                    |_| io::Error::new(io::ErrorKind::TimedOut, "Redis did not take the bytes in time"),
                )??;
            if written == 0 {
                return Err(io::Error::new(io::ErrorKind::WriteZero, "Redis closed the connection"));
            }
            at += written;
        }
        Ok(())
    }

    /// Reads what has come into the buffer; an error when Redis closed the connection.
    /// Cancel-safe: what a cancelled read got stays in the buffer.
    pub(crate) async fn fill(&mut self) -> io::Result<()> {
        self.read.reserve(READ_RESERVE);
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
    /// waits for it) to `on_error`. On failure, what is left in `answers` got no reply; if
    /// the replies were only late, they are owed (read and dropped before the next batch's)
    /// and the connection can go on.
    pub(crate) async fn exchange(
        &mut self,
        commands: &[u8],
        answers: &mut VecDeque<Option<Answer>>,
        mut on_error: impl FnMut(String),
    ) -> Result<(), Failure> {
        let count = answers.len();
        self.exchange_replies(commands, count, |reply| {
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
        })
        .await
    }

    /// Writes `commands` and hands each of their `count` replies to `on_reply`, in order.
    /// On failure, the replies not handed over are owed if they were only late (read and
    /// dropped before the next exchange's) and the connection can go on.
    pub(crate) async fn exchange_replies(
        &mut self,
        commands: &[u8],
        count: usize,
        mut on_reply: impl FnMut(Reply),
    ) -> Result<(), Failure> {
        let lost = |error| Failure { error, late: false };
        self.unsent = true;
        self.send(commands).await.map_err(lost)?;
        self.unsent = false;
        let mut left = count;
        let replies = tokio::time::timeout(REPLY_TIMEOUT, async {
            while left > 0 {
                while let Some((reply, used)) =
                    resp::parse(&self.read).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?
                {
                    self.read.advance(used);
                    if self.stale > 0 {
                        self.stale -= 1;
                        continue;
                    }
                    left -= 1;
                    on_reply(reply);
                    if left == 0 {
                        return Ok(());
                    }
                }
                self.fill().await?;
            }
            Ok(())
        })
        .await;
        match replies {
            Ok(Ok(())) => Ok(()),
            Ok(Err(error)) => Err(lost(error)),
            Err(_) => {
                self.stale += left;
                let error = io::Error::new(io::ErrorKind::TimedOut, "Redis did not answer in time");
                Err(Failure { error, late: self.stale <= MAX_STALE })
            }
        }
    }

    /// Writes one command and reads its reply with `read` (which says how many bytes the
    /// reply took, or `None` while it is incomplete), waiting up to `wait`. Cancel-safe: a
    /// reply not waited for to the end is owed and dropped before the next one, and a
    /// command cancelled while being written leaves the connection [closed](Self::is_open).
    pub(crate) async fn request<T>(
        &mut self,
        command: &[u8],
        wait: Duration,
        mut read: impl FnMut(&[u8]) -> Result<Option<(T, usize)>, resp::RespError>,
    ) -> Result<T, Failure> {
        let lost = |error| Failure { error, late: false };
        let invalid = |e: resp::RespError| io::Error::new(io::ErrorKind::InvalidData, e);
        self.unsent = true;
        self.send(command).await.map_err(lost)?;
        self.unsent = false;
        // Owed until it is read: should this be cancelled, the next request drops it.
        self.stale += 1;
        let reply = tokio::time::timeout(wait, async {
            loop {
                while self.stale > 1 {
                    let Some((_, used)) = resp::parse(&self.read).map_err(invalid)? else { break };
                    self.read.advance(used);
                    self.stale -= 1;
                }
                if self.stale == 1 {
                    if let Some((value, used)) = read(&self.read).map_err(invalid)? {
                        self.read.advance(used);
                        self.stale = 0;
                        return Ok(value);
                    }
                }
                self.fill().await?;
            }
        })
        .await;
        match reply {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(error)) => Err(lost(error)),
            Err(_) => {
                let error = io::Error::new(io::ErrorKind::TimedOut, "Redis did not answer in time");
                Err(Failure { error, late: self.stale <= MAX_STALE })
            }
        }
    }
}

/// Room made in the read buffer before each read: pushes come in bursts under load.
const READ_RESERVE: usize = 16 * 1024;

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    use tokio::net::TcpListener;

    use super::*;

    fn publish() -> Vec<u8> {
        let mut command = Vec::new();
        resp::command(&mut command, &[b"PUBLISH", b"c", b"x"]);
        command
    }

    /// A broker that answers the first publish after the reply timeout and the second at
    /// once, with different counts.
    async fn slow_then_quick() -> Target {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut buf = vec![0_u8; 4096];
            let _ = socket.read(&mut buf).await.unwrap();
            tokio::time::sleep(REPLY_TIMEOUT + Duration::from_millis(300)).await;
            socket.write_all(b":1\r\n").await.unwrap();
            let _ = socket.read(&mut buf).await.unwrap();
            socket.write_all(b":7\r\n").await.unwrap();
            let _ = socket.read(&mut buf).await;
        });
        local(port, 0)
    }

    #[tokio::test]
    async fn late_replies_are_owed_and_dropped_before_the_next_batch() {
        let mut connection = Connection::open(&slow_then_quick().await).await.unwrap();
        let (first, _) = oneshot::channel();
        let mut answers = VecDeque::from([Some(first)]);
        let failure = connection.exchange(&publish(), &mut answers, |_| {}).await.expect_err("too late");
        assert!(failure.late, "a slow broker keeps the connection: {}", failure.error);
        assert_eq!(answers.len(), 1, "the late publish got no answer");

        // The same connection goes on: the late `:1` is the first batch's, not this one's.
        let (second, answer) = oneshot::channel();
        let mut answers = VecDeque::from([Some(second)]);
        assert!(connection.exchange(&publish(), &mut answers, |_| {}).await.is_ok());
        assert_eq!(answer.await.unwrap(), Ok(7));
    }

    /// A local address with database `db`.
    fn local(port: u16, db: i64) -> Target {
        Target { host: "127.0.0.1".to_owned(), port, username: None, password: None, db }
    }

    /// A broker that answers each read with the next of `replies`, then gives back what it read.
    async fn scripted(replies: &'static [&'static [u8]]) -> (u16, tokio::task::JoinHandle<Vec<u8>>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut read = Vec::new();
            let mut buf = vec![0_u8; 4096];
            for reply in replies {
                let n = socket.read(&mut buf).await.unwrap();
                read.extend_from_slice(&buf[..n]);
                socket.write_all(reply).await.unwrap();
            }
            read
        });
        (port, server)
    }

    #[tokio::test]
    async fn a_database_other_than_0_is_selected_when_connecting() {
        let (port, server) = scripted(&[b"+OK\r\n"]).await;
        Connection::open(&local(port, 2)).await.unwrap();
        assert_eq!(server.await.unwrap(), b"*2\r\n$6\r\nSELECT\r\n$1\r\n2\r\n");

        // A database Redis refuses fails the connection.
        let (port, _server) = scripted(&[b"-ERR DB index is out of range\r\n"]).await;
        let error = Connection::open(&local(port, 99)).await.err().expect("refused");
        assert!(error.to_string().contains("out of range"), "{error}");
    }

    #[tokio::test]
    async fn a_closed_connection_is_noticed_before_writing() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let target = local(port, 0);
        let accepted = tokio::spawn(async move { listener.accept().await.unwrap().0 });
        let mut connection = Connection::open(&target).await.unwrap();
        assert!(connection.is_open());
        drop(accepted.await.unwrap());
        let mut open = true;
        for _ in 0..100 {
            tokio::time::sleep(Duration::from_millis(10)).await;
            open = connection.is_open();
            if !open {
                break;
            }
        }
        assert!(!open, "the close is seen without a write");
    }
}

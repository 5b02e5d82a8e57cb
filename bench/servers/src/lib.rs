//! The servers the benchmark compares, and what they share.
//!
//! Every binary in `src/bin/` speaks one bench protocol, so the load generator can drive any of
//! them the same way:
//!
//! - `SERVER --listen 127.0.0.1:PORT [--mode echo|broadcast]` (port 0 picks one) prints exactly
//!   one line, `listening on ADDR`, once it accepts connections, then serves WebSocket at any
//!   path until it is killed.
//! - `echo`: each text or binary message goes back to its sender, same opcode and payload.
//! - `broadcast`: each message goes to every *other* open connection, not to its sender.
//!
//! The plain-HTTP workload has a mode of its own, served by windlass and by the hyper server
//! (which serves nothing else): `--mode http` answers `GET /` with [`HELLO`] as
//! [`HELLO_CONTENT_TYPE`] and keeps the connection alive. The WebSocket comparators refuse it.
//!
//! Socket.IO has one too, `--mode sio`, served by windlass, `socketioxide-server` (which serves
//! nothing else) and Node `socket.io` (`node/sio-server.js`): Engine.IO v4 and Socket.IO v5 at
//! `/socket.io/`, each socket of `/` in one room, an event acknowledged with its own arguments
//! and an event passed on to the room ([`SIO_ROOM`]).
//!
//! Each server is the plain server its library's documentation shows, on a `current_thread`
//! runtime (the runner pins every server to one core). Three settings are the same for all, so
//! that they measure the libraries rather than the setup: `TCP_NODELAY` (windlass and Node's
//! `ws` set it by themselves), a listen backlog of 1,024 (windlass's; [`bind`]) and
//! `RLIMIT_NOFILE` raised to its hard limit.
//!
//! This module holds the shared parts: argument parsing ([`Args`]), start-up ([`runtime`],
//! [`raise_nofile_limit`], [`bind`], [`announce`]), [`accept`] and, for the comparators that have no broadcast of
//! their own, a registry of per-connection queues ([`Peers`]).

use std::collections::HashMap;
use std::fmt;
use std::io::{self, Write as _};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};

/// What a server does with the messages it receives.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Mode {
    /// Send each message back to its sender.
    #[default]
    Echo,
    /// Send each message to every other open connection.
    Broadcast,
    /// No WebSocket: answer `GET /` with [`HELLO`] over keep-alive HTTP/1.1.
    Http,
    /// Socket.IO (Engine.IO v4, Socket.IO v5) at `/socket.io/`: see [`SIO_ROOM`].
    Sio,
}

/// `--mode sio`: every socket that joins the namespace `/` joins this room; the event
/// [`SIO_ACK_EVENT`] is acknowledged with its own arguments, and [`SIO_FANOUT_EVENT`] is sent on
/// to every other socket of the room as [`SIO_TICK_EVENT`], same arguments (Node's
/// `socket.to("bench").emit("tick", ...args)`).
pub const SIO_ROOM: &str = "bench";
/// See [`SIO_ROOM`].
pub const SIO_ACK_EVENT: &str = "ack";
/// See [`SIO_ROOM`].
pub const SIO_FANOUT_EVENT: &str = "fanout";
/// See [`SIO_ROOM`].
pub const SIO_TICK_EVENT: &str = "tick";

/// The body every server in `--mode http` answers `GET /` with: 13 bytes.
pub const HELLO: &[u8] = b"Hello, world!";

/// The content type of [`HELLO`].
pub const HELLO_CONTENT_TYPE: &str = "text/plain";

/// The command line every bench server takes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Args {
    /// `--listen ADDR`: where to listen; port 0 picks a free port.
    pub listen: SocketAddr,
    /// `--mode`: `echo` (the default) or `broadcast`, or `http` where [`Options`] allow it.
    pub mode: Mode,
    /// `--read-buffer BYTES`, accepted only by servers whose library has such a setting
    /// (`None`: the library's default).
    pub read_buffer: Option<usize>,
}

/// Which options a server accepts beyond `--listen`, and which `--mode`s.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Options {
    /// Only `--listen` and `--mode echo|broadcast`.
    Common,
    /// Also `--read-buffer BYTES`.
    WithReadBuffer,
    /// `--mode echo|broadcast|http`: WebSocket and plain HTTP (windlass).
    WithHttp,
    /// `--mode http` only, the default: a plain HTTP server (hyper).
    HttpOnly,
    /// `--mode echo|broadcast|http|sio`: WebSocket, plain HTTP and Socket.IO (windlass).
    WithHttpAndSio,
    /// `--mode sio` only, the default: a Socket.IO server (socketioxide).
    SioOnly,
}

impl Options {
    /// The modes accepted, the default first.
    fn modes(self) -> &'static [(&'static str, Mode)] {
        const WEBSOCKET: &[(&str, Mode)] = &[("echo", Mode::Echo), ("broadcast", Mode::Broadcast)];
        match self {
            Options::Common | Options::WithReadBuffer => WEBSOCKET,
            Options::WithHttp => {
                &[("echo", Mode::Echo), ("broadcast", Mode::Broadcast), ("http", Mode::Http)]
            }
            Options::HttpOnly => &[("http", Mode::Http)],
            Options::WithHttpAndSio => &[
                ("echo", Mode::Echo),
                ("broadcast", Mode::Broadcast),
                ("http", Mode::Http),
                ("sio", Mode::Sio),
            ],
            Options::SioOnly => &[("sio", Mode::Sio)],
        }
    }

    fn usage(self) -> String {
        let modes: Vec<&str> = self.modes().iter().map(|(name, _)| *name).collect();
        let extra = if self == Options::WithReadBuffer { " [--read-buffer BYTES]" } else { "" };
        format!("--listen ADDR [--mode {}]{extra}", modes.join("|"))
    }
}

/// A command line that could not be understood.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ArgError(String);

impl fmt::Display for ArgError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ArgError {}

impl Args {
    /// Parses the process's arguments; on an error prints it with the usage and exits with
    /// status 2.
    pub fn from_env(options: Options) -> Self {
        match Self::parse(std::env::args().skip(1), options) {
            Ok(args) => args,
            Err(e) => {
                let program = std::env::args().next().unwrap_or_else(|| "server".into());
                eprintln!("{program}: {e}");
                eprintln!("usage: {program} {}", options.usage());
                std::process::exit(2);
            }
        }
    }

    /// Parses arguments (without the program name).
    pub fn parse(args: impl IntoIterator<Item = String>, options: Options) -> Result<Self, ArgError> {
        let mut listen = None;
        let modes = options.modes();
        let mut mode = modes[0].1;
        let mut read_buffer = None;
        let mut args = args.into_iter();
        while let Some(flag) = args.next() {
            let mut value = || args.next().ok_or_else(|| ArgError(format!("{flag} needs a value")));
            match flag.as_str() {
                "--listen" => {
                    let value = value()?;
                    listen = Some(
                        value.parse().map_err(|_| ArgError(format!("--listen: not an address: {value}")))?,
                    );
                }
                "--mode" => {
                    let value = value()?;
                    mode = match modes.iter().find(|(name, _)| *name == value) {
                        Some(&(_, mode)) => mode,
                        None => return Err(ArgError(format!("--mode: unknown mode {value}"))),
                    };
                }
                "--read-buffer" if options == Options::WithReadBuffer => {
                    let value = value()?;
                    read_buffer = Some(match value.parse() {
                        Ok(bytes) if bytes > 0 => bytes,
                        _ => return Err(ArgError(format!("--read-buffer: not a size in bytes: {value}"))),
                    });
                }
                other => return Err(ArgError(format!("unknown option {other}"))),
            }
        }
        let listen = listen.ok_or_else(|| ArgError("--listen is required".into()))?;
        Ok(Self { listen, mode, read_buffer })
    }
}

/// The runtime every Rust bench server runs on: one thread, so each system gets one core.
pub fn runtime() -> io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread().enable_all().build()
}

/// Raises the soft limit on open files to the hard limit, so 10,000 idle connections fit
/// (the usual soft limit is 1,024). Failing to raise it is reported, not fatal.
pub fn raise_nofile_limit() {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let mut limit = getrlimit(Resource::Nofile);
    if limit.current == limit.maximum {
        return;
    }
    limit.current = limit.maximum;
    if let Err(e) = setrlimit(Resource::Nofile, limit) {
        eprintln!("could not raise RLIMIT_NOFILE: {e}");
    }
}

/// Prints the one line the load generator waits for, `listening on ADDR`, and flushes it.
pub fn announce(addr: SocketAddr) -> io::Result<()> {
    let mut stdout = io::stdout().lock();
    writeln!(stdout, "listening on {addr}")?;
    stdout.flush()
}

/// Listen backlog: windlass's own, so a burst of connects (an idle test opening thousands)
/// waits to be accepted the same way for every server. tokio's `TcpListener::bind` uses 128,
/// as the standard library does.
pub const BACKLOG: u32 = 1024;

/// Binds a listener with `SO_REUSEADDR` and a backlog of [`BACKLOG`], as windlass's
/// `IoServer::bind` does.
pub fn bind(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = if addr.is_ipv4() { TcpSocket::new_v4()? } else { TcpSocket::new_v6()? };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(BACKLOG)
}

/// Accepts the next connection and sets `TCP_NODELAY` on it. An accept that fails (most
/// likely out of file descriptors) is reported and retried after a pause instead of spinning
/// or ending the server.
pub async fn accept(listener: &TcpListener) -> TcpStream {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                let _ = stream.set_nodelay(true);
                return stream;
            }
            Err(e) => {
                eprintln!("accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
}

/// A connection's place in [`Peers`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PeerId(u64);

/// The open connections of a broadcast server, each with an unbounded queue of messages `T`
/// that its own task writes out (the pattern of tokio-tungstenite's `server` example).
///
/// A broadcast clones the message once per recipient; for the libraries used here a clone
/// shares the payload (`Bytes`) rather than copying it.
#[derive(Debug)]
pub struct Peers<T> {
    inner: Arc<Mutex<PeersInner<T>>>,
}

#[derive(Debug)]
struct PeersInner<T> {
    next_id: u64,
    queues: HashMap<PeerId, UnboundedSender<T>>,
}

impl<T> Clone for Peers<T> {
    fn clone(&self) -> Self {
        Self { inner: Arc::clone(&self.inner) }
    }
}

impl<T> Default for Peers<T> {
    fn default() -> Self {
        Self { inner: Arc::new(Mutex::new(PeersInner { next_id: 0, queues: HashMap::new() })) }
    }
}

impl<T: Clone> Peers<T> {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a connection. The [`Membership`] takes it out again when dropped; the receiver
    /// yields what others broadcast to it (and what its own task queues with
    /// [`Membership::send_to_self`]).
    pub fn join(&self) -> (Membership<T>, UnboundedReceiver<T>) {
        let (tx, rx) = unbounded_channel();
        let id = {
            let mut inner = self.lock();
            let id = PeerId(inner.next_id);
            inner.next_id += 1;
            inner.queues.insert(id, tx.clone());
            id
        };
        (Membership { peers: self.clone(), id, own: tx }, rx)
    }

    /// The number of connections in the registry.
    pub fn len(&self) -> usize {
        self.lock().queues.len()
    }

    /// Whether the registry is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, PeersInner<T>> {
        // The lock is never held across a panic-prone call that leaves the map inconsistent.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// One connection's membership in [`Peers`]; leaves the registry when dropped.
#[derive(Debug)]
pub struct Membership<T: Clone> {
    peers: Peers<T>,
    id: PeerId,
    /// This connection's own queue, for frames its reader must have written (pongs, the close
    /// reply) when reading and writing run in separate tasks.
    own: UnboundedSender<T>,
}

impl<T: Clone> Membership<T> {
    /// This connection's id.
    pub fn id(&self) -> PeerId {
        self.id
    }

    /// Queues `msg` for every other connection; returns how many got it.
    pub fn broadcast(&self, msg: &T) -> usize {
        let inner = self.peers.lock();
        let mut sent = 0;
        for (id, queue) in &inner.queues {
            // A closed queue belongs to a connection that is going away; it misses the message.
            if *id != self.id && queue.send(msg.clone()).is_ok() {
                sent += 1;
            }
        }
        sent
    }

    /// Queues `msg` on this connection's own queue; `false` once its writer is gone.
    pub fn send_to_self(&self, msg: T) -> bool {
        self.own.send(msg).is_ok()
    }
}

impl<T: Clone> Drop for Membership<T> {
    fn drop(&mut self) {
        self.peers.lock().queues.remove(&self.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str], options: Options) -> Result<Args, ArgError> {
        Args::parse(args.iter().map(|s| (*s).to_owned()), options)
    }

    #[test]
    fn parses_listen_and_mode() {
        let args = parse(&["--listen", "127.0.0.1:0", "--mode", "broadcast"], Options::Common).unwrap();
        assert_eq!(args.listen, "127.0.0.1:0".parse().unwrap());
        assert_eq!(args.mode, Mode::Broadcast);
        assert_eq!(args.read_buffer, None);
        assert_eq!(parse(&["--listen", "127.0.0.1:9"], Options::Common).unwrap().mode, Mode::Echo);
    }

    #[test]
    fn http_mode_only_where_accepted() {
        let args = ["--listen", "127.0.0.1:0", "--mode", "http"];
        assert_eq!(parse(&args, Options::WithHttp).unwrap().mode, Mode::Http);
        assert_eq!(parse(&args, Options::HttpOnly).unwrap().mode, Mode::Http);
        assert_eq!(parse(&["--listen", "127.0.0.1:0"], Options::HttpOnly).unwrap().mode, Mode::Http);
        assert_eq!(parse(&["--listen", "127.0.0.1:0"], Options::WithHttp).unwrap().mode, Mode::Echo);
        assert!(parse(&args, Options::Common).is_err());
        assert!(parse(&args, Options::WithReadBuffer).is_err());
        assert!(parse(&["--listen", "127.0.0.1:0", "--mode", "echo"], Options::HttpOnly).is_err());
        let sio = ["--listen", "127.0.0.1:0", "--mode", "sio"];
        assert_eq!(parse(&sio, Options::WithHttpAndSio).unwrap().mode, Mode::Sio);
        assert_eq!(parse(&sio, Options::SioOnly).unwrap().mode, Mode::Sio);
        assert_eq!(parse(&["--listen", "127.0.0.1:0"], Options::SioOnly).unwrap().mode, Mode::Sio);
        assert!(parse(&sio, Options::WithHttp).is_err());
        assert!(parse(&sio, Options::Common).is_err());
    }

    #[test]
    fn read_buffer_only_where_accepted() {
        let args = ["--listen", "127.0.0.1:0", "--read-buffer", "4096"];
        assert_eq!(parse(&args, Options::WithReadBuffer).unwrap().read_buffer, Some(4096));
        assert!(parse(&args, Options::Common).is_err());
        assert!(parse(&["--listen", "127.0.0.1:0", "--read-buffer", "0"], Options::WithReadBuffer).is_err());
    }

    #[test]
    fn rejects_bad_input() {
        assert!(parse(&[], Options::Common).is_err());
        assert!(parse(&["--listen"], Options::Common).is_err());
        assert!(parse(&["--listen", "localhost"], Options::Common).is_err());
        assert!(parse(&["--listen", "127.0.0.1:0", "--mode", "chat"], Options::Common).is_err());
        assert!(parse(&["--listen", "127.0.0.1:0", "--verbose"], Options::Common).is_err());
    }

    #[test]
    fn broadcast_skips_the_sender_and_leavers() {
        let peers = Peers::<u32>::new();
        let (a, mut a_rx) = peers.join();
        let (b, mut b_rx) = peers.join();
        let (c, mut c_rx) = peers.join();
        assert_eq!(a.broadcast(&7), 2);
        assert_eq!(b_rx.try_recv(), Ok(7));
        assert_eq!(c_rx.try_recv(), Ok(7));
        assert!(a_rx.try_recv().is_err());
        drop(c);
        assert_eq!(peers.len(), 2);
        assert_eq!(b.broadcast(&8), 1);
        assert_eq!(a_rx.try_recv(), Ok(8));
        assert!(a.send_to_self(9));
        assert_eq!(a_rx.try_recv(), Ok(9));
    }
}

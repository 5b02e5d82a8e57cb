//! `ConnectionPool`: the connection → data map of Ratchet's chat tutorial (`SplObjectStorage`).

use std::collections::HashMap;
use std::sync::{PoisonError, RwLock};

use crate::error::SendError;
use crate::message::Message;
use crate::session::{Connection, ConnectionHandle, ConnectionId, Encoding, Outgoing};

/// A set of connections, each with data of type `T`, that can be messaged together.
///
/// Components keep one to know who is connected. A broadcast encodes the message once per wire
/// type and hands every recipient the same bytes: no copy per recipient.
///
/// ```
/// use windlass::{BoxError, CloseInfo, Connection, ConnectionPool, Message, MessageComponent};
///
/// #[derive(Default)]
/// struct Chat {
///     clients: ConnectionPool,
/// }
///
/// impl MessageComponent for Chat {
///     async fn on_open(&self, conn: &mut Connection) -> Result<(), BoxError> {
///         self.clients.attach(conn);
///         Ok(())
///     }
///
///     async fn on_message(&self, from: &mut Connection, msg: Message) -> Result<(), BoxError> {
///         self.clients.broadcast_except(from.id(), msg);
///         Ok(())
///     }
///
///     async fn on_close(&self, conn: &mut Connection, _: CloseInfo) {
///         self.clients.detach(conn.id());
///     }
/// }
/// ```
#[derive(Debug)]
pub struct ConnectionPool<T = ()> {
    members: RwLock<HashMap<ConnectionId, Member<T>>>,
}

#[derive(Debug)]
struct Member<T> {
    handle: ConnectionHandle,
    data: T,
}

impl<T> Default for ConnectionPool<T> {
    fn default() -> Self {
        Self { members: RwLock::new(HashMap::new()) }
    }
}

impl<T> ConnectionPool<T> {
    /// An empty pool.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `conn` with default data (Ratchet's `attach`).
    pub fn attach(&self, conn: &Connection)
    where
        T: Default,
    {
        self.attach_with(conn, T::default());
    }

    /// Adds `conn` with `data`, replacing any earlier entry for it.
    pub fn attach_with(&self, conn: &Connection, data: T) {
        self.insert(conn.handle(), data);
    }

    /// Adds a connection by handle.
    pub fn insert(&self, handle: ConnectionHandle, data: T) {
        self.write().insert(handle.id(), Member { handle, data });
    }

    /// Removes a connection, returning its data (Ratchet's `detach`).
    pub fn detach(&self, id: ConnectionId) -> Option<T> {
        self.write().remove(&id).map(|m| m.data)
    }

    /// Whether the connection is in the pool.
    pub fn contains(&self, id: ConnectionId) -> bool {
        self.read().contains_key(&id)
    }

    /// Number of connections.
    pub fn len(&self) -> usize {
        self.read().len()
    }

    /// Whether the pool is empty.
    pub fn is_empty(&self) -> bool {
        self.read().is_empty()
    }

    /// Sends to one connection.
    pub fn send_to(&self, id: ConnectionId, msg: impl Into<Message>) -> Result<(), SendError> {
        let members = self.read();
        let member = members.get(&id).ok_or(SendError::Closed)?;
        member.handle.send(msg)
    }

    /// Sends to every connection; returns how many accepted the message.
    pub fn broadcast(&self, msg: impl Into<Message>) -> usize {
        self.send_where(&msg.into(), |_, _| true)
    }

    /// Sends to every connection except `except` (usually the sender).
    pub fn broadcast_except(&self, except: ConnectionId, msg: impl Into<Message>) -> usize {
        self.send_where(&msg.into(), |id, _| id != except)
    }

    /// Sends to every connection whose id and data pass `filter`.
    pub fn send_where(&self, msg: &Message, mut filter: impl FnMut(ConnectionId, &T) -> bool) -> usize {
        let mut encoded = Encoded::new(msg);
        let members = self.read();
        members
            .iter()
            .filter(|(id, member)| filter(**id, &member.data))
            .filter(|(_, member)| member.handle.send_encoded(encoded.for_peer(&member.handle)).is_ok())
            .count()
    }

    /// The data of one connection, cloned.
    pub fn get(&self, id: ConnectionId) -> Option<T>
    where
        T: Clone,
    {
        self.read().get(&id).map(|m| m.data.clone())
    }

    /// Runs `f` on one connection's data.
    pub fn update<R>(&self, id: ConnectionId, f: impl FnOnce(&mut T) -> R) -> Option<R> {
        self.write().get_mut(&id).map(|m| f(&mut m.data))
    }

    /// Calls `f` for every connection (Ratchet's `foreach ($this->clients as $client)`). The
    /// pool is locked meanwhile: `f` must not attach or detach.
    pub fn for_each(&self, mut f: impl FnMut(&ConnectionHandle, &T)) {
        for member in self.read().values() {
            f(&member.handle, &member.data);
        }
    }

    /// Handles of every connection.
    pub fn handles(&self) -> Vec<ConnectionHandle> {
        self.read().values().map(|m| m.handle.clone()).collect()
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<ConnectionId, Member<T>>> {
        self.members.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<ConnectionId, Member<T>>> {
        self.members.write().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A message encoded at most once per encoding (wire type, compression parameters).
struct Encoded<'a> {
    msg: &'a Message,
    done: Vec<(Encoding, Outgoing)>,
}

impl<'a> Encoded<'a> {
    fn new(msg: &'a Message) -> Self {
        Self { msg, done: Vec::new() }
    }

    /// The encoding for this peer; cloning it shares the payload.
    fn for_peer(&mut self, handle: &ConnectionHandle) -> Outgoing {
        let encoding = handle.encoding(self.msg);
        if let Some((_, item)) = self.done.iter().find(|(e, _)| *e == encoding) {
            return item.clone();
        }
        let item = handle.encode(encoding, self.msg);
        self.done.push((encoding, item.clone()));
        item
    }
}

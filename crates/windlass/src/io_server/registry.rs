//! The server's list of open connections, used only to reach them all at shutdown.
//!
//! Registering costs one lock when a connection opens and one when it ends; nothing on the
//! message path touches the registry. Shutdown reaches each connection through its own inbox,
//! so a connection task waits on its socket, its inbox and one timer — nothing shared.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};

use super::ConnectionId;

/// What the registry can tell an open connection; implemented by the session every transport
/// drives, so the accept loop knows nothing of sessions.
pub(crate) trait Member: Send + Sync {
    /// The connection's id.
    fn id(&self) -> ConnectionId;
    /// Close with 1001 "going away".
    fn shut_down(&self);
    /// Stop now (the drain deadline passed).
    fn abort(&self);
}

const RUNNING: u8 = 0;
const DRAINING: u8 = 1;
const ABORTING: u8 = 2;

#[derive(Debug)]
pub(crate) struct Registry {
    open: Mutex<HashMap<ConnectionId, Weak<dyn Member>>>,
    state: AtomicU8,
}

impl Default for Registry {
    fn default() -> Self {
        Self { open: Mutex::new(HashMap::new()), state: AtomicU8::new(RUNNING) }
    }
}

impl Registry {
    /// Adds a connection; it is removed when the returned guard drops. A connection that opens
    /// while the server drains is told to close at once.
    pub(crate) fn register(self: &Arc<Self>, member: &Arc<dyn Member>) -> Registration {
        let id = member.id();
        self.open.lock().unwrap_or_else(PoisonError::into_inner).insert(id, Arc::downgrade(member));
        match self.state.load(Ordering::Acquire) {
            DRAINING => member.shut_down(),
            ABORTING => member.abort(),
            _ => {}
        }
        Registration { registry: Arc::clone(self), id }
    }

    /// Number of open (registered) connections.
    pub(crate) fn len(&self) -> usize {
        self.open.lock().unwrap_or_else(PoisonError::into_inner).len()
    }

    /// Tells every connection to close with 1001.
    pub(crate) fn shutdown(&self) {
        self.state.store(DRAINING, Ordering::Release);
        self.tell_all(|member| member.shut_down());
    }

    /// Tells every connection to stop now.
    pub(crate) fn abort(&self) {
        self.state.store(ABORTING, Ordering::Release);
        self.tell_all(|member| member.abort());
    }

    fn tell_all(&self, tell: impl Fn(&dyn Member)) {
        let open: Vec<Arc<dyn Member>> = self
            .open
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .values()
            .filter_map(Weak::upgrade)
            .collect();
        for member in open {
            tell(&*member);
        }
    }
}

/// Removes its connection from the registry when dropped.
#[derive(Debug)]
pub(crate) struct Registration {
    registry: Arc<Registry>,
    id: ConnectionId,
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.registry.open.lock().unwrap_or_else(PoisonError::into_inner).remove(&self.id);
    }
}

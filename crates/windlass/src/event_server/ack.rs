//! Acknowledgements the server waits for.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use tokio::sync::oneshot;

use super::Value;
use super::engine::lock;

/// Why an acknowledgement did not come.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AckError {
    /// None came within the time limit.
    #[error("operation has timed out")]
    Timeout,
    /// The socket disconnected first.
    #[error("the socket disconnected before acknowledging")]
    Disconnected,
    /// A broadcast's answers cannot all be counted: the cluster cannot say which nodes got
    /// it.
    #[error(transparent)]
    Cluster(#[from] super::ClusterError),
    /// The event's data could not be serialized.
    #[error(transparent)]
    Emit(#[from] super::EmitError),
}

impl From<windlass_sio_proto::ValueError> for AckError {
    fn from(e: windlass_sio_proto::ValueError) -> Self {
        Self::Emit(e.into())
    }
}

/// The acknowledgements a socket waits for, by id.
///
/// Ids come from the namespace (as Node's `nsp._ids`), so a broadcast with an ack has one id
/// for every recipient and is encoded once.
///
/// The map is made when the first acknowledgement is awaited: most sockets never wait for
/// one, and an empty map still costs its size on every socket.
#[derive(Default)]
pub(crate) struct Acks {
    pending: Mutex<Option<Box<Waiting>>>,
}

/// Who waits for which acknowledgement.
type Waiting = HashMap<u64, oneshot::Sender<Vec<Value>>>;

impl Acks {
    /// Waits for the answer to `id`: the receiver of its answer.
    pub(crate) fn register(&self, id: u64) -> oneshot::Receiver<Vec<Value>> {
        let (tx, rx) = oneshot::channel();
        lock(&self.pending).get_or_insert_with(Box::default).insert(id, tx);
        rx
    }

    /// Stops waiting for `id`.
    pub(crate) fn forget(&self, id: u64) {
        self.take(id);
    }

    fn take(&self, id: u64) -> Option<oneshot::Sender<Vec<Value>>> {
        lock(&self.pending).as_mut().and_then(|pending| pending.remove(&id))
    }

    /// Waits for the answer to `id`, at most `timeout`.
    pub(crate) async fn wait(
        &self,
        id: u64,
        answer: oneshot::Receiver<Vec<Value>>,
        timeout: Option<Duration>,
    ) -> Result<Vec<Value>, AckError> {
        let outcome = match timeout {
            Some(timeout) => {
                let Ok(outcome) = tokio::time::timeout(timeout, answer).await else {
                    self.take(id);
                    return Err(AckError::Timeout);
                };
                outcome
            }
            None => answer.await,
        };
        outcome.map_err(|_| AckError::Disconnected)
    }

    /// The client's answer to `id`; an unknown id (late, or never asked) is ignored.
    pub(crate) fn answer(&self, id: u64, args: Vec<Value>) {
        if let Some(tx) = self.take(id) {
            let _ = tx.send(args);
        }
    }

    /// The socket left: every waiter hears [`AckError::Disconnected`].
    pub(crate) fn clear(&self) {
        lock(&self.pending).take();
    }
}

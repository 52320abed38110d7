//! PostgreSQL only: changes reach the other replicas within milliseconds instead of a poll
//! interval. A process that committed a write sends `NOTIFY tessera_change`; every replica
//! listens and reads the change feed at once (the feed itself is the message; the
//! notification only says "read it now"). The poll of the feed stays as the safety net for
//! notifications lost while a listener reconnects.
//!
//! The notification is sent by a task of its own, after the write's commit, never inside the
//! write's transaction: PostgreSQL serializes the commits of notifying transactions on one
//! lock, which would undo the group commit of concurrent rotations. Writes that follow each
//! other while a notification is on its way share the next one.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::{PgListener, PgPoolOptions};
use sqlx::AnyPool;
use tokio::sync::Notify;

/// The channel every replica listens on.
const CHANNEL: &str = "tessera_change";

/// How long a listener that lost its connection waits before connecting again.
const RECONNECT_DELAY: Duration = Duration::from_secs(1);

/// How long one attempt to connect the listener may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);

/// The sending side, shared by every clone of one store.
pub(crate) struct Notifier {
    pool: AnyPool,
    /// A write committed since the last notification was sent.
    pending: AtomicBool,
    wake: Notify,
}

impl Notifier {
    /// Starts the task that sends notifications for `pool`'s writes.
    pub(crate) fn start(pool: AnyPool) -> Arc<Self> {
        let notifier = Arc::new(Self {
            pool,
            pending: AtomicBool::new(false),
            wake: Notify::new(),
        });
        let sender = notifier.clone();
        tokio::spawn(async move {
            loop {
                // A wake-up while a notification is being sent is kept as a permit: the
                // writes it stands for get the next notification.
                sender.wake.notified().await;
                if sender.pool.is_closed() {
                    return;
                }
                if sender.pending.load(Ordering::Acquire) {
                    sender.send().await;
                }
            }
        });
        notifier
    }

    /// A write that recorded a change has committed: the task sends the notification.
    pub(crate) fn changed(&self) {
        self.pending.store(true, Ordering::Release);
        self.wake.notify_one();
    }

    /// Sends the notification now if a write is waiting for one (at close).
    pub(crate) async fn flush(&self) {
        if self.pending.load(Ordering::Acquire) {
            self.send().await;
        }
    }

    /// Sends the notification now (a CLI command's write, announced before it returns).
    pub(crate) async fn send(&self) {
        self.pending.store(false, Ordering::Release);
        let sent = sqlx::query("SELECT pg_notify($1, '')")
            .bind(CHANNEL)
            .execute(&self.pool)
            .await;
        if let Err(err) = sent {
            // The poll delivers the change anyway, one interval later.
            tracing::debug!(error = %err, "notifying the other replicas failed");
        }
    }
}

/// Listens for other replicas' (and this process's) notifications on the database at
/// `url`; the returned signal is woken for each, and once after every (re)connection, since
/// notifications sent while disconnected are lost.
pub(crate) fn listen(url: String) -> Arc<Notify> {
    let signal = Arc::new(Notify::new());
    let woken = signal.clone();
    tokio::spawn(async move {
        loop {
            match subscribe(&url).await {
                Ok(mut listener) => {
                    woken.notify_one();
                    loop {
                        match listener.recv().await {
                            Ok(_) => woken.notify_one(),
                            Err(err) => {
                                tracing::warn!(error = %err, "the change notification listener lost its connection; the poll goes on");
                                break;
                            }
                        }
                    }
                }
                Err(err) => {
                    tracing::warn!(error = %err, "listening for change notifications failed; the poll goes on");
                }
            }
            tokio::time::sleep(RECONNECT_DELAY).await;
        }
    });
    signal
}

/// A listener on a connection of its own. Its pool gives up on connecting after
/// [`CONNECT_TIMEOUT`] (sqlx's default is 30 s, with growing pauses between attempts), so
/// that a listener whose server went away fails soon and the loop above connects again
/// within seconds of the server's return.
async fn subscribe(url: &str) -> Result<PgListener, sqlx::Error> {
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .acquire_timeout(CONNECT_TIMEOUT)
        .max_lifetime(None)
        .idle_timeout(None)
        .connect(url)
        .await?;
    let mut listener = PgListener::connect_with(&pool).await?;
    listener.listen(CHANNEL).await?;
    Ok(listener)
}

//! The WebSocket tunnels open now. Once a connection is upgraded it is no longer hyper's
//! connection, so the listener's graceful stop does not wait for it; this count lets the
//! stop give open tunnels the same grace as requests in flight, and then cut what is left
//! together instead of leaving them to the process's exit.
//!
//! A tunnel only copies bytes: it cannot send a WebSocket close frame without knowing where
//! the frames in flight end, so cutting one closes both TCP connections, as a restart of
//! any proxy does.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::sync::{watch, Notify};

use super::upgrade::Tunnel;

/// Cloning shares the one count.
#[derive(Clone)]
pub struct Tunnels {
    inner: Arc<Inner>,
}

struct Inner {
    open: AtomicUsize,
    /// Woken whenever a tunnel ends.
    ended: Notify,
    /// Turns true when the open tunnels are cut.
    cut: watch::Sender<bool>,
}

impl Default for Tunnels {
    fn default() -> Self {
        Self {
            inner: Arc::new(Inner {
                open: AtomicUsize::new(0),
                ended: Notify::new(),
                cut: watch::channel(false).0,
            }),
        }
    }
}

/// Counts a tunnel as ended when its task does, however it ends (cut, closed, panicked).
struct Open(Arc<Inner>);

impl Drop for Open {
    fn drop(&mut self) {
        self.0.open.fetch_sub(1, Ordering::AcqRel);
        self.0.ended.notify_waiters();
    }
}

impl Tunnels {
    /// Runs `tunnel` in a task of its own until it ends or [`Tunnels::cut`] is called.
    pub fn spawn(&self, tunnel: Tunnel) {
        self.inner.open.fetch_add(1, Ordering::AcqRel);
        let open = Open(self.inner.clone());
        let mut cut = self.inner.cut.subscribe();
        tokio::spawn(async move {
            let _open = open;
            tokio::select! {
                () = tunnel.run() => {}
                _ = cut.wait_for(|cut| *cut) => {}
            }
        });
    }

    /// How many are open now.
    pub fn open(&self) -> usize {
        self.inner.open.load(Ordering::Acquire)
    }

    /// Resolves once none is open.
    pub async fn all_closed(&self) {
        loop {
            let ended = self.inner.ended.notified();
            tokio::pin!(ended);
            // Registered before the count is read: an end in between still wakes us.
            ended.as_mut().enable();
            if self.open() == 0 {
                return;
            }
            ended.await;
        }
    }

    /// Closes every open tunnel, and any opened later, at once.
    pub fn cut(&self) {
        self.inner.cut.send_replace(true);
    }
}

//! Stopping the server: every client hears goodbye before the process exits.
//!
//! A browser whose server simply vanishes reports close code 1006 and no
//! reason. So when the server is told to stop, each page is sent a close
//! frame with 1001 (going away; see `sending`), the page's answer is
//! awaited a moment, and only then does the process exit. The page then
//! reconnects, and nginx hands it to another instance.
//!
//! A server is told to stop by Ctrl+C in its terminal, and on Unix also by
//! SIGTERM: the signal `docker stop`, systemd and Kubernetes send (and
//! `kill` without a signal name). Both are handled the same way. Windows
//! has no SIGTERM; there Ctrl+C is the way.
//!
//! One `watch` channel carries the news. The accept loop holds its sender
//! (`Shutdown`) and every connection a receiver (`Notice`): sending `true`
//! tells them all to finish, and once every receiver has been dropped,
//! every connection has ended, which is what `close_all` waits for.

use std::time::Duration;

use anyhow::Context;
use tokio::sync::watch;
use tokio::time::timeout;

/// How long the server waits for pages to answer its close frame.
pub const GRACE: Duration = Duration::from_secs(1);

/// Held by the accept loop: tells every connection that the server stops,
/// then waits for them to end.
pub struct Shutdown(watch::Sender<bool>);

/// Held by each connection: it learns through `requested` that the server
/// stops, and dropping it says that the connection has ended.
#[derive(Clone)]
pub struct Notice(watch::Receiver<bool>);

impl Shutdown {
    pub fn new() -> Shutdown {
        Shutdown(watch::Sender::new(false))
    }

    /// A notice for one more connection.
    pub fn notice(&self) -> Notice {
        Notice(self.0.subscribe())
    }

    /// Tells every connection to finish, and waits until all have ended,
    /// at most `GRACE`.
    pub async fn close_all(self) {
        self.0.send_replace(true);
        let _ = timeout(GRACE, self.0.closed()).await;
    }
}

impl Notice {
    /// Resolves once the server stops (at once if it already does).
    pub async fn requested(&mut self) {
        let _ = self.0.wait_for(|stopping| *stopping).await;
    }
}

/// Starts listening for Ctrl+C, and on Unix for SIGTERM, and returns a
/// future that resolves when either arrives. Call it before the server
/// prints its address: until a signal is listened for, it ends the process
/// at once, with no goodbye. Create it once: one made anew on each turn of
/// the accept loop could miss a signal that arrives between two turns.
pub fn stop_signal() -> anyhow::Result<impl Future<Output = ()>> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut interrupt = signal(SignalKind::interrupt()).context("cannot listen for Ctrl+C")?;
        let mut terminate = signal(SignalKind::terminate()).context("cannot listen for SIGTERM")?;
        Ok(async move {
            tokio::select! {
                _ = interrupt.recv() => {}
                _ = terminate.recv() => {}
            }
        })
    }
    #[cfg(not(unix))]
    {
        let mut ctrl_c = tokio::signal::windows::ctrl_c().context("cannot listen for Ctrl+C")?;
        Ok(async move {
            ctrl_c.recv().await;
        })
    }
}

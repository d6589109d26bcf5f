//! Ctrl+C: every client hears goodbye before the server stops.
//!
//! A browser whose server simply vanishes reports close code 1006 and no
//! reason. So on Ctrl+C each connection sends a close frame with 1001
//! (going away) and waits a moment for the client's answer, and only then
//! does the process exit.

use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::Context;
use futures_util::StreamExt;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio::time::timeout;
use tokio_tungstenite::tungstenite::Error as WsError;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

use crate::OPEN_CONNECTIONS;
use crate::handshake::WebSocket;

/// How long Ctrl+C waits for clients to answer the close frame.
const GRACE: Duration = Duration::from_secs(1);

/// What each connection watches: it changes once, when Ctrl+C is pressed.
pub type Signal = watch::Receiver<bool>;

/// The sending side of the signal, held by the accept loop.
pub struct Shutdown(watch::Sender<bool>);

impl Shutdown {
    pub fn new() -> Shutdown {
        Shutdown(watch::Sender::new(false))
    }

    /// A receiver for one more connection.
    pub fn signal(&self) -> Signal {
        self.0.subscribe()
    }

    /// Tells every connection to say goodbye, and waits for them to finish,
    /// at most `GRACE`.
    pub async fn close_all(self, mut clients: JoinSet<()>) {
        let open = OPEN_CONNECTIONS.load(Ordering::Relaxed);
        println!(
            "Shutting down: closing {open} WebSocket connection(s) with code 1001 (going away)"
        );
        self.0.send_replace(true);
        let all_closed = async { while clients.join_next().await.is_some() {} };
        if timeout(GRACE, all_closed).await.is_err() {
            clients.abort_all();
        }
    }
}

/// Resolves when Ctrl+C is pressed. Create it once, before the accept loop:
/// one made anew on each turn could miss a Ctrl+C between two turns.
pub async fn ctrl_c() -> anyhow::Result<()> {
    tokio::signal::ctrl_c()
        .await
        .context("cannot listen for Ctrl+C")
}

/// Says goodbye to one client: close code 1001, then waits for the client's
/// close frame, which ends the stream. Returns why it ended, for the log.
pub async fn going_away(websocket: &mut WebSocket) -> String {
    let frame = CloseFrame {
        code: CloseCode::Away,
        reason: "server shutting down".into(),
    };
    let goodbye = async {
        websocket.close(Some(frame)).await?;
        while websocket.next().await.transpose()?.is_some() {}
        Ok::<_, WsError>(())
    };
    let _ = timeout(GRACE, goodbye).await;
    "server shut down".to_string()
}

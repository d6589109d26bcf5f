//! Ctrl+C: every client hears goodbye before the server stops.
//!
//! A browser whose server simply vanishes reports close code 1006 and no
//! reason. So on Ctrl+C each WebSocket sends a close frame with 1001
//! (going away) and waits a moment for the client's answer, each HTTP
//! connection finishes the request it is serving, and only then does the
//! process exit.

use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::Context;
use futures_util::StreamExt;
use tokio::sync::{mpsc, watch};
use tokio::time::timeout;
use tokio_tungstenite::tungstenite::Error as WsError;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

use crate::OPEN_CONNECTIONS;
use crate::handshake::WebSocket;

/// How long Ctrl+C waits for clients to answer the close frame.
const GRACE: Duration = Duration::from_secs(1);

/// What each connection holds: it learns of Ctrl+C through `changed`, and
/// while any `Signal` exists, some connection is still open. Once all of
/// them are dropped, every connection has ended (the pattern of tokio's
/// mini-redis).
#[derive(Clone)]
pub struct Signal {
    pressed: watch::Receiver<bool>,
    _alive: mpsc::Sender<()>,
}

impl Signal {
    /// Resolves when Ctrl+C is pressed.
    pub async fn changed(&mut self) {
        let _ = self.pressed.changed().await;
    }
}

/// The sending side, held by the accept loop.
pub struct Shutdown {
    pressed: watch::Sender<bool>,
    alive: mpsc::Sender<()>,
    all_ended: mpsc::Receiver<()>,
}

impl Shutdown {
    pub fn new() -> Shutdown {
        let (alive, all_ended) = mpsc::channel(1);
        Shutdown {
            pressed: watch::Sender::new(false),
            alive,
            all_ended,
        }
    }

    /// A signal for one more connection.
    pub fn signal(&self) -> Signal {
        Signal {
            pressed: self.pressed.subscribe(),
            _alive: self.alive.clone(),
        }
    }

    /// Tells every connection to finish, and waits for them, at most `GRACE`.
    pub async fn close_all(self) {
        let Shutdown {
            pressed,
            alive,
            mut all_ended,
        } = self;
        drop(alive);
        let open = OPEN_CONNECTIONS.load(Ordering::Relaxed);
        println!(
            "Shutting down: closing {open} WebSocket connection(s) with code 1001 (going away)"
        );
        pressed.send_replace(true);
        let _ = timeout(GRACE, all_ended.recv()).await;
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

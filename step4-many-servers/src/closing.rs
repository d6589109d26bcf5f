//! When a client breaks the rules, it is told why before it is dropped.
//!
//! RFC 6455 gives each kind of error a close code: 1009 for a message over
//! our limit, 1002 for a broken frame, 1007 for text that is not UTF-8. The
//! code only reaches the client if the connection stays open long enough
//! to deliver it: closing a socket that still has unread bytes (the rest of
//! a too-big message) makes the system reset the connection, and the reset
//! destroys our close frame on the way. A browser then reports 1006 with no
//! reason. So after the close frame we read and throw away what the client
//! still sends, until it answers with its own close frame and goes quiet.

use std::time::Duration;

use futures_util::future::BoxFuture;
use tokio::io::AsyncReadExt;
use tokio::time::{Instant, timeout};
use tokio_tungstenite::tungstenite::Error as WsError;
use tokio_tungstenite::tungstenite::error::ProtocolError;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

use crate::handshake::WebSocket;

/// The longest we keep a broken connection open to deliver its close code.
const CLOSE_GRACE: Duration = Duration::from_secs(1);

/// A client that has sent nothing for this long has read our close frame
/// and answered it (its answer is a few bytes, sent at once).
const QUIET: Duration = Duration::from_millis(200);

/// Ends a conversation that broke, and returns why, for the log.
///
/// The work is boxed: a task reserves room for the largest state its
/// future can reach, and an ending kept on the heap takes memory only when
/// it happens, so every waiting connection stays small (chapter 4).
pub fn after_error(websocket: &mut WebSocket, error: WsError) -> BoxFuture<'_, String> {
    Box::pin(explain_and_close(websocket, error))
}

/// Sends the close code that explains `error`, if there is one, and lets
/// the client's answer arrive.
async fn explain_and_close(websocket: &mut WebSocket, error: WsError) -> String {
    if let WsError::Protocol(ProtocolError::ResetWithoutClosingHandshake) = error {
        return "left without a closing handshake".to_string();
    }
    if let Some(code) = close_code_for(&error) {
        let frame = CloseFrame {
            code,
            reason: error.to_string().into(),
        };
        if let Ok(Ok(())) = timeout(CLOSE_GRACE, websocket.close(Some(frame))).await {
            drain(websocket).await;
        }
    }
    format!("ended with an error: {error}")
}

/// The close code that explains an error to the client, if it can still hear it.
fn close_code_for(error: &WsError) -> Option<CloseCode> {
    match error {
        WsError::Capacity(_) => Some(CloseCode::Size),
        WsError::Protocol(_) => Some(CloseCode::Protocol),
        WsError::Utf8(_) => Some(CloseCode::Invalid),
        _ => None,
    }
}

/// Reads and discards the client's bytes until it hangs up, goes quiet for
/// `QUIET`, or `CLOSE_GRACE` has passed. The bytes are read from the TCP
/// connection itself: after an error, what follows is no longer a frame
/// that tungstenite could read.
async fn drain(websocket: &mut WebSocket) {
    let stream = websocket.get_mut();
    let deadline = Instant::now() + CLOSE_GRACE;
    let mut discard = Vec::with_capacity(1024);
    while Instant::now() < deadline {
        discard.clear();
        match timeout(QUIET, stream.read_buf(&mut discard)).await {
            Ok(Ok(1..)) => {}
            _ => return,
        }
    }
}

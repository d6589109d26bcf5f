//! The DevTools connection: one WebSocket to the browser, carrying JSON
//! commands with an `id` and their answers, and events, each routed to the
//! page (session) it is about.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, bail};
use futures_util::stream::SplitSink;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio::time::timeout;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;

/// How long Chromium may take to answer one command.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(10);

type Writer = SplitSink<WebSocketStream<TcpStream>, Message>;

/// The DevTools WebSocket: answers go back to the command that asked,
/// events to the page (session) they are about.
pub(super) struct Connection {
    writer: tokio::sync::Mutex<Writer>,
    next_id: AtomicU64,
    answers: Mutex<HashMap<u64, oneshot::Sender<Value>>>,
    pub(super) sessions: Mutex<HashMap<String, mpsc::UnboundedSender<Value>>>,
}

impl Connection {
    /// Connects to `ws://127.0.0.1:PORT/devtools/browser/...`, and reads
    /// from it in a task of its own until the browser goes away.
    pub(super) async fn open(url: &str) -> anyhow::Result<(Arc<Connection>, JoinHandle<()>)> {
        let address = url
            .strip_prefix("ws://")
            .and_then(|rest| rest.split('/').next())
            .with_context(|| format!("not a ws:// address: {url:?}"))?;
        let stream = TcpStream::connect(address)
            .await
            .with_context(|| format!("cannot connect to the browser at {address}"))?;
        let (socket, _) = timeout(
            COMMAND_TIMEOUT,
            tokio_tungstenite::client_async(url, stream),
        )
        .await
        .context("the browser did not answer the WebSocket handshake")??;
        let (writer, mut reader) = socket.split();
        let connection = Arc::new(Connection {
            writer: tokio::sync::Mutex::new(writer),
            next_id: AtomicU64::new(1),
            answers: Mutex::default(),
            sessions: Mutex::default(),
        });
        let shared = connection.clone();
        let reading = tokio::spawn(async move {
            while let Some(Ok(message)) = reader.next().await {
                let Message::Text(text) = message else {
                    continue;
                };
                let Ok(message) = serde_json::from_str::<Value>(&text) else {
                    continue;
                };
                shared.deliver(message);
            }
            // The browser is gone: every command still waiting fails.
            shared.answers.lock().unwrap().clear();
            shared.sessions.lock().unwrap().clear();
        });
        Ok((connection, reading))
    }

    fn deliver(&self, message: Value) {
        if let Some(id) = message["id"].as_u64() {
            if let Some(waiting) = self.answers.lock().unwrap().remove(&id) {
                let _ = waiting.send(message);
            }
        } else if let Some(session) = message["sessionId"].as_str() {
            // Nested rather than a let chain, which needs Rust 1.88.
            if let Some(page) = self.sessions.lock().unwrap().get(session) {
                let _ = page.send(message);
            }
        }
    }

    /// Sends a command, to the browser or to one page's session, and
    /// returns its result.
    pub(super) async fn call(
        &self,
        session: Option<&str>,
        method: &str,
        params: Value,
    ) -> anyhow::Result<Value> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let mut command = json!({ "id": id, "method": method, "params": params });
        if let Some(session) = session {
            command["sessionId"] = session.into();
        }
        let (sender, answer) = oneshot::channel();
        self.answers.lock().unwrap().insert(id, sender);
        self.writer
            .lock()
            .await
            .send(Message::text(command.to_string()))
            .await
            .context("the browser closed the DevTools connection")?;
        let answer = timeout(COMMAND_TIMEOUT, answer)
            .await
            .with_context(|| format!("no answer to {method} within {COMMAND_TIMEOUT:?}"))?
            .context("the browser closed the DevTools connection")?;
        if let Some(error) = answer.get("error") {
            bail!("{method} failed: {error}");
        }
        Ok(answer["result"].clone())
    }
}

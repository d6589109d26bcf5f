//! Talking to a step over real loopback sockets, as a browser or a
//! WebSocket client would.

use std::time::Duration;

use anyhow::{Context, bail};
use futures_util::StreamExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;

/// The text every step greets with, and the page sends.
pub const GREETING: &str = "Hello, WebSocket!";

/// "At once": how long a greeting or a log line may take to appear.
pub const PROMPTLY: Duration = Duration::from_secs(2);

/// How long any single answer may take. Generous: a loaded 2-core machine
/// still answers on loopback in milliseconds.
pub const ANSWER_TIMEOUT: Duration = Duration::from_secs(5);

/// Sends `request` as raw bytes and returns everything the server sends
/// back until it closes the connection.
pub async fn exchange(port: u16, request: &[u8]) -> anyhow::Result<Vec<u8>> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))
        .await
        .context("cannot connect")?;
    stream
        .write_all(request)
        .await
        .context("cannot send the request")?;
    let mut answer = Vec::new();
    match timeout(ANSWER_TIMEOUT, stream.read_to_end(&mut answer)).await {
        Ok(Ok(_)) => Ok(answer),
        // A reset after a complete answer still leaves the answer to check.
        Ok(Err(_)) if !answer.is_empty() => Ok(answer),
        Ok(Err(error)) => Err(error).context("the connection failed before any answer"),
        Err(_) => bail!(
            "no end of the answer within {ANSWER_TIMEOUT:?}; got so far: {}",
            printable(&answer)
        ),
    }
}

/// An HTTP answer, split into its parts.
pub struct HttpAnswer {
    pub status: u16,
    pub status_line: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpAnswer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }
}

/// `GET path` with `Connection: close`, as a browser asks for a page.
pub async fn get(port: u16, path: &str) -> anyhow::Result<HttpAnswer> {
    let request =
        format!("GET {path} HTTP/1.1\r\nHost: localhost:{port}\r\nConnection: close\r\n\r\n");
    let answer = exchange(port, request.as_bytes()).await?;
    parse_http(&answer)
}

pub fn parse_http(answer: &[u8]) -> anyhow::Result<HttpAnswer> {
    let end = answer
        .windows(4)
        .position(|window| window == b"\r\n\r\n")
        .with_context(|| format!("not an HTTP answer: {}", printable(answer)))?;
    let head = String::from_utf8_lossy(&answer[..end]);
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default().to_string();
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .with_context(|| format!("not an HTTP status line: {status_line:?}"))?;
    let headers = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.to_string(), value.trim().to_string()))
        .collect();
    Ok(HttpAnswer {
        status,
        status_line,
        headers,
        body: answer[end + 4..].to_vec(),
    })
}

/// Opens a WebSocket to `ws://127.0.0.1:port/path`.
pub async fn websocket(port: u16, path: &str) -> anyhow::Result<WebSocketStream<TcpStream>> {
    let stream = TcpStream::connect(("127.0.0.1", port))
        .await
        .context("cannot connect")?;
    let url = format!("ws://127.0.0.1:{port}{path}");
    let (socket, _) = timeout(
        ANSWER_TIMEOUT,
        tokio_tungstenite::client_async(url.as_str(), stream),
    )
    .await
    .context("no handshake answer in time")?
    .context("the WebSocket handshake failed")?;
    Ok(socket)
}

/// Opens a WebSocket on `/` and expects the greeting as its first message
/// within `wait`.
pub async fn greeted(port: u16, wait: Duration) -> anyhow::Result<WebSocketStream<TcpStream>> {
    let mut socket = websocket(port, "/").await?;
    let first = next_message(&mut socket, wait)
        .await
        .context("no greeting")?;
    if first != Message::text(GREETING) {
        bail!("the first message is {first:?}, not the greeting {GREETING:?}");
    }
    Ok(socket)
}

/// The next message that is not a ping or pong, within `wait`.
pub async fn next_message(
    socket: &mut WebSocketStream<TcpStream>,
    wait: Duration,
) -> anyhow::Result<Message> {
    loop {
        match timeout(wait, socket.next()).await {
            Err(_) => bail!("no message within {wait:?}"),
            Ok(None) => bail!("the connection ended without a message"),
            Ok(Some(Err(error))) => return Err(error).context("the connection failed"),
            Ok(Some(Ok(Message::Ping(_) | Message::Pong(_)))) => continue,
            Ok(Some(Ok(message))) => return Ok(message),
        }
    }
}

/// Bytes shown as text, with anything unprintable escaped.
pub fn printable(bytes: &[u8]) -> String {
    let text: String = bytes.escape_ascii().to_string();
    if text.len() > 300 {
        format!("{}...", &text[..300])
    } else {
        text
    }
}

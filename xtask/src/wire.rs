//! Talking to a step over real loopback sockets, as a browser or a
//! WebSocket client would.

use std::time::Duration;

use anyhow::{Context, bail, ensure};
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

/// Connects to the step on `port` and sends `request` as raw bytes.
async fn send(port: u16, request: &[u8]) -> anyhow::Result<TcpStream> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))
        .await
        .context("cannot connect")?;
    stream
        .write_all(request)
        .await
        .context("cannot send the request")?;
    Ok(stream)
}

/// Sends `request` as raw bytes and returns everything the server sends
/// back until it closes the connection.
pub async fn exchange(port: u16, request: &[u8]) -> anyhow::Result<Vec<u8>> {
    let mut stream = send(port, request).await?;
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

/// Sends `request` as raw bytes and returns the one HTTP answer to it,
/// complete with its body (`Content-Length`), without waiting for the
/// server to close: a server that keeps connections alive answers too.
pub async fn ask(port: u16, request: &[u8]) -> anyhow::Result<HttpAnswer> {
    let mut stream = send(port, request).await?;
    let mut answer = Vec::new();
    let read_one = async {
        loop {
            if let Ok(parsed) = parse_http(&answer) {
                let length = parsed.header("content-length").unwrap_or("0");
                if parsed.body.len() >= length.parse().unwrap_or(0) {
                    return Ok(parsed);
                }
            }
            if stream.read_buf(&mut answer).await? == 0 {
                return parse_http(&answer);
            }
        }
    };
    timeout(ANSWER_TIMEOUT, read_one)
        .await
        .with_context(|| format!("no complete answer within {ANSWER_TIMEOUT:?}"))?
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

/// One frame from the server, within `wait`: its opcode and payload.
pub async fn read_frame(stream: &mut TcpStream, wait: Duration) -> anyhow::Result<(u8, Vec<u8>)> {
    let read = async {
        let mut header = [0; 2];
        stream.read_exact(&mut header).await?;
        let length = match header[1] & 0x7f {
            126 => u64::from(stream.read_u16().await?),
            127 => stream.read_u64().await?,
            length => u64::from(length),
        };
        ensure!(header[1] & 0x80 == 0, "the server sent a masked frame");
        ensure!(
            length <= 1 << 20,
            "the server sent a frame of {length} bytes"
        );
        let mut payload = vec![0; length as usize];
        stream.read_exact(&mut payload).await?;
        Ok((header[0] & 0x0f, payload))
    };
    timeout(wait, read)
        .await
        .context("no frame from the server in time")?
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

/// A valid upgrade request for `/`, with the sample key of RFC 6455.
pub fn upgrade_request(port: u16) -> String {
    format!(
        "GET / HTTP/1.1\r\nHost: localhost:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
}

/// Opens a WebSocket by hand over a plain TCP connection and reads the
/// 101 and the greeting frame, so that a check can then send any bytes.
pub async fn greeted_raw(port: u16) -> anyhow::Result<TcpStream> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))
        .await
        .context("cannot connect")?;
    stream.write_all(upgrade_request(port).as_bytes()).await?;
    let greeting = [&[0x81, GREETING.len() as u8][..], GREETING.as_bytes()].concat();
    let mut answer = Vec::new();
    let read = async {
        while !answer.ends_with(&greeting) {
            if stream.read_buf(&mut answer).await? == 0 {
                bail!("the connection ended; got {}", printable(&answer));
            }
        }
        Ok(())
    };
    timeout(ANSWER_TIMEOUT, read)
        .await
        .context("no 101 and greeting in time")??;
    ensure!(
        answer.starts_with(b"HTTP/1.1 101 "),
        "no 101: {}",
        printable(&answer)
    );
    Ok(stream)
}

/// One frame as a client sends it: final, with `opcode`, and masked.
pub fn masked_frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mut frame = vec![0x80 | opcode];
    match payload.len() {
        length @ 0..=125 => frame.push(0x80 | length as u8),
        length @ 126..=65535 => {
            frame.push(0x80 | 126);
            frame.extend((length as u16).to_be_bytes());
        }
        length => {
            frame.push(0x80 | 127);
            frame.extend((length as u64).to_be_bytes());
        }
    }
    let mask = [0x12, 0x34, 0x56, 0x78];
    frame.extend(mask);
    frame.extend(
        payload
            .iter()
            .enumerate()
            .map(|(i, byte)| byte ^ mask[i % 4]),
    );
    frame
}

/// Reads frames until a close frame, within `ANSWER_TIMEOUT`, and returns
/// its code and reason. Fails if the connection ends or is reset first.
pub async fn read_close_frame(stream: &mut TcpStream) -> anyhow::Result<(u16, String)> {
    let read = async {
        loop {
            let mut head = [0; 2];
            stream
                .read_exact(&mut head)
                .await
                .context("the connection ended or was reset before a close frame")?;
            ensure!(head[1] & 0x80 == 0, "the server sent a masked frame");
            let length = match head[1] & 0x7f {
                126 => usize::from(stream.read_u16().await?),
                127 => usize::try_from(stream.read_u64().await?)?,
                length => usize::from(length),
            };
            let mut payload = vec![0; length];
            stream
                .read_exact(&mut payload)
                .await
                .context("the connection ended or was reset inside a frame")?;
            if head[0] & 0x0f == 0x8 {
                ensure!(payload.len() >= 2, "a close frame without a code");
                let code = u16::from_be_bytes([payload[0], payload[1]]);
                return Ok((code, String::from_utf8_lossy(&payload[2..]).into_owned()));
            }
        }
    };
    timeout(ANSWER_TIMEOUT, read)
        .await
        .context("no close frame in time")?
}

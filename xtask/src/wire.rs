//! Talking to a step over real loopback sockets, as a browser or a
//! WebSocket client would: HTTP requests, WebSocket clients through
//! tungstenite, and the one raw WebSocket codec of xtask (frames encoded and
//! decoded by hand, RFC 6455 section 5.2) for the checks that must send or
//! see exact bytes.

use std::time::Duration;

use anyhow::{Context, bail, ensure};
use futures_util::StreamExt;
use std::ops::{Deref, DerefMut};
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

/// Bytes shown as text, with anything unprintable escaped.
pub fn printable(bytes: &[u8]) -> String {
    let text: String = bytes.escape_ascii().to_string();
    if text.len() > 300 {
        format!("{}...", &text[..300])
    } else {
        text
    }
}

/// The key of RFC 6455, section 1.3: any 16 bytes in base64 will do as a
/// key, and for this one the RFC gives the accept value, so a reader can
/// check a server's answer against the RFC itself.
pub const SAMPLE_KEY: &str = crate::sample_key!();

/// `SAMPLE_KEY` as a literal, for requests written as constants
/// (`concat!("...Sec-WebSocket-Key: ", sample_key!(), "\r\n...")`).
#[macro_export]
macro_rules! sample_key {
    () => {
        "dGhlIHNhbXBsZSBub25jZQ=="
    };
}

/// The `Sec-WebSocket-Accept` value RFC 6455 gives for `SAMPLE_KEY`.
pub const SAMPLE_ACCEPT: &str = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

/// The masking key of the RFC's own examples (section 5.7).
pub const SAMPLE_MASK: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

/// Opcodes (RFC 6455, section 5.2).
pub const TEXT: u8 = 0x1;
pub const CLOSE: u8 = 0x8;
pub const PING: u8 = 0x9;

/// A valid upgrade request for `/`, with the sample key.
pub fn upgrade_request(port: u16) -> String {
    format!(
        "GET / HTTP/1.1\r\nHost: localhost:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: {SAMPLE_KEY}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
}

/// The parts of a frame header.
pub struct FrameHeader {
    pub fin: bool,
    pub opcode: u8,
    pub mask: Option<[u8; 4]>,
    pub payload_length: usize,
    /// The header's length in bytes, masking key included.
    pub length: usize,
}

/// The header at the start of `bytes`, once all of it is there.
pub fn parse_header(bytes: &[u8]) -> Option<FrameHeader> {
    let (&first, &second) = (bytes.first()?, bytes.get(1)?);
    let (payload_length, mut length) = match second & 0x7f {
        126 => (
            u16::from_be_bytes(bytes.get(2..4)?.try_into().ok()?) as usize,
            4,
        ),
        127 => (
            u64::from_be_bytes(bytes.get(2..10)?.try_into().ok()?) as usize,
            10,
        ),
        short => (short as usize, 2),
    };
    let mask = if second & 0x80 != 0 {
        let key = bytes.get(length..length + 4)?.try_into().ok()?;
        length += 4;
        Some(key)
    } else {
        None
    };
    Some(FrameHeader {
        fin: first & 0x80 != 0,
        opcode: first & 0x0f,
        mask,
        payload_length,
        length,
    })
}

/// The length of the first frame in `bytes`, once all of it is there.
pub fn frame_length(bytes: &[u8]) -> Option<usize> {
    let header = parse_header(bytes)?;
    let total = header.length + header.payload_length;
    (bytes.len() >= total).then_some(total)
}

/// Masking and unmasking are the same XOR with the key, byte by byte.
pub fn mask(payload: &[u8], key: [u8; 4]) -> Vec<u8> {
    payload
        .iter()
        .zip(key.iter().cycle())
        .map(|(byte, k)| byte ^ k)
        .collect()
}

/// A frame: `first` holds FIN, the reserved bits and the opcode; the payload
/// is masked with `mask` when there is one, as a client must.
pub fn encode(first: u8, mask_key: Option<[u8; 4]>, payload: &[u8]) -> Vec<u8> {
    let mask_bit = if mask_key.is_some() { 0x80 } else { 0 };
    let mut frame = vec![first];
    match payload.len() {
        length @ 0..=125 => frame.push(mask_bit | length as u8),
        length @ 126..=65535 => {
            frame.push(mask_bit | 126);
            frame.extend((length as u16).to_be_bytes());
        }
        length => {
            frame.push(mask_bit | 127);
            frame.extend((length as u64).to_be_bytes());
        }
    }
    match mask_key {
        Some(key) => {
            frame.extend(key);
            frame.extend(mask(payload, key));
        }
        None => frame.extend_from_slice(payload),
    }
    frame
}

/// One frame as a client sends it: final, with `opcode`, masked with the
/// sample key.
pub fn masked_frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
    encode(0x80 | opcode, Some(SAMPLE_MASK), payload)
}

/// A decoded frame: whether it ends its message, its opcode and its
/// payload, unmasked.
#[derive(Debug, PartialEq)]
pub struct Frame {
    pub fin: bool,
    pub opcode: u8,
    pub payload: Vec<u8>,
}

/// Takes the first whole frame off the front of `bytes`, if it is there.
pub fn decode(bytes: &mut Vec<u8>) -> Option<Frame> {
    let header = parse_header(bytes)?;
    let total = frame_length(bytes)?;
    let rest = bytes.split_off(total);
    let frame = std::mem::replace(bytes, rest);
    let payload = &frame[header.length..];
    let payload = match header.mask {
        Some(key) => mask(payload, key),
        None => payload.to_vec(),
    };
    Some(Frame {
        fin: header.fin,
        opcode: header.opcode,
        payload,
    })
}

/// A WebSocket opened by hand over a plain TCP connection: the stream, and
/// the bytes read from it that are not yet taken as frames. It derefs to
/// the stream for writing raw bytes.
pub struct RawSocket {
    stream: TcpStream,
    unread: Vec<u8>,
}

impl Deref for RawSocket {
    type Target = TcpStream;
    fn deref(&self) -> &TcpStream {
        &self.stream
    }
}

impl DerefMut for RawSocket {
    fn deref_mut(&mut self) -> &mut TcpStream {
        &mut self.stream
    }
}

/// How a raw read of a frame failed.
#[derive(Debug)]
pub enum NoFrame {
    /// Nothing whole arrived within the wait.
    Late,
    /// The connection ended (or was reset), with this many bytes of a
    /// frame unread.
    Ended(usize),
    /// The server sent what no server may: a masked or oversized frame.
    Broken(String),
}

impl std::fmt::Display for NoFrame {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        match self {
            NoFrame::Late => write!(f, "no frame from the server in time"),
            NoFrame::Ended(0) => write!(f, "the connection ended"),
            NoFrame::Ended(left) => {
                write!(
                    f,
                    "the connection ended inside a frame ({left} bytes of it)"
                )
            }
            NoFrame::Broken(what) => write!(f, "{what}"),
        }
    }
}

impl std::error::Error for NoFrame {}

impl RawSocket {
    /// The stream, and what was read from it but not yet taken as frames:
    /// for a reader that takes frames its own way.
    pub fn into_parts(self) -> (TcpStream, Vec<u8>) {
        (self.stream, self.unread)
    }

    /// The next frame from the server, within `wait`.
    pub async fn frame(&mut self, wait: Duration) -> Result<Frame, NoFrame> {
        let read = async {
            loop {
                if let Some(header) = parse_header(&self.unread) {
                    if header.mask.is_some() {
                        return Err(NoFrame::Broken("the server sent a masked frame".into()));
                    }
                    if header.payload_length > 1 << 20 {
                        return Err(NoFrame::Broken(format!(
                            "the server sent a frame of {} bytes",
                            header.payload_length
                        )));
                    }
                }
                if let Some(frame) = decode(&mut self.unread) {
                    return Ok(frame);
                }
                match self.stream.read_buf(&mut self.unread).await {
                    Ok(0) | Err(_) => return Err(NoFrame::Ended(self.unread.len())),
                    Ok(_) => {}
                }
            }
        };
        timeout(wait, read).await.unwrap_or(Err(NoFrame::Late))
    }

    /// Reads frames until a close frame, within `ANSWER_TIMEOUT`, and
    /// returns its code and reason. Fails if the connection ends first.
    pub async fn close_frame(&mut self) -> anyhow::Result<(u16, String)> {
        let until = tokio::time::Instant::now() + ANSWER_TIMEOUT;
        loop {
            let left = until.saturating_duration_since(tokio::time::Instant::now());
            let frame = self.frame(left).await.map_err(|error| match error {
                NoFrame::Late => anyhow::anyhow!("no close frame in time"),
                other => anyhow::anyhow!("{other} before a close frame"),
            })?;
            if frame.opcode == CLOSE {
                ensure!(frame.payload.len() >= 2, "a close frame without a code");
                let code = u16::from_be_bytes([frame.payload[0], frame.payload[1]]);
                return Ok((
                    code,
                    String::from_utf8_lossy(&frame.payload[2..]).into_owned(),
                ));
            }
        }
    }
}

/// One frame from the server, within `wait`: its opcode and payload.
#[cfg(test)]
pub async fn read_frame(socket: &mut RawSocket, wait: Duration) -> anyhow::Result<(u8, Vec<u8>)> {
    let frame = socket.frame(wait).await?;
    Ok((frame.opcode, frame.payload))
}

/// Reads frames until a close frame and returns its code and reason.
pub async fn read_close_frame(socket: &mut RawSocket) -> anyhow::Result<(u16, String)> {
    socket.close_frame().await
}

/// Opens a WebSocket by hand: sends the upgrade request, reads the 101 up
/// to its blank line and then the first frame, which must be the greeting.
/// Frames the server sent together with it stay unread for the caller.
pub async fn greeted_raw(port: u16) -> anyhow::Result<RawSocket> {
    let stream = TcpStream::connect(("127.0.0.1", port))
        .await
        .context("cannot connect")?;
    let mut socket = upgrade_raw(stream, &upgrade_request(port)).await?;
    let first = socket
        .frame(ANSWER_TIMEOUT)
        .await
        .context("no greeting after the 101")?;
    ensure!(
        first.opcode == TEXT && first.payload == GREETING.as_bytes(),
        "the first frame is opcode {:#x} with {}, not the greeting {GREETING:?}",
        first.opcode,
        printable(&first.payload)
    );
    Ok(socket)
}

/// Sends the upgrade `request` over `stream` and reads the answer up to
/// its blank line, which must be a 101. What the server sent after it
/// stays unread for the caller.
pub async fn upgrade_raw(mut stream: TcpStream, request: &str) -> anyhow::Result<RawSocket> {
    stream.write_all(request.as_bytes()).await?;
    let mut unread = Vec::new();
    let head = async {
        loop {
            if let Some(end) = unread.windows(4).position(|window| window == b"\r\n\r\n") {
                return Ok(end + 4);
            }
            if stream.read_buf(&mut unread).await? == 0 {
                bail!("the connection ended; got {}", printable(&unread));
            }
        }
    };
    let end = timeout(ANSWER_TIMEOUT, head)
        .await
        .context("no answer to the upgrade request in time")??;
    ensure!(
        unread.starts_with(b"HTTP/1.1 101 "),
        "no 101: {}",
        printable(&unread)
    );
    let unread = unread.split_off(end);
    Ok(RawSocket { stream, unread })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip_at_every_length_class() {
        for length in [0, 5, 125, 126, 65535, 65536] {
            let payload: Vec<u8> = (0..length).map(|i| i as u8).collect();
            for key in [None, Some(SAMPLE_MASK)] {
                let mut bytes = encode(0x82, key, &payload);
                bytes.extend([0x89, 0]);
                let frame = decode(&mut bytes).expect("a whole frame");
                assert_eq!((frame.opcode, frame.payload.len()), (0x2, length));
                assert_eq!(frame.payload, payload);
                assert_eq!(bytes, [0x89, 0], "the next frame is left");
            }
        }
    }

    /// RFC 6455, section 5.7: "Hello" masked with the sample key.
    #[test]
    fn the_rfc_example_frames() {
        assert_eq!(
            masked_frame(TEXT, b"Hello"),
            [
                0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58
            ]
        );
        assert_eq!(
            encode(0x81, None, b"Hello"),
            [0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f]
        );
        let mut half = masked_frame(TEXT, b"Hello");
        half.pop();
        assert!(decode(&mut half).is_none(), "half a frame is not a frame");
    }

    #[test]
    fn the_sample_accept_is_the_rfcs() {
        let accept =
            tokio_tungstenite::tungstenite::handshake::derive_accept_key(SAMPLE_KEY.as_bytes());
        assert_eq!(accept, SAMPLE_ACCEPT);
    }
}

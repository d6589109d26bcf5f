//! `cargo xtask bytes`: a WebSocket's first bytes, shown one by one.
//!
//! Chapter 4 of the walkthroughs reads the opening handshake and the frames
//! byte by byte; this command lets a learner see the same bytes come from
//! the step running on their own machine. It speaks WebSocket by hand, with
//! no library in between: it writes the upgrade request, reads the answer up
//! to its blank line, and cuts the frames that follow at the lengths their
//! headers give (RFC 6455, section 5.2). It pings the server, and then
//! closes the connection politely, with a masked close frame as every
//! client frame must be. With `--stay-open` it waits for the server to
//! close instead, so that stopping the server shows its close frame.
//!
//! The walkthroughs' own byte listings (`docs::transcripts`) are made with
//! the same `RawConnection` and `describe_frame`.

use std::process::ExitCode;

use anyhow::{Context, bail, ensure};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;

use crate::steps::Running;
use crate::wire::ANSWER_TIMEOUT;

/// Where a step listens unless told otherwise.
const DEFAULT_ADDRESS: &str = "localhost:8080";

pub use crate::wire::{SAMPLE_KEY, masked_frame};
use crate::wire::{frame_length, mask, parse_header};

/// Close code 1000, normal closure.
const NORMAL_CLOSURE: u16 = 1000;

/// What the ping carries; the pong must carry it back.
pub const PING_PAYLOAD: &[u8] = b"tick";

/// The option that waits for the server to close.
const STAY_OPEN: &str = "--stay-open";

/// How the connection ends.
#[derive(Clone, Copy, PartialEq)]
pub enum Ending {
    /// This command closes it, with code 1000.
    WeClose,
    /// The server closes it, for instance when Ctrl+C stops it; this
    /// command waits as long as it takes, then answers.
    ServerCloses,
}

/// What `show` printed, and where in it two exchanges are.
#[derive(Default)]
pub struct Listing {
    pub lines: Vec<String>,
    /// The ping and its pong.
    pub ping: std::ops::Range<usize>,
    /// The close frame the server sent first, and the answer to it.
    pub server_close: std::ops::Range<usize>,
}

impl Listing {
    /// Adds and prints `lines`; returns where they are.
    fn add(&mut self, lines: Vec<String>, print: &(dyn Fn(&str) + Sync)) -> std::ops::Range<usize> {
        let start = self.lines.len();
        for line in lines {
            print(&line);
            self.lines.push(line);
        }
        start..self.lines.len()
    }
}

/// `cargo xtask bytes [ADDRESS] [--stay-open]`.
pub fn run(args: &[String]) -> anyhow::Result<ExitCode> {
    let ending = if args.iter().any(|arg| arg == STAY_OPEN) {
        Ending::ServerCloses
    } else {
        Ending::WeClose
    };
    let rest: Vec<&String> = args.iter().filter(|arg| *arg != STAY_OPEN).collect();
    let address = match rest[..] {
        [] => DEFAULT_ADDRESS.to_string(),
        [address] if !address.starts_with("--") => parse_address(address)?,
        _ => bail!(
            "`cargo xtask bytes` takes an address (such as 8081 or localhost:8081) and              {STAY_OPEN}, both optional: try `cargo xtask bytes 8081 {STAY_OPEN}`"
        ),
    };
    let runtime = tokio::runtime::Runtime::new()?;
    let mut listing = Listing::default();
    // Printed as they come: with --stay-open the wait may be long.
    let print = |line: &str| println!("{line}");
    let result = runtime.block_on(show(&address, ending, &mut listing, &print));
    result.map(|()| ExitCode::SUCCESS)
}

/// `8081`, `localhost:8081`, `127.0.0.1:8081`, `[::1]:8081` or
/// `ws://localhost:8081/` as `host:port`.
fn parse_address(given: &str) -> anyhow::Result<String> {
    if let Ok(port) = given.parse::<u16>() {
        return Ok(format!("localhost:{port}"));
    }
    let without_scheme = given.strip_prefix("ws://").unwrap_or(given);
    let host_and_port = without_scheme.split('/').next().unwrap_or_default();
    let port = host_and_port
        .rsplit_once(':')
        .and_then(|(host, port)| (!host.is_empty()).then_some(port)?.parse::<u16>().ok());
    match port {
        Some(_) => Ok(host_and_port.to_string()),
        None => bail!(
            "`{given}` is not a port or HOST:PORT: try `cargo xtask bytes 8081` or `cargo xtask bytes localhost:8081`"
        ),
    }
}

/// What `cargo xtask bytes --stay-open` lists when the server it talks to
/// is stopped with Ctrl+C once the command waits: chapter 4's close frame.
pub async fn listing_as_the_server_stops(server: &Running) -> anyhow::Result<Listing> {
    let waiting = std::sync::Arc::new(tokio::sync::Notify::new());
    let heard = waiting.clone();
    let print = move |line: &str| {
        if line.starts_with("Waiting for the server") {
            heard.notify_one();
        }
    };
    let mut listing = Listing::default();
    let address = format!("localhost:{}", server.port);
    let (shown, interrupted) = tokio::join!(
        show(&address, Ending::ServerCloses, &mut listing, &print),
        async {
            waiting.notified().await;
            server.interrupt()
        }
    );
    shown?;
    interrupted?;
    Ok(listing)
}

/// Opens a WebSocket to `address` (`host:port`) by hand and adds to
/// `listing` every byte sent and received: the upgrade request, the answer,
/// the first frame, a ping and its pong, and the closing handshake, begun
/// as `ending` says. Each line also goes to `print` as soon as it is known.
/// On an error, `listing` holds what was seen until then.
pub async fn show(
    address: &str,
    ending: Ending,
    listing: &mut Listing,
    print: &(dyn Fn(&str) + Sync),
) -> anyhow::Result<()> {
    let mut add = |lines: Vec<String>| listing.add(lines, print);
    add(vec![format!(
        "Talking WebSocket by hand to {address}: > is what this command sends, < what the server answers."
    )]);
    let request = upgrade_request(address);
    let mut connection = RawConnection::open(address, &request).await?;
    add(head_lines('>', &request));
    add(head_lines('<', &connection.head));
    let status_line = connection.head.lines().next().unwrap_or_default();
    ensure!(
        status_line.starts_with("HTTP/1.1 101 "),
        "{address} answered `{status_line}`, not `HTTP/1.1 101 Switching Protocols`: \
         is step 1 running there? Start it with `cargo run -p step1`"
    );

    let first = connection
        .frame()
        .await
        .context("no first frame after the handshake")?;
    add(describe_frame('<', &first));

    let ping = masked_frame(0x9, PING_PAYLOAD);
    connection
        .stream
        .write_all(&ping)
        .await
        .context("cannot send the ping")?;
    let mut ping_lines = describe_frame('>', &ping);
    let pong = connection.frame().await.context("no pong for the ping")?;
    ping_lines.extend(describe_frame('<', &pong));
    let ping_range = add(ping_lines);

    if ending == Ending::ServerCloses {
        add(vec![
            "Waiting for the server to close the connection: stop it with Ctrl+C where it runs."
                .to_string(),
        ]);
        let close = connection
            .frame_whenever()
            .await
            .context("the connection ended without a close frame")?;
        // The answer repeats the server's code, as RFC 6455 (section 5.5.1) has it.
        let code = parse_header(&close)
            .filter(|header| header.opcode == 0x8)
            .and_then(|header| close.get(header.length..header.length + 2))
            .map(|code| code.to_vec())
            .unwrap_or_default();
        let answer = masked_frame(0x8, &code);
        let _ = connection.stream.write_all(&answer).await;
        let mut close_lines = describe_frame('<', &close);
        close_lines.extend(describe_frame('>', &answer));
        let close_range = add(close_lines);
        listing.ping = ping_range;
        listing.server_close = close_range;
        return Ok(());
    }
    listing.ping = ping_range;
    let mut add = |lines: Vec<String>| listing.add(lines, print);

    let close = masked_frame(0x8, &NORMAL_CLOSURE.to_be_bytes());
    connection
        .stream
        .write_all(&close)
        .await
        .context("cannot send the close frame")?;
    add(describe_frame('>', &close));
    // The server answers with a close frame of its own; frames it sent
    // before reading ours (there are none from step 1) would come first.
    loop {
        let frame = connection
            .frame()
            .await
            .context("no close frame in answer to ours")?;
        add(describe_frame('<', &frame));
        if parse_header(&frame).is_some_and(|header| header.opcode == 0x8) {
            return Ok(());
        }
    }
}

/// The upgrade request a client sends to `address`, with the RFC's key.
pub fn upgrade_request(address: &str) -> String {
    format!(
        "GET / HTTP/1.1\r\nHost: {address}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: {SAMPLE_KEY}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
}

/// An HTTP head, one line per header line, with its `\r\n` made visible.
pub fn head_lines(direction: char, head: &str) -> Vec<String> {
    head.split_inclusive("\r\n")
        .map(|line| format!("{direction} {}", line.replace("\r\n", "\\r\\n")))
        .collect()
}

/// A WebSocket read byte by byte, without a library in between.
pub struct RawConnection {
    pub stream: TcpStream,
    /// The server's answer to the upgrade request, up to its blank line.
    pub head: String,
    /// Bytes read but not used yet.
    unread: Vec<u8>,
}

impl RawConnection {
    /// Connects to `address` (`host:port`), sends `request` and reads the
    /// answer's head.
    pub async fn open(address: &str, request: &str) -> anyhow::Result<RawConnection> {
        let stream = match TcpStream::connect(address).await {
            Ok(stream) => stream,
            Err(error) if error.kind() == std::io::ErrorKind::ConnectionRefused => bail!(
                "nothing is listening on {address}: start step 1 first \
                 (cargo run -p step1 in another terminal), then run this again"
            ),
            Err(error) => return Err(error).context(format!("cannot connect to {address}")),
        };
        let mut connection = RawConnection {
            stream,
            head: String::new(),
            unread: Vec::new(),
        };
        connection
            .stream
            .write_all(request.as_bytes())
            .await
            .context("cannot send the upgrade request")?;
        let end = loop {
            if let Some(at) = connection.unread.windows(4).position(|w| w == b"\r\n\r\n") {
                break at + 4;
            }
            connection
                .read_more(Some(ANSWER_TIMEOUT))
                .await
                .context("no complete answer to the upgrade request")?;
        };
        let rest = connection.unread.split_off(end);
        connection.head = String::from_utf8_lossy(&connection.unread).into_owned();
        connection.unread = rest;
        Ok(connection)
    }

    async fn read_more(&mut self, wait: Option<std::time::Duration>) -> anyhow::Result<()> {
        let mut chunk = [0; 1024];
        let read = match wait {
            Some(wait) => timeout(wait, self.stream.read(&mut chunk))
                .await
                .with_context(|| format!("the server sent nothing more within {wait:?}"))??,
            None => self.stream.read(&mut chunk).await?,
        };
        ensure!(read > 0, "the server closed the connection");
        self.unread.extend_from_slice(&chunk[..read]);
        Ok(())
    }

    /// The next whole frame, header and payload, within `ANSWER_TIMEOUT`.
    pub async fn frame(&mut self) -> anyhow::Result<Vec<u8>> {
        self.frame_within(Some(ANSWER_TIMEOUT)).await
    }

    /// The next whole frame, however long it takes.
    async fn frame_whenever(&mut self) -> anyhow::Result<Vec<u8>> {
        self.frame_within(None).await
    }

    async fn frame_within(&mut self, wait: Option<std::time::Duration>) -> anyhow::Result<Vec<u8>> {
        loop {
            if let Some(length) = frame_length(&self.unread) {
                let rest = self.unread.split_off(length);
                return Ok(std::mem::replace(&mut self.unread, rest));
            }
            self.read_more(wait).await?;
        }
    }
}

/// A frame as hex, one line per part, each with what it means.
pub fn describe_frame(direction: char, frame: &[u8]) -> Vec<String> {
    let Some(header) = parse_header(frame) else {
        return vec![format!("{direction} {} (not a whole frame)", hex(frame))];
    };
    let kind = match header.opcode {
        0x0 => "continuation",
        0x1 => "text",
        0x2 => "binary",
        0x8 => "close",
        0x9 => "ping",
        0xa => "pong",
        _ => "reserved opcode",
    };
    let fin = if header.fin { "FIN" } else { "not FIN" };
    let masked = if header.mask.is_some() {
        "masked"
    } else {
        "not masked"
    };
    let size_bytes = header.length - if header.mask.is_some() { 4 } else { 0 };
    let mut parts = vec![(
        frame[..size_bytes].to_vec(),
        format!(
            "{fin}, {kind}, {masked}, payload {} bytes",
            header.payload_length
        ),
    )];
    let mut payload = frame[header.length..].to_vec();
    if let Some(key) = header.mask {
        parts.push((key.to_vec(), "masking key".to_string()));
        let clear = mask(&payload, key);
        let meaning = match close_code(header.opcode, &clear) {
            Some(code) => format!("close code {code}"),
            None => format!("{:?}", text(&clear)),
        };
        parts.push((
            payload.clone(),
            format!("payload, masked ({meaning} unmasked)"),
        ));
        payload = Vec::new();
    }
    if let Some(code) = close_code(header.opcode, &payload) {
        parts.push((payload[..2].to_vec(), format!("close code {code}")));
        payload.drain(..2);
    }
    if !payload.is_empty() {
        let about = format!("{:?}", text(&payload));
        parts.push((payload, about));
    }
    let width = parts
        .iter()
        .map(|(bytes, _)| bytes.len() * 3)
        .max()
        .unwrap_or(0);
    parts
        .iter()
        .map(|(bytes, about)| format!("{direction} {:<width$} {about}", hex(bytes)))
        .collect()
}

/// The code a close frame's (unmasked) payload starts with, if it has one.
fn close_code(opcode: u8, payload: &[u8]) -> Option<u16> {
    match payload {
        [high, low, ..] if opcode == 0x8 => Some(u16::from_be_bytes([*high, *low])),
        _ => None,
    }
}

fn hex(bytes: &[u8]) -> String {
    let pairs: Vec<String> = bytes.iter().map(|byte| format!("{byte:02x}")).collect();
    pairs.join(" ")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::steps::{self, Running};

    #[test]
    fn addresses_are_a_port_or_host_and_port() {
        assert_eq!(parse_address("8081").unwrap(), "localhost:8081");
        assert_eq!(parse_address("127.0.0.1:8081").unwrap(), "127.0.0.1:8081");
        assert_eq!(parse_address("[::1]:8081").unwrap(), "[::1]:8081");
        assert_eq!(
            parse_address("ws://localhost:8081/").unwrap(),
            "localhost:8081"
        );
        let problem = parse_address("localhost").unwrap_err().to_string();
        assert!(problem.contains("cargo xtask bytes 8081"), "{problem}");
    }

    /// Against the real step 1: the request, the 101 with the RFC's accept
    /// value, the greeting as `81 11`, and a closing handshake with 1000.
    #[tokio::test]
    async fn shows_the_handshake_the_greeting_and_the_close() {
        steps::build().unwrap();
        let server = Running::start("step1").await.unwrap();
        let mut listing = Listing::default();
        show(
            &format!("localhost:{}", server.port),
            Ending::WeClose,
            &mut listing,
            &|_| {},
        )
        .await
        .unwrap();
        let lines = &listing.lines;
        let has = |start: &str| lines.iter().any(|line| line.starts_with(start));
        assert!(has("> GET / HTTP/1.1\\r\\n"), "{lines:#?}");
        assert!(
            has("< HTTP/1.1 101 Switching Protocols\\r\\n"),
            "{lines:#?}"
        );
        assert!(
            has(&format!(
                "< Sec-WebSocket-Accept: {}\\r\\n",
                crate::wire::SAMPLE_ACCEPT
            )),
            "{lines:#?}"
        );
        assert!(has("< 81 11 "), "{lines:#?}");
        let ping = &lines[listing.ping.clone()];
        assert!(
            ping.first().unwrap().starts_with("> 89 84 ")
                && ping.iter().any(|line| line.starts_with("< 8a 04 "))
                && ping.last().unwrap().ends_with("\"tick\""),
            "{ping:#?}"
        );
        assert!(
            lines
                .iter()
                .any(|line| line.starts_with("< ") && line.ends_with("\"Hello, WebSocket!\"")),
            "{lines:#?}"
        );
        assert!(
            has("> 88 82 ") && lines.last().unwrap().ends_with("close code 1000"),
            "{lines:#?}"
        );
        let closed = server
            .output
            .wait_for(0, crate::wire::PROMPTLY, |line| {
                line.starts_with("Disconnected:") && line.contains("closed")
            })
            .await;
        assert!(closed.is_some(), "{:?}", server.output.lines());
    }

    /// With `--stay-open`, Ctrl+C in step 1 shows its 1001 close frame,
    /// and the answer repeats the code.
    #[tokio::test]
    async fn staying_open_shows_the_close_frame_of_a_server_that_stops() {
        steps::build().unwrap();
        let server = Running::start("step1").await.unwrap();
        let listing = listing_as_the_server_stops(&server).await.unwrap();
        let close = &listing.lines[listing.server_close.clone()];
        assert!(
            close[0].starts_with("< 88 16 ")
                && close[1].starts_with("< 03 e9 ")
                && close[1].ends_with("close code 1001")
                && close[2].ends_with("\"server shutting down\""),
            "{close:#?}"
        );
        assert!(
            close[3].starts_with("> 88 82 ")
                && close
                    .last()
                    .unwrap()
                    .ends_with("(close code 1001 unmasked)"),
            "{close:#?}"
        );
        assert!(listing.lines[listing.ping.clone()][0].starts_with("> 89 84 "));
    }

    /// With nothing listening, the error names the address and the way to
    /// start step 1.
    #[tokio::test]
    async fn nothing_listening_says_how_to_start_step1() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut listing = Listing::default();
        let problem = show(
            &format!("127.0.0.1:{port}"),
            Ending::WeClose,
            &mut listing,
            &|_| {},
        )
        .await
        .unwrap_err()
        .to_string();
        assert!(
            problem.contains(&format!("nothing is listening on 127.0.0.1:{port}"))
                && problem.contains("cargo run -p step1"),
            "{problem}"
        );
    }

    /// A server that is not a WebSocket server (step 1 asked without the
    /// upgrade would answer 426; here a plain answer) is named as such.
    #[tokio::test]
    async fn a_server_that_does_not_upgrade_is_named() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            let (mut stream, _) = listener.accept().await.unwrap();
            let mut buffer = [0; 1024];
            let _ = stream.read(&mut buffer).await;
            let answer = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi";
            let _ = stream.write_all(answer.as_bytes()).await;
        });
        let mut listing = Listing::default();
        let problem = show(
            &format!("127.0.0.1:{port}"),
            Ending::WeClose,
            &mut listing,
            &|_| {},
        )
        .await
        .unwrap_err()
        .to_string();
        let lines = &listing.lines;
        assert!(
            problem.contains("answered `HTTP/1.1 200 OK`")
                && problem.contains("cargo run -p step1"),
            "{problem}"
        );
        assert!(
            lines.contains(&"< HTTP/1.1 200 OK\\r\\n".to_string()),
            "{lines:#?}"
        );
    }
}

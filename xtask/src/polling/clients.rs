//! The clients, which play the browser: the requests a browser sends,
//! and the five ways of receiving the updates.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail, ensure};
use futures_util::StreamExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::time::{Instant, MissedTickBehavior};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::Role;

use super::counted::{Counted, Counts};
use super::servers::{Ends, read_head};

/// How the updates reach a client.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Way {
    /// The page asks "anything new?" at a fixed interval, as
    /// `setInterval(() => fetch(...), interval)` does.
    Polling(Duration),
    /// The page asks, and the server holds the question until there is
    /// news; the page asks again as soon as the answer arrives.
    LongPolling,
    /// One WebSocket; the server sends each update as a frame.
    WebSocket,
}

/// The request Chromium 156 (headless, on Linux) sent for
/// `fetch('/updates?after=0')` from a page the same server had served,
/// captured with a loopback listener that printed what it received; only
/// the target changes here (and long polling adds `&wait=true`). A desktop
/// window says `Chrome/` where headless says `HeadlessChrome/`, and a site
/// with cookies would add them to every request too.
pub fn poll_request(port: u16, after: usize, wait: bool) -> String {
    let wait = if wait { "&wait=true" } else { "" };
    format!(
        "GET /updates?after={after}{wait} HTTP/1.1\r\n\
         Host: localhost:{port}\r\n\
         Connection: keep-alive\r\n\
         sec-ch-ua-platform: \"Linux\"\r\n\
         User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/156.0.0.0 Safari/537.36\r\n\
         sec-ch-ua: \"Not:A-Brand\";v=\"8\", \"Chromium\";v=\"156\"\r\n\
         sec-ch-ua-mobile: ?0\r\n\
         Accept: */*\r\n\
         Sec-Fetch-Site: same-origin\r\n\
         Sec-Fetch-Mode: cors\r\n\
         Sec-Fetch-Dest: empty\r\n\
         Referer: http://localhost:{port}/\r\n\
         Accept-Encoding: gzip, deflate, br, zstd\r\n\
         Accept-Language: en-US,en;q=0.9\r\n\r\n"
    )
}

/// Any 16 bytes in base64 will do as the key; this is RFC 6455's sample.
pub const WEBSOCKET_KEY: &str = crate::wire::SAMPLE_KEY;

/// The upgrade request the same Chromium sent for
/// `new WebSocket('ws://localhost:PORT/')`, captured the same way. The page
/// came from the polling server, whose address is the `Origin`. The server
/// here, like the steps, does not take up the offer of compression.
pub fn upgrade_request(port: u16, page_port: u16) -> String {
    format!(
        "GET / HTTP/1.1\r\n\
         Host: localhost:{port}\r\n\
         Connection: Upgrade\r\n\
         Pragma: no-cache\r\n\
         Cache-Control: no-cache\r\n\
         User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/156.0.0.0 Safari/537.36\r\n\
         Upgrade: websocket\r\n\
         Origin: http://localhost:{page_port}\r\n\
         Sec-WebSocket-Version: 13\r\n\
         Accept-Encoding: gzip, deflate, br, zstd\r\n\
         Accept-Language: en-US,en;q=0.9\r\n\
         Sec-WebSocket-Key: {WEBSOCKET_KEY}\r\n\
         Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\r\n"
    )
}

/// What a client saw, once it had every update.
pub struct Received {
    pub ends: Ends,
    pub counts: Arc<Counts>,
    pub setup_bytes: u64,
    pub answers: usize,
    pub empty_answers: usize,
    /// (update number, when it arrived), in order of arrival.
    pub arrivals: Vec<(usize, Instant)>,
}

impl Received {
    /// Nothing received yet on `stream`; what it carried so far was setup.
    fn nothing_yet(stream: &Counted<TcpStream>) -> anyhow::Result<Received> {
        let counts = stream.counts();
        Ok(Received {
            ends: (
                stream.inner.peer_addr()?.port(),
                stream.inner.local_addr()?.port(),
            ),
            setup_bytes: counts.total(),
            counts,
            answers: 0,
            empty_answers: 0,
            arrivals: Vec::new(),
        })
    }
}

/// A keep-alive connection to the polling server, as a browser holds one.
pub async fn connect_http(port: u16) -> anyhow::Result<BufReader<Counted<TcpStream>>> {
    let stream = TcpStream::connect(("127.0.0.1", port)).await?;
    Ok(BufReader::new(Counted::new(stream)))
}

/// Connects and completes the opening handshake, checking the server's
/// accept value as a browser does.
pub async fn connect_websocket(
    port: u16,
    page_port: u16,
) -> anyhow::Result<WebSocketStream<BufReader<Counted<TcpStream>>>> {
    let stream = TcpStream::connect(("127.0.0.1", port)).await?;
    let mut connection = BufReader::new(Counted::new(stream));
    connection
        .write_all(upgrade_request(port, page_port).as_bytes())
        .await?;
    let head = read_head(&mut connection).await?;
    let expected_accept = format!(
        "sec-websocket-accept: {}",
        derive_accept_key(WEBSOCKET_KEY.as_bytes())
    );
    ensure!(
        head.first().is_some_and(|line| line.contains(" 101 "))
            && head
                .iter()
                .any(|line| line.to_lowercase() == expected_accept.to_lowercase()),
        "the server did not accept the upgrade: {head:?}"
    );
    Ok(WebSocketStream::from_raw_socket(connection, Role::Client, None).await)
}

/// Polls (every `interval`, or long polling) until all `updates` arrived.
pub async fn receive_answers(
    mut connection: BufReader<Counted<TcpStream>>,
    way: Way,
    updates: usize,
    port: u16,
) -> anyhow::Result<Received> {
    let mut received = Received::nothing_yet(connection.get_ref())?;
    match way {
        Way::Polling(interval) => {
            let mut ticks = tokio::time::interval(interval);
            ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
            while received.arrivals.len() < updates {
                ticks.tick().await;
                poll(&mut connection, port, false, &mut received).await?;
            }
        }
        Way::LongPolling => {
            while received.arrivals.len() < updates {
                poll(&mut connection, port, true, &mut received).await?;
            }
        }
        Way::WebSocket => bail!("a WebSocket has no answers to poll for"),
    }
    Ok(received)
}

/// Reads frames until all `updates` arrived.
pub async fn receive_frames(
    mut socket: WebSocketStream<BufReader<Counted<TcpStream>>>,
    updates: usize,
) -> anyhow::Result<Received> {
    let mut received = Received::nothing_yet(socket.get_ref().get_ref())?;
    while received.arrivals.len() < updates {
        let message = socket
            .next()
            .await
            .context("the server closed the WebSocket")??;
        let arrived = Instant::now();
        let numbers = update_numbers(message.to_text()?)?;
        received
            .arrivals
            .extend(numbers.into_iter().map(|number| (number, arrived)));
    }
    Ok(received)
}

/// One request for the updates after those already received, and its
/// answer, read to the end of its body.
pub async fn poll(
    connection: &mut BufReader<Counted<TcpStream>>,
    port: u16,
    wait: bool,
    received: &mut Received,
) -> anyhow::Result<()> {
    let request = poll_request(port, received.arrivals.len(), wait);
    connection.write_all(request.as_bytes()).await?;
    let head = read_head(connection).await?;
    ensure!(
        head.first().is_some_and(|line| line.contains(" 200 ")),
        "the server answered {head:?}"
    );
    let length: usize = head
        .iter()
        .find_map(|line| line.strip_prefix("Content-Length: "))
        .context("the answer has no Content-Length")?
        .parse()?;
    let mut body = vec![0; length];
    connection.read_exact(&mut body).await?;
    let arrived = Instant::now();
    let numbers = update_numbers(std::str::from_utf8(&body)?)?;
    received.answers += 1;
    if numbers.is_empty() {
        received.empty_answers += 1;
    }
    received
        .arrivals
        .extend(numbers.into_iter().map(|n| (n, arrived)));
    Ok(())
}

/// The update numbers in one update (`{"update":7}`) or an array of them.
pub fn update_numbers(json: &str) -> anyhow::Result<Vec<usize>> {
    let value: serde_json::Value =
        serde_json::from_str(json).with_context(|| format!("not JSON: {json:?}"))?;
    let updates = match value {
        serde_json::Value::Array(updates) => updates,
        single => vec![single],
    };
    updates
        .iter()
        .map(|update| {
            update["update"]
                .as_u64()
                .map(|number| number as usize)
                .with_context(|| format!("not an update: {update}"))
        })
        .collect()
}

//! `cargo xtask polling`: chapter 0's comparison of polling and WebSocket,
//! measured instead of claimed.
//!
//! One stream of updates (30 of them, 100 ms apart on average) goes at the
//! same time to five clients, each of which receives it in its own way: HTTP
//! polling every 1 s, every 250 ms and every 50 ms, long polling, and a
//! WebSocket. Servers and clients all live in this process, but they talk
//! over real TCP connections on loopback, on ports the system picks.
//!
//! Every socket is wrapped in [`Counted`], which counts the bytes that are
//! really read from it and written to it. The figures printed are therefore
//! what crossed each connection in both directions, HTTP headers and
//! WebSocket framing included (TCP and IP add their own packet headers on
//! top, which no program sees). The client's counts are checked against the
//! server's at the end: both ends of a connection must agree.
//!
//! For each way it prints the bytes per update, how many polls came back
//! empty, and the delay from an update being produced to its client having
//! it: the median and the worst.

use std::io::Write;
use std::pin::Pin;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context as TaskContext, Poll};
use std::time::Duration;

use anyhow::{Context, bail, ensure};
use futures_util::{SinkExt, StreamExt};
use tokio::io::{
    AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader, ReadBuf,
};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio::time::{Instant, MissedTickBehavior, timeout};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::Role;

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

impl Way {
    fn label(self) -> String {
        match self {
            Way::Polling(interval) => format!("polling every {}", duration(interval)),
            Way::LongPolling => "long polling".to_string(),
            Way::WebSocket => "WebSocket".to_string(),
        }
    }
}

/// What to measure: how many updates, how far apart on average, and which
/// ways.
pub struct Plan {
    pub updates: usize,
    pub every: Duration,
    pub ways: Vec<Way>,
}

impl Plan {
    /// The run `cargo xtask polling` makes and chapter 0 shows: about 3 s.
    pub fn standard() -> Plan {
        Plan {
            updates: 30,
            every: Duration::from_millis(100),
            ways: vec![
                Way::Polling(Duration::from_secs(1)),
                Way::Polling(Duration::from_millis(250)),
                Way::Polling(Duration::from_millis(50)),
                Way::LongPolling,
                Way::WebSocket,
            ],
        }
    }

    /// When each update is produced, counted from the start: at irregular
    /// moments, as real news comes, `every` apart on average (each gap is
    /// between a fifth of it and 1.8 times it). Strictly regular updates
    /// would line up with the polls: a poll every 50 ms would always ask
    /// just after an update, and its delay would show that accident of
    /// timing rather than the interval. The gaps come from a fixed
    /// pseudo-random sequence (xorshift), so every run sends the same
    /// stream.
    fn moments(&self) -> Vec<Duration> {
        let mut state: u32 = 2_463_534_242;
        let mut at = Duration::ZERO;
        (0..self.updates)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 17;
                state ^= state << 5;
                let share = 0.2 + 1.6 * (f64::from(state) / f64::from(u32::MAX));
                at += self.every.mul_f64(share);
                at
            })
            .collect()
    }

    /// How long the whole run may take before it counts as stuck: the
    /// stream itself, one slowest poll after it, and plenty of slack for a
    /// busy machine.
    fn deadline(&self) -> Duration {
        let slowest_poll = self
            .ways
            .iter()
            .map(|way| match way {
                Way::Polling(interval) => *interval,
                _ => Duration::ZERO,
            })
            .max()
            .unwrap_or_default();
        let last_update = self.moments().last().copied().unwrap_or_default();
        last_update + slowest_poll + Duration::from_secs(10)
    }
}

/// What one way of delivering the updates cost.
#[derive(Clone, Debug)]
pub struct Measured {
    pub way: Way,
    /// Bytes both ends wrote before the first update could flow: the
    /// WebSocket's opening handshake. Zero for polling.
    pub setup_bytes: u64,
    /// Bytes both ends wrote from then until the last update arrived.
    pub stream_bytes: u64,
    /// HTTP answers received, and how many of them carried no update.
    /// Both zero for the WebSocket, which has no answers.
    pub answers: usize,
    pub empty_answers: usize,
    /// For each update, from its production to its arrival, sorted.
    pub delays: Vec<Duration>,
}

impl Measured {
    pub fn bytes_per_update(&self) -> f64 {
        self.stream_bytes as f64 / self.delays.len().max(1) as f64
    }

    pub fn median_delay(&self) -> Duration {
        self.delays
            .get(self.delays.len() / 2)
            .copied()
            .unwrap_or_default()
    }

    pub fn worst_delay(&self) -> Duration {
        self.delays.last().copied().unwrap_or_default()
    }
}

/// `cargo xtask polling`.
pub fn run(args: &[String]) -> anyhow::Result<ExitCode> {
    if let Some(extra) = args.first() {
        bail!("`cargo xtask polling` takes no options, not `{extra}`: run it as it is");
    }
    let plan = Plan::standard();
    let runtime = tokio::runtime::Runtime::new()?;
    let measured = runtime.block_on(measure(&plan, show_progress));
    // Wipe the progress line, so that the table (or an error) starts on a
    // clean line.
    print!("\r{:70}\r", "");
    let _ = std::io::stdout().flush();
    for line in report(&plan, &measured?) {
        println!("{line}");
    }
    Ok(ExitCode::SUCCESS)
}

fn show_progress(sent: usize, of: usize) {
    if sent < of {
        print!("\rmeasuring: update {sent} of {of} sent");
    } else {
        print!("\rmeasuring: all {of} updates sent, waiting for the slowest poll");
    }
    let _ = std::io::stdout().flush();
}

/// What chapter 0 shows: the command and its table.
pub async fn transcript() -> anyhow::Result<Vec<String>> {
    let plan = Plan::standard();
    let measured = measure(&plan, |_, _| {}).await?;
    let mut lines = vec!["$ cargo xtask polling".to_string()];
    lines.extend(report(&plan, &measured));
    Ok(lines)
}

/// The table a learner reads: one row per way, figures right-aligned.
pub fn report(plan: &Plan, measured: &[Measured]) -> Vec<String> {
    let mut lines = vec![
        format!(
            "{} updates, {} apart on average, sent to {} clients at once over loopback TCP:",
            plan.updates,
            duration(plan.every),
            measured.len()
        ),
        String::new(),
        format!(
            "{:<20}  {:>16}  {:>13}  {:>12}  {:>11}",
            "", "bytes per update", "empty answers", "delay median", "delay worst"
        ),
    ];
    for result in measured {
        let empty = match result.way {
            Way::WebSocket => "-".to_string(),
            _ => format!(
                "{:.0}%",
                100.0 * result.empty_answers as f64 / result.answers.max(1) as f64
            ),
        };
        lines.push(format!(
            "{:<20}  {:>16}  {:>13}  {:>12}  {:>11}",
            result.way.label(),
            format!("{:.0} B", result.bytes_per_update()),
            empty,
            duration(result.median_delay()),
            duration(result.worst_delay()),
        ));
    }
    lines.push(String::new());
    lines.push(
        "bytes per update: what both ends wrote on the connection, headers included, divided by the updates"
            .to_string(),
    );
    lines.push("delay: from an update being produced to its client having it".to_string());
    for result in measured.iter().filter(|result| result.setup_bytes > 0) {
        lines.push(format!(
            "The {} also wrote {} B once, for its opening handshake.",
            result.way.label(),
            result.setup_bytes
        ));
    }
    lines
}

/// `1s`, `250ms`, `12ms`, `0.4ms`: whole milliseconds unless it is short.
fn duration(duration: Duration) -> String {
    let millis = duration.as_secs_f64() * 1000.0;
    if millis >= 1000.0 && duration.subsec_nanos() == 0 {
        format!("{}s", duration.as_secs())
    } else if millis >= 10.0 {
        format!("{millis:.0}ms")
    } else {
        format!("{millis:.1}ms")
    }
}

/// Runs the plan: starts both servers, connects one client per way, then
/// produces the updates and waits until every client has all of them.
/// `progress` hears (updates sent, updates planned) after each update.
pub async fn measure(
    plan: &Plan,
    progress: impl Fn(usize, usize),
) -> anyhow::Result<Vec<Measured>> {
    let feed = Arc::new(Feed::new());
    let mut servers = JoinSet::new();
    let server_ends = Arc::new(Mutex::new(Vec::new()));
    let http_port = listen(&mut servers, &feed, &server_ends, Protocol::Http).await?;
    let websocket_port = listen(&mut servers, &feed, &server_ends, Protocol::WebSocket).await?;

    // Every client is connected (and the WebSocket handshake done) before
    // the first update, so that no way starts late.
    let mut receiving = Vec::new();
    for &way in &plan.ways {
        let cannot_connect = || format!("{}: cannot connect to the server", way.label());
        let client = match way {
            Way::WebSocket => {
                let socket = connect_websocket(websocket_port, http_port)
                    .await
                    .with_context(cannot_connect)?;
                tokio::spawn(receive_frames(socket, plan.updates))
            }
            Way::Polling(_) | Way::LongPolling => {
                let connection = connect_http(http_port).await.with_context(cannot_connect)?;
                tokio::spawn(receive_answers(connection, way, plan.updates, http_port))
            }
        };
        receiving.push(client);
    }

    let deadline = plan.deadline();
    let producing = async {
        progress(0, plan.updates);
        let start = Instant::now();
        for (number, moment) in (1..).zip(plan.moments()) {
            tokio::time::sleep_until(start + moment).await;
            feed.publish(number);
            progress(number, plan.updates);
        }
    };
    let all_received = async {
        producing.await;
        let mut received = Vec::new();
        for client in receiving {
            received.push(client.await);
        }
        received
    };
    let received = timeout(deadline, all_received).await.with_context(|| {
        format!(
            "the clients did not get all {} updates within {deadline:?}; is the machine very \
             busy? Run it again when it is quieter",
            plan.updates
        )
    })?;

    let produced = feed.produced_at();
    let mut measured = Vec::new();
    for (&way, outcome) in plan.ways.iter().zip(received) {
        let done = outcome
            .context("a client stopped unexpectedly")?
            .with_context(|| way.label())?;
        ensure_ends_agree(way, &done, &server_ends)?;
        let mut delays: Vec<Duration> = done
            .arrivals
            .iter()
            .map(|(number, arrived)| arrived.duration_since(produced[number - 1]))
            .collect();
        delays.sort();
        measured.push(Measured {
            way,
            setup_bytes: done.setup_bytes,
            stream_bytes: done.counts.total() - done.setup_bytes,
            answers: done.answers,
            empty_answers: done.empty_answers,
            delays,
        });
    }
    servers.abort_all();
    Ok(measured)
}

/// The client and the server of one connection must have counted the same
/// bytes, each one's writes being the other's reads. A counter that missed
/// or invented bytes shows up here.
fn ensure_ends_agree(way: Way, client: &Received, server_ends: &ServerEnds) -> anyhow::Result<()> {
    let server_ends = server_ends
        .lock()
        .expect("no thread panics holding the list");
    let server = server_ends
        .iter()
        .find(|(ends, _)| *ends == client.ends)
        .map(|(_, counts)| counts)
        .with_context(|| format!("{}: the server never saw this client", way.label()))?;
    let (client_read, client_written) = client.counts.snapshot();
    let (server_read, server_written) = server.snapshot();
    ensure!(
        client_written == server_read && server_written == client_read,
        "{}: the two ends counted different bytes (client wrote {client_written}, server read \
         {server_read}; server wrote {server_written}, client read {client_read}), so the \
         counting is wrong",
        way.label()
    );
    Ok(())
}

// ---------------------------------------------------------------------------
// Counting the bytes on a socket

/// Bytes read from and written to one socket so far.
#[derive(Default, Debug)]
pub struct Counts {
    read: AtomicU64,
    written: AtomicU64,
}

impl Counts {
    /// (read, written).
    pub fn snapshot(&self) -> (u64, u64) {
        (
            self.read.load(Ordering::SeqCst),
            self.written.load(Ordering::SeqCst),
        )
    }

    pub fn total(&self) -> u64 {
        let (read, written) = self.snapshot();
        read + written
    }
}

/// A socket that counts what passes through it. It adds the number of
/// bytes each read really filled and each write really accepted, which
/// can be fewer than asked for: that is what reached the connection.
pub struct Counted<S> {
    inner: S,
    counts: Arc<Counts>,
}

impl<S> Counted<S> {
    pub fn new(inner: S) -> Counted<S> {
        Counted {
            inner,
            counts: Arc::default(),
        }
    }

    pub fn counts(&self) -> Arc<Counts> {
        Arc::clone(&self.counts)
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Counted<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        context: &mut TaskContext<'_>,
        buffer: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buffer.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(context, buffer);
        let read = buffer.filled().len() - before;
        self.counts.read.fetch_add(read as u64, Ordering::SeqCst);
        polled
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Counted<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        context: &mut TaskContext<'_>,
        bytes: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(context, bytes);
        if let Poll::Ready(Ok(written)) = polled {
            self.counts
                .written
                .fetch_add(written as u64, Ordering::SeqCst);
        }
        polled
    }

    fn poll_flush(
        mut self: Pin<&mut Self>,
        context: &mut TaskContext<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(context)
    }

    fn poll_shutdown(
        mut self: Pin<&mut Self>,
        context: &mut TaskContext<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(context)
    }
}

// ---------------------------------------------------------------------------
// The updates, and the servers that hand them out

/// The updates produced so far, shared by both servers.
struct Feed {
    /// Each update's text and the moment it was produced, in order.
    updates: Mutex<Vec<(String, Instant)>>,
    /// How many updates exist; servers holding a question wait on it.
    count: watch::Sender<usize>,
}

impl Feed {
    fn new() -> Feed {
        Feed {
            updates: Mutex::new(Vec::new()),
            count: watch::Sender::new(0),
        }
    }

    /// Update `number` (counted from 1) as a small JSON object, the kind of
    /// thing a live page receives: `{"update":7}`.
    fn text_of(number: usize) -> String {
        format!("{{\"update\":{number}}}")
    }

    fn publish(&self, number: usize) {
        let mut updates = self
            .updates
            .lock()
            .expect("no thread panics holding the feed");
        updates.push((Feed::text_of(number), Instant::now()));
        drop(updates);
        self.count.send_replace(number);
    }

    /// The updates after the first `after`, as a JSON array.
    fn json_after(&self, after: usize) -> String {
        let updates = self
            .updates
            .lock()
            .expect("no thread panics holding the feed");
        let texts: Vec<&str> = updates
            .iter()
            .skip(after)
            .map(|(text, _)| text.as_str())
            .collect();
        format!("[{}]", texts.join(","))
    }

    fn produced_at(&self) -> Vec<Instant> {
        let updates = self
            .updates
            .lock()
            .expect("no thread panics holding the feed");
        updates.iter().map(|(_, at)| *at).collect()
    }
}

/// A loopback connection, named by its two ports: (server, client).
type Ends = (u16, u16);

/// The byte counts of every connection the servers accepted.
type ServerEnds = Mutex<Vec<(Ends, Arc<Counts>)>>;

#[derive(Clone, Copy)]
enum Protocol {
    Http,
    WebSocket,
}

/// Listens on a free loopback port and serves every connection with
/// `protocol`, recording each connection's byte counts under its ends so
/// that they can be compared with the client's own.
async fn listen(
    servers: &mut JoinSet<()>,
    feed: &Arc<Feed>,
    server_ends: &Arc<ServerEnds>,
    protocol: Protocol,
) -> anyhow::Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .context("cannot listen on a loopback port")?;
    let port = listener.local_addr()?.port();
    let (feed, server_ends) = (Arc::clone(feed), Arc::clone(server_ends));
    servers.spawn(async move {
        let mut connections = JoinSet::new();
        while let Ok((stream, peer)) = listener.accept().await {
            let stream = Counted::new(stream);
            server_ends
                .lock()
                .expect("no thread panics holding the list")
                .push(((port, peer.port()), stream.counts()));
            let feed = Arc::clone(&feed);
            connections.spawn(async move {
                // A failed connection shows at its client, which then
                // misses updates; the server has nothing to add.
                let _ = match protocol {
                    Protocol::Http => answer_polls(stream, feed).await,
                    Protocol::WebSocket => push_updates(stream, feed).await,
                };
            });
        }
    });
    Ok(port)
}

/// A small HTTP/1.1 server for `GET /updates?after=N`: it answers with the
/// updates after the first N, at once, or, with `&wait=true` (long
/// polling), as soon as there is at least one. Connections stay open for
/// the next request, as browsers keep them.
async fn answer_polls(stream: Counted<TcpStream>, feed: Arc<Feed>) -> anyhow::Result<()> {
    let mut connection = BufReader::new(stream);
    let mut news = feed.count.subscribe();
    loop {
        let head = read_head(&mut connection).await?;
        let Some(request_line) = head.first() else {
            return Ok(()); // the client closed the connection
        };
        let target = request_line.split(' ').nth(1).unwrap_or_default();
        let query = target.strip_prefix("/updates?").unwrap_or_default();
        let mut after = 0;
        let mut wait = false;
        for pair in query.split('&') {
            match pair.split_once('=') {
                Some(("after", number)) => after = number.parse().unwrap_or(0),
                Some(("wait", "true")) => wait = true,
                _ => {}
            }
        }
        if wait {
            news.wait_for(|count| *count > after).await?;
        }
        // As lean as an answer gets: real servers add more, such as `Date`,
        // `ETag` or `Keep-Alive`, so real polling costs more than this.
        let body = feed.json_after(after);
        let answer = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
             Cache-Control: no-store\r\n\r\n{body}",
            body.len()
        );
        connection.write_all(answer.as_bytes()).await?;
    }
}

/// A WebSocket server that sends every update as one text frame, as soon
/// as it is produced.
async fn push_updates(stream: Counted<TcpStream>, feed: Arc<Feed>) -> anyhow::Result<()> {
    let mut news = feed.count.subscribe();
    let mut socket = tokio_tungstenite::accept_async(stream).await?;
    let mut sent = 0;
    loop {
        let count = *news.wait_for(|count| *count > sent).await?;
        for number in sent + 1..=count {
            socket.send(Message::text(Feed::text_of(number))).await?;
        }
        sent = count;
    }
}

/// The lines of an HTTP head, up to its blank line; none if the connection
/// closed before a new head began.
async fn read_head(connection: &mut (impl AsyncBufReadExt + Unpin)) -> anyhow::Result<Vec<String>> {
    let mut lines = Vec::new();
    loop {
        let mut line = Vec::new();
        let read = connection.read_until(b'\n', &mut line).await?;
        if read == 0 {
            ensure!(
                lines.is_empty(),
                "the connection closed in the middle of a head"
            );
            return Ok(lines);
        }
        let line = String::from_utf8_lossy(&line).trim_end().to_string();
        if line.is_empty() {
            return Ok(lines);
        }
        lines.push(line);
    }
}

// ---------------------------------------------------------------------------
// The clients, which play the browser

/// The request Chromium 156 (headless, on Linux) sent for
/// `fetch('/updates?after=0')` from a page the same server had served,
/// captured with a loopback listener that printed what it received; only
/// the target changes here (and long polling adds `&wait=true`). A desktop
/// window says `Chrome/` where headless says `HeadlessChrome/`, and a site
/// with cookies would add them to every request too.
fn poll_request(port: u16, after: usize, wait: bool) -> String {
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
const WEBSOCKET_KEY: &str = crate::wire::SAMPLE_KEY;

/// The upgrade request the same Chromium sent for
/// `new WebSocket('ws://localhost:PORT/')`, captured the same way. The page
/// came from the polling server, whose address is the `Origin`. The server
/// here, like the steps, does not take up the offer of compression.
fn upgrade_request(port: u16, page_port: u16) -> String {
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
struct Received {
    ends: Ends,
    counts: Arc<Counts>,
    setup_bytes: u64,
    answers: usize,
    empty_answers: usize,
    /// (update number, when it arrived), in order of arrival.
    arrivals: Vec<(usize, Instant)>,
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
async fn connect_http(port: u16) -> anyhow::Result<BufReader<Counted<TcpStream>>> {
    let stream = TcpStream::connect(("127.0.0.1", port)).await?;
    Ok(BufReader::new(Counted::new(stream)))
}

/// Connects and completes the opening handshake, checking the server's
/// accept value as a browser does.
async fn connect_websocket(
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
async fn receive_answers(
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
async fn receive_frames(
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
async fn poll(
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
fn update_numbers(json: &str) -> anyhow::Result<Vec<usize>> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::docs::{Docs, Page, check_output};

    /// A shorter run than the chapter's, with polls far apart and close
    /// together: about a second.
    fn small_plan() -> Plan {
        Plan {
            updates: 12,
            every: Duration::from_millis(50),
            ways: vec![
                Way::Polling(Duration::from_millis(500)),
                Way::Polling(Duration::from_millis(25)),
                Way::LongPolling,
                Way::WebSocket,
            ],
        }
    }

    async fn measure_small() -> Vec<Measured> {
        measure(&small_plan(), |_, _| {})
            .await
            .expect("the measurement runs")
    }

    fn of(measured: &[Measured], way: Way) -> &Measured {
        measured
            .iter()
            .find(|result| result.way == way)
            .expect("every planned way is measured")
    }

    /// A connected pair of loopback sockets, both counted.
    async fn counted_pair() -> (Counted<TcpStream>, Counted<TcpStream>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let (client, accepted) =
            tokio::join!(TcpStream::connect(("127.0.0.1", port)), listener.accept());
        (
            Counted::new(client.unwrap()),
            Counted::new(accepted.unwrap().0),
        )
    }

    #[tokio::test]
    async fn counting_sees_every_byte_in_both_directions() {
        let (mut client, mut server) = counted_pair().await;
        let sent: Vec<u8> = (0..200_000).map(|index| (index % 251) as u8).collect();
        let writing = async {
            client.write_all(&sent).await.unwrap();
            let mut answer = [0; 3];
            client.read_exact(&mut answer).await.unwrap();
        };
        // The server reads in small pieces, so the count adds up many reads.
        let reading = async {
            let mut got = Vec::new();
            let mut piece = [0; 1000];
            while got.len() < sent.len() {
                let read = server.read(&mut piece).await.unwrap();
                got.extend_from_slice(&piece[..read]);
            }
            server.write_all(b"ok!").await.unwrap();
            got
        };
        let ((), got) = tokio::join!(writing, reading);
        assert_eq!(got, sent);
        assert_eq!(
            client.counts().snapshot(),
            (3, 200_000),
            "client (read, written)"
        );
        assert_eq!(
            server.counts().snapshot(),
            (200_000, 3),
            "server (read, written)"
        );
    }

    #[tokio::test]
    async fn a_counter_that_invents_or_misses_bytes_is_caught() {
        let (mut client, mut server) = counted_pair().await;
        let request = poll_request(8080, 0, false);
        client.write_all(request.as_bytes()).await.unwrap();
        let mut got = vec![0; request.len()];
        server.read_exact(&mut got).await.unwrap();
        let ends = (8080, 40000);
        let received = Received {
            ends,
            counts: client.counts(),
            setup_bytes: 0,
            answers: 0,
            empty_answers: 0,
            arrivals: Vec::new(),
        };
        let server_ends = Mutex::new(vec![(ends, server.counts())]);
        ensure_ends_agree(Way::LongPolling, &received, &server_ends)
            .expect("both ends counted the same bytes");

        // One byte that never crossed the connection.
        server.counts.read.fetch_add(1, Ordering::SeqCst);
        let error = ensure_ends_agree(Way::LongPolling, &received, &server_ends)
            .expect_err("a phantom byte is a wrong count");
        assert!(
            error.to_string().contains("the counting is wrong"),
            "{error}"
        );
    }

    #[tokio::test]
    async fn the_websocket_bytes_are_exactly_its_frames() {
        let measured = measure_small().await;
        // A frame from the server: 2 bytes of header (FIN and opcode, then
        // the length, below 126), then the text, unmasked.
        let frames: u64 = (1..=small_plan().updates)
            .map(|number| 2 + Feed::text_of(number).len() as u64)
            .sum();
        let websocket = of(&measured, Way::WebSocket);
        assert_eq!(websocket.stream_bytes, frames);
        // The handshake: at least the browser's request, and a 101 answer.
        let request = upgrade_request(10000, 10000).len() as u64;
        assert!(
            websocket.setup_bytes > request + "HTTP/1.1 101 Switching Protocols\r\n".len() as u64,
            "{websocket:?}"
        );
    }

    #[tokio::test]
    async fn websocket_bytes_per_update_are_a_small_fraction_of_pollings() {
        let measured = measure_small().await;
        let websocket = of(&measured, Way::WebSocket).bytes_per_update();
        for result in measured
            .iter()
            .filter(|result| result.way != Way::WebSocket)
        {
            // Every answer carries at least one browser request's headers.
            let headers = poll_request(10000, 0, false).len() as u64;
            assert!(
                result.stream_bytes > result.answers as u64 * headers,
                "{result:?}"
            );
            let ratio = result.bytes_per_update() / websocket;
            assert!(
                ratio > 5.0,
                "{}: only {ratio:.1} times the WebSocket's bytes",
                result.way.label()
            );
        }
        let fast = of(&measured, Way::Polling(Duration::from_millis(25)));
        assert!(
            fast.bytes_per_update() / websocket > 30.0,
            "polling faster than the updates costs far more: {fast:?}"
        );
        assert!(fast.empty_answers > 0, "polls outnumber updates: {fast:?}");
    }

    #[tokio::test]
    async fn polling_delay_grows_with_the_interval() {
        let measured = measure_small().await;
        let slow = of(&measured, Way::Polling(Duration::from_millis(500))).median_delay();
        let fast = of(&measured, Way::Polling(Duration::from_millis(25))).median_delay();
        let websocket = of(&measured, Way::WebSocket).median_delay();
        assert!(slow > fast, "every 500ms: {slow:?}, every 25ms: {fast:?}");
        assert!(
            slow > websocket,
            "every 500ms: {slow:?}, WebSocket: {websocket:?}"
        );
        // A poll can only bring what exists: at least some updates waited
        // a good part of the slow interval.
        let worst = of(&measured, Way::Polling(Duration::from_millis(500))).worst_delay();
        assert!(worst > Duration::from_millis(100), "{worst:?}");
    }

    /// Two runs give different figures, and the docs check must accept
    /// either, while still catching a changed label.
    #[test]
    fn the_docs_check_tolerates_new_figures_but_not_new_labels() {
        let plan = Plan::standard();
        let figures = |bytes: u64, delay: u64| -> Vec<Measured> {
            plan.ways
                .iter()
                .map(|&way| Measured {
                    way,
                    setup_bytes: if way == Way::WebSocket { bytes * 7 } else { 0 },
                    stream_bytes: bytes * plan.updates as u64,
                    answers: 10,
                    empty_answers: (delay % 10) as usize,
                    delays: vec![Duration::from_micros(delay); plan.updates],
                })
                .collect()
        };
        let shown = report(&plan, &figures(94, 300));
        let real = Ok(report(&plan, &figures(1153, 45_000)));
        let page = |lines: &[String]| {
            let body = lines.join("\n");
            Docs {
                pages: vec![Page::new(
                    "docs/en/00-why.md",
                    format!("# Why\n\n<!-- output: polling -->\n```console\n{body}\n```\n"),
                )],
            }
        };
        assert!(check_output(&page(&shown), "polling", &real).is_ok());

        let relabelled: Vec<String> = shown
            .iter()
            .map(|line| line.replace("long polling", "short polling"))
            .collect();
        assert!(check_output(&page(&relabelled), "polling", &real).is_err());
    }
}

//! The updates, and the two servers that hand them out: HTTP polling
//! (plain and long) and a WebSocket.

use std::sync::{Arc, Mutex};

use anyhow::{Context, ensure};
use futures_util::SinkExt;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;

use super::counted::{Counted, Counts};

/// The updates produced so far, shared by both servers.
pub struct Feed {
    /// Each update's text and the moment it was produced, in order.
    updates: Mutex<Vec<(String, Instant)>>,
    /// How many updates exist; servers holding a question wait on it.
    count: watch::Sender<usize>,
}

impl Feed {
    pub fn new() -> Feed {
        Feed {
            updates: Mutex::new(Vec::new()),
            count: watch::Sender::new(0),
        }
    }

    /// Update `number` (counted from 1) as a small JSON object, the kind of
    /// thing a live page receives: `{"update":7}`.
    pub fn text_of(number: usize) -> String {
        format!("{{\"update\":{number}}}")
    }

    pub fn publish(&self, number: usize) {
        let mut updates = self
            .updates
            .lock()
            .expect("no thread panics holding the feed");
        updates.push((Feed::text_of(number), Instant::now()));
        drop(updates);
        self.count.send_replace(number);
    }

    /// The updates after the first `after`, as a JSON array.
    pub fn json_after(&self, after: usize) -> String {
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

    pub fn produced_at(&self) -> Vec<Instant> {
        let updates = self
            .updates
            .lock()
            .expect("no thread panics holding the feed");
        updates.iter().map(|(_, at)| *at).collect()
    }
}

/// A loopback connection, named by its two ports: (server, client).
pub type Ends = (u16, u16);

/// The byte counts of every connection the servers accepted.
pub type ServerEnds = Mutex<Vec<(Ends, Arc<Counts>)>>;

#[derive(Clone, Copy)]
pub enum Protocol {
    Http,
    WebSocket,
}

/// Listens on a free loopback port and serves every connection with
/// `protocol`, recording each connection's byte counts under its ends so
/// that they can be compared with the client's own.
pub async fn listen(
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
pub async fn answer_polls(stream: Counted<TcpStream>, feed: Arc<Feed>) -> anyhow::Result<()> {
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
pub async fn push_updates(stream: Counted<TcpStream>, feed: Arc<Feed>) -> anyhow::Result<()> {
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
pub async fn read_head(
    connection: &mut (impl AsyncBufReadExt + Unpin),
) -> anyhow::Result<Vec<String>> {
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

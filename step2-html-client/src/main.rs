//! Step 2: the client page, and what happens when a browser asks for it.
//!
//! `index.html` beside this file is the client: its script connects, sends
//! `Hello, WebSocket!` and shows every message it receives. This program
//! plays the browser against a running server, so the whole exchange can be
//! seen in a terminal:
//!
//! 1. it asks for the page as a browser does (`GET /`, then `GET /favicon.ico`);
//! 2. it runs what the page's script does, as a native WebSocket client;
//! 3. it says what the answers mean.
//!
//! Start a server first (`cargo run -p step1`), then `cargo run -p step2`.
//! An address as argument (`cargo run -p step2 -- http://localhost:8081`) or
//! `PORT` picks another server.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;
use tokio_tungstenite::tungstenite::Message;

/// What the page sends once it is connected.
const HELLO: &str = "Hello, WebSocket!";

/// How long we wait for any answer before we call the server stuck.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(5);

#[tokio::main]
async fn main() -> ExitCode {
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> anyhow::Result<()> {
    let server = server_address()?;
    println!("Playing the browser against http://{server}/");

    println!();
    println!("1. The browser asks for the page, then for the site's icon:");
    let page = http_get(&server, "/").await?;
    println!("   GET /            -> {}", page.describe());
    let icon = http_get(&server, "/favicon.ico").await?;
    println!("   GET /favicon.ico -> {}", icon.describe());
    if page.status == 426 {
        println!(
            "   A browser shows these as two console errors (the tutorial's Error 1 and Error 2):"
        );
        println!("   GET http://{server}/favicon.ico {}", icon.status_line);
        println!("   GET http://{server}/ {}", page.status_line);
    }

    println!();
    println!("2. The page's script opens a WebSocket to ws://{server}/:");
    let greeting = websocket_round_trip(&server).await?;

    println!();
    println!("3. What it means:");
    match page.status {
        426 => {
            println!(
                "   The WebSocket works ({greeting:?} came back), but this server cannot serve the page:"
            );
            println!("   it speaks only WebSocket and answers every plain HTTP request with 426.");
            println!(
                "   Open index.html from disk instead, or run step 3 (cargo run -p step3), which serves"
            );
            println!("   the page and the WebSocket on one port.");
        }
        200 => {
            println!("   The page loads (200) and the WebSocket works on the same port:");
            println!(
                "   open http://{server}/ in a browser and look for {greeting:?} on the page."
            );
        }
        _ => println!(
            "   The WebSocket works, but the page answered {}.",
            page.status_line
        ),
    }
    Ok(())
}

/// `host:port` of the server, from the argument, `PORT`, or the default.
fn server_address() -> anyhow::Result<String> {
    if let Some(argument) = std::env::args().nth(1) {
        let without_scheme = argument
            .strip_prefix("http://")
            .or_else(|| argument.strip_prefix("ws://"))
            .unwrap_or(&argument);
        let host_and_port = without_scheme.split('/').next().unwrap_or_default();
        if host_and_port.is_empty() {
            bail!("`{argument}` is not an address: use one like http://localhost:8080");
        }
        return Ok(host_and_port.to_string());
    }
    let port = std::env::var("PORT").unwrap_or_else(|_| "8080".to_string());
    Ok(format!("localhost:{port}"))
}

/// Connects to the server, trying each address `localhost` stands for.
async fn connect(server: &str) -> anyhow::Result<TcpStream> {
    match timeout(ANSWER_TIMEOUT, TcpStream::connect(server)).await {
        Ok(Ok(stream)) => Ok(stream),
        Ok(Err(error)) if error.kind() == std::io::ErrorKind::ConnectionRefused => bail!(
            "nothing is listening on {server}: start a server first (cargo run -p step1 in another terminal), then run this again"
        ),
        Ok(Err(error)) => Err(error).with_context(|| format!("cannot connect to {server}")),
        Err(_) => bail!("{server} did not accept the connection within {ANSWER_TIMEOUT:?}"),
    }
}

/// The parts of an HTTP answer that this step reports.
struct HttpAnswer {
    status: u16,
    /// For example `426 (Upgrade Required)`, as a browser's console shows it.
    status_line: String,
    content_type: String,
    body_length: usize,
}

impl HttpAnswer {
    fn describe(&self) -> String {
        format!(
            "{} {}, {} bytes",
            self.status_line, self.content_type, self.body_length
        )
    }
}

/// A plain HTTP GET, written by hand: this is all a browser sends for a page.
async fn http_get(server: &str, path: &str) -> anyhow::Result<HttpAnswer> {
    let mut stream = connect(server).await?;
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {server}\r\nAccept: text/html,*/*\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await?;
    let mut answer = Vec::new();
    timeout(ANSWER_TIMEOUT, stream.read_to_end(&mut answer))
        .await
        .with_context(|| {
            format!("{server} did not finish answering GET {path} within {ANSWER_TIMEOUT:?}")
        })?
        .with_context(|| format!("reading the answer to GET {path}"))?;

    let text = String::from_utf8_lossy(&answer);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let mut lines = head.lines();
    let status_line = lines.next().unwrap_or_default();
    // "HTTP/1.1 426 Upgrade Required" -> 426 and "Upgrade Required"
    let mut parts = status_line.splitn(3, ' ').skip(1);
    let status = parts.next().and_then(|code| code.parse().ok());
    let Some(status) = status else {
        bail!("GET {path}: {server} did not answer with HTTP (first line: {status_line:?})");
    };
    let reason = parts.next().unwrap_or_default();
    let content_type = lines
        .filter_map(|line| line.split_once(':'))
        .find(|(name, _)| name.eq_ignore_ascii_case("content-type"))
        .map_or("no content type".to_string(), |(_, value)| {
            value.trim().to_string()
        });
    Ok(HttpAnswer {
        status,
        status_line: format!("{status} ({reason})"),
        content_type,
        body_length: body.len(),
    })
}

/// What the page's script does: connect, send hello, print what comes back.
/// Returns the first message received.
async fn websocket_round_trip(server: &str) -> anyhow::Result<String> {
    let stream = connect(server).await?;
    let url = format!("ws://{server}/");
    let (mut socket, _) = timeout(
        ANSWER_TIMEOUT,
        tokio_tungstenite::client_async(url.as_str(), stream),
    )
    .await
    .with_context(|| {
        format!("{server} did not finish the WebSocket handshake within {ANSWER_TIMEOUT:?}")
    })?
    .with_context(|| format!("{server} refused the WebSocket handshake"))?;
    println!("   Connected");

    socket.send(Message::text(HELLO)).await?;
    println!("   Sent: {HELLO}");

    let received = loop {
        let message = timeout(ANSWER_TIMEOUT, socket.next())
            .await
            .with_context(|| format!("no message from the server within {ANSWER_TIMEOUT:?}"))?;
        match message {
            Some(Ok(Message::Text(text))) => break text.to_string(),
            Some(Ok(Message::Binary(bytes))) => {
                break format!("{} bytes of binary data", bytes.len());
            }
            Some(Ok(_)) => continue,
            Some(Err(error)) => return Err(error).context("the WebSocket failed"),
            None => bail!("the server closed the WebSocket without sending anything"),
        }
    };
    println!("   Received: {received}");

    // Say goodbye properly, as a browser does when the tab closes.
    socket.close(None).await?;
    while let Ok(Some(Ok(_))) = timeout(ANSWER_TIMEOUT, socket.next()).await {}
    Ok(received)
}

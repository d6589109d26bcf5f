//! Step 1: a server that speaks only WebSocket.
//!
//! This file tells the story in the order it happens: listen, accept each
//! client, complete the WebSocket handshake, greet, print what arrives, and
//! say goodbye. What protects the server lives in modules of its own, each
//! opened by the chapter that explains it:
//!
//! - `listener`: where we listen (`PORT`, `HOST`) and how many may wait;
//! - `handshake`: the HTTP request that opens a WebSocket, and which
//!   requests are refused (426 for a browser asking for a page), as by
//!   Node's `ws`;
//! - `refusal`: the HTTP answer that tells a refused client why;
//! - `closing`: close codes that tell a client why it was dropped;
//! - `shutdown`: Ctrl+C (and SIGTERM), which says goodbye to every client.
//!
//! Run it with `cargo run -p step1` (`PORT` and `HOST` change where it listens).

mod closing;
mod handshake;
mod listener;
mod refusal;
mod shutdown;

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};

use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;

use handshake::WebSocket;
use shutdown::Shutdown;

/// What the server sends to every client as soon as it connects.
const GREETING: &str = "Hello, WebSocket!";

/// The number of WebSocket connections open right now, for the log.
static OPEN_CONNECTIONS: AtomicUsize = AtomicUsize::new(0);

/// The exercise of chapter 2: how many WebSocket clients have connected
/// since the server started. It only ever counts up, so each client gets a
/// number of its own, even after others have left.
static CLIENTS_SO_FAR: AtomicUsize = AtomicUsize::new(0);

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

/// Listens, and gives every client that connects a task of its own, until
/// Ctrl+C (or SIGTERM, see `shutdown`).
///
/// A task is tokio's lightweight thread: thousands of clients wait side by
/// side, and `select!` waits for whichever comes first, a new client or
/// the signal to stop.
async fn run() -> anyhow::Result<()> {
    let stop = shutdown::stop_signal()?;
    let listener = listener::listen()?;
    let shutdown = Shutdown::new();
    let mut stop = std::pin::pin!(stop);
    loop {
        tokio::select! {
            (stream, peer) = listener.accept() => {
                tokio::spawn(handle_connection(stream, peer, shutdown.notice()));
            }
            () = &mut stop => break,
        }
    }
    drop(listener);
    let open = OPEN_CONNECTIONS.load(Ordering::Relaxed);
    println!("Shutting down: closing {open} WebSocket connection(s) with code 1001 (going away)");
    shutdown.close_all().await;
    Ok(())
}

/// One client, from its first byte to its last.
async fn handle_connection(stream: TcpStream, peer: SocketAddr, shutdown: shutdown::Notice) {
    // A WebSocket starts life as an HTTP request that asks to "upgrade" the
    // connection. Anything else has been answered and logged by `accept`.
    let Some(websocket) = handshake::accept(stream, peer).await else {
        return;
    };
    let open = OPEN_CONNECTIONS.fetch_add(1, Ordering::Relaxed) + 1;
    let number = CLIENTS_SO_FAR.fetch_add(1, Ordering::Relaxed) + 1;
    println!("Client #{number} connected");
    println!("Connected: {peer} ({open} open)");
    let why_it_ended = talk(websocket, shutdown).await;
    let open = OPEN_CONNECTIONS.fetch_sub(1, Ordering::Relaxed) - 1;
    println!("Disconnected: {peer}, {why_it_ended} ({open} open)");
}

/// The conversation itself: greet, then print what the client says until
/// either side closes. Returns why it ended, for the log.
async fn talk(mut websocket: WebSocket, mut shutdown: shutdown::Notice) -> String {
    if let Err(error) = websocket.send(Message::text(GREETING)).await {
        return format!("greeting failed: {error}");
    }
    loop {
        tokio::select! {
            message = websocket.next() => match message {
                Some(Ok(Message::Text(text))) => println!("Received: {text}"),
                Some(Ok(Message::Binary(bytes))) => {
                    println!("Received {} bytes of binary data", bytes.len());
                }
                // tungstenite answers pings and the closing handshake itself.
                Some(Ok(_)) => {}
                None => return "closed".to_string(),
                Some(Err(error)) => return closing::after_error(&mut websocket, error).await,
            },
            () = shutdown.requested() => return shutdown::going_away(&mut websocket).await,
        }
    }
}

//! Step 3: the web page and the WebSocket on one port.
//!
//! Step 1 could only speak WebSocket, so a browser asking it for a page got
//! `426 Upgrade Required`. Here one warp server answers both: a plain
//! `GET /` returns the page of step 2, and a `GET /` that asks to upgrade
//! becomes the WebSocket, with the same greeting and `Received:` lines as
//! step 1.
//!
//! This file tells the story in the order it happens. What protects the
//! server lives in modules of its own, each opened by the chapter that
//! explains it:
//!
//! - `listener`: where we listen (`PORT`, `HOST`) and how many may wait;
//! - `connection`: hyper reads each HTTP request within limits of time and size;
//! - `handshake`: the upgrade to a WebSocket, or a clear refusal;
//! - `origin`: only our own page, on this machine's own name, may connect;
//! - `refusal`: the HTTP answer that tells a refused client why;
//! - `closing`: close codes that tell a client why it was dropped;
//! - `shutdown`: Ctrl+C (and SIGTERM), which says goodbye to every client.
//!
//! Run it with `cargo run -p step3` and open http://localhost:8080/.

mod closing;
mod connection;
mod handshake;
mod listener;
mod origin;
mod refusal;
mod shutdown;

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};

use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;
use warp::{Filter, Rejection, Reply};

use handshake::{Upgrade, WebSocket};
use refusal::Refusal;
use shutdown::Shutdown;

/// What the server sends to every client as soon as it connects.
const GREETING: &str = "Hello, WebSocket!";

/// The page of step 2, built into the binary: there is one copy of it.
const INDEX_HTML: &str = include_str!("../../step2-html-client/index.html");

/// A small icon. Browsers ask every site for `/favicon.ico`; answering it
/// keeps the console free of the 404 that the Express version shows.
const FAVICON_SVG: &str = include_str!("favicon.svg");

/// The number of WebSocket connections open right now, for the log.
static OPEN_CONNECTIONS: AtomicUsize = AtomicUsize::new(0);

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

/// Listens, and serves every connection in a task of its own, until Ctrl+C
/// (or SIGTERM, see `shutdown`).
///
/// We accept connections ourselves, as step 1 does, instead of calling
/// `warp::serve`: that way hyper, the HTTP engine under warp, can be given
/// limits of time and size for each request (see `connection`).
async fn run() -> anyhow::Result<()> {
    let stop = shutdown::stop_signal()?;
    let listener = listener::listen()?;
    let hosts = origin::Hosts::for_listener(&listener);
    let shutdown = Shutdown::new();
    let mut stop = std::pin::pin!(stop);
    loop {
        tokio::select! {
            (stream, peer) = listener.accept() => {
                let routes = routes(peer, hosts, shutdown.notice());
                tokio::spawn(connection::serve(stream, peer, routes, shutdown.notice()));
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

/// What this server answers: the page, the icon, and the WebSocket, all
/// for one client. Building them per connection lets the WebSocket's log
/// lines name the client (`peer`).
fn routes(
    peer: SocketAddr,
    hosts: origin::Hosts,
    shutdown: shutdown::Notice,
) -> impl Filter<Extract = (impl Reply,), Error = Rejection> + Clone + Send + Sync + 'static {
    let page = warp::path::end()
        .and(warp::get())
        .map(|| warp::reply::html(INDEX_HTML));
    let favicon = warp::path!("favicon.ico")
        .and(warp::get())
        .map(|| warp::reply::with_header(FAVICON_SVG, "content-type", "image/svg+xml"));

    // The same URL as the page: `handshake::upgrade` only takes requests
    // that ask to upgrade, so a plain GET falls through to `page` below.
    // One that asks but is broken gets a refusal that says why.
    let websocket = warp::path::end().and(handshake::upgrade()).map(
        move |upgrade: Result<Upgrade, Refusal>| match upgrade {
            Ok(upgrade) => {
                let shutdown = shutdown.clone();
                upgrade.accept(move |websocket| handle_websocket(websocket, peer, shutdown))
            }
            Err(refusal) => refusal.into_response(),
        },
    );

    // A request for a name that is not this machine's is refused first,
    // whatever it asks for (see `origin`). Anything else gets warp's 404.
    origin::refuse_other_hosts(hosts)
        .or(websocket)
        .or(page)
        .or(favicon)
}

/// One WebSocket client, from the upgrade to its last frame.
async fn handle_websocket(websocket: WebSocket, peer: SocketAddr, shutdown: shutdown::Notice) {
    let open = OPEN_CONNECTIONS.fetch_add(1, Ordering::Relaxed) + 1;
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

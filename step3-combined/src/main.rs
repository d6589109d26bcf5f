//! Step 3: the web page and the WebSocket on one port.
//!
//! Step 1 could only speak WebSocket, so a browser asking it for a page got
//! `426 Upgrade Required`. Here one warp server answers both: a plain
//! `GET /` returns the page of step 2, and a `GET /` that asks to upgrade
//! becomes the WebSocket, with the same greeting and `Received:` lines as
//! step 1.
//!
//! Run it with `cargo run -p step3` and open http://localhost:8080/.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use anyhow::{Context, bail};
use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};
use tokio::time::timeout;
use warp::Filter;
use warp::ws::{Message, WebSocket, Ws};

/// What the server sends to every client as soon as it connects.
const GREETING: &str = "Hello, WebSocket!";

const DEFAULT_PORT: u16 = 8080;

/// The page of step 2, built into the binary: there is one copy of it.
const INDEX_HTML: &str = include_str!("../../step2-html-client/index.html");

/// A small icon. Browsers ask every site for `/favicon.ico`; answering it
/// keeps the console free of the 404 that the Express version shows.
const FAVICON_SVG: &str = r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16"><rect width="16" height="16" rx="3" fill="#2b6cb0"/><path d="M3 5h10M3 11h10" stroke="#fff" stroke-width="2"/></svg>"##;

/// The largest WebSocket message we accept. The page sends a few bytes, and
/// without a limit one client could make the server buffer up to 64 MiB.
/// A bigger message closes that connection with code 1009 (message too
/// big); every other client carries on.
const MAX_MESSAGE_SIZE: usize = 64 * 1024;

/// How long Ctrl+C waits for clients to acknowledge the close frame.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(1);

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

async fn run() -> anyhow::Result<()> {
    let listeners = listen().await?;

    // Ctrl+C must reach every WebSocket, so each one holds a receiver of
    // this channel and says goodbye (close code 1001) when it changes. Each
    // also holds a sender of `finished`: once all of them are dropped, every
    // connection has ended (the pattern of tokio's mini-redis).
    let (shutdown, shutdown_signal) = watch::channel(false);
    let (finished_sender, mut finished) = mpsc::channel::<()>(1);

    let page = warp::path::end()
        .and(warp::get())
        .map(|| warp::reply::html(INDEX_HTML));
    let favicon = warp::path!("favicon.ico")
        .and(warp::get())
        .map(|| warp::reply::with_header(FAVICON_SVG, "content-type", "image/svg+xml"));

    // The same URL as the page: `warp::ws()` only matches requests that ask
    // to upgrade, so a plain GET falls through to `page` below.
    let websocket = warp::path::end()
        .and(warp::ws())
        .and(warp::addr::remote())
        .map(move |upgrade: Ws, peer: Option<SocketAddr>| {
            let shutdown = shutdown_signal.clone();
            let finished = finished_sender.clone();
            upgrade
                .max_message_size(MAX_MESSAGE_SIZE)
                .max_frame_size(MAX_MESSAGE_SIZE)
                .on_upgrade(move |socket| async move {
                    let peer = peer.map_or_else(|| "a client".to_string(), |p| p.to_string());
                    let open = OPEN_CONNECTIONS.fetch_add(1, Ordering::Relaxed) + 1;
                    println!("Connected: {peer} ({open} open)");
                    let why_it_ended = talk(socket, shutdown).await;
                    let open = OPEN_CONNECTIONS.fetch_sub(1, Ordering::Relaxed) - 1;
                    println!("Disconnected: {peer}, {why_it_ended} ({open} open)");
                    drop(finished);
                })
        });

    // Anything else gets warp's 404 Not Found.
    let routes = websocket.or(page).or(favicon);

    // One warp server per listening address, all stopped by the same signal.
    let mut servers = tokio::task::JoinSet::new();
    for listener in listeners {
        let mut stop = shutdown.subscribe();
        let stopped = async move {
            let _ = stop.changed().await;
        };
        servers.spawn(
            warp::serve(routes.clone())
                .incoming(listener)
                .graceful(stopped)
                .run(),
        );
    }
    drop(routes);

    tokio::signal::ctrl_c()
        .await
        .context("cannot listen for Ctrl+C")?;
    let open = OPEN_CONNECTIONS.load(Ordering::Relaxed);
    println!("Shutting down: closing {open} WebSocket connection(s) with code 1001 (going away)");
    shutdown.send_replace(true);
    let all_closed = async {
        while servers.join_next().await.is_some() {}
        let _ = finished.recv().await;
    };
    let _ = timeout(SHUTDOWN_GRACE, all_closed).await;
    Ok(())
}

/// Binds the port and prints the address to open in the browser.
///
/// By default only this machine can connect: we listen on the loopback
/// addresses 127.0.0.1 and ::1, because a browser may resolve `localhost` to
/// either. `HOST=0.0.0.0` opens the server to the whole network.
async fn listen() -> anyhow::Result<Vec<TcpListener>> {
    let port = match std::env::var("PORT") {
        Ok(text) => text
            .parse::<u16>()
            .with_context(|| format!("PORT must be a number from 0 to 65535, not `{text}`"))?,
        Err(_) => DEFAULT_PORT,
    };
    let host = std::env::var("HOST").ok();
    let addresses: Vec<IpAddr> = match host.as_deref() {
        None | Some("localhost") => vec![Ipv4Addr::LOCALHOST.into(), Ipv6Addr::LOCALHOST.into()],
        Some(text) => vec![text.parse().with_context(|| {
            format!("HOST must be an IP address such as 127.0.0.1 or 0.0.0.0, not `{text}`")
        })?],
    };

    // The first address decides the port (PORT=0 picks a free one); the
    // others listen on the same port.
    let mut listeners = Vec::new();
    let mut port = port;
    for address in addresses {
        match TcpListener::bind(SocketAddr::new(address, port)).await {
            Ok(listener) => {
                port = listener.local_addr()?.port();
                listeners.push(listener);
            }
            Err(error) if error.kind() == std::io::ErrorKind::AddrInUse => bail!(
                "port {port} is already in use: stop the other step (Ctrl+C) or run with PORT={}",
                port.wrapping_add(1)
            ),
            // A machine without IPv6 still serves on 127.0.0.1.
            Err(_) if !listeners.is_empty() => {}
            Err(error) => {
                return Err(error).context(format!("cannot listen on {address} port {port}"));
            }
        }
    }

    let shown_host = match host.as_deref() {
        None | Some("localhost") => "localhost".to_string(),
        Some(text) => match text.parse::<IpAddr>()? {
            IpAddr::V6(v6) => format!("[{v6}]"),
            IpAddr::V4(v4) => v4.to_string(),
        },
    };
    println!("http://{shown_host}:{port}/");
    let bound: Vec<String> = listeners
        .iter()
        .filter_map(|listener| listener.local_addr().ok())
        .map(|address| address.to_string())
        .collect();
    let reach = if host.is_none() {
        "loopback only: set HOST=0.0.0.0 to let other machines connect"
    } else {
        "as HOST asks"
    };
    println!(
        "Listening on {} ({reach}). Open the address above in a browser; Ctrl+C stops.",
        bound.join(" and ")
    );
    Ok(listeners)
}

/// The conversation itself: greet, then print what the client says until
/// either side closes. Returns why it ended, for the log.
async fn talk(mut socket: WebSocket, mut shutdown: watch::Receiver<bool>) -> String {
    if let Err(error) = socket.send(Message::text(GREETING)).await {
        return format!("greeting failed: {error}");
    }
    loop {
        tokio::select! {
            message = socket.next() => match message {
                Some(Ok(message)) if message.is_text() => {
                    println!("Received: {}", message.to_str().unwrap_or_default());
                }
                Some(Ok(message)) if message.is_binary() => {
                    println!("Received {} bytes of binary data", message.as_bytes().len());
                }
                // warp answers pings and the closing handshake itself.
                Some(Ok(_)) => {}
                None => return "closed".to_string(),
                Some(Err(error)) => return format!("ended with an error: {error}"),
            },
            _ = shutdown.changed() => {
                let goodbye = async {
                    socket.send(Message::close_with(1001u16, "server shutting down")).await?;
                    // Wait for the client's close frame, which ends the stream.
                    while socket.next().await.transpose()?.is_some() {}
                    Ok::<_, warp::Error>(())
                };
                let _ = timeout(SHUTDOWN_GRACE, goodbye).await;
                return "server shut down".to_string();
            }
        }
    }
}

//! Step 3: the web page and the WebSocket on one port.
//!
//! Step 1 could only speak WebSocket, so a browser asking it for a page got
//! `426 Upgrade Required`. Here one warp server answers both: a plain
//! `GET /` returns the page of step 2, and a `GET /` that asks to upgrade
//! becomes the WebSocket, with the same greeting and `Received:` lines as
//! step 1.
//!
//! Like step 1, it protects itself: a request head must arrive within 10
//! seconds and stay under 16 KiB, a message under 64 KiB, and a WebSocket
//! may only be opened by this server's own page (see `same_site`).
//!
//! Run it with `cargo run -p step3` and open http://localhost:8080/.

use std::error::Error as _;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use anyhow::{Context, bail};
use futures_util::future::select_all;
use futures_util::{SinkExt, StreamExt};
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::{broadcast, mpsc, watch};
use tokio::time::timeout;
use tokio_tungstenite::tungstenite::Error as WsError;
use tokio_tungstenite::tungstenite::error::ProtocolError;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use warp::http::StatusCode;
use warp::ws::{Message, WebSocket, Ws};
use warp::{Filter, Rejection, Reply};

/// What the server sends to every client as soon as it connects.
const GREETING: &str = "Hello, WebSocket!";

const DEFAULT_PORT: u16 = 8080;

/// The page of step 2, built into the binary: there is one copy of it.
const INDEX_HTML: &str = include_str!("../../step2-html-client/index.html");

/// A small icon. Browsers ask every site for `/favicon.ico`; answering it
/// keeps the console free of the 404 that the Express version shows.
const FAVICON_SVG: &str = r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16"><rect width="16" height="16" rx="3" fill="#2b6cb0"/><path d="M3 5h10M3 11h10" stroke="#fff" stroke-width="2"/></svg>"##;

/// A client that has not finished its HTTP request in this time is dropped,
/// so idle or very slow connections cannot pile up. The same holds for a
/// browser's idle keep-alive connection between two requests.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The largest HTTP request head we read; above it hyper answers 431, as
/// step 1 and Node.js do. Browsers send well under 2 KiB.
const MAX_REQUEST_HEAD: usize = 16 * 1024;

/// The largest WebSocket message we accept. The page sends a few bytes, and
/// without a limit one client could make the server buffer up to 64 MiB.
/// A bigger message closes that connection with code 1009 (message too
/// big); every other client carries on.
const MAX_MESSAGE_SIZE: usize = 64 * 1024;

/// How many connections the system may hold for us before we accept them.
/// tokio's `TcpListener::bind` asks for 128: a crowd arriving faster than
/// that is dropped and waits a whole second for TCP to try again.
const ACCEPT_QUEUE: u32 = 1024;

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
    let listeners = listen()?;

    // Ctrl+C must reach every connection, so each one holds a receiver of
    // this channel: a WebSocket says goodbye (close code 1001), an HTTP
    // connection finishes its request and closes. Each also holds a sender
    // of `finished`: once all of them are dropped, every connection has
    // ended (the pattern of tokio's mini-redis).
    let (shutdown, shutdown_signal) = watch::channel(false);
    let (finished_sender, mut finished) = mpsc::channel::<()>(1);

    // The exercise of chapter 3: the chat room. Every connection holds a
    // sender of this channel and subscribes a receiver of its own, so each
    // text sent into it reaches every connection.
    let (chat, _) = broadcast::channel::<String>(64);

    // We accept connections ourselves, as step 1 does, instead of calling
    // `warp::serve`: that way we can give hyper, the HTTP engine under
    // warp, the time and size limits of `serve_connection`. One Ctrl+C
    // listener serves the whole loop, so that none is missed between turns.
    let mut ctrl_c = std::pin::pin!(tokio::signal::ctrl_c());
    loop {
        let accept_any = select_all(listeners.iter().map(|listener| Box::pin(listener.accept())));
        tokio::select! {
            (accepted, _, _) = accept_any => match accepted {
                Ok((stream, peer)) => {
                    let routes = routes(peer, shutdown_signal.clone(), finished_sender.clone(), chat.clone());
                    tokio::spawn(serve_connection(stream, peer, routes, shutdown_signal.clone()));
                }
                // Usually "too many open files": wait a moment instead of spinning.
                Err(error) => {
                    eprintln!("could not accept a connection: {error}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
            signal = &mut ctrl_c => {
                signal.context("cannot listen for Ctrl+C")?;
                break;
            }
        }
    }

    drop(listeners);
    drop(finished_sender);
    let open = OPEN_CONNECTIONS.load(Ordering::Relaxed);
    println!("Shutting down: closing {open} WebSocket connection(s) with code 1001 (going away)");
    shutdown.send_replace(true);
    let _ = timeout(SHUTDOWN_GRACE, finished.recv()).await;
    Ok(())
}

/// What this server answers: the page, the icon, and the WebSocket, all
/// for one client. Building them per connection lets the WebSocket's log
/// lines name the client (`peer`).
fn routes(
    peer: SocketAddr,
    shutdown: watch::Receiver<bool>,
    finished: mpsc::Sender<()>,
    chat: broadcast::Sender<String>,
) -> impl Filter<Extract = (impl Reply,), Error = Rejection> + Clone + Send + Sync + 'static {
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
        .and(warp::header::optional::<String>("origin"))
        .and(warp::header::optional::<String>("host"))
        .map(
            move |upgrade: Ws, origin: Option<String>, host: Option<String>| {
                if !same_site(origin.as_deref(), host.as_deref()) {
                    return refuse_other_site(
                        origin.as_deref().unwrap_or_default(),
                        host.as_deref().unwrap_or("localhost"),
                    );
                }
                let shutdown = shutdown.clone();
                let finished = finished.clone();
                let chat = chat.clone();
                upgrade
                    .max_message_size(MAX_MESSAGE_SIZE)
                    .max_frame_size(MAX_MESSAGE_SIZE)
                    .on_upgrade(move |socket| async move {
                        let open = OPEN_CONNECTIONS.fetch_add(1, Ordering::Relaxed) + 1;
                        println!("Connected: {peer} ({open} open)");
                        let why_it_ended = talk(socket, shutdown, chat).await;
                        let open = OPEN_CONNECTIONS.fetch_sub(1, Ordering::Relaxed) - 1;
                        println!("Disconnected: {peer}, {why_it_ended} ({open} open)");
                        drop(finished);
                    })
                    .into_response()
            },
        );

    // Anything else gets warp's 404 Not Found.
    websocket.or(page).or(favicon)
}

/// One TCP connection, served by hyper until the client closes it or it
/// becomes a WebSocket.
///
/// hyper reads each HTTP request head for us, within two limits, so that a
/// client that sends nothing, or one byte a second, or an endless header,
/// cannot hold the connection for ever: the head must arrive within
/// `HANDSHAKE_TIMEOUT` and be at most `MAX_REQUEST_HEAD` bytes (above it
/// hyper answers 431; to bytes that are not HTTP it answers 400).
async fn serve_connection(
    stream: TcpStream,
    peer: SocketAddr,
    routes: impl Filter<Extract = (impl Reply,), Error = Rejection> + Clone + Send + Sync + 'static,
    mut shutdown: watch::Receiver<bool>,
) {
    let service = TowerToHyperService::new(warp::service(routes));
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(HANDSHAKE_TIMEOUT)
        .max_header_size(MAX_REQUEST_HEAD);
    let connection = http
        .serve_connection(TokioIo::new(stream), service)
        .with_upgrades();
    let mut connection = std::pin::pin!(connection);
    let result = tokio::select! {
        result = connection.as_mut() => result,
        _ = shutdown.changed() => {
            connection.as_mut().graceful_shutdown();
            connection.await
        }
    };
    if let Err(error) = result {
        println!("{peer}: {}", explain(&error));
    }
}

/// Why hyper gave up on a connection, in words for the console.
fn explain(error: &hyper::Error) -> String {
    if error.is_timeout() {
        // A browser's idle keep-alive connection ends this way too.
        format!("no complete HTTP request within {HANDSHAKE_TIMEOUT:?}, connection closed")
    } else if error.is_parse_too_large() {
        "-> 431 Request Header Fields Too Large (the request head is over 16 KiB)".to_string()
    } else if error.is_parse() {
        format!("-> 400 Bad Request (not an HTTP request: {error})")
    } else {
        format!("connection ended: {error}")
    }
}

/// Our cross-origin policy: a WebSocket may be opened by this server's own
/// page, or by a program that is not a browser, but not by another site.
///
/// Browsers let any web page open a WebSocket to any address, including
/// `localhost`, and they do not apply the same-origin rules of `fetch` to
/// it. What they do is send the page's origin in the `Origin` header and
/// never let a script change it. So we compare it with the `Host` the
/// request was sent to: our page at http://localhost:8080/ sends
/// `Origin: http://localhost:8080`, which matches; a page on any other site
/// does not, and is refused with 403. Programs such as step 2 send no
/// `Origin` at all and are let in: the check protects browser users, it is
/// not a password. A page opened from disk sends `Origin: null` and is
/// refused too: that is step 2's way to talk to step 1, while step 3
/// serves the page itself.
fn same_site(origin: Option<&str>, host: Option<&str>) -> bool {
    let Some(origin) = origin else {
        return true;
    };
    let origin_host = origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"));
    match (origin_host, host) {
        (Some(origin_host), Some(host)) => origin_host.eq_ignore_ascii_case(host),
        _ => false,
    }
}

/// The answer to a page of another site that tries to open our WebSocket.
fn refuse_other_site(origin: &str, host: &str) -> warp::reply::Response {
    println!(
        "GET / -> 403 Forbidden (a WebSocket from a page that is not ours: Origin {origin}; \
         our page is http://{host}/)"
    );
    let body = "WebSocket refused: only this server's own page may open it";
    warp::reply::with_status(body, StatusCode::FORBIDDEN).into_response()
}

/// Binds the port and prints the address to open in the browser.
///
/// By default only this machine can connect: we listen on the loopback
/// addresses 127.0.0.1 and ::1, because a browser may resolve `localhost` to
/// either. `HOST=0.0.0.0` opens the server to the whole network.
fn listen() -> anyhow::Result<Vec<TcpListener>> {
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
        match bind(SocketAddr::new(address, port)) {
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
            // 0.0.0.0 or :: means "every address of this machine"; here,
            // that includes localhost.
            any if any.is_unspecified() => "localhost".to_string(),
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
    let reach = match listeners.first().map(|listener| listener.local_addr()) {
        Some(Ok(address)) if address.ip().is_loopback() => {
            "loopback only: set HOST=0.0.0.0 to let other machines connect"
        }
        Some(Ok(address)) if address.ip().is_unspecified() => {
            "every network interface: other machines use this machine's IP address"
        }
        _ => "as HOST asks",
    };
    println!(
        "Listening on {} ({reach}). Open the address above in a browser; Ctrl+C stops.",
        bound.join(" and ")
    );
    Ok(listeners)
}

/// Listens on one address, with room for `ACCEPT_QUEUE` waiting clients.
fn bind(address: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if address.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    // Lets a restarted server take its port back at once, as
    // `TcpListener::bind` does on Unix, where two servers still cannot
    // share it. On Windows the same option would let them share it.
    if cfg!(unix) {
        socket.set_reuseaddr(true)?;
    }
    socket.bind(address)?;
    socket.listen(ACCEPT_QUEUE)
}

/// The conversation itself: greet, then print what the client says until
/// either side closes. Returns why it ended, for the log.
async fn talk(
    mut socket: WebSocket,
    mut shutdown: watch::Receiver<bool>,
    chat: broadcast::Sender<String>,
) -> String {
    let mut heard = chat.subscribe();
    if let Err(error) = socket.send(Message::text(GREETING)).await {
        return format!("greeting failed: {error}");
    }
    loop {
        tokio::select! {
            message = socket.next() => match message {
                Some(Ok(message)) if message.is_text() => {
                    let text = message.to_str().unwrap_or_default();
                    println!("Received: {text}");
                    // To every connection, this one included.
                    let _ = chat.send(text.to_string());
                }
                Some(Ok(message)) if message.is_binary() => {
                    println!("Received {} bytes of binary data", message.as_bytes().len());
                }
                // warp answers pings and the closing handshake itself.
                Some(Ok(_)) => {}
                None => return "closed".to_string(),
                Some(Err(error)) => return fail(&mut socket, &error).await,
            },
            // What any connection said, this one's own words included.
            said = heard.recv() => match said {
                Ok(text) => {
                    if let Err(error) = socket.send(Message::text(text)).await {
                        return format!("sending failed: {error}");
                    }
                }
                // This connection fell more than 64 messages behind.
                Err(broadcast::error::RecvError::Lagged(missed)) => {
                    println!("a slow client missed {missed} chat messages");
                }
                Err(broadcast::error::RecvError::Closed) => return "the chat ended".to_string(),
            },
            _ = shutdown.changed() => {
                let goodbye = async {
                    socket.send(Message::close_with(CloseCode::Away, "server shutting down")).await?;
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

/// Ends a conversation that broke, telling the client why with the close
/// code RFC 6455 gives, if it can still hear it. Returns why, for the log.
///
/// warp wraps the errors of tungstenite, the WebSocket library under it;
/// `source()` unwraps them so we can tell a client that left from one that
/// broke the protocol.
async fn fail(socket: &mut WebSocket, error: &warp::Error) -> String {
    let Some(cause) = error
        .source()
        .and_then(|cause| cause.downcast_ref::<WsError>())
    else {
        return format!("ended with an error: {error}");
    };
    if let WsError::Protocol(ProtocolError::ResetWithoutClosingHandshake) = cause {
        return "left without a closing handshake".to_string();
    }
    if let Some(code) = close_code_for(cause) {
        let goodbye = Message::close_with(code, cause.to_string());
        let _ = timeout(SHUTDOWN_GRACE, socket.send(goodbye)).await;
    }
    format!("ended with an error: {cause}")
}

/// The close code that explains an error to the client, if it can still hear it.
fn close_code_for(error: &WsError) -> Option<CloseCode> {
    match error {
        WsError::Capacity(_) => Some(CloseCode::Size),
        WsError::Protocol(_) => Some(CloseCode::Protocol),
        WsError::Utf8(_) => Some(CloseCode::Invalid),
        _ => None,
    }
}

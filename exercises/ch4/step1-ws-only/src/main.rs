//! Step 1: a server that speaks only WebSocket.
//!
//! Every client that connects is greeted with `Hello, WebSocket!`, and every
//! text message it sends is printed as `Received: <text>`. There is no web
//! page here: a plain HTTP request, such as a browser opening
//! `http://localhost:8080/`, is answered `426 Upgrade Required`, exactly as
//! the Node.js `ws` server of the original tutorial answers it.
//!
//! Run it with `cargo run -p step1` (`PORT` and `HOST` change where it listens).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use anyhow::{Context, bail};
use futures_util::future::select_all;
use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio::time::timeout;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::error::ProtocolError;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role, WebSocketConfig};
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

/// What the server sends to every client as soon as it connects.
const GREETING: &str = "Hello, WebSocket!";

const DEFAULT_PORT: u16 = 8080;

/// A client that has not finished its HTTP request in this time is dropped,
/// so idle or very slow connections cannot pile up.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The largest HTTP request head we read. Browsers send well under 2 KiB;
/// Node.js stops at 16 KiB too and answers 431, as we do.
const MAX_REQUEST_HEAD: usize = 16 * 1024;

/// The largest WebSocket message we accept. The page sends a few bytes, and
/// without a limit one client could make the server buffer up to
/// tungstenite's default of 64 MiB. A bigger message closes that connection
/// with code 1009 (message too big); every other client carries on.
const MAX_MESSAGE_SIZE: usize = 64 * 1024;

/// How many bytes we read from a client at a time. tungstenite's default is
/// 128 KiB, zero-filled up front for every connection: 2,000 clients would
/// cost 256 MiB before saying a word. Our messages are a few bytes, and a
/// bigger one is simply read in several turns.
const READ_BUFFER_SIZE: usize = 4 * 1024;

/// How many connections the system may hold for us before we accept them.
/// tokio's `TcpListener::bind` asks for 128: a crowd arriving faster than
/// that is dropped and waits a whole second for TCP to try again.
const ACCEPT_QUEUE: u32 = 1024;

/// The exercise of chapter 4: how often the server pings each client,
/// unless `HEARTBEAT_SECS` says otherwise. A client that has not answered
/// one ping by the time the next is due is dropped.
const DEFAULT_HEARTBEAT: Duration = Duration::from_secs(5);

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
    let heartbeat = heartbeat_from_env()?;
    let listeners = listen()?;

    // Ctrl+C must reach every connection, so each one holds a receiver of
    // this channel and says goodbye (close code 1001) when it changes.
    let (shutdown, shutdown_signal) = watch::channel(false);
    let mut connections = JoinSet::new();
    // One Ctrl+C listener for the whole loop: a new one per turn could miss
    // a Ctrl+C that arrives between two turns.
    let mut ctrl_c = std::pin::pin!(tokio::signal::ctrl_c());
    loop {
        let accept_any = select_all(listeners.iter().map(|listener| Box::pin(listener.accept())));
        tokio::select! {
            (accepted, _, _) = accept_any => match accepted {
                Ok((stream, peer)) => {
                    connections.spawn(handle_connection(stream, peer, shutdown_signal.clone(), heartbeat));
                }
                // Usually "too many open files": wait a moment instead of spinning.
                Err(error) => {
                    eprintln!("could not accept a connection: {error}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
            // Collect the connections that have finished.
            Some(_) = connections.join_next() => {}
            signal = &mut ctrl_c => {
                signal.context("cannot listen for Ctrl+C")?;
                break;
            }
        }
    }

    drop(listeners);
    let open = OPEN_CONNECTIONS.load(Ordering::Relaxed);
    println!("Shutting down: closing {open} WebSocket connection(s) with code 1001 (going away)");
    shutdown.send_replace(true);
    let all_closed = async { while connections.join_next().await.is_some() {} };
    if timeout(SHUTDOWN_GRACE, all_closed).await.is_err() {
        connections.abort_all();
    }
    Ok(())
}

/// Binds the port and prints the address to use.
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
    println!("ws://{shown_host}:{port}");
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
        "Listening on {} ({reach}). Press Ctrl+C to stop.",
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

/// One client, from its first byte to its last.
///
/// A WebSocket starts life as an HTTP request that asks to "upgrade" the
/// connection. We read that request ourselves, so that anything that is not
/// a valid upgrade gets the same clear answer Node's `ws` gives (426 for a
/// browser asking for a page), instead of a silently closed connection.
async fn handle_connection(
    mut stream: TcpStream,
    peer: SocketAddr,
    shutdown: watch::Receiver<bool>,
    heartbeat: Duration,
) {
    let head = match timeout(HANDSHAKE_TIMEOUT, read_request_head(&mut stream)).await {
        Ok(Ok(head)) => head,
        Ok(Err(ReadError::Closed)) => return,
        Ok(Err(ReadError::Refused(refusal))) => return refuse(stream, "?", "?", refusal).await,
        Err(_) => {
            println!(
                "{peer}: no complete HTTP request within {HANDSHAKE_TIMEOUT:?}, connection dropped"
            );
            return;
        }
    };

    let key = match check_upgrade(&head) {
        Ok(key) => key,
        Err(refusal) => return refuse(stream, &head.method, &head.path, refusal).await,
    };

    // The handshake's answer: 101, and a hash of the client's key that proves
    // we understood the WebSocket request (RFC 6455, section 4.2.2).
    let response = format!(
        "HTTP/1.1 101 Switching Protocols\r\n\
         Upgrade: websocket\r\n\
         Connection: Upgrade\r\n\
         Sec-WebSocket-Accept: {}\r\n\r\n",
        derive_accept_key(key.as_bytes())
    );
    if stream.write_all(response.as_bytes()).await.is_err() {
        return;
    }

    // From here on the same TCP connection carries WebSocket frames.
    // Bytes the client sent right after its request belong to them.
    let config = WebSocketConfig::default()
        .max_message_size(Some(MAX_MESSAGE_SIZE))
        .max_frame_size(Some(MAX_MESSAGE_SIZE))
        .read_buffer_size(READ_BUFFER_SIZE);
    let websocket =
        WebSocketStream::from_partially_read(stream, head.rest, Role::Server, Some(config)).await;
    let open = OPEN_CONNECTIONS.fetch_add(1, Ordering::Relaxed) + 1;
    println!("Connected: {peer} ({open} open)");
    let why_it_ended = talk(websocket, shutdown, heartbeat).await;
    let open = OPEN_CONNECTIONS.fetch_sub(1, Ordering::Relaxed) - 1;
    println!("Disconnected: {peer}, {why_it_ended} ({open} open)");
}

/// The conversation itself: greet, then print what the client says until
/// either side closes. Returns why it ended, for the log.
async fn talk(
    mut websocket: WebSocketStream<TcpStream>,
    mut shutdown: watch::Receiver<bool>,
    heartbeat: Duration,
) -> String {
    if let Err(error) = websocket.send(Message::text(GREETING)).await {
        return format!("greeting failed: {error}");
    }
    // A ping every `heartbeat`. A client whose network died, or whose
    // laptop went to sleep, never says goodbye: without an answer to the
    // last ping by the next tick, we stop waiting for it.
    let mut ticks = tokio::time::interval(heartbeat);
    ticks.tick().await; // the first tick comes at once
    let mut answered = true;
    loop {
        tokio::select! {
            _ = ticks.tick() => {
                if !answered {
                    return format!("no pong within {heartbeat:?} of a ping, dropped");
                }
                answered = false;
                if let Err(error) = websocket.send(Message::Ping(Default::default())).await {
                    return format!("ping failed: {error}");
                }
            }
            message = websocket.next() => match message {
                Some(Ok(Message::Text(text))) => println!("Received: {text}"),
                Some(Ok(Message::Binary(bytes))) => {
                    println!("Received {} bytes of binary data", bytes.len());
                }
                Some(Ok(Message::Pong(_))) => answered = true,
                // tungstenite answers pings and the closing handshake itself.
                Some(Ok(_)) => {}
                None => return "closed".to_string(),
                Some(Err(WsError::Protocol(ProtocolError::ResetWithoutClosingHandshake))) => {
                    return "left without a closing handshake".to_string();
                }
                Some(Err(error)) => {
                    // Tell the client why, with the code RFC 6455 gives.
                    if let Some(code) = close_code_for(&error) {
                        let frame = CloseFrame { code, reason: error.to_string().into() };
                        let _ = timeout(SHUTDOWN_GRACE, websocket.close(Some(frame))).await;
                    }
                    return format!("ended with an error: {error}");
                }
            },
            _ = shutdown.changed() => {
                let frame = CloseFrame { code: CloseCode::Away, reason: "server shutting down".into() };
                let goodbye = async {
                    websocket.close(Some(frame)).await?;
                    // Wait for the client's close frame, which ends the stream.
                    while websocket.next().await.transpose()?.is_some() {}
                    Ok::<_, WsError>(())
                };
                let _ = timeout(SHUTDOWN_GRACE, goodbye).await;
                return "server shut down".to_string();
            }
        }
    }
}

/// The ping interval: `HEARTBEAT_SECS` seconds, or `DEFAULT_HEARTBEAT`.
fn heartbeat_from_env() -> anyhow::Result<Duration> {
    match std::env::var("HEARTBEAT_SECS") {
        Ok(text) => match text.parse::<u64>() {
            Ok(seconds @ 1..) => Ok(Duration::from_secs(seconds)),
            _ => bail!("HEARTBEAT_SECS must be a whole number of seconds, 1 or more, not `{text}`"),
        },
        Err(_) => Ok(DEFAULT_HEARTBEAT),
    }
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

/// The parts of an HTTP request head that decide our answer.
struct RequestHead {
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    /// Bytes that arrived after the head.
    rest: Vec<u8>,
}

impl RequestHead {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }
}

/// An HTTP error answer: status line, body, extra headers, and the reason we
/// print on the server's console.
struct Refusal {
    status: &'static str,
    body: &'static str,
    extra_headers: &'static str,
    reason: &'static str,
}

enum ReadError {
    Closed,
    Refused(Refusal),
}

async fn read_request_head(stream: &mut TcpStream) -> Result<RequestHead, ReadError> {
    let mut buffer = Vec::with_capacity(1024);
    loop {
        let mut chunk = [0; 4096];
        let read = stream
            .read(&mut chunk)
            .await
            .map_err(|_| ReadError::Closed)?;
        if read == 0 {
            return Err(ReadError::Closed);
        }
        buffer.extend_from_slice(&chunk[..read]);

        let mut headers = [httparse::EMPTY_HEADER; 64];
        let mut request = httparse::Request::new(&mut headers);
        match request.parse(&buffer) {
            Ok(httparse::Status::Complete(head_length)) if head_length <= MAX_REQUEST_HEAD => {
                return Ok(RequestHead {
                    method: request.method.unwrap_or_default().to_string(),
                    path: request.path.unwrap_or_default().to_string(),
                    headers: request
                        .headers
                        .iter()
                        .map(|h| {
                            (
                                h.name.to_string(),
                                String::from_utf8_lossy(h.value).into_owned(),
                            )
                        })
                        .collect(),
                    rest: buffer[head_length..].to_vec(),
                });
            }
            Ok(httparse::Status::Partial) if buffer.len() <= MAX_REQUEST_HEAD => {}
            Ok(_) | Err(httparse::Error::TooManyHeaders) => {
                return Err(ReadError::Refused(TOO_LARGE));
            }
            Err(_) => return Err(ReadError::Refused(NOT_HTTP)),
        }
    }
}

const NOT_HTTP: Refusal = Refusal {
    status: "400 Bad Request",
    body: "",
    extra_headers: "",
    reason: "not an HTTP request",
};

const TOO_LARGE: Refusal = Refusal {
    status: "431 Request Header Fields Too Large",
    body: "",
    extra_headers: "",
    reason: "the request head is over 16 KiB",
};

/// Decides whether a request is a valid WebSocket upgrade, checking in the
/// order Node's `ws` does. Returns the client's `Sec-WebSocket-Key`.
fn check_upgrade(head: &RequestHead) -> Result<&str, Refusal> {
    let asks_for_upgrade = head.header("Upgrade").is_some()
        && head.header("Connection").is_some_and(|value| {
            value
                .split(',')
                .any(|token| token.trim().eq_ignore_ascii_case("upgrade"))
        });
    if !asks_for_upgrade {
        // A browser opening the address as a web page lands here.
        return Err(Refusal {
            status: "426 Upgrade Required",
            body: "Upgrade Required",
            extra_headers: "",
            reason: "plain HTTP; this server only speaks WebSocket",
        });
    }
    if head.method != "GET" {
        return Err(Refusal {
            status: "405 Method Not Allowed",
            body: "Invalid HTTP method",
            extra_headers: "",
            reason: "a WebSocket upgrade must use GET",
        });
    }
    if !head
        .header("Upgrade")
        .is_some_and(|value| value.eq_ignore_ascii_case("websocket"))
    {
        return Err(Refusal {
            status: "400 Bad Request",
            body: "Invalid Upgrade header",
            extra_headers: "",
            reason: "upgrade to something other than websocket",
        });
    }
    let key = head
        .header("Sec-WebSocket-Key")
        .filter(|key| is_valid_key(key));
    let Some(key) = key else {
        return Err(Refusal {
            status: "400 Bad Request",
            body: "Missing or invalid Sec-WebSocket-Key header",
            extra_headers: "",
            reason: "no valid Sec-WebSocket-Key",
        });
    };
    if head.header("Sec-WebSocket-Version") != Some("13") {
        return Err(Refusal {
            status: "400 Bad Request",
            body: "Missing or invalid Sec-WebSocket-Version header",
            extra_headers: "Sec-WebSocket-Version: 13\r\n",
            reason: "WebSocket version is not 13",
        });
    }
    Ok(key)
}

/// A key is 16 random bytes in base64: 22 characters and `==`.
fn is_valid_key(key: &str) -> bool {
    key.len() == 24
        && key.ends_with("==")
        && key[..22]
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || byte == b'+' || byte == b'/')
}

/// Answers with an HTTP error, explains it on the console, and hangs up.
async fn refuse(mut stream: TcpStream, method: &str, path: &str, refusal: Refusal) {
    println!("{method} {path} -> {} ({})", refusal.status, refusal.reason);
    // A HEAD request gets the headers without the body.
    let body = if method == "HEAD" { "" } else { refusal.body };
    let response = format!(
        "HTTP/1.1 {}\r\n\
         Content-Type: text/plain\r\n\
         Content-Length: {}\r\n\
         {}Connection: close\r\n\r\n{body}",
        refusal.status,
        refusal.body.len(),
        refusal.extra_headers,
    );
    let _ = stream.write_all(response.as_bytes()).await;
    let _ = stream.shutdown().await;
    // Read what the client still sends until it hangs up too: closing with
    // unread bytes would reset the connection and could destroy our answer.
    let mut sink = [0; 1024];
    let drain = async { while matches!(stream.read(&mut sink).await, Ok(1..)) {} };
    let _ = timeout(SHUTDOWN_GRACE, drain).await;
}

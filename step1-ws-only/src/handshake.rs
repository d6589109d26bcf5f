//! The opening handshake: the HTTP request that turns a TCP connection into
//! a WebSocket, read by us rather than by the library.
//!
//! tungstenite's own `accept` hangs up on a request that is not an upgrade
//! without any HTTP answer, so a browser opening http://localhost:8080/
//! would show an empty response. We read the request head ourselves and
//! give every request that is not a valid upgrade the clear answer Node's
//! `ws` gives: `426 Upgrade Required` for a browser asking for a page, 400
//! or 405 for a broken upgrade (see `refusal`). A valid one gets
//! `101 Switching Protocols`.
//!
//! The request head is read within limits of time and size, so that idle,
//! very slow or endless requests cannot pile up.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};

use crate::refusal::{self, Refusal};

/// A client connection once the handshake is done.
pub type WebSocket = WebSocketStream<TcpStream>;

/// A client that has not finished its HTTP request in this time is dropped.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The largest HTTP request head we read. Browsers send well under 2 KiB;
/// Node.js stops at 16 KiB too and answers 431, as we do.
const MAX_REQUEST_HEAD: usize = 16 * 1024;

/// The largest WebSocket message we accept. The page sends a few bytes, and
/// without a limit one client could make the server buffer up to
/// tungstenite's default of 64 MiB. A bigger message closes that connection
/// with code 1009 (message too big); every other client carries on.
const MAX_MESSAGE_SIZE: usize = 64 * 1024;

/// How many bytes tungstenite reads from a client at a time. Its default is
/// 128 KiB, reserved for every connection: 5,000 idle clients would cost
/// 625 MiB. The page's messages are a few dozen bytes, and a bigger one is
/// still read whole (tungstenite makes room for each frame it announces),
/// so 512 bytes is plenty: an open connection costs about 2.5 KiB in step 1
/// and 3 KiB in step 3 in all (`cargo xtask load` measures it).
const READ_BUFFER_SIZE: usize = 512;

/// Reads the client's request and answers it. Returns the WebSocket when
/// the request was a valid upgrade; otherwise the client has been answered
/// and the reason printed.
pub async fn accept(mut stream: TcpStream, peer: SocketAddr) -> Option<WebSocket> {
    let upgrade = match timeout(HANDSHAKE_TIMEOUT, read_upgrade(&mut stream)).await {
        Ok(Ok(upgrade)) => upgrade,
        Ok(Err(Failure::Gone)) => return None,
        Ok(Err(Failure::Refused { request, refusal })) => {
            refusal::send(stream, &request, refusal).await;
            return None;
        }
        Err(_) => {
            println!(
                "{peer}: no complete HTTP request within {HANDSHAKE_TIMEOUT:?}, connection dropped"
            );
            return None;
        }
    };

    // The handshake's answer: 101, and a hash of the client's key that proves
    // we understood the WebSocket request (RFC 6455, section 4.2.2).
    let response = format!(
        "HTTP/1.1 101 Switching Protocols\r\n\
         Upgrade: websocket\r\n\
         Connection: Upgrade\r\n\
         Sec-WebSocket-Accept: {}\r\n\r\n",
        derive_accept_key(upgrade.key.as_bytes())
    );
    stream.write_all(response.as_bytes()).await.ok()?;

    // From here on the same TCP connection carries WebSocket frames.
    // Bytes the client sent right after its request belong to them.
    let config = WebSocketConfig::default()
        .max_message_size(Some(MAX_MESSAGE_SIZE))
        .max_frame_size(Some(MAX_MESSAGE_SIZE))
        .read_buffer_size(READ_BUFFER_SIZE);
    Some(
        WebSocketStream::from_partially_read(stream, upgrade.rest, Role::Server, Some(config))
            .await,
    )
}

/// What a valid upgrade request leaves us.
struct Upgrade {
    /// The client's `Sec-WebSocket-Key`.
    key: String,
    /// Bytes that arrived after the request head.
    rest: Vec<u8>,
}

enum Failure {
    /// The client hung up before finishing its request.
    Gone,
    /// The request is not a valid upgrade, and gets `refusal`.
    Refused {
        /// What the console shows of it: `GET /`, or `? ?` when unreadable.
        request: String,
        refusal: Refusal,
    },
}

/// Reads until the request head is complete, then decides. The bytes are
/// read straight into one growing buffer; the parsed headers live only
/// while we decide, so nothing of the request stays with the connection.
async fn read_upgrade(stream: &mut TcpStream) -> Result<Upgrade, Failure> {
    let mut buffer = Vec::with_capacity(1024);
    loop {
        match stream.read_buf(&mut buffer).await {
            Ok(0) | Err(_) => return Err(Failure::Gone),
            Ok(_) => {}
        }
        if let Some(decided) = decide(&buffer) {
            return decided;
        }
    }
}

/// Parses what has arrived so far: `None` while the head is incomplete.
fn decide(buffer: &[u8]) -> Option<Result<Upgrade, Failure>> {
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut request = httparse::Request::new(&mut headers);
    let unreadable = |refusal| {
        let request = "? ?".to_string();
        Some(Err(Failure::Refused { request, refusal }))
    };
    match request.parse(buffer) {
        Ok(httparse::Status::Complete(length)) if length <= MAX_REQUEST_HEAD => {
            Some(match check_upgrade(&request) {
                Ok(key) => Ok(Upgrade {
                    key: key.to_string(),
                    rest: buffer[length..].to_vec(),
                }),
                Err(refusal) => {
                    let method = request.method.unwrap_or_default();
                    let path = request.path.unwrap_or_default();
                    let request = format!("{method} {path}");
                    Err(Failure::Refused { request, refusal })
                }
            })
        }
        Ok(httparse::Status::Partial) if buffer.len() <= MAX_REQUEST_HEAD => None,
        Ok(_) | Err(httparse::Error::TooManyHeaders) => unreadable(TOO_LARGE),
        Err(_) => unreadable(NOT_HTTP),
    }
}

const NOT_HTTP: Refusal = Refusal {
    status: "400 Bad Request",
    body: "",
    headers: "Connection: close\r\n",
    reason: "not an HTTP request",
};

const TOO_LARGE: Refusal = Refusal {
    status: "431 Request Header Fields Too Large",
    body: "",
    headers: "Connection: close\r\n",
    reason: "the request head is over 16 KiB",
};

/// Decides whether a request is a valid WebSocket upgrade, checking in the
/// order Node's `ws` does (stricter about the key and subprotocols).
/// Returns the client's `Sec-WebSocket-Key`.
fn check_upgrade<'a>(request: &httparse::Request<'_, 'a>) -> Result<&'a str, Refusal> {
    let header = |name: &str| {
        request
            .headers
            .iter()
            .find(|header| header.name.eq_ignore_ascii_case(name))
            .and_then(|header| std::str::from_utf8(header.value).ok())
    };
    let asks_for_upgrade = header("Upgrade").is_some()
        && header("Connection").is_some_and(|value| {
            value
                .split(',')
                .any(|token| token.trim().eq_ignore_ascii_case("upgrade"))
        });
    if !asks_for_upgrade {
        // A browser opening the address as a web page lands here. RFC 9110
        // asks a 426 to name the protocol to upgrade to, and whoever sends
        // `Upgrade` to list it in `Connection` too (section 7.8); Node's
        // `ws` does neither.
        return Err(Refusal {
            status: "426 Upgrade Required",
            body: "Upgrade Required",
            headers: "Upgrade: websocket\r\nConnection: Upgrade, close\r\n",
            reason: "plain HTTP; this server only speaks WebSocket",
        });
    }
    if request.method != Some("GET") {
        return Err(Refusal {
            status: "405 Method Not Allowed",
            body: "Invalid HTTP method",
            headers: "Connection: close\r\n",
            reason: "a WebSocket upgrade must use GET",
        });
    }
    if !header("Upgrade").is_some_and(|value| value.eq_ignore_ascii_case("websocket")) {
        return Err(Refusal {
            status: "400 Bad Request",
            body: "Invalid Upgrade header",
            headers: "Connection: close\r\n",
            reason: "upgrade to something other than websocket",
        });
    }
    let Some(key) = header("Sec-WebSocket-Key").filter(|key| is_valid_key(key)) else {
        return Err(Refusal {
            status: "400 Bad Request",
            body: "Missing or invalid Sec-WebSocket-Key header",
            headers: "Connection: close\r\n",
            reason: "no valid Sec-WebSocket-Key",
        });
    };
    if header("Sec-WebSocket-Version") != Some("13") {
        return Err(Refusal {
            status: "400 Bad Request",
            body: "Missing or invalid Sec-WebSocket-Version header",
            headers: "Sec-WebSocket-Version: 13\r\nConnection: close\r\n",
            reason: "WebSocket version is not 13",
        });
    }
    // A page that offers subprotocols (`new WebSocket(url, ['chat'])`)
    // fails the connection unless the 101 names one of them. We speak
    // none, so we say so rather than answer a 101 the browser rejects.
    if header("Sec-WebSocket-Protocol").is_some() {
        return Err(Refusal {
            status: "400 Bad Request",
            body: "This server speaks plain WebSocket and no subprotocol (Sec-WebSocket-Protocol)",
            headers: "Connection: close\r\n",
            reason: "Sec-WebSocket-Protocol asks for a subprotocol; this server speaks none",
        });
    }
    Ok(key)
}

/// A key is 16 random bytes in base64: 22 characters and `==`. The 22
/// characters hold 132 bits, so the last one carries 4 bits beyond the 16
/// bytes, which are zero: it is `A`, `Q`, `g` or `w`.
fn is_valid_key(key: &str) -> bool {
    let Some(encoded) = key.strip_suffix("==") else {
        return false;
    };
    encoded.len() == 22
        && encoded
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || byte == b'+' || byte == b'/')
        && encoded.ends_with(['A', 'Q', 'g', 'w'])
}

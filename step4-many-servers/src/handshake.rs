//! The opening handshake: a request on `/chat` that asks to upgrade
//! becomes a WebSocket, or gets a refusal that says why.
//!
//! This is step 3's handshake, checked in the same order. It takes the
//! session cookie along (see `login`), so that `main` can ask Redis who the
//! page is before answering 101; a page of another site is refused here,
//! with 403, before its cookie is even looked at. And since a chat holds
//! thousands of pages, what the WebSocket keeps for each is cut down: a
//! smaller read buffer, no write buffer of tungstenite's own (`batched`
//! gathers the writes instead), the TCP connection taken back from hyper
//! at once, and the WebSocket handed over boxed.

use std::future::Future;

use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};
use warp::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use warp::reply::Response;
use warp::{Filter, Rejection};

use crate::batched::Batched;
use crate::login;
use crate::origin;
use crate::refusal::Refusal;

/// A client connection once the handshake is done: WebSocket frames over
/// the TCP connection hyper hands back after the 101, with its writes sent
/// in batches (see `batched`).
pub type WebSocket = WebSocketStream<Batched<TcpStream>>;

/// The largest WebSocket message we accept: room for the longest chat line
/// (`protocol::MAX_CHAT_CHARS`) in JSON. A bigger message closes that
/// connection with code 1009 (message too big); every other page carries on.
const MAX_MESSAGE_SIZE: usize = 16 * 1024;

/// How many bytes tungstenite reads from a client at a time. Its default is
/// 128 KiB, reserved for every connection: 5,000 idle clients would cost
/// 625 MiB. The page's messages are a few dozen bytes, and a bigger one is
/// still read whole (tungstenite makes room for each frame it announces).
/// Step 3 reads 512 bytes at a time; a chat holds thousands of pages, and
/// 256 bytes still take a typed line in one read.
const READ_BUFFER_SIZE: usize = 256;

/// How many bytes tungstenite gathers before it writes: none, each frame
/// goes on at once to `Batched`, which gathers them instead. tungstenite's
/// own buffer keeps the size it once grew to for as long as the connection
/// lives, and with nothing gathered there it stays the size of one frame
/// (`sending::FRAME_BYTES` at most).
const WRITE_BUFFER_SIZE: usize = 0;

/// A valid upgrade request, ready to be answered with 101.
pub struct Upgrade {
    key: String,
    on_upgrade: OnUpgrade,
    /// The session token from the `Cookie` header, if the page sent one.
    pub session: Option<String>,
}

/// Takes the requests that ask to upgrade (`Upgrade` and `Connection:
/// upgrade` headers) and checks them; any other request is left to the
/// other routes.
pub fn upgrade()
-> impl Filter<Extract = (Result<Upgrade, Refusal>,), Error = Rejection> + Clone + Send + Sync {
    warp::method()
        .and(warp::header::headers_cloned())
        .and(warp::ext::optional::<OnUpgrade>())
        .and_then(
            |method: Method, headers: HeaderMap, on_upgrade: Option<OnUpgrade>| async move {
                if !asks_for_upgrade(&headers) {
                    return Err(warp::reject());
                }
                Ok::<_, Rejection>(check_upgrade(&method, &headers, on_upgrade))
            },
        )
}

fn asks_for_upgrade(headers: &HeaderMap) -> bool {
    headers.contains_key(header::UPGRADE)
        && header_text(headers, header::CONNECTION.as_str()).is_some_and(|value| {
            value
                .split(',')
                .any(|token| token.trim().eq_ignore_ascii_case("upgrade"))
        })
}

fn header_text<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|value| value.to_str().ok())
}

/// Checks an upgrade request in the order step 1 does, then asks `origin`
/// whether the page that sent it may connect.
fn check_upgrade(
    method: &Method,
    headers: &HeaderMap,
    on_upgrade: Option<OnUpgrade>,
) -> Result<Upgrade, Refusal> {
    let refuse =
        |status, body, reason: &str| Refusal::new(format!("{method} /chat"), status, body, reason);
    if method != Method::GET {
        return Err(refuse(
            StatusCode::METHOD_NOT_ALLOWED,
            "Invalid HTTP method",
            "a WebSocket upgrade must use GET",
        ));
    }
    if !header_text(headers, "upgrade").is_some_and(|value| value.eq_ignore_ascii_case("websocket"))
    {
        return Err(refuse(
            StatusCode::BAD_REQUEST,
            "Invalid Upgrade header",
            "upgrade to something other than websocket",
        ));
    }
    let Some(key) = header_text(headers, "sec-websocket-key").filter(|key| is_valid_key(key))
    else {
        return Err(refuse(
            StatusCode::BAD_REQUEST,
            "Missing or invalid Sec-WebSocket-Key header",
            "no valid Sec-WebSocket-Key",
        ));
    };
    if header_text(headers, "sec-websocket-version") != Some("13") {
        let refusal = refuse(
            StatusCode::BAD_REQUEST,
            "Missing or invalid Sec-WebSocket-Version header",
            "WebSocket version is not 13",
        );
        return Err(refusal.naming_version());
    }
    // A page that offers subprotocols (`new WebSocket(url, ['chat'])`)
    // fails the connection unless the 101 names one of them. We speak
    // none, so we say so rather than answer a 101 the browser rejects.
    if headers.contains_key(header::SEC_WEBSOCKET_PROTOCOL) {
        return Err(refuse(
            StatusCode::BAD_REQUEST,
            "This server speaks plain WebSocket and no subprotocol (Sec-WebSocket-Protocol)",
            "Sec-WebSocket-Protocol asks for a subprotocol; this server speaks none",
        ));
    }
    let origin = header_text(headers, "origin");
    let host = header_text(headers, "host");
    if !origin::same_origin(origin, host) {
        return Err(refuse(
            StatusCode::FORBIDDEN,
            "WebSocket refused: only this server's own page may open it",
            &format!(
                "a WebSocket from a page that is not ours: Origin {}; our page is http://{}/",
                origin.unwrap_or_default(),
                host.unwrap_or("localhost"),
            ),
        ));
    }
    // hyper hands us the connection through `on_upgrade` once our 101 is
    // sent. It is missing only where an upgrade is impossible (HTTP/1.0).
    let Some(on_upgrade) = on_upgrade else {
        return Err(refuse(
            StatusCode::BAD_REQUEST,
            "This connection cannot be upgraded",
            "no upgrade possible on this connection",
        ));
    };
    Ok(Upgrade {
        key: key.to_string(),
        on_upgrade,
        session: login::token_in(header_text(headers, "cookie")),
    })
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

impl Upgrade {
    /// Answers 101 and, once hyper has sent it, runs `conversation` on the
    /// WebSocket in a task of its own.
    ///
    /// The WebSocket is handed over boxed. Each future that is given it
    /// keeps room for it (over 300 bytes) for as long as it runs, even
    /// once it has passed it on, so that a page would hold it three times.
    pub fn accept<F, C>(self, conversation: F) -> Response
    where
        F: FnOnce(Box<WebSocket>) -> C + Send + 'static,
        C: Future<Output = ()> + Send + 'static,
    {
        let config = WebSocketConfig::default()
            .max_message_size(Some(MAX_MESSAGE_SIZE))
            .max_frame_size(Some(MAX_MESSAGE_SIZE))
            .read_buffer_size(READ_BUFFER_SIZE)
            .write_buffer_size(WRITE_BUFFER_SIZE);
        let on_upgrade = self.on_upgrade;
        tokio::spawn(async move {
            // An error here means the client left before the 101 reached it.
            let Ok(upgraded) = on_upgrade.await else {
                return;
            };
            // The TCP connection itself (as `connection` gave it to hyper),
            // and what hyper read past the request, if anything: taken out
            // now, so that hyper's read buffer (8 KiB) goes now and not at
            // the page's first message.
            let Ok(parts) = upgraded.downcast::<TokioIo<TcpStream>>() else {
                eprintln!("an upgraded connection that is not TCP; dropped");
                return;
            };
            let io = Batched::new(parts.io.into_inner());
            let read = parts.read_buf.to_vec();
            let websocket =
                WebSocketStream::from_partially_read(io, read, Role::Server, Some(config)).await;
            // A task of its own: a task keeps room for the largest state its
            // future can reach, and the handshake's are over, so the page
            // keeps only what its conversation needs.
            tokio::spawn(conversation(Box::new(websocket)));
        });

        // The handshake's answer: 101, and a hash of the client's key that
        // proves we understood the WebSocket request (RFC 6455, 4.2.2).
        let mut response = Response::default();
        *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
        let headers = response.headers_mut();
        headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
        headers.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
        let accept = HeaderValue::try_from(derive_accept_key(self.key.as_bytes()))
            .expect("base64 is a valid header value");
        headers.insert(header::SEC_WEBSOCKET_ACCEPT, accept);
        response
    }
}

//! A refusal: the HTTP answer to a request that does not open a WebSocket,
//! and the line that explains it on the server's console.
//!
//! `handshake` decides which refusal a request gets; `send` writes it and
//! closes the connection without destroying the answer on the way.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;

/// How long a refused client may take to hang up after our answer.
const REFUSAL_GRACE: Duration = Duration::from_secs(1);

/// An HTTP error answer, and the reason we print on the server's console.
pub struct Refusal {
    /// The status line after `HTTP/1.1`, such as `400 Bad Request`.
    pub status: &'static str,
    pub body: &'static str,
    /// The header lines after `Content-Type` and `Content-Length`, each
    /// ending in `\r\n`. Every refusal ends the connection, so they always
    /// include `Connection: close`.
    pub headers: &'static str,
    pub reason: &'static str,
}

/// Answers `request` (what the console shows of it, such as `GET /`) with
/// `refusal`, explains it on the console, and hangs up.
pub async fn send(mut stream: TcpStream, request: &str, refusal: Refusal) {
    println!("{request} -> {} ({})", refusal.status, refusal.reason);
    // A HEAD request gets the headers without the body.
    let body = if request.starts_with("HEAD ") {
        ""
    } else {
        refusal.body
    };
    let response = format!(
        "HTTP/1.1 {}\r\n\
         Content-Type: text/plain\r\n\
         Content-Length: {}\r\n\
         {}\r\n{body}",
        refusal.status,
        refusal.body.len(),
        refusal.headers,
    );
    let _ = stream.write_all(response.as_bytes()).await;
    let _ = stream.shutdown().await;
    // Read what the client still sends until it hangs up too: closing with
    // unread bytes would reset the connection and could destroy our answer.
    let mut discard = Vec::with_capacity(1024);
    let drain = async {
        loop {
            discard.clear();
            if !matches!(stream.read_buf(&mut discard).await, Ok(1..)) {
                break;
            }
        }
    };
    let _ = timeout(REFUSAL_GRACE, drain).await;
}

//! One TCP connection, served by hyper until the client closes it or it
//! becomes a WebSocket.
//!
//! hyper reads each HTTP request head for us, within two limits, so that a
//! client that sends nothing, or one byte a second, or an endless header,
//! cannot hold the connection for ever: the head must arrive within
//! `HEAD_TIMEOUT` and be at most `MAX_REQUEST_HEAD` bytes (above it hyper
//! answers 431; to bytes that are not HTTP it answers 400). `warp::serve`
//! has no way to set either, which is why we serve connections ourselves.

use std::net::SocketAddr;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpStream;
use warp::{Filter, Rejection, Reply};

use crate::shutdown::Notice;

/// A client that has not finished its HTTP request in this time is dropped,
/// so idle or very slow connections cannot pile up. The same holds for a
/// browser's idle keep-alive connection between two requests.
const HEAD_TIMEOUT: Duration = Duration::from_secs(10);

/// The largest HTTP request head we read; above it hyper answers 431, as
/// step 1 and Node.js do. Browsers send well under 2 KiB.
const MAX_REQUEST_HEAD: usize = 16 * 1024;

/// Serves the requests of one connection with `routes`. When the server
/// stops, it finishes the request in hand and closes.
pub async fn serve(
    stream: TcpStream,
    peer: SocketAddr,
    routes: impl Filter<Extract = (impl Reply,), Error = Rejection> + Clone + Send + Sync + 'static,
    mut shutdown: Notice,
) {
    let service = TowerToHyperService::new(warp::service(routes));
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(HEAD_TIMEOUT)
        .max_header_size(MAX_REQUEST_HEAD);
    let connection = http
        .serve_connection(TokioIo::new(stream), service)
        .with_upgrades();
    let mut connection = std::pin::pin!(connection);
    let result = tokio::select! {
        result = connection.as_mut() => result,
        () = shutdown.requested() => {
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
        format!("no complete HTTP request within {HEAD_TIMEOUT:?}, connection closed")
    } else if error.is_parse_too_large() {
        "-> 431 Request Header Fields Too Large (the request head is over 16 KiB)".to_string()
    } else if error.is_parse() {
        format!("-> 400 Bad Request (not an HTTP request: {error})")
    } else {
        format!("connection ended: {error}")
    }
}

//! A refusal: the HTTP answer to a request we turn away, and the line that
//! explains it on the server's console.
//!
//! `handshake` refuses broken upgrades and `origin` requests from pages or
//! names that are not ours; both describe the answer with a `Refusal`, and
//! `into_response` turns it into warp's reply.

use warp::Reply;
use warp::http::{HeaderValue, StatusCode, header};
use warp::reply::Response;

/// An HTTP error answer, and the reason we print on the server's console.
pub struct Refusal {
    /// What the console shows of the request, such as `GET /`.
    request: String,
    status: StatusCode,
    body: &'static str,
    reason: String,
    /// Whether to name the version we support (`Sec-WebSocket-Version: 13`).
    names_version: bool,
}

impl Refusal {
    /// `request` is what the console shows of it, such as `GET /`.
    pub fn new(request: String, status: StatusCode, body: &'static str, reason: &str) -> Refusal {
        Refusal {
            request,
            status,
            body,
            reason: reason.to_string(),
            names_version: false,
        }
    }

    /// The same refusal, naming the one WebSocket version we speak.
    pub fn naming_version(self) -> Refusal {
        Refusal {
            names_version: true,
            ..self
        }
    }

    /// Prints why on the console, and turns the refusal into the answer.
    pub fn into_response(self) -> Response {
        println!("{} -> {} ({})", self.request, self.status, self.reason);
        let mut response = warp::reply::with_status(self.body, self.status).into_response();
        if self.names_version {
            let headers = response.headers_mut();
            headers.insert(
                header::SEC_WEBSOCKET_VERSION,
                HeaderValue::from_static("13"),
            );
        }
        response
    }
}

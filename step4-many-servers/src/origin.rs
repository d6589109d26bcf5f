//! Who may use this server from a browser: only our own page, reached by
//! this machine's own name.
//!
//! Browsers let any web page open a WebSocket to any address, `localhost`
//! included, and do not apply the same-origin rules of `fetch` to it. What
//! they do is send the page's origin (scheme, host and port) in the
//! `Origin` header and never let a script change it. So a WebSocket is
//! accepted when `Origin` names the same host and port as `Host`: our page
//! at http://localhost:8080/ sends `Origin: http://localhost:8080`. A page
//! of any other origin is refused with 403, `http://localhost:8081`
//! included. Programs such as step 2 send no `Origin` and are let in: the
//! check protects people using a browser, it is not a password. It matters
//! most to a server that knows its users by cookie: the browser sends our
//! cookies with every upgrade to us, whichever page asks, so without the
//! check any site's script could talk to us as the user (cross-site
//! WebSocket hijacking).
//!
//! That comparison alone can be walked around by DNS rebinding: a hostile
//! site makes its own name, say `attacker.example`, resolve to 127.0.0.1.
//! Its page then sends `Host: attacker.example:8080` and a matching
//! `Origin`, and reaches our server. So while we listen on loopback only,
//! we also refuse every request whose `Host` is not one of this machine's
//! names: `localhost`, `127.0.0.1` or `[::1]`, with any port. With
//! `HOST=0.0.0.0` other devices reach us by our IP address or name, which
//! we cannot know in advance, so every `Host` is accepted and only the
//! `Origin` comparison remains.

use warp::http::{Method, StatusCode};
use warp::reply::Response;
use warp::{Filter, Rejection};

use crate::listener::Listener;
use crate::refusal::Refusal;

/// Which `Host` names the server answers to.
#[derive(Clone, Copy)]
pub enum Hosts {
    /// Listening on loopback: only `localhost`, `127.0.0.1` and `[::1]`.
    ThisMachine,
    /// Listening on the network (`HOST=0.0.0.0`): any name.
    Any,
}

impl Hosts {
    pub fn for_listener(listener: &Listener) -> Hosts {
        if listener.is_loopback_only() {
            Hosts::ThisMachine
        } else {
            Hosts::Any
        }
    }
}

/// Takes the requests whose `Host` names another machine, and refuses them;
/// every other request is left to the other routes. A request without
/// `Host` comes from a program, not a browser, and is let through.
pub fn refuse_other_hosts(
    hosts: Hosts,
) -> impl Filter<Extract = (Response,), Error = Rejection> + Clone {
    warp::header::optional::<String>("host")
        .and(warp::method())
        .and(warp::path::full())
        .and_then(
            move |host: Option<String>, method: Method, path: warp::path::FullPath| async move {
                match host {
                    Some(host) if !is_allowed(hosts, &host) => {
                        let refusal = Refusal::new(
                            format!("{method} {}", path.as_str()),
                            StatusCode::FORBIDDEN,
                            "Refused: this server answers only to localhost, 127.0.0.1 and [::1]",
                            &format!(
                                "Host {host} does not name this machine: \
                                 DNS rebinding, or a wrong address"
                            ),
                        );
                        Ok(refusal.into_response())
                    }
                    _ => Err(warp::reject()),
                }
            },
        )
}

/// Whether `host` (a `Host` header: a name, and maybe `:port`) is one we
/// answer to.
fn is_allowed(hosts: Hosts, host: &str) -> bool {
    let Hosts::ThisMachine = hosts else {
        return true;
    };
    let name = match host.rsplit_once(':') {
        // `[::1]:8080`, `localhost:8080`; but `[::1]` alone has colons too.
        Some((name, port)) if !port.contains(']') => name,
        _ => host,
    };
    name.eq_ignore_ascii_case("localhost") || name == "127.0.0.1" || name == "[::1]"
}

/// Whether the page that opens a WebSocket (`Origin`) comes from the server
/// it is talking to (`Host`): the same host and port. The scheme is left
/// out on purpose: behind a proxy that speaks TLS to the browser, our own
/// page is `https://...` while this server speaks plain HTTP. No `Origin`
/// means a program, not a browser.
pub fn same_origin(origin: Option<&str>, host: Option<&str>) -> bool {
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

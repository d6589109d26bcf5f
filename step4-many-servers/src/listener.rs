//! Where the server listens, and what it prints so a learner knows which
//! address to open.
//!
//! By default only this machine can connect: we listen on the loopback
//! addresses 127.0.0.1 and ::1, because a browser may resolve `localhost`
//! to either. `HOST=0.0.0.0` opens the server to the whole network, and
//! `PORT` picks another port.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use anyhow::{Context, bail};
use futures_util::future::select_all;
use tokio::net::{TcpListener, TcpSocket, TcpStream};

const DEFAULT_PORT: u16 = 8080;

/// How many connections the system may hold for us before we accept them.
/// tokio's `TcpListener::bind` asks for 128: a crowd arriving faster than
/// that is dropped and waits a whole second for TCP to try again.
const ACCEPT_QUEUE: u32 = 1024;

/// The system's send buffer for each connection, in bytes (Linux doubles
/// it for its own bookkeeping). Left alone, Linux grows the buffer of a
/// page that stops reading up to 4 MiB (`net.ipv4.tcp_wmem`), kernel
/// memory for each such page, and only then does the page fall behind the
/// fan-out and get closed (see `sending`). This holds a few hundred chat
/// lines, or a thousand joins: room for a burst, such as the pages of a
/// stopped instance all coming back at once.
const SEND_BUFFER: u32 = 64 * 1024;

/// One socket per address we listen on, all on the same port.
pub struct Listener {
    sockets: Vec<TcpListener>,
}

impl Listener {
    /// Whether only this machine can reach us (no `HOST=0.0.0.0`).
    pub fn is_loopback_only(&self) -> bool {
        self.sockets
            .iter()
            .filter_map(|socket| socket.local_addr().ok())
            .all(|address| address.ip().is_loopback())
    }

    /// The port we listen on, the same on every address.
    pub fn port(&self) -> u16 {
        self.sockets
            .first()
            .and_then(|socket| socket.local_addr().ok())
            .map_or(0, |address| address.port())
    }

    /// The next client to connect, on any of our addresses.
    pub async fn accept(&self) -> (TcpStream, SocketAddr) {
        loop {
            let accept_any =
                select_all(self.sockets.iter().map(|socket| Box::pin(socket.accept())));
            match accept_any.await {
                (Ok((stream, peer)), _, _) => {
                    // Each frame goes out as it is written. With Nagle's
                    // algorithm on (the system's default), a frame written
                    // while the last one is not yet acknowledged waits for
                    // that acknowledgement, which the page may hold back
                    // for up to 40 ms: a busy chat's lines came tens of
                    // milliseconds late (`cargo xtask load --step 4`).
                    // Without the option the page is still served, later.
                    let _ = stream.set_nodelay(true);
                    return (stream, peer);
                }
                // Usually "too many open files": wait a moment instead of spinning.
                (Err(error), _, _) => {
                    eprintln!("could not accept a connection: {error}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    }
}

/// Binds the port and prints the address to use.
pub fn listen() -> anyhow::Result<Listener> {
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
    let mut sockets = Vec::new();
    let mut port = port;
    for address in addresses {
        match bind(SocketAddr::new(address, port)) {
            Ok(socket) => {
                port = socket.local_addr()?.port();
                sockets.push(socket);
            }
            Err(error) if error.kind() == std::io::ErrorKind::AddrInUse => bail!(
                "port {port} is already in use: stop the other step (Ctrl+C) or run with PORT={}",
                port.wrapping_add(1)
            ),
            // A machine without IPv6 still serves on 127.0.0.1.
            Err(_) if !sockets.is_empty() => {}
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
    let bound: Vec<String> = sockets
        .iter()
        .filter_map(|socket| socket.local_addr().ok())
        .map(|address| address.to_string())
        .collect();
    let reach = match sockets.first().map(|socket| socket.local_addr()) {
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
    Ok(Listener { sockets })
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
    // Every connection accepted on this socket takes its size.
    socket.set_send_buffer_size(SEND_BUFFER)?;
    socket.bind(address)?;
    socket.listen(ACCEPT_QUEUE)
}

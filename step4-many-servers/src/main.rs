//! Step 4: many servers, one chat, nothing lost.
//!
//! Step 3's server holds everything in its own memory, so there can be only
//! one of it, and when it restarts everything goes. Here the chat lives in
//! Redis, and any number of instances of this server serve it, behind
//! nginx (see `nginx-balancer.conf`): a line typed on a page of instance A
//! reaches the pages of instance B, and a page whose instance stops
//! reconnects to another and misses nothing.
//!
//! The story, in the order it happens:
//!
//! 1. We connect to Redis (`broker`) and start following the chat's log,
//!    a Redis Stream (`chat_log`), handing each new line to our own pages
//!    (`fanout`).
//! 2. A visitor logs in with a name (`login`): a session in Redis, a cookie
//!    in the browser.
//! 3. The page opens a WebSocket on `/chat`. The upgrade needs our own
//!    page (`origin`, as in step 3) and a session.
//! 4. Then the page gets the history it has not seen, and the live chat
//!    after it (`sending`, which never lets a page that does not read hold
//!    up the others); what it sends is JSON (`protocol`), and each chat line
//!    goes into the log once, however often the page sends it (`once`), and
//!    from there to every page of every instance (`conversation`). While
//!    Redis is away the pages stay connected and hear that the chat is
//!    paused (`chat_log`).
//! 5. Ctrl+C or SIGTERM closes every page with 1001 (`shutdown`), and
//!    `GET /healthz` tells nginx or a load balancer whether we can serve
//!    (`health`).
//!
//! Step 3's defences come along: `connection`, `origin`, `refusal` and
//! `closing` unchanged, `listener` and `handshake` with what step 4 adds
//! (its port for the log, the session cookie on the upgrade, writes sent
//! in batches by `batched`).
//!
//! Run Redis (`redis-server`), then `cargo run -p step4`, and open
//! http://localhost:8080/. A second instance: `PORT=8081 cargo run -p step4`.

mod batched;
mod broker;
mod chat_log;
mod closing;
mod connection;
mod conversation;
mod fanout;
mod handshake;
mod health;
mod listener;
mod login;
mod once;
mod origin;
mod protocol;
mod refusal;
mod sending;
mod shutdown;

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use warp::reply::Response;
use warp::{Filter, Rejection, Reply};

use broker::Broker;
use conversation::Chat;
use fanout::Fanout;
use handshake::Upgrade;
use refusal::Refusal;
use shutdown::{Notice, Shutdown};

/// The page: log in, then chat, with the instance and the connection's
/// state in view.
const INDEX_HTML: &str = include_str!("index.html");

/// A small icon, so that browsers' requests for `/favicon.ico` get one.
const FAVICON_SVG: &str = include_str!("favicon.svg");

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
    // 1. Redis first: without it there is no chat to serve.
    let broker = Broker::connect().await?;
    let fanout = Arc::new(Fanout::default());
    // From the newest entry on, before any page can connect, so that no
    // entry falls between where we start and what a page's history holds.
    let newest = chat_log::newest(&broker).await?;
    let following = tokio::spawn(chat_log::follow(
        broker.clone(),
        newest,
        Arc::clone(&fanout),
    ));

    let stop = shutdown::stop_signal()?;
    let listener = listener::listen()?;
    let instance =
        std::env::var("INSTANCE").unwrap_or_else(|_| format!("port {}", listener.port()));
    println!(
        "Instance {instance}, sharing the chat through Redis at {}",
        broker.url
    );
    // One for the whole instance, which each connection points to.
    let chat = Arc::new(Chat {
        broker,
        fanout,
        instance: instance.into(),
    });

    let hosts = origin::Hosts::for_listener(&listener);
    let shutdown = Shutdown::new();
    let mut stop = std::pin::pin!(stop);
    loop {
        tokio::select! {
            (stream, peer) = listener.accept() => {
                let routes = routes(peer, hosts, Arc::clone(&chat), shutdown.notice());
                tokio::spawn(connection::serve(stream, peer, routes, shutdown.notice()));
            }
            () = &mut stop => break,
        }
    }
    drop(listener);
    let open = OPEN_CONNECTIONS.load(Ordering::Relaxed);
    println!("Shutting down: closing {open} WebSocket connection(s) with code 1001 (going away)");
    shutdown.close_all().await;
    following.abort();
    Ok(())
}

/// What this server answers: the page, the login, the health check and
/// the chat's WebSocket.
fn routes(
    peer: SocketAddr,
    hosts: origin::Hosts,
    chat: Arc<Chat>,
    shutdown: Notice,
) -> impl Filter<Extract = (impl Reply,), Error = Rejection> + Clone + Send + Sync + 'static {
    let page = warp::path::end()
        .and(warp::get())
        .map(|| warp::reply::html(INDEX_HTML));
    let favicon = warp::path!("favicon.ico")
        .and(warp::get())
        .map(|| warp::reply::with_header(FAVICON_SVG, "content-type", "image/svg+xml"));

    let chat_for_socket = Arc::clone(&chat);
    let websocket = warp::path!("chat")
        .and(handshake::upgrade())
        .and(warp::query::raw().or(warp::any().map(String::new)).unify())
        .then(move |upgrade: Result<Upgrade, Refusal>, query: String| {
            let (chat, shutdown) = (Arc::clone(&chat_for_socket), shutdown.clone());
            async move {
                match upgrade {
                    Ok(upgrade) => open_chat(upgrade, &query, peer, chat, shutdown).await,
                    Err(refusal) => refusal.into_response(),
                }
            }
        });

    origin::refuse_other_hosts(hosts)
        .or(websocket)
        .or(login::route(chat.broker.clone()))
        .or(health::route(chat.broker.clone()))
        .or(page)
        .or(favicon)
}

/// Step 3 of the story, the upgrade of a page that is ours: it needs a
/// session, and may say where it stopped (`?after=ID`).
async fn open_chat(
    upgrade: Upgrade,
    query: &str,
    peer: SocketAddr,
    chat: Arc<Chat>,
    shutdown: Notice,
) -> Response {
    let name = match login::who(&chat.broker, upgrade.session.as_deref(), "GET /chat").await {
        Ok(name) => name,
        Err(refusal) => return refusal,
    };
    let after = match conversation::resume_point(query) {
        Ok(after) => after,
        Err(refusal) => return refusal.into_response(),
    };
    upgrade.accept(move |websocket| async move {
        let open = OPEN_CONNECTIONS.fetch_add(1, Ordering::Relaxed) + 1;
        println!("Connected: {name} from {peer} ({open} open)");
        let why_it_ended = conversation::talk(websocket, &name, after, &chat, shutdown).await;
        let open = OPEN_CONNECTIONS.fetch_sub(1, Ordering::Relaxed) - 1;
        println!("Disconnected: {name}, {why_it_ended} ({open} open)");
    })
}

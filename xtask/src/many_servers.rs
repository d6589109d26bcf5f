//! Running step 4 for the checks and the tests: a `redis-server` of our
//! own, instances of step 4 pointed at it, nginx with the step's file in
//! front of two of them, and a client that logs in and speaks the chat's
//! JSON as the page does.
//!
//! Everything starts on a free port of 127.0.0.1 and stops when dropped.
//! `cargo xtask verify` (its "Step 4" group) and the tests of step 4 both
//! use these pieces.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use anyhow::{Context, bail, ensure};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};
use tokio::time::{Instant, sleep, timeout};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;

use crate::lang::Lang;
use crate::steps::{self, Program, Running, workspace_root};
pub(crate) use crate::tools::{find_nginx, find_redis};
use crate::wire::{self, ANSWER_TIMEOUT};

/// How long Redis may take to answer after it starts.
const REDIS_START_TIMEOUT: Duration = Duration::from_secs(10);

/// Long enough for a message to cross Redis and an instance on a busy machine.
pub(crate) const ARRIVES: Duration = Duration::from_secs(10);

/// A running `redis-server` of our own. Dropping it ends the process and
/// deletes its directory.
pub(crate) struct Redis {
    pub(crate) port: u16,
    pub(crate) child: Child,
    pub(crate) dir: PathBuf,
}

impl Redis {
    /// Starts `program` on a free port of 127.0.0.1, and waits until it
    /// answers `PING`.
    pub(crate) async fn start(program: &Path) -> anyhow::Result<Redis> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        Redis::start_on(program, port).await
    }

    /// Like `start`, on `port`: a Redis that comes back where it was.
    pub(crate) async fn start_on(program: &Path, port: u16) -> anyhow::Result<Redis> {
        let dir = std::env::temp_dir().join(format!("xtask-redis-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
        let mut command = Command::new(program);
        command
            .args(["--bind", "127.0.0.1", "--port", &port.to_string()])
            .args(["--appendonly", "yes", "--save", ""])
            .arg("--dir")
            .arg(&dir);
        let (child, output, _) = steps::spawn(command)?;
        let mut redis = Redis { port, child, dir };
        let deadline = Instant::now() + REDIS_START_TIMEOUT;
        while redis.ping().await.is_err() {
            if let Ok(Some(status)) = redis.child.try_wait() {
                sleep(Duration::from_millis(200)).await;
                bail!(
                    "{} exited ({status}) as it started; it printed:\n{}",
                    program.display(),
                    output.last(15).join("\n")
                );
            }
            ensure!(
                Instant::now() < deadline,
                "redis-server did not answer on 127.0.0.1:{port} within {REDIS_START_TIMEOUT:?}"
            );
            sleep(Duration::from_millis(50)).await;
        }
        Ok(redis)
    }

    pub(crate) fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// `PING` in Redis's protocol, by hand: `+PONG` back means it serves.
    async fn ping(&self) -> anyhow::Result<()> {
        let answer = wire::exchange(self.port, b"PING\r\nQUIT\r\n").await?;
        ensure!(
            answer.starts_with(b"+PONG"),
            "no +PONG: {}",
            wire::printable(&answer)
        );
        Ok(())
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        crate::tools::end_and_delete(&mut self.child, &self.dir);
    }
}

/// Logs in as `name`; returns the session cookie's token.
pub(crate) async fn log_in(port: u16, name: &str) -> anyhow::Result<String> {
    let body = format!("name={name}");
    let request = format!(
        "POST /login HTTP/1.1\r\nHost: localhost:{port}\r\nOrigin: http://localhost:{port}\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{body}",
        body.len()
    );
    let answer = wire::ask(port, request.as_bytes()).await?;
    ensure!(
        answer.status == 200,
        "POST /login got {}",
        answer.status_line
    );
    let cookie = answer.header("set-cookie").context("no Set-Cookie")?;
    for attribute in ["HttpOnly", "SameSite=Strict"] {
        ensure!(
            cookie.contains(attribute),
            "the cookie lacks {attribute}: {cookie}"
        );
    }
    let token = cookie
        .strip_prefix("session=")
        .and_then(|rest| rest.split(';').next())
        .with_context(|| format!("no session= in {cookie}"))?;
    Ok(token.to_string())
}

pub(crate) type Socket = WebSocketStream<TcpStream>;

/// Opens the chat on `/chat` (with `?after=ID` when given) as the page does
/// once logged in, over `stream`; returns the socket and its first
/// message, the history.
pub(crate) async fn open_chat_over(
    stream: TcpStream,
    port: u16,
    token: &str,
    after: Option<&str>,
) -> anyhow::Result<(Socket, Value)> {
    let query = after.map(|id| format!("?after={id}")).unwrap_or_default();
    let mut request = format!("ws://localhost:{port}/chat{query}").into_client_request()?;
    let headers = request.headers_mut();
    headers.insert("cookie", HeaderValue::try_from(format!("session={token}"))?);
    headers.insert(
        "origin",
        HeaderValue::try_from(format!("http://localhost:{port}"))?,
    );
    let (mut socket, _) = timeout(
        ANSWER_TIMEOUT,
        tokio_tungstenite::client_async(request, stream),
    )
    .await
    .context("no handshake answer in time")?
    .context("the WebSocket handshake failed")?;
    let history = next_json(&mut socket).await.context("no history")?;
    ensure!(
        history["type"] == "history",
        "the first message is not the history: {history}"
    );
    Ok((socket, history))
}

pub(crate) async fn open_chat(
    port: u16,
    token: &str,
    after: Option<&str>,
) -> anyhow::Result<(Socket, Value)> {
    let stream = TcpStream::connect(("127.0.0.1", port)).await?;
    open_chat_over(stream, port, token, after).await
}

/// The next JSON message, within `ARRIVES`.
pub(crate) async fn next_json(socket: &mut Socket) -> anyhow::Result<Value> {
    match wire::next_message(socket, ARRIVES).await? {
        Message::Text(text) => Ok(serde_json::from_str(&text)?),
        other => bail!("not a text message: {other:?}"),
    }
}

/// Reads until a chat line with `text` arrives; returns it.
pub(crate) async fn until_chat(socket: &mut Socket, text: &str) -> anyhow::Result<Value> {
    loop {
        let message = next_json(socket).await?;
        if message["type"] == "chat" && message["text"] == text {
            return Ok(message);
        }
    }
}

pub(crate) async fn say(socket: &mut Socket, text: &str) -> anyhow::Result<()> {
    let line = json!({"type": "chat", "text": text}).to_string();
    socket.send(Message::text(line)).await?;
    Ok(())
}

/// The close frame's code and reason at the end of what the server sends.
pub(crate) async fn close_code(
    socket: &mut Socket,
    wait: Duration,
) -> anyhow::Result<(u16, String)> {
    let read = async {
        while let Some(message) = socket.next().await {
            if let Message::Close(frame) = message? {
                let frame = frame.context("a close frame without a code")?;
                return Ok((u16::from(frame.code), frame.reason.to_string()));
            }
        }
        bail!("the connection ended without a close frame")
    };
    timeout(wait, read)
        .await
        .context("no close frame in time")?
}

/// An upgrade request for `/chat` by hand, with extra header lines.
pub(crate) fn upgrade_request(port: u16, extra: &str) -> String {
    format!(
        "GET /chat HTTP/1.1\r\nHost: localhost:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n{extra}\r\n"
    )
}

/// Polls the texts of `selector` in `page` until one satisfies `wanted`,
/// for at most `ARRIVES`; returns it.
pub(crate) async fn wait_for_text(
    page: &crate::browser::Page,
    selector: &str,
    wanted: impl Fn(&str) -> bool,
) -> anyhow::Result<String> {
    let deadline = Instant::now() + ARRIVES;
    loop {
        let texts = page.texts(selector).await?;
        if let Some(text) = texts.iter().find(|text| wanted(text)) {
            return Ok(text.clone());
        }
        ensure!(
            Instant::now() < deadline,
            "no {selector} as wanted within {ARRIVES:?}; the page shows {texts:?}"
        );
        sleep(Duration::from_millis(100)).await;
    }
}

/// The step's nginx file, relative to the workspace root.
pub(crate) const BALANCER_FILE: &str = "step4-many-servers/nginx-balancer.conf";

/// nginx with the step's file in front of two instances: nginx listens on
/// a free port of 127.0.0.1 instead of port 80, and the two `server` lines
/// name the instances' free ports instead of 8081 and 8082; the rest of the
/// file is as written. Dropping it ends nginx and deletes its directory.
///
pub(crate) struct Balancer {
    pub(crate) port: u16,
    pub(crate) child: Child,
    pub(crate) dir: PathBuf,
}

impl Balancer {
    pub(crate) async fn start(program: &Path, upstreams: [u16; 2]) -> anyhow::Result<Balancer> {
        let site = std::fs::read_to_string(workspace_root().join(BALANCER_FILE))?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let mut site = site;
        for (line, replacement) in [
            (
                "listen 127.0.0.1:8000;",
                format!("listen 127.0.0.1:{port};"),
            ),
            ("listen [::1]:8000;", String::new()),
            (
                "server 127.0.0.1:8081;",
                format!("server 127.0.0.1:{};", upstreams[0]),
            ),
            (
                "server 127.0.0.1:8082;",
                format!("server 127.0.0.1:{};", upstreams[1]),
            ),
        ] {
            ensure!(
                site.matches(line).count() == 1,
                "{BALANCER_FILE} must contain `{line}` exactly once: the test replaces it"
            );
            site = site.replace(line, &replacement);
        }
        let dir =
            std::env::temp_dir().join(format!("xtask-balancer-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        std::fs::write(dir.join("site.conf"), site)?;
        let shown = dir.display();
        let config = format!(
            "daemon off;\nmaster_process off;\npid {shown}/nginx.pid;\nerror_log stderr notice;\n\
             events {{}}\nhttp {{\n    access_log off;\n    client_body_temp_path {shown}/body;\n    \
             proxy_temp_path {shown}/proxy;\n    fastcgi_temp_path {shown}/fastcgi;\n    \
             uwsgi_temp_path {shown}/uwsgi;\n    scgi_temp_path {shown}/scgi;\n    \
             include {shown}/site.conf;\n}}\n"
        );
        std::fs::write(dir.join("nginx.conf"), config)?;
        let mut command = Command::new(program);
        command
            .args(["-e", "stderr", "-p"])
            .arg(&dir)
            .arg("-c")
            .arg(dir.join("nginx.conf"));
        let (child, output, _) = steps::spawn(command)?;
        let mut balancer = Balancer { port, child, dir };
        let deadline = Instant::now() + REDIS_START_TIMEOUT;
        while TcpStream::connect(("127.0.0.1", port)).await.is_err() {
            if let Ok(Some(status)) = balancer.child.try_wait() {
                sleep(Duration::from_millis(200)).await;
                bail!(
                    "nginx exited ({status}); it printed:\n{}",
                    output.last(15).join("\n")
                );
            }
            ensure!(
                Instant::now() < deadline,
                "nginx did not listen on {port} in time"
            );
            sleep(Duration::from_millis(50)).await;
        }
        Ok(balancer)
    }
}

impl Drop for Balancer {
    fn drop(&mut self) {
        crate::tools::end_and_delete(&mut self.child, &self.dir);
    }
}

/// Builds step 4 once per process, with the cargo that started us.
pub(crate) fn build_step4() -> Result<(), String> {
    build_step4_in(Lang::En)
}

/// Like `build_step4`, saying so in the learner's language.
pub(crate) fn build_step4_in(lang: Lang) -> Result<(), String> {
    static BUILT: OnceLock<Result<(), String>> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            steps::build_package_in("step4", lang).map_err(|error| format!("{error:#}"))
        })
        .clone()
}

/// An instance of step 4 on a free port, using `redis`, that pages show
/// as instance `name`.
pub(crate) async fn start_instance(redis: &Redis, name: &str) -> anyhow::Result<Running> {
    let url = redis.url();
    Program::of("step4")
        .start(&[("REDIS_URL", &url), ("INSTANCE", name)])
        .await
        .with_context(|| format!("instance {name} of step 4 did not start"))
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    /// Whatever Redis sends on `stream` within `wait`, as text.
    async fn read_for(stream: &mut TcpStream, wait: Duration) -> String {
        let mut bytes = Vec::new();
        let _ = timeout(wait, async {
            let mut buffer = [0; 4096];
            while let Ok(read @ 1..) = stream.read(&mut buffer).await {
                bytes.extend_from_slice(&buffer[..read]);
            }
        })
        .await;
        String::from_utf8_lossy(&bytes).into_owned()
    }

    /// What chapter 6 shows of Pub/Sub and Streams, against a real
    /// redis-server. A subscriber that is away (a server restarting) and
    /// subscribes again never gets what was published meanwhile: PUBLISH
    /// answers that 0 subscribers heard it, and it is gone. A stream keeps
    /// the entry added meanwhile, and XRANGE after the last id seen gives
    /// exactly that entry.
    #[tokio::test]
    async fn pubsub_forgets_what_nobody_heard_a_stream_keeps_it() {
        let Some(program) = crate::tools::require_or_skip("redis-server", find_redis()) else {
            return;
        };
        let redis = Redis::start(&program).await.unwrap();
        let port = redis.port;

        // Pub/Sub: one subscriber hears a message, leaves, comes back.
        let mut subscriber = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        subscriber.write_all(b"SUBSCRIBE chat\r\n").await.unwrap();
        read_for(&mut subscriber, Duration::from_millis(300)).await;
        let published = wire::exchange(port, b"PUBLISH chat first\r\nQUIT\r\n")
            .await
            .unwrap();
        assert!(published.starts_with(b":1\r\n"), "{published:?}");
        let heard = read_for(&mut subscriber, Duration::from_millis(300)).await;
        assert!(heard.contains("first"), "the subscriber heard {heard:?}");
        drop(subscriber);

        let published = wire::exchange(port, b"PUBLISH chat while-away\r\nQUIT\r\n")
            .await
            .unwrap();
        assert!(
            published.starts_with(b":0\r\n"),
            "PUBLISH with no subscriber: {}",
            wire::printable(&published)
        );
        let mut subscriber = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        subscriber.write_all(b"SUBSCRIBE chat\r\n").await.unwrap();
        let heard = read_for(&mut subscriber, Duration::from_secs(1)).await;
        assert!(heard.contains("subscribe"), "{heard:?}");
        assert!(
            !heard.contains("while-away"),
            "the subscriber that came back heard {heard:?}"
        );

        // A stream: the entry added while the reader was away stays.
        let added = wire::exchange(port, b"XADD log * text first\r\nQUIT\r\n")
            .await
            .unwrap();
        let added = String::from_utf8_lossy(&added);
        let first_id = added.lines().nth(1).expect("XADD answers with the id");
        wire::exchange(port, b"XADD log * text while-away\r\nQUIT\r\n")
            .await
            .unwrap();
        let range = format!("XRANGE log ({first_id} +\r\nQUIT\r\n");
        let after = wire::exchange(port, range.as_bytes()).await.unwrap();
        let after = String::from_utf8_lossy(&after);
        assert!(after.contains("while-away"), "{after:?}");
        assert!(!after.contains("first"), "{after:?}");
        println!("PUBLISH with no subscriber: gone; XRANGE ({first_id} +: {after:?}");
    }
}

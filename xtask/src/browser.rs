//! Headless Chromium, driven over the Chrome DevTools Protocol (CDP).
//!
//! CDP is JSON over a WebSocket, so the WebSocket client we already use
//! for the steps is all it takes: we send `{"id", "method", "params"}` and
//! Chromium answers with the same `id`; it also sends events (`{"method",
//! "params"}`) for what happens in a page: console messages, network
//! responses, failed requests. Each page gets its own session and its own
//! profile-like browser context, so pages checked side by side never see
//! each other's requests, cookies or cached icons.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, bail};
use futures_util::future::join_all;
use futures_util::stream::SplitSink;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio::time::{Instant, timeout, timeout_at};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;

use crate::course::DEFAULT_PORT;
use crate::steps;

/// How to get a browser where there is none.
pub const INSTALL_HINT: &str = crate::tools::CHROMIUM_MISSING;

/// What Chromium's console says for a WebSocket to the steps' default
/// port, which pages in a browser from `Chromium::launch` cannot reach.
#[cfg(test)]
pub const UNREACHABLE_DEFAULT: &str = "net::ERR_NAME_NOT_RESOLVED";

/// A cold start on a busy 2-core machine can take a few seconds.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// How long Chromium may take to answer one command.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(10);

/// The program named by `CHROME`, or the first Chrome or Chromium found on
/// the `PATH` or in the usual macOS place.
pub fn find() -> Result<PathBuf, String> {
    if let Some(chosen) = std::env::var_os("CHROME") {
        let chosen = PathBuf::from(chosen);
        return if chosen.is_file() {
            Ok(chosen)
        } else {
            Err(format!("CHROME={} is not a file", chosen.display()))
        };
    }
    const NAMES: [&str; 4] = [
        "chromium",
        "chromium-browser",
        "google-chrome",
        "google-chrome-stable",
    ];
    const MAC_APPS: [&str; 2] = [
        "/Applications/Chromium.app/Contents/MacOS/Chromium",
        "/Applications/Google Chrome.app/Contents/MacOS/Google Chrome",
    ];
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .flat_map(|dir| NAMES.map(|name| dir.join(name)))
        .chain(MAC_APPS.map(PathBuf::from))
        .find(|program| program.is_file())
        .ok_or_else(|| INSTALL_HINT.to_string())
}

/// Chrome refuses to start its sandbox as root (as in a container or CI),
/// and then only runs with `--no-sandbox`.
/// `id -u` says so on Linux and macOS alike; Windows has no root.
fn running_as_root() -> bool {
    if cfg!(windows) {
        return false;
    }
    std::process::Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|output| output.stdout.trim_ascii() == b"0")
}

/// A running headless Chromium. Dropping it ends the browser and deletes
/// its temporary profile.
pub struct Chromium {
    connection: Arc<Connection>,
    reader: JoinHandle<()>,
    /// Held for its `Drop`, which ends the browser.
    _process: BrowserProcess,
}

/// The browser process and its profile directory, kept together so that
/// the directory is deleted only once the browser that writes to it ended.
///
/// The process is ended on every way out: the normal end, a failed check
/// or a panic (this `Drop`), and Ctrl+C, which the terminal sends to the
/// whole foreground process group: Chromium stays in ours, so it gets the
/// signal too and quits on its own (verify also catches Ctrl+C, so that
/// this `Drop` still deletes the profile). Killing the main process is
/// enough: its helper processes (renderers, GPU, network) end with it.
struct BrowserProcess {
    child: Child,
    profile: PathBuf,
}

impl Drop for BrowserProcess {
    /// Kills the browser, then deletes the profile. The helper processes
    /// take a moment to notice and may still write a file or two, which
    /// makes a deletion fail, so it is tried again until it works (bounded).
    fn drop(&mut self) {
        let _ = self.child.start_kill();
        let deadline = std::time::Instant::now() + Duration::from_secs(3);
        let pause = || std::thread::sleep(Duration::from_millis(20));
        while matches!(self.child.try_wait(), Ok(None)) && std::time::Instant::now() < deadline {
            pause();
        }
        while std::fs::remove_dir_all(&self.profile).is_err()
            && self.profile.exists()
            && std::time::Instant::now() < deadline
        {
            pause();
        }
    }
}

impl Chromium {
    /// Starts `program` headless with a fresh profile, and connects to it.
    /// Its pages cannot reach the steps' default port, where a learner's
    /// own server may be listening: opening it fails at once, as a name
    /// that does not resolve (`UNREACHABLE_DEFAULT`).
    pub async fn launch(program: &Path) -> anyhow::Result<Chromium> {
        Chromium::launch_with(program, None, &[]).await
    }

    /// Like `launch`, trusting one more certificate: the one whose public
    /// key (its DER-encoded SubjectPublicKeyInfo) has the SHA-256 hash
    /// `spki_sha256`, in base64. Only that certificate is let through
    /// despite being signed by no authority the system knows; every other
    /// certificate error still stops a page, as in a learner's browser.
    #[cfg(test)]
    pub async fn launch_trusting(program: &Path, spki_sha256: &str) -> anyhow::Result<Chromium> {
        let flag = format!("--ignore-certificate-errors-spki-list={spki_sha256}");
        Chromium::launch_with(program, None, &[flag]).await
    }

    /// Like `launch`, but with `Some(port)`, what its pages open on the
    /// default port (`localhost:8080`) reaches the server on `port` of
    /// 127.0.0.1 instead, so that a page can be checked as a learner
    /// opens it, without the address it was given.
    pub async fn launch_with_default_port_at(
        program: &Path,
        port: Option<u16>,
    ) -> anyhow::Result<Chromium> {
        Chromium::launch_with(program, port, &[]).await
    }

    /// Starts `program` headless with a fresh profile, the default port
    /// sent to `port` (or nowhere), and `flags` added to ours, and connects
    /// to it.
    async fn launch_with(
        program: &Path,
        port: Option<u16>,
        flags: &[String],
    ) -> anyhow::Result<Chromium> {
        static LAUNCHED: AtomicU64 = AtomicU64::new(0);
        let profile = std::env::temp_dir().join(format!(
            "xtask-chromium-{}-{}",
            std::process::id(),
            LAUNCHED.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&profile)
            .with_context(|| format!("cannot create {}", profile.display()))?;

        // Port 0: Chromium picks a free port and prints it. The other flags
        // keep it quiet and off the network: no first-run pages, updates,
        // sync or background requests; and no GPU and no /dev/shm, which
        // servers and containers lack or keep small. The resolver's rules
        // send the default port elsewhere, or nowhere (`~NOTFOUND`).
        let default_goes_to =
            port.map_or("~NOTFOUND".to_string(), |port| format!("127.0.0.1:{port}"));
        let rules: Vec<String> = ["localhost", "127.0.0.1", "[::1]"]
            .iter()
            .map(|host| format!("MAP {host}:{DEFAULT_PORT} {default_goes_to}"))
            .collect();
        let mut command = Command::new(program);
        command
            .arg("--headless")
            .arg("--remote-debugging-port=0")
            .arg(format!("--user-data-dir={}", profile.display()))
            .arg(format!("--host-resolver-rules={}", rules.join(", ")))
            .args([
                "--no-first-run",
                "--no-default-browser-check",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-quic",
                "--disable-gpu",
                "--disable-dev-shm-usage",
            ]);
        if running_as_root() {
            command.arg("--no-sandbox");
        }
        command.args(flags);
        command.arg("about:blank");
        let (child, output, readers) = steps::spawn(command)?;
        let mut process = BrowserProcess { child, profile };

        // The address comes on stderr, among other messages. A browser that
        // cannot start (a missing library, no sandbox) exits instead.
        let prefix = "DevTools listening on ";
        let line = tokio::select! {
            line = output.wait_for(0, START_TIMEOUT, |line| line.starts_with(prefix)) => line,
            status = process.child.wait() => {
                // Let the output readers catch up with the last lines.
                let _ = timeout(Duration::from_secs(1), join_all(readers)).await;
                bail!(
                    "{} exited ({}) as it started; the last it printed:\n{}",
                    program.display(),
                    status.map_or_else(|error| error.to_string(), |status| status.to_string()),
                    output.last(15).join("\n")
                )
            }
        };
        let Some(line) = line else {
            bail!(
                "{} did not say \"{prefix}ws://...\" within {START_TIMEOUT:?}; the last it printed:\n{}",
                program.display(),
                output.last(15).join("\n")
            );
        };
        let (connection, reader) = Connection::open(&line[prefix.len()..]).await?;
        Ok(Chromium {
            connection,
            reader,
            _process: process,
        })
    }

    /// Opens `url` in a new page of its own, and starts recording what
    /// that page does.
    pub async fn open(&self, url: &str) -> anyhow::Result<Page> {
        let connection = &self.connection;
        let context = connection
            .call(None, "Target.createBrowserContext", json!({}))
            .await?["browserContextId"]
            .clone();
        let target = connection
            .call(
                None,
                "Target.createTarget",
                json!({ "url": "about:blank", "browserContextId": context }),
            )
            .await?["targetId"]
            .clone();
        let session = connection
            .call(
                None,
                "Target.attachToTarget",
                json!({ "targetId": target, "flatten": true }),
            )
            .await?["sessionId"]
            .as_str()
            .context("no sessionId")?
            .to_string();

        let (sender, events) = mpsc::unbounded_channel();
        connection
            .sessions
            .lock()
            .unwrap()
            .insert(session.clone(), sender);
        for domain in ["Runtime", "Log", "Network", "Page"] {
            connection
                .call(Some(&session), &format!("{domain}.enable"), json!({}))
                .await?;
        }
        let navigation = connection
            .call(Some(&session), "Page.navigate", json!({ "url": url }))
            .await?;
        if let Some(error) = navigation.get("errorText") {
            bail!("the browser could not open {url}: {error}");
        }
        Ok(Page {
            connection: connection.clone(),
            session,
            events,
            seen: Seen::default(),
        })
    }
}

impl Drop for Chromium {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

/// One page, and what it did so far.
pub struct Page {
    connection: Arc<Connection>,
    session: String,
    events: mpsc::UnboundedReceiver<Value>,
    pub seen: Seen,
}

impl Drop for Page {
    /// Stops routing this page's events; the browser drops them.
    fn drop(&mut self) {
        self.connection
            .sessions
            .lock()
            .unwrap()
            .remove(&self.session);
    }
}

/// What a page did, as the developer tools would show it.
#[derive(Default, Debug)]
pub struct Seen {
    /// Console lines, from the page's scripts and from the browser itself
    /// (such as "Failed to load resource"), and uncaught exceptions.
    pub console: Vec<ConsoleLine>,
    /// Each response: its URL and status.
    pub responses: Vec<(String, u16)>,
    /// Each request that got no response: its URL and the browser's reason.
    pub failed: Vec<(String, String)>,
    /// The URL of each WebSocket the page opened, as the browser
    /// resolved it.
    pub websockets: Vec<String>,
    /// Network request ids and their URLs, to name the failed ones.
    requests: HashMap<String, String>,
}

#[derive(Debug)]
pub struct ConsoleLine {
    /// `log`, `info`, `warning`, `error`, ...
    pub level: String,
    pub text: String,
    /// The resource it is about, when the browser says.
    pub url: Option<String>,
}

impl ConsoleLine {
    pub fn is_error(&self) -> bool {
        self.level == "error"
    }
}

impl std::fmt::Display for ConsoleLine {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        write!(f, "[{}] {}", self.level, self.text)?;
        if let Some(url) = &self.url {
            write!(f, " ({url})")?;
        }
        Ok(())
    }
}

impl Seen {
    pub fn console_has(&self, text: &str) -> bool {
        self.console.iter().any(|line| line.text == text)
    }

    pub fn errors(&self) -> Vec<&ConsoleLine> {
        self.console.iter().filter(|line| line.is_error()).collect()
    }

    pub fn status_of(&self, url: &str) -> Option<u16> {
        self.responses
            .iter()
            .find(|(seen, _)| seen == url)
            .map(|&(_, status)| status)
    }

    /// Notes one CDP event; events this module does not use are ignored.
    fn note(&mut self, event: &Value) {
        let params = &event["params"];
        let text = |value: &Value| value.as_str().unwrap_or_default().to_string();
        match event["method"].as_str().unwrap_or_default() {
            "Runtime.consoleAPICalled" => {
                // console.log('a', 1) has two arguments; join them as the
                // console shows them.
                let arguments = params["args"].as_array().cloned().unwrap_or_default();
                let words: Vec<String> = arguments
                    .iter()
                    .map(|argument| match &argument["value"] {
                        Value::String(word) => word.clone(),
                        Value::Null => text(&argument["description"]),
                        other => other.to_string(),
                    })
                    .collect();
                // A failed console.assert() is shown as an error.
                let level = match text(&params["type"]).as_str() {
                    "assert" => "error".to_string(),
                    other => other.to_string(),
                };
                self.console.push(ConsoleLine {
                    level,
                    text: words.join(" "),
                    url: None,
                });
            }
            "Log.entryAdded" => {
                let entry = &params["entry"];
                self.console.push(ConsoleLine {
                    level: text(&entry["level"]),
                    text: text(&entry["text"]),
                    url: entry["url"].as_str().map(str::to_string),
                });
            }
            "Runtime.exceptionThrown" => {
                let details = &params["exceptionDetails"];
                let description = details["exception"]["description"]
                    .as_str()
                    .unwrap_or_else(|| details["text"].as_str().unwrap_or_default());
                self.console.push(ConsoleLine {
                    level: "error".to_string(),
                    text: description.to_string(),
                    url: details["url"].as_str().map(str::to_string),
                });
            }
            "Network.requestWillBeSent" => {
                self.requests
                    .insert(text(&params["requestId"]), text(&params["request"]["url"]));
            }
            "Network.webSocketCreated" => self.websockets.push(text(&params["url"])),
            "Network.responseReceived" => {
                let response = &params["response"];
                let status = response["status"].as_u64().unwrap_or_default();
                self.responses.push((
                    text(&response["url"]),
                    status.try_into().unwrap_or_default(),
                ));
            }
            "Network.loadingFailed" => {
                let url = self
                    .requests
                    .get(params["requestId"].as_str().unwrap_or_default())
                    .cloned()
                    .unwrap_or_else(|| "(unknown URL)".to_string());
                self.failed.push((url, text(&params["errorText"])));
            }
            _ => {}
        }
    }
}

impl Page {
    /// Records events until `done` holds, for at most `wait`. Returns
    /// whether it held.
    pub async fn wait_until(&mut self, wait: Duration, done: impl Fn(&Seen) -> bool) -> bool {
        let deadline = Instant::now() + wait;
        while !done(&self.seen) {
            match timeout_at(deadline, self.events.recv()).await {
                Ok(Some(event)) => self.seen.note(&event),
                Ok(None) | Err(_) => return false,
            }
        }
        true
    }

    /// The text of the elements that match a CSS selector, in order.
    pub async fn texts(&self, selector: &str) -> anyhow::Result<Vec<String>> {
        let script = format!(
            "Array.from(document.querySelectorAll({}), element => element.textContent)",
            Value::from(selector)
        );
        let value = self.evaluate(&script).await?;
        let texts = value
            .as_array()
            .with_context(|| format!("{script} gave {value}, not a list"))?;
        Ok(texts
            .iter()
            .map(|text| text.as_str().unwrap_or_default().to_string())
            .collect())
    }

    /// Runs a script in the page and returns its value.
    pub async fn evaluate(&self, script: &str) -> anyhow::Result<Value> {
        let result = self
            .connection
            .call(
                Some(&self.session),
                "Runtime.evaluate",
                json!({ "expression": script, "returnByValue": true }),
            )
            .await?;
        if let Some(exception) = result.get("exceptionDetails") {
            bail!("the page could not run {script}: {exception}");
        }
        Ok(result["result"]["value"].clone())
    }

    /// Types `text` into the element that `selector` names, as a person
    /// does: the element gets the focus, then the keyboard sends the text.
    pub async fn type_into(&self, selector: &str, text: &str) -> anyhow::Result<()> {
        let focus = format!(
            "(() => {{ const element = document.querySelector({}); \
             if (!element) return false; element.focus(); return true; }})()",
            Value::from(selector)
        );
        if self.evaluate(&focus).await? != Value::Bool(true) {
            bail!("the page has no element {selector}");
        }
        self.connection
            .call(
                Some(&self.session),
                "Input.insertText",
                json!({ "text": text }),
            )
            .await?;
        Ok(())
    }

    /// Presses and releases Enter on the focused element.
    pub async fn press_enter(&self) -> anyhow::Result<()> {
        for kind in ["keyDown", "keyUp"] {
            let mut key = json!({
                "type": kind,
                "key": "Enter",
                "code": "Enter",
                "windowsVirtualKeyCode": 13,
            });
            if kind == "keyDown" {
                key["text"] = "\r".into();
            }
            self.connection
                .call(Some(&self.session), "Input.dispatchKeyEvent", key)
                .await?;
        }
        Ok(())
    }

    /// Clicks the element that `selector` names, as a mouse click would.
    pub async fn click(&self, selector: &str) -> anyhow::Result<()> {
        let click = format!(
            "(() => {{ const element = document.querySelector({}); \
             if (!element) return false; element.click(); return true; }})()",
            Value::from(selector)
        );
        if self.evaluate(&click).await? != Value::Bool(true) {
            bail!("the page has no element {selector}");
        }
        Ok(())
    }
}

type Writer = SplitSink<WebSocketStream<TcpStream>, Message>;

/// The DevTools WebSocket: answers go back to the command that asked,
/// events to the page (session) they are about.
struct Connection {
    writer: tokio::sync::Mutex<Writer>,
    next_id: AtomicU64,
    answers: Mutex<HashMap<u64, oneshot::Sender<Value>>>,
    sessions: Mutex<HashMap<String, mpsc::UnboundedSender<Value>>>,
}

impl Connection {
    /// Connects to `ws://127.0.0.1:PORT/devtools/browser/...`, and reads
    /// from it in a task of its own until the browser goes away.
    async fn open(url: &str) -> anyhow::Result<(Arc<Connection>, JoinHandle<()>)> {
        let address = url
            .strip_prefix("ws://")
            .and_then(|rest| rest.split('/').next())
            .with_context(|| format!("not a ws:// address: {url:?}"))?;
        let stream = TcpStream::connect(address)
            .await
            .with_context(|| format!("cannot connect to the browser at {address}"))?;
        let (socket, _) = timeout(
            COMMAND_TIMEOUT,
            tokio_tungstenite::client_async(url, stream),
        )
        .await
        .context("the browser did not answer the WebSocket handshake")??;
        let (writer, mut reader) = socket.split();
        let connection = Arc::new(Connection {
            writer: tokio::sync::Mutex::new(writer),
            next_id: AtomicU64::new(1),
            answers: Mutex::default(),
            sessions: Mutex::default(),
        });
        let shared = connection.clone();
        let reading = tokio::spawn(async move {
            while let Some(Ok(message)) = reader.next().await {
                let Message::Text(text) = message else {
                    continue;
                };
                let Ok(message) = serde_json::from_str::<Value>(&text) else {
                    continue;
                };
                shared.deliver(message);
            }
            // The browser is gone: every command still waiting fails.
            shared.answers.lock().unwrap().clear();
            shared.sessions.lock().unwrap().clear();
        });
        Ok((connection, reading))
    }

    fn deliver(&self, message: Value) {
        if let Some(id) = message["id"].as_u64() {
            if let Some(waiting) = self.answers.lock().unwrap().remove(&id) {
                let _ = waiting.send(message);
            }
        } else if let Some(session) = message["sessionId"].as_str() {
            // Nested rather than a let chain, which needs Rust 1.88.
            if let Some(page) = self.sessions.lock().unwrap().get(session) {
                let _ = page.send(message);
            }
        }
    }

    /// Sends a command, to the browser or to one page's session, and
    /// returns its result.
    async fn call(
        &self,
        session: Option<&str>,
        method: &str,
        params: Value,
    ) -> anyhow::Result<Value> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let mut command = json!({ "id": id, "method": method, "params": params });
        if let Some(session) = session {
            command["sessionId"] = session.into();
        }
        let (sender, answer) = oneshot::channel();
        self.answers.lock().unwrap().insert(id, sender);
        self.writer
            .lock()
            .await
            .send(Message::text(command.to_string()))
            .await
            .context("the browser closed the DevTools connection")?;
        let answer = timeout(COMMAND_TIMEOUT, answer)
            .await
            .with_context(|| format!("no answer to {method} within {COMMAND_TIMEOUT:?}"))?
            .context("the browser closed the DevTools connection")?;
        if let Some(error) = answer.get("error") {
            bail!("{method} failed: {error}");
        }
        Ok(answer["result"].clone())
    }
}

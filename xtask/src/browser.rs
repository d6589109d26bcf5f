//! Headless Chromium, driven over the Chrome DevTools Protocol (CDP).
//!
//! CDP is JSON over a WebSocket, so the WebSocket client we already use
//! for the steps is all it takes: we send `{"id", "method", "params"}` and
//! Chromium answers with the same `id`; it also sends events (`{"method",
//! "params"}`) for what happens in a page: console messages, network
//! responses, failed requests. Each page gets its own session and its own
//! profile-like browser context, so pages checked side by side never see
//! each other's requests, cookies or cached icons.
//!
//! This file starts and ends the browser (`find`, `Chromium`) and opens
//! pages in it; `page` holds a page and what it saw (`Page`, `Seen`), and
//! `devtools` the protocol's WebSocket that both talk through.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::{Context, bail};
use futures_util::future::join_all;
use serde_json::json;
use tokio::process::{Child, Command};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::timeout;

use crate::course::DEFAULT_PORT;
use crate::steps;

mod devtools;
mod page;

use devtools::Connection;
pub use page::{Page, Seen};

/// How to get a browser where there is none.
pub const INSTALL_HINT: &str = crate::tools::CHROMIUM_MISSING;

/// What Chromium's console says for a WebSocket to the steps' default
/// port, which pages in a browser from `Chromium::launch` cannot reach.
#[cfg(test)]
pub const UNREACHABLE_DEFAULT: &str = "net::ERR_NAME_NOT_RESOLVED";

/// A cold start on a busy 2-core machine can take a few seconds.
const START_TIMEOUT: Duration = Duration::from_secs(30);

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
    /// Kills the browser, then deletes the profile (its helper processes
    /// may still write a file or two as they end).
    fn drop(&mut self) {
        crate::tools::end_and_delete(&mut self.child, &self.profile);
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
            context,
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

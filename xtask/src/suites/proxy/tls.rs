//! Tests: step 3 behind nginx over TLS, as chapter 5's `nginx-tls.conf`
//! sets it up: the certificate the tests make for `localhost`, the page
//! over `https://` talking through `wss://`, and a `ws://` address blocked
//! as mixed content. The nginx runner and the plain-HTTP tests are in the
//! parent module.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use anyhow::{Context, bail, ensure};

use super::{Nginx, Site, TLS_PORT, nginx_and_chromium};
use crate::browser::{Chromium, Page, Seen};
use crate::checks::browser::step3_page_talks_cleanly;
use crate::steps::{self, Running, workspace_root};
use crate::tools;
use crate::tools::{find_program, on_path};

/// The names under which the TLS block finds its certificate and key,
/// beside nginx.conf.
const CERTIFICATE_FILE: &str = "localhost.pem";
const KEY_FILE: &str = "localhost-key.pem";

/// The chapter that shows the files, in both languages.
const CHAPTERS: [&str; 2] = [
    "docs/en/05-troubleshooting.md",
    "docs/ko/05-troubleshooting.md",
];

/// How to get openssl where there is none.
const OPENSSL_INSTALL_HINT: &str = "no openssl found: install it \
    (Debian/Ubuntu: `sudo apt-get install -y openssl`) or set OPENSSL to an openssl program";

/// How long a page may take to load and run its script.
const PAGE_TIMEOUT: Duration = Duration::from_secs(10);

/// The program named by `OPENSSL`, or the first on the `PATH`.
fn find_openssl() -> Result<PathBuf, String> {
    find_program("OPENSSL", on_path("openssl"), OPENSSL_INSTALL_HINT)
}

/// A certificate for `localhost`, made for one test run, and what a browser
/// needs to trust it.
struct Certificate {
    /// The certificate and its private key, PEM-encoded.
    pem: Vec<u8>,
    key: Vec<u8>,
    /// The SHA-256 hash of its public key (its SubjectPublicKeyInfo, in
    /// DER), in base64: what `--ignore-certificate-errors-spki-list` takes.
    spki_sha256: String,
}

impl Certificate {
    /// Makes a self-signed certificate for `localhost`, 127.0.0.1 and ::1,
    /// as `mkcert localhost 127.0.0.1 ::1` makes one signed by its own
    /// authority, and hashes its public key, all with `openssl`.
    fn make(openssl: &Path) -> anyhow::Result<Certificate> {
        static MADE: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "xtask-certificate-{}-{}",
            std::process::id(),
            MADE.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
        let made = Certificate::make_in(openssl, &dir);
        let _ = std::fs::remove_dir_all(&dir);
        made
    }

    fn make_in(openssl: &Path, dir: &Path) -> anyhow::Result<Certificate> {
        let run = |args: &[&str]| -> anyhow::Result<Vec<u8>> {
            let output = std::process::Command::new(openssl)
                .args(args)
                .current_dir(dir)
                .stdin(std::process::Stdio::null())
                .output()
                .with_context(|| format!("cannot start {}", openssl.display()))?;
            ensure!(
                output.status.success(),
                "`openssl {}` failed ({}): {}",
                args.join(" "),
                output.status,
                String::from_utf8_lossy(&output.stderr).trim()
            );
            Ok(output.stdout)
        };
        run(&[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1",
            "-keyout",
            KEY_FILE,
            "-out",
            CERTIFICATE_FILE,
        ])?;
        run(&[
            "pkey", "-in", KEY_FILE, "-pubout", "-outform", "DER", "-out", "spki.der",
        ])?;
        run(&[
            "dgst",
            "-sha256",
            "-binary",
            "-out",
            "spki.sha256",
            "spki.der",
        ])?;
        let spki_sha256 = run(&["base64", "-A", "-in", "spki.sha256"])?;
        let spki_sha256 = String::from_utf8(spki_sha256)?.trim().to_string();
        ensure!(
            spki_sha256.len() == 44,
            "openssl gave {spki_sha256:?} as the base64 of a SHA-256 hash"
        );
        Ok(Certificate {
            pem: std::fs::read(dir.join(CERTIFICATE_FILE))?,
            key: std::fs::read(dir.join(KEY_FILE))?,
            spki_sha256,
        })
    }
}

/// Everything a TLS test needs: a Chromium that trusts the test's own
/// certificate, a step 3, and nginx with both of the chapter's blocks side
/// by side (as a learner who follows the chapter has them) in front of it,
/// the certificate beside its nginx.conf. `None` when a program is missing.
async fn behind_tls() -> Option<(Chromium, Running, Nginx)> {
    let (nginx, chromium) = nginx_and_chromium()?;
    let openssl = tools::require_or_skip("openssl", find_openssl())?;
    let certificate = Certificate::make(&openssl).unwrap();
    steps::build().unwrap();
    let (chromium, step3) = tokio::join!(
        Chromium::launch_trusting(&chromium, &certificate.spki_sha256),
        Running::start("step3")
    );
    let (chromium, step3) = (chromium.unwrap(), step3.unwrap());
    let files = [
        (CERTIFICATE_FILE, certificate.pem.as_slice()),
        (KEY_FILE, certificate.key.as_slice()),
    ];
    let proxy = Nginx::start_all(&nginx, &[&Site::tls(), &Site::proxy()], &files, step3.port)
        .await
        .unwrap();
    Some((chromium, step3, proxy))
}

/// Over https://, the page builds its address from its own (`wss://` and
/// nginx's host and port) and talks to step 3 through nginx, with no error
/// in the console; step 3 behind nginx is the usual one.
#[tokio::test(flavor = "multi_thread")]
async fn behind_tls_the_page_opens_wss_and_talks() {
    let Some((chromium, step3, proxy)) = behind_tls().await else {
        return;
    };
    let url = format!("https://localhost:{}/", proxy.port());
    let seen = match step3_page_talks_cleanly(&chromium, &url, &step3.output).await {
        Ok(seen) => seen,
        Err(problem) => panic!(
            "through nginx at {url}: {problem:#}\nstep 3 printed: {:?}\nnginx printed: {:?}",
            step3.output.lines(),
            proxy.output.lines()
        ),
    };
    let connecting = format!("Connecting to wss://localhost:{}/", proxy.port());
    assert!(
        seen.contains(&connecting),
        "the page at {url} did not list {connecting:?}: {seen}"
    );
    println!("through nginx at {url}, {seen}");
}

/// Opens `url` and waits until the console holds a line for which `wanted`
/// holds, or the page's time is up.
async fn open_and_wait(
    chromium: &Chromium,
    url: &str,
    wanted: impl Fn(&Seen) -> bool,
) -> anyhow::Result<Page> {
    let mut page = chromium.open(url).await?;
    page.wait_until(PAGE_TIMEOUT, wanted).await;
    Ok(page)
}

/// What a page's console showed, for a failure message.
fn console_of(seen: &Seen) -> Vec<String> {
    seen.console.iter().map(ToString::to_string).collect()
}

/// The console line that starts with `start`, if any.
fn console_line<'a>(seen: &'a Seen, start: &str) -> Option<&'a str> {
    seen.console
        .iter()
        .map(|line| line.text.as_str())
        .find(|text| text.starts_with(start))
}

/// `line` as the chapter shows it: with nginx on the chapter's port
/// instead of the test's.
fn as_in_the_chapter(line: &str, port: u16) -> String {
    line.replace(
        &format!("localhost:{port}"),
        &format!("localhost:{TLS_PORT}"),
    )
}

/// Both chapters quote `line` word for word.
fn chapters_quote(line: &str) -> anyhow::Result<()> {
    for chapter in CHAPTERS {
        let text = std::fs::read_to_string(workspace_root().join(chapter))?;
        ensure!(
            text.contains(line),
            "{chapter} does not quote what Chromium printed: {line}"
        );
    }
    Ok(())
}

/// An https:// page given a hand-written `ws://` address, as deployed
/// under a real name: Chromium refuses to open it as mixed content, says
/// so in the console, and the WebSocket constructor throws, so the page's
/// script stops after its first line. For `localhost` and 127.0.0.1
/// Chromium makes an exception (it counts the computer itself as secure):
/// `ws://` to the TLS port is tried, and nginx answers plain HTTP there
/// with 400. The chapter quotes the console's lines word for word.
#[tokio::test(flavor = "multi_thread")]
async fn behind_tls_a_ws_address_is_blocked_as_mixed_content() {
    let Some((chromium, _step3, proxy)) = behind_tls().await else {
        return;
    };
    let port = proxy.port();
    let chromium = &chromium;

    let blocked = async {
        let address = "ws://chat.example.com/";
        let url = format!("https://localhost:{port}/?server={address}");
        let thrown = "SecurityError: Failed to construct 'WebSocket'";
        let page = open_and_wait(chromium, &url, |seen| {
            console_line(seen, "Mixed Content:").is_some() && console_line(seen, thrown).is_some()
        })
        .await?;
        let seen = &page.seen;
        let (Some(mixed), Some(exception)) = (
            console_line(seen, "Mixed Content:"),
            console_line(seen, thrown),
        ) else {
            bail!(
                "{url}: the console has no mixed-content line and SecurityError: {:?}",
                console_of(seen)
            );
        };
        ensure!(
            mixed.contains(&format!("'{address}'")) && mixed.contains("blocked"),
            "{url}: the mixed-content line does not say that {address} was blocked: {mixed}"
        );
        // The exception's first line; the rest is where in the script.
        let exception = exception.lines().next().unwrap_or_default();
        chapters_quote(&as_in_the_chapter(mixed, port))?;
        chapters_quote(exception)?;
        let lines = page.texts("#log li").await?;
        let connecting = format!("Connecting to {address}");
        ensure!(
            lines == [connecting.clone()],
            "{url}: the page should list only {connecting:?}, its script stopped by the exception; it lists {lines:?}"
        );
        Ok::<_, anyhow::Error>(format!(
            "{url}: {mixed} / {exception}; the page lists {lines:?}"
        ))
    };

    let (blocked, by_name, by_address) = tokio::join!(
        blocked,
        ws_to_the_tls_port(chromium, "localhost", port),
        ws_to_the_tls_port(chromium, "127.0.0.1", port),
    );
    let mut problems = Vec::new();
    for result in [blocked, by_name, by_address] {
        match result {
            Ok(seen) => println!("{seen}"),
            Err(problem) => problems.push(format!("{problem:#}")),
        }
    }
    assert!(
        problems.is_empty(),
        "{}\nnginx printed: {:?}",
        problems.join("\n"),
        proxy.output.lines()
    );
}

/// The https:// page on `port` given `ws://HOST:PORT/`, where `host` names
/// this computer: not blocked as mixed content, the connection reaches
/// nginx's TLS port without TLS, and nginx answers 400. The chapter quotes
/// the console's line for `localhost`.
async fn ws_to_the_tls_port(chromium: &Chromium, host: &str, port: u16) -> anyhow::Result<String> {
    let address = format!("ws://{host}:{port}/");
    let url = format!("https://localhost:{port}/?server={address}");
    let refused = "Unexpected response code: 400";
    let page = open_and_wait(chromium, &url, |seen| {
        seen.console.iter().any(|line| line.text.contains(refused))
    })
    .await?;
    let seen = &page.seen;
    ensure!(
        console_line(seen, "Mixed Content:").is_none(),
        "{url}: Chromium blocked {address} as mixed content: {:?}",
        console_of(seen)
    );
    let Some(line) = seen.console.iter().find(|line| line.text.contains(refused)) else {
        bail!(
            "{url}: the console does not show {refused:?}: {:?}",
            console_of(seen)
        );
    };
    if host == "localhost" {
        chapters_quote(&as_in_the_chapter(&line.text, port))?;
    }
    Ok(format!("{url}: {}", line.text))
}

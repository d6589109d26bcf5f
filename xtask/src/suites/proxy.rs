//! Tests: step 3 behind nginx, set up exactly as chapter 5 shows.
//!
//! The chapter's nginx block is the file `step3-combined/nginx-proxy.conf`
//! (the docs check keeps the two equal). These tests give that file to
//! Debian's nginx, changing only where nginx listens and where step 3 runs
//! (free ports on loopback instead of 80 and 8080), put it in front of a
//! real step 3, and let headless Chromium open the page through nginx: the page
//! must hear the greeting with no error in the console.
//!
//! The file passes the browser's `Host` on to step 3 because step 3 opens a
//! WebSocket only when the page's `Origin` names the same host and port as
//! `Host`. A second test shows that this line is what makes it work: with
//! nginx's default (`Host: 127.0.0.1:PORT`) or with `$host` (which drops
//! the port) step 3 refuses the WebSocket with 403. A third shows that the
//! file is for a proxy on this machine: under another name, step 3 refuses
//! the request.
//!
//! Without nginx or Chromium the tests say in one line what to install and
//! pass, unless `REQUIRE_TOOLS=1` (as in CI) makes them fail (see `tools`).

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail, ensure};
use futures_util::future::join_all;
use tokio::net::TcpStream;
use tokio::process::{Child, Command};
use tokio::time::{Instant, sleep};

use crate::browser::{self, Chromium};
use crate::checks::browser::{page_url, step3_page_talks_cleanly};
use crate::steps::{self, Output, Running, workspace_root};
use crate::tools;
use crate::wire::{self, PROMPTLY};

/// The chapter's nginx block, relative to the workspace root.
const SITE_FILE: &str = "step3-combined/nginx-proxy.conf";

/// The lines of the file that the tests change: nginx listens on a free
/// port instead of 80, and step 3 runs on a free port instead of 8080.
const LISTEN_IPV4_LINE: &str = "listen 80;";
const LISTEN_IPV6_LINE: &str = "listen [::]:80;";
const UPSTREAM_LINE: &str = "proxy_pass http://127.0.0.1:8080;";

/// The line under test.
const HOST_LINE: &str = "proxy_set_header Host $http_host;";

/// Where Debian puts nginx (it is not on a normal user's `PATH`).
const DEBIAN_NGINX: &str = "/usr/sbin/nginx";

/// How to get nginx where there is none.
const NGINX_INSTALL_HINT: &str = "no nginx found: install it \
    (Debian/Ubuntu: `sudo apt-get install -y nginx`) or set NGINX to an nginx program";

/// How long nginx may take to accept connections after it starts.
const START_TIMEOUT: Duration = Duration::from_secs(10);

/// The program named by `NGINX`, Debian's nginx, or the first on the `PATH`.
fn find_nginx() -> Result<PathBuf, String> {
    if let Some(chosen) = std::env::var_os("NGINX") {
        let chosen = PathBuf::from(chosen);
        return if chosen.is_file() {
            Ok(chosen)
        } else {
            Err(format!("NGINX={} is not a file", chosen.display()))
        };
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::iter::once(PathBuf::from(DEBIAN_NGINX))
        .chain(std::env::split_paths(&path).map(|dir| dir.join("nginx")))
        .find(|program| program.is_file())
        .ok_or_else(|| NGINX_INSTALL_HINT.to_string())
}

/// nginx and Chromium, or `None` when the test is skipped for want of one.
fn nginx_and_chromium() -> Option<(PathBuf, PathBuf)> {
    let nginx = tools::require_or_skip("nginx", find_nginx())?;
    let chromium = tools::require_or_skip("Chromium", browser::find())?;
    Some((nginx, chromium))
}

/// The chapter's file as the tests use it: nginx listens on `listen_port`
/// of 127.0.0.1 and ::1 instead of port 80 of every address, and passes
/// requests to step 3 on `upstream_port` instead of 8080. Everything else
/// stays as written. On a machine without IPv6 (`ipv6` false) there is no
/// ::1 to listen on, and nginx listens on 127.0.0.1 only.
fn site_for_test(
    site: &str,
    listen_port: u16,
    ipv6: bool,
    upstream_port: u16,
) -> anyhow::Result<String> {
    let ipv6_listen = if ipv6 {
        format!("listen [::1]:{listen_port};")
    } else {
        String::new()
    };
    let mut site = site.to_string();
    for (line, replacement) in [
        (LISTEN_IPV4_LINE, format!("listen 127.0.0.1:{listen_port};")),
        (LISTEN_IPV6_LINE, ipv6_listen),
        (
            UPSTREAM_LINE,
            format!("proxy_pass http://127.0.0.1:{upstream_port};"),
        ),
    ] {
        ensure!(
            site.matches(line).count() == 1,
            "{SITE_FILE} must contain `{line}` exactly once: the tests replace it with a free port"
        );
        site = site.replace(line, &replacement);
    }
    Ok(site)
}

/// A port that is free on both 127.0.0.1 and ::1, for nginx to listen on
/// (nginx cannot report a port the system picked, so we ask the system for
/// a free one and hand it over), and whether this machine has ::1 at all.
fn free_port() -> anyhow::Result<(u16, bool)> {
    use std::net::TcpListener;
    if TcpListener::bind("[::1]:0").is_err() {
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        return Ok((port, false));
    }
    for _ in 0..20 {
        let ipv4 = TcpListener::bind("127.0.0.1:0")?;
        let port = ipv4.local_addr()?.port();
        if TcpListener::bind(("::1", port)).is_ok() {
            return Ok((port, true));
        }
    }
    bail!("found no port free on both 127.0.0.1 and ::1 in 20 tries")
}

/// The rest of an nginx configuration around the chapter's block: one
/// process in the foreground (nothing to clean up but this process), and
/// every file it writes inside `dir`, so that it runs without root and
/// without touching the system's nginx.
fn main_config(dir: &Path) -> String {
    let dir = dir.display();
    format!(
        "daemon off;
master_process off;
pid {dir}/nginx.pid;
error_log stderr notice;
events {{}}
http {{
    access_log off;
    client_body_temp_path {dir}/client_body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    include {dir}/site.conf;
}}
"
    )
}

/// A running nginx on a free port of 127.0.0.1 and ::1. Dropping it ends nginx and
/// deletes its directory.
struct Nginx {
    port: u16,
    output: Output,
    /// Held for its `Drop`.
    _process: NginxProcess,
}

/// The process and its directory, so that the directory goes only once
/// the process that writes to it has ended.
struct NginxProcess {
    child: Child,
    dir: PathBuf,
}

impl Drop for NginxProcess {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
        let deadline = std::time::Instant::now() + Duration::from_secs(3);
        while matches!(self.child.try_wait(), Ok(None)) && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Nginx {
    /// Starts `program` with `site` (the chapter's block) in front of step 3
    /// on `upstream_port`, and waits until it accepts connections.
    async fn start(program: &Path, site: &str, upstream_port: u16) -> anyhow::Result<Nginx> {
        let (port, ipv6) = free_port()?;
        let dir = std::env::temp_dir().join(format!("xtask-nginx-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
        std::fs::write(
            dir.join("site.conf"),
            site_for_test(site, port, ipv6, upstream_port)?,
        )?;
        std::fs::write(dir.join("nginx.conf"), main_config(&dir))?;

        // `-e stderr`: report start-up errors on stderr, before nginx reads
        // the configuration, instead of in /var/log/nginx, which a normal
        // user may not write to.
        let mut command = Command::new(program);
        command
            .args(["-e", "stderr", "-p"])
            .arg(&dir)
            .arg("-c")
            .arg(dir.join("nginx.conf"));
        let (child, output, _) = steps::spawn(command)?;
        let mut process = NginxProcess { child, dir };

        let deadline = Instant::now() + START_TIMEOUT;
        while TcpStream::connect(("127.0.0.1", port)).await.is_err() {
            if let Ok(Some(status)) = process.child.try_wait() {
                // Let the output readers catch up with the last lines.
                sleep(Duration::from_millis(200)).await;
                bail!(
                    "{} exited ({status}) as it started; it printed:\n{}",
                    program.display(),
                    output.last(15).join("\n")
                );
            }
            if Instant::now() > deadline {
                bail!(
                    "nginx did not accept connections on 127.0.0.1:{port} within {START_TIMEOUT:?}; it printed:\n{}",
                    output.last(15).join("\n")
                );
            }
            sleep(Duration::from_millis(50)).await;
        }
        Ok(Nginx {
            port,
            output,
            _process: process,
        })
    }
}

fn read_site() -> String {
    let path = workspace_root().join(SITE_FILE);
    std::fs::read_to_string(&path)
        .unwrap_or_else(|error| panic!("cannot read {}: {error}", path.display()))
}

/// The page opened through nginx behaves as when opened from step 3
/// directly: it hears the greeting, step 3 prints what it sent, and the
/// console shows no error.
#[tokio::test(flavor = "multi_thread")]
async fn the_chapters_nginx_block_carries_the_page_and_its_websocket() {
    let Some((nginx, chromium)) = nginx_and_chromium() else {
        return;
    };
    steps::build().unwrap();
    let (chromium, step3) = tokio::join!(Chromium::launch(&chromium), Running::start("step3"));
    let (chromium, step3) = (chromium.unwrap(), step3.unwrap());
    let proxy = Nginx::start(&nginx, &read_site(), step3.port)
        .await
        .unwrap();

    let url = page_url(proxy.port);
    match step3_page_talks_cleanly(&chromium, &url, &step3.output).await {
        Ok(seen) => println!("through nginx at {url}, {seen}"),
        Err(problem) => panic!(
            "through nginx at {url}: {problem:#}\nstep 3 printed: {:?}\nnginx printed: {:?}",
            step3.output.lines(),
            proxy.output.lines()
        ),
    }
}

/// Without the Host line, or with `$host` in it, step 3 sees a `Host` that
/// does not match the page's `Origin` and refuses the WebSocket with 403:
/// the browser reports the failed handshake and the page never hears the
/// greeting.
#[tokio::test(flavor = "multi_thread")]
async fn without_the_browsers_host_step3_refuses_the_websocket() {
    let Some((nginx, chromium)) = nginx_and_chromium() else {
        return;
    };
    let site = read_site();
    assert_eq!(
        site.matches(HOST_LINE).count(),
        1,
        "{SITE_FILE} must contain `{HOST_LINE}` once"
    );
    let variants = [
        ("nginx's default Host", site.replace(HOST_LINE, "")),
        (
            "Host $host",
            site.replace(HOST_LINE, "proxy_set_header Host $host;"),
        ),
    ];

    steps::build().unwrap();
    let (chromium, step3) = tokio::join!(Chromium::launch(&chromium), Running::start("step3"));
    let (chromium, step3) = (chromium.unwrap(), step3.unwrap());

    // Each variant waits the page's full time for a greeting that never
    // comes, so they run side by side, each through an nginx of its own.
    let (nginx, chromium, step3) = (&nginx, &chromium, &step3);
    let refusals = variants.iter().map(|(variant, site)| async move {
        let proxy = Nginx::start(nginx, site, step3.port).await.unwrap();
        let url = page_url(proxy.port);
        let problem = match step3_page_talks_cleanly(chromium, &url, &step3.output).await {
            Ok(seen) => panic!("with {variant}, the page talked through nginx: {seen}"),
            Err(problem) => format!("{problem:#}"),
        };
        assert!(
            problem.contains("Unexpected response code: 403"),
            "with {variant}, the page failed, but not with a 403 handshake: {problem}"
        );
        // Step 3 names the refused page's origin, which is nginx's address.
        let page_origin = format!("localhost:{}", proxy.port);
        let refused = step3
            .output
            .wait_for(0, PROMPTLY, |line| {
                line.contains("403") && line.contains(&page_origin)
            })
            .await;
        match refused {
            Some(line) => println!("with {variant}, step 3 printed: {line}"),
            None => panic!(
                "with {variant}, step 3 printed no 403 line for {page_origin}: {:?}",
                step3.output.lines()
            ),
        }
    });
    join_all(refusals).await;
}

/// The file is for a proxy on this machine: step 3, listening on loopback,
/// answers only to this machine's names, so a request that reaches nginx
/// under another name (here `www.example.com`) gets step 3's 403, passed on
/// by nginx, and step 3 says why in its console.
#[tokio::test(flavor = "multi_thread")]
async fn under_another_name_step3_refuses_the_request() {
    let Some(nginx) = tools::require_or_skip("nginx", find_nginx()) else {
        return;
    };
    steps::build().unwrap();
    let step3 = Running::start("step3").await.unwrap();
    let proxy = Nginx::start(&nginx, &read_site(), step3.port)
        .await
        .unwrap();

    let request = "GET / HTTP/1.1\r\nHost: www.example.com\r\nConnection: close\r\n\r\n";
    let answer = wire::exchange(proxy.port, request.as_bytes())
        .await
        .and_then(|answer| wire::parse_http(&answer))
        .unwrap();
    assert_eq!(
        answer.status,
        403,
        "through nginx, `Host: www.example.com` got {:?}, not 403; step 3 printed {:?}",
        answer.status_line,
        step3.output.lines()
    );
    let explained = step3
        .output
        .wait_for(0, PROMPTLY, |line| {
            line.contains("403") && line.contains("www.example.com")
        })
        .await;
    match explained {
        Some(line) => println!("through nginx, step 3 printed: {line}"),
        None => panic!(
            "the 403 came, but step 3 printed no line naming www.example.com: {:?}",
            step3.output.lines()
        ),
    }
}

//! Tests: step 3 behind nginx, set up exactly as chapter 5 shows.
//!
//! The chapter's nginx blocks are the files `step3-combined/nginx-proxy.conf`
//! (plain HTTP) and `step3-combined/nginx-tls.conf` (HTTPS and `wss://`);
//! the docs check keeps the chapter's copies equal to them. These tests give
//! the files to Debian's nginx, changing only the ports (free ones on
//! loopback instead of the chapter's 8000, 8443 and 8080), put nginx in
//! front of a real step 3, and let headless Chromium open the page through
//! it: the page must hear the greeting with no error in the console.
//!
//! The files pass the browser's `Host` on to step 3 because step 3 opens a
//! WebSocket only when the page's `Origin` names the same host and port as
//! `Host`. Other tests show what happens without that line: with nginx's
//! default `Host` or with `$host` (the name without the port) step 3
//! refuses the page's WebSocket with 403, and `$host` is enough only where
//! the browser leaves the port out, on the default port of the scheme.
//! Another shows that the files are for a proxy on this machine: under
//! another name, step 3 refuses the request.
//!
//! Behind TLS, the test makes its own certificate for `localhost` with
//! `openssl`, and Chromium trusts that one certificate by the hash of its
//! public key (a learner's browser trusts mkcert's the same way, through
//! the system's store). The page opens `wss://` and talks; given a `ws://`
//! address instead, Chromium blocks it as mixed content, and the chapter
//! quotes what the console then says.
//!
//! Without nginx, openssl or Chromium the tests say in one line what to
//! install and pass, unless `REQUIRE_TOOLS=1` (as in CI) makes them fail
//! (see `tools`).
//!
//! This file holds the nginx runner (the chapter's files on free ports,
//! nginx started and stopped) and the plain-HTTP tests; `tls` holds the
//! certificate making and the tests over `https://` and `wss://`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail, ensure};
use futures_util::future::join_all;
use tokio::net::TcpStream;
use tokio::process::{Child, Command};
use tokio::time::{Instant, sleep};

use crate::browser::{self, Chromium};
use crate::checks::browser::step3_page_talks_cleanly;
use crate::steps::{self, Output, Running, workspace_root};
use crate::tools;
use crate::wire::{self, PROMPTLY};

#[path = "proxy/tls.rs"]
mod tls;

/// The chapter's plain-HTTP block, relative to the workspace root, and the
/// port nginx listens on in it.
const PROXY_FILE: &str = "step3-combined/nginx-proxy.conf";
const PROXY_PORT: u16 = 8000;

/// The chapter's TLS block, and its port.
const TLS_FILE: &str = "step3-combined/nginx-tls.conf";
const TLS_PORT: u16 = 8443;

/// Where both blocks send requests: step 3 on its usual port.
const UPSTREAM_LINE: &str = "proxy_pass http://127.0.0.1:8080;";

/// The line under test.
const HOST_LINE: &str = "proxy_set_header Host $http_host;";

/// How long nginx may take to accept connections after it starts.
const START_TIMEOUT: Duration = Duration::from_secs(10);

/// nginx and Chromium, or `None` when the test is skipped for want of one.
fn nginx_and_chromium() -> Option<(PathBuf, PathBuf)> {
    let nginx = tools::require_or_skip("nginx", tools::find_nginx())?;
    let chromium = tools::require_or_skip("Chromium", browser::find())?;
    Some((nginx, chromium))
}

/// One of the chapter's nginx files, as a test runs it.
#[derive(Clone)]
struct Site {
    file: &'static str,
    text: String,
    /// The port nginx listens on in the chapter.
    port: u16,
}

impl Site {
    fn read(file: &'static str, port: u16) -> Site {
        let path = workspace_root().join(file);
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|error| panic!("cannot read {}: {error}", path.display()));
        Site { file, text, port }
    }

    fn proxy() -> Site {
        Site::read(PROXY_FILE, PROXY_PORT)
    }

    fn tls() -> Site {
        Site::read(TLS_FILE, TLS_PORT)
    }

    /// The same file with its one `line` replaced, to show what that line does.
    fn replacing(&self, line: &str, replacement: &str) -> Site {
        assert_eq!(
            self.text.matches(line).count(),
            1,
            "{} must contain `{line}` once",
            self.file
        );
        Site {
            text: self.text.replace(line, replacement),
            ..self.clone()
        }
    }

    /// The file as the tests give it to nginx: it listens on `port` of
    /// 127.0.0.1 and ::1 instead of the chapter's port, and passes requests
    /// to step 3 on `upstream_port` instead of 8080. Everything else stays
    /// as written. On a machine without IPv6 (`ipv6` false) there is no ::1
    /// to listen on, and that line becomes a comment.
    fn on_ports(&self, port: u16, ipv6: bool, upstream_port: u16) -> anyhow::Result<String> {
        let chapter = self.port;
        let ipv6_listen = format!("listen [::1]:{chapter}");
        let replacements = [
            (
                format!("listen 127.0.0.1:{chapter}"),
                format!("listen 127.0.0.1:{port}"),
            ),
            (
                ipv6_listen.clone(),
                if ipv6 {
                    format!("listen [::1]:{port}")
                } else {
                    format!("# no ::1 on this machine: {ipv6_listen}")
                },
            ),
            (
                UPSTREAM_LINE.to_string(),
                format!("proxy_pass http://127.0.0.1:{upstream_port};"),
            ),
        ];
        let mut text = self.text.clone();
        for (line, replacement) in replacements {
            ensure!(
                text.matches(&line).count() == 1,
                "{} must contain `{line}` exactly once: the tests replace it with a free port",
                self.file
            );
            text = text.replace(&line, &replacement);
        }
        Ok(text)
    }
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

/// The rest of an nginx configuration around the chapter's blocks: one
/// process in the foreground (nothing to clean up but this process), and
/// every file it writes inside `dir`, so that it runs without root and
/// without touching the system's nginx. The configuration itself lives in
/// `dir/conf`, apart from nginx's own prefix `dir`, as /etc/nginx lives
/// apart from /usr/share/nginx on Debian: a relative path in a block (the
/// certificate's) must start beside nginx.conf to be found.
fn main_config(dir: &Path, sites: usize) -> String {
    let dir = dir.display();
    let includes: String = (0..sites)
        .map(|site| format!("    include {dir}/conf/site{site}.conf;\n"))
        .collect();
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
{includes}}}
"
    )
}

/// A running nginx, each of its blocks on a free port of 127.0.0.1 and
/// ::1. Dropping it ends nginx and deletes its directory.
struct Nginx {
    /// Where each block listens, in the order they were given.
    ports: Vec<u16>,
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
        crate::tools::end_and_delete(&mut self.child, &self.dir);
    }
}

impl Nginx {
    /// Starts `program` with one block, in front of step 3 on `upstream_port`.
    async fn start(program: &Path, site: &Site, upstream_port: u16) -> anyhow::Result<Nginx> {
        Nginx::start_all(program, &[site], &[], upstream_port).await
    }

    /// Starts `program` with `sites` (the chapter's blocks) side by side in
    /// one `http` block and `files` (name, contents) beside its nginx.conf,
    /// in front of step 3 on `upstream_port`, and waits until every block
    /// accepts connections.
    async fn start_all(
        program: &Path,
        sites: &[&Site],
        files: &[(&str, &[u8])],
        upstream_port: u16,
    ) -> anyhow::Result<Nginx> {
        let mut ports: Vec<u16> = Vec::new();
        let mut ipv6 = true;
        while ports.len() < sites.len() {
            let (port, has_ipv6) = free_port()?;
            if !ports.contains(&port) {
                ports.push(port);
                ipv6 = has_ipv6;
            }
        }
        let dir =
            std::env::temp_dir().join(format!("xtask-nginx-{}-{}", std::process::id(), ports[0]));
        let conf = dir.join("conf");
        std::fs::create_dir_all(&conf)
            .with_context(|| format!("cannot create {}", conf.display()))?;
        for (index, (site, &port)) in sites.iter().zip(&ports).enumerate() {
            let text = site.on_ports(port, ipv6, upstream_port)?;
            std::fs::write(conf.join(format!("site{index}.conf")), text)?;
        }
        for (name, contents) in files {
            std::fs::write(conf.join(name), contents)?;
        }
        std::fs::write(conf.join("nginx.conf"), main_config(&dir, sites.len()))?;

        // `-e stderr`: report start-up errors on stderr, before nginx reads
        // the configuration, instead of in /var/log/nginx, which a normal
        // user may not write to.
        let mut command = Command::new(program);
        command
            .args(["-e", "stderr", "-p"])
            .arg(&dir)
            .arg("-c")
            .arg(conf.join("nginx.conf"));
        let (child, output, _) = steps::spawn(command)?;
        let mut process = NginxProcess { child, dir };

        let deadline = Instant::now() + START_TIMEOUT;
        for &port in &ports {
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
        }
        Ok(Nginx {
            ports,
            output,
            _process: process,
        })
    }

    /// Where the first block listens.
    fn port(&self) -> u16 {
        self.ports[0]
    }
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
    let proxy = Nginx::start(&nginx, &Site::proxy(), step3.port)
        .await
        .unwrap();

    let url = format!("http://localhost:{}/", proxy.port());
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
/// does not match the page's `Origin` (which keeps nginx's port, as on the
/// chapter's 8000) and refuses the WebSocket with 403: the browser reports
/// the failed handshake and the page never hears the greeting.
#[tokio::test(flavor = "multi_thread")]
async fn without_the_browsers_host_step3_refuses_the_websocket() {
    let Some((nginx, chromium)) = nginx_and_chromium() else {
        return;
    };
    let site = Site::proxy();
    let variants = [
        ("nginx's default Host", site.replacing(HOST_LINE, "")),
        (
            "Host $host",
            site.replacing(HOST_LINE, "proxy_set_header Host $host;"),
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
        let url = format!("http://localhost:{}/", proxy.port());
        let problem = match step3_page_talks_cleanly(chromium, &url, &step3.output).await {
            Ok(seen) => panic!("with {variant}, the page talked through nginx: {seen}"),
            Err(problem) => format!("{problem:#}"),
        };
        assert!(
            problem.contains("Unexpected response code: 403"),
            "with {variant}, the page failed, but not with a 403 handshake: {problem}"
        );
        // Step 3 names the refused page's origin, which is nginx's address.
        let page_origin = format!("localhost:{}", proxy.port());
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

/// `$host` is the name without the port, and that is all a browser sends
/// for a page on the scheme's default port: for `http://localhost/` (nginx
/// on port 80) it sends `Host: localhost` and `Origin: http://localhost`.
/// There `$host` passes on the same `Host` as `$http_host`, and step 3
/// lets the WebSocket in; the same request with a port in both, as for the
/// chapter's port 8000, is refused. (Port 80 itself needs root, so the
/// test sends the browser's request by hand to nginx on a free port: what
/// nginx passes on depends on the headers, not on the port it listens on.)
#[tokio::test(flavor = "multi_thread")]
async fn host_without_the_port_is_enough_only_on_the_default_port() {
    let Some(nginx) = tools::require_or_skip("nginx", tools::find_nginx()) else {
        return;
    };
    steps::build().unwrap();
    let step3 = Running::start("step3").await.unwrap();
    let site = Site::proxy().replacing(HOST_LINE, "proxy_set_header Host $host;");
    let proxy = Nginx::start(&nginx, &site, step3.port).await.unwrap();

    let handshake = |host: &str| {
        format!(
            "GET / HTTP/1.1\r\nHost: {host}\r\nOrigin: http://{host}\r\nUpgrade: websocket\r\n\
             Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
             Sec-WebSocket-Version: 13\r\n\r\n"
        )
    };
    let with_port = format!("localhost:{}", proxy.port());
    for (host, expected) in [("localhost", 101), (with_port.as_str(), 403)] {
        let answer = wire::ask(proxy.port(), handshake(host).as_bytes())
            .await
            .unwrap();
        assert_eq!(
            answer.status,
            expected,
            "through nginx with `Host $host`, a page at http://{host}/ got {:?}, not {expected}; \
             step 3 printed {:?}",
            answer.status_line,
            step3.output.lines()
        );
        println!(
            "with Host $host, the WebSocket of http://{host}/ got {}",
            answer.status_line
        );
    }
}

/// The file is for a proxy on this machine: step 3, listening on loopback,
/// answers only to this machine's names, so a request that reaches nginx
/// under another name (here `www.example.com`) gets step 3's 403, passed on
/// by nginx, and step 3 says why in its console.
#[tokio::test(flavor = "multi_thread")]
async fn under_another_name_step3_refuses_the_request() {
    let Some(nginx) = tools::require_or_skip("nginx", tools::find_nginx()) else {
        return;
    };
    steps::build().unwrap();
    let step3 = Running::start("step3").await.unwrap();
    let proxy = Nginx::start(&nginx, &Site::proxy(), step3.port)
        .await
        .unwrap();

    let request = "GET / HTTP/1.1\r\nHost: www.example.com\r\nConnection: close\r\n\r\n";
    let answer = wire::exchange(proxy.port(), request.as_bytes())
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

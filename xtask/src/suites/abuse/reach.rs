//! Who can reach a step: both listen on loopback only unless `HOST` says
//! otherwise, and step 3 refuses WebSockets from other sites' pages
//! (`Origin`) and, on loopback, requests under names that are not this
//! machine's (`Host`, against DNS rebinding).

use anyhow::{Context, ensure};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;

use super::{SERVER_STEPS, on_both_steps, on_steps};
use crate::steps::{self, Running};
use crate::wire::{self, PROMPTLY, SAMPLE_KEY};

/// The listening sockets on `port`, from /proc/net/tcp and tcp6, as
/// addresses in hex as the kernel writes them.
fn listening_addresses(port: u16) -> anyhow::Result<Vec<String>> {
    let mut addresses = Vec::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let text =
            std::fs::read_to_string(table).with_context(|| format!("cannot read {table}"))?;
        for line in text.lines().skip(1) {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let (Some(local), Some(state)) = (fields.get(1), fields.get(3)) else {
                continue;
            };
            let Some((address, hex_port)) = local.split_once(':') else {
                continue;
            };
            if *state == "0A" && u16::from_str_radix(hex_port, 16) == Ok(port) {
                addresses.push(address.to_string());
            }
        }
    }
    addresses.sort();
    Ok(addresses)
}

const LOOPBACK_V4: &str = "0100007F";
const LOOPBACK_V6: &str = "00000000000000000000000001000000";

#[tokio::test(flavor = "multi_thread")]
async fn servers_listen_on_loopback_unless_host_says_otherwise() {
    on_both_steps(|server| {
        Box::pin(async move {
            let port = server.port;
            let said = server
                .output
                .wait_for(0, PROMPTLY, |line| line.starts_with("Listening on"))
                .await
                .context("no `Listening on` line")?;
            ensure!(
                said.contains(&format!("127.0.0.1:{port}")) && said.contains("loopback only"),
                "the server says {said:?}"
            );
            let addresses = listening_addresses(port)?;
            ensure!(
                !addresses.is_empty()
                    && addresses
                        .iter()
                        .all(|a| a == LOOPBACK_V4 || a == LOOPBACK_V6),
                "listening on {addresses:?}, not only on loopback"
            );
            Ok(())
        })
    })
    .await;
    // HOST picks the address. 0.0.0.0 is only bound and read back from
    // /proc/net/tcp here: no traffic leaves loopback.
    for package in SERVER_STEPS {
        for (host, listening, reach, bound) in [
            ("127.0.0.1", "127.0.0.1", "loopback only", "0100007F"),
            ("0.0.0.0", "0.0.0.0", "every network interface", "00000000"),
        ] {
            let server = Running::start_with(package, &[("HOST", host)])
                .await
                .unwrap_or_else(|error| panic!("{package} starts with HOST={host}: {error:#}"));
            let lines = server.output.lines();
            let said = server
                .output
                .wait_for(0, PROMPTLY, |line| line.starts_with("Listening on"))
                .await
                .unwrap_or_default();
            assert!(
                said.starts_with(&format!(
                    "Listening on {listening}:{} ({reach}",
                    server.port
                )),
                "{package} with HOST={host} says {said:?}"
            );
            assert!(
                lines
                    .first()
                    .is_some_and(|first| first.contains("://localhost:")
                        || first.contains(&format!("://{host}:"))),
                "{package} with HOST={host} starts with {:?}, not a URL to open",
                lines.first()
            );
            let addresses = listening_addresses(server.port).expect("/proc/net/tcp");
            assert_eq!(addresses, [bound], "{package} with HOST={host}");
        }
    }
}

/// An upgrade request to step 3 from a page with the given `Origin`.
async fn upgrade_from(port: u16, origin: Option<&str>) -> anyhow::Result<u16> {
    let origin = origin
        .map(|origin| format!("Origin: {origin}\r\n"))
        .unwrap_or_default();
    let request = format!(
        "GET / HTTP/1.1\r\nHost: localhost:{port}\r\n{origin}Upgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: {SAMPLE_KEY}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    );
    let mut stream = TcpStream::connect(("127.0.0.1", port)).await?;
    stream.write_all(request.as_bytes()).await?;
    let mut answer = [0; 12];
    timeout(PROMPTLY, stream.read_exact(&mut answer))
        .await
        .context("no answer in time")??;
    let status = String::from_utf8_lossy(&answer[9..12]).parse()?;
    Ok(status)
}

#[tokio::test(flavor = "multi_thread")]
async fn step3_refuses_websockets_from_other_sites_pages() {
    on_steps(&["step3"], |server| {
        Box::pin(async move {
            let port = server.port;
            let own = format!("http://localhost:{port}");
            for (origin, expected) in [
                (None, 101),
                (Some(own.as_str()), 101),
                (Some("http://evil.example"), 403),
                (Some("http://localhost:1"), 403),
                (Some("null"), 403),
            ] {
                let status = upgrade_from(port, origin).await?;
                ensure!(
                    status == expected,
                    "an upgrade with Origin {origin:?} got {status}, not {expected}"
                );
            }
            let explained = server
                .output
                .wait_for(0, PROMPTLY, |line| {
                    line.contains("403") && line.contains("http://evil.example")
                })
                .await;
            ensure!(
                explained.is_some(),
                "no line explains the 403 for http://evil.example"
            );
            Ok(())
        })
    })
    .await;
}

/// A request to step 3 sent under the name `host`, as a page of that site
/// would send it after DNS rebinding: for the page, or for the WebSocket
/// with a matching `Origin`. Returns the status.
async fn request_as(port: u16, host: &str, upgrade: bool) -> anyhow::Result<u16> {
    let headers = if upgrade {
        format!(
            "Origin: http://{host}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: {SAMPLE_KEY}\r\nSec-WebSocket-Version: 13\r\n"
        )
    } else {
        "Connection: close\r\n".to_string()
    };
    let request = format!("GET / HTTP/1.1\r\nHost: {host}:{port}\r\n{headers}\r\n");
    Ok(wire::ask(port, request.as_bytes()).await?.status)
}

/// On loopback, step 3 answers only to this machine's names; started with
/// HOST=0.0.0.0, where other devices use names it cannot know, it answers
/// to any name and keeps only the Origin check.
#[tokio::test(flavor = "multi_thread")]
async fn step3_answers_only_to_this_machines_names_unless_on_the_network() {
    steps::build().expect("the steps build");
    let local = Running::start("step3").await.expect("step3 starts");
    for (host, page, websocket) in [
        ("localhost", 200, 101),
        ("127.0.0.1", 200, 101),
        ("[::1]", 200, 101),
        ("LOCALHOST", 200, 101),
        ("attacker.example", 403, 403),
        ("localhost.attacker.example", 403, 403),
    ] {
        let got = (
            request_as(local.port, host, false)
                .await
                .expect("an answer"),
            request_as(local.port, host, true).await.expect("an answer"),
        );
        assert_eq!(got, (page, websocket), "on loopback, Host {host}");
    }
    let explained = local
        .output
        .wait_for(0, PROMPTLY, |line| {
            line.contains("403 Forbidden (Host attacker.example:")
        })
        .await;
    assert!(
        explained.is_some(),
        "no line explains the 403 for attacker.example"
    );

    let open = Running::start_with("step3", &[("HOST", "0.0.0.0")])
        .await
        .expect("step3 starts with HOST=0.0.0.0");
    let got = (
        request_as(open.port, "attacker.example", false)
            .await
            .expect("an answer"),
        request_as(open.port, "attacker.example", true)
            .await
            .expect("an answer"),
    );
    assert_eq!(got, (200, 101), "with HOST=0.0.0.0, Host attacker.example");
}

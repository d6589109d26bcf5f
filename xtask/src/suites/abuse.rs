//! Tests: nothing a client does takes a server step down.
//!
//! Each test starts fresh copies of step 1 and step 3 as real processes on
//! free loopback ports and runs the same check against both side by side:
//! bad bytes, cut-off and endless requests, idle crowds, oversized heads and
//! messages, broken frames, clients that vanish, 2,000 clients at once, and
//! Ctrl+C with 100 clients. Every check has a time limit, and all traffic
//! goes to 127.0.0.1.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use futures_util::StreamExt;
use futures_util::future::{BoxFuture, join_all};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{sleep, timeout};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

use crate::crowd;
use crate::steps::{self, Output, Running};
use crate::wire::{self, PROMPTLY, SAMPLE_KEY};

const SERVER_STEPS: [&str; 2] = ["step1", "step3"];

/// The handshake timeout of both steps (`HANDSHAKE_TIMEOUT` in their code).
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// No check may run longer than this, however the server behaves.
const CHECK_TIMEOUT: Duration = Duration::from_secs(40);

/// Runs `check` against a fresh copy of step 1 and of step 3 side by side,
/// and fails with what went wrong on each, and the end of its output.
async fn on_both_steps<Check>(check: Check)
where
    Check: for<'a> Fn(&'a mut Running) -> BoxFuture<'a, anyhow::Result<()>>,
{
    on_steps(&SERVER_STEPS, check).await;
}

async fn on_steps<Check>(packages: &[&str], check: Check)
where
    Check: for<'a> Fn(&'a mut Running) -> BoxFuture<'a, anyhow::Result<()>>,
{
    steps::build().expect("the steps build");
    let runs = packages.iter().map(|&package| {
        let check = &check;
        async move {
            let mut server = match Running::start(package).await {
                Ok(server) => server,
                Err(error) => return Some(format!("{package} did not start: {error:#}")),
            };
            let problem = match timeout(CHECK_TIMEOUT, check(&mut server)).await {
                Ok(Ok(())) => return None,
                Ok(Err(error)) => format!("{error:#}"),
                Err(_) => format!("the check did not finish within {CHECK_TIMEOUT:?}"),
            };
            Some(format!(
                "{package}: {problem}\n{}",
                last_lines(&server.output)
            ))
        }
    });
    let problems: Vec<String> = join_all(runs).await.into_iter().flatten().collect();
    assert!(problems.is_empty(), "\n{}", problems.join("\n\n"));
}

fn last_lines(output: &Output) -> String {
    let shown: Vec<String> = output
        .last(15)
        .iter()
        .map(|line| format!("    | {line}"))
        .collect();
    format!("  the last lines it printed:\n{}", shown.join("\n"))
}

/// A new client is greeted at once: the server is still serving.
async fn still_greets(port: u16) -> anyhow::Result<()> {
    let mut socket = timeout(PROMPTLY, wire::greeted(port, PROMPTLY))
        .await
        .context("a new client could not even connect at once")?
        .context("a new client was not greeted at once")?;
    let _ = socket.close(None).await;
    Ok(())
}

/// Reads until the server closes the connection, within `wait`, and
/// returns what it sent. A reset counts as closed too.
async fn read_until_closed(stream: &mut TcpStream, wait: Duration) -> anyhow::Result<Vec<u8>> {
    let mut answer = Vec::new();
    match timeout(wait, stream.read_to_end(&mut answer)).await {
        Ok(_) => Ok(answer),
        Err(_) => bail!(
            "the server kept the connection open for {wait:?}; it sent {}",
            wire::printable(&answer)
        ),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn bytes_that_are_not_http_get_400_and_a_cut_off_request_is_closed() {
    on_both_steps(|server| {
        Box::pin(async move {
            let answer = wire::exchange(
                server.port,
                b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03 hello\r\n\r\n",
            )
            .await?;
            let answer = wire::parse_http(&answer)?;
            ensure!(
                answer.status == 400,
                "not-HTTP bytes got {:?}, not 400",
                answer.status_line
            );

            // Half a request, then the client stops sending: the server must not
            // wait for the rest of it for ever.
            let mut stream = TcpStream::connect(("127.0.0.1", server.port)).await?;
            stream.write_all(b"GET / HTTP/1.1\r\nHost: local").await?;
            stream.shutdown().await?;
            let answer = read_until_closed(&mut stream, PROMPTLY).await?;
            ensure!(
                answer.is_empty() || answer.starts_with(b"HTTP/1.1 400"),
                "a cut-off request got {}",
                wire::printable(&answer)
            );
            still_greets(server.port).await
        })
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_head_over_16_kib_gets_431_and_the_server_goes_on() {
    on_both_steps(|server| {
        Box::pin(async move {
            let request = format!(
                "GET / HTTP/1.1\r\nHost: localhost\r\nX-Large: {}\r\n\r\n",
                "a".repeat(20_000)
            );
            let answer = wire::parse_http(&wire::exchange(server.port, request.as_bytes()).await?)?;
            ensure!(
                answer.status == 431,
                "a 20 KB header got {:?}, not 431",
                answer.status_line
            );
            let explained = server
                .output
                .wait_for(0, PROMPTLY, |line| line.contains("431"))
                .await;
            ensure!(
                explained.is_some(),
                "the server printed no line about the 431"
            );
            still_greets(server.port).await
        })
    })
    .await;
}

/// 1,000 connections that send nothing, one that sends its request a byte
/// a second, and one that sends all but the final blank line: a new client
/// is still greeted at once, and all of them are dropped at the handshake
/// timeout, neither much before nor much after.
#[tokio::test(flavor = "multi_thread")]
async fn idle_and_slow_clients_are_dropped_at_the_handshake_timeout() {
    crowd::ensure_open_files(8_000).expect("enough open files");
    on_both_steps(|server| {
        Box::pin(async move {
        let port = server.port;
        let started = Instant::now();
        let mut idle = Vec::new();
        for _ in 0..1000 {
            idle.push(TcpStream::connect(("127.0.0.1", port)).await?);
        }
        let mut unfinished = TcpStream::connect(("127.0.0.1", port)).await?;
        unfinished
            .write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n")
            .await?;
        let slow = tokio::spawn(one_byte_a_second(port));

        let greeted_at = Instant::now();
        still_greets(port).await.context("with 1,000 idle connections open")?;
        let greeting_took = greeted_at.elapsed();

        let latest = HANDSHAKE_TIMEOUT + Duration::from_secs(4);
        let earliest = HANDSHAKE_TIMEOUT - Duration::from_secs(1);
        let closings = idle
            .into_iter()
            .chain([unfinished])
            .map(|mut stream| async move {
                let answer = read_until_closed(&mut stream, latest).await;
                (answer, started.elapsed())
            });
        let closings = join_all(closings).await;
        let mut early = 0;
        for (answer, at) in &closings {
            answer.as_ref().map_err(|error| anyhow::anyhow!("{error:#}"))?;
            if *at < earliest {
                early += 1;
            }
        }
        ensure!(early == 0, "{early} idle connections were dropped before {earliest:?}");
        let slow = slow.await?.context("the client sending a byte a second")?;
        ensure!(
            slow >= earliest && slow <= latest,
            "the client sending a byte a second was dropped after {slow:?}, not at about {HANDSHAKE_TIMEOUT:?}"
        );
        println!(
            "{}: greeted in {greeting_took:?} beside 1,000 idle connections, all dropped by {:?}",
            server.output.lines().first().cloned().unwrap_or_default(),
            started.elapsed()
        );
        Ok(())
        })
    })
    .await;
}

/// Sends an upgrade request one byte a second; returns when the server
/// closed the connection, counted from the connection.
async fn one_byte_a_second(port: u16) -> anyhow::Result<Duration> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).await?;
    let started = Instant::now();
    let request = wire::upgrade_request(port);
    for byte in request.as_bytes().iter().cycle().take(30) {
        if stream.write_all(&[*byte]).await.is_err() {
            return Ok(started.elapsed());
        }
        let mut answer = [0; 256];
        match timeout(Duration::from_secs(1), stream.read(&mut answer)).await {
            Err(_) => {}
            Ok(Ok(0) | Err(_)) => return Ok(started.elapsed()),
            Ok(Ok(_)) => bail!("the server answered a request it has not fully received"),
        }
    }
    bail!("the server was still waiting after 30 bytes in 30 s")
}

/// A client frame: `first` holds FIN, the reserved bits and the opcode.
/// `masked` frames use the mask 0, which leaves the payload as it is.
fn frame(first: u8, masked: bool, payload: &[u8]) -> Vec<u8> {
    wire::encode(first, masked.then_some([0; 4]), payload)
}

/// Sends `bytes` on a fresh WebSocket and returns the code of the close
/// frame the server answers with.
async fn close_code_after(port: u16, bytes: &[u8]) -> anyhow::Result<u16> {
    let mut stream = wire::greeted_raw(port).await?;
    stream.write_all(bytes).await?;
    loop {
        let (opcode, payload) = wire::read_frame(&mut stream, PROMPTLY)
            .await
            .context("the server did not send a close frame")?;
        if opcode == 8 {
            ensure!(payload.len() >= 2, "a close frame without a code");
            return Ok(u16::from_be_bytes([payload[0], payload[1]]));
        }
    }
}

/// What RFC 6455 says a server must answer to each kind of broken frame.
fn broken_frames() -> Vec<(&'static str, Vec<u8>, CloseCode)> {
    let big = vec![b'a'; 64 * 1024 + 1];
    let half = vec![b'a'; 40 * 1024];
    vec![
        (
            "an unmasked client frame",
            frame(0x81, false, b"hello"),
            CloseCode::Protocol,
        ),
        (
            "reserved bit 1 set",
            frame(0xc1, true, b"hello"),
            CloseCode::Protocol,
        ),
        (
            "reserved bit 3 set",
            frame(0x91, true, b"hello"),
            CloseCode::Protocol,
        ),
        (
            "unknown data opcode 3",
            frame(0x83, true, b"hello"),
            CloseCode::Protocol,
        ),
        (
            "unknown control opcode 11",
            frame(0x8b, true, b""),
            CloseCode::Protocol,
        ),
        (
            "a fragmented ping",
            frame(0x09, true, b"ping"),
            CloseCode::Protocol,
        ),
        (
            "a ping of 126 bytes",
            frame(0x89, true, &[b'p'; 126]),
            CloseCode::Protocol,
        ),
        (
            "a continuation with no start",
            frame(0x80, true, b"hello"),
            CloseCode::Protocol,
        ),
        (
            "text that is not UTF-8",
            frame(0x81, true, b"caf\xe9"),
            CloseCode::Invalid,
        ),
        (
            "a message of 64 KiB + 1",
            frame(0x81, true, &big),
            CloseCode::Size,
        ),
        (
            "two fragments of 40 KiB",
            [frame(0x01, true, &half), frame(0x80, true, &half)].concat(),
            CloseCode::Size,
        ),
    ]
}

#[tokio::test(flavor = "multi_thread")]
async fn broken_frames_close_with_the_code_rfc_6455_gives() {
    on_both_steps(|server| {
        Box::pin(async move {
            let cases = broken_frames();
            let answers = join_all(
                cases
                    .iter()
                    .map(|(_, bytes, _)| close_code_after(server.port, bytes)),
            )
            .await;
            let mut wrong = Vec::new();
            for ((what, _, expected), answer) in cases.iter().zip(answers) {
                let expected = u16::from(*expected);
                match answer {
                    Ok(code) if code == expected => {}
                    Ok(code) => wrong.push(format!("{what}: close code {code}, not {expected}")),
                    Err(error) => wrong.push(format!("{what}: {error:#}")),
                }
            }
            ensure!(wrong.is_empty(), "{}", wrong.join("; "));
            still_greets(server.port).await?;
            wait_until_none_open(&server.output).await
        })
    })
    .await;
}

/// Waits until every connection the server logged as `Connected:` has
/// also been logged as `Disconnected:`: no connection task is left.
///
/// The `(N open)` counts themselves are snapshots: two connections ending
/// at once may print theirs in either order, so the last line need not say
/// `(0 open)` even when none is open.
async fn wait_until_none_open(output: &Output) -> anyhow::Result<()> {
    let deadline = Instant::now() + PROMPTLY * 2;
    loop {
        let lines = output.lines();
        let count = |prefix: &str| lines.iter().filter(|line| line.starts_with(prefix)).count();
        let (connected, disconnected) = (count("Connected: "), count("Disconnected: "));
        if connected == disconnected {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!(
                "{connected} connections were logged as connected but only {disconnected} as disconnected"
            );
        }
        sleep(Duration::from_millis(50)).await;
    }
}

/// Ways a client can disappear without saying goodbye.
async fn vanish(port: u16, how: usize) -> anyhow::Result<String> {
    let mut stream = wire::greeted_raw(port).await?;
    let peer = stream.local_addr()?.to_string();
    match how {
        // Just gone: the TCP connection ends without a close frame.
        0 => drop(stream),
        // Gone in the middle of a frame that announced 100 bytes.
        1 => {
            stream
                .write_all(&frame(0x81, true, &[b'a'; 100])[..20])
                .await?;
            drop(stream);
        }
        // Gone with unread data, which makes the system reset the connection.
        _ => {
            stream
                .write_all(&frame(0x89, true, b"are you there?"))
                .await?;
            sleep(Duration::from_millis(100)).await;
            drop(stream);
        }
    }
    Ok(peer)
}

#[tokio::test(flavor = "multi_thread")]
async fn clients_that_vanish_leave_one_line_each_and_no_open_connection() {
    on_both_steps(|server| {
        Box::pin(async move {
        let peers = join_all((0..30).map(|index| vanish(server.port, index % 3))).await;
        let peers: Vec<String> = peers.into_iter().collect::<anyhow::Result<_>>()?;
        wait_until_none_open(&server.output).await?;
        let lines = server.output.lines();
        for peer in &peers {
            let about: Vec<&String> = lines
                .iter()
                .filter(|line| {
                    line.contains(&format!("{peer} "))
                        || line.contains(&format!("{peer},"))
                        || line.contains(&format!("{peer}:"))
                })
                .collect();
            let connected = about.iter().filter(|line| line.starts_with("Connected: ")).count();
            let disconnected = about
                .iter()
                .filter(|line| line.starts_with("Disconnected: "))
                .count();
            ensure!(
                connected == 1 && disconnected == 1 && about.len() == 2,
                "for {peer} the server printed {about:?}, not one Connected and one Disconnected line"
            );
        }
        still_greets(server.port).await
        })
    })
    .await;
}

/// 2,000 clients at once: every one greeted, every message printed once,
/// on a line of its own.
#[tokio::test(flavor = "multi_thread")]
async fn two_thousand_clients_are_all_greeted_and_heard() {
    const CLIENTS: usize = 2000;
    crowd::ensure_open_files(8_000).expect("enough open files");
    on_both_steps(|server| {
        Box::pin(async move {
            let gathering = crowd::gather(server.port, CLIENTS, 200, |_, _| {}).await;
            ensure!(
                gathering.greeted == CLIENTS,
                "{} of {CLIENTS} clients greeted, {} failed, such as: {:?}",
                gathering.greeted,
                gathering.failed,
                gathering.failures
            );
            wait_until_none_open(&server.output).await?;
            let lines = server.output.lines();
            let received: Vec<&String> = lines
                .iter()
                .filter(|line| line.contains("Received"))
                .collect();
            let expected: HashSet<String> = (0..CLIENTS)
                .map(|index| format!("Received: {}", crowd::message_of(index)))
                .collect();
            let seen: HashSet<String> = received.iter().map(|line| line.to_string()).collect();
            let strange: Vec<&&String> = received
                .iter()
                .filter(|line| !expected.contains(line.as_str()))
                .take(3)
                .collect();
            ensure!(strange.is_empty(), "garbled Received lines: {strange:?}");
            ensure!(
                received.len() == CLIENTS && seen == expected,
                "{} Received lines, {} different, for {CLIENTS} messages",
                received.len(),
                seen.len()
            );
            println!(
                "{}: {} clients greeted in {:?} ({:.0} greetings/s)",
                server.output.lines().first().cloned().unwrap_or_default(),
                CLIENTS,
                gathering.time_to_greet_all,
                gathering.greetings_per_second()
            );
            Ok(())
        })
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn ctrl_c_closes_a_hundred_clients_with_1001_and_exits_within_a_second() {
    on_both_steps(|server| {
        Box::pin(async move {
            let mut clients = Vec::new();
            for _ in 0..100 {
                let mut socket = wire::websocket(server.port, "/").await?;
                wire::next_message(&mut socket, PROMPTLY)
                    .await
                    .context("no greeting")?;
                clients.push(socket);
            }
            let interrupted = Instant::now();
            server.interrupt()?;
            let goodbyes = join_all(clients.into_iter().map(|mut socket| async move {
                let message = wire::next_message(&mut socket, PROMPTLY).await?;
                // Reading on answers the close frame, as a browser does.
                let _ = timeout(PROMPTLY, async { while socket.next().await.is_some() {} }).await;
                match message {
                    Message::Close(Some(frame)) => Ok(u16::from(frame.code)),
                    other => bail!("got {other:?} instead of a close frame"),
                }
            }))
            .await;
            let status = server
                .exit_status(Duration::from_secs(3))
                .await
                .context("the process did not exit within 3 s of Ctrl+C")?;
            let took = interrupted.elapsed();
            let not_1001: Vec<String> = goodbyes
                .into_iter()
                .filter_map(|goodbye| match goodbye {
                    Ok(1001) => None,
                    Ok(code) => Some(format!("close code {code}")),
                    Err(error) => Some(format!("{error:#}")),
                })
                .collect();
            ensure!(
                not_1001.is_empty(),
                "{} of 100 clients did not get close 1001: {:?}",
                not_1001.len(),
                &not_1001[..not_1001.len().min(3)]
            );
            ensure!(status.success(), "exit status {status} after Ctrl+C, not 0");
            ensure!(
                took <= Duration::from_millis(1200),
                "the process took {took:?} to exit after Ctrl+C"
            );
            println!("100 clients closed with 1001, exit 0 {took:?} after Ctrl+C");
            Ok(())
        })
    })
    .await;
}

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

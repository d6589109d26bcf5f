//! Abuse at the HTTP request: bytes that are not HTTP, a request cut off
//! half-way, a head over 16 KiB, and a crowd of connections that send
//! nothing or send slowly, which the handshake timeout drops.

use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use futures_util::future::join_all;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;

use super::{HANDSHAKE_TIMEOUT, on_both_steps, read_until_closed, still_greets};
use crate::crowd;
use crate::wire::{self, PROMPTLY};

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

//! Abuse by numbers and by leaving: clients that vanish without a goodbye,
//! 2,000 clients at once, and Ctrl+C with 100 clients connected.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use futures_util::StreamExt;
use futures_util::future::join_all;
use tokio::io::AsyncWriteExt;
use tokio::time::{sleep, timeout};
use tokio_tungstenite::tungstenite::Message;

use super::{frame, on_both_steps, still_greets, wait_until_none_open};
use crate::crowd;
use crate::wire::{self, PROMPTLY};

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

//! The measurement itself, checked: both ends agree, every byte is
//! counted, and the figures move the way chapter 0 says.

use std::sync::atomic::Ordering;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::counted::Counted;
use super::*;
use crate::docs::{Docs, Page, check_output};

/// A shorter run than the chapter's, with polls far apart and close
/// together: about a second.
fn small_plan() -> Plan {
    Plan {
        updates: 12,
        every: Duration::from_millis(50),
        ways: vec![
            Way::Polling(Duration::from_millis(500)),
            Way::Polling(Duration::from_millis(25)),
            Way::LongPolling,
            Way::WebSocket,
        ],
    }
}

async fn measure_small() -> Vec<Measured> {
    measure(&small_plan(), |_, _| {})
        .await
        .expect("the measurement runs")
}

fn of(measured: &[Measured], way: Way) -> &Measured {
    measured
        .iter()
        .find(|result| result.way == way)
        .expect("every planned way is measured")
}

/// A connected pair of loopback sockets, both counted.
async fn counted_pair() -> (Counted<TcpStream>, Counted<TcpStream>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (client, accepted) =
        tokio::join!(TcpStream::connect(("127.0.0.1", port)), listener.accept());
    (
        Counted::new(client.unwrap()),
        Counted::new(accepted.unwrap().0),
    )
}

#[tokio::test]
async fn counting_sees_every_byte_in_both_directions() {
    let (mut client, mut server) = counted_pair().await;
    let sent: Vec<u8> = (0..200_000).map(|index| (index % 251) as u8).collect();
    let writing = async {
        client.write_all(&sent).await.unwrap();
        let mut answer = [0; 3];
        client.read_exact(&mut answer).await.unwrap();
    };
    // The server reads in small pieces, so the count adds up many reads.
    let reading = async {
        let mut got = Vec::new();
        let mut piece = [0; 1000];
        while got.len() < sent.len() {
            let read = server.read(&mut piece).await.unwrap();
            got.extend_from_slice(&piece[..read]);
        }
        server.write_all(b"ok!").await.unwrap();
        got
    };
    let ((), got) = tokio::join!(writing, reading);
    assert_eq!(got, sent);
    assert_eq!(
        client.counts().snapshot(),
        (3, 200_000),
        "client (read, written)"
    );
    assert_eq!(
        server.counts().snapshot(),
        (200_000, 3),
        "server (read, written)"
    );
}

#[tokio::test]
async fn a_counter_that_invents_or_misses_bytes_is_caught() {
    let (mut client, mut server) = counted_pair().await;
    let request = poll_request(8080, 0, false);
    client.write_all(request.as_bytes()).await.unwrap();
    let mut got = vec![0; request.len()];
    server.read_exact(&mut got).await.unwrap();
    let ends = (8080, 40000);
    let received = Received {
        ends,
        counts: client.counts(),
        setup_bytes: 0,
        answers: 0,
        empty_answers: 0,
        arrivals: Vec::new(),
    };
    let server_ends = Mutex::new(vec![(ends, server.counts())]);
    ensure_ends_agree(Way::LongPolling, &received, &server_ends)
        .expect("both ends counted the same bytes");

    // One byte that never crossed the connection.
    server.counts.read.fetch_add(1, Ordering::SeqCst);
    let error = ensure_ends_agree(Way::LongPolling, &received, &server_ends)
        .expect_err("a phantom byte is a wrong count");
    assert!(
        error.to_string().contains("the counting is wrong"),
        "{error}"
    );
}

#[tokio::test]
async fn the_websocket_bytes_are_exactly_its_frames() {
    let measured = measure_small().await;
    // A frame from the server: 2 bytes of header (FIN and opcode, then
    // the length, below 126), then the text, unmasked.
    let frames: u64 = (1..=small_plan().updates)
        .map(|number| 2 + Feed::text_of(number).len() as u64)
        .sum();
    let websocket = of(&measured, Way::WebSocket);
    assert_eq!(websocket.stream_bytes, frames);
    // The handshake: at least the browser's request, and a 101 answer.
    let request = upgrade_request(10000, 10000).len() as u64;
    assert!(
        websocket.setup_bytes > request + "HTTP/1.1 101 Switching Protocols\r\n".len() as u64,
        "{websocket:?}"
    );
}

#[tokio::test]
async fn websocket_bytes_per_update_are_a_small_fraction_of_pollings() {
    let measured = measure_small().await;
    let websocket = of(&measured, Way::WebSocket).bytes_per_update();
    for result in measured
        .iter()
        .filter(|result| result.way != Way::WebSocket)
    {
        // Every answer carries at least one browser request's headers.
        let headers = poll_request(10000, 0, false).len() as u64;
        assert!(
            result.stream_bytes > result.answers as u64 * headers,
            "{result:?}"
        );
        let ratio = result.bytes_per_update() / websocket;
        assert!(
            ratio > 5.0,
            "{}: only {ratio:.1} times the WebSocket's bytes",
            result.way.label()
        );
    }
    let fast = of(&measured, Way::Polling(Duration::from_millis(25)));
    assert!(
        fast.bytes_per_update() / websocket > 30.0,
        "polling faster than the updates costs far more: {fast:?}"
    );
    assert!(fast.empty_answers > 0, "polls outnumber updates: {fast:?}");
}

#[tokio::test]
async fn polling_delay_grows_with_the_interval() {
    let measured = measure_small().await;
    let slow = of(&measured, Way::Polling(Duration::from_millis(500))).median_delay();
    let fast = of(&measured, Way::Polling(Duration::from_millis(25))).median_delay();
    let websocket = of(&measured, Way::WebSocket).median_delay();
    assert!(slow > fast, "every 500ms: {slow:?}, every 25ms: {fast:?}");
    assert!(
        slow > websocket,
        "every 500ms: {slow:?}, WebSocket: {websocket:?}"
    );
    // A poll can only bring what exists: at least some updates waited
    // a good part of the slow interval.
    let worst = of(&measured, Way::Polling(Duration::from_millis(500))).worst_delay();
    assert!(worst > Duration::from_millis(100), "{worst:?}");
}

/// Two runs give different figures, and the docs check must accept
/// either, while still catching a changed label.
#[test]
fn the_docs_check_tolerates_new_figures_but_not_new_labels() {
    let plan = Plan::standard();
    let figures = |bytes: u64, delay: u64| -> Vec<Measured> {
        plan.ways
            .iter()
            .map(|&way| Measured {
                way,
                setup_bytes: if way == Way::WebSocket { bytes * 7 } else { 0 },
                stream_bytes: bytes * plan.updates as u64,
                answers: 10,
                empty_answers: (delay % 10) as usize,
                delays: vec![Duration::from_micros(delay); plan.updates],
            })
            .collect()
    };
    let shown = report(&plan, &figures(94, 300));
    let real = Ok(report(&plan, &figures(1153, 45_000)));
    let page = |lines: &[String]| {
        let body = lines.join("\n");
        Docs {
            pages: vec![Page::new(
                "docs/en/00-why.md",
                format!("# Why\n\n<!-- output: polling -->\n```console\n{body}\n```\n"),
            )],
        }
    };
    assert!(check_output(&page(&shown), "polling", &real).is_ok());

    let relabelled: Vec<String> = shown
        .iter()
        .map(|line| line.replace("long polling", "short polling"))
        .collect();
    assert!(check_output(&page(&relabelled), "polling", &real).is_err());
}

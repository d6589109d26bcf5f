//! The five exercise checks. Each starts the step it is given (the
//! learner's build, or a copy in the tests) on a free port, talks to it as
//! the chapter's exercise says, and returns what it saw or a `Miss`.
//!
//! Every message comes in English and Korean; the learner's language picks
//! one. A `Miss` says what was expected and what was seen instead; the
//! exercise's hint (in `super::EXERCISES`) says where to change the code,
//! unless the check knows better.

use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio::time::{sleep, timeout};
use tokio_tungstenite::tungstenite::Message;

use super::Miss;
use crate::browser::{Chromium, Page};
use crate::checks::browser::page_url;
use crate::lang::Lang;
use crate::steps::{Output, Program, Running};
use crate::wire::{self, GREETING, PROMPTLY};

type Checked = Result<String, Miss>;

/// A miss with the exercise's own hint.
fn miss(expected: String, saw: String) -> Miss {
    Miss {
        expected,
        saw,
        hint: None,
    }
}

/// A client that should have been greeted as before, and was not.
fn no_greeting(lang: Lang, error: anyhow::Error) -> Miss {
    miss(
        lang.pick("the greeting, as before", "예전처럼 인사 메시지")
            .to_string(),
        format!("{error:#}"),
    )
}

/// Starts the step, or says why it would not start.
async fn start(program: &Program, env: &[(&str, &str)], lang: Lang) -> Result<Running, Miss> {
    program.start(env).await.map_err(|error| {
        miss(
            lang.pick(
                "the step starts and prints its address",
                "단계가 시작되어 주소를 출력하는 것",
            )
            .to_string(),
            format!("{error:#}"),
        )
    })
}

/// The last lines a step printed, for a `saw`.
fn printed(output: &Output, lang: Lang) -> String {
    let lines = output.last(8);
    lang.pick(
        format!("the server printed {lines:?}"),
        format!("서버 출력은 {lines:?}"),
    )
}

/// Exercise 1: every text message comes back with `Echo: ` in front, and
/// the server still prints it.
pub async fn echo(program: &Program, lang: Lang) -> Checked {
    let server = start(program, &[], lang).await?;
    let port = server.port;
    let mut socket = wire::greeted(port, PROMPTLY).await.map_err(|error| {
        miss(
            lang.pick("the greeting, as before", "예전처럼 인사 메시지")
                .to_string(),
            format!("{error:#}"),
        )
    })?;
    let mut answers = Vec::new();
    for text in ["exercise one", GREETING] {
        let expected = format!("Echo: {text}");
        socket
            .send(Message::text(text))
            .await
            .map_err(|error| miss(expected.clone(), format!("{error:#}")))?;
        let answer = wire::next_message(&mut socket, PROMPTLY).await;
        let answer = match answer {
            Ok(Message::Text(answer)) => answer.to_string(),
            Ok(other) => {
                return Err(miss(
                    lang.pick(
                        format!("the answer {expected:?} to {text:?}"),
                        format!("{text:?} 에 대한 답 {expected:?}"),
                    ),
                    format!("{other:?}"),
                ));
            }
            Err(error) => {
                return Err(miss(
                    lang.pick(
                        format!("the answer {expected:?} to {text:?}"),
                        format!("{text:?} 에 대한 답 {expected:?}"),
                    ),
                    lang.pick(
                        format!("no answer ({error:#})"),
                        format!("답이 없습니다 ({error:#})"),
                    ),
                ));
            }
        };
        if answer != expected {
            return Err(miss(
                lang.pick(
                    format!("the answer {expected:?} to {text:?}"),
                    format!("{text:?} 에 대한 답 {expected:?}"),
                ),
                lang.pick(format!("{answer:?}"), format!("{answer:?} 가 왔습니다")),
            ));
        }
        let line = format!("Received: {text}");
        if server
            .output
            .wait_for(0, PROMPTLY, |printed| printed == line)
            .await
            .is_none()
        {
            return Err(miss(
                lang.pick(
                    format!("the server still prints {line:?}"),
                    format!("서버가 여전히 {line:?} 를 출력하는 것"),
                ),
                printed(&server.output, lang),
            ));
        }
        answers.push(format!("{text:?} -> {answer:?}"));
    }
    let _ = socket.close(None).await;
    Ok(lang.pick(
        format!(
            "the step answered {}, and printed both Received: lines",
            answers.join(" and ")
        ),
        format!(
            "단계가 {} 로 답했고, Received: 줄도 둘 다 출력했습니다",
            answers.join(", ")
        ),
    ))
}

/// Exercise 2: each WebSocket client gets the next number, from 1, in a
/// line `Client #N connected`. A refused HTTP request is not a client, and
/// a number is never given twice, even after a client leaves.
pub async fn numbered_clients(program: &Program, lang: Lang) -> Checked {
    let server = start(program, &[], lang).await?;
    let port = server.port;
    let greeted = |error| no_greeting(lang, error);

    let first = wire::greeted(port, PROMPTLY).await.map_err(greeted)?;
    let one = client_number(
        &server.output,
        1,
        lang.pick("when the first client connects", "첫 클라이언트가 연결되면"),
        lang,
    )
    .await?;

    // A browser asking for a page gets 426: that never became a client.
    let _ = wire::get(port, "/").await;
    let second = wire::greeted(port, PROMPTLY).await.map_err(greeted)?;
    let two = client_number(
        &server.output,
        2,
        lang.pick(
            "for the second WebSocket client (a plain HTTP request answered 426 in between does not count)",
            "두 번째 웹소켓 클라이언트에게 (그 사이에 426 으로 거절된 HTTP 요청은 세지 않습니다)",
        ),
        lang,
    )
    .await?;

    // The first leaves; the next one still gets a new number.
    drop(first);
    let disconnected = server
        .output
        .wait_for(0, PROMPTLY, |line| line.starts_with("Disconnected:"))
        .await;
    let third = wire::greeted(port, PROMPTLY).await.map_err(greeted)?;
    let three = client_number(
        &server.output,
        3,
        lang.pick(
            "for the third client, after the first one left (a number is never given again)",
            "첫 클라이언트가 나간 뒤 들어온 세 번째 클라이언트에게 (번호는 다시 쓰지 않습니다)",
        ),
        lang,
    )
    .await?;
    if disconnected.is_none() {
        return Err(miss(
            lang.pick(
                "a Disconnected: line when the first client leaves, as before",
                "첫 클라이언트가 나갈 때 예전처럼 Disconnected: 줄",
            )
            .to_string(),
            printed(&server.output, lang),
        ));
    }
    drop((second, third));
    Ok(lang.pick(
        format!("three WebSocket clients printed {one:?}, {two:?} and {three:?}; the 426 answer in between was not counted"),
        format!("웹소켓 클라이언트 셋에 {one:?}, {two:?}, {three:?} 가 출력되었고, 그 사이의 426 응답은 세지 않았습니다"),
    ))
}

/// Waits for the line `Client #N connected`; `when` says when it is due.
async fn client_number(output: &Output, number: usize, when: &str, lang: Lang) -> Checked {
    let wanted = format!("Client #{number} connected");
    let seen = output
        .wait_for(0, PROMPTLY, |line| line.starts_with(&wanted))
        .await;
    if seen.is_some() {
        return Ok(wanted);
    }
    let numbered: Vec<String> = output
        .lines()
        .into_iter()
        .filter(|line| line.starts_with("Client #"))
        .collect();
    Err(miss(
        lang.pick(
            format!("the line {wanted:?} {when}"),
            format!("{when} {wanted:?} 줄"),
        ),
        if numbered.is_empty() {
            printed(output, lang)
        } else {
            lang.pick(
                format!("only {numbered:?}"),
                format!("{numbered:?} 만 나왔습니다"),
            )
        },
    ))
}

/// How long a browser page may take to load, connect and show a line.
const PAGE_TIMEOUT: Duration = Duration::from_secs(10);

/// Opens the step's page in a new browser page and waits for its greeting.
async fn open_page(chromium: &Chromium, url: &str, lang: Lang) -> Result<Page, Miss> {
    let mut page = chromium.open(url).await.map_err(|error| {
        miss(
            lang.pick("the page opens", "페이지가 열리는 것")
                .to_string(),
            format!("{error:#}"),
        )
    })?;
    let greeting = format!("Received: {GREETING}");
    if !page
        .wait_until(PAGE_TIMEOUT, |seen| seen.console_has(&greeting))
        .await
    {
        let lines = page.texts("#log li").await.unwrap_or_default();
        return Err(miss(
            lang.pick(
                format!("the page lists {greeting:?}, as before"),
                format!("예전처럼 페이지에 {greeting:?} 가 나오는 것"),
            ),
            lang.pick(
                format!("the page lists {lines:?}"),
                format!("페이지 목록: {lines:?}"),
            ),
        ));
    }
    Ok(page)
}

/// How many times a page lists `line`.
async fn count_lines(page: &Page, line: &str) -> usize {
    let lines = page.texts("#log li").await.unwrap_or_default();
    lines.iter().filter(|listed| *listed == line).count()
}

/// Exercise 3: two pages of step 3 open; what one sends (typed into its
/// text box) is listed as received by both, and the other way round.
pub async fn chat(program: &Program, chromium: &Chromium, lang: Lang) -> Checked {
    let server = start(program, &[], lang).await?;
    let url = page_url(server.port);
    let (first, second) = tokio::join!(
        open_page(chromium, &url, lang),
        open_page(chromium, &url, lang)
    );
    let mut pages = [first?, second?];

    for (from, text, how) in [
        (0, "hello from page 1", "Enter"),
        (1, "hello from page 2", "Send"),
    ] {
        let sender = &pages[from];
        let typed = async {
            sender.type_into("#message", text).await?;
            if how == "Enter" {
                sender.press_enter().await
            } else {
                sender.click("#send button").await
            }
        };
        typed.await.map_err(|error| {
            miss(
                lang.pick(
                    "the course's page, with its text box and Send button",
                    "입력 칸과 Send 버튼이 있는 강의의 페이지",
                )
                .to_string(),
                format!("{error:#}"),
            )
        })?;
        let received = format!("Received: {text}");
        let [one, two] = &mut pages;
        let (heard_one, heard_two) = tokio::join!(
            one.wait_until(PROMPTLY, |seen| seen.console_has(&received)),
            two.wait_until(PROMPTLY, |seen| seen.console_has(&received)),
        );
        if !(heard_one && heard_two) {
            let (lines_one, lines_two) = tokio::join!(one.texts("#log li"), two.texts("#log li"));
            let (lines_one, lines_two) =
                (lines_one.unwrap_or_default(), lines_two.unwrap_or_default());
            return Err(miss(
                lang.pick(
                    format!(
                        "both pages list {received:?} after page {} sent {text:?}",
                        from + 1
                    ),
                    format!(
                        "페이지 {} 이 {text:?} 를 보낸 뒤 두 페이지 모두에 {received:?}",
                        from + 1
                    ),
                ),
                lang.pick(
                    format!("page 1 lists {:?}; page 2 lists {:?}", lines_one, lines_two),
                    format!(
                        "페이지 1 목록 {:?}; 페이지 2 목록 {:?}",
                        lines_one, lines_two
                    ),
                ),
            ));
        }
    }
    // Each message once per page: a chat that sends it twice is a bug too.
    for text in ["hello from page 1", "hello from page 2"] {
        let received = format!("Received: {text}");
        for (index, page) in pages.iter().enumerate() {
            let count = count_lines(page, &received).await;
            if count != 1 {
                return Err(miss(
                    lang.pick(
                        format!("page {} lists {received:?} once", index + 1),
                        format!("페이지 {} 에 {received:?} 가 한 번", index + 1),
                    ),
                    lang.pick(format!("{count} times"), format!("{count} 번 나왔습니다")),
                ));
            }
        }
    }
    Ok(lang.pick(
        "in two browser pages of step 3: what page 1 sent with Enter and page 2 with Send was listed as received by both pages".to_string(),
        "3단계 페이지 두 개에서: 페이지 1이 Enter 로, 페이지 2가 Send 로 보낸 메시지가 두 페이지 모두에 Received 로 나왔습니다".to_string(),
    ))
}

/// The ping interval the heartbeat check asks for, in seconds.
const HEARTBEAT_SECS: u64 = 1;

/// Exercise 4: with `HEARTBEAT_SECS=1`, a client that reads (and so
/// answers pings, as every WebSocket library and browser does) is pinged
/// and stays; a raw client that never answers is pinged, dropped within
/// two intervals, and the server says why in a line naming that client.
pub async fn heartbeat(program: &Program, lang: Lang) -> Checked {
    let interval = Duration::from_secs(HEARTBEAT_SECS);
    let seconds = HEARTBEAT_SECS.to_string();
    let server = start(program, &[("HEARTBEAT_SECS", &seconds)], lang).await?;
    let port = server.port;
    let greeted = |error| no_greeting(lang, error);

    // The client that answers: tungstenite answers each ping with a pong as
    // long as it is read, so a task reads it and counts the pings.
    let answering = wire::greeted(port, PROMPTLY).await.map_err(greeted)?;
    let (mut writer, mut reader) = answering.split();
    let (pings_sender, pings) = tokio::sync::watch::channel((0_usize, false));
    let reading = tokio::spawn(async move {
        let mut count = 0;
        while let Some(message) = reader.next().await {
            match message {
                Ok(Message::Ping(_)) => {
                    count += 1;
                    pings_sender.send_replace((count, false));
                }
                Ok(Message::Close(_)) | Err(_) => break,
                Ok(_) => {}
            }
        }
        pings_sender.send_replace((count, true));
    });

    // The client that never answers: a raw TCP connection that reads the
    // server's frames and writes nothing back.
    let mut silent = wire::greeted_raw(port).await.map_err(greeted)?;
    let silent_address = silent
        .local_addr()
        .map(|address| address.to_string())
        .unwrap_or_default();
    let started = Instant::now();
    let silent_seen = watch_silent(&mut silent, interval).await;

    if silent_seen.pings == 0 {
        return Err(Miss {
            expected: lang.pick(
                format!("a ping to each client within {} s (the check runs the step with HEARTBEAT_SECS={seconds})", HEARTBEAT_SECS + 1),
                format!("{} 초 안에 모든 클라이언트에 ping (확인할 때는 HEARTBEAT_SECS={seconds} 로 실행합니다)", HEARTBEAT_SECS + 1),
            ),
            saw: lang.pick(
                format!("no ping in {:.1} s", started.elapsed().as_secs_f64()),
                format!("{:.1} 초 동안 ping 이 없었습니다", started.elapsed().as_secs_f64()),
            ),
            hint: None,
        });
    }
    let Some(dropped_after) = silent_seen.closed_after else {
        return Err(miss(
            lang.pick(
                format!(
                    "a client that answers no ping is dropped within {} s",
                    2 * HEARTBEAT_SECS + 2
                ),
                format!(
                    "ping 에 답하지 않는 클라이언트는 {} 초 안에 끊기는 것",
                    2 * HEARTBEAT_SECS + 2
                ),
            ),
            lang.pick(
                format!(
                    "it got {} pings, answered none, and was still connected after {:.1} s",
                    silent_seen.pings,
                    started.elapsed().as_secs_f64()
                ),
                format!(
                    "ping 을 {} 번 받고 하나도 답하지 않았는데 {:.1} 초 뒤에도 연결되어 있었습니다",
                    silent_seen.pings,
                    started.elapsed().as_secs_f64()
                ),
            ),
        ));
    };
    let why = server
        .output
        .wait_for(0, PROMPTLY, |line| {
            let lower = line.to_lowercase();
            line.contains(&silent_address) && (lower.contains("ping") || lower.contains("pong"))
        })
        .await;
    let Some(why) = why else {
        return Err(miss(
            lang.pick(
                format!("a line naming the dropped client ({silent_address}) that says it answered no ping (with the word ping or pong)"),
                format!("끊긴 클라이언트({silent_address})를 밝히고 ping 에 답하지 않았다고 말하는 줄 (ping 이나 pong 이라는 낱말과 함께)"),
            ),
            printed(&server.output, lang),
        ));
    };

    // The answering client carries on: past three intervals it is still
    // connected, has been pinged, and is still heard.
    let until = (started + 3 * interval + Duration::from_millis(500)).into();
    tokio::time::sleep_until(until).await;
    let (pinged, ended) = *pings.borrow();
    if ended || pinged < 2 {
        return Err(miss(
            lang.pick(
                format!("a client that answers pings stays connected and is pinged every {HEARTBEAT_SECS} s"),
                format!("ping 에 답하는 클라이언트는 연결이 유지되고 {HEARTBEAT_SECS} 초마다 ping 을 받는 것"),
            ),
            lang.pick(
                format!(
                    "after {:.1} s it had {pinged} ping(s){}; {}",
                    started.elapsed().as_secs_f64(),
                    if ended { " and was disconnected" } else { "" },
                    printed(&server.output, lang)
                ),
                format!(
                    "{:.1} 초 동안 ping {pinged} 번{}; {}",
                    started.elapsed().as_secs_f64(),
                    if ended { ", 그리고 연결이 끊겼습니다" } else { "" },
                    printed(&server.output, lang)
                ),
            ),
        ));
    }
    let still_here = "still here";
    let heard = format!("Received: {still_here}");
    let sent = writer.send(Message::text(still_here)).await;
    let printed_it = server
        .output
        .wait_for(0, PROMPTLY, |line| line == heard)
        .await;
    if sent.is_err() || printed_it.is_none() {
        return Err(miss(
            lang.pick(
                format!("the answering client is still heard: {heard:?}"),
                format!("답하는 클라이언트의 말이 여전히 들리는 것: {heard:?}"),
            ),
            printed(&server.output, lang),
        ));
    }
    reading.abort();
    Ok(lang.pick(
        format!(
            "with HEARTBEAT_SECS={seconds}: the client that never answered was pinged and dropped after {:.1}s, and the server said {why:?}; the client that answered was pinged every second and stayed",
            dropped_after.as_secs_f64()
        ),
        format!(
            "HEARTBEAT_SECS={seconds} 에서: 답하지 않는 클라이언트는 ping 을 받고 {:.1}s 뒤에 끊겼고, 서버는 {why:?} 라고 출력했습니다. 답하는 클라이언트는 1초마다 ping 을 받으며 연결을 유지했습니다",
            dropped_after.as_secs_f64()
        ),
    ))
}

/// What the client that never answers saw.
struct SilentSeen {
    pings: usize,
    /// When the server ended the connection (a close frame or the end of
    /// the stream), counted from the start of the watch.
    closed_after: Option<Duration>,
}

/// Reads the server's frames on `stream`, answering nothing, until the
/// server ends the connection or, when no ping came at all, the first ping
/// is overdue; at most long enough for two missed pings and a margin.
async fn watch_silent(stream: &mut TcpStream, interval: Duration) -> SilentSeen {
    let started = Instant::now();
    let first_ping_due = started + interval + Duration::from_secs(1);
    let give_up = started + 2 * interval + Duration::from_secs(2);
    let mut seen = SilentSeen {
        pings: 0,
        closed_after: None,
    };
    loop {
        let deadline = if seen.pings == 0 {
            first_ping_due
        } else {
            give_up
        };
        let Some(left) = deadline.checked_duration_since(Instant::now()) else {
            return seen;
        };
        match wire::read_frame(stream, left).await {
            Ok((0x9, _)) => seen.pings += 1,
            Ok((0x8, _)) => {
                seen.closed_after = Some(started.elapsed());
                return seen;
            }
            Ok(_) => {}
            Err(error)
                if error
                    .downcast_ref::<tokio::time::error::Elapsed>()
                    .is_some() =>
            {
                return seen;
            }
            Err(_) => {
                seen.closed_after = Some(started.elapsed());
                return seen;
            }
        }
    }
}

/// The delay a line `Reconnecting in 2 s` announces, in seconds.
fn announced_delay(line: &str) -> Option<f64> {
    let rest = line.strip_prefix("Reconnecting in ")?;
    let number: String = rest
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '.')
        .collect();
    number.parse().ok()
}

/// Exercise 5: the page of step 3 loses its server (Ctrl+C), says
/// `Reconnecting in N s` with N growing while nothing listens, and when the
/// step starts again on the same port it connects by itself, is greeted
/// again, and what is typed then reaches the new server.
pub async fn reconnect(program: &Program, chromium: &Chromium, lang: Lang) -> Checked {
    let mut server = start(program, &[], lang).await?;
    let port = server.port;
    let url = page_url(port);
    let mut page = open_page(chromium, &url, lang).await?;

    let _ = server.interrupt();
    let _ = server.exit_status(PROMPTLY).await;
    drop(server);
    let stopped = Instant::now();

    // While nothing listens, each failed try announces a longer wait.
    let delays = |page: &Page| -> Vec<f64> {
        page.seen
            .console
            .iter()
            .filter_map(|line| announced_delay(&line.text))
            .collect()
    };
    let two_announced = page
        .wait_until(Duration::from_secs(3), |seen| {
            seen.console
                .iter()
                .any(|line| announced_delay(&line.text).is_some())
        })
        .await
        && page
            .wait_until(Duration::from_secs(12), |seen| {
                seen.console
                    .iter()
                    .filter(|line| announced_delay(&line.text).is_some())
                    .count()
                    >= 2
            })
            .await;
    let announced = delays(&page);
    let lines = page.texts("#log li").await.unwrap_or_default();
    if !two_announced {
        return Err(miss(
            lang.pick(
                "after the server stopped, a line such as \"Reconnecting in 1 s\", and when that try fails too, another with a longer wait".to_string(),
                "서버가 멈춘 뒤 \"Reconnecting in 1 s\" 같은 줄, 그 시도도 실패하면 더 긴 대기를 알리는 줄 하나 더".to_string(),
            ),
            lang.pick(
                format!("after {:.1} s the page lists {lines:?}", stopped.elapsed().as_secs_f64()),
                format!("{:.1} 초 뒤 페이지 목록 {lines:?}", stopped.elapsed().as_secs_f64()),
            ),
        ));
    }
    if !announced.windows(2).all(|pair| pair[1] > pair[0]) {
        return Err(miss(
            lang.pick(
                "each new \"Reconnecting in N s\" waits longer than the one before",
                "새 \"Reconnecting in N s\" 줄마다 앞의 것보다 오래 기다리는 것",
            )
            .to_string(),
            lang.pick(
                format!("the waits {announced:?} (the page lists {lines:?})"),
                format!("대기 시간 {announced:?} (페이지 목록 {lines:?})"),
            ),
        ));
    }

    // The step starts again on the same port; the page finds it.
    let port_text = port.to_string();
    let server = start(program, &[("PORT", &port_text)], lang).await?;
    let greeting = format!("Received: {GREETING}");
    let wait = Duration::from_secs_f64(announced.last().copied().unwrap_or(1.0) + 5.0);
    let greeted_again = page
        .wait_until(wait, |seen| {
            seen.console
                .iter()
                .filter(|line| line.text == greeting)
                .count()
                >= 2
        })
        .await;
    if !greeted_again {
        let lines = page.texts("#log li").await.unwrap_or_default();
        return Err(miss(
            lang.pick(
                format!("once the server runs again, the page connects by itself and lists {greeting:?} a second time"),
                format!("서버가 다시 켜지면 페이지가 스스로 연결해 {greeting:?} 가 한 번 더 나오는 것"),
            ),
            lang.pick(
                format!("{:.1} s after the restart the page lists {lines:?}", wait.as_secs_f64()),
                format!("다시 켠 지 {:.1} 초 뒤 페이지 목록 {lines:?}", wait.as_secs_f64()),
            ),
        ));
    }

    // What is typed now must go to the new connection.
    let typed = "after the restart";
    let heard = format!("Received: {typed}");
    let sent = async {
        page.type_into("#message", typed).await?;
        page.press_enter().await
    };
    let sent = timeout(PROMPTLY, sent).await;
    let printed_it = server
        .output
        .wait_for(0, PROMPTLY, |line| line == heard)
        .await;
    if !matches!(sent, Ok(Ok(()))) || printed_it.is_none() {
        let lines = page.texts("#log li").await.unwrap_or_default();
        return Err(Miss {
            expected: lang.pick(
                format!("after reconnecting, a message typed into the page reaches the new server ({heard:?})"),
                format!("다시 연결한 뒤 페이지에 입력한 메시지가 새 서버에 도착하는 것 ({heard:?})"),
            ),
            saw: lang.pick(
                format!("the page lists {lines:?}; {}", printed(&server.output, lang)),
                format!("페이지 목록 {lines:?}; {}", printed(&server.output, lang)),
            ),
            hint: Some(lang.pick(
                "step2-html-client/index.html: the form's onsubmit must send on the newest socket; keep it in a `let socket` that connect() replaces".to_string(),
                "step2-html-client/index.html: 폼의 onsubmit 은 가장 최근 소켓으로 보내야 합니다. connect() 가 바꿔 넣는 `let socket` 변수에 두세요".to_string(),
            )),
        });
    }
    sleep(Duration::from_millis(10)).await;
    let waits: Vec<String> = announced.iter().map(|delay| format!("{delay} s")).collect();
    Ok(lang.pick(
        format!(
            "in the browser: after Ctrl+C the page announced waits of {}, connected again by itself when the step restarted on the same port, and what was typed then reached the new server",
            waits.join(", ")
        ),
        format!(
            "브라우저에서: Ctrl+C 뒤 페이지가 {} 의 대기를 알렸고, 같은 포트로 단계를 다시 켜자 스스로 다시 연결했으며, 그 뒤 입력한 메시지가 새 서버에 도착했습니다",
            waits.join(", ")
        ),
    ))
}

//! Exercise 5: the page of step 3 loses its server and reconnects by
//! itself, judged on timestamps. The check stops the step (its process is
//! ended), then listens on the step's port itself, taking every WebSocket
//! request the page sends and closing it, so that each try is seen with
//! the moment it came. Each line the page lists is stamped by the page:
//!
//! - the first wait is 1 s and each next one doubles (the cap of 30 s is
//!   not reached in a check of a few seconds);
//! - each try comes N s after the line that announced it;
//! - when the step runs again on the same port, the page connects by
//!   itself, once, and opens no more sockets after that;
//! - what is typed then reaches the new server;
//! - after a second outage the wait is 1 s again.

use std::time::{Duration, SystemTime};

use tokio::time::{Instant, timeout};

use super::outage::{Stand, Watched, announced_delay, since};
use super::{Checked, Judge, Judging, listed, open_page, shortened};
use crate::checks::browser::page_url;
use crate::exercise::Miss;
use crate::steps::Running;
use crate::wire::{GREETING, PROMPTLY};

pub fn check(judge: Judge<'_>) -> Judging<'_> {
    Box::pin(reconnect(judge))
}

/// How far a try may come from the moment announced: a fixed part for the
/// browser and a busy machine, and a part of the wait itself.
fn tolerance(announced: f64) -> f64 {
    0.4 + 0.15 * announced
}

/// How long to watch for more sockets once the page is back.
const NO_MORE: Duration = Duration::from_millis(2500);

fn seconds(value: f64) -> String {
    format!("{value:.1} s")
}

async fn stop(judge: Judge<'_>, server: &mut Running) -> Result<(), Miss> {
    server.kill().await.map_err(|error| {
        Miss::new(
            judge.say("the step can be stopped", "단계를 멈출 수 있는 것"),
            judge.error(&error),
        )
    })
}

async fn reconnect(judge: Judge<'_>) -> Checked {
    let mut server = judge.start(&[]).await?;
    let port = server.port;
    let page = open_page(judge, &page_url(port)).await?;
    let mut watched = Watched::new(judge, page).await?;

    // The first outage: three announcements, each try timed.
    stop(judge, &mut server).await?;
    let stand = Stand::on(port).await;
    let stopped = Instant::now();
    let third = watched
        .until(stopped + Duration::from_secs(8), |lines| {
            lines
                .iter()
                .filter(|(_, text)| announced_delay(text).is_some())
                .count()
                >= 3
        })
        .await;
    let announced = watched.announced(0);
    let tries = stand.tries();
    let lines = listed(&watched.page).await;
    if announced.len() < 2 || !third {
        return Err(Miss::new(
            judge.say(
                "after the server stopped, a line such as \"Reconnecting in 1 s\", a try after that wait, and when it fails, another line with a longer wait",
                "서버가 멈춘 뒤 \"Reconnecting in 1 s\" 같은 줄, 그만큼 기다린 뒤의 시도, 그 시도도 실패하면 더 긴 대기를 알리는 줄",
            ),
            judge.say(
                format!(
                    "{} after the server stopped the page had tried {} time(s) and lists {}",
                    seconds(stopped.elapsed().as_secs_f64()),
                    tries.len(),
                    shortened(&lines)
                ),
                format!(
                    "서버가 멈추고 {} 동안 페이지는 {}번 시도했고, 페이지 목록은 {}",
                    seconds(stopped.elapsed().as_secs_f64()),
                    tries.len(),
                    shortened(&lines)
                ),
            ),
        ));
    }
    judge_waits(judge, &announced, &tries, true)?;

    // The step runs again on the same port, before the next try is due.
    let last_announced = announced.last().map_or(1.0, |(_, delay)| *delay);
    stand.leave().await;
    let port_text = port.to_string();
    let mut server = judge.start(&[("PORT", &port_text)]).await?;
    let greeting = format!("Received: {GREETING}");
    let restarted = Instant::now();
    let wait = Duration::from_secs_f64(last_announced + tolerance(last_announced) + 1.0);
    let greeted_again = watched
        .until(restarted + wait, |lines| {
            lines.iter().any(|(_, text)| *text == greeting)
        })
        .await;
    let greeted_at = watched
        .lines
        .iter()
        .find(|(_, text)| *text == greeting)
        .map(|(at, _)| *at);
    if let (Some(greeted_at), Some((announced_at, delay))) = (greeted_at, announced.last()) {
        let waited = since(*announced_at, greeted_at);
        if waited + tolerance(*delay) < *delay {
            return Err(Miss::new(
                judge.say(
                    format!("after \"Reconnecting in {delay} s\", the next try {delay} s later"),
                    format!(
                        "\"Reconnecting in {delay} s\" 줄 뒤 {delay}초가 지나서 하는 다음 시도"
                    ),
                ),
                judge.say(
                    format!(
                        "the page was connected again {} after that line",
                        seconds(waited)
                    ),
                    format!("그 줄 뒤 {} 만에 다시 연결되었습니다", seconds(waited)),
                ),
            ));
        }
    }
    if !greeted_again {
        let lines = listed(&watched.page).await;
        return Err(Miss::new(
            judge.say(
                format!("once the server runs again, the page connects by itself and lists {greeting:?} a second time"),
                format!("서버가 다시 켜지면 페이지가 스스로 연결해 한 번 더 나오는 줄 {greeting:?}"),
            ),
            judge.say(
                format!("{} after the restart the page lists {}", seconds(wait.as_secs_f64()), shortened(&lines)),
                format!("다시 켜고 {} 뒤 페이지 목록: {}", seconds(wait.as_secs_f64()), shortened(&lines)),
            ),
        ));
    }

    // Back: one connection, and no more tries after it.
    tokio::time::sleep(NO_MORE).await;
    let connections = server
        .output
        .lines()
        .iter()
        .filter(|line| line.starts_with("Connected:"))
        .count();
    if connections != 1 {
        return Err(Miss::new(
            judge.say(
                "once the page is connected again, it opens no more sockets",
                "페이지가 다시 연결된 뒤에는 소켓을 더 열지 않는 것",
            ),
            judge.say(
                format!(
                    "the new server saw {connections} connections from the page within {} of the first",
                    seconds(NO_MORE.as_secs_f64())
                ),
                format!(
                    "새 서버가 첫 연결 뒤 {} 동안 페이지에서 받은 연결: {connections}개",
                    seconds(NO_MORE.as_secs_f64())
                ),
            ),
        )
        .hint(Some(judge.say(
            "step2-html-client/index.html: the page keeps opening sockets after it is back. \
             Call connect() once per close with setTimeout; setInterval repeats for ever, and \
             every close would start one more",
            "step2-html-client/index.html에서 페이지가 다시 연결된 뒤에도 소켓을 계속 엽니다. \
             connect()는 연결이 닫힐 때마다 setTimeout으로 한 번만 부르세요. setInterval은 끝없이 \
             되풀이되고, 닫힐 때마다 하나씩 더 늘어납니다",
        ))));
    }

    // What is typed now must go to the new connection.
    let typed = "after the restart";
    let heard = format!("Received: {typed}");
    let page = &watched.page;
    let sent = timeout(PROMPTLY, async {
        page.type_into("#message", typed).await?;
        page.press_enter().await
    })
    .await;
    let printed_it = server
        .output
        .wait_for(0, PROMPTLY, |line| line == heard)
        .await;
    if !matches!(sent, Ok(Ok(()))) || printed_it.is_none() {
        let lines = listed(page).await;
        return Err(Miss::new(
            judge.say(
                format!("after reconnecting, a message typed into the page reaches the new server ({heard:?})"),
                format!("다시 연결한 뒤 페이지에 입력한 메시지가 새 서버에 도착하는 것 ({heard:?})"),
            ),
            judge.say(
                format!("the page lists {}; {}", shortened(&lines), judge.printed(&server.output)),
                format!("페이지 목록: {}; {}", shortened(&lines), judge.printed(&server.output)),
            ),
        )
        .hint(Some(judge.say(
            "step2-html-client/index.html: the form's onsubmit must send on the newest socket; \
             keep it in a `let socket` that connect() replaces",
            "step2-html-client/index.html에서 폼의 onsubmit은 가장 최근 소켓으로 보내야 합니다. \
             connect()가 바꿔 넣는 `let socket` 변수에 두세요",
        ))));
    }

    // A second outage starts again from 1 s.
    let from = watched.lines.len();
    stop(judge, &mut server).await?;
    let stand = Stand::on(port).await;
    let stopped = Instant::now();
    let first_try = watched
        .until(stopped + Duration::from_secs(4), |lines| {
            lines[from..]
                .iter()
                .any(|(_, text)| announced_delay(text).is_some())
        })
        .await;
    let again = watched.announced(from);
    if first_try {
        // Its try, a second later.
        let due = again[0].1 + tolerance(again[0].1);
        let so_far = since(again[0].0, SystemTime::now());
        tokio::time::sleep(Duration::from_secs_f64((due - so_far).clamp(0.0, 3.0))).await;
    }
    let tries_again = stand.tries();
    stand.leave().await;
    match again.first() {
        Some((_, delay)) if *delay == 1.0 => {
            judge_waits(judge, &again[..1], &tries_again, false)?;
        }
        _ => {
            let announced_again: Vec<f64> = again.iter().map(|(_, delay)| *delay).collect();
            return Err(Miss::new(
                judge.say(
                    "after the page was connected again, a new outage starts again with \"Reconnecting in 1 s\"",
                    "페이지가 다시 연결된 뒤 새로 끊기면 다시 \"Reconnecting in 1 s\"부터 시작하는 것",
                ),
                judge.say(
                    format!("the second outage announced {announced_again:?} s"),
                    format!("두 번째로 끊겼을 때 알린 대기 시간(초): {announced_again:?}"),
                ),
            )
            .hint(Some(judge.say(
                "step2-html-client/index.html: in socket.onopen, set the delay back to 1, so \
                 that the next outage starts again from 1 s",
                "step2-html-client/index.html의 socket.onopen에서 기다리는 시간을 1로 되돌려, \
                 다음에 끊겼을 때 다시 1초부터 시작하게 하세요",
            ))));
        }
    }

    let waits: Vec<String> = announced
        .iter()
        .map(|(_, delay)| format!("{delay} s"))
        .collect();
    Ok(judge.say(
        format!(
            "in the browser: after the step stopped, the page announced waits of {} and tried again after each; it connected again by itself, once, when the step restarted on the same port; what was typed then reached the new server; a second outage started again at 1 s",
            waits.join(", ")
        ),
        format!(
            "브라우저에서: 단계가 멈춘 뒤 페이지는 대기 시간을 {} 순서로 알리고 그만큼 기다렸다가 다시 시도했고, 같은 포트로 단계를 다시 켜자 스스로 한 번 다시 연결했으며, 그 뒤 입력한 메시지가 새 서버에 도착했고, 두 번째로 끊겼을 때는 다시 1초부터 시작했습니다",
            waits.join(", ")
        ),
    ))
}

/// The announced waits start at 1 s and double (when `doubling`), and the
/// i-th try comes the i-th announced wait after its announcement.
fn judge_waits(
    judge: Judge<'_>,
    announced: &[(SystemTime, f64)],
    tries: &[SystemTime],
    doubling: bool,
) -> Result<(), Miss> {
    let delays: Vec<f64> = announced.iter().map(|(_, delay)| *delay).collect();
    let expected_waits = judge.say(
        "waits of 1, 2, 4 ... s (each twice the one before, up to 30 s), each try coming as long after its \"Reconnecting in N s\" line as that line says",
        "1, 2, 4 ... 초(매번 앞의 두 배, 30초까지)로 늘어나는 대기, 그리고 시도마다 \"Reconnecting in N s\" 줄이 말한 만큼 기다린 뒤에 하는 것",
    );
    if doubling {
        let doubles = delays
            .windows(2)
            .all(|pair| (pair[1] - (pair[0] * 2.0).min(30.0)).abs() < 1e-9);
        if delays.first() != Some(&1.0) || !doubles {
            return Err(Miss::new(
                expected_waits.to_string(),
                judge.say(
                    format!("the page announced {delays:?} s"),
                    format!("페이지가 알린 대기 시간(초): {delays:?}"),
                ),
            )
            .hint(Some(judge.say(
                "step2-html-client/index.html, socket.onclose: start with 1 s and double the \
                 delay after each try (delay = Math.min(delay * 2, 30)), so that a server that \
                 is down is asked less and less often",
                "step2-html-client/index.html의 socket.onclose에서 1초로 시작해 시도할 때마다 \
                 두 배로 늘리세요(delay = Math.min(delay * 2, 30)). 그래야 꺼진 서버에 점점 덜 \
                 자주 묻습니다",
            ))));
        }
    }
    for (index, (at, delay)) in announced.iter().enumerate() {
        let Some(tried) = tries.get(index) else {
            // In the first outage the step is back before the last
            // announcement's try is due; that try is timed by the restart.
            if doubling && index + 1 == announced.len() {
                break;
            }
            return Err(Miss::new(
                expected_waits.to_string(),
                judge.say(
                    format!(
                        "{} announcements but only {} tries",
                        announced.len(),
                        tries.len()
                    ),
                    format!(
                        "대기를 {}번 알렸지만 시도는 {}번뿐이었습니다",
                        announced.len(),
                        tries.len()
                    ),
                ),
            ));
        };
        let waited = since(*at, *tried);
        if (waited - delay).abs() <= tolerance(*delay) {
            continue;
        }
        let saw = judge.say(
            format!(
                "after \"Reconnecting in {delay} s\" the page tried again {}; it tried {} times in all",
                if tried < at { "before the line was listed".to_string() } else { format!("after {}", seconds(waited)) },
                tries.len()
            ),
            format!(
                "\"Reconnecting in {delay} s\" 줄{} 다시 시도했고, 모두 {}번 시도했습니다",
                if tried < at { "이 나오기도 전에".to_string() } else { format!(" 뒤 {} 만에", seconds(waited)) },
                tries.len()
            ),
        );
        // A repeating timer started for an earlier announcement: the try
        // comes a whole number of that earlier wait after it.
        let repeating = announced[..index].iter().any(|(earlier, earlier_delay)| {
            let after = since(*earlier, *tried);
            let times = (after / earlier_delay).round();
            times >= 2.0 && (after - times * earlier_delay).abs() <= tolerance(*earlier_delay)
        });
        // A repeating timer first: its tries come early too. Then a try
        // far too early (the stamp of a try can be late on a busy machine,
        // so "at once" is anything under half the wait).
        let hint = if repeating {
            judge.say(
                "step2-html-client/index.html, socket.onclose: a timer that repeats \
                 (setInterval) keeps trying on its own; call connect() once per close with \
                 setTimeout",
                "step2-html-client/index.html의 socket.onclose에서 되풀이되는 타이머(setInterval)는 \
                 저절로 계속 시도합니다. 연결이 닫힐 때마다 setTimeout으로 connect()를 한 번만 \
                 부르세요",
            )
        } else if waited < 0.5 * delay {
            judge.say(
                "step2-html-client/index.html, socket.onclose: setTimeout counts milliseconds, \
                 so a wait of N seconds is setTimeout(connect, delay * 1000); as written the page \
                 tries again at once, flooding the server",
                "step2-html-client/index.html의 socket.onclose에서 setTimeout은 밀리초로 셉니다. \
                 N초를 기다리려면 setTimeout(connect, delay * 1000)입니다. 지금은 곧바로 다시 \
                 시도해 서버에 연결 요청을 쏟아붓습니다",
            )
        } else {
            judge.say(
                "step2-html-client/index.html, socket.onclose: wait as long as the line says \
                 before the next try: show the delay, then setTimeout(connect, delay * 1000) \
                 with that same delay, and double it only after that",
                "step2-html-client/index.html의 socket.onclose에서 줄에 쓴 만큼 기다린 뒤 다시 \
                 시도하세요. 기다릴 시간을 보여 주고, 같은 값으로 setTimeout(connect, delay * \
                 1000)을 부른 다음에 두 배로 늘립니다",
            )
        };
        return Err(Miss::new(expected_waits.to_string(), saw).hint(Some(hint)));
    }
    Ok(())
}

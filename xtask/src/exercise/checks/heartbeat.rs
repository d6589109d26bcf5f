//! Exercise 4: with `HEARTBEAT_SECS=1`, a client that reads (and so
//! answers pings, as every WebSocket library and browser does) is pinged
//! every second and stays; a raw client that never answers is pinged and
//! dropped at the tick after its ping, and the server says why in a line
//! naming that client. Beside it, the step runs again without
//! `HEARTBEAT_SECS` and must ping every 5 s, the chapter's default.
//!
//! Times are measured from the pings themselves, so a first tick that
//! comes at once and one that comes after an interval both pass; the
//! margins (`SLACK`) leave room for a busy machine.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;

use super::{Checked, Judge, Judging};
use crate::exercise::Miss;
use crate::wire::{self, NoFrame, PROMPTLY};

pub fn check(judge: Judge<'_>) -> Judging<'_> {
    Box::pin(heartbeat(judge))
}

/// The interval the check asks for, and the chapter's default.
const INTERVAL: Duration = Duration::from_secs(1);
const DEFAULT: Duration = Duration::from_secs(5);

/// How far from the due moment a ping or a drop may come.
const SLACK: Duration = Duration::from_millis(600);

/// How long the silent client waits to be dropped, as the chapter says.
const AT_MOST: Duration = Duration::from_secs(4);

async fn heartbeat(judge: Judge<'_>) -> Checked {
    let (every_second, by_default) = tokio::join!(every_second(judge), by_default(judge));
    // No ping within the check's 1 s, but pings every 5 s without the
    // variable: the heartbeat is there and HEARTBEAT_SECS is not read.
    let every_second = match (every_second, &by_default) {
        (Err(Failed::NoPing(miss)), Ok(_)) => return Err(miss.hint(Some(read_the_variable(judge)))),
        (Err(Failed::NoPing(miss) | Failed::Other(miss)), _) => return Err(miss),
        (Ok(seen), _) => seen,
    };
    let by_default = by_default?;
    Ok(judge.say(
        format!("with HEARTBEAT_SECS=1: {every_second}; without it, {by_default}"),
        format!("HEARTBEAT_SECS=1에서: {every_second}. 설정하지 않으면 {by_default}"),
    ))
}

/// The ping times a reading client saw, counted from `since`, and whether
/// its connection has ended.
type Pings = watch::Receiver<(Vec<Duration>, bool)>;

/// A client that reads its socket, and so answers every ping (tungstenite
/// answers as long as it is read): its writer, and the pings it saw.
async fn reading_client(
    judge: Judge<'_>,
    port: u16,
) -> Result<
    (
        impl SinkExt<Message> + Unpin,
        Pings,
        tokio::task::JoinHandle<()>,
    ),
    Miss,
> {
    let socket = wire::greeted(port, PROMPTLY)
        .await
        .map_err(|error| judge.no_greeting(error))?;
    // From the greeting: the server's interval starts once the handshake
    // is done, which a busy machine may take a while to reach.
    let since = Instant::now();
    let (writer, mut reader) = socket.split();
    let (seen, pings) = watch::channel((Vec::new(), false));
    let reading = tokio::spawn(async move {
        while let Some(message) = reader.next().await {
            match message {
                Ok(Message::Ping(_)) => seen.send_modify(|(times, _)| times.push(since.elapsed())),
                Ok(Message::Close(_)) | Err(_) => break,
                Ok(_) => {}
            }
        }
        seen.send_modify(|(_, ended)| *ended = true);
    });
    Ok((writer, pings, reading))
}

fn seconds(duration: Duration) -> String {
    format!("{:.1} s", duration.as_secs_f64())
}

/// Why the check with `HEARTBEAT_SECS=1` failed: no ping at all, or
/// something else.
enum Failed {
    NoPing(Miss),
    Other(Miss),
}

impl From<Miss> for Failed {
    fn from(miss: Miss) -> Failed {
        Failed::Other(miss)
    }
}

fn read_the_variable(judge: Judge<'_>) -> &'static str {
    judge.say(
        "step1-ws-only/src/main.rs, fn run: read HEARTBEAT_SECS (the check sets it to 1) and use \
         it for the interval; 5 s only when it is not set",
        "step1-ws-only/src/main.rs의 fn run에서 HEARTBEAT_SECS를 읽어(확인할 때는 1입니다) \
         interval에 쓰세요. 5초는 설정되지 않았을 때만 씁니다",
    )
}

async fn every_second(judge: Judge<'_>) -> Result<String, Failed> {
    let server = judge.start(&[("HEARTBEAT_SECS", "1")]).await?;
    let port = server.port;
    let (mut writer, pings, reading) = reading_client(judge, port).await?;

    // The client that never answers: a raw TCP connection that reads the
    // server's frames and writes nothing back.
    let mut silent = wire::greeted_raw(port)
        .await
        .map_err(|error| judge.no_greeting(error))?;
    let connected = Instant::now();
    let silent_address = silent
        .local_addr()
        .map(|address| address.to_string())
        .unwrap_or_default();
    let mut silent_pings = Vec::new();
    let ending = loop {
        let left = (connected + AT_MOST).saturating_duration_since(Instant::now());
        match silent.frame(left).await {
            Ok(frame) if frame.opcode == wire::PING => silent_pings.push(connected.elapsed()),
            Ok(frame) if frame.opcode == wire::CLOSE => break Ending::Closed(connected.elapsed()),
            Ok(_) => {}
            Err(NoFrame::Late) => break Ending::StillOpen,
            Err(NoFrame::Ended(_)) => break Ending::Closed(connected.elapsed()),
            Err(NoFrame::Broken(what)) => break Ending::Broken(what),
        }
    };
    let pings_text = |times: &[Duration]| -> String {
        let list: Vec<String> = times.iter().map(|time| seconds(*time)).collect();
        format!("[{}]", list.join(", "))
    };
    let silent_saw = pings_text(&silent_pings);
    let first_ping = silent_pings.first().copied();

    let never_answers = judge.say(
        "a client that answers no ping is pinged within 1 s and dropped at the next tick, about 1 s after its ping (the check runs the step with HEARTBEAT_SECS=1)",
        "ping에 답하지 않는 클라이언트는 1초 안에 ping을 받고, 다음 틱(ping 뒤 1초쯤)에 끊기는 것 (확인할 때는 HEARTBEAT_SECS=1로 실행합니다)",
    );
    let late_hint = judge.say(
        "step1-ws-only/src/main.rs, fn talk: the client is dropped one ping late. At each tick, \
         first check whether the last ping was answered and end the connection if it was not; \
         only then send the next ping",
        "step1-ws-only/src/main.rs의 fn talk에서 클라이언트를 ping 하나만큼 늦게 끊고 있습니다. \
         틱마다 먼저 지난 ping에 답이 왔는지 보고, 답이 없으면 연결을 끝내세요. 그다음에 새 \
         ping을 보냅니다",
    );
    match (&ending, first_ping) {
        (Ending::Broken(what), _) => {
            return Err(Failed::Other(Miss::new(
                never_answers.to_string(),
                judge.say(
                    format!("the server sent a frame no server may send: {what}"),
                    "서버가 보내서는 안 되는 프레임을 보냈습니다".to_string(),
                ),
            )));
        }
        (Ending::Closed(after), None) => {
            return Err(Failed::Other(Miss::new(
                never_answers.to_string(),
                judge.say(
                    format!("the server ended the connection after {} without sending a ping", seconds(*after)),
                    format!("서버가 ping을 한 번도 보내지 않고 {} 뒤에 연결을 끊었습니다", seconds(*after)),
                ),
            )
            .hint(Some(judge.say(
                "step1-ws-only/src/main.rs, fn talk: a client must get a ping, and the time until \
                 the next tick to answer it, before it is dropped; start with `answered` true",
                "step1-ws-only/src/main.rs의 fn talk에서 클라이언트를 끊기 전에 ping을 보내고 다음 \
                 틱까지 답할 시간을 주어야 합니다. `answered`는 true로 시작하세요",
            )))));
        }
        (Ending::StillOpen, None) => {
            return Err(Failed::NoPing(Miss::new(
                never_answers.to_string(),
                judge.say(
                    format!(
                        "no ping in {}, and the connection is still open",
                        seconds(AT_MOST)
                    ),
                    format!(
                        "{} 동안 ping이 없었고, 연결은 아직 열려 있습니다",
                        seconds(AT_MOST)
                    ),
                ),
            )));
        }
        (_, Some(first)) if first > INTERVAL + SLACK => {
            return Err(Failed::Other(
                Miss::new(
                    never_answers.to_string(),
                    judge.say(
                        format!(
                            "the first ping came {} after connecting (pings at {silent_saw})",
                            seconds(first)
                        ),
                        format!(
                            "첫 ping이 연결하고 {} 뒤에 왔습니다 (ping을 받은 때: {silent_saw})",
                            seconds(first)
                        ),
                    ),
                )
                .hint(Some(read_the_variable(judge))),
            ));
        }
        (Ending::StillOpen, Some(_)) => {
            return Err(Failed::Other(Miss::new(
                never_answers.to_string(),
                judge.say(
                    format!(
                        "it got pings at {silent_saw}, answered none, and was still connected after {}",
                        seconds(AT_MOST)
                    ),
                    format!(
                        "ping을 {silent_saw}에 받고 하나도 답하지 않았는데 {} 뒤에도 연결되어 있었습니다",
                        seconds(AT_MOST)
                    ),
                ),
            )
            .hint((silent_pings.len() >= 2).then_some(late_hint))));
        }
        (Ending::Closed(after), Some(first)) => {
            let waited = after.saturating_sub(first);
            if waited + SLACK < INTERVAL || waited > INTERVAL + SLACK {
                let saw = judge.say(
                    format!(
                        "pinged at {silent_saw}, dropped {} after connecting: {} after its first ping",
                        seconds(*after),
                        seconds(waited)
                    ),
                    format!(
                        "ping을 받은 때 {silent_saw}, 연결하고 {} 뒤에 끊겼습니다. 첫 ping 뒤 {} 만입니다",
                        seconds(*after),
                        seconds(waited)
                    ),
                );
                let hint = if waited > INTERVAL + SLACK {
                    Some(late_hint)
                } else {
                    Some(judge.say(
                        "step1-ws-only/src/main.rs, fn talk: the client was dropped before it \
                         could answer. Drop it at the next tick, when its answer is overdue, not \
                         at the tick that sends the ping",
                        "step1-ws-only/src/main.rs의 fn talk에서 클라이언트가 답하기도 전에 \
                         끊겼습니다. ping을 보내는 틱이 아니라, 답이 늦은 다음 틱에 끊으세요",
                    ))
                };
                return Err(Failed::Other(
                    Miss::new(never_answers.to_string(), saw).hint(hint),
                ));
            }
        }
    }
    let dropped_after = match ending {
        Ending::Closed(after) => after,
        _ => unreachable!("every other ending returned above"),
    };
    let why = server.output.wait_for(0, PROMPTLY, |line| {
        let lower = line.to_lowercase();
        line.contains(&silent_address) && (lower.contains("ping") || lower.contains("pong"))
    });
    let Some(why) = why.await else {
        return Err(Failed::Other(Miss::new(
            judge.say(
                format!("a line naming the dropped client ({silent_address}) that says it answered no ping (with the word ping or pong)"),
                format!("끊긴 클라이언트({silent_address})를 밝히고, ping에 답하지 않았다고 말하는 줄 (ping이나 pong이라는 낱말과 함께)"),
            ),
            judge.printed(&server.output),
        )));
    };

    // The answering client carries on: past three intervals it is still
    // connected, has been pinged every interval, and is still heard.
    tokio::time::sleep_until(connected + 3 * INTERVAL + SLACK).await;
    let (times, ended) = pings.borrow().clone();
    let mut gaps = vec![times.first().copied().unwrap_or(Duration::MAX)];
    gaps.extend(times.windows(2).map(|pair| pair[1] - pair[0]));
    let longest = gaps.iter().max().copied().unwrap_or(Duration::MAX);
    if ended || times.len() < 2 || longest > INTERVAL + SLACK {
        let answered_saw = pings_text(&times);
        return Err(Failed::Other(
            Miss::new(
                judge.say(
                    "a client that answers pings stays connected and is pinged every 1 s",
                    "ping에 답하는 클라이언트는 연결이 유지되고 1초마다 ping을 받는 것",
                ),
                judge.say(
                    format!(
                        "it was pinged at {answered_saw}{}; {}",
                        if ended { " and was disconnected" } else { "" },
                        judge.printed(&server.output)
                    ),
                    format!(
                        "ping을 받은 때 {answered_saw}{}; {}",
                        if ended {
                            ", 그리고 연결이 끊겼습니다"
                        } else {
                            ""
                        },
                        judge.printed(&server.output)
                    ),
                ),
            )
            .hint(ended.then(|| {
                judge.say(
                    "step1-ws-only/src/main.rs, fn talk: a client that answered was dropped. Note \
                 the answer in an arm for Message::Pong (answered = true) before the next tick",
                    "step1-ws-only/src/main.rs의 fn talk에서 답한 클라이언트가 끊겼습니다. \
                 Message::Pong 갈래에서 다음 틱 전에 답이 왔다고 기록하세요(answered = true)",
                )
            })),
        ));
    }
    let still_here = "still here";
    let heard = format!("Received: {still_here}");
    let sent = writer.send(Message::text(still_here)).await;
    let printed_it = server.output.wait_for(0, PROMPTLY, |line| line == heard);
    if sent.is_err() || printed_it.await.is_none() {
        return Err(Failed::Other(Miss::new(
            judge.say(
                format!("the answering client is still heard: {heard:?}"),
                format!("답하는 클라이언트의 말이 여전히 들리는 것: {heard:?}"),
            ),
            judge.printed(&server.output),
        )));
    }
    reading.abort();
    Ok(judge.say(
        format!(
            "the client that never answered was pinged and dropped {} after its ping, and the server said {why:?}; the client that answered was pinged every second and stayed",
            seconds(dropped_after.saturating_sub(first_ping.unwrap_or_default()))
        ),
        format!(
            "답하지 않는 클라이언트는 ping을 받고 {} 뒤에 끊겼고, 서버가 출력한 줄은 {why:?}입니다. 답하는 클라이언트는 1초마다 ping을 받으며 연결을 유지했습니다",
            seconds(dropped_after.saturating_sub(first_ping.unwrap_or_default()))
        ),
    ))
}

/// How the silent client's watch ended.
enum Ending {
    Closed(Duration),
    StillOpen,
    Broken(String),
}

/// Without `HEARTBEAT_SECS`, the pings come every 5 s: a ping at once is
/// allowed (a first tick that fires at once), then none until about 5 s.
async fn by_default(judge: Judge<'_>) -> Checked {
    let server = judge.start(&[]).await?;
    let (_writer, mut pings, reading) = reading_client(judge, server.port).await?;
    let early = SLACK;
    let _ = tokio::time::timeout(DEFAULT + SLACK + SLACK, async {
        pings
            .wait_for(|(times, ended)| *ended || times.iter().any(|time| *time > early))
            .await
            .map(|_| ())
    })
    .await;
    reading.abort();
    let (times, ended) = pings.borrow().clone();
    let next = times.iter().copied().find(|time| *time > early);
    let due = DEFAULT.saturating_sub(SLACK)..=DEFAULT + SLACK + SLACK;
    match next {
        Some(time) if due.contains(&time) => Ok(judge.say(
            format!("the next ping came after {}", seconds(time)),
            format!("다음 ping은 {} 뒤에 왔습니다", seconds(time)),
        )),
        _ => {
            let saw = match next {
                Some(time) => judge.say(
                    format!(
                        "with HEARTBEAT_SECS unset, a ping came after {}",
                        seconds(time)
                    ),
                    format!(
                        "HEARTBEAT_SECS가 없을 때 ping이 {} 뒤에 왔습니다",
                        seconds(time)
                    ),
                ),
                None if ended => judge.say(
                    "with HEARTBEAT_SECS unset, the connection ended before a ping".to_string(),
                    "HEARTBEAT_SECS가 없을 때 ping이 오기 전에 연결이 끊겼습니다".to_string(),
                ),
                None => judge.say(
                    format!(
                        "with HEARTBEAT_SECS unset, no ping came in {}",
                        seconds(DEFAULT + SLACK + SLACK)
                    ),
                    format!(
                        "HEARTBEAT_SECS가 없을 때 {} 동안 ping이 없었습니다",
                        seconds(DEFAULT + SLACK + SLACK)
                    ),
                ),
            };
            Err(Miss::new(
                judge.say(
                    "without HEARTBEAT_SECS, a ping every 5 s, as the chapter says",
                    "HEARTBEAT_SECS가 없으면 장에서 말한 대로 5초마다 ping",
                ),
                saw,
            )
            .hint(Some(judge.say(
                "step1-ws-only/src/main.rs, fn run: when HEARTBEAT_SECS is not set, the interval \
                 is 5 seconds (Duration::from_secs(5))",
                "step1-ws-only/src/main.rs의 fn run에서 HEARTBEAT_SECS가 설정되지 않았으면 간격은 \
                 5초입니다(Duration::from_secs(5))",
            ))))
        }
    }
}

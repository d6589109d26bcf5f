//! Exercise 3: two pages of step 3 open; what one sends is listed as
//! received, once, by both. First one message from each page as a person
//! sends it (Enter in the first, the Send button in the second), then both
//! pages send a burst at the same moment: every message must still arrive
//! exactly once on both pages, which a chat that keeps only the latest
//! message, or sends to the sender alone, does not do.

use std::time::Duration;

use super::{Checked, Judge, Judging, listed, open_page, shortened};
use crate::browser::Page;
use crate::checks::browser::page_url;
use crate::exercise::Miss;

pub fn check(judge: Judge<'_>) -> Judging<'_> {
    Box::pin(chat(judge))
}

/// How many messages each page sends in its burst. The reference's
/// channel holds 64, so both bursts together fit in it.
const BURST: usize = 12;

/// How long every message may take to be listed on both pages.
const ALL_ARRIVE: Duration = Duration::from_secs(5);

async fn chat(judge: Judge<'_>) -> Checked {
    let server = judge.start(&[]).await?;
    let url = page_url(server.port);
    let (first, second) = tokio::join!(open_page(judge, &url), open_page(judge, &url));
    let mut pages = [first?, second?];

    let mut sent = Vec::new();
    for (from, text, enter) in [
        (0, "hello from page 1", true),
        (1, "hello from page 2", false),
    ] {
        let sender = &pages[from];
        let typed = async {
            sender.type_into("#message", text).await?;
            if enter {
                sender.press_enter().await
            } else {
                sender.click("#send button").await
            }
        };
        typed.await.map_err(|error| {
            Miss::new(
                judge.say(
                    "the course's page, with its text box and Send button",
                    "입력 칸과 Send 버튼이 있는 강의의 페이지",
                ),
                judge.error(&error),
            )
        })?;
        sent.push((from, text.to_string()));
        let [one, two] = &mut pages;
        let received = format!("Received: {text}");
        let _ = tokio::join!(
            one.wait_until(ALL_ARRIVE, |seen| seen.console_has(&received)),
            two.wait_until(ALL_ARRIVE, |seen| seen.console_has(&received)),
        );
        judge_arrivals(judge, &pages, &sent, false).await?;
    }

    // Both pages at the same moment, each message submitted by the page's
    // own form as fast as a script can.
    let burst = |page: usize| {
        format!(
            "(() => {{ const form = document.getElementById('send'); \
             for (let i = 1; i <= {BURST}; i++) {{ \
             form.message.value = 'page {page} says ' + i; form.requestSubmit(); }} \
             return true; }})()"
        )
    };
    let (burst_one, burst_two) = (burst(1), burst(2));
    let (one, two) = tokio::join!(pages[0].evaluate(&burst_one), pages[1].evaluate(&burst_two));
    for result in [one, two] {
        result.map_err(|error| {
            Miss::new(
                judge.say(
                    "the course's page, with its form #send",
                    "#send 폼이 있는 강의의 페이지",
                ),
                judge.error(&error),
            )
        })?;
    }
    for (from, page) in [(0, 1), (1, 2)] {
        for i in 1..=BURST {
            sent.push((from, format!("page {page} says {i}")));
        }
    }
    let all: Vec<String> = sent
        .iter()
        .map(|(_, text)| format!("Received: {text}"))
        .collect();
    let [one, two] = &mut pages;
    let everything = |seen: &crate::browser::Seen| all.iter().all(|line| seen.console_has(line));
    let _ = tokio::join!(
        one.wait_until(ALL_ARRIVE, everything),
        two.wait_until(ALL_ARRIVE, everything),
    );
    judge_arrivals(judge, &pages, &sent, true).await?;

    Ok(judge.say(
        format!(
            "in two browser pages of step 3: what page 1 sent with Enter and page 2 with Send was listed as received by both pages, and so was each of the {} messages both pages sent at the same moment, once on each",
            2 * BURST
        ),
        format!(
            "3단계 페이지 두 개에서: 페이지 1이 Enter로, 페이지 2가 Send 버튼으로 보낸 메시지가 두 페이지 모두에 Received로 나왔고, 두 페이지가 동시에 보낸 메시지 {}개도 모두 페이지마다 한 번씩 나왔습니다",
            2 * BURST
        ),
    ))
}

/// Every message sent so far is listed once as received on each page.
async fn judge_arrivals(
    judge: Judge<'_>,
    pages: &[Page; 2],
    sent: &[(usize, String)],
    burst: bool,
) -> Result<(), Miss> {
    let lists = [listed(&pages[0]).await, listed(&pages[1]).await];
    let count = |page: usize, text: &str| {
        let line = format!("Received: {text}");
        lists[page].iter().filter(|listed| **listed == line).count()
    };
    let mut missing = [Vec::new(), Vec::new()];
    let mut twice = Vec::new();
    let (mut own_only, mut others_only) = (0, 0);
    for (from, text) in sent {
        let counts = [count(0, text), count(1, text)];
        for page in 0..2 {
            match counts[page] {
                0 => missing[page].push(text.clone()),
                1 => {}
                _ => twice.push(format!("{text:?} x{} on page {}", counts[page], page + 1)),
            }
        }
        let other = 1 - from;
        own_only += usize::from(counts[*from] > 0 && counts[other] == 0);
        others_only += usize::from(counts[*from] == 0 && counts[other] > 0);
    }
    if missing[0].is_empty() && missing[1].is_empty() && twice.is_empty() {
        return Ok(());
    }
    let expected = if burst {
        judge.say(
            format!(
                "when both pages send {BURST} messages at the same moment, each of the {} is listed as received once on both pages",
                2 * BURST
            ),
            format!(
                "두 페이지가 동시에 {BURST}개씩 보낸 메시지 {}개가 두 페이지 모두에 한 번씩 Received로 나오는 것",
                2 * BURST
            ),
        )
    } else {
        let (from, text) = sent.last().expect("a message was sent");
        judge.say(
            format!("after page {} sent {text:?}, both pages list \"Received: {text}\" once", from + 1),
            format!("페이지 {}에서 보낸 메시지({text:?})도 두 페이지에 \"Received: {text}\" 줄로 한 번씩 나오는 것", from + 1),
        )
    };
    let saw = judge.say(
        format!(
            "missing on page 1: {}; missing on page 2: {}; more than once: {twice:?}; page 1 lists {}",
            shortened(&missing[0]),
            shortened(&missing[1]),
            shortened(&lists[0])
        ),
        format!(
            "페이지 1에 없는 것: {}; 페이지 2에 없는 것: {}; 두 번 이상 나온 것: {twice:?}; 페이지 1 목록: {}",
            shortened(&missing[0]),
            shortened(&missing[1]),
            shortened(&lists[0])
        ),
    );
    let hint = if !twice.is_empty() {
        Some(judge.say(
            "step3-combined/src/main.rs, fn talk: a message was listed more than once. Send each \
             text into the channel once, and to the client only from the arm that receives from \
             the channel (not also straight back on this websocket)",
            "step3-combined/src/main.rs의 fn talk에서 메시지 하나가 두 번 이상 나왔습니다. 받은 \
             텍스트는 채널에 한 번만 보내고, 클라이언트에게는 채널에서 받는 갈래에서만 보내세요 \
             (이 웹소켓으로 바로 돌려보내지 마세요)",
        ))
    } else if own_only > 0 && others_only == 0 && !burst {
        Some(judge.say(
            "step3-combined/src/main.rs, fn talk: only the sender's own page got its message. \
             Send the text into the broadcast channel, whose every receiver (one per connection) \
             gets it, instead of back on this websocket",
            "step3-combined/src/main.rs의 fn talk에서 보낸 페이지만 자기 메시지를 받았습니다. \
             텍스트를 이 웹소켓으로 돌려보내지 말고 broadcast 채널에 보내세요. 연결마다 하나씩 \
             있는 수신 쪽이 모두 받습니다",
        ))
    } else if others_only > 0 && own_only == 0 && !burst {
        Some(judge.say(
            "step3-combined/src/main.rs, fn talk: the other page got the message, the sender's \
             own page did not. The chat shows each message on every page, the sender's included: \
             do not skip what this connection itself sent",
            "step3-combined/src/main.rs의 fn talk에서 다른 페이지는 메시지를 받았지만 보낸 \
             페이지는 받지 못했습니다. 채팅은 보낸 페이지를 포함해 모든 페이지에 메시지를 \
             보여 줍니다. 이 연결이 보낸 것도 건너뛰지 마세요",
        ))
    } else if burst {
        Some(judge.say(
            "step3-combined/src/main.rs: messages sent at the same moment were lost. A channel \
             that keeps only the latest value (tokio::sync::watch) drops every message that a \
             receiver has not read before the next one comes; tokio::sync::broadcast keeps each \
             message for every receiver (64 of them in the reference solution)",
            "step3-combined/src/main.rs에서 동시에 보낸 메시지가 사라졌습니다. 가장 최근 값 하나만 \
             간직하는 채널(tokio::sync::watch)은 수신 쪽이 읽기 전에 다음 메시지가 오면 앞의 것을 \
             버립니다. tokio::sync::broadcast는 메시지마다 모든 수신 쪽에 남겨 둡니다(참고 풀이는 \
             64개까지)",
        ))
    } else {
        None
    };
    Err(Miss::new(expected, saw).hint(hint))
}

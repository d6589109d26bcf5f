//! Exercise 2: each WebSocket client gets the next number, from 1, in a
//! line `Client #N connected`. A refused HTTP request is not a client, a
//! number is never given twice, even after a client leaves, and clients
//! that arrive together still get one number each.
//!
//! Each client's line is looked for among the lines printed after that
//! client connected, so a line printed for someone else never counts.

use std::time::Duration;

use super::{Checked, Judge, Judging};
use crate::exercise::Miss;
use crate::steps::Output;
use crate::wire::{self, PROMPTLY};

pub fn check(judge: Judge<'_>) -> Judging<'_> {
    Box::pin(numbered_clients(judge))
}

/// How many clients connect at once at the end.
const TOGETHER: usize = 6;

async fn numbered_clients(judge: Judge<'_>) -> Checked {
    let server = judge.start(&[]).await?;
    let port = server.port;
    let output = &server.output;
    let greeted = |error| judge.no_greeting(error);

    let mark = output.len();
    let first = wire::greeted(port, PROMPTLY).await.map_err(greeted)?;
    let one = client_line(judge, output, mark, 1, When::First).await?;

    // A browser asking for the page gets 426: that never became a client.
    // Its lines are all printed by the time the server explains the 426.
    let mark = output.len();
    let _ = wire::get(port, "/").await;
    let refusal = lines_until(output, mark, PROMPTLY, |lines| {
        lines.iter().any(|line| line.contains("426"))
    });
    let numbered_refusal = !numbers_in(&refusal.await).is_empty();
    let mark = output.len();
    let second = wire::greeted(port, PROMPTLY).await.map_err(greeted)?;
    let when = When::AfterRefusal { numbered_refusal };
    let two = client_line(judge, output, mark, 2, when).await?;

    // The first leaves; the next one still gets a new number.
    let mark = output.len();
    drop(first);
    let disconnected = output.wait_for(mark, PROMPTLY, |line| line.starts_with("Disconnected:"));
    if disconnected.await.is_none() {
        return Err(Miss::new(
            judge.say(
                "a Disconnected: line when the first client leaves, as before",
                "첫 클라이언트가 나갈 때 예전처럼 출력되는 Disconnected: 줄",
            ),
            judge.printed(output),
        ));
    }
    let mark = output.len();
    let third = wire::greeted(port, PROMPTLY).await.map_err(greeted)?;
    let three = client_line(judge, output, mark, 3, When::AfterLeaving).await?;

    // Several at once: one number each, 4 to 3 + TOGETHER in some order.
    let mark = output.len();
    let arriving = (0..TOGETHER).map(|_| wire::greeted(port, PROMPTLY));
    let crowd = futures_util::future::join_all(arriving).await;
    let crowd: Vec<_> = crowd
        .into_iter()
        .collect::<Result<_, _>>()
        .map_err(greeted)?;
    let wanted: Vec<usize> = (4..4 + TOGETHER).collect();
    let numbers = lines_until(output, mark, PROMPTLY, |lines| {
        numbers_in(lines).len() >= TOGETHER
    })
    .await;
    let mut numbers = numbers_in(&numbers);
    numbers.sort_unstable();
    if numbers != wanted {
        return Err(Miss::new(
            judge.say(
                format!(
                    "{TOGETHER} clients connecting at once get the numbers {wanted:?}, one each"
                ),
                format!("동시에 연결한 클라이언트 {TOGETHER}개가 하나씩 받는 번호 {wanted:?}"),
            ),
            judge.say(
                format!("the numbers printed were {numbers:?}"),
                format!("출력된 번호: {numbers:?}"),
            ),
        )
        .hint(Some(judge.say(
            "step1-ws-only/src/main.rs, fn handle_connection: take the number with one \
             fetch_add(1, ...) and print what it returned plus 1; a load followed by a store \
             lets two clients that arrive together read the same number",
            "step1-ws-only/src/main.rs의 fn handle_connection에서 번호는 fetch_add(1, ...) 한 \
             번으로 받고, 그 반환값에 1을 더해 출력하세요. load한 뒤 store하면 동시에 온 두 \
             클라이언트가 같은 번호를 읽을 수 있습니다",
        ))));
    }
    drop((second, third, crowd));
    Ok(judge.say(
        format!(
            "three WebSocket clients printed {one:?}, {two:?} and {three:?}; the 426 answer in between was not counted, and {TOGETHER} clients at once got #4 to #{}",
            3 + TOGETHER
        ),
        format!(
            "웹소켓 클라이언트 셋에 차례로 {one:?}, {two:?}, {three:?} 줄이 출력되었고, 그 사이의 426 응답은 세지 않았으며, 동시에 들어온 {TOGETHER}개는 #4부터 #{}까지 받았습니다",
            3 + TOGETHER
        ),
    ))
}

/// When a client connects, for the messages.
#[derive(Clone, Copy, PartialEq)]
enum When {
    First,
    /// After a refused request; whether that printed a number itself.
    AfterRefusal {
        numbered_refusal: bool,
    },
    AfterLeaving,
}

/// The numbers in the `Client #N connected` lines among `lines`.
fn numbers_in(lines: &[String]) -> Vec<usize> {
    lines.iter().filter_map(|line| number_of(line)).collect()
}

/// N, when `line` is `Client #N connected` (and maybe more after it).
fn number_of(line: &str) -> Option<usize> {
    let rest = line.trim().strip_prefix("Client #")?;
    let (number, after) = rest.split_once(' ')?;
    after
        .starts_with("connected")
        .then(|| number.parse().ok())?
}

/// Waits for the `Client #N connected` line of the client that connected
/// after the first `mark` lines were printed, and expects `number`.
async fn client_line(
    judge: Judge<'_>,
    output: &Output,
    mark: usize,
    number: usize,
    when: When,
) -> Checked {
    let wanted = format!("Client #{number} connected");
    let lines = lines_until(output, mark, PROMPTLY, |lines| {
        !numbers_in(lines).is_empty()
    })
    .await;
    let numbers = numbers_in(&lines);
    let numbered_refusal = when
        == (When::AfterRefusal {
            numbered_refusal: true,
        });
    if numbers == [number] && !numbered_refusal {
        return Ok(wanted);
    }
    let expected = match when {
        When::First => judge.say(
            format!("the line {wanted:?} when the first client connects"),
            format!("첫 클라이언트가 연결하면 출력되는 줄 {wanted:?}"),
        ),
        When::AfterRefusal { .. } => judge.say(
            format!(
                "the line {wanted:?} for the second WebSocket client (a plain HTTP request answered 426 in between does not count)"
            ),
            format!(
                "두 번째 웹소켓 클라이언트에게 출력되는 줄 {wanted:?} (그 사이에 426으로 거절된 HTTP 요청은 세지 않습니다)"
            ),
        ),
        When::AfterLeaving => judge.say(
            format!(
                "the line {wanted:?} for the third client, after the first one left (a number is never given again)"
            ),
            format!(
                "첫 클라이언트가 나간 뒤 들어온 세 번째 클라이언트에게 출력되는 줄 {wanted:?} (번호는 다시 쓰지 않습니다)"
            ),
        ),
    };
    let numbered: Vec<String> = lines
        .iter()
        .filter(|line| number_of(line).is_some())
        .cloned()
        .collect();
    let saw = if numbered.is_empty() {
        judge.printed(output)
    } else {
        judge.say(
            format!("after it connected the server printed {numbered:?}"),
            format!("연결한 뒤 서버가 출력한 줄: {numbered:?}"),
        )
    };
    let counted_refusal = numbered_refusal
        || (matches!(when, When::AfterRefusal { .. }) && numbers.last() == Some(&(number + 1)));
    let counted_down = when == When::AfterLeaving && numbers.last() < Some(&number);
    let hint = if counted_refusal {
        Some(judge.say(
            "step1-ws-only/src/main.rs, fn handle_connection: the refused HTTP request took a \
             number. Count a client only once handshake::accept has succeeded, where \
             `Connected:` is printed, not for every TCP connection",
            "step1-ws-only/src/main.rs의 fn handle_connection에서 거절된 HTTP 요청도 번호를 \
             받았습니다. TCP 연결마다 세지 말고, handshake::accept가 성공해 `Connected:`를 \
             출력하는 곳에서만 세세요",
        ))
    } else if counted_down {
        Some(judge.say(
            "step1-ws-only/src/main.rs, fn handle_connection: after a client left, a number was \
             given again. That is the count of open connections (OPEN_CONNECTIONS goes down); a \
             client number needs a counter of its own that only counts up",
            "step1-ws-only/src/main.rs의 fn handle_connection에서 클라이언트가 나간 뒤 같은 번호를 \
             다시 주었습니다. 그것은 열린 연결의 수(OPEN_CONNECTIONS는 줄어듭니다)이고, \
             클라이언트 번호에는 늘어나기만 하는 카운터가 따로 있어야 합니다",
        ))
    } else {
        None
    };
    Err(Miss::new(expected, saw).hint(hint))
}

/// The lines printed after the first `mark`, once `done` holds for them or
/// `wait` has passed.
pub async fn lines_until(
    output: &Output,
    mark: usize,
    wait: Duration,
    done: impl Fn(&[String]) -> bool,
) -> Vec<String> {
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        let lines = output.lines().split_off(mark.min(output.len()));
        if done(&lines) || tokio::time::Instant::now() >= deadline {
            return lines;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

//! Exercise 1: every text message comes back with `Echo: ` in front, and
//! the server still prints it.

use futures_util::SinkExt;
use tokio_tungstenite::tungstenite::Message;

use super::{Checked, Judge, Judging};
use crate::exercise::Miss;
use crate::wire::{self, GREETING, PROMPTLY};

pub fn check(judge: Judge<'_>) -> Judging<'_> {
    Box::pin(echo(judge))
}

async fn echo(judge: Judge<'_>) -> Checked {
    let server = judge.start(&[]).await?;
    let mut socket = wire::greeted(server.port, PROMPTLY)
        .await
        .map_err(|error| judge.no_greeting(error))?;
    let mut answers = Vec::new();
    for text in ["exercise one", GREETING, "세 번째"] {
        let expected = format!("Echo: {text}");
        let wanted = judge.say(
            format!("the answer {expected:?} to {text:?}"),
            format!("{text:?}에 대한 답으로 {expected:?}"),
        );
        socket
            .send(Message::text(text))
            .await
            .map_err(|error| Miss::new(wanted.clone(), judge.error(&error.into())))?;
        let answer = match wire::next_message(&mut socket, PROMPTLY).await {
            Ok(Message::Text(answer)) => answer.to_string(),
            Ok(other) => {
                return Err(Miss::new(
                    wanted,
                    judge.say(
                        format!("a message that is not text: {other:?}"),
                        format!("텍스트가 아닌 메시지: {other:?}"),
                    ),
                ));
            }
            Err(error) => {
                let saw = judge.say(
                    format!("no answer ({})", judge.error(&error)),
                    format!("답이 없었습니다 ({})", judge.error(&error)),
                );
                // Answered before, silent now: the echo ran once only.
                let hint = (!answers.is_empty()).then(|| {
                    judge.say(
                        "step1-ws-only/src/main.rs, fn talk: the first message was answered and \
                         a later one was not; the arm for Message::Text must answer every time \
                         and stay in the loop (no return or break after the send)",
                        "step1-ws-only/src/main.rs의 fn talk에서 첫 메시지에는 답했지만 그다음 \
                         메시지에는 답하지 않았습니다. Message::Text 갈래는 매번 답하고 루프에 \
                         남아야 합니다(보낸 뒤에 return이나 break를 하지 마세요)",
                    )
                });
                return Err(Miss::new(wanted, saw).hint(hint));
            }
        };
        if answer != expected {
            let hint = if answer == text {
                Some(judge.say(
                    "step1-ws-only/src/main.rs, fn talk: the text came back as it was; put \
                     `Echo: ` in front with format!(\"Echo: {text}\")",
                    "step1-ws-only/src/main.rs의 fn talk에서 텍스트가 그대로 돌아왔습니다. \
                     format!(\"Echo: {text}\")로 앞에 `Echo: `를 붙이세요",
                ))
            } else if answer.trim_start().starts_with("Echo") {
                Some(judge.say(
                    "step1-ws-only/src/main.rs, fn talk: the answer is `Echo: ` exactly (capital \
                     E, a colon, one space), then the text as it came",
                    "step1-ws-only/src/main.rs의 fn talk에서 답은 정확히 `Echo: `(대문자 E, 쌍점, \
                     빈칸 하나) 다음에 받은 텍스트 그대로입니다",
                ))
            } else {
                None
            };
            return Err(Miss::new(wanted, format!("{answer:?}")).hint(hint));
        }
        let line = format!("Received: {text}");
        let printed = server
            .output
            .wait_for(0, PROMPTLY, |printed| printed == line);
        if printed.await.is_none() {
            return Err(Miss::new(
                judge.say(
                    format!("the server still prints {line:?}"),
                    format!("서버가 여전히 출력하는 줄 {line:?}"),
                ),
                judge.printed(&server.output),
            )
            .hint(Some(judge.say(
                "step1-ws-only/src/main.rs, fn talk: keep the println!(\"Received: {text}\") \
                 and send the echo after it",
                "step1-ws-only/src/main.rs의 fn talk에서 println!(\"Received: {text}\")는 \
                 그대로 두고 그다음에 답을 보내세요",
            ))));
        }
        answers.push(format!("{text:?} -> {answer:?}"));
    }
    let _ = socket.close(None).await;
    Ok(judge.say(
        format!(
            "the step answered {}, and printed every Received: line",
            answers.join(", ")
        ),
        format!(
            "단계가 {}처럼 답했고, Received: 줄도 모두 출력했습니다",
            answers.join(", ")
        ),
    ))
}

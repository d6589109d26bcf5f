//! The exercise checks. Each starts the step it is given (the learner's
//! build, or a copy in the tests) on a free port, talks to it as the
//! chapter's exercise says, and returns what it saw or a `Miss`.
//!
//! A check judges the outcome the chapter states, nothing narrower and
//! nothing looser: frames are read as frames (`wire`), timing is measured
//! against what was announced with room for a busy machine, and when it
//! fails it says what really happened, with a hint about that mistake when
//! it can tell which one it is.
//!
//! Every message comes in English and Korean. The Korean ones are phrased
//! around values (a value never carries a particle), so they read right
//! whatever the value is.

pub mod chat;
pub mod echo;
pub mod heartbeat;
pub mod numbered;
mod outage;
pub mod reconnect;
pub mod rooms;

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use super::Miss;
use crate::browser::{Chromium, Page};
use crate::lang::Lang;
use crate::steps::{Output, Program, Running};
use crate::wire::GREETING;

/// What a check is given: the build of the step to run, Chromium when the
/// exercise needs it, and the learner's language.
#[derive(Clone, Copy)]
pub struct Judge<'a> {
    pub program: &'a Program,
    pub chromium: Option<&'a Chromium>,
    pub lang: Lang,
}

/// What a check found: what it saw, or what was missing.
pub type Checked = Result<String, Miss>;

/// A check running.
pub type Judging<'a> = Pin<Box<dyn Future<Output = Checked> + 'a>>;

impl Judge<'_> {
    /// One of two texts, in the learner's language.
    pub fn say<T>(&self, en: T, ko: T) -> T {
        self.lang.pick(en, ko)
    }

    /// Starts the step with `env`, or says why it would not start.
    pub async fn start(&self, env: &[(&str, &str)]) -> Result<Running, Miss> {
        self.program.start(env).await.map_err(|error| {
            Miss::new(
                self.say(
                    "the step starts and prints its address",
                    "단계가 시작되어 주소를 출력하는 것",
                ),
                self.error(&error),
            )
        })
    }

    /// Chromium, which the runner provides for every browser exercise.
    pub fn chromium(&self) -> Result<&Chromium, Miss> {
        self.chromium.ok_or_else(|| {
            Miss::new(
                self.say("a browser to run the check in", "확인에 쓸 브라우저"),
                self.say("no Chromium was started", "Chromium이 시작되지 않았습니다"),
            )
        })
    }

    /// The last lines a step printed, for a `saw`.
    pub fn printed(&self, output: &Output) -> String {
        let lines = output.last(8);
        self.say(
            format!("the server printed {lines:?}"),
            format!("서버가 출력한 줄: {lines:?}"),
        )
    }

    /// An error from talking to the step, told in the learner's language.
    /// The Korean names the kind of failure in Korean; the wording of
    /// the error itself comes from `wire` and the system, in English.
    pub fn error(&self, error: &anyhow::Error) -> String {
        let english = format!("{error:#}");
        if self.lang == Lang::En {
            return english;
        }
        let kinds = [
            ("cannot connect", "서버에 연결할 수 없었습니다"),
            (
                "no message within",
                "제한 시간 안에 메시지가 오지 않았습니다",
            ),
            ("no greeting", "인사 메시지가 오지 않았습니다"),
            (
                "the connection ended",
                "메시지가 오기 전에 연결이 끊겼습니다",
            ),
            ("handshake", "웹소켓 핸드셰이크가 이루어지지 않았습니다"),
            (
                "printed nothing",
                "단계가 시작한 뒤 아무것도 출력하지 않았습니다",
            ),
            ("not an address", "단계의 첫 줄이 주소가 아닙니다"),
            ("cannot start", "단계를 실행할 수 없었습니다"),
            (
                "the first message is",
                "첫 메시지가 인사 메시지가 아니었습니다",
            ),
            (
                "the first frame is",
                "첫 프레임이 인사 메시지가 아니었습니다",
            ),
            ("no 101", "101 응답이 오지 않았습니다"),
        ];
        kinds
            .iter()
            .find(|(english_words, _)| english.contains(english_words))
            .map(|(_, korean)| korean.to_string())
            .unwrap_or_else(|| "연결 중에 예상하지 못한 오류가 났습니다".to_string())
    }

    /// A client that should have been greeted as before, and was not.
    pub fn no_greeting(&self, error: anyhow::Error) -> Miss {
        Miss::new(
            self.say("the greeting, as before", "예전처럼 오는 인사 메시지"),
            self.error(&error),
        )
    }
}

/// How long a browser page may take to load, connect and show a line.
pub const PAGE_TIMEOUT: Duration = Duration::from_secs(10);

/// Opens the step's page in a new browser page and waits for its greeting.
pub async fn open_page(judge: Judge<'_>, url: &str) -> Result<Page, Miss> {
    let chromium = judge.chromium()?;
    let mut page = chromium.open(url).await.map_err(|error| {
        Miss::new(
            judge.say("the page opens", "페이지가 열리는 것"),
            judge.error(&error),
        )
    })?;
    let greeting = format!("Received: {GREETING}");
    if !page
        .wait_until(PAGE_TIMEOUT, |seen| seen.console_has(&greeting))
        .await
    {
        let lines = listed(&page).await;
        return Err(Miss::new(
            judge.say(
                format!("the page lists {greeting:?}, as before"),
                format!("예전처럼 페이지 목록에 나오는 줄 {greeting:?}"),
            ),
            judge.say(
                format!("the page lists {lines:?}"),
                format!("페이지 목록: {lines:?}"),
            ),
        ));
    }
    Ok(page)
}

/// The lines a page lists under `#log`.
pub async fn listed(page: &Page) -> Vec<String> {
    page.texts("#log li").await.unwrap_or_default()
}

/// A short list for a message: the first and last few of `lines`.
pub fn shortened(lines: &[String]) -> String {
    if lines.len() <= 8 {
        return format!("{lines:?}");
    }
    let (head, tail) = (&lines[..3], &lines[lines.len() - 3..]);
    format!("{head:?} ... {tail:?} ({} lines)", lines.len())
}

//! `cargo xtask exercise`: checks a learner's own answer to each chapter's
//! exercise, the way `verify` checks the course.
//!
//! The runner builds the steps from the learner's working tree, starts the
//! step an exercise changes on a free port, and checks the outcome the
//! chapter asks for: over real sockets, and in headless Chromium where the
//! outcome is what a page shows. Each exercise prints `✓` with what it saw,
//! or `✗` with what it expected, what it saw, and a hint that names the file
//! and the function to change. Without a number it checks every exercise and
//! says how many are done and which one comes next.
//!
//! It never writes to the learner's files. Going back to the course's
//! version of a step is one command, which it prints (see `way_back`).
//!
//! The exercises themselves are in `checks`; the reference solutions live
//! in `exercises/` at the root of the workspace, and the tests run every
//! check against them and against near misses, on copies (see `copies`).

mod checks;
#[cfg(test)]
mod tests;

use std::process::ExitCode;

use anyhow::bail;

use crate::browser::{self, Chromium};
use crate::course::WayBack;
use crate::lang::Lang;
use crate::steps::{self, Program, workspace_root};

/// One chapter's exercise.
pub struct Exercise {
    /// The chapter it ends, which is also its number.
    pub chapter: u8,
    /// The step that runs for the check.
    pub package: &'static str,
    /// What to do, in a few words: English, Korean.
    pub title: (&'static str, &'static str),
    /// What the learner changes, relative to the workspace root: a step's
    /// folder or one file. `way_back` restores exactly this.
    pub changes: &'static str,
    /// Where to change it: English, Korean.
    pub hint: (&'static str, &'static str),
    /// Whether the check needs Chromium.
    pub browser: bool,
}

impl Exercise {
    pub fn title(&self, lang: Lang) -> &'static str {
        lang.pick(self.title.0, self.title.1)
    }

    pub fn hint(&self, lang: Lang) -> &'static str {
        lang.pick(self.hint.0, self.hint.1)
    }

    /// The chapter's file in the learner's language, for the "next" line.
    pub fn chapter_file(&self, lang: Lang) -> String {
        let folder = workspace_root().join(lang.docs_folder());
        let prefix = format!("{:02}-", self.chapter);
        let name = std::fs::read_dir(&folder)
            .into_iter()
            .flatten()
            .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
            .find(|name| name.starts_with(&prefix))
            .unwrap_or_else(|| format!("{prefix}*.md"));
        format!("{}/{name}", lang.docs_folder())
    }
}

pub const EXERCISES: [Exercise; 5] = [
    Exercise {
        chapter: 1,
        package: "step1",
        title: (
            "echo: step 1 answers every message with `Echo: ` in front",
            "에코: 1단계가 모든 메시지에 `Echo: `를 붙여 되돌려 준다",
        ),
        changes: "step1-ws-only",
        hint: (
            "step1-ws-only/src/main.rs, fn talk: in the arm for Message::Text, after the println!, \
             send format!(\"Echo: {text}\") back with websocket.send(...).await",
            "step1-ws-only/src/main.rs 의 fn talk: Message::Text 갈래에서 println! 다음에 \
             websocket.send(...).await 로 format!(\"Echo: {text}\") 를 돌려보내세요",
        ),
        browser: false,
    },
    Exercise {
        chapter: 2,
        package: "step1",
        title: (
            "numbered clients: step 1 prints `Client #3 connected` for its third WebSocket client",
            "클라이언트 번호: 1단계가 세 번째 웹소켓 클라이언트에게 `Client #3 connected`를 출력한다",
        ),
        changes: "step1-ws-only",
        hint: (
            "step1-ws-only/src/main.rs, fn handle_connection: a second static AtomicUsize next to \
             OPEN_CONNECTIONS, counted up after the handshake where `Connected:` is printed, never \
             counted down; print `Client #{number} connected` there",
            "step1-ws-only/src/main.rs 의 fn handle_connection: OPEN_CONNECTIONS 옆에 static \
             AtomicUsize 를 하나 더 두고, 핸드셰이크가 끝나 `Connected:` 를 출력하는 곳에서 1 늘리세요 \
             (줄이지는 않습니다). 거기서 `Client #{number} connected` 를 출력합니다",
        ),
        browser: false,
    },
    Exercise {
        chapter: 3,
        package: "step3",
        title: (
            "chat: a message from one page of step 3 reaches every open page",
            "채팅: 3단계의 한 페이지가 보낸 메시지가 열려 있는 모든 페이지에 도착한다",
        ),
        changes: "step3-combined",
        hint: (
            "step3-combined/src/main.rs: one tokio::sync::broadcast channel made in fn run and \
             handed through fn routes and fn handle_websocket to fn talk; in fn talk, send each \
             text into it as well as printing it, and add a select! arm that sends the client \
             what the channel's receiver gets",
            "step3-combined/src/main.rs: fn run 에서 tokio::sync::broadcast 채널을 하나 만들어 \
             fn routes 와 fn handle_websocket 을 거쳐 fn talk 까지 넘기세요. fn talk 에서는 받은 \
             텍스트를 출력하면서 채널에도 보내고, 채널의 수신 쪽이 받은 것을 클라이언트에게 \
             보내는 select! 갈래를 하나 더 둡니다",
        ),
        browser: true,
    },
    Exercise {
        chapter: 4,
        package: "step1",
        title: (
            "heartbeat: step 1 pings every client every HEARTBEAT_SECS seconds and drops one that does not answer",
            "하트비트: 1단계가 HEARTBEAT_SECS 초마다 모든 클라이언트에 ping 을 보내고, 답하지 않는 클라이언트를 끊는다",
        ),
        changes: "step1-ws-only",
        hint: (
            "step1-ws-only/src/main.rs, fn talk: a tokio::time::interval of HEARTBEAT_SECS \
             seconds (read once in fn run, 5 when unset, handed down through fn handle_connection) \
             as another select! arm that sends Message::Ping; a Message::Pong arm that notes the \
             answer; at the next tick without an answer, return a reason that says so \
             (\"no pong within 5s\"), which the Disconnected: line prints",
            "step1-ws-only/src/main.rs 의 fn talk: HEARTBEAT_SECS 초(fn run 에서 한 번 읽고, 없으면 \
             5초, fn handle_connection 을 거쳐 넘깁니다)짜리 tokio::time::interval 을 select! 갈래로 \
             추가해 Message::Ping 을 보내고, Message::Pong 갈래에서 답이 왔음을 기록하세요. 다음 \
             틱까지 답이 없으면 그 사실을 담은 이유(\"no pong within 5s\")를 돌려주면 \
             Disconnected: 줄에 출력됩니다",
        ),
        browser: false,
    },
    Exercise {
        chapter: 5,
        package: "step3",
        title: (
            "reconnect: the page connects again by itself when the server restarts, waiting longer each time",
            "재연결: 서버가 다시 켜지면 페이지가 스스로 다시 연결하고, 기다리는 시간은 점점 늘어난다",
        ),
        changes: "step2-html-client/index.html",
        hint: (
            "step2-html-client/index.html, the script: put `new WebSocket(address)` and its \
             handlers in a function connect(); in socket.onclose show 'Reconnecting in ' + delay + \
             ' s' and call connect() again with setTimeout after that delay, doubling it each time \
             (back to 1 s in onopen)",
            "step2-html-client/index.html 의 스크립트: `new WebSocket(address)` 와 핸들러들을 \
             connect() 함수로 묶으세요. socket.onclose 에서 'Reconnecting in ' + delay + ' s' 를 \
             보여 주고 setTimeout 으로 그만큼 뒤에 connect() 를 다시 부르며, 지연은 매번 두 배로 \
             늘립니다(onopen 에서 1초로 되돌립니다)",
        ),
        browser: true,
    },
];

/// What a check found wrong: what it expected, what it saw instead, and,
/// when the exercise's own hint does not fit, a better one.
#[derive(Debug)]
pub struct Miss {
    pub expected: String,
    pub saw: String,
    pub hint: Option<String>,
}

/// An exercise's result.
#[derive(Debug)]
pub enum Verdict {
    /// Done, with what the check saw.
    Done(String),
    NotYet(Miss),
    /// The check could not run (no browser, for one), and why.
    Unchecked(String),
}

impl Verdict {
    pub fn is_done(&self) -> bool {
        matches!(self, Verdict::Done(_))
    }
}

/// Runs the check of `exercise` against `program`, a build of its step.
/// `chromium` is needed for the browser exercises.
pub async fn check(
    exercise: &Exercise,
    program: &Program,
    chromium: Option<&Chromium>,
    lang: Lang,
) -> Verdict {
    let browser = match (exercise.browser, chromium) {
        (true, None) => {
            return Verdict::Unchecked(
                lang.pick(
                    format!("this check needs a browser: {}", browser::INSTALL_HINT),
                    "이 확인에는 브라우저가 필요합니다. Chromium 을 설치하거나 \
                 (Debian/Ubuntu: `sudo apt-get install -y chromium`) CHROME 에 Chrome 이나 \
                 Chromium 프로그램의 경로를 지정하세요"
                        .to_string(),
                ),
            );
        }
        (_, chromium) => chromium,
    };
    let result = match (exercise.chapter, browser) {
        (1, _) => checks::echo(program, lang).await,
        (2, _) => checks::numbered_clients(program, lang).await,
        (3, Some(chromium)) => checks::chat(program, chromium, lang).await,
        (4, _) => checks::heartbeat(program, lang).await,
        (5, Some(chromium)) => checks::reconnect(program, chromium, lang).await,
        (chapter, _) => unreachable!("no exercise check for chapter {chapter}"),
    };
    match result {
        Ok(seen) => Verdict::Done(seen),
        Err(miss) => Verdict::NotYet(miss),
    }
}

struct Options {
    /// One exercise, when a number is given.
    only: Option<u8>,
    lang: Lang,
}

fn parse(args: &[String]) -> anyhow::Result<Options> {
    let mut args = args.to_vec();
    let lang = Lang::take_from(&mut args)?;
    let only = match args.as_slice() {
        [] => None,
        [number] => match number.parse() {
            Ok(chapter @ 1..=5) => Some(chapter),
            _ => bail!(
                "{}",
                lang.pick(
                    format!("there are exercises 1 to 5, not `{number}` (try `cargo xtask exercise 1`)"),
                    format!("실습 번호는 1부터 5까지입니다. `{number}` 는 없습니다 (예: `cargo xtask exercise 1`)"),
                )
            ),
        },
        _ => bail!(
            "{}",
            lang.pick(
                "usage: cargo xtask exercise [1-5] [--lang ko|en]",
                "사용법: cargo xtask exercise [1-5] [--lang ko|en]",
            )
        ),
    };
    Ok(Options { only, lang })
}

/// `cargo xtask exercise [N] [--lang ko|en]`.
pub fn run(args: &[String]) -> anyhow::Result<ExitCode> {
    let options = parse(args)?;
    let lang = options.lang;
    let chosen: Vec<&Exercise> = EXERCISES
        .iter()
        .filter(|exercise| options.only.is_none_or(|only| only == exercise.chapter))
        .collect();

    if let Err(error) = steps::build_in(lang) {
        println!(
            "{}",
            lang.pick(
                format!("✗ {error:#}. Fix what the compiler says, then run this again."),
                format!("✗ {error:#}. 그 메시지대로 고친 뒤 다시 실행하세요."),
            )
        );
        for exercise in &chosen {
            print_way_back(exercise, lang, true);
        }
        return Ok(ExitCode::FAILURE);
    }

    let runtime = tokio::runtime::Runtime::new()?;
    let verdicts = runtime.block_on(async {
        // A missing browser is said by each browser exercise; a browser
        // that is there but does not start is said once, here.
        let chromium = match browser::find() {
            Ok(program) if chosen.iter().any(|exercise| exercise.browser) => {
                match Chromium::launch(&program).await {
                    Ok(chromium) => Some(chromium),
                    Err(error) => {
                        println!(
                            "{}",
                            lang.pick(
                                format!("✗ Chromium did not start: {error:#}"),
                                format!("✗ Chromium 이 시작되지 않았습니다: {error:#}"),
                            )
                        );
                        None
                    }
                }
            }
            _ => None,
        };
        if options.only.is_none() {
            println!(
                "{}",
                lang.pick(
                    "Checking the five exercises against your steps (about 15 s) ...",
                    "다섯 실습을 여러분의 단계로 확인합니다 (15초쯤 걸립니다) ...",
                )
            );
        }
        let mut verdicts = Vec::new();
        for exercise in &chosen {
            let program = Program::of(exercise.package);
            let verdict = check(exercise, &program, chromium.as_ref(), lang).await;
            match options.only {
                Some(_) => {
                    for line in details(exercise, &verdict, lang) {
                        println!("{line}");
                    }
                }
                None => print_line(exercise, &verdict, lang),
            }
            verdicts.push(verdict);
        }
        verdicts
    });

    if options.only.is_some() {
        let exercise = chosen[0];
        print_way_back(exercise, lang, true);
        return Ok(if verdicts[0].is_done() {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        });
    }

    let done = verdicts.iter().filter(|verdict| verdict.is_done()).count();
    let next = chosen
        .iter()
        .zip(&verdicts)
        .find(|(_, verdict)| !verdict.is_done());
    match next {
        None => println!(
            "{}",
            lang.pick(
                format!("{done}/5 done. Every exercise passes: well done!"),
                format!("{done}/5 완료. 모든 실습을 통과했습니다. 수고하셨습니다!"),
            )
        ),
        Some((exercise, _)) => println!(
            "{}",
            lang.pick(
                format!(
                    "{done}/5 done. Next: exercise {n} ({file}, section \"Exercise\"); \
                     `cargo xtask exercise {n}` checks it and says what is missing.",
                    n = exercise.chapter,
                    file = exercise.chapter_file(lang),
                ),
                format!(
                    "{done}/5 완료. 다음은 실습 {n}입니다 ({file} 의 \"실습\" 절). \
                     `cargo xtask exercise {n}` 로 확인하면 무엇이 모자란지 알려 줍니다.",
                    n = exercise.chapter,
                    file = exercise.chapter_file(lang),
                ),
            )
        ),
    }
    let mut shown = Vec::new();
    for exercise in &chosen {
        if !shown.contains(&exercise.changes) {
            shown.push(exercise.changes);
            print_way_back(exercise, lang, false);
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// One line of the overview: done or not yet, and why in a few words.
fn print_line(exercise: &Exercise, verdict: &Verdict, lang: Lang) {
    let number = exercise.chapter;
    let title = exercise.title(lang);
    match verdict {
        Verdict::Done(_) => println!("✓ {number}. {} {title}", lang.pick("done   ", "완료   ")),
        Verdict::NotYet(miss) => println!(
            "✗ {number}. {} {title}\n      {}",
            lang.pick("not yet", "아직   "),
            lang.pick(
                format!("expected {}", miss.expected),
                format!("기대한 것: {}", miss.expected)
            )
        ),
        Verdict::Unchecked(why) => println!(
            "- {number}. {} {title}\n      {why}",
            lang.pick("unchecked", "확인 못 함")
        ),
    }
}

/// The whole story of one exercise: what it saw, or expected, saw and hint.
pub fn details(exercise: &Exercise, verdict: &Verdict, lang: Lang) -> Vec<String> {
    let number = exercise.chapter;
    let title = exercise.title(lang);
    let mut lines = vec![lang.pick(
        format!("Exercise {number} (chapter {number}): {title}"),
        format!("실습 {number} ({number}장): {title}"),
    )];
    match verdict {
        Verdict::Done(seen) => lines.push(format!("✓ {seen}")),
        Verdict::NotYet(miss) => {
            let hint = miss.hint.as_deref().unwrap_or(exercise.hint(lang));
            lines.push(format!("✗ {}", lang.pick("not yet", "아직입니다")));
            let [expected, saw, hint_label] = lang.pick(
                ["expected:", "saw:     ", "hint:    "],
                ["기대한 것:", "본 것:    ", "힌트:     "],
            );
            lines.push(format!("  {expected} {}", miss.expected));
            lines.push(format!("  {saw} {}", miss.saw));
            lines.push(format!("  {hint_label} {hint}"));
        }
        Verdict::Unchecked(why) => lines.push(format!("- {why}")),
    }
    lines
}

/// Prints how to go back to the course's version of what `exercise`
/// changes: always when `always`, otherwise only when git has a change.
fn print_way_back(exercise: &Exercise, lang: Lang, always: bool) {
    let path = exercise.changes;
    let way_back = WayBack::of(path);
    if always || matches!(way_back, WayBack::Command(_)) {
        println!("{}", way_back.sentence(path, lang));
    }
}

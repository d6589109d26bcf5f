//! Every exercise check both ways, on copies of the steps (never on the
//! files in the workspace): the course's step as it is fails, the
//! reference solution in `exercises/` passes, solutions written another
//! way from the chapter's text pass too, and near misses (a solution with
//! one thing wrong) fail with a hint about that mistake.
//!
//! Each variant is a small edit of the reference solution or of the
//! course's step (see `variants`), so the variants follow when a step is
//! reshaped. All of them are built by one `cargo build` in one workspace
//! of copies, once for the whole test run, and each exercise's variants
//! are then checked side by side.
//!
//! `EXERCISE_RUNS=20` checks each variant 20 times, to measure how the
//! timing checks hold up on a busy machine.
//!
//! The browser exercises need Chromium, and step 4's need `redis-server`:
//! where one is missing they say so in one line and pass, unless
//! `REQUIRE_TOOLS=1` (as in CI) makes them fail.

use std::collections::HashMap;
use std::path::Path;
use std::sync::OnceLock;
use std::time::Instant;

use futures_util::StreamExt;

use super::report::details;
use super::*;
use crate::copies::{self, Change, Copy};
use crate::docs;
use crate::tools;

mod added;
mod variants;

use variants::{Base, Expect, Variant};

/// The files of the reference solution, each as a change that writes it
/// over the course's file of the same path.
fn solution(exercise: &Exercise) -> Vec<Change> {
    let files = exercise.solution_files();
    assert!(!files.is_empty(), "no files in {}", exercise.solution);
    files
        .iter()
        .map(|file| {
            let path = file
                .strip_prefix(exercise.solution)
                .unwrap()
                .trim_start_matches('/');
            let text = std::fs::read_to_string(workspace_root().join(file)).unwrap();
            Change::write(path, text)
        })
        .collect()
}

fn label(number: u8, variant: &str) -> String {
    format!("ex{number}-{variant}")
}

/// Every variant of every exercise, built once for all the tests.
fn programs() -> &'static HashMap<String, Program> {
    static BUILT: OnceLock<Result<HashMap<String, Program>, String>> = OnceLock::new();
    let built = BUILT.get_or_init(|| {
        let mut copies = Vec::new();
        for exercise in EXERCISES {
            for variant in variants::of(exercise.number) {
                let mut changes = match variant.base {
                    Base::Course => Vec::new(),
                    Base::Solution => solution(exercise),
                };
                changes.extend(variant.edits);
                copies.push(Copy {
                    label: label(exercise.number, variant.label),
                    package: exercise.package,
                    changes,
                });
            }
        }
        let started = Instant::now();
        let programs = copies::build_all(&copies).map_err(|error| format!("{error:#}"))?;
        println!(
            "built {} copies together in {:.1} s",
            copies.len(),
            started.elapsed().as_secs_f64()
        );
        Ok(copies
            .into_iter()
            .zip(programs)
            .map(|(copy, program)| (copy.label, program))
            .collect())
    });
    match built {
        Ok(programs) => programs,
        Err(error) => panic!("{error}"),
    }
}

/// Chromium for a browser exercise: `Some(None)` when none is needed,
/// `None` when the test is skipped for want of one (see `tools`).
async fn chromium_if_needed(exercise: &Exercise) -> Option<Option<Chromium>> {
    if !exercise.browser {
        return Some(None);
    }
    let program = tools::require_or_skip("Chromium", browser::find())?;
    Some(Some(
        Chromium::launch(&program).await.expect("Chromium starts"),
    ))
}

/// How many variants of one exercise are checked at the same time.
const SIDE_BY_SIDE: usize = 4;

/// The course's step fails, the reference solution and the correct
/// variants pass, and each near miss fails with its own hint.
async fn both_ways(number: u8) {
    let exercise = Exercise::numbered(number).expect("the exercise");
    if chromium_if_needed(exercise).await.is_none() {
        return;
    }
    if exercise.redis && tools::require_or_skip("redis-server", tools::find_redis()).is_none() {
        return;
    }
    let programs = tokio::task::block_in_place(programs);
    let runs: usize = std::env::var("EXERCISE_RUNS")
        .ok()
        .and_then(|runs| runs.parse().ok())
        .unwrap_or(1);

    let variants = variants::of(number);
    let mut checked = Vec::new();
    for run in 0..runs {
        // A browser for each run, as each run of the command has: its pages
        // (which keep trying to reconnect) end with it.
        let chromium = chromium_if_needed(exercise).await.flatten();
        let chromium = chromium.as_ref();
        let run_checked = futures_util::stream::iter(&variants)
            .map(|variant| {
                let program = &programs[&label(number, variant.label)];
                async move {
                    let started = Instant::now();
                    let verdict = check(exercise, program, chromium, Lang::En).await;
                    let seconds = started.elapsed().as_secs_f64();
                    (run, variant, verdict, seconds)
                }
            })
            .buffer_unordered(SIDE_BY_SIDE)
            .collect::<Vec<_>>()
            .await;
        checked.extend(run_checked);
    }
    let chromium = chromium_if_needed(exercise).await.flatten();
    let chromium = chromium.as_ref();

    let mut problems = Vec::new();
    let mut tally: HashMap<&str, (usize, f64)> = HashMap::new();
    for (run, variant, verdict, seconds) in checked {
        let entry = tally.entry(variant.label).or_default();
        match judged(exercise, variant, &verdict) {
            Ok(()) => {
                entry.0 += 1;
                entry.1 = entry.1.max(seconds);
            }
            Err(problem) => problems.push(format!(
                "exercise {number}, {} ({}), run {}: {problem}",
                variant.label,
                variant.what,
                run + 1
            )),
        }
    }
    for variant in &variants {
        let (right, slowest) = tally.get(variant.label).copied().unwrap_or_default();
        println!(
            "exercise {number} {:<28} {right}/{runs} as expected, slowest check {slowest:.1} s",
            variant.label
        );
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));

    // The chapter shows the passing run of the reference solution.
    let reference = &programs[&label(number, "solution")];
    for lang in [Lang::En, Lang::Ko] {
        let verdict = check(exercise, reference, chromium, lang).await;
        assert!(verdict.is_done(), "{lang:?}: {verdict:?}");
        assert_the_chapter_shows(exercise, &verdict, lang);
    }
}

/// Whether `verdict` is what `variant` expects; a failure must name the
/// file to change and, for a near miss, be about its mistake.
fn judged(exercise: &Exercise, variant: &Variant, verdict: &Verdict) -> Result<(), String> {
    match (&variant.expect, verdict) {
        (Expect::Pass, Verdict::Done(_)) => Ok(()),
        (Expect::Pass, other) => Err(format!("should pass, but: {other:?}")),
        (Expect::Fail(about), Verdict::NotYet(miss)) => {
            let hint = miss.hint.as_deref().unwrap_or(exercise.hint(Lang::En));
            // One file, or a file of the step's folder (its main.rs, or the
            // module the mistake is in).
            let file = if Path::new(exercise.changes).extension().is_some() {
                exercise.changes.to_string()
            } else {
                format!("{}/", exercise.changes)
            };
            if !hint.contains(&file) {
                return Err(format!("the hint does not name a file {file}...: {hint}"));
            }
            if miss.expected.is_empty() || miss.saw.is_empty() {
                return Err(format!("an empty expected or saw: {miss:?}"));
            }
            if !hint.contains(about) {
                return Err(format!(
                    "the hint is not about this mistake (it lacks {about:?}): {miss:?}"
                ));
            }
            Ok(())
        }
        (Expect::Fail(_), other) => Err(format!("should fail, but: {other:?}")),
    }
}

/// The chapter's passing run of `cargo xtask exercise N`, in `lang`, shows
/// the lines this run printed, up to client ports and durations.
fn assert_the_chapter_shows(exercise: &Exercise, verdict: &Verdict, lang: Lang) {
    let path = exercise.chapter_file(lang);
    let text = std::fs::read_to_string(workspace_root().join(&path)).unwrap();
    let command = format!("$ cargo xtask exercise {}", exercise.number);
    let block: Vec<String> = text
        .split("```")
        .find(|block| block.lines().any(|line| line == command))
        .unwrap_or_else(|| panic!("{path} shows no run of `{command}`"))
        .lines()
        .map(docs::comparable)
        .collect();
    // The lines, to copy into the chapter when they change.
    println!("{}", details(exercise, verdict, lang).join("\n"));
    let announced = steps::build_line(lang);
    assert!(
        block.contains(&announced),
        "{path}: the run of `{command}` lacks the line it starts with, {announced:?}"
    );
    for line in details(exercise, verdict, lang) {
        assert!(
            block.contains(&docs::comparable(&line)),
            "{path} does not show the line {line:?} that a run of the reference solution prints; it shows {block:#?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn exercise_1_echo_both_ways() {
    both_ways(1).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn exercise_2_numbered_clients_both_ways() {
    both_ways(2).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn exercise_3_chat_both_ways() {
    both_ways(3).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn exercise_4_heartbeat_both_ways() {
    both_ways(4).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn exercise_5_reconnect_both_ways() {
    both_ways(5).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn exercise_6_rooms_both_ways() {
    both_ways(6).await;
}

/// The runner speaks Korean when asked: wholly Korean, with the headings a
/// Korean teacher writes, and names the same file.
#[tokio::test(flavor = "multi_thread")]
async fn a_miss_is_told_in_korean_too() {
    let exercise = Exercise::numbered(1).unwrap();
    let program = &tokio::task::block_in_place(programs)[&label(1, "course")];
    let verdict = check(exercise, program, None, Lang::Ko).await;
    let Verdict::NotYet(miss) = &verdict else {
        panic!("the course's step should fail: {verdict:?}");
    };
    assert!(
        miss.expected.contains("에 대한 답"),
        "not in Korean: {miss:?}"
    );
    let lines = details(exercise, &verdict, Lang::Ko);
    assert_eq!(lines[1], "✗ 아직 통과하지 못했습니다");
    assert!(
        lines[2].trim_start().starts_with("기대한 결과:"),
        "{lines:?}"
    );
    assert!(lines[3].trim_start().starts_with("실제 결과:"), "{lines:?}");
    assert!(lines[4].contains("step1-ws-only/src/main.rs"), "{lines:?}");
    // No English sentence in the Korean story: the values (quoted) aside.
    for line in &lines[1..4] {
        let unquoted: String = line.split('"').step_by(2).collect();
        assert!(
            !unquoted.contains(" the ") && !unquoted.contains("within"),
            "English in a Korean line: {line:?}"
        );
    }
}

/// The number a learner types is checked against the list, whose length
/// gives the range.
#[test]
fn numbers_and_ranges_come_from_the_list() {
    let last = EXERCISES.len();
    for (index, exercise) in EXERCISES.iter().enumerate() {
        assert_eq!(usize::from(exercise.number), index + 1, "numbered in order");
        assert!(parse(&[exercise.number.to_string()]).is_ok());
    }
    let beyond = (last + 1).to_string();
    let error = parse(std::slice::from_ref(&beyond))
        .err()
        .expect("no such exercise");
    assert!(
        error.to_string().contains(&format!("1 to {last}")),
        "{error}"
    );
    let options = parse(&["--watch".into(), "2".into(), "--all".into()]).unwrap();
    assert!(options.watch && options.all && options.only == Some(2));
}

/// The lines of the course's file that a solution may replace: the ones
/// the exercise itself changes (a signature that gains a parameter, the
/// arm that now also answers). Lines are compared without their indent.
fn replaced_by_the_solution(number: u8) -> &'static [&'static str] {
    match number {
        1 => &["Some(Ok(Message::Text(text))) => println!(\"Received: {text}\"),"],
        2 => &[],
        3 => &[
            "let routes = routes(peer, hosts, shutdown.notice());",
            "upgrade.accept(move |websocket| handle_websocket(websocket, peer, shutdown))",
            "async fn handle_websocket(websocket: WebSocket, peer: SocketAddr, shutdown: shutdown::Notice) {",
            "let why_it_ended = talk(websocket, shutdown).await;",
            "async fn talk(mut websocket: WebSocket, mut shutdown: shutdown::Notice) -> String {",
            "Some(Ok(Message::Text(text))) => println!(\"Received: {text}\"),",
        ],
        4 => &[
            "tokio::spawn(handle_connection(stream, peer, shutdown.notice()));",
            "async fn handle_connection(stream: TcpStream, peer: SocketAddr, shutdown: shutdown::Notice) {",
            "let why_it_ended = talk(websocket, shutdown).await;",
            "async fn talk(mut websocket: WebSocket, mut shutdown: shutdown::Notice) -> String {",
        ],
        5 => &["const socket = new WebSocket(address);"],
        6 => &[
            "pub async fn append(broker: &Broker, event: Event<'_>) -> redis::RedisResult<String> {",
            "let fields = match event {",
            "pub async fn history(broker: &Broker, after: Option<EntryId>) -> redis::RedisResult<Shown> {",
            "(reply.ids, oldest.is_some_and(|oldest| oldest > after))",
            ".xrevrange_count(STREAM, \"+\", \"-\", RECENT_ENTRIES)",
            "(reply.ids.into_iter().rev().collect(), false)",
            "let mut read = Vec::new();",
            "read.push(Delivery {",
            "});",
            "if !read.is_empty() {",
            "fanout.deliver(read.into());",
            "let body = \"The only query is ?after=ID, the id of the last line the page showed\";",
            "let mut page = match Box::pin(open(websocket, name, after, chat, shutdown)).await {",
            "Some(Ok(Message::Text(text))) => writing = Some(Box::pin(receive(chat, name, text))),",
            "let _ = Box::pin(chat_log::append(&chat.broker, Event::Left { name })).await;",
            "Box::pin(end(&mut page, name, chat, stop)).await",
            "let mut listener = chat.fanout.listen();",
            "let read = read_history(chat, name, after, &mut listener).await;",
            "let _ = chat_log::append(&chat.broker, Event::Joined { name }).await;",
            "Err(stop) => Err(end(&mut page, name, chat, stop).await),",
            "let mut reading = std::pin::pin!(chat_log::history(&chat.broker, after));",
            "async fn end(page: &mut Page, name: &str, chat: &Chat, stop: Stop) -> String {",
            "let _ = chat_log::append(&chat.broker, Event::Left { name }).await;",
            "async fn receive(chat: &Chat, name: &str, text: Utf8Bytes) -> Option<String> {",
            "once::append_chat(&chat.broker, name, &text, client_id),",
            "timeout(WRITE_WAIT, chat_log::append(&chat.broker, line)).await",
            "//! The fan-out is one `broadcast` channel: what the follower puts in is",
            "use std::sync::Arc;",
            "/// Every page of this instance, as readers of one channel.",
            "news: broadcast::Sender<News>,",
            "news: broadcast::Sender::new(QUEUE_LENGTH),",
            "pub fn listen(self: &Arc<Self>) -> Listener {",
            "news: self.news.subscribe(),",
            "/// Hands `entries` to every page, at once.",
            "pub fn deliver(&self, entries: Arc<[Delivery]>) {",
            "self.hand_out(News::Entries(entries));",
            "let _ = self.news.send(news);",
            "const after = lastId ? '?after=' + encodeURIComponent(lastId) : '';",
            "socket = new WebSocket(scheme + '//' + location.host + '/chat' + after);",
            "let after = match conversation::resume_point(query) {",
            "println!(\"Connected: {name} from {peer} ({open} open)\");",
            "let why_it_ended = conversation::talk(websocket, &name, after, &chat, shutdown).await;",
            "/// the text, the page's id for the line, and the mark's lifetime.",
            "'kind', 'chat', 'name', ARGV[2], 'text', ARGV[3], 'client_id', ARGV[4])",
        ],
        _ => &[],
    }
}

/// Each reference solution is the course's file with the exercise done:
/// every other line of the course is still there, in order. When a step
/// changes, this fails until its solutions follow.
#[test]
fn every_solution_keeps_the_rest_of_the_course() {
    for exercise in EXERCISES {
        let number = exercise.number;
        let allowed = replaced_by_the_solution(number);
        let mut used = Vec::new();
        for change in solution(exercise) {
            let Change::Write { path, text } = change else {
                unreachable!("solutions are whole files")
            };
            // A file the solution adds (a module of its own) has no course
            // lines to keep.
            let Ok(course) = std::fs::read_to_string(workspace_root().join(&path)) else {
                continue;
            };
            let mut solution_lines = text.lines().map(str::trim);
            for line in course.lines().map(str::trim) {
                if line.is_empty() {
                    continue;
                }
                if allowed.contains(&line) {
                    used.push(line.to_string());
                    continue;
                }
                assert!(
                    solution_lines.any(|kept| kept == line),
                    "{}/{path} lacks the course's line {line:?} (or has it out of \
                     order): the course changed, so the solution must follow (`git diff \
                     --no-index {path} {}/{path}` shows where)",
                    exercise.solution,
                    exercise.solution
                );
            }
        }
        // A line the solution changes in two places counts once.
        used.sort_unstable();
        used.dedup();
        assert_eq!(
            used.len(),
            allowed.len(),
            "{}: the course no longer has all the lines the solution replaces: {allowed:?}",
            exercise.solution
        );
    }
}

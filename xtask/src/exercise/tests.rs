//! Every exercise check both ways, on copies of the steps (never on the
//! files in the workspace): the course's step as it is fails with a hint
//! that names the file to change, the reference solution in `exercises/`
//! passes, and near misses (the solution with one thing wrong) fail.
//!
//! The browser exercises need Chromium: where it is missing they say so in
//! one line and pass, unless `REQUIRE_TOOLS=1` (as in CI) makes them fail.

use std::path::Path;
use std::time::Instant;

use super::*;
use crate::copies::{self, Change};
use crate::docs;
use crate::tools;

fn exercise(chapter: u8) -> &'static Exercise {
    EXERCISES
        .iter()
        .find(|exercise| exercise.chapter == chapter)
        .expect("an exercise for every chapter 1-5")
}

/// The files of the reference solution in `exercises/chN/`, each as a
/// change that writes it over the course's file of the same path.
fn solution(chapter: u8) -> Vec<Change> {
    let folder = workspace_root().join(format!("exercises/ch{chapter}"));
    let mut changes = Vec::new();
    let mut folders = vec![folder.clone()];
    while let Some(current) = folders.pop() {
        for entry in std::fs::read_dir(&current).expect("the solution's folder") {
            let path = entry.unwrap().path();
            if path.is_dir() {
                folders.push(path);
                continue;
            }
            let relative = path.strip_prefix(&folder).unwrap();
            let relative = relative.to_string_lossy().replace('\\', "/");
            changes.push(Change::write(
                &relative,
                std::fs::read_to_string(&path).unwrap(),
            ));
        }
    }
    assert!(!changes.is_empty(), "no files in {}", folder.display());
    changes
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

/// Builds a copy of the exercise's step with `changes`, runs the check, and
/// returns its verdict and how long the check took (without the build).
async fn verdict_on(
    exercise: &Exercise,
    label: &str,
    changes: &[Change],
    chromium: Option<&Chromium>,
    lang: Lang,
) -> Verdict {
    let program = copies::build(exercise.package, label, changes)
        .await
        .unwrap_or_else(|error| panic!("{label}: {error:#}"));
    let started = Instant::now();
    let verdict = check(exercise, &program, chromium, lang).await;
    println!(
        "{label}: checked in {:.1} s: {verdict:?}",
        started.elapsed().as_secs_f64()
    );
    verdict
}

/// The check fails, with a hint that names the file to change.
fn assert_not_yet(exercise: &Exercise, what: &str, verdict: Verdict, lang: Lang) -> Miss {
    let Verdict::NotYet(miss) = verdict else {
        panic!(
            "{what}: exercise {} should fail, but: {verdict:?}",
            exercise.chapter
        );
    };
    let hint = miss.hint.as_deref().unwrap_or(exercise.hint(lang));
    let file = if Path::new(exercise.changes).extension().is_some() {
        exercise.changes.to_string()
    } else {
        format!("{}/src/main.rs", exercise.changes)
    };
    assert!(
        hint.contains(&file),
        "{what}: the hint does not name {file}: {hint}"
    );
    assert!(
        !miss.expected.is_empty() && !miss.saw.is_empty(),
        "{what}: {miss:?}"
    );
    miss
}

/// The course's step fails, the reference solution passes, and each near
/// miss (the solution with one edit) fails.
async fn both_ways(chapter: u8, near_misses: Vec<(&str, Vec<Change>)>) {
    let exercise = exercise(chapter);
    let Some(chromium) = chromium_if_needed(exercise).await else {
        return;
    };
    let chromium = chromium.as_ref();
    let lang = Lang::En;

    let course = verdict_on(
        exercise,
        &format!("ex{chapter}-course"),
        &[],
        chromium,
        lang,
    )
    .await;
    assert_not_yet(exercise, "the course's step", course, lang);

    let solved = verdict_on(
        exercise,
        &format!("ex{chapter}-solution"),
        &solution(chapter),
        chromium,
        lang,
    )
    .await;
    assert!(
        solved.is_done(),
        "the reference solution of exercise {chapter} should pass: {solved:?}"
    );
    assert_the_chapter_shows(exercise, &solved, Lang::En);
    let solved_in_korean = verdict_on(
        exercise,
        &format!("ex{chapter}-solution"),
        &solution(chapter),
        chromium,
        Lang::Ko,
    )
    .await;
    assert_the_chapter_shows(exercise, &solved_in_korean, Lang::Ko);

    for (index, (what, edits)) in near_misses.into_iter().enumerate() {
        let mut changes = solution(chapter);
        changes.extend(edits);
        let label = format!("ex{chapter}-near-miss-{}", index + 1);
        let verdict = verdict_on(exercise, &label, &changes, chromium, lang).await;
        assert_not_yet(exercise, what, verdict, lang);
    }
}

/// The chapter's passing run of `cargo xtask exercise N`, in `lang`, shows
/// the lines this run printed, up to client ports and durations.
fn assert_the_chapter_shows(exercise: &Exercise, verdict: &Verdict, lang: Lang) {
    let path = exercise.chapter_file(lang);
    let text = std::fs::read_to_string(workspace_root().join(&path)).unwrap();
    let command = format!("$ cargo xtask exercise {}", exercise.chapter);
    let block: Vec<String> = text
        .split("```")
        .find(|block| block.lines().any(|line| line == command))
        .unwrap_or_else(|| panic!("{path} shows no run of `{command}`"))
        .lines()
        .map(docs::comparable)
        .collect();
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

const STEP1: &str = "step1-ws-only/src/main.rs";
const STEP3: &str = "step3-combined/src/main.rs";
const PAGE: &str = "step2-html-client/index.html";

#[tokio::test(flavor = "multi_thread")]
async fn exercise_1_echo_both_ways() {
    both_ways(
        1,
        vec![(
            "an echo without the prefix",
            vec![Change::replace(
                STEP1,
                "format!(\"Echo: {text}\")",
                "format!(\"{text}\")",
            )],
        )],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn exercise_2_numbered_clients_both_ways() {
    both_ways(
        2,
        vec![
            (
                "the number of open connections instead of a count",
                vec![Change::replace(
                    STEP1,
                    "println!(\"Client #{number} connected\");",
                    "println!(\"Client #{open} connected\");",
                )],
            ),
            (
                "every accepted TCP connection counted, the refused ones too",
                vec![
                    Change::replace(
                        STEP1,
                        "    let number = CLIENTS_SO_FAR.fetch_add(1, Ordering::Relaxed) + 1;\n",
                        "",
                    ),
                    Change::replace(
                        STEP1,
                        "    let Some(websocket) = handshake::accept(",
                        "    let number = CLIENTS_SO_FAR.fetch_add(1, Ordering::Relaxed) + 1;\n    let Some(websocket) = handshake::accept(",
                    ),
                ],
            ),
        ],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn exercise_3_chat_both_ways() {
    both_ways(
        3,
        vec![(
            "a chat that only answers the sender",
            vec![Change::replace(
                STEP3,
                "let _ = chat.send(text.to_string());",
                "let _ = websocket.send(Message::text(text)).await;",
            )],
        )],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn exercise_4_heartbeat_both_ways() {
    both_ways(
        4,
        vec![
            (
                "pings, but never drops a client that does not answer",
                vec![Change::replace(
                    STEP1,
                    "if !answered {",
                    "if false && !answered {",
                )],
            ),
            (
                "never notes a pong, so every client is dropped",
                vec![Change::replace(
                    STEP1,
                    "Some(Ok(Message::Pong(_))) => answered = true,",
                    "Some(Ok(Message::Pong(_))) => {}",
                )],
            ),
            (
                "ignores HEARTBEAT_SECS",
                vec![Change::replace(
                    STEP1,
                    "std::env::var(\"HEARTBEAT_SECS\")",
                    "std::env::var(\"NOT_HEARTBEAT_SECS\")",
                )],
            ),
        ],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn exercise_5_reconnect_both_ways() {
    both_ways(
        5,
        vec![
            (
                "reconnects, but always after the same delay",
                vec![Change::replace(
                    PAGE,
                    "delay = Math.min(delay * 2, 30);",
                    "",
                )],
            ),
            (
                "reconnects, but the Send button keeps the first socket",
                vec![
                    Change::replace(PAGE, "      socket.send(text);", "      first.send(text);"),
                    Change::replace(
                        PAGE,
                        "    connect();\n",
                        "    connect();\n    const first = socket;\n",
                    ),
                ],
            ),
        ],
    )
    .await;
}

/// The runner speaks Korean when asked, and names the same file.
#[tokio::test(flavor = "multi_thread")]
async fn a_miss_is_told_in_korean_too() {
    let exercise = exercise(1);
    let verdict = verdict_on(exercise, "ex1-course-ko", &[], None, Lang::Ko).await;
    let miss = assert_not_yet(exercise, "the course's step, in Korean", verdict, Lang::Ko);
    assert!(
        miss.expected.contains("에 대한 답"),
        "not in Korean: {miss:?}"
    );
}

/// The lines of the course's file that a solution may replace: the ones
/// the exercise itself changes (a signature that gains a parameter, the
/// arm that now also answers). Lines are compared without their indent.
fn replaced_by_the_solution(chapter: u8) -> &'static [&'static str] {
    match chapter {
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
        _ => &[],
    }
}

/// Each reference solution is the course's file with the exercise done:
/// every other line of the course is still there, in order. When a step
/// changes, this fails until its solutions follow.
#[test]
fn every_solution_keeps_the_rest_of_the_course() {
    for exercise in &EXERCISES {
        let chapter = exercise.chapter;
        let allowed = replaced_by_the_solution(chapter);
        for change in solution(chapter) {
            let Change::Write { path, text } = change else {
                unreachable!("solutions are whole files")
            };
            let course = std::fs::read_to_string(workspace_root().join(&path)).unwrap();
            let mut solution_lines = text.lines().map(str::trim);
            let mut used = Vec::new();
            for line in course.lines().map(str::trim) {
                if line.is_empty() {
                    continue;
                }
                if allowed.contains(&line) {
                    used.push(line);
                    continue;
                }
                assert!(
                    solution_lines.any(|kept| kept == line),
                    "exercises/ch{chapter}/{path} lacks the course's line {line:?} (or has it out of \
                     order): the course changed, so the solution must follow (`diff {path} \
                     exercises/ch{chapter}/{path}` shows where)"
                );
            }
            assert_eq!(
                used.len(),
                allowed.len(),
                "exercises/ch{chapter}/{path}: the course no longer has all the lines the solution replaces: {allowed:?}"
            );
        }
    }
}

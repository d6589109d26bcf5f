//! Adding an exercise is one entry in the list, one check function, one
//! solution file and its chapter text, and nothing in the runner: this
//! test does exactly that to a copy of the workspace, builds the copy's
//! xtask, and runs `cargo xtask exercise 7` there against the course's
//! step (not yet) and against the new solution (done, with its diff).
//! Then the coach, `--watch`, on the same copy: not yet, the solution
//! saved, built again and done.
//!
//! Two things only keep the copy apart from the workspace, and are not part
//! of adding an exercise: the copy's xtask package is named `xtask-added`,
//! so that its program does not replace the workspace's own, and the copy
//! builds its steps in a target folder of its own (kept between runs).

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::steps::workspace_root;

/// The new exercise's entry, added at the end of the list.
const ENTRY: &str = r#"    Exercise {
        number: 7,
        chapter: 1,
        package: "step1",
        changes: "step1-ws-only",
        title: (
            "welcome: step 1 sends `Welcome!` right after its greeting",
            "환영 인사: 1단계가 인사 메시지 바로 뒤에 `Welcome!`을 보낸다",
        ),
        hint: (
            "step1-ws-only/src/main.rs, fn talk: after the greeting is sent, send \
             Message::text(\"Welcome!\") the same way",
            "step1-ws-only/src/main.rs의 fn talk에서 인사 메시지를 보낸 다음, 같은 방법으로 \
             Message::text(\"Welcome!\")을 보내세요",
        ),
        check: checks::welcome::check,
        browser: false,
        redis: false,
        solution: "exercises/ch1-welcome",
    },
];
"#;

/// The new check.
const CHECK: &str = r#"//! Exercise 7: after its greeting, step 1 sends `Welcome!`.

use super::{Checked, Judge, Judging};
use crate::exercise::Miss;
use crate::wire::{self, PROMPTLY};

pub fn check(judge: Judge<'_>) -> Judging<'_> {
    Box::pin(welcome(judge))
}

async fn welcome(judge: Judge<'_>) -> Checked {
    let server = judge.start(&[]).await?;
    let mut socket = wire::greeted(server.port, PROMPTLY)
        .await
        .map_err(|error| judge.no_greeting(error))?;
    let wanted = judge.say("the message \"Welcome!\" after the greeting", "인사 뒤에 오는 메시지 \"Welcome!\"");
    match wire::next_message(&mut socket, PROMPTLY).await {
        Ok(message) if message.to_text().ok() == Some("Welcome!") => Ok(judge.say(
            "the greeting, then \"Welcome!\"".to_string(),
            "인사 메시지 다음에 \"Welcome!\"이 왔습니다".to_string(),
        )),
        Ok(other) => Err(Miss::new(wanted, format!("{other:?}"))),
        Err(error) => Err(Miss::new(wanted, judge.error(&error))),
    }
}
"#;

const CHAPTER_EN: &str = "\n## Another exercise\n\nMake step 1 send `Welcome!` right after its greeting. `cargo xtask exercise 7` checks it.\n";
const CHAPTER_KO: &str = "\n## 실습 하나 더\n\n1단계가 인사 메시지 바로 뒤에 `Welcome!`을 보내게 하세요. `cargo xtask exercise 7`이 확인합니다.\n";

const SEND_GREETING: &str = "    if let Err(error) = websocket.send(Message::text(GREETING)).await {\n        return format!(\"greeting failed: {error}\");\n    }\n";

/// Copies what the copy needs: the manifests, xtask, the steps, the
/// solutions and the chapters; no build output, no git.
fn copy_workspace(to: &Path) {
    let root = workspace_root();
    let _ = std::fs::remove_dir_all(to.join("xtask").join("src"));
    for entry in [
        "Cargo.toml",
        "Cargo.lock",
        ".cargo",
        "xtask",
        "step1-ws-only",
        "step2-html-client",
        "step3-combined",
        "step4-many-servers",
        "exercises",
        "docs",
    ] {
        copy_tree(&root.join(entry), &to.join(entry));
    }
}

fn copy_tree(from: &Path, to: &Path) {
    if from.is_dir() {
        if from.file_name().is_some_and(|name| name == "target") {
            return;
        }
        std::fs::create_dir_all(to).unwrap();
        for entry in std::fs::read_dir(from).unwrap() {
            let entry = entry.unwrap();
            copy_tree(&entry.path(), &to.join(entry.file_name()));
        }
    } else {
        let text = std::fs::read(from).unwrap();
        if std::fs::read(to).ok().as_deref() != Some(text.as_slice()) {
            std::fs::create_dir_all(to.parent().unwrap()).unwrap();
            std::fs::write(to, text).unwrap();
        }
    }
}

fn edit(path: &Path, from: &str, to: &str) {
    let text = std::fs::read_to_string(path).unwrap();
    assert!(text.contains(from), "{} lacks {from:?}", path.display());
    std::fs::write(path, text.replacen(from, to, 1)).unwrap();
}

fn append(path: &Path, more: &str) {
    let mut text = std::fs::read_to_string(path).unwrap();
    text.push_str(more);
    std::fs::write(path, text).unwrap();
}

fn chapter(copy: &Path, lang: &str) -> PathBuf {
    let folder = copy.join("docs").join(lang);
    std::fs::read_dir(&folder)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .find(|path| {
            path.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("01-")
        })
        .unwrap()
}

/// Runs the copy's xtask with `args`; its output and whether it passed.
fn run(program: &Path, steps_target: &Path, args: &[&str]) -> (bool, String) {
    let output = Command::new(program)
        .args(args)
        .env("CARGO_TARGET_DIR", steps_target)
        .output()
        .expect("the copy's xtask runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

#[test]
fn an_exercise_is_added_with_an_entry_a_check_a_solution_and_its_chapter_text() {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"));
    let copy = target.join("workspace-copies").join("added-exercise");
    copy_workspace(&copy);

    // Keeping the copy apart (not part of adding an exercise).
    edit(
        &copy.join("xtask/Cargo.toml"),
        "name = \"xtask\"",
        "name = \"xtask-added\"",
    );

    // Adding the exercise: the files it touches.
    let src = copy.join("xtask/src/exercise");
    edit(&src.join("list.rs"), "];\n", ENTRY);
    edit(
        &src.join("checks/mod.rs"),
        "pub mod reconnect;\n",
        "pub mod reconnect;\npub mod welcome;\n",
    );
    std::fs::write(src.join("checks/welcome.rs"), CHECK).unwrap();
    let course = std::fs::read_to_string(copy.join("step1-ws-only/src/main.rs")).unwrap();
    assert!(
        course.contains(SEND_GREETING),
        "step 1 no longer greets as this test expects"
    );
    let solution = course.replacen(
        SEND_GREETING,
        &format!("{SEND_GREETING}    if let Err(error) = websocket.send(Message::text(\"Welcome!\")).await {{\n        return format!(\"welcome failed: {{error}}\");\n    }}\n"),
        1,
    );
    let solution_file = copy.join("exercises/ch1-welcome/step1-ws-only/src/main.rs");
    std::fs::create_dir_all(solution_file.parent().unwrap()).unwrap();
    std::fs::write(&solution_file, &solution).unwrap();
    append(&chapter(&copy, "en"), CHAPTER_EN);
    append(&chapter(&copy, "ko"), CHAPTER_KO);

    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
    let built = Command::new(cargo)
        .args(["build", "--quiet", "--offline", "-p", "xtask-added"])
        .env("CARGO_TARGET_DIR", &target)
        .current_dir(&copy)
        .output()
        .unwrap();
    assert!(
        built.status.success(),
        "the copy's xtask does not build:\n{}",
        String::from_utf8_lossy(&built.stderr)
    );
    let program = target
        .join("debug")
        .join(format!("xtask-added{}", std::env::consts::EXE_SUFFIX));
    let steps_target = target
        .join("workspace-copies")
        .join("added-exercise-target");

    // The range comes from the list: 7 is there, 8 is not.
    let (ok, said) = run(&program, &steps_target, &["exercise", "8", "--lang", "en"]);
    assert!(!ok && said.contains("exercises 1 to 7"), "{said}");

    // The course's step: not yet, with the new hint.
    let (ok, said) = run(&program, &steps_target, &["exercise", "7", "--lang", "en"]);
    assert!(!ok, "{said}");
    assert!(said.contains("Exercise 7 (chapter 1): welcome"), "{said}");
    assert!(
        said.contains("✗ not yet") && said.contains("Message::text(\"Welcome!\")"),
        "{said}"
    );

    // The solution in the copy's step: done, and where the solution is.
    let _ = std::fs::remove_file(steps_target.join("exercise-progress.txt"));
    std::fs::write(copy.join("step1-ws-only/src/main.rs"), &solution).unwrap();
    let (ok, said) = run(&program, &steps_target, &["exercise", "7", "--lang", "ko"]);
    std::fs::write(copy.join("step1-ws-only/src/main.rs"), &course).unwrap();
    assert!(ok, "{said}");
    assert!(
        said.contains("✓ 인사 메시지 다음에 \"Welcome!\"이 왔습니다"),
        "{said}"
    );
    assert!(
        said.contains("git diff --no-index step1-ws-only/src/main.rs exercises/ch1-welcome/step1-ws-only/src/main.rs"),
        "{said}"
    );
    let progress = std::fs::read_to_string(steps_target.join("exercise-progress.txt")).unwrap();
    assert!(
        progress.lines().any(|line| line.starts_with("7 ")),
        "{progress}"
    );

    // The coach: not yet; the solution saved; checked again, built again.
    let course_file = copy.join("step1-ws-only/src/main.rs");
    let watched = watch(&program, &steps_target, || {
        std::fs::write(&course_file, &solution).unwrap();
    });
    std::fs::write(&course_file, &course).unwrap();
    if let Some(said) = watched {
        let not_yet = said.find("✗ not yet").unwrap_or(usize::MAX);
        let done = said.rfind("✓ the greeting, then").unwrap_or(0);
        assert!(
            not_yet < done,
            "the coach did not pass the saved solution:\n{said}"
        );
        let builds = said.matches("Building the steps").count();
        assert_eq!(
            builds, 2,
            "the coach built {builds} times, not once per check:\n{said}"
        );
    }
}

/// Runs `exercise 7 --watch` in a terminal of its own (`script`, which the
/// coach needs, as it takes keys only from a terminal), calls `save` once
/// it has said "not yet", and quits once it has said "✓". Everything it
/// printed; `None` where there is no `script` to give it a terminal.
fn watch(program: &Path, steps_target: &Path, save: impl FnOnce()) -> Option<String> {
    use std::io::{Read, Write};
    use std::sync::{Arc, Mutex};
    use std::time::{Duration, Instant};

    let script = crate::tools::on_path("script")
        .into_iter()
        .find(|path| path.is_file());
    let Some(script) = script else {
        println!("skipped the coach's part: no `script` program to give it a terminal");
        return None;
    };
    let command = format!("{} exercise 7 --watch --lang en", program.display());
    let mut coach = Command::new(script)
        .args(["-qfec", &command, "/dev/null"])
        .env("CARGO_TARGET_DIR", steps_target)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("script starts");
    let said = Arc::new(Mutex::new(String::new()));
    let mut output = coach.stdout.take().unwrap();
    let reader = {
        let said = Arc::clone(&said);
        std::thread::spawn(move || {
            let mut buffer = [0u8; 4096];
            while let Ok(read) = output.read(&mut buffer) {
                if read == 0 {
                    break;
                }
                said.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buffer[..read]));
            }
        })
    };
    let wait_for = |text: &str| {
        let deadline = Instant::now() + Duration::from_secs(180);
        while !said.lock().unwrap().contains(text) {
            let so_far = said.lock().unwrap().clone();
            assert!(
                Instant::now() < deadline,
                "the coach never said {text:?}:\n{so_far}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    wait_for("✗ not yet");
    save();
    wait_for("✓ the greeting, then");
    coach.stdin.as_mut().unwrap().write_all(b"q").unwrap();
    let _ = coach.wait();
    let _ = reader.join();
    let said = said.lock().unwrap().clone();
    Some(said)
}

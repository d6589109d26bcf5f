//! The checks that small, realistic bugs once slipped past, each against
//! a copy of a step with that bug in it: every check must fail, and say
//! what is wrong. One copy of step 1 holds four bugs at once, since each
//! check looks at one thing only, and a copy is built once for all four.

use std::io::Write;
use std::time::Duration;

use super::{ctrl_c_waits, default_port, handshake_forms, memory_per_connection};
use crate::browser::{self, Chromium};
use crate::checks::assert_fails;
use crate::checks::browser::page_default;
use crate::copies::{self, Change};
use crate::steps::{self, Program, Running, workspace_root};
use crate::tools;

/// `from` replaced by `to` in whichever of `package`'s files holds it.
fn bug(package: &str, from: &str, to: &str) -> Change {
    let file = copies::source_file_containing(package, from).unwrap();
    Change::replace(&file, from, to)
}

/// Step 1 with four bugs: the `Connection` header taken as one token, not
/// a list; Ctrl+C that does not wait for the client's close frame; the
/// default port moved; and tungstenite's 128 KiB read buffer.
async fn step1_with_four_bugs() -> Program {
    let changes = [
        bug("step1", ".split(',')", ".split('\\0')"),
        bug(
            "step1",
            "while websocket.next().await.transpose()?.is_some() {}",
            "if false { while websocket.next().await.transpose()?.is_some() {} }",
        ),
        bug(
            "step1",
            "const DEFAULT_PORT: u16 = 8080;",
            "const DEFAULT_PORT: u16 = 3000;",
        ),
        bug(
            "step1",
            "const READ_BUFFER_SIZE: usize = 512;",
            "const READ_BUFFER_SIZE: usize = 128 * 1024;",
        ),
    ];
    copies::build("step1", "four-small-bugs", &changes)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_checks_fail_on_step1_with_four_small_bugs() {
    steps::build().unwrap();
    let program = step1_with_four_bugs().await;

    let server = program.start(&[]).await.unwrap();
    let firefox = &handshake_forms::FORMS[0];
    let request = handshake_forms::request_of(firefox, server.port, "null");
    let result = handshake_forms::upgrades(server.port, firefox.what, &request).await;
    assert_fails(
        result,
        &["expected 101 Switching Protocols, got \"HTTP/1.1 426"],
    );
    // The other forms still pass: each bug is caught by its own check.
    let nginx = &handshake_forms::FORMS[1];
    let request = handshake_forms::request_of(nginx, server.port, "null");
    handshake_forms::upgrades(server.port, nginx.what, &request)
        .await
        .unwrap();

    let (waited, _, _) = ctrl_c_waits::check(&program, false).await;
    assert_fails(waited, &["without waiting for the client's answer"]);

    let default = default_port::tried_by(&program).await;
    assert_fails(default, &["does not try port 8080"]);

    if cfg!(target_os = "linux") {
        let memory = memory_per_connection::per_connection(&server).await;
        assert_fails(memory, &["over the 16 KiB bound"]);
    } else {
        let _ = writeln!(
            std::io::stderr(),
            "skipped the memory part of this test: it reads /proc, which only Linux has"
        );
    }
}

/// Step 3 whose Ctrl+C sleeps through its grace period instead of waiting
/// for the connections to end, so it always waits the whole of it.
#[tokio::test(flavor = "multi_thread")]
async fn the_prompt_exit_check_fails_on_step3_sitting_out_its_grace_period() {
    steps::build().unwrap();
    let changes = [bug(
        "step3",
        "let _ = timeout(GRACE, self.0.closed()).await;",
        "tokio::time::sleep(GRACE).await;",
    )];
    let program = copies::build("step3", "sits-out-grace", &changes)
        .await
        .unwrap();
    let (waited, exited, _) = ctrl_c_waits::check(&program, true).await;
    waited.unwrap();
    assert_fails(exited, &["it sat out its grace period"]);
}

/// Step 2's page with another default port, opened from disk.
#[tokio::test(flavor = "multi_thread")]
async fn the_page_default_check_fails_on_a_page_that_opens_another_port() {
    let Some(program) = tools::require_or_skip("Chromium", browser::find()) else {
        return;
    };
    steps::build().unwrap();
    let page =
        std::fs::read_to_string(workspace_root().join("step2-html-client/index.html")).unwrap();
    let default = "'ws://localhost:8080'";
    assert!(page.contains(default), "the page no longer holds {default}");
    let folder = std::env::temp_dir().join(format!("xtask-page-{}", std::process::id()));
    std::fs::create_dir_all(&folder).unwrap();
    let changed = folder.join("index.html");
    // A port where nothing listens, so that the page reaches no server.
    let free = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let other = format!("'ws://localhost:{free}'");
    std::fs::write(&changed, page.replace(default, &other)).unwrap();

    let step1 = Running::start("step1").await.unwrap();
    let chromium = Chromium::launch_with_default_port_at(&program, Some(step1.port))
        .await
        .unwrap();
    let on_changed = page_default::opened_from(&chromium, &changed, &step1.output).await;
    let _ = std::fs::remove_dir_all(&folder);
    assert_fails(on_changed, &["not \"ws://localhost:8080/\""]);
    page_default::talks_to_step1_by_default(&chromium, &step1.output)
        .await
        .unwrap();
}

/// A browser from `Chromium::launch` keeps its pages off the default port,
/// where a learner's own server may listen.
#[tokio::test(flavor = "multi_thread")]
async fn the_checks_browser_does_not_reach_the_default_port() {
    let Some(program) = tools::require_or_skip("Chromium", browser::find()) else {
        return;
    };
    let chromium = Chromium::launch(&program).await.unwrap();
    let page = workspace_root().join("step2-html-client/index.html");
    let mut page = chromium
        .open(&format!("file://{}", page.display()))
        .await
        .unwrap();
    let refused = page
        .wait_until(Duration::from_secs(10), |seen| {
            seen.console
                .iter()
                .any(|line| line.text.contains(browser::UNREACHABLE_DEFAULT))
        })
        .await;
    assert!(
        refused,
        "the page was not kept off port 8080: {:?}",
        page.seen
    );
}

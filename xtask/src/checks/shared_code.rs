//! The code steps 1 and 3 share by design: the endings of a conversation
//! (`closing.rs`), stopping (`shutdown.rs`), the conversation itself
//! (`fn talk`, the last item of each `main.rs`) and where they listen
//! (`listener.rs`, which differs only in what it prints and in one method
//! step 3 needs). Each step stays a crate of its own, so the code is
//! copied, and these tests keep the copies equal: a fix to one must be
//! made to the other. Step 4 copies step 3's defences the same way.

use crate::steps::workspace_root;

fn read(path: &str) -> String {
    std::fs::read_to_string(workspace_root().join(path))
        .unwrap_or_else(|error| panic!("cannot read {path}: {error}"))
}

/// Panics with the first line that differs.
fn assert_same(step1_path: &str, step1: &str, step3_path: &str, step3: &str) {
    let lines = step1.lines().zip(step3.lines()).enumerate();
    for (index, (one, three)) in lines {
        assert_eq!(
            one,
            three,
            "line {} differs between {step1_path} and {step3_path}: change both",
            index + 1
        );
    }
    assert_eq!(
        step1.lines().count(),
        step3.lines().count(),
        "{step1_path} and {step3_path} differ in length: change both"
    );
}

#[test]
fn closing_and_shutdown_are_the_same_files_in_both_steps() {
    for file in ["closing.rs", "shutdown.rs"] {
        let (one, three) = (
            format!("step1-ws-only/src/{file}"),
            format!("step3-combined/src/{file}"),
        );
        assert_same(&one, &read(&one), &three, &read(&three));
    }
}

#[test]
fn talk_is_the_same_conversation_in_both_steps() {
    let start = "/// The conversation itself";
    let talk = |path: &str| {
        let source = read(path);
        let at = source
            .find(start)
            .unwrap_or_else(|| panic!("{path} has no line starting {start:?}"));
        source[at..].to_string()
    };
    let (one, three) = ("step1-ws-only/src/main.rs", "step3-combined/src/main.rs");
    assert_same(one, &talk(one), three, &talk(three));
}

#[test]
fn the_listener_differs_only_in_what_it_prints_and_one_method() {
    let step1 = read("step1-ws-only/src/listener.rs");
    // What step 3 changes, as (step 1's text, step 3's text).
    let changes = [
        (
            "//! Where the server listens, and what it prints so a learner knows where\n\
             //! to connect.",
            "//! Where the server listens, and what it prints so a learner knows which\n\
             //! address to open.",
        ),
        (
            "impl Listener {\n",
            "impl Listener {\n    \
             /// Whether only this machine can reach us (no `HOST=0.0.0.0`).\n    \
             pub fn is_loopback_only(&self) -> bool {\n        \
             self.sockets\n            \
             .iter()\n            \
             .filter_map(|socket| socket.local_addr().ok())\n            \
             .all(|address| address.ip().is_loopback())\n    \
             }\n\n",
        ),
        (
            "println!(\"ws://{shown_host}:{port}\");",
            "println!(\"http://{shown_host}:{port}/\");",
        ),
        (
            "({reach}). Press Ctrl+C to stop.\",",
            "({reach}). Open the address above in a browser; Ctrl+C stops.\",",
        ),
    ];
    let mut expected = step1;
    for (from, to) in changes {
        assert!(
            expected.contains(from),
            "step1-ws-only/src/listener.rs no longer contains {from:?}: update this test"
        );
        expected = expected.replacen(from, to, 1);
    }
    let step3 = read("step3-combined/src/listener.rs");
    assert_same(
        "step1-ws-only/src/listener.rs (with step 3's changes)",
        &expected,
        "step3-combined/src/listener.rs",
        &step3,
    );
}

/// Step 4 starts from step 3's defences: the endings of a conversation,
/// the HTTP connection, the Origin and Host rules and the refusals are
/// step 3's files unchanged, so a fix to one is made to the other.
#[test]
fn step4_keeps_step3s_defences_as_they_are() {
    for file in ["closing.rs", "connection.rs", "origin.rs", "refusal.rs"] {
        let (three, four) = (
            format!("step3-combined/src/{file}"),
            format!("step4-many-servers/src/{file}"),
        );
        assert_same(&three, &read(&three), &four, &read(&four));
    }
}

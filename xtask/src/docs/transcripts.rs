//! The commands that the walkthroughs show with their output, run for real.
//!
//! Each scenario starts the real step binaries on free ports, does what the
//! chapter describes (a page connects, Ctrl+C is pressed, ...) and returns
//! the lines a learner would see, starting with the `$ command` lines. The
//! port the system picked is shown as 8080, the port the walkthroughs use.

use std::time::Duration;

use anyhow::{Context, bail, ensure};
use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio::time::timeout;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;

use crate::bytes::{self, Ending, Listing};
use crate::checks::GREETING;
use crate::steps::{Output, Program, Running, run_to_end};
use crate::wire;

/// The scenarios a block can name in `<!-- output: NAME -->`, and what each
/// one runs.
pub const SCENARIOS: &[(&str, &str)] = &[
    (
        "step1-session",
        "cargo run -p step1; a page connects and says hello; Ctrl+C",
    ),
    (
        "minimal-session",
        "cargo run -p step1 --example minimal; a page connects and says hello",
    ),
    (
        "step1-curl",
        "curl -i http://localhost:8080/ while step 1 runs",
    ),
    (
        "step1-during-step2",
        "step 1's console while cargo run -p step2 plays the browser",
    ),
    (
        "step2-against-step1",
        "cargo run -p step2 while step 1 runs",
    ),
    (
        "step2-against-step3",
        "cargo run -p step2 while step 3 runs",
    ),
    (
        "step3-session",
        "cargo run -p step3; a browser loads the page, which connects; Ctrl+C",
    ),
    (
        "xtask-bytes",
        "cargo xtask bytes while step 1 runs: the handshake and the first frames, byte by byte",
    ),
    (
        "step1-ping",
        "the lines of cargo xtask bytes that show its masked ping to step 1, and the pong",
    ),
    (
        "step1-close",
        "the lines of cargo xtask bytes --stay-open that show step 1's close frame on Ctrl+C, and the answer",
    ),
    (
        "port-in-use",
        "cargo run -p step1 while step 1 already runs",
    ),
    (
        "step2-no-server",
        "cargo run -p step2 with no server running",
    ),
    (
        "load-step1",
        "cargo xtask load --step 1 --clients 500: what a held connection costs step 1",
    ),
    (
        "load-step4",
        "cargo xtask load --step 4 --listeners 1000: one chat's listeners on two instances",
    ),
    (
        "polling",
        "cargo xtask polling: the same updates by HTTP polling and by a WebSocket",
    ),
    (
        "step4-no-redis",
        "cargo run -p step4 with no Redis listening",
    ),
    (
        "step4-two-instances",
        "instance B's console: two instances share a Redis; bob's page on B chats with alice's on A; Ctrl+C on B",
    ),
];

/// Whether a scenario starts a `redis-server` of its own; without one it
/// is skipped with the line that says how to install it.
pub fn needs_redis(name: &str) -> bool {
    matches!(name, "step4-two-instances" | "load-step4")
}

/// The port every walkthrough shows.
const SHOWN_PORT: u16 = 8080;

/// How long anything (a greeting, a log line, an exit) may take.
const PROMPTLY: Duration = Duration::from_secs(3);

/// A process counts as done printing when it stays quiet this long.
const QUIET: Duration = Duration::from_millis(300);

/// What step 2 may take for its two requests and its round trip.
const STEP2_TIMEOUT: Duration = Duration::from_secs(20);

/// Runs the scenario `name` and returns what a learner would see.
pub async fn run(name: &str) -> anyhow::Result<Vec<String>> {
    let (lines, port) = match name {
        "step1-session" => session("step1").await?,
        "step3-session" => session("step3").await?,
        "minimal-session" => minimal_session().await?,
        "step1-curl" => curl_step1().await?,
        "step1-during-step2" => step2_against("step1")
            .await
            .map(|run| (run.server, run.port))?,
        "step2-against-step1" => step2_against("step1")
            .await
            .map(|run| (run.step2, run.port))?,
        "step2-against-step3" => step2_against("step3")
            .await
            .map(|run| (run.step2, run.port))?,
        "xtask-bytes" => xtask_bytes().await?,
        "step1-ping" => ping().await?,
        "step1-close" => close().await?,
        "port-in-use" => port_in_use().await?,
        "step4-no-redis" => step4_no_redis().await?,
        "step4-two-instances" => step4_two_instances().await?,
        "step2-no-server" => step2_no_server().await?,
        // Measured in this process: no step runs, so there is no port.
        "polling" => return crate::polling::transcript().await,
        // The server's port is shown as it is: the command picks a free one.
        "load-step1" => return crate::load::transcript().await,
        "load-step4" => return crate::load::chat_transcript().await,
        other => bail!("there is no output scenario `{other}`; known: {}", names()),
    };
    Ok(lines.iter().map(|line| show_port(line, port)).collect())
}

pub fn names() -> String {
    let names: Vec<&str> = SCENARIOS.iter().map(|(name, _)| *name).collect();
    names.join(", ")
}

/// A server run by hand: a page connects, says hello, and stays open until
/// Ctrl+C, as a browser tab does. Step 3's page is loaded first.
async fn session(package: &str) -> anyhow::Result<(Vec<String>, u16)> {
    let mut server = Running::start(package).await?;
    let port = server.port;
    settle(&server.output).await;
    if package == "step3" {
        wire::get(port, "/").await?;
        wire::get(port, "/favicon.ico").await?;
    }
    let mut socket = page_says_hello(port, &server.output).await?;

    let before_ctrl_c = server.output.len();
    // The page reads on, which answers the server's close frame.
    let page = tokio::spawn(async move { while let Some(Ok(_)) = socket.next().await {} });
    server.interrupt()?;
    server.exit_status(PROMPTLY).await;
    let _ = timeout(PROMPTLY, page).await;
    settle(&server.output).await;

    let mut lines = server.output.lines();
    lines.insert(before_ctrl_c.min(lines.len()), "^C".to_string());
    Ok((command(&format!("cargo run -p {package}"), lines), port))
}

/// Step 1's first listing run by hand: a page connects and says hello.
async fn minimal_session() -> anyhow::Result<(Vec<String>, u16)> {
    let server = Program::example("minimal").start(&[]).await?;
    let port = server.port;
    page_says_hello(port, &server.output).await?;
    let lines = server.output.lines();
    Ok((command("cargo run -p step1 --example minimal", lines), port))
}

/// What the page does on a server: connects, takes the greeting, says
/// hello, and waits until the server has printed it. Returns the open
/// connection.
async fn page_says_hello(port: u16, server: &Output) -> anyhow::Result<WebSocketStream<TcpStream>> {
    let mut socket = wire::greeted(port, PROMPTLY).await?;
    socket.send(Message::text(GREETING)).await?;
    let received = format!("Received: {GREETING}");
    server.wait_for(0, PROMPTLY, |line| line == received).await;
    settle(server).await;
    Ok(socket)
}

/// What `curl -i` prints for step 1's answer to the request curl sends.
async fn curl_step1() -> anyhow::Result<(Vec<String>, u16)> {
    let server = Running::start("step1").await?;
    let port = server.port;
    let request = format!(
        "GET / HTTP/1.1\r\nHost: localhost:{port}\r\nUser-Agent: curl/8.5.0\r\nAccept: */*\r\n\r\n"
    );
    let answer = wire::exchange(port, request.as_bytes()).await?;
    let answer = String::from_utf8_lossy(&answer);
    let (head, body) = answer.split_once("\r\n\r\n").unwrap_or((&answer, ""));
    let mut lines: Vec<String> = head.split("\r\n").map(str::to_string).collect();
    lines.push(String::new());
    lines.extend(body.lines().map(str::to_string));
    Ok((
        command(&format!("curl -i http://localhost:{port}/"), lines),
        port,
    ))
}

struct Step2Run {
    port: u16,
    /// What `cargo run -p step2` printed.
    step2: Vec<String>,
    /// The server's console, from its start.
    server: Vec<String>,
}

/// `cargo run -p step2` in a second terminal while a server step runs.
async fn step2_against(package: &str) -> anyhow::Result<Step2Run> {
    let server = Running::start(package).await?;
    let port = server.port;
    let port_text = port.to_string();
    let run = run_to_end("step2", &[], &[("PORT", &port_text)], STEP2_TIMEOUT).await?;
    ensure!(
        run.status.success(),
        "step2 exited with {}: {:?}",
        run.status,
        run.output.lines()
    );
    settle(&server.output).await;
    Ok(Step2Run {
        port,
        step2: command("cargo run -p step2", run.output.lines()),
        server: command(&format!("cargo run -p {package}"), server.output.lines()),
    })
}

/// A second copy of step 1 on the port the first one holds.
async fn port_in_use() -> anyhow::Result<(Vec<String>, u16)> {
    let server = Running::start("step1").await?;
    let port = server.port.to_string();
    let run = run_to_end("step1", &[], &[("PORT", &port)], PROMPTLY).await?;
    // The message suggests the next port, which the chapter shows as 8081.
    let next = server.port.wrapping_add(1);
    let shown = [(server.port, SHOWN_PORT), (next, SHOWN_PORT + 1)];
    let printed = command("cargo run -p step1", run.output.lines());
    Ok((show_ports(printed, &shown), server.port))
}

/// Step 2 with nothing listening on its port.
///
/// Step 2 writes its error to standard error and the rest to standard
/// output. A terminal shows both in the order they were written; two
/// pipes read side by side can swap the last lines. So both streams go to
/// one file here, as they go to one terminal.
async fn step2_no_server() -> anyhow::Result<(Vec<String>, u16)> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let printed_to = std::env::temp_dir().join(format!(
        "xtask-step2-no-server-{}-{port}.txt",
        std::process::id()
    ));
    let file = std::fs::File::create(&printed_to)
        .with_context(|| format!("cannot create {}", printed_to.display()))?;
    let mut step2 = tokio::process::Command::new(&Program::of("step2").path);
    step2
        .env_remove("HOST")
        .env("PORT", port.to_string())
        .stdin(std::process::Stdio::null())
        .stdout(file.try_clone()?)
        .stderr(file);
    let status = timeout(STEP2_TIMEOUT, step2.status())
        .await
        .with_context(|| format!("step2 did not finish within {STEP2_TIMEOUT:?}"))??;
    let printed = std::fs::read_to_string(&printed_to);
    let _ = std::fs::remove_file(&printed_to);
    ensure!(
        !status.success(),
        "step 2 with nothing listening ended with {status}, not with a failure"
    );
    let lines = printed?.lines().map(str::to_string).collect();
    Ok((command("cargo run -p step2", lines), port))
}

/// The port Redis listens on unless told otherwise, as the chapter shows it.
const REDIS_SHOWN_PORT: u16 = 6379;

/// `lines` with each actual port shown as the chapter shows it. The
/// scenario then hands `show_port` a port that no longer appears.
fn show_ports(lines: Vec<String>, shown: &[(u16, u16)]) -> Vec<String> {
    lines
        .iter()
        .map(|line| {
            replace_numbers(line, |number| {
                shown
                    .iter()
                    .find(|(actual, _)| actual.to_string() == number)
                    .map(|(_, shown)| shown.to_string())
            })
        })
        .collect()
}

/// Step 4 with nothing listening where `REDIS_URL` points.
async fn step4_no_redis() -> anyhow::Result<(Vec<String>, u16)> {
    crate::many_servers::build_step4().map_err(anyhow::Error::msg)?;
    let nobody = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let url = format!("redis://127.0.0.1:{nobody}");
    let run = run_to_end("step4", &[], &[("REDIS_URL", &url)], PROMPTLY).await?;
    let lines = show_ports(run.output.lines(), &[(nobody, REDIS_SHOWN_PORT)]);
    Ok((command("cargo run -p step4", lines), nobody))
}

/// Two instances on one Redis, as a learner runs them in two terminals:
/// alice's page on A, bob's on B; bob says hello and alice's page gets it;
/// then Ctrl+C on B, whose page is closed with 1001. B's console.
async fn step4_two_instances() -> anyhow::Result<(Vec<String>, u16)> {
    use crate::many_servers::{Redis, find_redis, log_in, open_chat, say, until_chat};

    crate::many_servers::build_step4().map_err(anyhow::Error::msg)?;
    let redis = Redis::start(&find_redis().map_err(anyhow::Error::msg)?).await?;
    let a = crate::many_servers::start_instance(&redis, "A").await?;
    let mut b = crate::many_servers::start_instance(&redis, "B").await?;
    settle(&b.output).await;
    let alice = log_in(a.port, "alice").await?;
    let (mut on_a, _) = open_chat(a.port, &alice, None).await?;
    let bob = log_in(b.port, "bob").await?;
    let (mut on_b, _) = open_chat(b.port, &bob, None).await?;
    say(&mut on_b, "hello from B").await?;
    until_chat(&mut on_a, "hello from B").await?;
    settle(&b.output).await;

    let before_ctrl_c = b.output.len();
    b.interrupt()?;
    // The page reads on, which answers the server's close frame.
    let page = tokio::spawn(async move { while let Some(Ok(_)) = on_b.next().await {} });
    b.exit_status(PROMPTLY).await;
    let _ = timeout(PROMPTLY, page).await;
    settle(&b.output).await;
    let mut lines = b.output.lines();
    lines.insert(before_ctrl_c.min(lines.len()), "^C".to_string());
    let lines = show_ports(
        lines,
        &[
            (a.port, 8081),
            (b.port, 8082),
            (redis.port, REDIS_SHOWN_PORT),
        ],
    );
    Ok((
        command("PORT=8082 INSTANCE=B cargo run -p step4", lines),
        redis.port,
    ))
}

/// `cargo xtask bytes` in a second terminal while step 1 runs.
async fn xtask_bytes() -> anyhow::Result<(Vec<String>, u16)> {
    let (listing, port) = bytes_against_step1().await?;
    Ok((command("cargo xtask bytes", listing.lines), port))
}

/// The ping `cargo xtask bytes` sends, masked as every client frame must
/// be, and the pong step 1 answers with: lines of its output.
async fn ping() -> anyhow::Result<(Vec<String>, u16)> {
    let (listing, port) = bytes_against_step1().await?;
    Ok((listing.lines[listing.ping.clone()].to_vec(), port))
}

/// What `cargo xtask bytes` lists against a step 1 of its own, and the
/// step's port.
async fn bytes_against_step1() -> anyhow::Result<(Listing, u16)> {
    let server = Running::start("step1").await?;
    let mut listing = Listing::default();
    bytes::show(
        &address(server.port),
        Ending::WeClose,
        &mut listing,
        &|_| {},
    )
    .await?;
    Ok((listing, server.port))
}

/// The close frame that `cargo xtask bytes --stay-open` receives when step 1
/// gets Ctrl+C, and the command's answer: lines of its output.
async fn close() -> anyhow::Result<(Vec<String>, u16)> {
    let server = Running::start("step1").await?;
    let listing = bytes::listing_as_the_server_stops(&server).await?;
    Ok((
        listing.lines[listing.server_close.clone()].to_vec(),
        server.port,
    ))
}

/// Where the scenarios' raw connections go: the address a learner uses.
fn address(port: u16) -> String {
    format!("localhost:{port}")
}

/// `$ command`, then what it printed.
fn command(command: &str, printed: Vec<String>) -> Vec<String> {
    std::iter::once(format!("$ {command}"))
        .chain(printed)
        .collect()
}

/// Waits until a process has printed nothing for a moment.
async fn settle(output: &Output) {
    loop {
        let seen = output.len();
        if output.wait_for(seen, QUIET, |_| true).await.is_none() {
            return;
        }
    }
}

/// `line` with the port the system picked shown as 8080.
fn show_port(line: &str, port: u16) -> String {
    replace_numbers(line, |number| {
        (number == port.to_string()).then(|| SHOWN_PORT.to_string())
    })
}

/// `line` with what differs between two runs made equal: the port (and
/// loopback address) a client connects from, durations, and which loopback
/// addresses the server listens on.
pub fn comparable(line: &str) -> String {
    let line = one_loopback(line.trim_end());
    let mut result = String::with_capacity(line.len());
    let mut rest = line.as_str();
    while !rest.is_empty() {
        let client_address = ["127.0.0.1:", "[::1]:"]
            .iter()
            .find_map(|address| rest.strip_prefix(address))
            .map(|after| {
                (
                    after,
                    after.len() - after.trim_start_matches(|c: char| c.is_ascii_digit()).len(),
                )
            })
            .filter(|(after, digits)| *digits > 0 && !is_shown_port(&after[..*digits]));
        if let Some((after, digits)) = client_address {
            result.push_str("<client>");
            rest = &after[digits..];
            continue;
        }
        let mut chars = rest.chars();
        let next = chars.next().unwrap_or_default();
        result.push(next);
        rest = chars.as_str();
    }
    mask_durations(&result)
}

/// A server bound to localhost listens on `127.0.0.1:8080 and [::1]:8080`
/// where the machine has IPv6, and on `127.0.0.1:8080` alone where it has
/// none (many containers, some WSL setups). Like the port, that depends on
/// the machine, so both read as the second.
fn one_loopback(line: &str) -> String {
    let Some((before, after)) = line.split_once(" and [::1]:") else {
        return line.to_string();
    };
    let digits = after.len() - after.trim_start_matches(|c: char| c.is_ascii_digit()).len();
    let port = &after[..digits];
    if !port.is_empty() && before.ends_with(&format!(" 127.0.0.1:{port}")) {
        format!("{before}{}", &after[digits..])
    } else {
        line.to_string()
    }
}

fn is_shown_port(digits: &str) -> bool {
    digits == SHOWN_PORT.to_string() || digits == (SHOWN_PORT + 1).to_string()
}

/// `1.5s`, `250ms`, `10µs` become `<time>`, and measured sizes and shares
/// (`812 B`, `51%`) `<measured>`. The spaces before a figure shrink to one,
/// since right-aligned columns pad a shorter figure with more of them.
fn mask_durations(line: &str) -> String {
    const UNITS: &[(&str, &str)] = &[
        ("ms", "<time>"),
        ("µs", "<time>"),
        ("ns", "<time>"),
        ("s", "<time>"),
        (" B", "<measured>"),
        (" KiB", "<measured>"),
        (" MiB", "<measured>"),
        (" s", "<time>"),
        (" ms", "<time>"),
        (" µs", "<time>"),
        (" a second", "<measured>"),
        ("%", "<measured>"),
    ];
    let mut result = String::with_capacity(line.len());
    let mut rest = line;
    while !rest.is_empty() {
        let starts_number = rest.starts_with(|c: char| c.is_ascii_digit())
            && !result.ends_with(|c: char| c.is_alphanumeric() || c == '.');
        if starts_number {
            let number = rest.len()
                - rest
                    .trim_start_matches(|c: char| c.is_ascii_digit() || c == '.')
                    .len();
            let after = &rest[number..];
            let unit = UNITS.iter().find(|(unit, _)| {
                after
                    .strip_prefix(*unit)
                    .is_some_and(|end| !end.starts_with(char::is_alphanumeric))
            });
            if let Some((unit, placeholder)) = unit {
                if result.ends_with(' ') {
                    result.truncate(result.trim_end_matches(' ').len());
                    result.push(' ');
                }
                result.push_str(placeholder);
                rest = &after[unit.len()..];
            } else {
                result.push_str(&rest[..number]);
                rest = after;
            }
            continue;
        }
        let mut chars = rest.chars();
        result.push(chars.next().unwrap_or_default());
        rest = chars.as_str();
    }
    result
}

/// `line` with each whole number replaced where `replace` says so.
fn replace_numbers(line: &str, replace: impl Fn(&str) -> Option<String>) -> String {
    let mut result = String::with_capacity(line.len());
    let mut rest = line;
    while !rest.is_empty() {
        let digits = rest.len() - rest.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        if digits > 0 {
            let number = &rest[..digits];
            match replace(number) {
                Some(shown) => result.push_str(&shown),
                None => result.push_str(number),
            }
            rest = &rest[digits..];
        } else {
            let mut chars = rest.chars();
            result.push(chars.next().unwrap_or_default());
            rest = chars.as_str();
        }
    }
    result
}

#[cfg(test)]
mod tests {
    use super::comparable;

    #[test]
    fn a_machine_without_ipv6_listens_on_one_loopback_address() {
        let both =
            "Listening on 127.0.0.1:8080 and [::1]:8080 (loopback only). Press Ctrl+C to stop.";
        let ipv4_only = "Listening on 127.0.0.1:8080 (loopback only). Press Ctrl+C to stop.";
        assert_eq!(comparable(both), comparable(ipv4_only));
        assert_eq!(comparable(both), ipv4_only);

        // Other ports, and other addresses, still count.
        let other_port = "Listening on 127.0.0.1:8081 (loopback only). Press Ctrl+C to stop.";
        let everywhere = "Listening on 0.0.0.0:8080 (loopback only). Press Ctrl+C to stop.";
        let mismatched =
            "Listening on 127.0.0.1:8080 and [::1]:8081 (loopback only). Press Ctrl+C to stop.";
        for different in [other_port, everywhere, mismatched] {
            assert_ne!(comparable(both), comparable(different), "{different}");
        }
    }
}

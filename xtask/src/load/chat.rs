//! `cargo xtask load --step 4`: one chat, two instances, thousands of
//! listeners.
//!
//! For each listener count it starts a `redis-server` of its own
//! (append-only, in a temporary directory, on a free port) and two release
//! builds of step 4 pointed at it, A and B. The listeners log in and open
//! the chat, half on each instance; one sender, a page on A, writes
//! numbered chat lines at a steady rate, and every listener notes when
//! each line arrives (`pages`). Then it prints, per count:
//!
//! - the delay from send to arrival at every listener (p50, p99, max), at
//!   `STEADY_RATE`, and what was lost or came twice;
//! - the memory per held connection of each instance (its RSS with every
//!   listener connected, less what it held before the first came);
//! - the rate the chat sustains: the sender doubles its rate from
//!   the steady rate, and a rate counts as sustained while the p99 delay
//!   stays within `GROWTH` times the steady one's (or `GROWTH_FLOOR`
//!   above it, whichever is more), nothing is lost, and the sender keeps
//!   its pace;
//! - for the first count, a page that stops reading among the others:
//!   their p99 with and without it, and the close frame it got.

use std::time::Duration;

use anyhow::Context;
use futures_util::StreamExt;
use futures_util::stream;
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::chat_runs::{
    ARRIVAL_WAIT, Chat, GROWTH, GROWTH_FLOOR, RAMP_END, RAMP_STEP_TIME, STEADY_RATE, STEADY_TIME,
    lost_line, ms, ramp, slow_page,
};
use super::memory::kernel_memory_per_socket;
use super::pages::{self, Arrivals, Ending};
use crate::crowd;
use crate::lang::Lang;
use crate::many_servers::{self, Redis, find_redis};
use crate::steps::{Build, Program};
use crate::wire;

/// The listener counts measured unless `--listeners` says otherwise.
pub const LISTENERS: [usize; 2] = [1000, 5000];

/// How many logins and upgrades are under way at once.
const CONNECTING_AT_ONCE: usize = 128;

/// How many pages open before every page must hear a line.
const OPENING_GROUP: usize = 250;

/// How long every listener may take to hear a line after a group of pages
/// opened: before it, each hears that all of those joined.
const FIRST_LINE_WAIT: Duration = Duration::from_secs(60);

/// How long the instances may take to end after Ctrl+C.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);

/// What to measure.
#[derive(Clone)]
pub struct Options {
    pub listeners: Vec<usize>,
    /// Which build of step 4: the release build, but the debug build for
    /// the tests, which must not build the step twice.
    pub build: Build,
    /// The fastest rate the ramp tries.
    pub ramp_end: u32,
}

impl Options {
    pub fn new(listeners: Vec<usize>) -> Options {
        Options {
            listeners,
            build: Build::Release,
            ramp_end: RAMP_END,
        }
    }

    pub fn most_listeners(&self) -> usize {
        self.listeners.iter().copied().max().unwrap_or_default()
    }
}

/// Why step 4 cannot be loaded here, in the learner's language: `None`
/// where there is a `redis-server` to start.
pub fn cannot_start(lang: Lang) -> Option<String> {
    find_redis().err().map(|hint| {
        lang.pick(
            format!("cargo xtask load --step 4 starts a redis-server of its own, and there is none here: {hint}"),
            "cargo xtask load --step 4 는 redis-server 를 직접 띄워서 재는데, 이 시스템에서 찾지 \
             못했습니다. 설치하거나 (Debian/Ubuntu: `sudo apt-get install -y redis-server`, macOS: \
             `brew install redis`, Windows: WSL 안에서 Debian 과 같이) REDIS_SERVER 에 redis-server \
             프로그램의 경로를 넣으세요"
                .to_string(),
        )
    })
}

/// The report's lines, and whether nothing was lost and every page
/// behaved as it should.
pub struct Measured {
    pub report: Vec<String>,
    pub all_well: bool,
}

/// Runs every count in turn, each with its own Redis and instances;
/// hands each count's lines to `done` as soon as they are known.
pub async fn measure(
    options: &Options,
    progress: &(dyn Fn(&str) + Sync),
    done: &(dyn Fn(&[String]) + Sync),
) -> anyhow::Result<Measured> {
    let built = match options.build {
        Build::Release => " (release build)",
        Build::Debug => " (debug build)",
    };
    let mut report = vec![format!(
        "step4{built}: instances A and B and a redis-server (append-only) on free ports of 127.0.0.1"
    )];
    done(&report);
    let mut all_well = true;
    for (index, &listeners) in options.listeners.iter().enumerate() {
        let with_slow_page = index == 0;
        let measured = measure_one(options, listeners, with_slow_page, progress).await?;
        done(&measured.report);
        report.extend(measured.report);
        all_well &= measured.all_well;
    }
    let last = report.len();
    report.extend([
        format!(
            "sustained: the fastest rate, doubling from {STEADY_RATE} a second for {} s each, whose p99 \
             stays within {GROWTH} times that at {STEADY_RATE} a second (or {} ms above it), nothing lost",
            RAMP_STEP_TIME.as_secs(),
            GROWTH_FLOOR.as_millis()
        ),
        kernel_memory_per_socket(),
    ]);
    done(&report[last..]);
    Ok(Measured { report, all_well })
}

async fn measure_one(
    options: &Options,
    listeners: usize,
    with_slow_page: bool,
    progress: &(dyn Fn(&str) + Sync),
) -> anyhow::Result<Measured> {
    let redis = Redis::start(&find_redis().map_err(anyhow::Error::msg)?).await?;
    let url = redis.url();
    let program = Program::of_build("step4", options.build);
    let (env_a, env_b) = (
        [("REDIS_URL", url.as_str()), ("INSTANCE", "A")],
        [("REDIS_URL", url.as_str()), ("INSTANCE", "B")],
    );
    let (a, b) = tokio::try_join!(program.start(&env_a), program.start(&env_b))
        .context("step 4 did not start")?;
    let pids = [
        a.pid().context("instance A has ended")?,
        b.pid().context("instance B has ended")?,
    ];
    let at_start = [
        crowd::resident_memory_kib(pids[0])?,
        crowd::resident_memory_kib(pids[1])?,
    ];

    let token = many_servers::log_in(a.port, "sender").await?;
    // Without Nagle's algorithm, as browsers open their connections: each
    // line goes out when it is sent, not once the last one is acknowledged.
    let stream = TcpStream::connect(("127.0.0.1", a.port)).await?;
    stream.set_nodelay(true)?;
    let (sender, _) = many_servers::open_chat_over(stream, a.port, &token, None).await?;
    let (sender, mut echoes) = sender.split();
    // The sender is a page too: it reads what comes, or it would be the
    // slow one.
    let draining = tokio::spawn(async move { while let Some(Ok(_)) = echoes.next().await {} });

    let ports = [a.port, b.port];
    let mut chat = Chat {
        instances: [a, b],
        _redis: redis,
        sender,
        next_line: 0,
        arrivals: Arrivals::new(),
        listening: 0,
    };
    let (leave, told_to_leave) = watch::channel(false);
    let mut reading = JoinSet::new();
    let mut failures = Vec::new();
    let mut all_well = true;
    let started = Instant::now();
    // The memory after the first group, for what each page after it costs.
    let mut after_first_group = None;
    // A group at a time, each heard by every page before the next: each
    // page that joins is news to every page already there, and a crowd
    // that all joined at once would measure how fast this one thread reads
    // that news, not what the held connections cost.
    for group in (0..listeners).collect::<Vec<_>>().chunks(OPENING_GROUP) {
        let opened = open_pages(ports, group, progress).await;
        for (&number, page) in group.iter().zip(opened) {
            match page {
                Ok(socket) => {
                    reading.spawn(pages::listen(
                        socket,
                        number as u32,
                        chat.arrivals.clone(),
                        told_to_leave.clone(),
                    ));
                    chat.listening += 1;
                }
                Err(error) => failures.push(format!("listener {number}: {error:#}")),
            }
        }
        progress(&format!(
            "{listeners} listeners: {} open, waiting until each has heard the others join",
            chat.listening
        ));
        let heard = chat.send(1, 1, 0, FIRST_LINE_WAIT, progress).await?;
        all_well &= heard.lost == 0 && heard.twice == 0;
        if after_first_group.is_none() {
            after_first_group = Some((
                chat.listening,
                [
                    crowd::resident_memory_kib(pids[0])?,
                    crowd::resident_memory_kib(pids[1])?,
                ],
            ));
        }
    }
    let opening_time = started.elapsed();
    all_well &= failures.is_empty();
    let mut report = vec![
        format!(
            "{listeners} listeners, {} on each instance; one sender on A",
            listeners / 2
        ),
        format!(
            "  pages opened:           {} of {listeners} in {:.2} s, {OPENING_GROUP} at a time",
            chat.listening,
            opening_time.as_secs_f64()
        ),
    ];

    // Every page has heard every join: all is quiet, and the memory is
    // what the held connections cost. The first figure is all the instance
    // grew by, which includes what the allocator keeps from the moments
    // when many pages connected at once; the second is what each page
    // past the first group added, where those moments were already paid.
    let holding = [
        crowd::resident_memory_kib(pids[0])?,
        crowd::resident_memory_kib(pids[1])?,
    ];
    let held_on =
        |instance: usize, pages: usize| pages / 2 + usize::from(instance == 0 && pages % 2 == 1);
    let per_connection = |instance: usize| {
        let grown = holding[instance].saturating_sub(at_start[instance]) as f64;
        format!(
            "{:.1} KiB",
            grown / held_on(instance, listeners).max(1) as f64
        )
    };
    report.push(format!(
        "  memory per connection:  A {}, B {} (RSS, with all {listeners} held open)",
        per_connection(0),
        per_connection(1)
    ));
    if let Some((first, at_first)) = after_first_group.filter(|(first, _)| *first < listeners) {
        let each_more = |instance: usize| {
            let grown = holding[instance].saturating_sub(at_first[instance]) as f64;
            let more = held_on(instance, listeners) - held_on(instance, first);
            format!("{:.1} KiB", grown / more.max(1) as f64)
        };
        report.push(format!(
            "  {:<24}A {}, B {} (RSS, from {first} held open to {listeners})",
            format!("each page after {first}:"),
            each_more(0),
            each_more(1)
        ));
    }

    let lines = STEADY_RATE * STEADY_TIME.as_secs() as u32;
    progress(&format!(
        "{listeners} listeners: {STEADY_RATE} lines a second"
    ));
    let steady = chat
        .send(STEADY_RATE, lines, 0, ARRIVAL_WAIT, progress)
        .await?;
    report.extend([
        format!(
            "  {:<23} p50 {}, p99 {}, max {}, from send to arrival at each listener",
            format!("{STEADY_RATE} a second for {} s:", STEADY_TIME.as_secs()),
            ms(steady.percentile(50)),
            ms(steady.p99()),
            ms(steady.max())
        ),
        lost_line("lost:", &steady),
    ]);
    all_well &= steady.lost == 0 && steady.twice == 0;

    if with_slow_page {
        let (lines, well) = slow_page(&mut chat, progress).await?;
        report.extend(lines);
        all_well &= well;
    }

    let (line, _) = ramp(&mut chat, &steady, options.ramp_end, progress).await?;
    report.push(line);

    progress(&format!("{listeners} listeners: leaving"));
    leave.send_replace(true);
    let mut endings = Vec::new();
    while let Some(ending) = reading.join_next().await {
        endings.push(ending.unwrap_or_else(|error| Ending::Broken(error.to_string())));
    }
    let left = endings
        .iter()
        .filter(|ending| **ending == Ending::Left)
        .count();
    report.push(format!(
        "  left politely:          {left} of {}",
        endings.len()
    ));
    all_well &= left == endings.len();
    failures.extend(
        endings
            .iter()
            .filter(|ending| **ending != Ending::Left)
            .map(|ending| format!("a listener ended: {ending:?}")),
    );
    drop(chat.sender);
    draining.abort();

    let mut serving = Vec::new();
    for (name, instance) in ["A", "B"].iter().zip(&chat.instances) {
        let health = wire::get(instance.port, "/healthz").await;
        if health.is_ok_and(|answer| answer.status == 200) {
            serving.push(*name);
        }
    }
    report.push(format!(
        "  serving on after:       {} (GET /healthz 200)",
        if serving.len() == 2 {
            "A and B".to_string()
        } else {
            format!("only {serving:?}")
        }
    ));
    all_well &= serving.len() == 2;
    for failure in failures.iter().take(5) {
        report.push(format!("  failure: {failure}"));
    }
    for instance in &mut chat.instances {
        let _ = instance.interrupt();
        instance.exit_status(STOP_TIMEOUT).await;
    }
    Ok(Measured { report, all_well })
}

/// Logs the pages `numbers` in and opens their chats, each on instance A
/// or B by its number, a few at a time; in the order they were asked for.
async fn open_pages(
    ports: [u16; 2],
    numbers: &[usize],
    progress: &(dyn Fn(&str) + Sync),
) -> Vec<anyhow::Result<wire::RawSocket>> {
    let mut opening = stream::iter(numbers.iter().copied())
        .map(|number| async move {
            let port = ports[number % 2];
            let token = many_servers::log_in(port, &format!("listener{number}")).await?;
            pages::open_page(port, &token, None).await
        })
        .buffered(CONNECTING_AT_ONCE);
    let mut opened = Vec::with_capacity(numbers.len());
    while let Some(page) = opening.next().await {
        opened.push(page);
    }
    progress(&format!(
        "opened listeners up to {}",
        numbers.last().map_or(0, |last| last + 1)
    ));
    opened
}

/// What chapter 6 shows: `cargo xtask load --step 4 --listeners 1000`,
/// run for real, without the progress lines. Returns the lines.
///
/// Like chapter 4's, this runs in the docs check with the debug build's
/// clients, which are slower than the command's: the figures are not
/// compared, and the chapter keeps those of a run of the command itself.
pub async fn transcript(options: Options) -> anyhow::Result<Vec<String>> {
    let measured = measure(&options, &|_| {}, &|_| {}).await?;
    let counts: Vec<String> = options.listeners.iter().map(usize::to_string).collect();
    let mut lines = vec![format!(
        "$ cargo xtask load --step 4 --listeners {}",
        counts.join(",")
    )];
    lines.extend(measured.report);
    Ok(lines)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `cargo xtask load --step 4` at a small count, on the debug build:
    /// every page opens, hears every line once, the page that stops
    /// reading is closed with 1008 and its reason, every page leaves
    /// politely, and both instances serve on. The figures are not checked.
    #[tokio::test(flavor = "multi_thread")]
    async fn the_load_of_step_4_runs_end_to_end_and_loses_nothing() {
        if crate::tools::require_or_skip("redis-server", find_redis()).is_none() {
            return;
        }
        if let Err(why) = many_servers::build_step4() {
            panic!("{why}");
        }
        let options = Options {
            listeners: vec![40],
            build: Build::Debug,
            ramp_end: 40,
        };
        let measured = measure(&options, &|_| {}, &|_| {}).await.unwrap();
        let report = measured.report.join("\n");
        println!("{report}");
        assert!(measured.all_well, "{report}");
        for expected in [
            "  pages opened:           40 of 40 in ",
            "  lost:                   0 of 1200 deliveries, 0 twice",
            "    the slow page:        closed with 1008 too slow: 256 messages were waiting unread",
            "    lost without it:      0 of 20000 deliveries, 0 twice",
            "    lost with it:         0 of 20000 deliveries, 0 twice",
            "  left politely:          40 of 40",
            "  serving on after:       A and B (GET /healthz 200)",
        ] {
            assert!(
                measured
                    .report
                    .iter()
                    .any(|line| line.starts_with(expected)),
                "no line {expected:?} in\n{report}"
            );
        }
    }
}

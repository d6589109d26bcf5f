//! Runs of numbered lines through step 4's chat, for `cargo xtask load
//! --step 4` (see `chat`): the sender keeps a rate, every listener notes
//! each line's arrival, and a run says what the delays were and what was
//! lost; on top of them, the ramp of rates and the page that stops reading.

use std::time::Duration;

use anyhow::Context;
use futures_util::SinkExt;
use futures_util::stream::SplitSink;
use serde_json::json;
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::time::{Instant, sleep, sleep_until};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;

use super::pages::{self, Arrivals, Heard};
use crate::many_servers::{self, Redis};
use crate::steps::Running;

/// The steady rate, in lines a second, and for how long it is kept.
pub const STEADY_RATE: u32 = 10;
pub const STEADY_TIME: Duration = Duration::from_secs(3);

/// The ramp: from the steady rate, which counts as sustained when nothing
/// was lost at it, the rate doubles at each step up to `RAMP_END`, each
/// kept for `RAMP_STEP_TIME`.
pub const RAMP_END: u32 = 2560;
pub const RAMP_STEP_TIME: Duration = Duration::from_secs(2);

/// A rate is sustained while its p99 is at most `GROWTH` times the steady
/// one's, or at most `GROWTH_FLOOR` above it: a delay of a millisecond
/// or two doubles with any hiccup of a busy machine.
pub const GROWTH: f64 = 2.0;
pub const GROWTH_FLOOR: Duration = Duration::from_millis(10);

/// The page that stops reading: the lines of its two runs, without and
/// with it, how long each line is, and at what rate they go. Long lines
/// fill the system's buffers for it, and 256 wait unread, within a few
/// hundred.
const SLOW_RATE: u32 = 50;
const SLOW_LINES: u32 = 500;
const SLOW_LINE_LENGTH: usize = 1000;

/// The slow page's receive buffer: a small one, so that the system holds
/// little for it and messages wait for it at the instance sooner.
const SLOW_RECEIVE_BUFFER: u32 = 4096;

/// The goal for the others' p99 with the slow page among them.
const SLOW_GOAL_PERCENT: f64 = 120.0;

/// How long the last line of a run may take to reach every listener.
pub const ARRIVAL_WAIT: Duration = Duration::from_secs(10);

/// The two instances, Redis, and the pages of one count.
pub struct Chat {
    pub instances: [Running; 2],
    /// Kept until the end: dropping it stops Redis.
    pub _redis: Redis,
    pub sender: SplitSink<WebSocketStream<TcpStream>, Message>,
    /// The next line's number: unique over the whole count.
    pub next_line: u32,
    pub arrivals: Arrivals,
    /// How many pages read and should hear every line.
    pub listening: usize,
}

/// What one run of lines gave.
pub struct Run {
    /// Every delay in microseconds, shortest first.
    pub delays: Vec<u32>,
    pub expected: usize,
    pub lost: usize,
    pub twice: usize,
    /// Whether the sender kept the rate it was asked for.
    pub kept_pace: bool,
}

impl Run {
    pub fn percentile(&self, percent: usize) -> Duration {
        let last = self.delays.len().saturating_sub(1);
        let micros = self
            .delays
            .get((self.delays.len() * percent / 100).min(last));
        Duration::from_micros(micros.copied().unwrap_or_default().into())
    }

    pub fn p99(&self) -> Duration {
        self.percentile(99)
    }

    pub fn max(&self) -> Duration {
        Duration::from_micros(self.delays.last().copied().unwrap_or_default().into())
    }
}

pub fn ms(delay: Duration) -> String {
    format!("{:.1} ms", delay.as_secs_f64() * 1000.0)
}

impl Chat {
    /// Sends `lines` numbered lines at `rate` a second, each `length`
    /// characters, and waits until every listening page has heard each
    /// one, or `wait` after the last.
    pub async fn send(
        &mut self,
        rate: u32,
        lines: u32,
        length: usize,
        wait: Duration,
        progress: &(dyn Fn(&str) + Sync),
    ) -> anyhow::Result<Run> {
        self.arrivals.take();
        let first = self.next_line;
        self.next_line += lines;
        let period = Duration::from_secs_f64(1.0 / f64::from(rate));
        let mut sent_at = Vec::with_capacity(lines as usize);
        let start = Instant::now();
        for index in 0..lines {
            sleep_until(start + period * index).await;
            let number = first + index;
            let line = json!({
                "type": "chat",
                "text": pages::line_text(number, length),
                "client_id": format!("load-{number}"),
            });
            sent_at.push(self.arrivals.now());
            self.sender
                .send(Message::text(line.to_string()))
                .await
                .context("the sender's page was closed")?;
        }
        let took = start.elapsed();
        let kept_pace =
            took <= period * lines.saturating_sub(1) * 11 / 10 + Duration::from_millis(20);

        let expected = self.listening * lines as usize;
        let deadline = Instant::now() + wait;
        while self.arrivals.count() < expected && Instant::now() < deadline {
            sleep(Duration::from_millis(20)).await;
            progress(&format!(
                "at {rate} a second: {} of {expected} arrived",
                self.arrivals.count()
            ));
        }
        let mut heard: Vec<Heard> = self
            .arrivals
            .take()
            .into_iter()
            .filter(|heard| (first..first + lines).contains(&heard.line))
            .collect();
        heard.sort_unstable_by_key(|heard| (heard.line, heard.page));
        let all = heard.len();
        heard.dedup_by_key(|heard| (heard.line, heard.page));
        let delays = {
            let mut delays: Vec<u32> = heard
                .iter()
                .map(|heard| {
                    heard
                        .at
                        .saturating_sub(sent_at[(heard.line - first) as usize])
                })
                .collect();
            delays.sort_unstable();
            delays
        };
        Ok(Run {
            expected,
            lost: expected.saturating_sub(heard.len()),
            twice: all - heard.len(),
            delays,
            kept_pace,
        })
    }
}

pub fn lost_line(label: &str, run: &Run) -> String {
    format!(
        "  {label:<23} {} of {} deliveries, {} twice",
        run.lost, run.expected, run.twice
    )
}

/// Doubles the rate from the steady rate until the delay grows; the line
/// that says how far it got, and the fastest sustained rate.
pub async fn ramp(
    chat: &mut Chat,
    steady: &Run,
    ramp_end: u32,
    progress: &(dyn Fn(&str) + Sync),
) -> anyhow::Result<(String, Option<u32>)> {
    let bound = steady
        .p99()
        .mul_f64(GROWTH)
        .max(steady.p99() + GROWTH_FLOOR);
    let mut sustained = (steady.lost == 0 && steady.twice == 0).then_some(STEADY_RATE);
    let mut rate = STEADY_RATE * 2;
    let grew = loop {
        let lines = (rate as f64 * RAMP_STEP_TIME.as_secs_f64()) as u32;
        let run = chat.send(rate, lines, 0, ARRIVAL_WAIT, progress).await?;
        let held = run.lost == 0 && run.twice == 0 && run.kept_pace && run.p99() <= bound;
        if !held {
            break Some((rate, run));
        }
        sustained = Some(rate);
        if rate * 2 > ramp_end {
            break None;
        }
        rate *= 2;
    };
    let listeners = chat.listening;
    let reached = match sustained {
        Some(rate) => format!("{rate} a second to all {listeners} listeners"),
        None => format!("0 a second to all {listeners} listeners"),
    };
    let beyond = match grew {
        Some((rate, run)) if !run.kept_pace => {
            format!("at {rate} a second the sender fell behind")
        }
        Some((rate, run)) if run.lost > 0 || run.twice > 0 => format!(
            "at {rate} a second {} of {} deliveries were lost, {} twice",
            run.lost, run.expected, run.twice
        ),
        Some((rate, run)) => format!("at {rate} a second the p99 was {}", ms(run.p99())),
        None => format!("the ramp ends at {ramp_end} a second"),
    };
    Ok((
        format!("  sustained:              {reached} ({beyond})"),
        sustained,
    ))
}

/// The page that stops reading, among the others: a run of long lines
/// without it, then the same with it; its close frame; and whether all
/// went as it should.
pub async fn slow_page(
    chat: &mut Chat,
    progress: &(dyn Fn(&str) + Sync),
) -> anyhow::Result<(Vec<String>, bool)> {
    let others = chat.listening;
    // A first run of long lines, not measured: the connections' buffers
    // grow to them here, not in the run without the slow page.
    progress(&format!("{others} listeners: long lines, to warm up"));
    chat.send(
        SLOW_RATE,
        SLOW_RATE,
        SLOW_LINE_LENGTH,
        ARRIVAL_WAIT,
        progress,
    )
    .await?;
    progress(&format!(
        "{others} listeners, no slow page: {SLOW_LINES} long lines"
    ));
    let without = chat
        .send(
            SLOW_RATE,
            SLOW_LINES,
            SLOW_LINE_LENGTH,
            ARRIVAL_WAIT,
            progress,
        )
        .await?;

    let a = &chat.instances[0];
    let token = many_servers::log_in(a.port, "slow").await?;
    let socket = pages::open_page(a.port, &token, Some(SLOW_RECEIVE_BUFFER)).await?;
    let (read_again, told_to_read) = watch::channel(false);
    let slow = tokio::spawn(pages::stop_reading(socket, told_to_read));
    // As soon as A gives up on the page, it reads again, so that the close
    // frame reaches it within the instance's wait.
    let output = a.output.clone();
    let from = output.len();
    let watching = tokio::spawn(async move {
        let line = output
            .wait_for(from, Duration::from_secs(600), |line| {
                line.starts_with("Too slow: slow's page")
            })
            .await;
        read_again.send_replace(true);
        line
    });

    progress(&format!(
        "{others} listeners and a slow page: {SLOW_LINES} long lines"
    ));
    let with = chat
        .send(
            SLOW_RATE,
            SLOW_LINES,
            SLOW_LINE_LENGTH,
            ARRIVAL_WAIT,
            progress,
        )
        .await?;
    let noticed = watching.is_finished();
    watching.abort();
    let closed = if noticed {
        slow.await.context("the slow page's task failed")?
    } else {
        slow.abort();
        Err(anyhow::anyhow!(
            "not closed within {SLOW_LINES} lines of {SLOW_LINE_LENGTH} characters"
        ))
    };
    let ratio = with.p99().as_secs_f64() / without.p99().as_secs_f64().max(1e-9) * 100.0;
    let (closed_line, closed_well) = match &closed {
        Ok((code, reason)) => (format!("{code} {reason}"), *code == 1008),
        Err(error) => (format!("{error:#}"), false),
    };
    let lines = vec![
        format!(
            "  a page that stops reading, among {others}, {SLOW_LINES} lines of {SLOW_LINE_LENGTH} characters at {SLOW_RATE} a second:"
        ),
        format!(
            "    the others' p99:      {} without it, {} with it, {ratio:.0}% (goal: at most {SLOW_GOAL_PERCENT:.0}%)",
            ms(without.p99()),
            ms(with.p99())
        ),
        format!("    the slow page:        closed with {closed_line}"),
        lost_line("  lost without it:", &without),
        lost_line("  lost with it:", &with),
    ];
    let well = closed_well
        && [&without, &with]
            .iter()
            .all(|run| run.lost == 0 && run.twice == 0);
    Ok((lines, well))
}

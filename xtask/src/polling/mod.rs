//! `cargo xtask polling`: chapter 0's comparison of polling and WebSocket,
//! measured instead of claimed.
//!
//! One stream of updates (30 of them, 100 ms apart on average) goes at the
//! same time to five clients, each of which receives it in its own way: HTTP
//! polling every 1 s, every 250 ms and every 50 ms, long polling, and a
//! WebSocket. Servers and clients all live in this process, but they talk
//! over real TCP connections on loopback, on ports the system picks.
//!
//! Every socket is wrapped in [`Counted`], which counts the bytes that are
//! really read from it and written to it. The figures printed are therefore
//! what crossed each connection in both directions, HTTP headers and
//! WebSocket framing included (TCP and IP add their own packet headers on
//! top, which no program sees). The client's counts are checked against the
//! server's at the end: both ends of a connection must agree.
//!
//! For each way it prints the bytes per update, how many polls came back
//! empty, and the delay from an update being produced to its client having
//! it: the median and the worst.
//!
//! - `counted`: the socket wrapper that counts bytes;
//! - `servers`: the updates and the two servers that hand them out;
//! - `clients`: the five clients, which play the browser.

mod clients;
mod counted;
mod servers;
#[cfg(test)]
mod tests;

use std::io::Write;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, bail, ensure};
use tokio::task::JoinSet;
use tokio::time::{Instant, timeout};

pub use clients::Way;
use clients::*;
use servers::*;

impl Way {
    fn label(self) -> String {
        match self {
            Way::Polling(interval) => format!("polling every {}", duration(interval)),
            Way::LongPolling => "long polling".to_string(),
            Way::WebSocket => "WebSocket".to_string(),
        }
    }
}

/// What to measure: how many updates, how far apart on average, and which
/// ways.
pub struct Plan {
    pub updates: usize,
    pub every: Duration,
    pub ways: Vec<Way>,
}

impl Plan {
    /// The run `cargo xtask polling` makes and chapter 0 shows: about 3 s.
    pub fn standard() -> Plan {
        Plan {
            updates: 30,
            every: Duration::from_millis(100),
            ways: vec![
                Way::Polling(Duration::from_secs(1)),
                Way::Polling(Duration::from_millis(250)),
                Way::Polling(Duration::from_millis(50)),
                Way::LongPolling,
                Way::WebSocket,
            ],
        }
    }

    /// When each update is produced, counted from the start: at irregular
    /// moments, as real news comes, `every` apart on average (each gap is
    /// between a fifth of it and 1.8 times it). Strictly regular updates
    /// would line up with the polls: a poll every 50 ms would always ask
    /// just after an update, and its delay would show that accident of
    /// timing rather than the interval. The gaps come from a fixed
    /// pseudo-random sequence (xorshift), so every run sends the same
    /// stream.
    fn moments(&self) -> Vec<Duration> {
        let mut state: u32 = 2_463_534_242;
        let mut at = Duration::ZERO;
        (0..self.updates)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 17;
                state ^= state << 5;
                let share = 0.2 + 1.6 * (f64::from(state) / f64::from(u32::MAX));
                at += self.every.mul_f64(share);
                at
            })
            .collect()
    }

    /// How long the whole run may take before it counts as stuck: the
    /// stream itself, one slowest poll after it, and plenty of slack for a
    /// busy machine.
    fn deadline(&self) -> Duration {
        let slowest_poll = self
            .ways
            .iter()
            .map(|way| match way {
                Way::Polling(interval) => *interval,
                _ => Duration::ZERO,
            })
            .max()
            .unwrap_or_default();
        let last_update = self.moments().last().copied().unwrap_or_default();
        last_update + slowest_poll + Duration::from_secs(10)
    }
}

/// What one way of delivering the updates cost.
#[derive(Clone, Debug)]
pub struct Measured {
    pub way: Way,
    /// Bytes both ends wrote before the first update could flow: the
    /// WebSocket's opening handshake. Zero for polling.
    pub setup_bytes: u64,
    /// Bytes both ends wrote from then until the last update arrived.
    pub stream_bytes: u64,
    /// HTTP answers received, and how many of them carried no update.
    /// Both zero for the WebSocket, which has no answers.
    pub answers: usize,
    pub empty_answers: usize,
    /// For each update, from its production to its arrival, sorted.
    pub delays: Vec<Duration>,
}

impl Measured {
    pub fn bytes_per_update(&self) -> f64 {
        self.stream_bytes as f64 / self.delays.len().max(1) as f64
    }

    pub fn median_delay(&self) -> Duration {
        self.delays
            .get(self.delays.len() / 2)
            .copied()
            .unwrap_or_default()
    }

    pub fn worst_delay(&self) -> Duration {
        self.delays.last().copied().unwrap_or_default()
    }
}

/// `cargo xtask polling`.
pub fn run(args: &[String]) -> anyhow::Result<ExitCode> {
    if let Some(extra) = args.first() {
        bail!("`cargo xtask polling` takes no options, not `{extra}`: run it as it is");
    }
    let plan = Plan::standard();
    let runtime = tokio::runtime::Runtime::new()?;
    let measured = runtime.block_on(measure(&plan, show_progress));
    // Wipe the progress line, so that the table (or an error) starts on a
    // clean line.
    print!("\r{:70}\r", "");
    let _ = std::io::stdout().flush();
    for line in report(&plan, &measured?) {
        println!("{line}");
    }
    Ok(ExitCode::SUCCESS)
}

fn show_progress(sent: usize, of: usize) {
    if sent < of {
        print!("\rmeasuring: update {sent} of {of} sent");
    } else {
        print!("\rmeasuring: all {of} updates sent, waiting for the slowest poll");
    }
    let _ = std::io::stdout().flush();
}

/// What chapter 0 shows: the command and its table.
pub async fn transcript() -> anyhow::Result<Vec<String>> {
    let plan = Plan::standard();
    let measured = measure(&plan, |_, _| {}).await?;
    let mut lines = vec!["$ cargo xtask polling".to_string()];
    lines.extend(report(&plan, &measured));
    Ok(lines)
}

/// The table a learner reads: one row per way, figures right-aligned.
pub fn report(plan: &Plan, measured: &[Measured]) -> Vec<String> {
    let mut lines = vec![
        format!(
            "{} updates, {} apart on average, sent to {} clients at once over loopback TCP:",
            plan.updates,
            duration(plan.every),
            measured.len()
        ),
        String::new(),
        format!(
            "{:<20}  {:>16}  {:>13}  {:>12}  {:>11}",
            "", "bytes per update", "empty answers", "delay median", "delay worst"
        ),
    ];
    for result in measured {
        let empty = match result.way {
            Way::WebSocket => "-".to_string(),
            _ => format!(
                "{:.0}%",
                100.0 * result.empty_answers as f64 / result.answers.max(1) as f64
            ),
        };
        lines.push(format!(
            "{:<20}  {:>16}  {:>13}  {:>12}  {:>11}",
            result.way.label(),
            format!("{:.0} B", result.bytes_per_update()),
            empty,
            duration(result.median_delay()),
            duration(result.worst_delay()),
        ));
    }
    lines.push(String::new());
    lines.push(
        "bytes per update: what both ends wrote on the connection, headers included, divided by the updates"
            .to_string(),
    );
    lines.push("delay: from an update being produced to its client having it".to_string());
    for result in measured.iter().filter(|result| result.setup_bytes > 0) {
        lines.push(format!(
            "The {} also wrote {} B once, for its opening handshake.",
            result.way.label(),
            result.setup_bytes
        ));
    }
    lines
}

/// `1s`, `250ms`, `12ms`, `0.4ms`: whole milliseconds unless it is short.
fn duration(duration: Duration) -> String {
    let millis = duration.as_secs_f64() * 1000.0;
    if millis >= 1000.0 && duration.subsec_nanos() == 0 {
        format!("{}s", duration.as_secs())
    } else if millis >= 10.0 {
        format!("{millis:.0}ms")
    } else {
        format!("{millis:.1}ms")
    }
}

/// Runs the plan: starts both servers, connects one client per way, then
/// produces the updates and waits until every client has all of them.
/// `progress` hears (updates sent, updates planned) after each update.
pub async fn measure(
    plan: &Plan,
    progress: impl Fn(usize, usize),
) -> anyhow::Result<Vec<Measured>> {
    let feed = Arc::new(Feed::new());
    let mut servers = JoinSet::new();
    let server_ends = Arc::new(Mutex::new(Vec::new()));
    let http_port = listen(&mut servers, &feed, &server_ends, Protocol::Http).await?;
    let websocket_port = listen(&mut servers, &feed, &server_ends, Protocol::WebSocket).await?;

    // Every client is connected (and the WebSocket handshake done) before
    // the first update, so that no way starts late.
    let mut receiving = Vec::new();
    for &way in &plan.ways {
        let cannot_connect = || format!("{}: cannot connect to the server", way.label());
        let client = match way {
            Way::WebSocket => {
                let socket = connect_websocket(websocket_port, http_port)
                    .await
                    .with_context(cannot_connect)?;
                tokio::spawn(receive_frames(socket, plan.updates))
            }
            Way::Polling(_) | Way::LongPolling => {
                let connection = connect_http(http_port).await.with_context(cannot_connect)?;
                tokio::spawn(receive_answers(connection, way, plan.updates, http_port))
            }
        };
        receiving.push(client);
    }

    let deadline = plan.deadline();
    let producing = async {
        progress(0, plan.updates);
        let start = Instant::now();
        for (number, moment) in (1..).zip(plan.moments()) {
            tokio::time::sleep_until(start + moment).await;
            feed.publish(number);
            progress(number, plan.updates);
        }
    };
    let all_received = async {
        producing.await;
        let mut received = Vec::new();
        for client in receiving {
            received.push(client.await);
        }
        received
    };
    let received = timeout(deadline, all_received).await.with_context(|| {
        format!(
            "the clients did not get all {} updates within {deadline:?}; is the machine very \
             busy? Run it again when it is quieter",
            plan.updates
        )
    })?;

    let produced = feed.produced_at();
    let mut measured = Vec::new();
    for (&way, outcome) in plan.ways.iter().zip(received) {
        let done = outcome
            .context("a client stopped unexpectedly")?
            .with_context(|| way.label())?;
        ensure_ends_agree(way, &done, &server_ends)?;
        let mut delays: Vec<Duration> = done
            .arrivals
            .iter()
            .map(|(number, arrived)| arrived.duration_since(produced[number - 1]))
            .collect();
        delays.sort();
        measured.push(Measured {
            way,
            setup_bytes: done.setup_bytes,
            stream_bytes: done.counts.total() - done.setup_bytes,
            answers: done.answers,
            empty_answers: done.empty_answers,
            delays,
        });
    }
    servers.abort_all();
    Ok(measured)
}

/// The client and the server of one connection must have counted the same
/// bytes, each one's writes being the other's reads. A counter that missed
/// or invented bytes shows up here.
fn ensure_ends_agree(way: Way, client: &Received, server_ends: &ServerEnds) -> anyhow::Result<()> {
    let server_ends = server_ends
        .lock()
        .expect("no thread panics holding the list");
    let server = server_ends
        .iter()
        .find(|(ends, _)| *ends == client.ends)
        .map(|(_, counts)| counts)
        .with_context(|| format!("{}: the server never saw this client", way.label()))?;
    let (client_read, client_written) = client.counts.snapshot();
    let (server_read, server_written) = server.snapshot();
    ensure!(
        client_written == server_read && server_written == client_read,
        "{}: the two ends counted different bytes (client wrote {client_written}, server read \
         {server_read}; server wrote {server_written}, client read {client_read}), so the \
         counting is wrong",
        way.label()
    );
    Ok(())
}

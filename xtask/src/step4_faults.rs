//! Step 4 under faults: four pages keep typing while an instance, Redis
//! or nginx goes away and comes back, and afterwards every page shows the
//! same log in the same order, every line once, and every line typed is
//! in it or was shown to its sender as not sent.
//!
//! Each test runs its own Redis (append-only), two instances and nginx
//! with the step's file, on free ports of 127.0.0.1. The pages are
//! WebSocket clients that do what the page's script does: they name each
//! line, keep it until the server answers `sent`, and send what they keep
//! again after a reconnect, on `resumed`, and a while after `not_sent`.
//! They also treat the first answer to every tenth line as lost, as when
//! an instance dies between writing a line and answering, and send that
//! line again: the server must then answer with the entry of the first
//! copy, not write a second.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::task::JoinHandle;
use tokio::time::{Instant, sleep, timeout};
use tokio_tungstenite::tungstenite::Message;

use crate::many_servers::Socket;
use crate::step4::{self, Balancer, Redis};
use crate::steps::{Program, Running, Stop};
use crate::tools;

/// How many pages type at once, through nginx, so half on each instance.
const PAGES: usize = 4;

/// Each page types a line this often: 5 a second.
const TYPING_EVERY: Duration = Duration::from_millis(200);

/// How long the pages type before the fault, and after the recovery.
const TYPING_AROUND: Duration = Duration::from_millis(1500);

/// How long what failed stays away before it is started again.
const AWAY: Duration = Duration::from_secs(2);

/// A page sends a line again this long after `not_sent`, or after it
/// took the line's answer as lost.
const RESEND_AFTER: Duration = Duration::from_secs(1);

/// A page whose connection failed tries again after this.
const RECONNECT_AFTER: Duration = Duration::from_millis(200);

/// Every tenth line's first answer is taken as lost.
const ANSWER_LOST_EVERY: u64 = 10;

/// How long the pages may take to agree once typing stops.
const SETTLES: Duration = Duration::from_secs(30);

/// Who reads the whole log from Redis at the end, to compare.
const CHECKER: &str = "checker";

/// The most a whole fault test may take.
const WHOLE_TEST: Duration = Duration::from_secs(120);

/// One entry of the log as a page was shown it.
#[derive(Clone, PartialEq, Debug)]
struct Entry {
    id: String,
    kind: String,
    who: String,
    text: String,
}

/// What a page saw and did, read by the test as the page goes.
#[derive(Default)]
struct Record {
    /// Every entry shown, in order: its history's, then the live ones.
    log: Vec<Entry>,
    /// Lines typed, numbered from 1.
    typed: u64,
    /// Lines kept because no `sent` came yet, by number.
    unsent: BTreeMap<u64, String>,
    /// Lines the page was told were not sent (it kept them).
    shown_not_sent: BTreeSet<u64>,
    /// The entry id of each answered line, to compare with a second answer.
    answered: HashMap<u64, String>,
    /// Lines whose first answer the page takes as lost, and when to resend.
    answer_lost: BTreeMap<u64, Instant>,
    /// What was wrong: a second answer naming another entry, an error.
    wrong: Vec<String>,
    /// The instance of each connection, in order.
    instances: Vec<String>,
    paused: usize,
    resumed: usize,
    resent: usize,
}

/// A page that types until `typing` goes false and stops at `done`.
struct Page {
    name: String,
    record: Arc<Mutex<Record>>,
    task: JoinHandle<()>,
}

/// Redis, two instances, nginx in front, and the pages typing.
struct Scene {
    started: Instant,
    redis: Redis,
    redis_program: PathBuf,
    a: Running,
    b: Running,
    /// Stopped before `balancer`, which deletes the files it reads.
    nginx: NginxMaster,
    balancer: Balancer,
    pages: Vec<Page>,
    typing: Arc<AtomicBool>,
    done: Arc<AtomicBool>,
}

impl Scene {
    /// Everything started and the pages typing; `None` when redis-server
    /// or nginx is missing and the test is skipped.
    async fn start() -> Option<Scene> {
        let nginx = tools::require_or_skip("nginx", step4::find_nginx())?;
        let redis = step4::redis_for_test().await?;
        let started = Instant::now();
        let (a, b) = tokio::join!(step4::instance(&redis, "A"), step4::instance(&redis, "B"));
        let mut balancer = Balancer::start(&nginx, [a.port, b.port]).await.unwrap();
        let nginx = NginxMaster::start(&mut balancer, &nginx).await.unwrap();
        let typing = Arc::new(AtomicBool::new(true));
        let done = Arc::new(AtomicBool::new(false));
        let mut pages = Vec::new();
        for number in 0..PAGES {
            let name = format!("page{number}");
            let record = Arc::new(Mutex::new(Record::default()));
            let task = tokio::spawn(type_lines(
                balancer.port,
                name.clone(),
                Arc::clone(&record),
                Arc::clone(&typing),
                Arc::clone(&done),
            ));
            pages.push(Page { name, record, task });
            // One at a time, so that nginx hands them to A and B in turn.
            let deadline = Instant::now() + step4::ARRIVES;
            while pages[number].record.lock().unwrap().instances.is_empty() {
                assert!(
                    Instant::now() < deadline,
                    "{} did not connect",
                    pages[number].name
                );
                sleep(Duration::from_millis(20)).await;
            }
        }
        let scene = Scene {
            started,
            redis,
            redis_program: step4::find_redis().unwrap(),
            a,
            b,
            nginx,
            balancer,
            pages,
            typing,
            done,
        };
        Some(scene)
    }

    /// Stops instance B with `how` and starts it again on its port.
    async fn restart_b(&mut self, how: Stop) {
        let port = self.b.port;
        self.b.stop(how).unwrap();
        self.b.exit_status(step4::ARRIVES).await.unwrap();
        sleep(AWAY).await;
        let url = self.redis.url();
        self.b = Program::of("step4")
            .start(&[
                ("REDIS_URL", &url),
                ("INSTANCE", "B"),
                ("PORT", &port.to_string()),
            ])
            .await
            .unwrap();
    }

    /// Stops Redis with `how`, keeping its files, and starts it again on
    /// its port from its append-only file.
    async fn restart_redis(&mut self, how: Stop) {
        stop_keeping_files(&mut self.redis, how).await;
        sleep(AWAY).await;
        self.redis = Redis::start_on(&self.redis_program, self.redis.port)
            .await
            .unwrap();
        // Written the moment Redis is back, before the instances' followers
        // try again: as a third instance's page would. A follower that
        // resumed from the newest entry instead of its last would skip it.
        let line = [
            "XADD",
            "chat",
            "*",
            "kind",
            "chat",
            "name",
            "elsewhere",
            "text",
            "hi",
        ];
        let mut command = format!("*{}\r\n", line.len());
        for part in line {
            command += &format!("${}\r\n{part}\r\n", part.len());
        }
        command += "QUIT\r\n";
        let answer = crate::wire::exchange(self.redis.port, command.as_bytes())
            .await
            .unwrap();
        assert!(answer.starts_with(b"$"), "XADD got {answer:?}");
    }

    /// nginx reads its files again (SIGHUP), as `nginx -s reload` asks.
    async fn reload_nginx(&mut self) {
        let pid = self.nginx.child.id().unwrap().to_string();
        let status = std::process::Command::new("kill")
            .args(["-HUP", &pid])
            .status();
        assert!(status.unwrap().success(), "kill -HUP {pid} failed");
        sleep(AWAY).await;
        // New connections go through the reloaded nginx too.
        step4::log_in(self.balancer.port, "after-reload")
            .await
            .unwrap();
    }

    /// Types a while longer, stops typing, waits until every page has
    /// its lines answered and all show the same log, then checks it all.
    async fn finish(self, fault: &str) {
        sleep(TYPING_AROUND).await;
        self.typing.store(false, Ordering::Relaxed);
        let typing_ended = Instant::now();
        let deadline = typing_ended + SETTLES;
        let mut agreed_twice = 0;
        while agreed_twice < 2 && Instant::now() < deadline {
            sleep(Duration::from_millis(250)).await;
            let records: Vec<_> = self
                .pages
                .iter()
                .map(|page| page.record.lock().unwrap())
                .collect();
            let logs_agree = records
                .windows(2)
                .all(|pair| ids(&pair[0].log) == ids(&pair[1].log));
            let all_answered = records
                .iter()
                .all(|record| record.unsent.is_empty() && record.answer_lost.is_empty());
            agreed_twice = if logs_agree && all_answered {
                agreed_twice + 1
            } else {
                0
            };
        }
        let settled = typing_ended.elapsed();
        // The whole log as Redis holds it: a new page's history from the start.
        let token = step4::log_in(self.a.port, CHECKER).await.unwrap();
        let (_checker, history) = step4::open_chat(self.a.port, &token, Some("0-0"))
            .await
            .unwrap();
        let stream_ids: Vec<String> = history["entries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|entry| entry["id"].as_str().unwrap_or("").to_string())
            .collect();
        self.done.store(true, Ordering::Relaxed);
        let first_log = self.pages[0].record.lock().unwrap().log.clone();
        let first_ids = ids(&first_log);
        let same = first_ids
            .iter()
            .zip(&stream_ids)
            .take_while(|(page, redis)| **page == redis.as_str())
            .count();
        assert!(
            same == first_ids.len() && same == stream_ids.len(),
            "after {fault}, page0's log ({} entries) is not the log Redis holds ({}) from entry \
             {same} on: {:?} against {:?}",
            first_ids.len(),
            stream_ids.len(),
            &first_ids[same..],
            &stream_ids[same..]
        );
        for page in &self.pages {
            let (problems, instances) = {
                let record = page.record.lock().unwrap();
                (
                    check(&page.name, &record, &first_log),
                    record.instances.clone(),
                )
            };
            // Not under the lock: the page tasks go on until they see `done`.
            assert!(
                problems.is_empty(),
                "after {fault}, {}:\n{}\n(instances {:?}; A printed {:?}; B printed {:?})",
                page.name,
                problems.join("\n"),
                instances,
                self.a.output.last(10),
                self.b.output.last(10),
            );
        }
        let chat_lines = first_log
            .iter()
            .filter(|entry| entry.kind == "chat")
            .count();
        let (mut typed, mut not_sent, mut paused, mut resent, mut connections) = (0, 0, 0, 0, 0);
        for page in &self.pages {
            let record = page.record.lock().unwrap();
            typed += record.typed;
            not_sent += record.shown_not_sent.len();
            paused += record.paused;
            resent += record.resent;
            connections += record.instances.len();
        }
        println!(
            "{fault}: {typed} lines typed by {PAGES} pages, {chat_lines} in every page's log once \
             and in the same order; {not_sent} shown as not sent for a while and sent again, \
             {resent} sent again, {paused} paused notices, {connections} connections; \
             the logs agreed {:.1} s after typing stopped; {:.1} s in all",
            settled.as_secs_f64(),
            self.started.elapsed().as_secs_f64()
        );
        for page in self.pages {
            let _ = timeout(step4::ARRIVES, page.task).await;
        }
    }
}

/// Stops `redis` with `how` (SIGTERM or SIGKILL) and waits for its exit;
/// its files stay for the next Redis on its port, which replaces it.
async fn stop_keeping_files(redis: &mut Redis, how: Stop) {
    let signal = match how {
        Stop::Kill => "-KILL",
        _ => "-TERM",
    };
    let pid = redis.child.id().unwrap().to_string();
    let killed = std::process::Command::new("kill")
        .args([signal, &pid])
        .status();
    assert!(killed.unwrap().success(), "kill {signal} {pid} failed");
    timeout(step4::ARRIVES, redis.child.wait())
        .await
        .expect("redis-server did not exit")
        .unwrap();
    // Dropping it now deletes nothing.
    redis.dir = PathBuf::new();
}

/// The ids of a page's log, without the checker's comings and goings.
/// nginx as it runs in production, a master process and a worker, from
/// the balancer's files. (The balancer's runner starts nginx as a single
/// process, which serves no new connection after a reload.)
struct NginxMaster {
    child: tokio::process::Child,
}

impl NginxMaster {
    async fn start(balancer: &mut Balancer, program: &std::path::Path) -> anyhow::Result<Self> {
        balancer.child.start_kill()?;
        balancer.child.wait().await?;
        let config = balancer.dir.join("nginx.conf");
        let text = std::fs::read_to_string(&config)?;
        anyhow::ensure!(text.contains("master_process off;"), "{text}");
        let text = text.replace(
            "master_process off;",
            "master_process on;\nworker_processes 1;",
        );
        std::fs::write(&config, text)?;
        let mut command = tokio::process::Command::new(program);
        command
            .args(["-e", "stderr", "-p"])
            .arg(&balancer.dir)
            .arg("-c")
            .arg(&config);
        let (child, _, _) = crate::steps::spawn(command)?;
        let deadline = Instant::now() + step4::ARRIVES;
        while tokio::net::TcpStream::connect(("127.0.0.1", balancer.port))
            .await
            .is_err()
        {
            anyhow::ensure!(
                Instant::now() < deadline,
                "nginx with a master did not listen"
            );
            sleep(Duration::from_millis(50)).await;
        }
        Ok(NginxMaster { child })
    }
}

impl Drop for NginxMaster {
    /// SIGTERM, so that the master stops its worker too (SIGKILL would
    /// leave the worker running).
    fn drop(&mut self) {
        if let Some(pid) = self.child.id() {
            let _ = std::process::Command::new("kill")
                .args(["-TERM", &pid.to_string()])
                .status();
        }
        let deadline = std::time::Instant::now() + Duration::from_secs(3);
        while matches!(self.child.try_wait(), Ok(None)) && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

fn ids(log: &[Entry]) -> Vec<&str> {
    log.iter()
        .filter(|entry| entry.who != CHECKER)
        .map(|entry| entry.id.as_str())
        .collect()
}

/// What is wrong with a page's record, compared with the first page's log.
fn check(name: &str, record: &Record, first_log: &[Entry]) -> Vec<String> {
    let mut problems = record.wrong.clone();
    if ids(&record.log) != ids(first_log) {
        let same = record
            .log
            .iter()
            .zip(first_log)
            .take_while(|(mine, theirs)| mine.id == theirs.id)
            .count();
        problems.push(format!(
            "its log ({} entries) differs from page0's ({}) from entry {same} on: {:?} against {:?}",
            record.log.len(),
            first_log.len(),
            record.log.get(same),
            first_log.get(same)
        ));
    }
    for pair in record.log.windows(2) {
        if step4_id(&pair[1].id) <= step4_id(&pair[0].id) {
            problems.push(format!(
                "{} came after {}, out of order or twice",
                pair[1].id, pair[0].id
            ));
            break;
        }
    }
    let mut times_in_log: HashMap<u64, usize> = HashMap::new();
    for entry in &record.log {
        if entry.kind != "chat" || entry.who != name {
            continue;
        }
        match number_of(name, &entry.text) {
            Some(number) if number >= 1 && number <= record.typed => {
                *times_in_log.entry(number).or_default() += 1
            }
            _ => problems.push(format!("a line it never typed is in the log: {entry:?}")),
        }
    }
    for number in 1..=record.typed {
        match times_in_log.get(&number).copied().unwrap_or(0) {
            1 if record.unsent.contains_key(&number) => problems.push(format!(
                "its line {number} is in the log, but the page still keeps it as not sent"
            )),
            1 => {}
            0 if record.unsent.contains_key(&number) && record.shown_not_sent.contains(&number) => {
            }
            0 => problems.push(format!(
                "its line {number} is not in the log and was never shown as not sent: lost silently"
            )),
            times => problems.push(format!("its line {number} is in the log {times} times")),
        }
    }
    problems
}

/// `1733050000000-0` as two numbers, for comparing.
fn step4_id(id: &str) -> (u64, u64) {
    let (millis, counter) = id.split_once('-').unwrap_or(("0", "0"));
    (millis.parse().unwrap_or(0), counter.parse().unwrap_or(0))
}

/// The text of line `number` typed by `name`, and back.
fn line_text(name: &str, number: u64) -> String {
    format!("{name} says line {number}")
}

fn number_of(name: &str, text: &str) -> Option<u64> {
    text.strip_prefix(&format!("{name} says line "))?
        .parse()
        .ok()
}

/// The page's own id for its line `number`, and back.
fn client_id(name: &str, number: u64) -> String {
    format!("{name}-{number}")
}

fn number_of_client_id(name: &str, id: &str) -> Option<u64> {
    id.strip_prefix(name)?.strip_prefix('-')?.parse().ok()
}

/// Sends line `number` as the page's script does.
async fn send_line(socket: &mut Socket, name: &str, number: u64, text: &str) -> bool {
    let line = json!({"type": "chat", "text": text, "client_id": client_id(name, number)});
    socket.send(Message::text(line.to_string())).await.is_ok()
}

/// Sends every kept line again, oldest first.
async fn send_kept(socket: &mut Socket, name: &str, record: &Mutex<Record>) {
    let kept: Vec<(u64, String)> = {
        let mut record = record.lock().unwrap();
        record.resent += record.unsent.len();
        record
            .unsent
            .iter()
            .map(|(number, text)| (*number, text.clone()))
            .collect()
    };
    for (number, text) in kept {
        if !send_line(socket, name, number, &text).await {
            return;
        }
    }
}

/// One page: logs in through nginx, then connects, types, reconnects
/// after every failure with `?after=` the last id it showed, until `done`.
async fn type_lines(
    port: u16,
    name: String,
    record: Arc<Mutex<Record>>,
    typing: Arc<AtomicBool>,
    done: Arc<AtomicBool>,
) {
    let token = loop {
        match step4::log_in(port, &name).await {
            Ok(token) => break token,
            Err(_) => sleep(RECONNECT_AFTER).await,
        }
    };
    // From the stream's start, so that every page's log is the whole log.
    let mut after = "0-0".to_string();
    while !done.load(Ordering::Relaxed) {
        let Ok((mut socket, history)) = step4::open_chat(port, &token, Some(&after)).await else {
            sleep(RECONNECT_AFTER).await;
            continue;
        };
        {
            let mut record = record.lock().unwrap();
            record
                .instances
                .push(history["instance"].as_str().unwrap_or("?").to_string());
            for entry in history["entries"].as_array().into_iter().flatten() {
                shown(&name, &mut record, entry, &mut after);
            }
        }
        send_kept(&mut socket, &name, &record).await;
        let mut paused = false;
        let mut resend_at: Option<Instant> = None;
        let mut tick = tokio::time::interval(TYPING_EVERY);
        loop {
            tokio::select! {
                _ = tick.tick() => {
                    if done.load(Ordering::Relaxed) {
                        let _ = socket.close(None).await;
                        return;
                    }
                    if typing.load(Ordering::Relaxed) {
                        let (number, text) = {
                            let mut record = record.lock().unwrap();
                            record.typed += 1;
                            let number = record.typed;
                            record.unsent.insert(number, line_text(&name, number));
                            (number, line_text(&name, number))
                        };
                        if !paused && !send_line(&mut socket, &name, number, &text).await {
                            break;
                        }
                    }
                    let lost_due = {
                        let mut record = record.lock().unwrap();
                        let now = Instant::now();
                        let due: Vec<u64> = record.answer_lost.iter()
                            .filter(|(_, at)| **at <= now).map(|(number, _)| *number).collect();
                        for number in &due {
                            record.answer_lost.remove(number);
                        }
                        !due.is_empty()
                    };
                    let not_sent_due = resend_at.is_some_and(|at| at <= Instant::now());
                    if !paused && (lost_due || not_sent_due) {
                        resend_at = None;
                        send_kept(&mut socket, &name, &record).await;
                    }
                }
                message = socket.next() => {
                    let message = match message {
                        Some(Ok(Message::Text(text))) => text,
                        Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                        Some(Ok(_)) => continue,
                    };
                    let Ok(message) = serde_json::from_str::<Value>(&message) else {
                        continue;
                    };
                    let mut record = record.lock().unwrap();
                    match message["type"].as_str().unwrap_or("") {
                        "sent" => answered(&name, &mut record, &message),
                        "not_sent" => {
                            if let Some(number) = message["client_id"].as_str()
                                .and_then(|id| number_of_client_id(&name, id)) {
                                record.shown_not_sent.insert(number);
                            }
                            resend_at = Some(Instant::now() + RESEND_AFTER);
                        }
                        "paused" => {
                            paused = true;
                            record.paused += 1;
                        }
                        "resumed" => {
                            paused = false;
                            record.resumed += 1;
                            // Sent on the next tick, outside this lock.
                            resend_at = Some(Instant::now());
                        }
                        "error" => record.wrong.push(format!("an error: {message}")),
                        _ => shown(&name, &mut record, &message, &mut after),
                    }
                }
            }
        }
        sleep(RECONNECT_AFTER).await;
    }
}

/// A `sent`: the line leaves the kept ones, unless its answer is the one
/// taken as lost; a second answer must name the first one's entry.
fn answered(name: &str, record: &mut Record, message: &Value) {
    let (Some(number), Some(id)) = (
        message["client_id"]
            .as_str()
            .and_then(|id| number_of_client_id(name, id)),
        message["id"].as_str(),
    ) else {
        record
            .wrong
            .push(format!("a sent without client_id or id: {message}"));
        return;
    };
    match record.answered.get(&number) {
        Some(first) if first != id => record.wrong.push(format!(
            "line {number} was answered as entry {first}, then as entry {id}: written twice"
        )),
        Some(_) => {
            record.unsent.remove(&number);
        }
        None => {
            record.answered.insert(number, id.to_string());
            if number % ANSWER_LOST_EVERY == 0 {
                record
                    .answer_lost
                    .insert(number, Instant::now() + RESEND_AFTER);
            } else {
                record.unsent.remove(&number);
            }
        }
    }
}

/// An entry of the log, shown: it joins the page's log.
fn shown(_name: &str, record: &mut Record, entry: &Value, after: &mut String) {
    let text = |field: &str| entry[field].as_str().unwrap_or("").to_string();
    let Some(id) = entry["id"].as_str() else {
        record
            .wrong
            .push(format!("a message we do not know: {entry}"));
        return;
    };
    let who = if entry["type"] == "chat" {
        text("author")
    } else {
        text("name")
    };
    record.log.push(Entry {
        id: id.to_string(),
        kind: text("type"),
        who,
        text: text("text"),
    });
    *after = id.to_string();
}

async fn run(fault: &str, test: impl AsyncFnOnce(&mut Scene)) {
    let whole = async {
        let Some(mut scene) = Scene::start().await else {
            return;
        };
        sleep(TYPING_AROUND).await;
        test(&mut scene).await;
        scene.finish(fault).await;
    };
    timeout(WHOLE_TEST, whole)
        .await
        .unwrap_or_else(|_| panic!("{fault}: the test took longer than {WHOLE_TEST:?}"));
}

/// SIGTERM to instance B, which half the pages are on; B starts again.
#[tokio::test(flavor = "multi_thread")]
async fn sigterm_to_an_instance_loses_and_doubles_no_line() {
    run("SIGTERM to instance B, started again", async |scene| {
        scene.restart_b(Stop::Terminate).await
    })
    .await;
}

/// SIGKILL to instance B: no goodbye, its pages see the connection end.
#[tokio::test(flavor = "multi_thread")]
async fn sigkill_to_an_instance_loses_and_doubles_no_line() {
    run("SIGKILL to instance B, started again", async |scene| {
        scene.restart_b(Stop::Kill).await
    })
    .await;
}

/// Redis stopped with SIGTERM while both instances run, then started again.
#[tokio::test(flavor = "multi_thread")]
async fn redis_restarted_after_sigterm_loses_and_doubles_no_line() {
    run("Redis stopped with SIGTERM, started again", async |scene| {
        scene.restart_redis(Stop::Terminate).await
    })
    .await;
}

/// Redis killed (SIGKILL) while both instances run, then started again.
#[tokio::test(flavor = "multi_thread")]
async fn redis_restarted_after_sigkill_loses_and_doubles_no_line() {
    run("Redis killed with SIGKILL, started again", async |scene| {
        scene.restart_redis(Stop::Kill).await
    })
    .await;
}

/// nginx reloaded while the pages type through it.
#[tokio::test(flavor = "multi_thread")]
async fn nginx_reloaded_loses_and_doubles_no_line() {
    run("nginx reloaded", async |scene| scene.reload_nginx().await).await;
}

/// The page itself, in headless Chromium, while Redis is killed: it stays
/// connected and says the chat is paused (and `/healthz` says 503); a line
/// typed meanwhile waits on the page as not yet sent; when Redis is back
/// the page says the chat resumed and the line is in the log, once.
#[tokio::test(flavor = "multi_thread")]
async fn the_page_says_paused_keeps_a_line_and_sends_it_once_redis_is_back() {
    let Some(chromium) = tools::require_or_skip("Chromium", crate::browser::find()) else {
        return;
    };
    let Some(mut redis) = step4::redis_for_test().await else {
        return;
    };
    let started = Instant::now();
    let (chromium, a) = tokio::join!(
        crate::browser::Chromium::launch(&chromium),
        step4::instance(&redis, "A")
    );
    let chromium = chromium.unwrap();
    let page = chromium
        .open(&format!("http://localhost:{}/", a.port))
        .await
        .unwrap();
    step4::wait_for_text(&page, "#name", |_| true)
        .await
        .unwrap();
    page.type_into("#name", "alice").await.unwrap();
    page.click("#login button").await.unwrap();
    step4::wait_for_text(&page, "#state", |text| {
        text == "Connected to instance A as alice"
    })
    .await
    .unwrap();
    page.type_into("#text", "before Redis went").await.unwrap();
    page.click("#send button").await.unwrap();
    step4::wait_for_text(&page, "#log li", |text| text == "alice: before Redis went")
        .await
        .unwrap();

    stop_keeping_files(&mut redis, Stop::Kill).await;
    let paused = step4::wait_for_text(&page, "#state", |text| text.starts_with("Chat paused"))
        .await
        .unwrap();
    println!("the page, Redis killed: {paused}");
    let health = crate::wire::get(a.port, "/healthz").await.unwrap();
    assert_eq!(health.status, 503, "{}", health.status_line);
    page.type_into("#text", "typed while paused").await.unwrap();
    page.click("#send button").await.unwrap();
    let waiting = step4::wait_for_text(&page, "#unsent li", |text| {
        text.contains("typed while paused")
    })
    .await
    .unwrap();
    println!("the line typed meanwhile: {waiting}");

    let program = step4::find_redis().unwrap();
    let _redis = Redis::start_on(&program, redis.port).await.unwrap();
    let resumed = step4::wait_for_text(&page, "#state", |text| text.contains("resumed"))
        .await
        .unwrap();
    println!("the page, Redis back: {resumed}");
    step4::wait_for_text(&page, "#log li", |text| text == "alice: typed while paused")
        .await
        .unwrap();
    let deadline = Instant::now() + step4::ARRIVES;
    while !page.texts("#unsent li").await.unwrap().is_empty() {
        assert!(
            Instant::now() < deadline,
            "the page still keeps {:?}",
            page.texts("#unsent li").await.unwrap()
        );
        sleep(Duration::from_millis(100)).await;
    }
    let log = page.texts("#log li").await.unwrap();
    for line in ["alice: before Redis went", "alice: typed while paused"] {
        let times = log.iter().filter(|text| *text == line).count();
        assert_eq!(times, 1, "{line:?} is on the page {times} times: {log:?}");
    }
    println!(
        "Chromium page through a Redis kill: {:.1} s in all",
        started.elapsed().as_secs_f64()
    );
}

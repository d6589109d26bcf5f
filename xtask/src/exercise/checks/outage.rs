//! What exercise 5 measures an outage with: the page's own stamps on the
//! lines it lists, and a stand-in on the step's port that notes each try
//! to reconnect while the step is down.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio::time::{Instant, timeout};

use super::Judge;
use crate::browser::Page;
use crate::exercise::Miss;

/// The delay a line `Reconnecting in 2 s` announces, in seconds.
pub fn announced_delay(line: &str) -> Option<f64> {
    let rest = line.strip_prefix("Reconnecting in ")?;
    let number: String = rest
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '.')
        .collect();
    number.parse().ok()
}

/// The page, with each line it lists stamped by the page itself with the
/// moment it was added (milliseconds since 1970, the clock the tries are
/// stamped with too): a busy browser may tell the check late, but the
/// stamps stay right.
pub struct Watched {
    pub page: Page,
    pub lines: Vec<(SystemTime, String)>,
}

/// Notes each line added to the page's list, with `Date.now()`, without
/// changing what the page does.
pub const STAMP_LINES: &str = "(() => { window.stampedLines = []; \
    new MutationObserver(records => { for (const record of records) \
    for (const node of record.addedNodes) window.stampedLines.push([Date.now(), node.textContent]); }) \
    .observe(document.getElementById('log'), { childList: true }); return true; })()";

impl Watched {
    pub async fn new(judge: Judge<'_>, page: Page) -> Result<Watched, Miss> {
        page.evaluate(STAMP_LINES).await.map_err(|error| {
            Miss::new(
                judge.say(
                    "the course's page, with its list #log",
                    "#log 목록이 있는 강의의 페이지",
                ),
                judge.error(&error),
            )
        })?;
        Ok(Watched {
            page,
            lines: Vec::new(),
        })
    }

    /// Reads the stamped lines until `done` holds for them, for at most
    /// until `deadline`. Returns whether it held.
    pub async fn until(
        &mut self,
        deadline: Instant,
        done: impl Fn(&[(SystemTime, String)]) -> bool,
    ) -> bool {
        loop {
            if let Ok(value) = self.page.evaluate("window.stampedLines").await {
                self.lines = value
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|pair| {
                        let millis = pair.get(0)?.as_f64()?;
                        let text = pair.get(1)?.as_str()?.to_string();
                        Some((UNIX_EPOCH + Duration::from_millis(millis as u64), text))
                    })
                    .collect();
            }
            if done(&self.lines) {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The announcements since line `from`: when, and how many seconds.
    pub fn announced(&self, from: usize) -> Vec<(SystemTime, f64)> {
        self.lines[from.min(self.lines.len())..]
            .iter()
            .filter_map(|(at, text)| Some((*at, announced_delay(text)?)))
            .collect()
    }
}

/// Takes every connection on the step's port while the step is down and
/// closes it at once, noting when each came.
pub struct Stand {
    tries: Arc<Mutex<Vec<SystemTime>>>,
    tasks: Vec<JoinHandle<()>>,
}

impl Stand {
    pub async fn on(port: u16) -> Stand {
        let tries = Arc::new(Mutex::new(Vec::new()));
        let mut tasks = Vec::new();
        // Both loopback addresses: `localhost` may be either for the page.
        for host in ["127.0.0.1", "::1"] {
            let Ok(listener) = TcpListener::bind((host, port)).await else {
                continue;
            };
            let tries = tries.clone();
            tasks.push(tokio::spawn(async move {
                while let Ok((stream, _)) = listener.accept().await {
                    let came = SystemTime::now();
                    let tries = tries.clone();
                    tokio::spawn(async move {
                        if asks_for_websocket(stream).await {
                            tries.lock().unwrap().push(came);
                        }
                    });
                }
            }));
        }
        Stand { tries, tasks }
    }
}

/// Whether a connection is a WebSocket's opening request. Browsers also
/// open connections ahead of need that send nothing; those are not tries.
async fn asks_for_websocket(mut stream: tokio::net::TcpStream) -> bool {
    use tokio::io::AsyncReadExt;
    let mut head = Vec::new();
    let read = async {
        while !head.windows(4).any(|window| window == b"\r\n\r\n") && head.len() < 8192 {
            if stream.read_buf(&mut head).await.unwrap_or(0) == 0 {
                break;
            }
        }
    };
    let _ = timeout(Duration::from_secs(2), read).await;
    String::from_utf8_lossy(&head)
        .to_ascii_lowercase()
        .contains("upgrade: websocket")
}

impl Stand {
    pub fn tries(&self) -> Vec<SystemTime> {
        let mut tries = self.tries.lock().unwrap().clone();
        tries.sort();
        tries
    }

    /// Stops listening, so that the step can have its port again.
    pub async fn leave(self) {
        for task in self.tasks {
            task.abort();
            let _ = task.await;
        }
    }
}

/// Seconds from `earlier` to `later`, negative when `later` came first.
pub fn since(earlier: SystemTime, later: SystemTime) -> f64 {
    match later.duration_since(earlier) {
        Ok(after) => after.as_secs_f64(),
        Err(before) => -before.duration().as_secs_f64(),
    }
}

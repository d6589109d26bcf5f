//! Exercise 6: rooms in step 4. Two instances of the learner's step 4 share
//! a `redis-server` of the check's own, and pages in headless Chromium log
//! in and chat as a person does, each opened at `/?room=NAME` (or `/`):
//!
//! - live: two pages in room `red`, one on each instance, see each other's
//!   lines; a page in `blue` and one opened at `/` (on A, beside a red
//!   page) see none of them, nor does red see theirs;
//! - history: pages opened later, in `red` and in `lobby` (the room of
//!   `/`), list what their room said, and nothing of the other rooms;
//! - replay: the red page on B loses its instance (SIGTERM), the other
//!   rooms and red talk meanwhile, B starts again on its port, and the page
//!   comes back with only red's missed line;
//! - a room name that is not one (too long, a space) gets 400, not 101.
//!
//! When something is wrong, the pattern says which mistake it is: every
//! page sees every line (no rooms yet), a line reaches other rooms live
//! but not in history (the fan-out), history or replay from every room,
//! a line that reaches its room on the sender's instance only (the room
//! kept in one process), a page that comes back in another room.

use std::time::Duration;

use tokio::time::{Instant, sleep};

use super::{Checked, Judge, Judging, shortened};
use crate::browser::Page;
use crate::exercise::Miss;
use crate::many_servers::{Redis, log_in};
use crate::steps::{Running, Stop};
use crate::tools;
use crate::wire;

pub fn check(judge: Judge<'_>) -> Judging<'_> {
    Box::pin(rooms(judge))
}

/// How long a line may take to cross Redis and an instance and be listed
/// by a page, on a busy machine.
const ARRIVES: Duration = Duration::from_secs(10);

/// How long after the last expected arrival a line that leaked to another
/// room would have arrived too: it leaves Redis at the same moment.
const LEAKS_BY: Duration = Duration::from_millis(1500);

/// How long a page may take to come back after its instance restarts: its
/// waits of 1, 2, 4 and 8 s, with room for a busy machine.
const COMES_BACK: Duration = Duration::from_secs(25);

/// How long after a page says it is connected its history may take to be
/// listed: the same moment, with room for a busy machine.
const SETTLES: Duration = Duration::from_secs(2);

/// The room of a page opened at `/`, as the chapter names it.
const DEFAULT_ROOM: &str = "lobby";

/// One visitor's page, and where it is. Dropping it closes the page, so
/// that the pages of a check that is over stop reconnecting and free the
/// browser (the tests check many variants in one browser).
struct Visitor {
    /// Always there until the visitor is dropped.
    page: Option<Page>,
    name: &'static str,
    /// `None`: opened at `/`, without `?room=`.
    room: Option<&'static str>,
    instance: &'static str,
}

impl Drop for Visitor {
    fn drop(&mut self) {
        if let (Some(page), Ok(runtime)) = (self.page.take(), tokio::runtime::Handle::try_current())
        {
            runtime.spawn(page.close());
        }
    }
}

impl Visitor {
    fn page(&self) -> &Page {
        self.page
            .as_ref()
            .expect("a visitor has its page until dropped")
    }

    /// The room the chapter puts this page in.
    fn room(&self) -> &'static str {
        self.room.unwrap_or(DEFAULT_ROOM)
    }

    fn describe(&self, judge: Judge<'_>) -> String {
        let (name, instance) = (self.name, self.instance);
        match self.room {
            Some(room) => judge.say(
                format!("{name}'s page (/?room={room}, instance {instance})"),
                format!("페이지 {name}(/?room={room}, 인스턴스 {instance})"),
            ),
            None => judge.say(
                format!("{name}'s page (/ without ?room=, instance {instance})"),
                format!("페이지 {name}(?room= 없이 연 /, 인스턴스 {instance})"),
            ),
        }
    }

    /// The lines the page lists in its log.
    async fn lines(&self) -> Vec<String> {
        self.page().texts("#log li").await.unwrap_or_default()
    }

    /// Types `text` and clicks Send, as a person does.
    async fn say(&self, judge: Judge<'_>, text: &str) -> Result<Line, Miss> {
        let typed = async {
            self.page().type_into("#text", text).await?;
            self.page().click("#send button").await
        };
        typed.await.map_err(|error| {
            Miss::new(
                judge.say(
                    "the course's page of step 4, with its text box #text and Send button",
                    "입력 칸 #text와 Send 버튼이 있는 4단계 강의의 페이지",
                ),
                judge.error(&error),
            )
        })?;
        Ok(Line {
            shown: format!("{}: {text}", self.name),
            room: self.room(),
            instance: self.instance,
        })
    }
}

/// A line said, as pages list it (`alice: red 1 from A`), and where.
#[derive(Clone)]
struct Line {
    shown: String,
    room: &'static str,
    instance: &'static str,
}

/// Polls until each of `visitors` lists `line`, for at most `wait`.
/// Returns whether they all did.
async fn until_listed(visitors: &[&Visitor], line: &str, wait: Duration) -> bool {
    let deadline = Instant::now() + wait;
    loop {
        let mut all = true;
        for visitor in visitors {
            all &= visitor.lines().await.iter().any(|listed| listed == line);
        }
        if all {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        sleep(Duration::from_millis(150)).await;
    }
}

/// Polls until the page's state line says it is connected, for at most
/// `wait`. Returns whether it did.
async fn until_state(visitor: &Visitor, wait: Duration) -> bool {
    let deadline = Instant::now() + wait;
    loop {
        let state = visitor.page().texts("#state").await.unwrap_or_default();
        if state
            .iter()
            .any(|text| text.starts_with("Connected to instance"))
        {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        sleep(Duration::from_millis(150)).await;
    }
}

/// Opens `/` (with `?room=` when given) on `server`, logs in as `name` and
/// waits until the page says it is connected.
async fn join(
    judge: Judge<'_>,
    server: &Running,
    instance: &'static str,
    room: Option<&'static str>,
    name: &'static str,
) -> Result<Visitor, Miss> {
    let chromium = judge.chromium()?;
    let query = room.map(|room| format!("?room={room}")).unwrap_or_default();
    let url = format!("http://localhost:{}/{query}", server.port);
    let printed_before = server.output.len();
    let page = chromium.open(&url).await.map_err(|error| {
        Miss::new(
            judge.say("the page opens", "페이지가 열리는 것"),
            judge.error(&error),
        )
    })?;
    let visitor = Visitor {
        page: Some(page),
        name,
        room,
        instance,
    };
    let login = async {
        let deadline = Instant::now() + ARRIVES;
        while visitor.page().texts("#name").await?.is_empty() {
            anyhow::ensure!(Instant::now() < deadline, "the page has no #name");
            sleep(Duration::from_millis(100)).await;
        }
        visitor.page().type_into("#name", name).await?;
        visitor.page().click("#login button").await
    };
    let expected = judge.say(
        format!("the page {url} logs in as {name} and says \"Connected to instance {instance} ...\""),
        format!("페이지 {url}에서 로그인(이름: {name})하면 나오는 상태 \"Connected to instance {instance} ...\""),
    );
    if let Err(error) = login.await {
        return Err(Miss::new(expected, judge.error(&error)));
    }
    if until_state(&visitor, ARRIVES).await {
        return Ok(visitor);
    }
    let state = visitor.page().texts("#state").await.unwrap_or_default();
    let listed = shortened(&visitor.lines().await);
    let refused = server.output.lines()[printed_before..]
        .iter()
        .any(|line| line.starts_with("GET /chat -> "));
    let saw = judge.say(
        format!(
            "after {} s the page says {state:?} and lists {listed}; {}",
            ARRIVES.as_secs(),
            judge.printed(&server.output)
        ),
        format!(
            "{}초 뒤 페이지 상태: {state:?}, 페이지 목록: {listed}; {}",
            ARRIVES.as_secs(),
            judge.printed(&server.output)
        ),
    );
    let hint = refused.then(|| {
        judge.say(
            "step4-many-servers/src/conversation.rs, fn resume_point: the server refused the \
             page's WebSocket (see its `GET /chat -> ...` line). It reads the query of /chat: \
             let it take room=NAME as well as after=ID, in either order",
            "step4-many-servers/src/conversation.rs의 fn resume_point에서 서버가 페이지의 웹소켓을 \
             거절했습니다(서버가 출력한 `GET /chat -> ...` 줄을 보세요). /chat의 쿼리를 읽는 \
             곳이니, after=ID뿐 아니라 room=NAME도 순서에 상관없이 받게 하세요",
        )
    });
    Err(Miss::new(expected, saw).hint(hint))
}

/// The lines of `said` that `visitor` lists but that belong to another room.
fn foreign(visitor: &Visitor, listed: &[String], said: &[Line]) -> Vec<String> {
    said.iter()
        .filter(|line| line.room != visitor.room() && listed.contains(&line.shown))
        .map(|line| line.shown.clone())
        .collect()
}

async fn rooms(judge: Judge<'_>) -> Checked {
    let redis = start_redis(judge).await?;
    let url = redis.url();
    let env = |instance| [("REDIS_URL", url.as_str()), ("INSTANCE", instance)];
    let (env_a, env_b) = (env("A"), env("B"));
    let (a, b) = tokio::join!(judge.start(&env_a), judge.start(&env_b));
    let (a, b) = (a?, b?);

    let (red_a, red_b, blue_a, lobby_a) = tokio::join!(
        join(judge, &a, "A", Some("red"), "alice"),
        join(judge, &b, "B", Some("red"), "bob"),
        join(judge, &a, "A", Some("blue"), "carol"),
        join(judge, &a, "A", None, "dave"),
    );
    let (red_a, red_b, blue_a, lobby_a) = (red_a?, red_b?, blue_a?, lobby_a?);

    let live = live(judge, [&red_a, &red_b, &blue_a, &lobby_a]).await?;
    // Pages opened now, in red and in the room of `/` by its name. A live
    // leak is judged after them: whether history leaks too tells a chat
    // without rooms from a fan-out that ignores them.
    let (red_later, lobby_later) = tokio::join!(
        join(judge, &b, "B", Some("red"), "erin"),
        join(judge, &b, "B", Some(DEFAULT_ROOM), "gina"),
    );
    let history = history(judge, [&red_later?, &lobby_later?], &live.said).await;
    match (live.leaks.is_empty(), history) {
        (false, history) => {
            let no_rooms = live.everywhere && matches!(history, Err(History::Leaked(_)));
            return Err(leaked_live(judge, &live.leaks, no_rooms));
        }
        (true, Err(History::Leaked(leaks))) => return Err(leaked_history(judge, &leaks)),
        (true, Err(History::Missing(miss))) => return Err(miss),
        (true, Ok(())) => {}
    }

    replay(judge, b, &url, [&red_a, &red_b, &blue_a, &lobby_a]).await?;
    bad_room_names(judge, &a).await?;

    Ok(judge.say(
        "with two instances sharing one Redis, in headless Chromium: the red pages on A and B saw each other's lines, and the pages in blue and at / saw none of red's, nor red theirs; pages opened later in red and in lobby (the room of /) listed their own room's lines only; the red page on B came back after B restarted with red's missed line alone; room names too long or with a space got 400".to_string(),
        "Redis 하나를 함께 쓰는 인스턴스 두 개와 헤드리스 Chromium에서: A와 B의 red 방 페이지는 서로의 글을 받았고, blue 방 페이지와 /로 연 페이지는 red 방의 글을 하나도 받지 않았으며 red 방도 그들의 글을 받지 않았습니다. 나중에 red 방과 lobby 방(/의 방)에서 연 페이지는 자기 방의 글만 보여 주었고, B가 다시 켜진 뒤 돌아온 B의 red 방 페이지는 놓친 red 방의 글만 받았습니다. 너무 긴 방 이름과 빈칸이 든 방 이름은 400을 받았습니다".to_string(),
    ))
}

/// What the live part showed: the lines said, the pages that listed lines
/// of other rooms (and which), and whether every page listed every line.
struct Live {
    said: Vec<Line>,
    leaks: Vec<(String, Vec<String>)>,
    everywhere: bool,
}

/// Each page says a line; each must reach its room's pages on both
/// instances, and after a while no page may list another room's line.
async fn live(judge: Judge<'_>, pages: [&Visitor; 4]) -> Result<Live, Miss> {
    let [red_a, red_b, blue_a, lobby_a] = pages;
    let mut said = Vec::new();
    for (from, text, to) in [
        (red_a, "red 1 from A", vec![red_a, red_b]),
        (red_b, "red 2 from B", vec![red_a, red_b]),
        (blue_a, "blue 1", vec![blue_a]),
        (lobby_a, "lobby 1", vec![lobby_a]),
    ] {
        let line = from.say(judge, text).await?;
        if !until_listed(&to, &line.shown, ARRIVES).await {
            return Err(missing_live(judge, from, &line, &to).await);
        }
        said.push(line);
    }
    sleep(LEAKS_BY).await;
    let mut leaks = Vec::new();
    let mut everywhere = true;
    for visitor in pages {
        let listed = visitor.lines().await;
        everywhere &= said.iter().all(|line| listed.contains(&line.shown));
        let leaked = foreign(visitor, &listed, &said);
        if !leaked.is_empty() {
            leaks.push((visitor.describe(judge), leaked));
        }
    }
    Ok(Live {
        said,
        leaks,
        everywhere,
    })
}

/// What was wrong with the history of a page opened later.
enum History {
    /// Pages listed lines of other rooms (and which).
    Leaked(Vec<(String, Vec<String>)>),
    /// A page lacked lines of its own room.
    Missing(Miss),
}

/// Each page, opened after the lines were said, lists its room's lines
/// and none of the others.
async fn history(judge: Judge<'_>, pages: [&Visitor; 2], said: &[Line]) -> Result<(), History> {
    let mut leaks = Vec::new();
    for visitor in pages {
        let own: Vec<&Line> = said
            .iter()
            .filter(|line| line.room == visitor.room())
            .collect();
        let last = own.last().expect("each room said a line");
        let shown = until_listed(&[visitor], &last.shown, ARRIVES).await;
        let listed = visitor.lines().await;
        let leaked = foreign(visitor, &listed, said);
        if !leaked.is_empty() {
            leaks.push((visitor.describe(judge), leaked));
            continue;
        }
        let lacking: Vec<String> = own
            .iter()
            .filter(|line| !listed.contains(&line.shown))
            .map(|line| line.shown.clone())
            .collect();
        if !shown || !lacking.is_empty() {
            return Err(History::Missing(history_missing(
                judge, visitor, &lacking, &listed,
            )));
        }
    }
    if leaks.is_empty() {
        Ok(())
    } else {
        Err(History::Leaked(leaks))
    }
}

/// Red's page on B loses its instance (SIGTERM); the rooms talk on A; B
/// starts again on its port, and the page must come back with what red
/// said meanwhile, once, and nothing of the other rooms.
async fn replay(
    judge: Judge<'_>,
    mut b: Running,
    redis_url: &str,
    pages: [&Visitor; 4],
) -> Result<(), Miss> {
    let [red_a, red_b, blue_a, lobby_a] = pages;
    let port = b.port.to_string();
    b.stop(Stop::Terminate).map_err(|error| {
        Miss::new(
            judge.say("instance B can be stopped", "인스턴스 B를 멈출 수 있는 것"),
            judge.error(&error),
        )
    })?;
    if b.exit_status(ARRIVES).await.is_none() {
        return Err(Miss::new(
            judge.say(
                "instance B exits after SIGTERM, as the course's step 4 does",
                "강의의 4단계처럼 SIGTERM을 받은 인스턴스 B가 끝나는 것",
            ),
            judge.say(
                format!(
                    "B still ran {} s after SIGTERM; {}",
                    ARRIVES.as_secs(),
                    judge.printed(&b.output)
                ),
                format!(
                    "SIGTERM을 보내고 {}초가 지나도 B가 실행 중이었습니다; {}",
                    ARRIVES.as_secs(),
                    judge.printed(&b.output)
                ),
            ),
        ));
    }
    let mut meanwhile = Vec::new();
    for (from, text) in [
        (blue_a, "blue 2 while B was away"),
        (lobby_a, "lobby 2 while B was away"),
        (red_a, "red 3 while B was away"),
    ] {
        let line = from.say(judge, text).await?;
        if !until_listed(&[from], &line.shown, ARRIVES).await {
            return Err(missing_live(judge, from, &line, &[from]).await);
        }
        meanwhile.push(line);
    }
    let env = [("REDIS_URL", redis_url), ("INSTANCE", "B"), ("PORT", &port)];
    let _b_again = judge.start(&env).await?;
    let (lobby_missed, red_missed) = (&meanwhile[1], &meanwhile[2]);
    // The page says it is connected when its history comes, and lists the
    // history's lines in the same moment.
    let reconnected = until_state(red_b, COMES_BACK).await;
    let back = reconnected && until_listed(&[red_b], &red_missed.shown, SETTLES).await;
    let listed = red_b.lines().await;
    let replayed_foreign = foreign(red_b, &listed, &meanwhile);
    let times = listed
        .iter()
        .filter(|line| **line == red_missed.shown)
        .count();
    if back && replayed_foreign.is_empty() && times == 1 {
        return Ok(());
    }
    let hint = if back && !replayed_foreign.is_empty() {
        judge.say(
            "step4-many-servers/src/chat_log.rs, fn history: the page that came back with \
             ?after= got what every room said while it was away. Keep only its room's entries \
             after its id too, as for a page that opens for the first time",
            "step4-many-servers/src/chat_log.rs의 fn history에서 ?after=로 돌아온 페이지가 떠나 \
             있던 동안 모든 방에서 오간 글을 받았습니다. 처음 여는 페이지와 마찬가지로, 그 id \
             뒤의 항목에서도 그 페이지의 방 것만 남기세요",
        )
    } else if listed.contains(&lobby_missed.shown) {
        judge.say(
            "step4-many-servers/src/index.html, fn connect: the page came back in the room of \
             `/`, not in its own. The address it reconnects to must keep room= along with \
             after= (/chat?room=red&after=ID)",
            "step4-many-servers/src/index.html의 fn connect에서 페이지가 자기 방이 아니라 `/`의 \
             방으로 돌아왔습니다. 다시 연결하는 주소에 after=와 함께 room=도 남겨 두어야 \
             합니다(/chat?room=red&after=ID)",
        )
    } else {
        judge.say(
            "step4-many-servers/src/chat_log.rs, fn history: a page that comes back with \
             ?after=ID gets its room's entries after that id, each once, then the live chat of \
             its room",
            "step4-many-servers/src/chat_log.rs의 fn history에서, ?after=ID로 돌아온 페이지는 그 \
             id 뒤에 자기 방에 쌓인 항목을 한 번씩 받고, 이어서 그 방의 실시간 채팅을 받아야 \
             합니다",
        )
    };
    let page = red_b.describe(judge);
    let missed = &red_missed.shown;
    let listed = shortened(&listed);
    let saw = if reconnected {
        judge.say(
            format!("once connected again it lists {listed}: {missed:?} {times} time(s), other rooms' {replayed_foreign:?}"),
            format!("다시 연결된 뒤 페이지 목록: {listed}; {missed:?} 나온 횟수: {times}, 다른 방의 글: {replayed_foreign:?}"),
        )
    } else {
        judge.say(
            format!("the page was not connected again {} s after B restarted; it lists {listed}", COMES_BACK.as_secs()),
            format!("B를 다시 켜고 {}초가 지나도 페이지가 다시 연결되지 않았습니다. 페이지 목록: {listed}", COMES_BACK.as_secs()),
        )
    };
    Err(Miss::new(
        judge.say(
            format!("after instance B restarts, {page} comes back with the line red said meanwhile, {missed:?}, once, and nothing the other rooms said"),
            format!("인스턴스 B가 다시 켜진 뒤 {page}에 그동안 red 방에서 오간 글 {missed:?}만 한 번 나오고, 다른 방의 글은 나오지 않는 것"),
        ),
        saw,
    )
    .hint(Some(hint)))
}

async fn start_redis(judge: Judge<'_>) -> Result<Redis, Miss> {
    let expected = judge.say(
        "a redis-server of the check's own, on a free port",
        "빈 포트에서 확인용으로 띄우는 redis-server",
    );
    let program = tools::find_redis().map_err(|why| Miss::new(expected, why))?;
    Redis::start(&program)
        .await
        .map_err(|error| Miss::new(expected, format!("{error:#}")))
}

/// A line that did not reach every page of its room.
async fn missing_live(judge: Judge<'_>, from: &Visitor, line: &Line, to: &[&Visitor]) -> Miss {
    let mut reached = Vec::new();
    let mut missed = Vec::new();
    for visitor in to {
        if visitor.lines().await.contains(&line.shown) {
            reached.push(visitor);
        } else {
            missed.push(visitor);
        }
    }
    let names = |visitors: &[&&Visitor]| -> Vec<String> {
        visitors
            .iter()
            .map(|visitor| visitor.describe(judge))
            .collect()
    };
    let expected = judge.say(
        format!(
            "after {} typed {:?}, every page of room {} lists it, on both instances",
            from.describe(judge),
            line.shown,
            line.room
        ),
        format!(
            "{}에서 입력한 글({:?})이 두 인스턴스에 있는 같은 방({})의 모든 페이지에 나오는 것",
            from.describe(judge),
            line.shown,
            line.room
        ),
    );
    let saw = judge.say(
        format!(
            "after {} s, listed by {:?}, not by {:?}; the sender lists {}",
            ARRIVES.as_secs(),
            names(&reached),
            names(&missed),
            shortened(&from.lines().await)
        ),
        format!(
            "{}초 뒤, 나온 페이지: {:?}, 나오지 않은 페이지: {:?}; 보낸 페이지 목록: {}",
            ARRIVES.as_secs(),
            names(&reached),
            names(&missed),
            shortened(&from.lines().await)
        ),
    );
    let on_senders_instance_only = !reached.is_empty()
        && reached
            .iter()
            .all(|visitor| visitor.instance == line.instance)
        && missed
            .iter()
            .all(|visitor| visitor.instance != line.instance);
    let hint = on_senders_instance_only.then(|| {
        judge.say(
            "step4-many-servers/src/chat_log.rs: the line reached its room on the sender's \
             instance only. The other instance knows only what Redis tells it: the room must \
             travel through Redis with each line (a field of its entry in the log, or a stream \
             of its own), not in one process's memory",
            "step4-many-servers/src/chat_log.rs에서 글이 보낸 쪽 인스턴스의 같은 방에만 \
             도착했습니다. 다른 인스턴스는 Redis가 알려 주는 것만 압니다. 방은 한 프로세스의 \
             메모리가 아니라 Redis를 거쳐 글마다 함께 가야 합니다(로그 항목의 필드로, 또는 방마다 \
             따로 둔 스트림으로)",
        )
    });
    Miss::new(expected, saw).hint(hint)
}

/// A page opened later that does not list its room's lines.
fn history_missing(
    judge: Judge<'_>,
    visitor: &Visitor,
    lacking: &[String],
    listed: &[String],
) -> Miss {
    let expected = judge.say(
        format!(
            "{}, opened after the room's lines were said, lists them as its history",
            visitor.describe(judge)
        ),
        format!(
            "방에서 글이 오간 뒤에 연 {}에 그 글들이 지난 대화로 나오는 것",
            visitor.describe(judge)
        ),
    );
    let saw = judge.say(
        format!("it lacks {lacking:?} and lists {}", shortened(listed)),
        format!("빠진 글: {lacking:?}; 페이지 목록: {}", shortened(listed)),
    );
    let hint = (visitor.room == Some(DEFAULT_ROOM)).then(|| {
        judge.say(
            "step4-many-servers/src/index.html, and where the server reads the room: a page at \
             /?room=lobby is not in the room of a page at /. The room of `/` without ?room= is \
             `lobby`, as the chapter says: the same room as /?room=lobby",
            "step4-many-servers/src/index.html과, 서버가 방을 읽는 곳을 보세요. /?room=lobby로 연 \
             페이지가 /로 연 페이지와 다른 방에 있습니다. 장에서 말한 대로 ?room= 없이 연 `/`의 \
             방은 `lobby`이고, /?room=lobby와 같은 방입니다",
        )
    });
    Miss::new(expected, saw).hint(hint)
}

fn leak_lines(judge: Judge<'_>, leaks: &[(String, Vec<String>)]) -> String {
    let parts: Vec<String> = leaks
        .iter()
        .map(|(page, lines)| {
            judge.say(
                format!("{page} lists other rooms' {}", shortened(lines)),
                format!("{page}에 나온 다른 방의 글: {}", shortened(lines)),
            )
        })
        .collect();
    parts.join("; ")
}

/// Lines that reached pages of other rooms as they were said. `no_rooms`:
/// every page saw every line, and so did a later page's history.
fn leaked_live(judge: Judge<'_>, leaks: &[(String, Vec<String>)], no_rooms: bool) -> Miss {
    let expected = judge.say(
        "each line reaches the pages of its own room only, on both instances",
        "글마다 두 인스턴스에 있는 자기 방의 페이지에만 도착하는 것",
    );
    let hint = (!no_rooms).then(|| {
        judge.say(
            "step4-many-servers/src/fanout.rs, fn deliver: lines reached pages of other rooms \
             as they were said, though a page opened later got its own room's history only. \
             Hand each entry only to the pages whose room is the entry's room",
            "step4-many-servers/src/fanout.rs의 fn deliver에서, 나중에 연 페이지는 자기 방의 \
             지난 대화만 받았지만 실시간 글은 다른 방의 페이지에도 도착했습니다. 항목마다 그 \
             항목의 방에 있는 페이지에만 넘기세요",
        )
    });
    let saw = if no_rooms {
        judge.say(
            format!(
                "every page lists every line, as in one chat without rooms: {}",
                leak_lines(judge, leaks)
            ),
            format!(
                "방이 없는 채팅 하나처럼 모든 페이지에 모든 글이 나왔습니다: {}",
                leak_lines(judge, leaks)
            ),
        )
    } else {
        leak_lines(judge, leaks)
    };
    Miss::new(expected, saw).hint(hint)
}

fn leaked_history(judge: Judge<'_>, leaks: &[(String, Vec<String>)]) -> Miss {
    Miss::new(
        judge.say(
            "a page opened later lists its own room's lines as its history, and no other room's",
            "나중에 연 페이지에는 자기 방의 지난 대화만 나오고 다른 방의 글은 나오지 않는 것",
        ),
        leak_lines(judge, leaks),
    )
    .hint(Some(judge.say(
        "step4-many-servers/src/chat_log.rs, fn history: a page that opens for the first time \
         got the last lines of every room. Keep only the entries of the page's room among the \
         lines it is shown",
        "step4-many-servers/src/chat_log.rs의 fn history에서 처음 여는 페이지가 모든 방의 최근 \
         글을 받았습니다. 보여 줄 글 가운데 그 페이지의 방 항목만 남기세요",
    )))
}

/// A room name that is not one gets 400 before any 101, with a logged-in
/// page's cookie and our own Origin, so that only the room is wrong.
async fn bad_room_names(judge: Judge<'_>, server: &Running) -> Result<(), Miss> {
    let port = server.port;
    let token = log_in(port, "frank").await.map_err(|error| {
        Miss::new(
            judge.say(
                "POST /login works, as before",
                "예전처럼 POST /login이 되는 것",
            ),
            judge.error(&error),
        )
    })?;
    let long = "r".repeat(100);
    for (room, what) in [
        (
            long.as_str(),
            judge.say("a room name of 100 letters", "100글자짜리 방 이름"),
        ),
        (
            "two%20words",
            judge.say("a room name with a space", "빈칸이 든 방 이름"),
        ),
    ] {
        let request = format!(
            "GET /chat?room={room} HTTP/1.1\r\nHost: localhost:{port}\r\n\
             Origin: http://localhost:{port}\r\nCookie: session={token}\r\n\
             Upgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        );
        let answer = wire::ask(port, request.as_bytes()).await;
        let status = answer.as_ref().map(|answer| answer.status).ok();
        if status == Some(400) {
            continue;
        }
        let saw = match &answer {
            Ok(answer) => answer.status_line.clone(),
            Err(error) => judge.error(error),
        };
        return Err(Miss::new(
            judge.say(
                format!("{what} gets 400 (Bad Request), before any 101"),
                format!("101 없이 400 (Bad Request)으로 거절되는 것: {what}"),
            ),
            judge.say(
                format!("GET /chat?room=... got {saw}"),
                format!("GET /chat?room=... 요청이 받은 답: {saw}"),
            ),
        )
        .hint(Some(judge.say(
            "step4-many-servers/src: where the server reads the room from the query of /chat \
             (the course reads the query in src/conversation.rs, fn resume_point), check its \
             name, and refuse one that is not 1 to 32 letters, digits, `-` or `_` with 400 and \
             a body that says so, before the upgrade",
            "step4-many-servers/src에서 서버가 /chat의 쿼리에서 방을 읽는 곳(강의의 코드는 \
             src/conversation.rs의 fn resume_point에서 쿼리를 읽습니다)에서 방 이름도 확인하세요. \
             영문자, 숫자, `-`, `_`로 된 1~32글자가 아니면 업그레이드 전에 400과 그 사실을 말하는 \
             본문으로 거절합니다",
        ))));
    }
    Ok(())
}

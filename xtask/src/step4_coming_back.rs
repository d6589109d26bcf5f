//! Step 4 and the pages that come back after too long: one away for more
//! lines than the log keeps is told that some may be gone, and one whose
//! login has ended asks for the name again instead of knocking forever.

use crate::step4::{
    ARRIVES, instance, log_in, open_chat, redis_for_test, say, until_chat, wait_for_text,
};
use crate::steps::{Program, Stop};
use crate::tools;
use crate::wire;

/// As many lines as the log keeps, and one more.
const PAST_THE_CAP: usize = 1001;

/// What `GET /login` answers for the cookie `session=TOKEN`.
async fn logged_in_as(port: u16, token: &str) -> wire::HttpAnswer {
    let request = format!(
        "GET /login HTTP/1.1\r\nHost: localhost:{port}\r\nCookie: session={token}\r\n\
         Connection: close\r\n\r\n"
    );
    wire::ask(port, request.as_bytes()).await.unwrap()
}

/// A page back after a few lines gets them and no warning; one back after
/// more than the log keeps gets the last 1000 and `older_gone`. `GET
/// /login` names the session's visitor, and says 401 once Redis has
/// forgotten it.
#[tokio::test(flavor = "multi_thread")]
async fn a_page_away_too_long_is_told_and_an_ended_login_is_401() {
    let Some(redis) = redis_for_test().await else {
        return;
    };
    let step4 = instance(&redis, "A").await;
    let port = step4.port;
    let token = log_in(port, "alice").await.unwrap();
    let (mut page, _) = open_chat(port, &token, None).await.unwrap();
    say(&mut page, "before").await.unwrap();
    let before = until_chat(&mut page, "before").await.unwrap();
    let last_id = before["id"].as_str().unwrap().to_string();
    drop(page);

    let (mut watcher, history) = open_chat(port, &token, Some(&last_id)).await.unwrap();
    assert_eq!(
        history["older_gone"], false,
        "a page back after a few lines was told some are gone: {history}"
    );

    // Lines written straight into the stream, capped as step 4 caps it.
    let mut commands = String::new();
    for number in 0..PAST_THE_CAP {
        commands += &format!("XADD chat MAXLEN = 1000 * kind chat name bob text away{number}\r\n");
    }
    commands += "QUIT\r\n";
    wire::exchange(redis.port, commands.as_bytes())
        .await
        .unwrap();
    // Once a page has them all live, the instance has handed them out; a
    // page that joined in the middle of that burst would count them
    // against it before it had its history.
    let last_line = format!("away{}", PAST_THE_CAP - 1);
    until_chat(&mut watcher, &last_line).await.unwrap();
    let (_, history) = open_chat(port, &token, Some(&last_id)).await.unwrap();
    let entries = history["entries"].as_array().unwrap();
    assert_eq!(
        history["older_gone"], true,
        "a page back after {PAST_THE_CAP} lines was not told some are gone"
    );
    assert_eq!(entries.len(), 1000, "not the 1000 entries the log keeps");
    println!(
        "back after {PAST_THE_CAP} lines: {} entries, older_gone: {}",
        entries.len(),
        history["older_gone"]
    );

    let answer = logged_in_as(port, &token).await;
    let body = String::from_utf8_lossy(&answer.body).to_string();
    assert_eq!(answer.status, 200, "{}", answer.status_line);
    assert!(body.contains("\"alice\""), "GET /login answered {body}");
    let forget = format!("DEL session:{token}\r\nQUIT\r\n");
    wire::exchange(redis.port, forget.as_bytes()).await.unwrap();
    let answer = logged_in_as(port, &token).await;
    assert_eq!(answer.status, 401, "{}", answer.status_line);
    println!("GET /login: 200 {body}, then {}", answer.status_line);
}

/// In headless Chromium: the page's session ends while its instance
/// restarts. When the page comes back it is refused (the browser only
/// sees the socket close), so it asks `GET /login`, shows the login form
/// again, and after the name it is back in the chat with what it missed.
#[tokio::test(flavor = "multi_thread")]
async fn a_page_whose_login_ended_asks_for_the_name_again() {
    let Some(chromium) = tools::require_or_skip("Chromium", crate::browser::find()) else {
        return;
    };
    let Some(redis) = redis_for_test().await else {
        return;
    };
    let (chromium, step4) = tokio::join!(
        crate::browser::Chromium::launch(&chromium),
        instance(&redis, "A")
    );
    let (chromium, mut step4) = (chromium.unwrap(), step4);
    let port = step4.port.to_string();
    let page = chromium
        .open(&format!("http://localhost:{port}/"))
        .await
        .unwrap();
    wait_for_text(&page, "#name", |_| true).await.unwrap();
    page.type_into("#name", "alice").await.unwrap();
    page.click("#login button").await.unwrap();
    wait_for_text(&page, "#state", |text| text.starts_with("Connected"))
        .await
        .unwrap();

    // Every session gone, as when they expire, while the instance is away.
    step4.stop(Stop::Terminate).unwrap();
    assert!(step4.exit_status(ARRIVES).await.is_some(), "A did not exit");
    // And a line said meanwhile, which the page must still get.
    let forget = "EVAL \"for _, key in ipairs(redis.call('KEYS', 'session:*')) do \
                  redis.call('DEL', key) end\" 0\r\n\
                  XADD chat MAXLEN = 1000 * kind chat name bob text meanwhile\r\nQUIT\r\n";
    wire::exchange(redis.port, forget.as_bytes()).await.unwrap();
    let url = redis.url();
    let _again = Program::of("step4")
        .start(&[("REDIS_URL", &url), ("INSTANCE", "A"), ("PORT", &port)])
        .await
        .unwrap();
    let state = wait_for_text(&page, "#state", |text| text.contains("login has ended"))
        .await
        .unwrap();
    let form_shown = page
        .evaluate("!document.getElementById('login').hidden")
        .await
        .unwrap();
    assert_eq!(form_shown, true, "the login form is not shown: {state}");
    println!("the page, its session gone: {state}");
    // A line typed now waits on the page for the next login.
    page.type_into("#text", "typed while logged out")
        .await
        .unwrap();
    page.click("#send button").await.unwrap();

    // The form still holds the name given before.
    page.click("#login button").await.unwrap();
    let back = wait_for_text(&page, "#log li", |text| {
        text.starts_with("Reconnected to instance A")
    })
    .await
    .unwrap();
    let log = page.texts("#log li").await.unwrap();
    let meanwhile = log.iter().filter(|text| *text == "bob: meanwhile").count();
    assert_eq!(
        meanwhile, 1,
        "the line said meanwhile, shown {meanwhile} times: {log:?}"
    );
    wait_for_text(&page, "#log li", |text| {
        text == "alice: typed while logged out"
    })
    .await
    .unwrap();
    println!("after the name again: {back}; the line typed meanwhile went out");
}

//! Who is talking: a name, given once on the page, remembered by Redis.
//!
//! `POST /login` takes a name and answers with a cookie that holds a
//! random token; Redis keeps `session:TOKEN -> name` for `SESSION_LIFETIME`,
//! so every instance knows the page, whichever served the login. The
//! cookie is `HttpOnly` (no script, not even one injected into our page,
//! can read it) and `SameSite=Strict` (the browser sends it only from our
//! own pages).
//!
//! The WebSocket needs it: a browser cannot put an `Authorization` header
//! on the upgrade request (the WebSocket API has no way to set headers),
//! but it does send our cookies with it. Without a valid session the
//! upgrade gets 401, before any 101. The cookie alone is not enough,
//! though: `origin` still refuses pages of other sites, which is what stops
//! another site's script from using a visitor's cookie (cross-site
//! WebSocket hijacking, where `SameSite` is not honoured).

use std::time::Duration;

use redis::AsyncCommands;
use serde::{Deserialize, Serialize};
use warp::http::{HeaderValue, StatusCode, header};
use warp::reply::Response;
use warp::{Filter, Rejection, Reply};

use crate::broker::Broker;
use crate::origin;
use crate::refusal::Refusal;

/// How long a login lasts without logging in again.
const SESSION_LIFETIME: Duration = Duration::from_secs(24 * 60 * 60);

/// The cookie's name.
const COOKIE: &str = "session";

/// The longest name, in characters.
const MAX_NAME_CHARS: usize = 32;

#[derive(Deserialize)]
struct LoginForm {
    name: String,
}

#[derive(Serialize)]
struct LoggedIn<'a> {
    name: &'a str,
}

/// `POST /login` with a form field `name`: a session, and its cookie.
/// `GET /login`: whose session the cookie holds, so that a page whose
/// session has expired can ask for the name again.
pub fn route(broker: Broker) -> impl Filter<Extract = (Response,), Error = Rejection> + Clone {
    let for_login = broker.clone();
    let log_in = warp::path!("login")
        .and(warp::post())
        .and(warp::header::optional::<String>("origin"))
        .and(warp::header::optional::<String>("host"))
        .and(warp::body::content_length_limit(1024))
        .and(warp::body::form())
        .then(
            move |origin: Option<String>, host: Option<String>, form: LoginForm| {
                let broker = for_login.clone();
                async move { log_in(&broker, origin, host, form).await }
            },
        );
    let logged_in = warp::path!("login")
        .and(warp::get())
        .and(warp::header::optional::<String>("cookie"))
        .then(move |cookie: Option<String>| {
            let broker = broker.clone();
            async move {
                let token = token_in(cookie.as_deref());
                match who(&broker, token.as_deref(), "GET /login").await {
                    Ok(name) => warp::reply::json(&LoggedIn { name: &name }).into_response(),
                    Err(refusal) => refusal,
                }
            }
        });
    log_in.or(logged_in).unify()
}

async fn log_in(
    broker: &Broker,
    origin: Option<String>,
    host: Option<String>,
    form: LoginForm,
) -> Response {
    // Another site's form could otherwise log a visitor in under a name of
    // its choosing.
    if !origin::same_origin(origin.as_deref(), host.as_deref()) {
        return refuse(
            StatusCode::FORBIDDEN,
            "Login refused: only this server's own page may log in",
            &format!(
                "a login from another site's page: Origin {}",
                origin.unwrap_or_default()
            ),
        );
    }
    let name = form.name.trim();
    if name.is_empty()
        || name.chars().count() > MAX_NAME_CHARS
        || name.chars().any(char::is_control)
    {
        return refuse(
            StatusCode::BAD_REQUEST,
            "A name is 1 to 32 characters, without control characters",
            "a name that is empty, too long or has control characters",
        );
    }
    let token = new_token();
    let mut redis = broker.shared.clone();
    let stored: redis::RedisResult<()> = redis
        .set_ex(session_key(&token), name, SESSION_LIFETIME.as_secs())
        .await;
    if let Err(error) = stored {
        println!("POST /login -> 503 (Redis: {error})");
        let answer = "Redis does not answer: try again in a moment";
        return warp::reply::with_status(answer, StatusCode::SERVICE_UNAVAILABLE).into_response();
    }
    println!("Logged in: {name}");
    let mut response = warp::reply::json(&LoggedIn { name }).into_response();
    // No `Secure` here: the course serves plain http on localhost. Behind
    // a proxy that speaks https, add it, and the browser keeps the cookie
    // off plain connections.
    let cookie = format!(
        "{COOKIE}={token}; HttpOnly; SameSite=Strict; Path=/; Max-Age={}",
        SESSION_LIFETIME.as_secs()
    );
    response.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::try_from(cookie).expect("the token is hexadecimal"),
    );
    response
}

/// The session token in a `Cookie` header, if there is one.
pub fn token_in(cookie_header: Option<&str>) -> Option<String> {
    cookie_header?
        .split(';')
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, token)| token.to_string())
}

/// The name logged in under `token`, or the refusal (401) that says why
/// there is none; `request` names what asked, for the log.
pub async fn who(broker: &Broker, token: Option<&str>, request: &str) -> Result<String, Response> {
    let Some(token) = token else {
        return Err(unauthorized(
            request,
            "no session cookie: log in on the page first",
        ));
    };
    let mut redis = broker.shared.clone();
    let name: redis::RedisResult<Option<String>> = redis.get(session_key(token)).await;
    match name {
        Ok(Some(name)) => Ok(name),
        Ok(None) => Err(unauthorized(
            request,
            "a session cookie that Redis does not know, or has expired",
        )),
        Err(error) => {
            println!("{request} -> 503 (Redis: {error})");
            let answer = "Redis does not answer: try again in a moment";
            Err(warp::reply::with_status(answer, StatusCode::SERVICE_UNAVAILABLE).into_response())
        }
    }
}

fn unauthorized(request: &str, reason: &str) -> Response {
    let body = "Not logged in: log in first (POST /login)";
    Refusal::new(request.to_string(), StatusCode::UNAUTHORIZED, body, reason).into_response()
}

fn refuse(status: StatusCode, body: &'static str, reason: &str) -> Response {
    Refusal::new("POST /login".to_string(), status, body, reason).into_response()
}

fn session_key(token: &str) -> String {
    format!("session:{token}")
}

/// 32 bytes from the operating system's random source, in hexadecimal:
/// nobody can guess another visitor's token.
fn new_token() -> String {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).expect("the operating system gives random bytes");
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

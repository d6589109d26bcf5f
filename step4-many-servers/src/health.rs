//! `GET /healthz`: whether this instance can serve the chat right now,
//! for nginx, a load balancer or Kubernetes to ask. It can while Redis
//! answers; without Redis no line can be sent or read.

use std::time::Duration;

use tokio::time::timeout;
use warp::http::StatusCode;
use warp::reply::Response;
use warp::{Filter, Rejection, Reply};

use crate::broker::Broker;

/// A Redis that has not answered `PING` in this time is as good as gone.
const PING_WAIT: Duration = Duration::from_secs(1);

pub fn route(broker: Broker) -> impl Filter<Extract = (Response,), Error = Rejection> + Clone {
    warp::path!("healthz").and(warp::get()).then(move || {
        let broker = broker.clone();
        async move { check(&broker).await }
    })
}

async fn check(broker: &Broker) -> Response {
    let mut redis = broker.shared.clone();
    let ping = timeout(
        PING_WAIT,
        redis::cmd("PING").query_async::<String>(&mut redis),
    )
    .await;
    let (status, answer) = match ping {
        Ok(Ok(_)) => (StatusCode::OK, "ok: Redis answers\n".to_string()),
        Ok(Err(error)) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("Redis at {} does not answer: {error}\n", broker.url),
        ),
        Err(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "Redis at {} did not answer within {PING_WAIT:?}\n",
                broker.url
            ),
        ),
    };
    warp::reply::with_status(answer, status).into_response()
}

//! The `Date` header of every answer, from the simulator's clock ([`crate::clock::Clock`]), not
//! the system's: a client that reads the server's time from it (version-1 metric buckets end
//! with the server's current one) sees the time the answer was computed at, also under a
//! [`crate::clock::FixedClock`]. hyper adds a system-time `Date` only when the answer has none.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;
use chrono::{DateTime, Utc};

use super::state::SimState;

/// `t` as an RFC 7231 IMF-fixdate: `Sun, 06 Nov 1994 08:49:37 GMT`.
pub(crate) fn imf_fixdate(t: DateTime<Utc>) -> String {
    t.format("%a, %d %b %Y %H:%M:%S GMT").to_string()
}

/// Sets the answer's `Date` from the simulator's clock, read when the answer is ready.
pub(crate) async fn date_header(
    State(state): State<Arc<SimState>>,
    req: Request,
    next: Next,
) -> Response {
    let mut resp = next.run(req).await;
    let date = imf_fixdate(state.config.clock.now());
    if let Ok(value) = HeaderValue::from_str(&date) {
        resp.headers_mut().insert(header::DATE, value);
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn imf_fixdate_of_rfc_7231_example() {
        let t = DateTime::parse_from_rfc3339("1994-11-06T08:49:37Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(imf_fixdate(t), "Sun, 06 Nov 1994 08:49:37 GMT");
    }
}

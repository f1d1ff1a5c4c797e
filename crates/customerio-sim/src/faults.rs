//! Fault injection: random faults at configured rates, decided deterministically from the seed
//! and a global request counter, and scripted answers for exact tests.

use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use bytes::Bytes;
use futures::stream;
use serde::{Deserialize, Serialize};

use super::error::{error_body, json_response};
use super::hash::Key;

/// Random fault rates for `/v1` requests. Each request draws one number: below
/// `error_5xx_rate` it gets a 503, then (cumulatively) a reset, a truncated body, a malformed
/// body; the rates should sum to at most 1. Slow headers are drawn independently.
#[derive(Debug, Clone, PartialEq)]
pub struct FaultConfig {
    /// Share of requests answered 503 with an `errors[]` body.
    pub error_5xx_rate: f64,
    /// Share of requests that get status 200 and part of the body, then a connection abort.
    pub reset_rate: f64,
    /// Share of requests whose `Content-Length` is larger than the bytes sent before the close.
    pub truncate_rate: f64,
    /// Share of requests answered 200 with an HTML page or JSON cut in half.
    pub malformed_rate: f64,
    /// A delay before the response headers are sent.
    pub slow_headers: Option<Duration>,
    /// Share of requests that get `slow_headers` (default 1.0, i.e. all, when it is set).
    pub slow_headers_rate: f64,
}

impl Default for FaultConfig {
    fn default() -> Self {
        FaultConfig {
            error_5xx_rate: 0.0,
            reset_rate: 0.0,
            truncate_rate: 0.0,
            malformed_rate: 0.0,
            slow_headers: None,
            slow_headers_rate: 1.0,
        }
    }
}

/// A random fault chosen for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fault {
    Error5xx,
    Reset,
    Truncate,
    Malformed,
}

impl FaultConfig {
    /// Checks that every rate is in `[0, 1]` and that the exclusive ones sum to at most 1.
    pub(crate) fn validate(&self) -> Result<(), String> {
        let rates = [
            ("error_5xx_rate", self.error_5xx_rate),
            ("reset_rate", self.reset_rate),
            ("truncate_rate", self.truncate_rate),
            ("malformed_rate", self.malformed_rate),
            ("slow_headers_rate", self.slow_headers_rate),
        ];
        for (name, r) in rates {
            if !(0.0..=1.0).contains(&r) {
                return Err(format!("fault {name} must be between 0 and 1, got {r}"));
            }
        }
        let sum = self.error_5xx_rate + self.reset_rate + self.truncate_rate + self.malformed_rate;
        if sum > 1.0 + 1e-9 {
            return Err(format!(
                "fault rates (5xx + reset + truncate + malformed) must sum to at most 1, got {sum}"
            ));
        }
        Ok(())
    }

    /// The fault and header delay of request number `n` under `seed`.
    pub(crate) fn decide(&self, seed: u64, n: u64) -> (Option<Fault>, Option<Duration>) {
        let key = Key::new(seed).str("faults").u64(n);
        let u = key.unit();
        let mut edge = 0.0;
        let mut fault = None;
        for (rate, kind) in [
            (self.error_5xx_rate, Fault::Error5xx),
            (self.reset_rate, Fault::Reset),
            (self.truncate_rate, Fault::Truncate),
            (self.malformed_rate, Fault::Malformed),
        ] {
            edge += rate;
            if u < edge {
                fault = Some(kind);
                break;
            }
        }
        let slow = self
            .slow_headers
            .filter(|_| key.str("slow").chance(self.slow_headers_rate));
        (fault, slow)
    }
}

/// How a scripted answer is delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(from = "KindRepr", into = "KindRepr")]
pub enum ScriptKind {
    /// Answer `status` with `body` (default: an `errors[]` body for statuses >= 400; for other
    /// statuses without a body, the normal answer with its status replaced).
    #[default]
    Status,
    /// Send `status` and part of the normal body, then abort the connection.
    Reset,
    /// Send a `Content-Length` larger than the bytes that follow, then close.
    Truncate,
    /// Answer `status` with `body`, or with an HTML page when there is none.
    Malformed,
    /// Wait, then answer normally (rate limit and faults still apply).
    Delay(Duration),
    /// Send `status`, the headers and part of the normal body, then nothing more: the body stalls
    /// midway (for an hour, then the connection is aborted).
    Stall,
}

/// JSON form of [`ScriptKind`]: `"status"`, `"reset"`, `"truncate"`, `"malformed"`, `"stall"` or
/// `{"delay_ms": 250}`.
#[derive(Serialize, Deserialize)]
#[serde(untagged)]
enum KindRepr {
    Simple(SimpleKind),
    Delay { delay_ms: u64 },
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum SimpleKind {
    Status,
    Reset,
    Truncate,
    Malformed,
    Stall,
}

impl From<KindRepr> for ScriptKind {
    fn from(r: KindRepr) -> Self {
        match r {
            KindRepr::Simple(SimpleKind::Status) => ScriptKind::Status,
            KindRepr::Simple(SimpleKind::Reset) => ScriptKind::Reset,
            KindRepr::Simple(SimpleKind::Truncate) => ScriptKind::Truncate,
            KindRepr::Simple(SimpleKind::Malformed) => ScriptKind::Malformed,
            KindRepr::Simple(SimpleKind::Stall) => ScriptKind::Stall,
            KindRepr::Delay { delay_ms } => ScriptKind::Delay(Duration::from_millis(delay_ms)),
        }
    }
}

impl From<ScriptKind> for KindRepr {
    fn from(k: ScriptKind) -> Self {
        match k {
            ScriptKind::Status => KindRepr::Simple(SimpleKind::Status),
            ScriptKind::Reset => KindRepr::Simple(SimpleKind::Reset),
            ScriptKind::Truncate => KindRepr::Simple(SimpleKind::Truncate),
            ScriptKind::Malformed => KindRepr::Simple(SimpleKind::Malformed),
            ScriptKind::Stall => KindRepr::Simple(SimpleKind::Stall),
            ScriptKind::Delay(d) => KindRepr::Delay {
                delay_ms: d.as_millis().min(u128::from(u64::MAX)) as u64,
            },
        }
    }
}

/// One scripted answer, consumed by the first `/v1` request it matches (after auth).
///
/// JSON (for `POST /__sim/script`, a list of these):
/// `{"operation":"listNewsletters","workspace":"sim_us","status":429,"retry_after":1,"kind":"status"}`;
/// every field but `status` is optional.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScriptedResponse {
    /// The operation id it applies to (`listCampaigns`, ...); `None` for any.
    #[serde(default)]
    pub operation: Option<String>,
    /// The workspace name it applies to; `None` for any.
    #[serde(default)]
    pub workspace: Option<String>,
    /// The HTTP status to answer with.
    pub status: u16,
    /// A `Retry-After` header value, in seconds.
    #[serde(default)]
    pub retry_after: Option<u64>,
    /// The body to send instead of the default.
    #[serde(default)]
    pub body: Option<String>,
    /// How the answer is delivered.
    #[serde(default)]
    pub kind: ScriptKind,
    /// Answer with an `errors[]` body whose detail repeats every request header, the
    /// `Authorization` header included (what a careless proxy does), to prove the client scrubs
    /// the key from errors and logs. Takes precedence over `body` and `kind`.
    #[serde(default)]
    pub echo_headers: bool,
}

impl ScriptedResponse {
    /// A scripted `status` for any operation and workspace.
    pub fn new(status: u16) -> Self {
        ScriptedResponse {
            operation: None,
            workspace: None,
            status,
            retry_after: None,
            body: None,
            kind: ScriptKind::Status,
            echo_headers: false,
        }
    }

    /// A scripted 429 with `Retry-After: retry_after`.
    pub fn rate_limited(retry_after: u64) -> Self {
        Self::new(429).with_retry_after(retry_after)
    }

    /// A 200 delivered as `kind` (reset, truncate, malformed or delay).
    pub fn fault(kind: ScriptKind) -> Self {
        Self::new(200).with_kind(kind)
    }

    /// Only for operation `operation`.
    pub fn for_operation(mut self, operation: impl Into<String>) -> Self {
        self.operation = Some(operation.into());
        self
    }

    /// Only for workspace `workspace`.
    pub fn for_workspace(mut self, workspace: impl Into<String>) -> Self {
        self.workspace = Some(workspace.into());
        self
    }

    /// With a `Retry-After` header.
    pub fn with_retry_after(mut self, seconds: u64) -> Self {
        self.retry_after = Some(seconds);
        self
    }

    /// With a body.
    pub fn with_body(mut self, body: impl Into<String>) -> Self {
        self.body = Some(body.into());
        self
    }

    /// Echoing the request's headers (the API key included) in the error body.
    pub fn echoing_headers(mut self) -> Self {
        self.echo_headers = true;
        self
    }

    /// Delivered as `kind`.
    pub fn with_kind(mut self, kind: ScriptKind) -> Self {
        self.kind = kind;
        self
    }

    /// Whether it applies to `operation` in `workspace`.
    pub(crate) fn matches(&self, operation: &str, workspace: &str) -> bool {
        self.operation.as_deref().is_none_or(|o| o == operation)
            && self.workspace.as_deref().is_none_or(|w| w == workspace)
    }
}

/// The HTML page of a malformed answer (what a misbehaving proxy sends).
pub(crate) const HTML_PAGE: &str = "<!DOCTYPE html>\n<html><head><title>502 Bad Gateway</title></head>\
<body><h1>Bad Gateway</h1><p>The upstream server returned an invalid response.</p></body></html>\n";

/// A 503 with an `errors[]` body.
pub(crate) fn unavailable(reference: &str) -> Response {
    let status = StatusCode::SERVICE_UNAVAILABLE;
    json_response(
        status,
        error_body(
            status,
            &format!("service unavailable (reference {reference})"),
        ),
    )
}

/// How long a stalled body waits before the connection is aborted.
pub(crate) const STALL: Duration = Duration::from_secs(3600);

/// How [`cut`] ends a body after its first half.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Cut {
    /// The headers of a normal answer and half its body, then a connection abort.
    Reset,
    /// A `Content-Length` of the whole body but only its first half, then a close.
    Truncate,
    /// The headers of a normal answer (with its full `Content-Length`) and half its body, then
    /// nothing for [`STALL`], then an abort: a body that stalls midway.
    Stall,
}

/// `status`, the headers of a normal answer and the first half of `body`, then the end `how`
/// names.
pub(crate) fn cut(
    how: Cut,
    status: StatusCode,
    content_type: Option<HeaderValue>,
    body: Bytes,
) -> Response {
    // Whether `Content-Length` is the whole body's; the wait after the first half; the error
    // of the abort that follows it (none: the short body ends).
    let (full_length, wait, abort) = match how {
        // The wait lets the first chunk reach the client before the abort.
        Cut::Reset => (false, SHORT_WAIT, Some("simulated connection reset")),
        // The wait lets the headers and the first bytes out before the short body ends.
        Cut::Truncate => (true, SHORT_WAIT, None),
        Cut::Stall => (true, STALL, Some("simulated stall ended")),
    };
    let full = body.len().max(2);
    let half = body.slice(0..body.len() / 2);
    let chunks = stream::unfold(0u8, move |step| {
        let half = half.clone();
        async move {
            match step {
                0 => Some((Ok::<Bytes, std::io::Error>(half), 1)),
                1 => {
                    tokio::time::sleep(wait).await;
                    abort.map(|e| (Err(std::io::Error::other(e)), 2))
                }
                _ => None,
            }
        }
    });
    let mut builder = with_type(Response::builder().status(status), content_type);
    if full_length {
        builder = builder.header(header::CONTENT_LENGTH, full);
    }
    builder
        .body(Body::from_stream(chunks))
        .unwrap_or_else(|_| Response::new(Body::empty()))
}

/// The wait of a reset or a truncated body after its first half.
const SHORT_WAIT: Duration = Duration::from_millis(20);

/// `status` with an HTML page (`html`) or the first half of the normal JSON body.
pub(crate) fn malformed(status: StatusCode, html: bool, body: Bytes) -> Response {
    let (body, content_type) = if html {
        (
            Bytes::from_static(HTML_PAGE.as_bytes()),
            "text/html; charset=utf-8",
        )
    } else {
        (body.slice(0..body.len() / 2), "application/json")
    };
    let mut resp = Response::new(Body::from(body));
    *resp.status_mut() = status;
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    resp
}

fn with_type(
    builder: axum::http::response::Builder,
    content_type: Option<HeaderValue>,
) -> axum::http::response::Builder {
    match content_type {
        Some(ct) => builder.header(header::CONTENT_TYPE, ct),
        None => builder,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decisions_follow_the_rates_deterministically() {
        let cfg = FaultConfig {
            error_5xx_rate: 0.1,
            reset_rate: 0.1,
            truncate_rate: 0.1,
            malformed_rate: 0.1,
            slow_headers: Some(Duration::from_millis(5)),
            slow_headers_rate: 0.5,
        };
        let mut counts = [0usize; 5];
        let mut slow = 0;
        for n in 0..10_000 {
            let (f, s) = cfg.decide(42, n);
            assert_eq!((f, s), cfg.decide(42, n));
            let i = match f {
                Some(Fault::Error5xx) => 0,
                Some(Fault::Reset) => 1,
                Some(Fault::Truncate) => 2,
                Some(Fault::Malformed) => 3,
                None => 4,
            };
            counts[i] += 1;
            slow += usize::from(s.is_some());
        }
        for c in &counts[..4] {
            assert!((800..1200).contains(c), "{counts:?}");
        }
        assert!((4_500..5_500).contains(&slow), "{slow}");
        assert_eq!(FaultConfig::default().decide(42, 1), (None, None));
    }

    #[test]
    fn validation_rejects_bad_rates() {
        assert!(FaultConfig::default().validate().is_ok());
        let too_much = FaultConfig {
            error_5xx_rate: 0.6,
            reset_rate: 0.6,
            ..FaultConfig::default()
        };
        assert!(too_much.validate().is_err());
        let negative = FaultConfig {
            malformed_rate: -0.1,
            ..FaultConfig::default()
        };
        assert!(negative.validate().is_err());
    }

    #[test]
    fn script_json_round_trips() {
        let s: Vec<ScriptedResponse> = serde_json::from_str(
            r#"[{"status":429,"retry_after":1,"operation":"listNewsletters"},
                {"status":200,"kind":"reset"},{"status":200,"kind":{"delay_ms":250}},
                {"status":200,"kind":"stall"}]"#,
        )
        .unwrap();
        assert_eq!(
            s[0],
            ScriptedResponse::rate_limited(1).for_operation("listNewsletters")
        );
        assert_eq!(s[1].kind, ScriptKind::Reset);
        assert_eq!(s[2].kind, ScriptKind::Delay(Duration::from_millis(250)));
        assert_eq!(s[3].kind, ScriptKind::Stall);
        let back: ScriptedResponse =
            serde_json::from_str(&serde_json::to_string(&s[2]).unwrap()).unwrap();
        assert_eq!(back, s[2]);
        assert!(s[0].matches("listNewsletters", "any"));
        assert!(!s[0].matches("listCampaigns", "any"));
    }
}

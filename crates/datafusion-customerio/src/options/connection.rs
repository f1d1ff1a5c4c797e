//! How a table reaches Customer.io: the options every report takes (`key`, `region`, `base_url`,
//! `workspace`, `rate_limit`, `concurrency`, `max_attempts`, `request_timeout`).

use crate::api::Region;
use crate::error::{Error, Result};

use super::Given;
use super::values::{parse_duration, parse_int};

/// Default requests in flight per scan.
pub const DEFAULT_CONCURRENCY: usize = 8;

/// How a table reaches Customer.io.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ConnectionOptions {
    /// The credential name.
    pub key: String,
    /// The region, overriding the credential's.
    pub region: Option<Region>,
    /// A base URL overriding the region's and the credential's.
    pub base_url: Option<String>,
    /// The workspace label; defaults to the key name.
    pub workspace: Option<String>,
    /// Requests per second for the key.
    pub rate_limit: Option<f64>,
    /// Requests in flight per scan.
    pub concurrency: usize,
    /// Attempts per request for transient failures; `None` keeps the client's default.
    pub max_attempts: Option<u32>,
    /// Time one attempt may take; `None` keeps the client's default.
    pub request_timeout: Option<std::time::Duration>,
    /// How long answers are served from the response cache; `None`: the session's
    /// `customerio.cache_ttl` (else 0, off).
    pub cache_ttl: Option<std::time::Duration>,
}

impl ConnectionOptions {
    /// Options for the credential `key`, everything else defaulted.
    pub fn new(key: impl Into<String>) -> Self {
        ConnectionOptions {
            key: key.into(),
            region: None,
            base_url: None,
            workspace: None,
            rate_limit: None,
            concurrency: DEFAULT_CONCURRENCY,
            max_attempts: None,
            request_timeout: None,
            cache_ttl: None,
        }
    }

    /// The client's retry policy with this table's `max_attempts` and `request_timeout`.
    pub fn retry_policy(&self) -> crate::client::RetryPolicy {
        let mut policy = crate::client::RetryPolicy::default();
        if let Some(n) = self.max_attempts {
            policy.max_attempts = n;
        }
        if let Some(t) = self.request_timeout {
            policy.attempt_timeout = t;
        }
        policy
    }

    /// The label written in the `workspace` column.
    pub fn workspace_label(&self) -> &str {
        self.workspace.as_deref().unwrap_or(&self.key)
    }

    /// The connection options of `given`; `key` is required and must name a credential.
    pub(super) fn parse(given: &Given) -> Result<Self> {
        let report = given.report;
        let key = given.get("key").ok_or_else(|| {
            Error::option(
                "key",
                format!(
                    "option 'key' is required for report {report}: the name of a credential \
                     (environment variable CIO_KEY_<NAME> or an entry in the credentials file)"
                ),
            )
        })?;
        crate::credentials::check_name(key)?;
        let mut c = ConnectionOptions::new(key);
        if let Some(v) = given.get("region") {
            c.region =
                Some(v.parse().map_err(|e| {
                    Error::option_value("region", v, format!("option region: {e}"))
                })?);
        }
        if let Some(v) = given.get("base_url") {
            c.base_url = Some(check_base_url(v).map_err(|e| {
                Error::option_value(
                    "base_url",
                    without_userinfo(v),
                    format!("option base_url: {e}"),
                )
            })?);
        }
        if let Some(v) = given.get("workspace") {
            if v.is_empty() {
                return Err(Error::option_value(
                    "workspace",
                    v,
                    "option workspace: must not be empty; valid values are any non-empty label \
                     (default: the key name)",
                ));
            }
            c.workspace = Some(v.to_string());
        }
        if let Some(v) = given.get("rate_limit") {
            c.rate_limit = Some(parse_rate(v)?);
        }
        if let Some(v) = given.get("concurrency") {
            c.concurrency = parse_int("concurrency", v, 1, 64)? as usize;
        }
        if let Some(v) = given.get("max_attempts") {
            c.max_attempts = Some(parse_int("max_attempts", v, 1, 10)? as u32);
        }
        if let Some(v) = given.get("request_timeout") {
            c.request_timeout = Some(parse_duration("request_timeout", v, 10 * 60)?);
        }
        if let Some(v) = given.get("cache_ttl") {
            c.cache_ttl = Some(parse_cache_ttl("cache_ttl", v).map_err(|m| {
                Error::option_value("cache_ttl", v, format!("option cache_ttl: {m}"))
            })?);
        }
        Ok(c)
    }
}

/// Checks a base URL, the table's `base_url` option or a credential's: an http(s) URL with a
/// host and no userinfo. The URL without its trailing `/`, or what is wrong, quoting the value
/// with any userinfo removed (it may hold a password).
pub(crate) fn check_base_url(v: &str) -> std::result::Result<String, String> {
    let shown = without_userinfo(v);
    match url::Url::parse(v) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => {
            if !u.username().is_empty() || u.password().is_some() {
                return Err(format!(
                    "'{shown}' must not carry credentials (a user name or password, removed \
                     here); use the key option"
                ));
            }
            Ok(v.trim_end_matches('/').to_string())
        }
        _ => Err(format!(
            "'{shown}' is not an http(s) URL; valid values look like https://api.customer.io \
             or http://127.0.0.1:4010"
        )),
    }
}

/// `v` with the userinfo (`user:password@`) of its authority removed, for messages.
fn without_userinfo(v: &str) -> String {
    let (scheme, rest) = match v.find("://") {
        Some(i) => v.split_at(i + 3),
        None => ("", v),
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..end].rfind('@') {
        Some(at) => format!("{scheme}{}", &rest[at + 1..]),
        None => v.to_string(),
    }
}

fn parse_rate(v: &str) -> Result<f64> {
    match v.parse::<f64>() {
        Ok(r) if r.is_finite() && r > 0.0 && r <= 1000.0 => Ok(r),
        _ => Err(Error::option_value(
            "rate_limit",
            v,
            format!(
                "option rate_limit: '{v}' is not a rate; valid values are numbers above 0 and at \
                 most 1000 (requests per second; Customer.io allows 10)"
            ),
        )),
    }
}

/// A cache time to live: `0` (off) or a duration up to 24 hours (`90`, `90s`, `5m`, `1h`); what
/// is wrong otherwise.
pub fn parse_cache_ttl(name: &str, v: &str) -> std::result::Result<std::time::Duration, String> {
    match super::values::duration_text(v) {
        Some(d) if d <= std::time::Duration::from_secs(24 * 3600) => Ok(d),
        _ => Err(format!(
            "'{v}' is not a time to live for {name}; valid values are 0 (off) to 24h, written as \
             seconds or with s, m, h (0, 90, 90s, 5m, 1h)"
        )),
    }
}

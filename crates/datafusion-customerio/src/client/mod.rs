//! The Customer.io App API client: base URL, bearer auth, the per-key rate limit, retries and
//! pagination. Every API request goes through [`Client::send`], the crate's retry loop; export
//! file downloads, which are no API requests, retry under the same policy and count
//! ([`retry::Attempts`]) in [`exports::Download`].

pub mod cache;
pub mod exports;
mod kept;
pub mod models;
pub mod pagination;
pub mod ratelimit;
pub mod retry;

use std::fmt;
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;

use chrono::{DateTime, NaiveDateTime, Utc};
use datafusion::physical_plan::metrics::Count;
use reqwest::Method;
use serde::de::DeserializeOwned;

use crate::credentials::{Credential, Region, Secret};
use crate::error::{Error, Result};
pub use cache::{CacheStats, ResponseCache};
pub use kept::DEFAULT_EXPORT_CACHE_MAX_BYTES;
pub(crate) use kept::identity as kept_identity;
pub use ratelimit::{Pacers, RateLimiter};
pub use retry::RetryPolicy;

/// Customer.io's documented limit: 10 requests per second per workspace.
pub const DEFAULT_RATE_LIMIT: f64 = 10.0;

/// Request counters of one scan, shown by `EXPLAIN ANALYZE`.
#[derive(Debug, Clone, Default)]
pub struct RequestStats {
    /// HTTP requests sent (attempts, retries included).
    pub requests: Count,
    /// Attempts that were retried.
    pub retries: Count,
    /// Answers with status 429.
    pub rate_limited: Count,
    /// Response body bytes received.
    pub bytes: Count,
    /// Values that did not cast to a declared column type (and became NULL).
    pub cast_failures: Count,
    /// Requests answered by the response cache or by an identical one in flight (not sent, not
    /// counted in `requests`).
    pub cache_hits: Count,
}

/// How to reach one workspace.
#[derive(Clone)]
pub struct ClientConfig {
    /// Base URL without a trailing slash.
    pub base_url: String,
    /// The App API key.
    pub api_key: Secret,
    /// Requests per second for this key.
    pub rate_limit: f64,
    /// Retry settings.
    pub retry: RetryPolicy,
}

impl ClientConfig {
    /// A configuration from a credential and optional overrides (the table's options).
    ///
    /// The base URL is the table's `base_url`, else the credential's `base_url`, else the host of
    /// the table's region, else of the credential's region, else the US host. A table region that
    /// contradicts the credential's is refused earlier, by [`Credential::check_region`].
    pub fn from_credential(
        credential: &Credential,
        region: Option<Region>,
        base_url: Option<&str>,
        rate_limit: Option<f64>,
    ) -> Self {
        let base_url = base_url
            .map(str::to_string)
            .or_else(|| credential.base_url.clone())
            .unwrap_or_else(|| {
                region
                    .or(credential.region)
                    .unwrap_or_default()
                    .base_url()
                    .to_string()
            });
        ClientConfig {
            base_url: base_url.trim_end_matches('/').to_string(),
            api_key: credential.api_key.clone(),
            rate_limit: rate_limit.unwrap_or(DEFAULT_RATE_LIMIT),
            retry: RetryPolicy::default(),
        }
    }
}

impl fmt::Debug for ClientConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientConfig")
            .field("base_url", &self.base_url)
            .field("api_key", &self.api_key)
            .field("rate_limit", &self.rate_limit)
            .finish()
    }
}

/// The `User-Agent` of every request: the crate and version, then the process's instance label
/// if one was set ([`set_instance_label`]).
static USER_AGENT: LazyLock<String> = LazyLock::new(|| {
    let base = concat!("datafusion-customerio/", env!("CARGO_PKG_VERSION"));
    match INSTANCE.get() {
        Some(label) => format!("{base} ({label})"),
        None => base.to_string(),
    }
});
static INSTANCE: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// Names this process in the `User-Agent` of its requests (a distributed worker's address), so
/// that the server's logs tell the machines apart. Takes effect only if called before the first
/// [`Client`] is made (that builds the shared HTTP client, with its `User-Agent`).
pub fn set_instance_label(label: impl Into<String>) {
    let label: String = label
        .into()
        .chars()
        .filter(|c| c.is_ascii_graphic() || *c == ' ')
        .collect();
    let _ = INSTANCE.set(label);
}

/// The time the default HTTP client gives a connection to open. An application that wants
/// another passes its own client ([`crate::CustomerIo::with_http_client`]).
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The process's default HTTP client: [`CONNECT_TIMEOUT`], idle connections kept 30 s, and the
/// crate's `User-Agent`. Built once, on first use (its TLS roots take a while).
static HTTP: LazyLock<reqwest::Client> = LazyLock::new(|| {
    reqwest::Client::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .pool_idle_timeout(Duration::from_secs(30))
        .user_agent(USER_AGENT.as_str())
        .build()
        .unwrap_or_default()
});

/// What the clients of one [`crate::CustomerIo`] send through: an HTTP client and the pacers of
/// the keys. By default the process's ([`Transport::shared`]); an embedder replaces either
/// (its own `reqwest::Client`, with its proxy, TLS roots or timeouts; its own [`Pacers`]).
#[derive(Clone)]
pub struct Transport {
    /// `None`: the process's default client, built when the first [`Client`] is made (so that
    /// [`set_instance_label`], called after a `CustomerIo` was made, still names its requests).
    http: Option<reqwest::Client>,
    pacers: Arc<Pacers>,
    /// The response cache of the clients of this transport (one per `CustomerIo`).
    cache: Arc<ResponseCache>,
}

impl Transport {
    /// The process's HTTP client and pacers, and a response cache of its own.
    pub fn shared() -> Self {
        Transport {
            http: None,
            pacers: Pacers::shared(),
            cache: Arc::default(),
        }
    }

    /// `http` and `pacers`, and a response cache of its own.
    pub fn new(http: reqwest::Client, pacers: Arc<Pacers>) -> Self {
        Transport {
            http: Some(http),
            pacers,
            cache: Arc::default(),
        }
    }

    /// The response cache.
    pub fn cache(&self) -> &Arc<ResponseCache> {
        &self.cache
    }

    /// This transport with `http` instead of its HTTP client.
    pub fn with_http_client(mut self, http: reqwest::Client) -> Self {
        self.http = Some(http);
        self
    }

    /// This transport with `pacers` instead of its pacers.
    pub fn with_pacers(mut self, pacers: Arc<Pacers>) -> Self {
        self.pacers = pacers;
        self
    }

    /// The HTTP client (the process's default unless one was handed in).
    pub fn http(&self) -> &reqwest::Client {
        self.http.as_ref().unwrap_or(&HTTP)
    }

    /// The pacers of the keys.
    pub fn pacers(&self) -> &Arc<Pacers> {
        &self.pacers
    }
}

impl Default for Transport {
    fn default() -> Self {
        Self::shared()
    }
}

impl fmt::Debug for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Transport")
            .field("pacers", &self.pacers)
            .finish_non_exhaustive()
    }
}

/// A client for one workspace (one API key).
#[derive(Clone)]
pub struct Client {
    config: ClientConfig,
    limiter: Arc<RateLimiter>,
    http: reqwest::Client,
    cache: Arc<ResponseCache>,
    /// The credential's name, in cache keys (never the key itself); empty: no cache.
    cache_scope: Arc<str>,
    /// How long an answer is served from the cache (zero: not stored).
    cache_ttl: Duration,
    /// Query parameters whose value in cache keys is another ([`Client::with_cache_key_value`]).
    cache_values: Vec<(&'static str, String)>,
    /// The paginated listing this client reads ([`Client::listing`]).
    listing: Option<Arc<Mutex<ListingRead>>>,
    /// Where export files are kept for the time to live ([`Client::with_export_cache_dir`]).
    export_cache_dir: Option<Arc<std::path::Path>>,
}

/// Where a client made by [`Client::listing`] is in its listing.
#[derive(Debug)]
struct ListingRead {
    cache: Arc<ResponseCache>,
    /// The method and path of its first request: the listing's.
    first: Option<(Method, String)>,
    /// The listing its first page belongs to in the cache (0: none, a single page).
    id: u64,
    /// The listing's pages, when its first page came from the cache: its later pages come from
    /// here, never from the API.
    pages: Option<cache::Pages>,
    /// Read to its last page.
    ended: bool,
    /// Whether it sent the listing's first page itself (rather than sharing another's).
    owner: bool,
}

impl Drop for ListingRead {
    /// A listing its first reader left before the end serves nobody: its pages go.
    fn drop(&mut self) {
        if self.id != 0 && self.owner && !self.ended {
            self.cache.abandon_listing(self.id);
        }
    }
}

/// What a request is to the cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    /// A request on its own.
    Single,
    /// The first page of a listing.
    First,
    /// A later page of listing `id`.
    Next(u64),
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("base_url", &self.config.base_url)
            .finish()
    }
}

/// A decoded answer and the server's time when it answered.
#[derive(Debug)]
pub struct Dated<T> {
    /// The decoded body.
    pub value: T,
    /// The answer's `Date` header ([`parse_http_date`]); `None` when it is absent or unparsable.
    pub server_date: Option<DateTime<Utc>>,
    /// Whether it was held in the response cache (so its `Date` may be up to the time to live
    /// old), rather than answered now.
    pub cached: bool,
}

/// What one attempt came to.
enum Attempt<T> {
    Done(T),
    /// Retry after at least this long (zero: as soon as the limiter allows).
    Retry {
        wait: Option<Duration>,
        last: String,
        rate_limited: bool,
    },
    Fail(Error),
}

impl Client {
    /// A client with the process's HTTP client and the process-wide limiter of its key.
    pub fn new(config: ClientConfig) -> Self {
        Self::with_transport(config, &Transport::shared())
    }

    /// A client sending through `transport`: its HTTP client, and its pacer of the key.
    /// (The HTTP client is built before this, not after the first request's slot has been
    /// granted: that would send the first request late and the next ones on time, bunching them
    /// at the server.)
    pub fn with_transport(config: ClientConfig, transport: &Transport) -> Self {
        let limiter = transport.pacers.limiter_for(&config.api_key);
        Client {
            config,
            limiter,
            http: transport.http().clone(),
            cache: transport.cache.clone(),
            cache_scope: Arc::from(""),
            cache_ttl: Duration::ZERO,
            cache_values: Vec::new(),
            listing: None,
            export_cache_dir: None,
        }
    }

    /// This client with the export files it downloads kept in `dir` for its time to live
    /// ([`Client::export_cache_file`]).
    pub fn with_export_cache_dir(mut self, dir: Option<std::path::PathBuf>) -> Self {
        self.export_cache_dir = dir.map(Arc::from);
        self
    }

    /// Where the file of the export `body` creates (`kind`: `customers`, `deliveries`) is kept,
    /// if export files are kept: a file in the export cache directory whose name begins with the
    /// returned prefix and ends with the export's id. The prefix is a hash (with this process's
    /// salt) of the credential's name, its key's fingerprint, the base URL, the kind and the
    /// body; nothing of the key. `None` when no directory is set, the time to live is 0, or the
    /// cache is off or bounded at 0.
    pub fn export_cache_file(
        &self,
        kind: &str,
        body: &serde_json::Value,
    ) -> Option<(std::path::PathBuf, String)> {
        use std::hash::BuildHasher;
        let dir = self.export_cache_dir.as_ref()?;
        if self.cache_scope.is_empty()
            || self.cache_ttl.is_zero()
            || self.cache.is_disabled()
            || self.cache.max_bytes() == 0
        {
            return None;
        }
        // What earlier processes left (their names are salted: nobody reads them any more).
        self.cache
            .exports()
            .sweep(dir, Duration::from_secs(25 * 3600));
        let what = format!(
            "{}\n{:016x}\n{}\nPOST /v1/exports/{kind}\n{body}",
            self.cache_scope,
            key_fingerprint(&self.config.api_key),
            self.config.base_url
        );
        let salt = &*EXPORT_SALT;
        let prefix = format!(
            "cio-export-{:016x}{:016x}-",
            salt.0.hash_one(&what),
            salt.1.hash_one(&what)
        );
        Some((dir.to_path_buf(), prefix))
    }

    /// This client for one paginated listing: its first request is the listing's first page and
    /// its later requests with the same method and path its next pages, so that the cache holds
    /// and serves the pages together (see [`cache`]). Call [`Client::end_listing`] after the last
    /// page.
    pub fn listing(&self) -> Self {
        let read = ListingRead {
            cache: self.cache.clone(),
            first: None,
            id: 0,
            pages: None,
            ended: false,
            owner: false,
        };
        Client {
            listing: Some(Arc::new(Mutex::new(read))),
            ..self.clone()
        }
    }

    /// The listing has been read to its end: a new read may start from its pages.
    pub fn end_listing(&self) {
        if let Some(l) = &self.listing {
            let mut l = l.lock().unwrap_or_else(|e| e.into_inner());
            l.ended = true;
            if l.id != 0 {
                self.cache.end_listing(l.id);
            }
        }
    }

    /// What a request with `method` and `path` is to the cache.
    fn role(&self, method: &Method, path: &str) -> Role {
        let Some(l) = &self.listing else {
            return Role::Single;
        };
        let mut l = l.lock().unwrap_or_else(|e| e.into_inner());
        match &l.first {
            None => {
                l.first = Some((method.clone(), path.to_string()));
                Role::First
            }
            Some((m, p)) if m == method && p == path => match l.id {
                0 => Role::Single,
                id => Role::Next(id),
            },
            Some(_) => Role::Single,
        }
    }

    /// Notes the listing a first page belongs to, and its pages if it came from the cache.
    /// (`owner`: it sent the first page itself.)
    fn adopt(&self, role: Role, answer: &cache::Answer, pages: Option<cache::Pages>, owner: bool) {
        if let (Role::First, Some(l)) = (role, &self.listing) {
            let mut l = l.lock().unwrap_or_else(|e| e.into_inner());
            l.id = answer.listing;
            l.pages = pages.filter(|_| answer.listing != 0);
            l.owner = owner;
        }
    }

    /// What is held for a request: for a later page of a listing served from the cache, that
    /// listing's page (`Err` if it has none: its reads would differ from the one it holds).
    fn held(&self, role: Role, key: &str) -> std::result::Result<Option<cache::Answer>, ()> {
        match role {
            Role::Next(_) => {
                let served = self.listing.as_ref().and_then(|l| {
                    let l = l.lock().unwrap_or_else(|e| e.into_inner());
                    l.pages.as_ref().map(|pages| pages.get(key).cloned())
                });
                match served {
                    Some(Some(page)) => Ok(Some(page)),
                    Some(None) => Err(()),
                    None => Ok(self.cache.get_page(key)),
                }
            }
            _ => Ok(self.cache.get(key, self.cache_ttl).map(|(answer, pages)| {
                self.adopt(role, &answer, Some(pages), false);
                answer
            })),
        }
    }

    /// This client with `value` in place of query parameter `param`'s value in its cache keys:
    /// for a caller whose requests that differ in that parameter have the same answer when the
    /// value is the same (the version-2 campaign metrics' `end`, which moves with the clock
    /// inside the current bucket: its key value is the bucket's start).
    pub fn with_cache_key_value(mut self, param: &'static str, value: String) -> Self {
        self.cache_values.push((param, value));
        self
    }

    /// This client with its answers cached under the credential name `scope` for `ttl` (zero:
    /// identical requests in flight are still shared, nothing is stored or read).
    pub fn with_cache(mut self, scope: &str, ttl: Duration) -> Self {
        self.cache_scope = Arc::from(scope);
        self.cache_ttl = ttl;
        self
    }

    /// The response cache it reads and stores in.
    pub fn cache(&self) -> &Arc<ResponseCache> {
        &self.cache
    }

    /// The time to live of its cached answers.
    pub fn cache_ttl(&self) -> Duration {
        self.cache_ttl
    }

    /// The cache key of a request, if it may be answered by the cache or by an identical one in
    /// flight: reads only, never an export (their status and links must be fresh).
    fn cache_key(
        &self,
        method: &Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&serde_json::Value>,
    ) -> Option<String> {
        if self.cache_scope.is_empty() || path.starts_with("/v1/exports") {
            return None;
        }
        let read = *method == Method::GET
            || (*method == Method::POST
                && matches!(
                    path,
                    "/v1/customers" | "/v1/customers/attributes" | "/v1/objects"
                ));
        if !read {
            return None;
        }
        // The credential's name and a salted fingerprint of its key (a name re-pointed at
        // another key must not read the old key's answers); never the key.
        let mut key = format!(
            "{}\n{:016x}\n{}\n{method} {path}",
            self.cache_scope,
            key_fingerprint(&self.config.api_key),
            self.config.base_url
        );
        for (k, v) in query {
            let v = self
                .cache_values
                .iter()
                .find(|(p, _)| p == k)
                .map_or(v.as_str(), |(_, kv)| kv.as_str());
            // Quoted (escaped): no value can pass for another parameter.
            key.push_str(&format!("\n{k:?}={v:?}"));
        }
        if let Some(b) = body {
            key.push('\n');
            key.push_str(&b.to_string());
        }
        Some(key)
    }

    /// The base URL requests go to.
    pub fn base_url(&self) -> &str {
        &self.config.base_url
    }

    /// `GET path?query`, decoded as `T`.
    pub async fn get<T: DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, String)],
        stats: &RequestStats,
    ) -> Result<T> {
        self.send(Method::GET, path, query, None, stats).await
    }

    /// `GET path?query`, decoded as `T`, with the server's time from the answer's `Date` header
    /// (for what is relative to the server's "now", like version-1 metric buckets).
    pub async fn get_dated<T: DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, String)],
        stats: &RequestStats,
    ) -> Result<Dated<T>> {
        self.send_dated(Method::GET, path, query, None, stats, decode_body::<T>)
            .await
    }

    /// `POST path?query` with a JSON body, decoded as `T`.
    pub async fn post<T: DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, String)],
        body: &serde_json::Value,
        stats: &RequestStats,
    ) -> Result<T> {
        self.send(Method::POST, path, query, Some(body), stats)
            .await
    }

    /// `POST path?query` with a JSON body, the answer decoded by `decode` (a decoder of its own,
    /// e.g. one that borrows from the body; its [`BodyError`]s are treated as
    /// [`decode_body`]'s: syntax errors are retried, others fail).
    pub async fn post_with<T, D>(
        &self,
        path: &str,
        query: &[(&str, String)],
        body: &serde_json::Value,
        stats: &RequestStats,
        decode: D,
    ) -> Result<T>
    where
        D: Fn(&[u8]) -> std::result::Result<T, BodyError>,
    {
        self.send_with(Method::POST, path, query, Some(body), stats, decode)
            .await
    }

    /// Sends a request with rate limiting and retries, and decodes the answer.
    ///
    /// 429 waits for `Retry-After` (pausing every request of the key), else backs off; 408, 5xx,
    /// transport errors, timeouts and bodies that fail mid-read or do not parse are retried with
    /// jittered exponential backoff, at most `max_attempts` times and within `deadline`; any other
    /// status fails at once with Customer.io's `errors[].detail`.
    pub async fn send<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&serde_json::Value>,
        stats: &RequestStats,
    ) -> Result<T> {
        self.send_with(method, path, query, body, stats, decode_body::<T>)
            .await
    }

    /// [`Client::send`] with the answer decoded by `decode`.
    pub async fn send_with<T, D>(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&serde_json::Value>,
        stats: &RequestStats,
        decode: D,
    ) -> Result<T>
    where
        D: Fn(&[u8]) -> std::result::Result<T, BodyError>,
    {
        self.send_dated(method, path, query, body, stats, decode)
            .await
            .map(|d| d.value)
    }

    /// [`Client::send_with`], with the `Date` of the answer that was decoded.
    pub async fn send_dated<T, D>(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&serde_json::Value>,
        stats: &RequestStats,
        decode: D,
    ) -> Result<Dated<T>>
    where
        D: Fn(&[u8]) -> std::result::Result<T, BodyError>,
    {
        let Some(key) = self.cache_key(&method, path, query, body) else {
            return self
                .fetch(method, path, query, body, stats, &decode)
                .await
                .map(|(dated, _)| dated);
        };
        let role = self.role(&method, path);
        // A later page is keyed by its listing too: only a reader of that listing finds it.
        let key = match role {
            Role::Next(id) => format!("{key}\u{1f}listing={id}"),
            _ => key,
        };
        let decode_shared = |answer: &cache::Answer, cached: bool| -> Result<Dated<T>> {
            let value = decode(&answer.body).map_err(|e| Error::Malformed {
                endpoint: format!("{method} {path}"),
                detail: self.scrub(&e.to_string()),
            })?;
            Ok(Dated {
                value,
                server_date: answer.date,
                cached,
            })
        };
        let held = |client: &Self| {
            client.held(role, &key).map_err(|()| {
                // Dropped: it fails this read, not every read for its time to live.
                if let Role::Next(id) = role {
                    client.cache.drop_listing(id);
                }
                Error::DataFusion(datafusion::error::DataFusionError::Internal(format!(
                    "{method} {path}: the listing this read was served from in the response \
                     cache has no page for this request"
                )))
            })
        };
        if let Some(answer) = held(self)? {
            stats.cache_hits.add(1);
            self.cache.hit();
            return decode_shared(&answer, true);
        }
        let cell = self.cache.inflight(&key);
        let _in_flight = self.cache.guard(&key, &cell);
        // An identical request may have been answered, held and gone between the lookup and now.
        if cell.get().is_none()
            && let Some(answer) = held(self)?
        {
            stats.cache_hits.add(1);
            self.cache.hit();
            return decode_shared(&answer, true);
        }
        let mut own: Option<Dated<T>> = None;
        let shared = cell
            .get_or_try_init(|| async {
                let (dated, bytes) = self
                    .fetch(method.clone(), path, query, body, stats, &decode)
                    .await?;
                let mut answer = cache::Answer::new(bytes, dated.server_date);
                // A first page starts a listing (served to new reads once read to its end, a
                // single page included); pages are only read through listings, the paginators'
                // clients ([`Client::listing`]), so anything else is an answer on its own.
                // Held before the readers sharing it see it: one of them may go on to the
                // listing's next page, or end it, at once.
                match role {
                    Role::Next(id) => self.cache.put_page(&key, answer.clone(), id),
                    Role::First => {
                        answer.listing = self.cache.new_listing();
                        self.cache.put(&key, answer.clone(), self.cache_ttl)
                    }
                    Role::Single => self.cache.put(&key, answer.clone(), self.cache_ttl),
                }
                own = Some(dated);
                Ok::<_, Error>(answer)
            })
            .await;
        let answer = shared?.clone();
        self.adopt(role, &answer, None, own.is_some());
        match own {
            Some(dated) => {
                self.cache.miss();
                Ok(dated)
            }
            None => {
                stats.cache_hits.add(1);
                self.cache.hit();
                decode_shared(&answer, false)
            }
        }
    }

    /// Sends one request (with its retries) and decodes the answer: the value and the body.
    async fn fetch<T, D>(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&serde_json::Value>,
        stats: &RequestStats,
        decode: &D,
    ) -> Result<(Dated<T>, bytes::Bytes)>
    where
        D: Fn(&[u8]) -> std::result::Result<T, BodyError>,
    {
        let endpoint = format!("{method} {path}");
        let policy = &self.config.retry;
        let mut budget = retry::Attempts::new(policy);
        let mut throttled = 0u32;
        loop {
            self.limiter.acquire(self.config.rate_limit).await;
            stats.requests.add(1);
            let outcome = self
                .attempt(&method, path, query, body, &endpoint, stats, decode)
                .await;
            let (wait, last, rate_limited) = match outcome {
                Attempt::Done(v) => return Ok(v),
                Attempt::Fail(e) => return Err(e),
                Attempt::Retry {
                    wait,
                    last,
                    rate_limited,
                } => (wait, last, rate_limited),
            };
            let attempts = budget.failures() + throttled + 1;
            let wait = if rate_limited {
                throttled += 1;
                stats.rate_limited.add(1);
                let wait = wait.unwrap_or_else(|| policy.backoff(throttled));
                self.limiter.pause_for(wait);
                (throttled <= policy.max_rate_limited && budget.allows(wait)).then_some(wait)
            } else {
                budget.failed()
            };
            let Some(wait) = wait else {
                return Err(Error::RetriesExhausted {
                    endpoint,
                    attempts,
                    elapsed: budget.elapsed(),
                    last,
                });
            };
            stats.retries.add(1);
            tracing::debug!(%endpoint, attempts, ?wait, %last, "retrying");
            if !rate_limited {
                tokio::time::sleep(wait).await;
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    async fn attempt<T, D>(
        &self,
        method: &Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&serde_json::Value>,
        endpoint: &str,
        stats: &RequestStats,
        decode: &D,
    ) -> Attempt<(Dated<T>, bytes::Bytes)>
    where
        D: Fn(&[u8]) -> std::result::Result<T, BodyError>,
    {
        let url = format!("{}{}", self.config.base_url, path);
        let mut req = self
            .http
            .request(method.clone(), &url)
            .bearer_auth(self.config.api_key.expose())
            .header(reqwest::header::ACCEPT, "application/json")
            .timeout(self.config.retry.attempt_timeout)
            .query(query);
        if let Some(b) = body {
            req = req.json(b);
        }
        let resp = match req.send().await {
            Ok(r) => r,
            Err(e) => return self.transport_retry(e),
        };
        let status = resp.status().as_u16();
        let retry_after = resp
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(retry::parse_retry_after);
        let server_date = resp
            .headers()
            .get(reqwest::header::DATE)
            .and_then(|v| v.to_str().ok())
            .and_then(parse_http_date);
        let bytes = match resp.bytes().await {
            Ok(b) => b,
            Err(e) => return self.transport_retry(e),
        };
        stats.bytes.add(bytes.len());
        if status == 429 {
            return Attempt::Retry {
                wait: retry_after,
                last: "HTTP 429 (rate limited)".to_string(),
                rate_limited: true,
            };
        }
        if retry::is_transient(status) {
            let detail = self.scrub(&error_detail(&bytes));
            return Attempt::Retry {
                wait: None,
                last: format!("HTTP {status}: {detail}"),
                rate_limited: false,
            };
        }
        if !(200..300).contains(&status) {
            let detail = self.scrub(&error_detail(&bytes));
            return Attempt::Fail(Error::Api {
                endpoint: endpoint.to_string(),
                status,
                detail,
            });
        }
        match decode(&bytes) {
            Ok(value) => Attempt::Done((
                Dated {
                    value,
                    server_date,
                    cached: false,
                },
                bytes,
            )),
            Err(BodyError::Trailing(e)) => Attempt::Retry {
                wait: None,
                last: format!("HTTP {status} with trailing data after the JSON ({e})"),
                rate_limited: false,
            },
            Err(BodyError::Value(e)) if e.inner().is_syntax() || e.inner().is_eof() => {
                Attempt::Retry {
                    wait: None,
                    last: format!("HTTP {status} with an unreadable body ({})", e.inner()),
                    rate_limited: false,
                }
            }
            Err(e) => Attempt::Fail(Error::Malformed {
                endpoint: endpoint.to_string(),
                detail: self.scrub(&e.to_string()),
            }),
        }
    }

    fn transport_retry<T>(&self, e: reqwest::Error) -> Attempt<T> {
        let kind = if e.is_timeout() {
            "timed out"
        } else if e.is_connect() {
            "connection failed"
        } else if e.is_body() || e.is_decode() {
            "body cut off"
        } else {
            "transport error"
        };
        // reqwest's message names the URL (never the header); keep the source chain short.
        let mut msg = format!("{kind}: {e}");
        let mut src = std::error::Error::source(&e);
        while let Some(s) = src {
            msg.push_str(&format!(": {s}"));
            src = s.source();
        }
        Attempt::Retry {
            wait: None,
            last: self.scrub(&msg),
            rate_limited: false,
        }
    }

    /// Removes the key from text that came from elsewhere (a server may echo headers back).
    fn scrub(&self, text: &str) -> String {
        let key = self.config.api_key.expose();
        if key.is_empty() {
            text.to_string()
        } else {
            text.replace(key, "***")
        }
    }
}

/// Two salts for export file names: 128 bits, so that two exports' names do not collide.
static EXPORT_SALT: LazyLock<(
    std::collections::hash_map::RandomState,
    std::collections::hash_map::RandomState,
)> = LazyLock::new(Default::default);

/// A fingerprint of `key` for cache keys: a hash with a random per-process salt, so that the
/// same name re-pointed at another key is another entry, while nothing of the key can be read
/// back from it.
fn key_fingerprint(key: &Secret) -> u64 {
    use std::hash::BuildHasher;
    static SALT: LazyLock<std::collections::hash_map::RandomState> =
        LazyLock::new(std::collections::hash_map::RandomState::new);
    SALT.hash_one(key.expose())
}

/// An HTTP `Date` header value (RFC 7231 §7.1.1.1): the preferred IMF-fixdate
/// (`Sun, 06 Nov 1994 08:49:37 GMT`), or either obsolete form a recipient must also accept
/// (RFC 850 `Sunday, 06-Nov-94 08:49:37 GMT`, asctime `Sun Nov  6 08:49:37 1994`). `None` for
/// anything else.
pub fn parse_http_date(value: &str) -> Option<DateTime<Utc>> {
    let v = value.trim();
    if let Some(fixed) = v.strip_suffix(" GMT") {
        for format in ["%a, %d %b %Y %H:%M:%S", "%A, %d-%b-%y %H:%M:%S"] {
            if let Ok(t) = NaiveDateTime::parse_from_str(fixed, format) {
                return Some(t.and_utc());
            }
        }
        return None;
    }
    let asctime = v.split_whitespace().collect::<Vec<_>>().join(" ");
    NaiveDateTime::parse_from_str(&asctime, "%a %b %e %H:%M:%S %Y")
        .ok()
        .map(|t| t.and_utc())
}

/// Why a JSON answer did not decode.
#[derive(Debug)]
pub enum BodyError {
    /// The value decoded, but more than whitespace follows it.
    Trailing(serde_json::Error),
    /// The value did not decode; the error knows the JSON path where.
    Value(serde_path_to_error::Error<serde_json::Error>),
}

impl fmt::Display for BodyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BodyError::Trailing(e) => write!(f, "trailing data after the JSON ({e})"),
            BodyError::Value(e) => write!(f, "at {}: {}", e.path(), e.inner()),
        }
    }
}

/// Decodes a JSON answer as every request does: with the JSON path in the error
/// (`serde_path_to_error`), and nothing but whitespace after the value.
///
/// The path is only tracked for an answer that does not decode: tracking it costs an allocation
/// per map key, which was a fifth of the time of a people page. Tracking does not change what a
/// value decodes to, so a failure is simply decoded again, with the path.
pub fn decode_body<T: DeserializeOwned>(bytes: &[u8]) -> std::result::Result<T, BodyError> {
    if let Some(v) = decode_fast::<T>(bytes) {
        return Ok(v);
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let v = serde_path_to_error::deserialize::<_, T>(&mut de).map_err(BodyError::Value)?;
    de.end().map_err(BodyError::Trailing)?;
    Ok(v)
}

/// `bytes` decoded as `T` (nothing but whitespace after it) the fast way, or `None`: without
/// the path of an error, and from text checked to be UTF-8 once, not string by string. A `None`
/// is for [`decode_body`] to decode again, with the path.
pub fn decode_fast<'a, T: serde::Deserialize<'a>>(bytes: &'a [u8]) -> Option<T> {
    let text = std::str::from_utf8(bytes).ok()?;
    let mut de = serde_json::Deserializer::from_str(text);
    let v = T::deserialize(&mut de).ok()?;
    de.end().ok().map(|()| v)
}

/// Customer.io's error text from a body: `errors[].detail` (2026), `meta.errors` (2022),
/// `error`/`message` strings, a bare JSON string, or a short excerpt of anything else.
pub fn error_detail(body: &[u8]) -> String {
    use serde_json::Value;
    if let Ok(v) = serde_json::from_slice::<Value>(body) {
        if let Some(errors) = v.get("errors").and_then(Value::as_array) {
            let details: Vec<String> = errors
                .iter()
                .filter_map(|e| e.get("detail").and_then(Value::as_str).map(str::to_string))
                .collect();
            if !details.is_empty() {
                return details.join("; ");
            }
        }
        if let Some(errors) = v.pointer("/meta/errors").and_then(Value::as_array) {
            let details: Vec<String> = errors
                .iter()
                .filter_map(|e| e.as_str().map(str::to_string))
                .collect();
            if !details.is_empty() {
                return details.join("; ");
            }
        }
        for field in ["error", "message"] {
            if let Some(s) = v.get(field).and_then(Value::as_str) {
                return s.to_string();
            }
        }
        if let Some(s) = v.as_str() {
            return s.to_string();
        }
    }
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if text.is_empty() {
        return "(empty body)".to_string();
    }
    let excerpt: String = text.chars().take(200).collect();
    let excerpt = excerpt.split_whitespace().collect::<Vec<_>>().join(" ");
    if text.chars().count() > 200 {
        format!("{excerpt}...")
    } else {
        excerpt
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_keys_name_the_credential_never_the_key_and_skip_writes_and_exports() {
        let config = ClientConfig {
            base_url: "http://127.0.0.1:9".into(),
            api_key: Secret::new("s3cr3t-api-key-value"),
            rate_limit: 1.0,
            retry: RetryPolicy::default(),
        };
        let c = Client::new(config).with_cache("acme", Duration::from_secs(60));
        let body = serde_json::json!({"filter": {"segment": {"id": 1}}});
        let key = c
            .cache_key(
                &Method::POST,
                "/v1/customers",
                &[("limit", "10".into())],
                Some(&body),
            )
            .unwrap();
        assert!(key.starts_with("acme\n"), "{key}");
        assert!(
            key.contains("\nhttp://127.0.0.1:9\nPOST /v1/customers"),
            "{key}"
        );
        assert!(!key.contains("s3cr3t"), "{key}");
        assert!(
            key.contains("\"limit\"=\"10\"") && key.contains("segment"),
            "{key}"
        );
        // Another key under the same name: another entry.
        let mut other = c.config.clone();
        other.api_key = Secret::new("another-key");
        let other = Client::new(other).with_cache("acme", Duration::from_secs(60));
        assert_ne!(
            other.cache_key(&Method::GET, "/v1/segments", &[], None),
            c.cache_key(&Method::GET, "/v1/segments", &[], None)
        );
        assert!(
            c.cache_key(&Method::POST, "/v1/exports/customers", &[], Some(&body))
                .is_none()
        );
        assert!(
            c.cache_key(&Method::GET, "/v1/exports/7", &[], None)
                .is_none()
        );
        assert!(
            c.cache_key(&Method::DELETE, "/v1/segments/1", &[], None)
                .is_none()
        );
        // Without a scope (a client not made by a table), nothing is cached or shared.
        let bare = Client::new(c.config.clone());
        assert!(
            bare.cache_key(&Method::GET, "/v1/segments", &[], None)
                .is_none()
        );
        // `end` keyed by the value the caller gives (the current bucket's start).
        let q = |end: &str| vec![("start", "1".to_string()), ("end", end.to_string())];
        let v2 = c.clone().with_cache_key_value("end", "100".into());
        assert_eq!(
            v2.cache_key(&Method::GET, "/v1/campaigns/1/metrics", &q("105"), None),
            v2.cache_key(&Method::GET, "/v1/campaigns/1/metrics", &q("109"), None)
        );
        let next_bucket = c.clone().with_cache_key_value("end", "200".into());
        assert_ne!(
            v2.cache_key(&Method::GET, "/v1/campaigns/1/metrics", &q("105"), None),
            next_bucket.cache_key(&Method::GET, "/v1/campaigns/1/metrics", &q("205"), None)
        );
        // A value holding a separator cannot pass for another parameter.
        assert_ne!(
            c.cache_key(&Method::GET, "/v1/x", &[("a", "1\n\"b\"=\"2".into())], None),
            c.cache_key(
                &Method::GET,
                "/v1/x",
                &[("a", "1".into()), ("b", "2".into())],
                None
            )
        );
    }

    #[test]
    fn error_details_in_every_shape() {
        assert_eq!(
            error_detail(br#"{"errors":[{"detail":"unauthorized","status":"401"}]}"#),
            "unauthorized"
        );
        assert_eq!(
            error_detail(br#"{"meta":{"errors":["bad filter"]}}"#),
            "bad filter"
        );
        assert_eq!(error_detail(br#""Segment not found""#), "Segment not found");
        assert_eq!(error_detail(br#"{"error":"nope"}"#), "nope");
        assert_eq!(
            error_detail(b"<html>\n<b>502</b></html>"),
            "<html> <b>502</b></html>"
        );
        assert_eq!(error_detail(b""), "(empty body)");
    }

    #[test]
    fn http_dates_in_the_three_forms() {
        let t = |s: &str| parse_http_date(s).map(|t| t.to_rfc3339());
        let expected = Some("1994-11-06T08:49:37+00:00".to_string());
        assert_eq!(t("Sun, 06 Nov 1994 08:49:37 GMT"), expected);
        assert_eq!(t("Sunday, 06-Nov-94 08:49:37 GMT"), expected);
        assert_eq!(t("Sun Nov  6 08:49:37 1994"), expected);
        assert_eq!(
            t("Sun, 08 Mar 2026 05:00:00 GMT"),
            Some("2026-03-08T05:00:00+00:00".to_string())
        );
        for bad in [
            "",
            "yesterday",
            "Sun, 06 Nov 1994 08:49:37 +0100",
            "1994-11-06T08:49:37Z",
        ] {
            assert_eq!(t(bad), None, "{bad}");
        }
    }

    #[test]
    fn base_url_precedence() {
        let cred = Credential::new("k").with_region(Region::Eu);
        assert_eq!(
            ClientConfig::from_credential(&cred, None, None, None).base_url,
            "https://api-eu.customer.io"
        );
        let cred = cred.with_base_url("http://127.0.0.1:9/");
        assert_eq!(
            ClientConfig::from_credential(&cred, None, None, None).base_url,
            "http://127.0.0.1:9"
        );
        // The credential's base URL wins over a table region (a proxy stays in the path).
        assert_eq!(
            ClientConfig::from_credential(&cred, Some(Region::Eu), None, None).base_url,
            "http://127.0.0.1:9"
        );
        // Without a base URL, the table's region wins over the credential's.
        assert_eq!(
            ClientConfig::from_credential(&Credential::new("k"), Some(Region::Eu), None, None)
                .base_url,
            "https://api-eu.customer.io"
        );
        assert_eq!(
            ClientConfig::from_credential(&cred, Some(Region::Us), Some("http://x:1"), Some(3.0))
                .base_url,
            "http://x:1"
        );
        let dbg = format!(
            "{:?}",
            ClientConfig::from_credential(&Credential::new("canary-key"), None, None, None)
        );
        assert!(!dbg.contains("canary"), "{dbg}");
    }
}

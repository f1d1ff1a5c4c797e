//! Asynchronous exports: create, poll until `done` or `failed`, ask for a signed link, and fetch
//! the file from it without the bearer header. The file comes back as a byte stream; turning it
//! into rows is the report's job, after [`Unpack`] (gzip, however it is labelled).
//!
//! Two kinds of waiting, not to be confused: polling an export that is still `pending` is the
//! poll cadence ([`wait_done`], bounded by `export_timeout`), not a retry; a failure (of a poll,
//! of opening the file, a download cut off) is retried under the table's [`RetryPolicy`]: the
//! API requests by [`Client::send`], the file by [`Download`], with the same count and backoff
//! ([`Attempts`]).

use std::borrow::Cow;
use std::io::Write;
use std::time::Duration;

use bytes::Bytes;
use futures::{Stream, StreamExt, TryStreamExt};
use serde::{Deserialize, Deserializer};
use serde_json::Value;
use tokio::time::Instant;

use super::retry::Attempts;
use super::{Client, RequestStats, RetryPolicy};
use crate::error::{Error, Result};

/// The first pause between two polls of a `pending` export; each pause doubles, up to
/// [`POLL_MAX_PAUSE`]. The poll cadence, not a retry.
const POLL_FIRST_PAUSE: Duration = Duration::from_millis(500);
/// The longest pause between two polls of a `pending` export.
const POLL_MAX_PAUSE: Duration = Duration::from_secs(15);
/// The time one attempt at downloading a file may take, body included: files can be large, so
/// not the policy's `attempt_timeout`, which is for API answers.
const DOWNLOAD_TIMEOUT: Duration = Duration::from_secs(6 * 3600);

/// An export as `GET /v1/exports/{id}` describes it.
#[derive(Debug, Clone, Deserialize)]
pub struct Export {
    /// The export id (an integer live; the vendor example writes `"111,"`).
    #[serde(deserialize_with = "loose_id")]
    pub id: i64,
    /// `pending`, `done` or `failed`; absent right after creation.
    #[serde(default)]
    pub status: Option<String>,
    /// Whether it failed.
    #[serde(default)]
    pub failed: Option<bool>,
    /// Rows in the file once done (0 until then).
    #[serde(default)]
    pub total: Option<i64>,
    /// What Customer.io says it is.
    #[serde(default)]
    pub description: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Envelope {
    export: Export,
}

#[derive(Debug, Deserialize)]
struct Link {
    #[serde(default)]
    url: Option<String>,
}

fn loose_id<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<i64, D::Error> {
    match Value::deserialize(d)? {
        Value::Number(n) => n
            .as_i64()
            .ok_or_else(|| serde::de::Error::custom("id out of range")),
        Value::String(s) => {
            let digits: String = s.chars().filter(char::is_ascii_digit).collect();
            digits
                .parse()
                .map_err(|_| serde::de::Error::custom(format!("id '{s}' is not a number")))
        }
        other => Err(serde::de::Error::custom(format!(
            "id {other} is not a number"
        ))),
    }
}

/// Starts an export: `POST /v1/exports/customers` or `/v1/exports/deliveries` with `body`.
pub async fn create(
    client: &Client,
    kind: &str,
    body: &Value,
    stats: &RequestStats,
) -> Result<Export> {
    let e: Envelope = client
        .post(&format!("/v1/exports/{kind}"), &[], body, stats)
        .await?;
    Ok(e.export)
}

/// Polls `GET /v1/exports/{id}` with growing pauses until it is `done`; `failed` or running past
/// `timeout` is an error naming the export and `what` it exports.
///
/// A `pending` answer is no failure: the pauses between polls (500 ms, doubling up
/// to 15 s) are the poll cadence, and `timeout` (`export_timeout`) bounds them.
/// A poll that fails (5xx, a transport error) is retried by [`Client::send`] under the table's
/// [`RetryPolicy`] (`max_attempts`, backoff, deadline), as every API request is.
pub async fn wait_done(
    client: &Client,
    id: i64,
    what: &str,
    timeout: Duration,
    stats: &RequestStats,
) -> Result<Export> {
    let started = Instant::now();
    let mut pause = POLL_FIRST_PAUSE;
    loop {
        let e: Envelope = client.get(&format!("/v1/exports/{id}"), &[], stats).await?;
        let export = e.export;
        let status = export.status.as_deref().unwrap_or("pending");
        if export.failed == Some(true) || status == "failed" {
            let said = export.description.as_deref().unwrap_or("no description");
            return Err(Error::Export(format!(
                "export {id} ({what}) failed; Customer.io says: status {status}, {said}"
            )));
        }
        if status == "done" {
            return Ok(export);
        }
        if started.elapsed() + pause > timeout {
            return Err(Error::Export(format!(
                "export {id} ({what}) is still {status} after {:.0}s, past export_timeout {}s; \
                 raise export_timeout or try again later",
                started.elapsed().as_secs_f64(),
                timeout.as_secs()
            )));
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(POLL_MAX_PAUSE);
    }
}

/// A fresh signed link: `GET /v1/exports/{id}/download`.
pub async fn download_url(client: &Client, id: i64, stats: &RequestStats) -> Result<String> {
    let link: Link = client
        .get(&format!("/v1/exports/{id}/download"), &[], stats)
        .await?;
    link.url
        .filter(|u| !u.is_empty())
        .ok_or_else(|| Error::Malformed {
            endpoint: format!("GET /v1/exports/{id}/download"),
            detail: "at url: expected the signed link of the file (a non-empty string), got none \
                     though the export is done"
                .into(),
        })
}

/// The link without its query (the signature): safe to show.
pub fn redact_url(url: &str) -> String {
    url.split(['?', '#']).next().unwrap_or_default().to_string()
}

/// Why opening a download failed.
#[derive(Debug)]
pub enum OpenError {
    /// The link expired or was refused (403/401): ask for a new one.
    Expired(String),
    /// Anything else.
    Other(Error),
}

/// Opens the file at a signed link, without the bearer header, as a stream of chunks.
pub async fn open(
    http: &reqwest::Client,
    url: &str,
    stats: &RequestStats,
) -> std::result::Result<impl Stream<Item = Result<Bytes>> + Send + 'static + use<>, OpenError> {
    let shown = redact_url(url);
    stats.requests.add(1);
    let resp = http
        .get(url)
        .timeout(DOWNLOAD_TIMEOUT)
        .send()
        .await
        .map_err(|e| {
            OpenError::Other(Error::Export(format!(
                "download {shown} failed: {}",
                without_url(&e)
            )))
        })?;
    let status = resp.status().as_u16();
    if status == 401 || status == 403 {
        return Err(OpenError::Expired(format!(
            "download {shown} answered HTTP {status}"
        )));
    }
    if !(200..300).contains(&status) {
        let body = resp.bytes().await.unwrap_or_default();
        return Err(OpenError::Other(Error::Export(format!(
            "download {shown} failed with HTTP {status}: {}",
            super::error_detail(&body)
        ))));
    }
    // reqwest decodes no `Content-Encoding` here: gzip reaches the report as is, and is read by
    // its magic bytes (`Unpack`); an encoding we cannot read must not be parsed as CSV.
    if let Some(encoding) = resp.headers().get(reqwest::header::CONTENT_ENCODING) {
        let encoding = encoding.to_str().unwrap_or("(not text)").trim();
        if !["gzip", "x-gzip", "identity", ""].contains(&encoding.to_ascii_lowercase().as_str()) {
            return Err(OpenError::Other(Error::Export(format!(
                "download {shown}: the file is sent with Content-Encoding '{encoding}'; \
                 only gzip (or none) can be read"
            ))));
        }
    }
    let stats = stats.clone();
    Ok(resp
        .bytes_stream()
        .map(move |chunk| match chunk {
            Ok(b) => {
                stats.bytes.add(b.len());
                Ok(b)
            }
            Err(e) => Err(Error::Export(format!(
                "download {shown} was cut off: {}",
                without_url(&e)
            ))),
        })
        .into_stream())
}

/// The file of a done export, opened (and opened again) under the table's [`RetryPolicy`].
///
/// A link refused as expired (401/403) is renewed once, which is no failed attempt. A failure to
/// open the file, or a body cut off midway ([`Download::cut_off`]), is a failed attempt: the next
/// one waits the policy's backoff, and after `max_attempts` failed attempts the download fails
/// naming the export, the last error and the count. The `deadline` bounds the time from the first
/// attempt, or from the last cut, to the body streaming again: not the time the file takes.
/// Resuming a cut download where it stopped is the reader's job (it skips the rows it has).
#[derive(Debug)]
pub struct Download<'a> {
    client: &'a Client,
    id: i64,
    what: &'a str,
    stats: &'a RequestStats,
    url: String,
    renewed: bool,
    attempts: Attempts<'a>,
}

impl<'a> Download<'a> {
    /// The download of export `id` (of `what`, for errors): asks for its signed link.
    pub async fn start(
        client: &'a Client,
        id: i64,
        what: &'a str,
        stats: &'a RequestStats,
    ) -> Result<Self> {
        let url = download_url(client, id, stats).await?;
        Ok(Download {
            client,
            id,
            what,
            stats,
            url,
            renewed: false,
            attempts: Attempts::new(&client.config.retry),
        })
    }

    /// The policy the download retries under.
    fn policy(&self) -> &RetryPolicy {
        &self.client.config.retry
    }

    /// Opens the file as a stream of chunks: renews an expired link once, and retries a failure
    /// to open under the policy.
    pub async fn open(
        &mut self,
    ) -> Result<impl Stream<Item = Result<Bytes>> + Send + 'static + use<>> {
        let id = self.id;
        loop {
            match open(&self.client.http, &self.url, self.stats).await {
                Ok(body) => return Ok(body),
                Err(OpenError::Expired(why)) if !self.renewed => {
                    // The link lasts 15 minutes: ask for a new one, once.
                    tracing::debug!(export = id, %why, "download link refused; asking for a new one");
                    self.renewed = true;
                    self.url = download_url(self.client, id, self.stats).await?;
                }
                Err(OpenError::Expired(why)) => {
                    return Err(Error::Export(format!(
                        "export {id} ({}): {why}, also with a new link",
                        self.what
                    )));
                }
                Err(OpenError::Other(e)) => {
                    tracing::debug!(export = id, error = %e, "download did not start");
                    self.failed(e).await?;
                }
            }
        }
    }

    /// The body opened last was cut off by `e`: waits the backoff before it is opened again, or
    /// fails when that was the last attempt the policy allows.
    pub async fn cut_off(&mut self, e: Error) -> Result<()> {
        tracing::debug!(export = self.id, error = %e, "download cut off");
        // The body streamed until now: the deadline counts from the cut, not from the start.
        self.attempts.restart_clock();
        self.failed(e).await
    }

    /// Counts a failed attempt that ended with `e`: waits before the next, or fails.
    async fn failed(&mut self, e: Error) -> Result<()> {
        match self.attempts.failed() {
            Some(wait) => {
                self.stats.retries.add(1);
                tokio::time::sleep(wait).await;
                Ok(())
            }
            None => {
                let (made, max) = (self.attempts.failures(), self.policy().max_attempts);
                let why = if made >= max {
                    format!("max_attempts is {max}")
                } else {
                    format!(
                        "the next would end past the deadline of {}s",
                        self.policy().deadline.as_secs()
                    )
                };
                let noun = if made == 1 { "attempt" } else { "attempts" };
                Err(Error::Export(format!(
                    "export {} ({}): {e}; gave up after {made} {noun} ({why})",
                    self.id, self.what
                )))
            }
        }
    }
}

/// The first bytes of a gzip member.
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// An export file's bytes as they arrive, gunzipped when they are gzip: known by their magic
/// bytes, whether the download said `Content-Encoding: gzip` or nothing (the file format is not
/// documented). Decompressed chunk by chunk (flate2's push-style writer, which fits the push-style
/// CSV decoder and needs no async reader adapters): memory holds one chunk's output, whatever
/// the file's size. Several gzip members in a row are one file.
#[derive(Debug, Default)]
pub struct Unpack {
    state: UnpackState,
}

#[derive(Debug)]
enum UnpackState {
    /// Fewer than two bytes seen: not known yet.
    Sniffing(Vec<u8>),
    Plain,
    Gzip(Box<flate2::write::MultiGzDecoder<Vec<u8>>>),
}

impl Default for UnpackState {
    fn default() -> Self {
        UnpackState::Sniffing(Vec::new())
    }
}

impl Unpack {
    /// Whether the file turned out to be gzip (`None`: too few bytes yet to tell).
    pub fn is_gzip(&self) -> Option<bool> {
        match self.state {
            UnpackState::Sniffing(_) => None,
            UnpackState::Plain => Some(false),
            UnpackState::Gzip(_) => Some(true),
        }
    }

    /// The plain bytes of `chunk` (none while the first two bytes are not all in).
    pub fn push<'a>(&mut self, chunk: &'a [u8]) -> Result<Cow<'a, [u8]>> {
        match &mut self.state {
            UnpackState::Plain => Ok(Cow::Borrowed(chunk)),
            UnpackState::Gzip(decoder) => inflate(decoder, chunk).map(Cow::Owned),
            UnpackState::Sniffing(head) => {
                head.extend_from_slice(chunk);
                if head.len() < GZIP_MAGIC.len() {
                    return Ok(Cow::Owned(Vec::new()));
                }
                let head = std::mem::take(head);
                if head[..2] == GZIP_MAGIC {
                    let mut decoder = Box::new(flate2::write::MultiGzDecoder::new(Vec::new()));
                    let out = inflate(&mut decoder, &head)?;
                    self.state = UnpackState::Gzip(decoder);
                    Ok(Cow::Owned(out))
                } else {
                    self.state = UnpackState::Plain;
                    Ok(Cow::Owned(head))
                }
            }
        }
    }

    /// The bytes still held at the end of the file; a gzip file cut short is an error.
    pub fn finish(&mut self) -> Result<Vec<u8>> {
        match std::mem::replace(&mut self.state, UnpackState::Plain) {
            UnpackState::Sniffing(head) => Ok(head),
            UnpackState::Plain => Ok(Vec::new()),
            UnpackState::Gzip(mut decoder) => {
                decoder.try_finish().map_err(|e| {
                    Error::Export(format!(
                        "the export file is gzip but ends before its last member does: {e}"
                    ))
                })?;
                Ok(std::mem::take(decoder.get_mut()))
            }
        }
    }
}

fn inflate(decoder: &mut flate2::write::MultiGzDecoder<Vec<u8>>, chunk: &[u8]) -> Result<Vec<u8>> {
    decoder
        .write_all(chunk)
        .map_err(|e| Error::Export(format!("the export file is gzip but does not inflate: {e}")))?;
    Ok(std::mem::take(decoder.get_mut()))
}

/// reqwest's message without the URL it names (which holds the signature).
fn without_url(e: &reqwest::Error) -> String {
    let text = e.to_string();
    let mut msg = match e.url() {
        Some(u) => text.replace(u.as_str(), &redact_url(u.as_str())),
        None => text,
    };
    let mut src = std::error::Error::source(e);
    while let Some(s) = src {
        msg.push_str(&format!(": {s}"));
        src = s.source();
    }
    msg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_in_every_shape() {
        let e: Envelope =
            serde_json::from_str(r#"{"export":{"id":"111,","failed":false}}"#).unwrap();
        assert_eq!(e.export.id, 111);
        let e: Envelope =
            serde_json::from_str(r#"{"export":{"id":110,"status":"done","total":3}}"#).unwrap();
        assert_eq!((e.export.id, e.export.total), (110, Some(3)));
    }

    fn gzip(parts: &[&[u8]]) -> Vec<u8> {
        let mut out = Vec::new();
        for p in parts {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            e.write_all(p).unwrap();
            out.extend(e.finish().unwrap());
        }
        out
    }

    /// `data` through [`Unpack`] in pieces of `size` bytes.
    fn unpack(data: &[u8], size: usize) -> Result<Vec<u8>> {
        let mut u = Unpack::default();
        let mut out = Vec::new();
        for c in data.chunks(size) {
            out.extend_from_slice(&u.push(c)?);
        }
        out.extend(u.finish()?);
        Ok(out)
    }

    #[test]
    fn gzip_is_known_by_its_magic_bytes_in_any_chunking() {
        let plain = b"id,email\n1,a@x.io\n2,b@x.io\n".repeat(50);
        let members = gzip(&[&plain[..100], &plain[100..]]);
        for size in [1, 2, 3, 7, 64, 100_000] {
            assert_eq!(unpack(&plain, size).unwrap(), plain, "plain, {size}");
            assert_eq!(unpack(&members, size).unwrap(), plain, "gzip, {size}");
        }
        assert_eq!(unpack(b"i", 1).unwrap(), b"i");
        assert_eq!(unpack(b"", 1).unwrap(), b"");
        let mut u = Unpack::default();
        u.push(&members[..1]).unwrap();
        assert_eq!(u.is_gzip(), None);
        u.push(&members[1..2]).unwrap();
        assert_eq!(u.is_gzip(), Some(true));
        // Cut short, or damaged: an error, never a shorter file.
        let cut = unpack(&members[..members.len() - 4], 64)
            .unwrap_err()
            .to_string();
        assert!(cut.contains("gzip"), "{cut}");
        let mut bad = members.clone();
        bad[12] ^= 0xff;
        assert!(unpack(&bad, 64).is_err());
    }

    #[test]
    fn redacts_signatures() {
        assert_eq!(
            redact_url("http://h/x/1.csv?sig=abc&exp=1"),
            "http://h/x/1.csv"
        );
    }
}

//! Export files: signed download URLs served by the simulator itself, and CSV generated as a
//! stream, chunk by chunk, so millions of rows never sit in memory.
//!
//! People files have the columns `id,email,cio_id` and one column per requested attribute.
//! Deliveries files have [`ExportConfig::delivery_columns`](super::ExportConfig) (an invented
//! layout) and the requested attributes; each Eastern-time day holds exactly the `created`
//! deliveries of that day's metrics bucket, so an unfiltered file agrees with the daily metrics.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use chrono::DateTime;
use futures::stream;

use super::Region;
use super::calendar::{EASTERN, Unit};
use super::customers::{Filter, People};
use super::data::{Kind, Sender};
use super::error::{ApiError, ApiResult};
use super::exports::{Export, ExportKind, Status};
use super::hash::Key;
use super::metrics::bucket_counts;
use super::params::Params;
use super::routes::record_status;
use super::state::{SimState, Workspace};

/// The route of export files.
pub(crate) const FILE_ROUTE: &str = "/__sim/files/{id}";

const DAY: i64 = 86_400;
/// People scanned per CSV chunk.
const PEOPLE_CHUNK: u64 = 5_000;

/// What a deliveries export selects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Selector {
    Campaign(u64),
    Newsletter(u64),
    Action(u64),
    Transactional(u64),
}

/// A deliveries export request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DeliveryQuery {
    pub(crate) selector: Selector,
    pub(crate) start: i64,
    pub(crate) end: i64,
    pub(crate) metric: Option<String>,
    pub(crate) template_id: Option<u64>,
    pub(crate) attributes: Vec<String>,
}

/// Whether the campaign, newsletter or message action exists (the simulator has no
/// transactional messages).
pub(crate) fn selector_exists(ws: &Workspace, selector: Selector) -> bool {
    match selector {
        Selector::Campaign(id) => ws.catalog.campaign_sender(id).is_some(),
        Selector::Newsletter(id) => ws.catalog.newsletter_sender(id).is_some(),
        Selector::Action(aid) => ws
            .catalog
            .campaign_message_actions(aid / 100)
            .contains(&aid),
        Selector::Transactional(_) => false,
    }
}

/// The export window: the last 6 months by default; at most 12 months, ending at `end`.
pub(crate) fn delivery_window(
    start: Option<i64>,
    end: Option<i64>,
    now: i64,
) -> ApiResult<(i64, i64)> {
    let end = end.unwrap_or(now);
    let start = start.unwrap_or(end - 182 * DAY);
    if end < start {
        return Err(ApiError::bad_request(format!(
            "end {end} is before start {start}"
        )));
    }
    Ok((start.max(end - 365 * DAY), end))
}

// ---- signed URLs ------------------------------------------------------------------------------

fn signature(secret: u64, id: u64, expires: i64) -> String {
    let k = Key::new(secret).str("export-file").u64(id).i64(expires);
    format!("{:016x}{:016x}", k.bits(), k.str("second-half").bits())
}

/// A URL for export `id`'s file on `region`'s host, valid for the configured TTL from `now`.
pub(crate) fn signed_url(state: &SimState, region: Region, id: u64, now: i64) -> String {
    let n = state
        .exports
        .links_signed
        .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let expires = if n < u64::from(state.config.exports.expired_links) {
        now - 1 // The `expired_links` knob: a link that has already expired.
    } else {
        now + state.config.exports.url_ttl.as_secs() as i64
    };
    format!(
        "{}/__sim/files/{id}?expires={expires}&signature={}",
        state.base_url(region),
        signature(state.exports.secret(), id, expires)
    )
}

/// An S3-style XML error, as a storage bucket behind a signed URL answers.
fn storage_error(state: &SimState, status: StatusCode, code: &str, message: &str) -> Response {
    record_status(state, status);
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code><Message>{message}</Message></Error>\n"
    );
    let mut resp = Response::new(Body::from(body));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/xml"),
    );
    resp
}

/// `GET /__sim/files/{id}?expires=..&signature=..`: the CSV of a done export. No bearer key;
/// a missing or wrong signature, or an expired link, is a 403.
pub(crate) async fn file(
    State(state): State<Arc<SimState>>,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> Response {
    state.record(|s| *s.requests.entry("downloadExportFile".into()).or_default() += 1);
    let params = Params::parse(query.as_deref());
    let (Some(expires), Some(sig)) = (params.get("expires"), params.get("signature")) else {
        return storage_error(
            &state,
            StatusCode::FORBIDDEN,
            "AccessDenied",
            "Query-string authentication requires the signature and expires parameters",
        );
    };
    let (Ok(id), Ok(expires)) = (id.parse::<u64>(), expires.parse::<i64>()) else {
        return storage_error(
            &state,
            StatusCode::FORBIDDEN,
            "AccessDenied",
            "Malformed signed URL",
        );
    };
    if signature(state.exports.secret(), id, expires) != sig {
        return storage_error(
            &state,
            StatusCode::FORBIDDEN,
            "SignatureDoesNotMatch",
            "The request signature we calculated does not match the signature you provided",
        );
    }
    let now = state.config.clock.now().timestamp();
    if now > expires {
        return storage_error(
            &state,
            StatusCode::FORBIDDEN,
            "AccessDenied",
            "Request has expired",
        );
    }
    let Some(export) = state
        .exports
        .get(id)
        .filter(|e| e.status(&state.config.exports, now) == Status::Done)
    else {
        return storage_error(
            &state,
            StatusCode::NOT_FOUND,
            "NoSuchKey",
            "The specified key does not exist.",
        );
    };
    record_status(&state, StatusCode::OK);
    let columns = state.config.exports.delivery_columns.clone();
    let n = state
        .exports
        .downloads_started
        .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let shapes = state.config.shapes;
    let fixed = fixed_columns(&export, &columns);
    let stream = shapes.shape_file(csv_stream(export, columns), fixed);
    let body = if n < u64::from(state.config.exports.cut_downloads) {
        // The `cut_downloads` knob: the connection drops after `cut_after_bytes`.
        Body::from_stream(cut_after(stream, state.config.exports.cut_after_bytes))
    } else {
        Body::from_stream(stream)
    };
    let mut resp = Response::new(body);
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/csv"));
    if let Some(encoding) = shapes.export_content_encoding() {
        resp.headers_mut()
            .insert(header::CONTENT_ENCODING, HeaderValue::from_static(encoding));
    }
    resp
}

/// `stream` up to `limit` bytes, then an error (the connection is aborted mid-body). The error
/// comes a moment after the last byte, so that the bytes before it reach the client, as they do
/// when a real connection drops mid-file (an error at once can abort the connection before the
/// head or the first bytes are written, which only models a download that did not start).
fn cut_after(
    stream: impl futures::Stream<Item = Result<Bytes, std::io::Error>>,
    limit: u64,
) -> impl futures::Stream<Item = Result<Bytes, std::io::Error>> {
    use futures::StreamExt;
    stream
        .scan(0u64, move |sent, chunk| {
            let out = match chunk {
                Err(e) => Some(Err(e)),
                Ok(_) if *sent >= limit => None,
                Ok(chunk) => {
                    let take = (chunk.len() as u64).min(limit - *sent) as usize;
                    *sent += take as u64;
                    Some(Ok(chunk.slice(..take)))
                }
            };
            futures::future::ready(out)
        })
        .chain(futures::stream::once(async {
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            Err(std::io::Error::other("download cut off (simulated)"))
        }))
        .scan(false, |failed, item| {
            // Stop after the first error.
            let out = if *failed { None } else { Some(item) };
            if matches!(out, Some(Err(_))) {
                *failed = true;
            }
            futures::future::ready(out)
        })
}

// ---- CSV --------------------------------------------------------------------------------------

fn push_field(out: &mut String, field: &str) {
    if field.contains([',', '"', '\n', '\r']) {
        out.push('"');
        out.push_str(&field.replace('"', "\"\""));
        out.push('"');
    } else {
        out.push_str(field);
    }
}

fn push_row<'a>(out: &mut String, fields: impl IntoIterator<Item = &'a str>) {
    for (n, f) in fields.into_iter().enumerate() {
        if n > 0 {
            out.push(',');
        }
        push_field(out, f);
    }
    out.push('\n');
}

/// Where a file stream is.
enum Cursor {
    Header,
    /// Next person index (people) or day number (deliveries).
    At(u64),
    Done,
}

/// The CSV of `export`, one chunk per step; counts a download when the last chunk has gone.
fn csv_stream(
    export: Arc<Export>,
    columns: Vec<String>,
) -> impl futures::Stream<Item = Result<Bytes, std::io::Error>> {
    stream::unfold(Cursor::Header, move |cursor| {
        let export = export.clone();
        let columns = columns.clone();
        async move {
            let (chunk, next) = match cursor {
                Cursor::Done => {
                    export.count_download();
                    return None;
                }
                Cursor::Header => (header_row(&export, &columns), Cursor::At(0)),
                Cursor::At(pos) => chunk_at(&export, &columns, pos),
            };
            Some((Ok(Bytes::from(chunk)), next))
        }
    })
}

/// The columns of a people file before its attributes.
const PEOPLE_COLUMNS: [&str; 3] = ["id", "email", "cio_id"];

/// How many names of the header row are the export's own columns (the rest are attributes).
fn fixed_columns(export: &Export, columns: &[String]) -> usize {
    match &export.kind {
        ExportKind::People { .. } => PEOPLE_COLUMNS.len(),
        ExportKind::Deliveries(_) => columns.len(),
    }
}

fn header_row(export: &Export, columns: &[String]) -> String {
    let mut out = String::new();
    match &export.kind {
        ExportKind::People { attributes, .. } => push_row(
            &mut out,
            PEOPLE_COLUMNS
                .into_iter()
                .chain(attributes.iter().map(String::as_str)),
        ),
        ExportKind::Deliveries(q) => push_row(
            &mut out,
            columns.iter().chain(&q.attributes).map(String::as_str),
        ),
    }
    out
}

/// The chunk at `pos` and the cursor after it.
fn chunk_at(export: &Export, columns: &[String], pos: u64) -> (String, Cursor) {
    let mut out = String::new();
    let ws = &export.workspace;
    match &export.kind {
        ExportKind::People { filter, attributes } => {
            let (found, next) = people_chunk(&ws.people, filter, pos);
            for i in found {
                person_row(&mut out, &ws.people, i, attributes);
            }
            (out, next)
        }
        ExportKind::Deliveries(q) => {
            let Some(plan) = DeliveryPlan::new(ws, q) else {
                return (out, Cursor::Done);
            };
            let day = pos as i64;
            if day >= plan.days {
                return (out, Cursor::Done);
            }
            for d in plan.day(ws, q, day) {
                d.write(&mut out, &plan, columns, &q.attributes, &ws.people);
            }
            (out, Cursor::At(pos + 1))
        }
    }
}

/// Matching people from index `pos`: direct lookups in one chunk, else a window of indexes.
fn people_chunk(people: &People, filter: &Filter, pos: u64) -> (Vec<u64>, Cursor) {
    if let Some(cands) = filter.candidates(people) {
        let found = cands
            .into_iter()
            .filter(|i| filter.matches(people, *i))
            .collect();
        return (found, Cursor::Done);
    }
    let end = pos.saturating_add(PEOPLE_CHUNK);
    let next = if end >= people.count() {
        Cursor::Done
    } else {
        Cursor::At(end)
    };
    (filter.scan(people, pos..end), next)
}

fn person_row(out: &mut String, people: &People, i: u64, attributes: &[String]) {
    let mut values = vec![
        people.id(i).unwrap_or_default(),
        people.email(i).unwrap_or_default(),
        people.cio_id(i),
    ];
    if !attributes.is_empty() {
        // Generate the whole person once, only when attribute columns need it.
        let p = people.person(i);
        values.extend(attributes.iter().map(|name| {
            p.attributes
                .get(name)
                .and_then(|v| v.as_str())
                .unwrap_or_default()
                .to_string()
        }));
    }
    push_row(out, values.iter().map(String::as_str));
}

/// The number of rows of `export`'s file.
pub(crate) fn count_rows(export: &Export) -> u64 {
    let ws = &export.workspace;
    match &export.kind {
        ExportKind::People { filter, .. } => {
            let mut pos = 0;
            let mut total = 0;
            loop {
                let (found, next) = people_chunk(&ws.people, filter, pos);
                total += found.len() as u64;
                match next {
                    Cursor::At(p) => pos = p,
                    _ => return total,
                }
            }
        }
        ExportKind::Deliveries(q) => DeliveryPlan::new(ws, q)
            .map(|plan| {
                (0..plan.days)
                    .map(|d| plan.day(ws, q, d).len() as u64)
                    .sum()
            })
            .unwrap_or(0),
    }
}

// ---- deliveries -------------------------------------------------------------------------------

/// The fixed facts of a deliveries export.
struct DeliveryPlan {
    sender: Sender,
    /// Message templates deliveries are spread over (campaign actions or newsletter contents).
    templates: Vec<u64>,
    subject: String,
    first_day: DateTime<chrono::Utc>,
    days: i64,
}

impl DeliveryPlan {
    fn new(ws: &Workspace, q: &DeliveryQuery) -> Option<Self> {
        let c = &ws.catalog;
        let (sender, templates, subject) = match q.selector {
            Selector::Campaign(id) => (
                c.campaign_sender(id)?,
                c.campaign_message_actions(id),
                c.campaign_name(id),
            ),
            Selector::Action(aid) => {
                let id = aid / 100;
                (
                    c.campaign_sender(id)?,
                    c.campaign_message_actions(id),
                    c.campaign_name(id),
                )
            }
            Selector::Newsletter(id) => (
                c.newsletter_sender(id)?,
                c.newsletter_contents(id),
                c.newsletter_name(id),
            ),
            Selector::Transactional(_) => return None,
        };
        if templates.is_empty() || ws.people.count() == 0 {
            return None;
        }
        let start = DateTime::from_timestamp(q.start, 0)?;
        let first_day = Unit::Day.start_of(start, EASTERN);
        let days = (q.end - first_day.timestamp()) / DAY + 2; // DST-safe upper bound
        Some(DeliveryPlan {
            sender,
            templates,
            subject,
            first_day,
            days,
        })
    }

    /// The deliveries created on day `n` of the window that pass the query's filters.
    fn day(&self, ws: &Workspace, q: &DeliveryQuery, n: i64) -> Vec<Delivery> {
        let day = Unit::Day.shift(self.first_day, n, EASTERN);
        let day_ts = day.timestamp();
        if day_ts > q.end {
            return Vec::new();
        }
        let counts = bucket_counts(ws.catalog.root, &self.sender, Unit::Day, day);
        let get = |name: &str| counts.get(name);
        let (sent, delivered, failed) = (get("sent"), get("delivered"), get("failed"));
        let (opened, clicked, converted, bounced) = (
            get("opened"),
            get("clicked"),
            get("converted"),
            get("bounced"),
        );
        let key = ws
            .catalog
            .root
            .str("delivery")
            .str(self.sender.kind.as_str())
            .u64(self.sender.id)
            .i64(day_ts);
        (0..get("created"))
            .filter_map(|k| {
                let dk = key.u64(k);
                let created = day_ts + dk.str("t").below(DAY as u64) as i64;
                if created < q.start || created > q.end {
                    return None;
                }
                let step = |name: &str, lo: i64, hi: i64| dk.str(name).range(lo, hi);
                let sent_at = (k < sent).then(|| created + step("sent", 1, 120));
                let delivered_at =
                    (k < delivered).then(|| sent_at.unwrap_or(created) + step("delivered", 1, 60));
                let opened_at = (k < opened)
                    .then(|| delivered_at.unwrap_or(created) + step("opened", 60, 2 * DAY));
                let clicked_at =
                    (k < clicked).then(|| opened_at.unwrap_or(created) + step("clicked", 5, 3_600));
                let d = Delivery {
                    key: dk,
                    template: self.templates
                        [dk.str("template").below(self.templates.len() as u64) as usize],
                    person: dk.str("person").below(ws.people.count()),
                    created,
                    sent: sent_at,
                    delivered: delivered_at,
                    opened: opened_at,
                    clicked: clicked_at,
                    converted: (k < converted)
                        .then(|| clicked_at.unwrap_or(created) + step("converted", 60, DAY)),
                    bounced: (k >= delivered && k < delivered + bounced)
                        .then(|| created + step("bounced", 1, 600)),
                    failed: (k >= sent && k < sent + failed)
                        .then(|| created + step("failed", 1, 600)),
                    undeliverable: (k >= delivered + bounced && k < sent)
                        .then(|| created + step("undeliverable", 1, 600)),
                };
                d.passes(q).then_some(d)
            })
            .collect()
    }
}

/// One generated delivery.
struct Delivery {
    key: Key,
    template: u64,
    person: u64,
    created: i64,
    sent: Option<i64>,
    delivered: Option<i64>,
    opened: Option<i64>,
    clicked: Option<i64>,
    converted: Option<i64>,
    bounced: Option<i64>,
    failed: Option<i64>,
    undeliverable: Option<i64>,
}

impl Delivery {
    fn passes(&self, q: &DeliveryQuery) -> bool {
        let metric_ok = match q.metric.as_deref() {
            None | Some("created") => true,
            Some("attempted") => self.sent.is_some() || self.failed.is_some(),
            Some("sent") => self.sent.is_some(),
            Some("delivered") => self.delivered.is_some(),
            Some("opened") => self.opened.is_some(),
            Some("clicked") => self.clicked.is_some(),
            Some("converted") => self.converted.is_some(),
            Some("bounced") => self.bounced.is_some(),
            Some("failed") => self.failed.is_some(),
            Some("undeliverable") => self.undeliverable.is_some(),
            // Not simulated per delivery.
            Some(_) => false,
        };
        let action_ok = match q.selector {
            Selector::Action(aid) => self.template == aid,
            _ => true,
        };
        let template_ok = q.template_id.is_none_or(|t| t == self.template);
        metric_ok && action_ok && template_ok
    }

    fn id(&self) -> String {
        let mut bytes = [0u8; 16];
        bytes[..8].copy_from_slice(&self.key.str("id").bits().to_be_bytes());
        bytes[8..].copy_from_slice(&self.key.str("id2").bits().to_be_bytes());
        STANDARD.encode(bytes)
    }

    fn write(
        &self,
        out: &mut String,
        plan: &DeliveryPlan,
        columns: &[String],
        attributes: &[String],
        people: &People,
    ) {
        let ts = |t: Option<i64>| t.map(|v| v.to_string()).unwrap_or_default();
        let s = &plan.sender;
        let person = people.person(self.person);
        let recipient = match s.channel {
            "twilio" => format!("+1555{:07}", self.person % 10_000_000),
            "push" | "in_app" | "inbox" => person
                .devices
                .first()
                .and_then(|d| d["id"].as_str())
                .map(str::to_string)
                .unwrap_or_else(|| person.cio_id.clone()),
            "webhook" | "slack" => "https://hooks.example.com/customerio".to_string(),
            _ => person.email.clone().unwrap_or_default(),
        };
        let campaign = s.kind == Kind::Campaign;
        let values: Vec<String> = columns
            .iter()
            .map(|c| match c.as_str() {
                "delivery_id" => self.id(),
                "campaign_id" if campaign => s.id.to_string(),
                "newsletter_id" if !campaign => s.id.to_string(),
                "action_id" if campaign => self.template.to_string(),
                "template_id" => self.template.to_string(),
                "customer_id" => person.id.clone().unwrap_or_default(),
                "cio_id" => person.cio_id.clone(),
                "recipient" => recipient.clone(),
                "type" => s.channel.to_string(),
                "subject" if s.channel == "email" => plan.subject.clone(),
                "created" => self.created.to_string(),
                "sent" => ts(self.sent),
                "delivered" => ts(self.delivered),
                "opened" => ts(self.opened),
                "clicked" => ts(self.clicked),
                "converted" => ts(self.converted),
                "bounced" => ts(self.bounced),
                "failed" => ts(self.failed),
                "undeliverable" => ts(self.undeliverable),
                drift if drift.starts_with(super::ExportConfig::DRIFT_PREFIX) => {
                    format!("{drift}:{}", self.id())
                }
                _ => String::new(),
            })
            .chain(attributes.iter().map(|a| {
                person
                    .attributes
                    .get(a)
                    .and_then(|v| v.as_str())
                    .unwrap_or_default()
                    .to_string()
            }))
            .collect();
        push_row(out, values.iter().map(String::as_str));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_fields_are_quoted_when_needed() {
        let mut out = String::new();
        push_row(&mut out, ["a", "b,c", "say \"hi\"", ""]);
        assert_eq!(out, "a,\"b,c\",\"say \"\"hi\"\"\",\n");
    }

    #[test]
    fn signatures_depend_on_every_part() {
        let s = signature(1, 100, 2_000);
        assert_eq!(s.len(), 32);
        assert_eq!(s, signature(1, 100, 2_000));
        assert_ne!(s, signature(2, 100, 2_000));
        assert_ne!(s, signature(1, 101, 2_000));
        assert_ne!(s, signature(1, 100, 2_001));
    }

    #[test]
    fn windows_default_and_clamp() {
        let now = 1_800_000_000;
        assert_eq!(
            delivery_window(None, None, now).unwrap(),
            (now - 182 * DAY, now)
        );
        assert_eq!(
            delivery_window(Some(0), Some(now), now).unwrap(),
            (now - 365 * DAY, now)
        );
        assert!(delivery_window(Some(now), Some(now - 1), now).is_err());
    }
}

//! The export reports, `customers_export` and `deliveries_export`.
//!
//! API calls per export: `POST /v1/exports/customers` (one per segment, filter
//! `{"and":[{"segment":{"id":N}}]}`) or `POST /v1/exports/deliveries` (one per campaign or
//! newsletter, or the one selector given), then `GET /v1/exports/{id}` until `done`, then
//! `GET /v1/exports/{id}/download` for a signed link, fetched without the bearer header. Exports
//! run concurrently (`concurrency` at a time).
//!
//! The file is CSV (the real layout is not documented: see the README), plain or gzip (known by
//! its magic bytes, `Content-Encoding` or not), with or without a UTF-8 byte-order mark. It is
//! parsed as it downloads, by arrow's CSV decoder, so memory does not grow with the export.
//! Columns are matched by header name, never by position, and in any case when no name matches
//! exactly: known names are typed, requested attributes are text, and any other column is kept in
//! `extra` (a map of column name to text). A time column none of whose values reads as a time
//! fails the query, naming the column: its values are not NULL. A download cut off midway
//! is opened again (with a fresh link when the old one expired) and the rows already emitted are
//! skipped; a file with fewer rows than the export's `total` is an error, never a partial result.

use std::collections::HashMap;
use std::sync::Arc;

use async_stream::try_stream;
use chrono::{DateTime, Utc};
use datafusion::arrow::array::{
    Array, ArrayRef, MapBuilder, StringArray, StringBuilder, TimestampMicrosecondBuilder,
    new_null_array,
};
use datafusion::arrow::compute::{CastOptions, cast_with_options};
use datafusion::arrow::csv::reader::ReaderBuilder as CsvReaderBuilder;
use datafusion::arrow::datatypes::{DataType, Field, Fields, Schema, SchemaRef, TimeUnit};
use datafusion::arrow::record_batch::{RecordBatch, RecordBatchOptions};
use futures::stream::{self, BoxStream, StreamExt, TryStreamExt};
use reqwest::Method;
use serde_json::{Value, json};

use super::{ReadRequest, ReportReader};
use crate::client::exports::{self, OpenError, Unpack};
use crate::client::models::{CampaignList, NewsletterPage};
use crate::client::pagination::{PageRequest, paginate};
use crate::error::{Error, Result};
use crate::options::{DeliverySelector, ExportOptions, SegmentRef, check_window};

/// Rows per output batch.
const BATCH_ROWS: usize = 8192;
/// How many partitions a deliveries export of every campaign and newsletter may spread over:
/// their number is known only once they are listed, when the partitions already run.
const UNLISTED_UNITS: usize = 64;
/// Times a download cut off midway is opened again.
const DOWNLOAD_ATTEMPTS: u32 = 3;

/// How a file column becomes a table column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ColType {
    Text,
    Int,
    /// Unix seconds (or RFC 3339) as a UTC timestamp.
    Time,
}

impl ColType {
    fn data_type(self) -> DataType {
        match self {
            ColType::Text => DataType::Utf8,
            ColType::Int => DataType::Int64,
            ColType::Time => DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
        }
    }
}

/// Which export report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportKind {
    /// `customers_export`
    Customers,
    /// `deliveries_export`
    Deliveries,
}

/// Columns before the file's: filled from what the export was for.
const CUSTOMER_PREFIX: [(&str, ColType); 3] = [
    ("workspace", ColType::Text),
    ("segment_id", ColType::Int),
    ("segment_name", ColType::Text),
];
const DELIVERY_PREFIX: [(&str, ColType); 2] =
    [("workspace", ColType::Text), ("export_id", ColType::Int)];

/// Identifier columns of a people export.
const CUSTOMER_COLUMNS: [(&str, ColType); 3] = [
    ("id", ColType::Text),
    ("email", ColType::Text),
    ("cio_id", ColType::Text),
];

/// The delivery columns we know how to type. The real file layout is not documented; these
/// mirror the `/v1/messages` delivery object.
const DELIVERY_COLUMNS: [(&str, ColType); 24] = [
    ("delivery_id", ColType::Text),
    ("campaign_id", ColType::Int),
    ("newsletter_id", ColType::Int),
    ("action_id", ColType::Int),
    ("transactional_message_id", ColType::Int),
    ("template_id", ColType::Int),
    ("customer_id", ColType::Text),
    ("cio_id", ColType::Text),
    ("recipient", ColType::Text),
    ("type", ColType::Text),
    ("subject", ColType::Text),
    ("created", ColType::Time),
    ("attempted", ColType::Time),
    ("sent", ColType::Time),
    ("delivered", ColType::Time),
    ("opened", ColType::Time),
    ("clicked", ColType::Time),
    ("converted", ColType::Time),
    ("bounced", ColType::Time),
    ("spammed", ColType::Time),
    ("unsubscribed", ColType::Time),
    ("dropped", ColType::Time),
    ("failed", ColType::Time),
    ("undeliverable", ColType::Time),
];

/// The columns that identify a row of each export: a file needs one of them, or it would read
/// as rows that name nobody. People: `cio_id` is every person's, `id` the workspace's own (the
/// columns of the simulator's files, API-NOTES §2.5); deliveries: the delivery id (or an alias).
const CUSTOMER_IDENTITY: [&str; 2] = ["cio_id", "id"];
const DELIVERY_IDENTITY: [&str; 1] = ["delivery_id"];

/// Header names quoted in an error about the header.
const HEADER_NAMES_SHOWN: usize = 12;

/// Other spellings of delivery columns, mapped to ours.
const DELIVERY_ALIASES: [(&str, &str); 3] = [
    ("id", "delivery_id"),
    ("message_id", "delivery_id"),
    ("msg_template_id", "template_id"),
];

/// The column of `extra`: file columns the schema does not know.
pub const EXTRA_COLUMN: &str = "extra";

fn extra_type() -> DataType {
    let entries = Fields::from(vec![
        Field::new("keys", DataType::Utf8, false),
        Field::new("values", DataType::Utf8, true),
    ]);
    DataType::Map(
        Arc::new(Field::new("entries", DataType::Struct(entries), false)),
        false,
    )
}

/// Reads `customers_export` or `deliveries_export`.
#[derive(Debug)]
pub struct ExportReport {
    kind: ExportKind,
    workspace: String,
    options: ExportOptions,
    schema: SchemaRef,
    /// Table columns: (name, type); the prefix, then the file's known columns, then attributes.
    columns: Vec<(String, ColType)>,
    prefix: usize,
}

impl ExportReport {
    /// The report `kind` of `workspace` with `options`.
    pub fn new(kind: ExportKind, workspace: impl Into<String>, options: ExportOptions) -> Self {
        type Columns = &'static [(&'static str, ColType)];
        let (prefix, known): (Columns, Columns) = match kind {
            ExportKind::Customers => (&CUSTOMER_PREFIX, &CUSTOMER_COLUMNS),
            ExportKind::Deliveries => (&DELIVERY_PREFIX, &DELIVERY_COLUMNS),
        };
        let mut columns: Vec<(String, ColType)> = prefix
            .iter()
            .chain(known)
            .map(|(n, t)| (n.to_string(), *t))
            .collect();
        for a in &options.attributes {
            if !columns.iter().any(|(n, _)| n == a) {
                columns.push((a.clone(), ColType::Text));
            }
        }
        let mut fields: Vec<Field> = columns
            .iter()
            .map(|(n, t)| Field::new(n, t.data_type(), n != "workspace"))
            .collect();
        fields.push(Field::new(EXTRA_COLUMN, extra_type(), true));
        ExportReport {
            kind,
            workspace: workspace.into(),
            options,
            schema: Arc::new(Schema::new(fields)),
            columns,
            prefix: prefix.len(),
        }
    }
}

/// One export to run, with the prefix values of its rows.
#[derive(Debug, Clone)]
struct Job {
    /// Which distributed task runs it ([`super::Shard::owns`]): the segment's place in `segments`, or
    /// a number derived from the campaign's or newsletter's id, so that every task assigns a
    /// job the same way even if another campaign was created between their listings.
    unit: usize,
    kind: &'static str,
    body: Value,
    /// For messages: what the export is of.
    what: String,
    /// `customers_export`: the segment.
    segment: Option<(i64, String)>,
}

/// What every job of a scan shares.
#[derive(Debug)]
struct Shared {
    kind: ExportKind,
    report_columns: Vec<(String, ColType)>,
    prefix: usize,
    workspace: String,
    options: ExportOptions,
    projection: Vec<usize>,
    schema: SchemaRef,
    request: ReadRequest,
}

impl ReportReader for ExportReport {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn pushdown_columns(&self) -> Vec<&'static str> {
        vec![]
    }

    fn window_column(&self) -> Option<&'static str> {
        (self.kind == ExportKind::Deliveries).then_some("created")
    }

    fn units(&self) -> Option<usize> {
        match self.kind {
            // One export per segment.
            ExportKind::Customers => Some(self.options.segments.len().max(1)),
            ExportKind::Deliveries if self.options.selector.is_some() => None,
            // One export per campaign and newsletter, known once they are listed.
            ExportKind::Deliveries => Some(UNLISTED_UNITS),
        }
    }

    fn describe(&self) -> Vec<(&'static str, String)> {
        let o = &self.options;
        let mut out = Vec::new();
        if !o.segments.is_empty() {
            let names: Vec<String> = o
                .segments
                .iter()
                .map(|s| match s {
                    SegmentRef::Id(id) => id.to_string(),
                    SegmentRef::Name(n) => format!("'{n}'"),
                })
                .collect();
            out.push(("segments", format!("[{}]", names.join(", "))));
        }
        if let Some(s) = o.selector {
            out.push(("selector", format!("{s:?}")));
        }
        if let Some(m) = &o.metric {
            out.push(("metric", m.clone()));
        }
        out
    }

    fn read(&self, request: ReadRequest) -> BoxStream<'static, Result<RecordBatch>> {
        let concurrency = request.concurrency;
        let shared = Arc::new(Shared {
            kind: self.kind,
            report_columns: self.columns.clone(),
            prefix: self.prefix,
            workspace: self.workspace.clone(),
            options: self.options.clone(),
            projection: request.projection.clone(),
            schema: Arc::new(
                self.schema
                    .project(&request.projection)
                    .unwrap_or_else(|_| Schema::empty()),
            ),
            request,
        });
        let kind = self.kind;
        let jobs_shared = shared.clone();
        stream::once(async move {
            let mut jobs = match kind {
                ExportKind::Customers => customer_jobs(&jobs_shared).await?,
                ExportKind::Deliveries => delivery_jobs(&jobs_shared).await?,
            };
            // A distributed task runs its share of the exports.
            if let Some(shard) = jobs_shared.request.shard {
                jobs.retain(|job| shard.owns(job.unit));
            }
            Ok::<_, Error>(stream::iter(jobs).map(move |job| run_job(shared.clone(), job)))
        })
        .map_ok(move |jobs| jobs.flatten_unordered(concurrency).boxed())
        .try_flatten()
        .boxed()
    }
}

/// One export per segment; segment names are resolved first, and an unknown name fails before
/// any export starts.
async fn customer_jobs(shared: &Shared) -> Result<Vec<Job>> {
    let o = &shared.options;
    let attributes = json!(o.attributes);
    if o.segments.is_empty() {
        let body = json!({
            "filters": {"and": [{"attribute": {"field": "cio_id", "operator": "exists"}}]},
            "attributes": attributes,
        });
        return Ok(vec![Job {
            unit: 0,
            kind: "customers",
            body,
            what: "every person".into(),
            segment: None,
        }]);
    }
    let segments = super::segments::list(&shared.request.client, &shared.request.stats).await?;
    let mut jobs = Vec::new();
    for (unit, wanted) in o.segments.iter().enumerate() {
        let found = segments.iter().find(|s| match wanted {
            SegmentRef::Id(id) => s.id == *id,
            SegmentRef::Name(n) => s.name.as_deref() == Some(n.as_str()),
        });
        let Some(seg) = found else {
            let mut names: Vec<String> = segments
                .iter()
                .map(|s| format!("'{}' ({})", s.name.as_deref().unwrap_or(""), s.id))
                .collect();
            names.sort();
            let asked = match wanted {
                SegmentRef::Id(id) => format!("id {id}"),
                SegmentRef::Name(n) => format!("'{n}'"),
            };
            return Err(Error::option(
                "segments",
                format!(
                    "option segments: no segment {asked} in workspace {}; the segments are {}",
                    shared.workspace,
                    names.join(", ")
                ),
            ));
        };
        let name = seg.name.clone().unwrap_or_default();
        jobs.push(Job {
            unit,
            kind: "customers",
            body: json!({"filters": {"and": [{"segment": {"id": seg.id}}]}, "attributes": attributes}),
            what: format!("segment '{name}' ({})", seg.id),
            segment: Some((seg.id, name)),
        });
    }
    Ok(jobs)
}

/// One export for the selector, or one per campaign and newsletter when there is none.
async fn delivery_jobs(shared: &Shared) -> Result<Vec<Job>> {
    let o = &shared.options;
    let now = shared.request.clock.now();
    // The table's window, narrowed by `created` filters of the query.
    let mut start = o.start.map(|s| s.resolve(now));
    let mut end = o.end.map(|e| e.resolve(now));
    if let Some((lo, hi)) = &shared.request.window {
        if let Some(lo) = lo {
            start = Some(start.map_or(*lo, |s| s.max(*lo)));
        }
        if let Some(hi) = hi {
            end = Some(end.map_or(*hi, |e| e.min(*hi)));
        }
    }
    if let (Some(s), Some(e)) = (start, end)
        && s >= e
    {
        return Ok(vec![]);
    }
    check_window(
        start.map(crate::options::TimeSpec::At),
        end.map(crate::options::TimeSpec::At),
        now,
    )?;
    let mut base = serde_json::Map::new();
    if let Some(s) = start {
        base.insert("start".into(), json!(s.timestamp()));
    }
    if let Some(e) = end {
        base.insert("end".into(), json!(e.timestamp()));
    }
    if !o.attributes.is_empty() {
        base.insert("attributes".into(), json!(o.attributes));
    }
    if let Some(m) = &o.metric {
        base.insert("metric".into(), json!(m));
    }
    if o.drafts {
        base.insert("drafts".into(), json!(true));
    }
    let selectors: Vec<(&str, i64)> = match o.selector {
        Some(DeliverySelector::Campaign(id)) => vec![("campaign_id", id)],
        Some(DeliverySelector::Newsletter(id)) => vec![("newsletter_id", id)],
        Some(DeliverySelector::Action(id)) => vec![("action_id", id)],
        Some(DeliverySelector::Transactional(id)) => vec![("transactional_message_id", id)],
        None => {
            let (client, stats) = (&shared.request.client, &shared.request.stats);
            let campaigns: CampaignList = client.get("/v1/campaigns", &[], stats).await?;
            let page = PageRequest {
                method: Method::GET,
                path: "/v1/newsletters".into(),
                query: vec![("limit", "100".into())],
                body: None,
            };
            let newsletters: Vec<Vec<_>> =
                paginate::<NewsletterPage>(client.clone(), page, stats.clone())
                    .try_collect()
                    .await?;
            campaigns
                .campaigns
                .iter()
                .map(|c| ("campaign_id", c.id))
                .chain(
                    newsletters
                        .iter()
                        .flatten()
                        .map(|n| ("newsletter_id", n.id)),
                )
                .collect()
        }
    };
    Ok(selectors
        .into_iter()
        .map(|(key, id)| {
            let mut body = base.clone();
            body.insert(key.into(), json!(id));
            Job {
                unit: delivery_unit(id, key == "newsletter_id"),
                kind: "deliveries",
                body: Value::Object(body),
                what: format!("{key} {id}"),
                segment: None,
            }
        })
        .collect())
}

/// The unit of a deliveries export of campaign or newsletter `id`: derived from the id, so that
/// every task that lists them assigns a job to the same shard, and mixed (splitmix64), so that
/// ids of any pattern (all even, campaigns only, ...) spread over the shards.
fn delivery_unit(id: i64, newsletter: bool) -> usize {
    let mut z = (id as u64)
        .wrapping_mul(2)
        .wrapping_add(u64::from(newsletter));
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    (z ^ (z >> 31)) as usize
}

/// Runs one export and streams its rows.
fn run_job(shared: Arc<Shared>, job: Job) -> BoxStream<'static, Result<RecordBatch>> {
    try_stream! {
        let (client, stats) = (&shared.request.client, &shared.request.stats);
        let created = exports::create(client, job.kind, &job.body, stats).await?;
        let id = created.id;
        let done = exports::wait_done(client, id, &job.what, shared.options.timeout, stats).await?;
        let total = done.total.filter(|t| *t > 0).map(|t| t as usize);
        let mut emitted = 0usize;
        let mut attempt = 0u32;
        let mut url = exports::download_url(client, id, stats).await?;
        let mut renewed = false;
        loop {
            attempt += 1;
            let body = match exports::open(&url, stats).await {
                Ok(body) => body,
                Err(OpenError::Expired(why)) if !renewed => {
                    // The link lasts 15 minutes: ask for a new one, once.
                    tracing::debug!(export = id, %why, "download link refused; asking for a new one");
                    renewed = true;
                    url = exports::download_url(client, id, stats).await?;
                    continue;
                }
                Err(OpenError::Expired(why)) => {
                    Err(Error::Export(format!("export {id} ({}): {why}, also with a new link", job.what)))?;
                    unreachable!()
                }
                Err(OpenError::Other(e)) if attempt < DOWNLOAD_ATTEMPTS => {
                    tracing::debug!(export = id, error = %e, "download did not start; trying again");
                    stats.retries.add(1);
                    tokio::time::sleep(std::time::Duration::from_millis(200 * u64::from(attempt))).await;
                    continue;
                }
                Err(OpenError::Other(e)) => {
                    Err(Error::Export(format!(
                        "export {id} ({}): {e}; gave up after {attempt} attempts",
                        job.what
                    )))?;
                    unreachable!()
                }
            };
            let mut decoder = FileDecoder::new(&shared, &job, id, emitted);
            let mut body = std::pin::pin!(body);
            let mut cut: Option<Error> = None;
            while let Some(chunk) = body.next().await {
                match chunk {
                    Ok(bytes) => {
                        for batch in decoder.feed(&bytes, stats)? {
                            emitted += batch.num_rows();
                            yield batch;
                        }
                    }
                    Err(e) => {
                        cut = Some(e);
                        break;
                    }
                }
            }
            match cut {
                None => {
                    for batch in decoder.finish(stats)? {
                        yield batch;
                    }
                    let rows = decoder.rows_seen();
                    if let Some(total) = total
                        && rows < total {
                            Err(Error::Export(format!(
                                "export {id} ({}): the file has {rows} rows but Customer.io reported {total}; \
                                 the download is incomplete",
                                job.what
                            )))?;
                        }
                    break;
                }
                Some(e) if attempt < DOWNLOAD_ATTEMPTS => {
                    tracing::debug!(export = id, error = %e, emitted, "download cut off; resuming");
                    stats.retries.add(1);
                }
                Some(e) => {
                    Err(Error::Export(format!(
                        "export {id} ({}): {e}; gave up after {attempt} attempts",
                        job.what
                    )))?;
                }
            }
        }
    }
    .boxed()
}

/// The UTF-8 byte-order mark, dropped before the header.
const BOM: &[u8] = b"\xEF\xBB\xBF";

/// Turns a CSV byte stream into table batches, matching columns by header name.
struct FileDecoder {
    shared: Arc<Shared>,
    /// What the file is of, for errors: `export 12 (campaign_id 3)`.
    label: String,
    /// Gzip or plain.
    unpack: Unpack,
    /// Whether the start of the file has been checked for a byte-order mark.
    bom_checked: bool,
    /// For each table column of type time: values seen (not NULL) and values read as times.
    times: HashMap<usize, (usize, usize)>,
    prefix_values: Vec<Option<String>>,
    /// Data rows to drop before emitting (already emitted by an earlier attempt).
    skip: usize,
    /// Data rows decoded so far (emitted or skipped).
    seen: usize,
    header: Option<Header>,
    pending: Vec<u8>,
}

struct Header {
    decoder: datafusion::arrow::csv::reader::Decoder,
    /// For each table column: the file column holding it, if any.
    sources: Vec<Option<usize>>,
    /// File columns kept in `extra`: (index, name).
    extra: Vec<(usize, String)>,
}

impl FileDecoder {
    fn new(shared: &Arc<Shared>, job: &Job, export_id: i64, skip: usize) -> Self {
        let prefix_values = match &job.segment {
            Some((id, name)) => vec![
                Some(shared.workspace.clone()),
                Some(id.to_string()),
                Some(name.clone()),
            ],
            None if job.kind == "customers" => vec![Some(shared.workspace.clone()), None, None],
            None => vec![Some(shared.workspace.clone()), Some(export_id.to_string())],
        };
        FileDecoder {
            shared: shared.clone(),
            label: format!("export {export_id} ({})", job.what),
            unpack: Unpack::default(),
            bom_checked: false,
            times: HashMap::new(),
            prefix_values,
            skip,
            seen: 0,
            header: None,
            pending: Vec::new(),
        }
    }

    fn rows_seen(&self) -> usize {
        self.seen
    }

    /// The batches completed by the next `bytes` of the file (gzip or plain).
    fn feed(
        &mut self,
        bytes: &[u8],
        stats: &crate::client::RequestStats,
    ) -> Result<Vec<RecordBatch>> {
        let plain = self.unpack.push(bytes).map_err(|e| self.context(e))?;
        if plain.is_empty() {
            // Nothing new (gzip still in its header): an empty decode means the end to arrow.
            return Ok(vec![]);
        }
        self.feed_plain(&plain, stats)
    }

    /// `e` with the export it happened to.
    fn context(&self, e: Error) -> Error {
        Error::Export(format!("{}: {e}", self.label))
    }

    fn feed_plain(
        &mut self,
        bytes: &[u8],
        stats: &crate::client::RequestStats,
    ) -> Result<Vec<RecordBatch>> {
        let data: &[u8] = bytes;
        if self.header.is_none() {
            self.pending.extend_from_slice(bytes);
            if !self.bom_checked && self.pending.len() >= BOM.len() {
                self.bom_checked = true;
                if self.pending.starts_with(BOM) {
                    self.pending.drain(..BOM.len());
                }
            }
            let Some((header, used)) = read_header(&self.pending).map_err(|e| self.context(e))?
            else {
                return Ok(vec![]);
            };
            self.header = Some(self.make_header(header)?);
            let rest = self.pending.split_off(used);
            self.pending.clear();
            return self.decode(&rest, stats);
        }
        self.decode(data, stats)
    }

    fn finish(&mut self, stats: &crate::client::RequestStats) -> Result<Vec<RecordBatch>> {
        let rest = self.unpack.finish().map_err(|e| self.context(e))?;
        let mut out = if rest.is_empty() {
            vec![]
        } else {
            self.feed_plain(&rest, stats)?
        };
        if self.header.is_none() {
            if self.pending.iter().all(u8::is_ascii_whitespace) {
                return Ok(out); // An empty file: no rows.
            }
            // A header with no newline after it.
            self.pending.push(b'\n');
            let pending = std::mem::take(&mut self.pending);
            out.extend(self.feed_plain(&pending, stats)?);
            return Ok(out);
        }
        out.extend(self.decode(&[], stats)?);
        let Some(h) = self.header.as_mut() else {
            return Ok(out);
        };
        if let Some(batch) = h.decoder.flush()?
            && let Some(b) = self.convert(batch, stats)?
        {
            out.push(b);
        }
        Ok(out)
    }

    fn make_header(&self, names: Vec<String>) -> Result<Header> {
        let file_schema = Schema::new(
            names
                .iter()
                .enumerate()
                .map(|(i, _)| Field::new(format!("c{i}"), DataType::Utf8, true))
                .collect::<Vec<_>>(),
        );
        let decoder = CsvReaderBuilder::new(Arc::new(file_schema))
            .with_header(false)
            .with_batch_size(BATCH_ROWS)
            .build_decoder();
        let columns = &self.shared.report_columns;
        let aliases: &[(&str, &str)] = match self.shared.kind {
            ExportKind::Deliveries => &DELIVERY_ALIASES,
            ExportKind::Customers => &[],
        };
        let canonical = |n: &str| -> String {
            let n = n.trim();
            aliases
                .iter()
                .find(|(a, _)| a.eq_ignore_ascii_case(n))
                .map_or(n.to_string(), |(_, c)| c.to_string())
        };
        let position: HashMap<String, usize> = names
            .iter()
            .enumerate()
            .rev()
            .map(|(i, n)| (canonical(n), i))
            .collect();
        // Names in any case (`ID`, `Email`), for a fixed column no name matches exactly. Only
        // the connector's own columns: attribute names are case-sensitive in Customer.io, so a
        // requested `Plan` must not take the file's `plan`, another attribute.
        let folded: HashMap<String, usize> = names
            .iter()
            .enumerate()
            .rev()
            .map(|(i, n)| (canonical(n).to_lowercase(), i))
            .collect();
        let (known, identity): (&[(&str, ColType)], &[&str]) = match self.shared.kind {
            ExportKind::Customers => (&CUSTOMER_COLUMNS, &CUSTOMER_IDENTITY),
            ExportKind::Deliveries => (&DELIVERY_COLUMNS, &DELIVERY_IDENTITY),
        };
        let fixed = self.shared.prefix..self.shared.prefix + known.len();
        let sources: Vec<Option<usize>> = columns
            .iter()
            .enumerate()
            .map(|(i, (name, _))| {
                if i < self.shared.prefix {
                    None
                } else if fixed.contains(&i) {
                    position
                        .get(name)
                        .or_else(|| folded.get(&name.to_lowercase()))
                        .copied()
                } else {
                    position.get(name).copied()
                }
            })
            .collect();
        self.check_identity(&names, &sources, fixed, identity)?;
        let used: Vec<usize> = sources.iter().flatten().copied().collect();
        let extra = names
            .iter()
            .enumerate()
            .filter(|(i, _)| !used.contains(i))
            .map(|(i, n)| (i, n.trim().to_string()))
            .collect();
        Ok(Header {
            decoder,
            sources,
            extra,
        })
    }

    /// Fails unless the header has an identity column (`identity`, any one of them): a file
    /// without one, or with none of the connector's columns (a binary header, columns all
    /// renamed), would read as rows of NULLs. A missing column of another kind is schema drift
    /// and reads as NULL.
    fn check_identity(
        &self,
        names: &[String],
        sources: &[Option<usize>],
        fixed: std::ops::Range<usize>,
        identity: &[&str],
    ) -> Result<()> {
        let columns = &self.shared.report_columns;
        let found = |wanted: &str| {
            columns
                .iter()
                .zip(sources)
                .any(|((n, _), s)| n == wanted && s.is_some())
        };
        if identity.iter().any(|c| found(c)) {
            return Ok(());
        }
        let none_known = sources[fixed.clone()].iter().all(Option::is_none);
        let header = {
            let shown: Vec<String> = names
                .iter()
                .take(HEADER_NAMES_SHOWN)
                .map(|n| format!("{:?}", n.chars().take(40).collect::<String>()))
                .collect();
            let more = names.len().saturating_sub(HEADER_NAMES_SHOWN);
            let more = if more > 0 {
                format!(", and {more} more")
            } else {
                String::new()
            };
            format!("[{}{more}]", shown.join(", "))
        };
        let report = match self.shared.kind {
            ExportKind::Customers => "customers_export",
            ExportKind::Deliveries => "deliveries_export",
        };
        let mut message = format!(
            "the {report} file has no identity column: expected {} in its header (any case), \
             found {header}",
            identity
                .iter()
                .map(|c| format!("`{c}`"))
                .collect::<Vec<_>>()
                .join(" or ")
        );
        if none_known {
            let known: Vec<&str> = columns[fixed].iter().map(|(n, _)| n.as_str()).collect();
            message.push_str(&format!(
                "; none of its columns is one the connector reads ({})",
                known.join(", ")
            ));
        }
        Err(self.context(Error::Export(message)))
    }

    fn decode(
        &mut self,
        mut data: &[u8],
        stats: &crate::client::RequestStats,
    ) -> Result<Vec<RecordBatch>> {
        let mut out = Vec::new();
        loop {
            let Some(h) = self.header.as_mut() else {
                return Ok(out);
            };
            let used = h.decoder.decode(data)?;
            data = &data[used..];
            if h.decoder.capacity() == 0 {
                if let Some(batch) = h.decoder.flush()?
                    && let Some(b) = self.convert(batch, stats)?
                {
                    out.push(b);
                }
            } else if data.is_empty() || used == 0 {
                return Ok(out);
            }
        }
    }

    /// File batch (all text) to table batch; drops rows still to skip.
    fn convert(
        &mut self,
        batch: RecordBatch,
        stats: &crate::client::RequestStats,
    ) -> Result<Option<RecordBatch>> {
        let n = batch.num_rows();
        self.seen += n;
        let drop = self.skip.min(n);
        self.skip -= drop;
        if drop == n {
            return Ok(None);
        }
        let batch = batch.slice(drop, n - drop);
        let rows = batch.num_rows();
        let Some(h) = self.header.as_ref() else {
            return Ok(None);
        };
        let shared = &self.shared;
        let mut columns: Vec<ArrayRef> = Vec::with_capacity(shared.projection.len());
        for &c in &shared.projection {
            if c == shared.report_columns.len() {
                columns.push(extra_array(&batch, &h.extra)?);
                continue;
            }
            let (ref name, ty) = shared.report_columns[c];
            let text: ArrayRef = if c < shared.prefix {
                // Empty text is NULL, as arrow's CSV decoder reads the file's empty fields.
                match self.prefix_values.get(c).and_then(Option::as_deref) {
                    Some(v) if !v.is_empty() => Arc::new(StringArray::new_repeated(v, rows)),
                    _ => new_null_array(&DataType::Utf8, rows),
                }
            } else {
                match h.sources[c] {
                    Some(i) => batch.column(i).clone(),
                    None => new_null_array(&DataType::Utf8, rows),
                }
            };
            let array = typed(text.clone(), ty, stats)?;
            if ty == ColType::Time && c >= shared.prefix {
                let counts = self.times.entry(c).or_default();
                counts.0 += text.len() - text.null_count();
                counts.1 += array.len() - array.null_count();
                if counts.0 > 0 && counts.1 == 0 {
                    return Err(Error::Export(format!(
                        "{}: column {name} of the export file holds no time: none of its {} \
                         values so far is unix seconds or RFC 3339 (the first is '{}')",
                        self.label,
                        counts.0,
                        first_value(&text).unwrap_or_default()
                    )));
                }
            }
            columns.push(array);
        }
        let options = RecordBatchOptions::new().with_row_count(Some(rows));
        Ok(Some(RecordBatch::try_new_with_options(
            shared.schema.clone(),
            columns,
            &options,
        )?))
    }
}

/// The header record and the bytes it used, once a whole record has arrived.
fn read_header(buf: &[u8]) -> Result<Option<(Vec<String>, usize)>> {
    if !buf.contains(&b'\n') {
        return Ok(None);
    }
    // A quoted header name may hold a newline: let the CSV parser say where the record ends.
    // One byte past the buffer shows whether it does end there: a chunk that stops just after
    // a newline inside quotes (`id,"e\n`) would otherwise read as a whole record, cut short.
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(std::io::Read::chain(buf, &b"\0"[..]));
    // Bytes, not text, until the record is whole: a chunk may end inside a character.
    let mut record = csv::ByteRecord::new();
    match reader.read_byte_record(&mut record) {
        Ok(true) => {
            let end = reader.position().byte() as usize;
            if end > buf.len() || (end == buf.len() && buf.last() != Some(&b'\n')) {
                return Ok(None);
            }
            let names = record
                .iter()
                .map(|f| std::str::from_utf8(f).map(str::to_string))
                .collect::<std::result::Result<Vec<_>, _>>()
                .map_err(|e| {
                    Error::Export(format!("the export file's header is not UTF-8 text: {e}"))
                })?;
            Ok(Some((names, end)))
        }
        Ok(false) => Ok(None),
        Err(e) => Err(Error::Export(format!(
            "the export file's header is not CSV: {e}"
        ))),
    }
}

/// Text to the column's type; values that do not convert become NULL and are counted.
fn typed(text: ArrayRef, ty: ColType, stats: &crate::client::RequestStats) -> Result<ArrayRef> {
    let out: ArrayRef = match ty {
        ColType::Text => text.clone(),
        ColType::Int => {
            let safe = CastOptions {
                safe: true,
                ..CastOptions::default()
            };
            cast_with_options(&text, &DataType::Int64, &safe)?
        }
        ColType::Time => {
            let s = text.as_any().downcast_ref::<StringArray>();
            let mut b = TimestampMicrosecondBuilder::with_capacity(text.len()).with_timezone("UTC");
            for i in 0..text.len() {
                b.append_option(
                    s.and_then(|s| (!s.is_null(i)).then(|| parse_time(s.value(i))).flatten()),
                );
            }
            Arc::new(b.finish())
        }
    };
    let failed = out.null_count().saturating_sub(text.null_count());
    if failed > 0 {
        stats.cast_failures.add(failed);
    }
    Ok(out)
}

/// The first value of a text column that is not NULL.
fn first_value(text: &ArrayRef) -> Option<String> {
    let s = text.as_any().downcast_ref::<StringArray>()?;
    (0..s.len())
        .find(|&i| s.is_valid(i))
        .map(|i| s.value(i).chars().take(40).collect())
}

/// Unix seconds, or RFC 3339.
fn parse_time(s: &str) -> Option<i64> {
    let s = s.trim();
    if let Ok(secs) = s.parse::<i64>() {
        return secs.checked_mul(1_000_000);
    }
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc).timestamp_micros())
}

fn extra_array(batch: &RecordBatch, extra: &[(usize, String)]) -> Result<ArrayRef> {
    let mut b = MapBuilder::new(None, StringBuilder::new(), StringBuilder::new());
    let columns: Vec<(&StringArray, &str)> = extra
        .iter()
        .filter_map(|(i, n)| {
            batch
                .column(*i)
                .as_any()
                .downcast_ref::<StringArray>()
                .map(|a| (a, n.as_str()))
        })
        .collect();
    for row in 0..batch.num_rows() {
        for (a, name) in &columns {
            if !a.is_null(row) && !a.value(row).is_empty() {
                b.keys().append_value(name);
                b.values().append_value(a.value(row));
            }
        }
        b.append(true)?;
    }
    Ok(Arc::new(b.finish()))
}

/// The decoder of a scan, over every column of a report, for bytes that do not come from a
/// download.
fn local_decoder(
    kind: ExportKind,
    workspace: &str,
    attributes: Vec<String>,
    segment: Option<(i64, String)>,
    export_id: i64,
) -> FileDecoder {
    let options = ExportOptions {
        attributes,
        ..ExportOptions::default()
    };
    let report = ExportReport::new(kind, workspace, options);
    let projection: Vec<usize> = (0..report.schema.fields().len()).collect();
    let shared = Arc::new(Shared {
        kind,
        report_columns: report.columns.clone(),
        prefix: report.prefix,
        workspace: report.workspace.clone(),
        options: report.options.clone(),
        projection: projection.clone(),
        schema: report.schema.clone(),
        request: ReadRequest::detached(projection),
    });
    let job = Job {
        unit: 0,
        kind: match kind {
            ExportKind::Customers => "customers",
            ExportKind::Deliveries => "deliveries",
        },
        body: Value::Null,
        what: "a local file".into(),
        segment,
    };
    FileDecoder::new(&shared, &job, export_id, 0)
}

/// Bytes read from a local export file at a time, as chunks of a download arrive.
const LOCAL_CHUNK: usize = 64 * 1024;

/// An export file already at hand (a download saved to disk, say), read by the decoder a scan
/// uses: batches of every column of the report (`workspace` as given, no segment, export id
/// 0), in file order. Reads the source in chunks: memory does not grow with the file.
pub struct ExportFileReader<R> {
    source: R,
    decoder: FileDecoder,
    stats: crate::client::RequestStats,
    ready: std::collections::VecDeque<RecordBatch>,
    chunk: Vec<u8>,
    finished: bool,
}

impl<R: std::io::Read> ExportFileReader<R> {
    /// A reader of the file of a `kind` export with the requested `attributes`, from `source`.
    pub fn new(kind: ExportKind, workspace: &str, attributes: Vec<String>, source: R) -> Self {
        ExportFileReader {
            source,
            decoder: local_decoder(kind, workspace, attributes, None, 0),
            stats: crate::client::RequestStats::default(),
            ready: Default::default(),
            chunk: vec![0; LOCAL_CHUNK],
            finished: false,
        }
    }

    /// The schema of every batch: the report's.
    pub fn schema(&self) -> SchemaRef {
        self.decoder.shared.schema.clone()
    }

    /// Data rows decoded so far.
    pub fn rows(&self) -> usize {
        self.decoder.rows_seen()
    }

    /// Values that did not convert to their column's type (and became NULL) so far.
    pub fn cast_failures(&self) -> usize {
        self.stats.cast_failures.value()
    }

    fn fill(&mut self) -> Result<()> {
        while self.ready.is_empty() && !self.finished {
            let n = match self.source.read(&mut self.chunk) {
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(Error::Export(format!("reading the export file: {e}"))),
            };
            let batches = if n == 0 {
                self.finished = true;
                self.decoder.finish(&self.stats)?
            } else {
                self.decoder.feed(&self.chunk[..n], &self.stats)?
            };
            self.ready.extend(batches);
        }
        Ok(())
    }
}

impl<R: std::io::Read> Iterator for ExportFileReader<R> {
    type Item = Result<RecordBatch>;

    fn next(&mut self) -> Option<Self::Item> {
        if let Err(e) = self.fill() {
            self.finished = true;
            self.ready.clear();
            return Some(Err(e));
        }
        self.ready.pop_front().map(Ok)
    }
}

/// The CSV export reader without HTTP, for `fuzz/` and the corpus replay test
/// (`crate::fuzzing`). Not part of the API.
#[doc(hidden)]
pub mod fuzzing {
    use super::*;

    /// The header reader of a download.
    pub fn read_header(buf: &[u8]) -> Result<Option<(Vec<String>, usize)>> {
        super::read_header(buf)
    }

    /// Decodes `data` as an export file of `kind` with `attributes` (every column projected),
    /// fed to the decoder in pieces cut at `cuts` (byte offsets, as chunks of a download
    /// arrive), then finished. Returns the table batches.
    pub fn decode(
        kind: ExportKind,
        attributes: Vec<String>,
        data: &[u8],
        cuts: &[usize],
    ) -> Result<Vec<RecordBatch>> {
        let segment = (kind == ExportKind::Customers).then(|| (1, "fuzz".to_string()));
        let mut decoder = local_decoder(kind, "fuzz", attributes, segment, 1);
        let stats = crate::client::RequestStats::default();
        let mut out = Vec::new();
        let mut at = 0;
        for &cut in cuts.iter().chain(std::iter::once(&data.len())) {
            let cut = cut.clamp(at, data.len());
            out.extend(decoder.feed(&data[at..cut], &stats)?);
            at = cut;
        }
        out.extend(decoder.finish(&stats)?);
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::AsArray;

    #[test]
    fn header_waits_for_a_whole_record() {
        assert!(read_header(b"id,email").unwrap().is_none());
        let (names, used) = read_header(b"id,\"e\nmail\",cio_id\n1,a,b\n")
            .unwrap()
            .unwrap();
        assert_eq!(names, vec!["id", "e\nmail", "cio_id"]);
        assert_eq!(used, 19);
        // A chunk ending just after a newline inside a quoted name is not a whole header
        // (found by `cargo fuzz`: the header was read as `id`, `e\n`).
        assert!(read_header(b"id,\"e\n").unwrap().is_none());
        assert!(read_header(b"id,\"e\nmail\"\n").unwrap().is_some());
        // Nor one ending inside a character after a blank line (`Ӛ` is 0xd3 0x9a).
        assert!(read_header(b"\nid,\xd3").unwrap().is_none());
        assert_eq!(
            read_header(b"\nid,\xd3\x9a\n").unwrap().unwrap().0,
            ["id", "Ӛ"]
        );
    }

    #[test]
    fn empty_fields_of_the_file_are_null() {
        let file = b"id,email,cio_id,plan\n1,,c1,\n2,b@x.io,c2,pro\n";
        let reader =
            ExportFileReader::new(ExportKind::Customers, "ws", vec!["plan".into()], &file[..]);
        let batches: Vec<RecordBatch> = reader.collect::<Result<_>>().unwrap();
        let batch =
            datafusion::arrow::compute::concat_batches(&batches[0].schema(), &batches).unwrap();
        let text = |name: &str| {
            let column = batch.column_by_name(name).unwrap();
            let s = column.as_any().downcast_ref::<StringArray>().unwrap();
            (0..s.len())
                .map(|i| s.is_valid(i).then(|| s.value(i).to_string()))
                .collect::<Vec<_>>()
        };
        assert_eq!(text("email"), [None, Some("b@x.io".into())]);
        assert_eq!(text("plan"), [None, Some("pro".into())]);
        assert_eq!(text("workspace"), [Some("ws".into()), Some("ws".into())]);
    }

    #[test]
    fn deliveries_spread_over_shards_whatever_the_ids() {
        // Campaigns only, all ids even, or both kinds: every shard of 2, 3 and 4 gets a share
        // near its own, and the unit depends only on the id and the kind.
        let cases: [Vec<(i64, bool)>; 3] = [
            (1..=40).map(|id| (id, false)).collect(),
            (1..=40).map(|id| (id * 2, false)).collect(),
            (1..=20).flat_map(|id| [(id, false), (id, true)]).collect(),
        ];
        for jobs in &cases {
            for count in 2..=4 {
                let mut per_shard = vec![0; count];
                for &(id, newsletter) in jobs {
                    per_shard[delivery_unit(id, newsletter) % count] += 1;
                }
                let fair = jobs.len() / count;
                assert!(
                    per_shard.iter().all(|&n| n >= fair / 2 && n <= fair * 2),
                    "{count} shards: {per_shard:?}"
                );
            }
        }
        assert_eq!(delivery_unit(7, false), delivery_unit(7, false));
        assert_ne!(delivery_unit(7, false), delivery_unit(7, true));
    }

    /// Every batch of `data` as an export file of `kind` (attribute `plan`), cut every `step` bytes.
    fn decoded(kind: ExportKind, data: &[u8], step: usize) -> Result<RecordBatch> {
        let cuts: Vec<usize> = (step..data.len()).step_by(step).collect();
        let batches = fuzzing::decode(kind, vec!["plan".into()], data, &cuts)?;
        let schema = ExportReport::new(
            kind,
            "fuzz",
            ExportOptions {
                attributes: vec!["plan".into()],
                ..ExportOptions::default()
            },
        )
        .schema;
        Ok(datafusion::arrow::compute::concat_batches(
            &schema, &batches,
        )?)
    }

    fn gzip(data: &[u8]) -> Vec<u8> {
        use std::io::Write;
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn gzip_bom_and_header_case_read_as_the_plain_file() {
        let files: [(ExportKind, &[u8]); 2] = [
            (
                ExportKind::Customers,
                b"id,email,cio_id,plan,Other\n1,a@x.io,c1,pro,x\n2,,c2,,\n",
            ),
            (
                ExportKind::Deliveries,
                b"id,campaign_id,created,sent,plan\nd1,3,1700000000,,pro\nd2,3,1700000100,1700000200,\n",
            ),
        ];
        for (kind, plain) in files {
            let want = decoded(kind, plain, usize::MAX).unwrap();
            assert_eq!(want.num_rows(), 2);
            let text = std::str::from_utf8(plain).unwrap();
            let (header, rest) = text.split_once('\n').unwrap();
            // The fixed columns in upper case; the attribute `plan` keeps its name.
            let header: Vec<String> = header
                .split(',')
                .map(|n| match n {
                    "plan" => n.to_string(),
                    _ => n.to_uppercase(),
                })
                .collect();
            let upper = format!("{}\n{rest}", header.join(","));
            let with_bom = [BOM, plain].concat();
            let all = [BOM, upper.as_bytes()].concat();
            for variant in [
                with_bom.clone(),
                upper.clone().into_bytes(),
                gzip(plain),
                gzip(&all),
                [gzip(&all[..20]), gzip(&all[20..])].concat(),
            ] {
                for step in [1, 2, 3, 5, 64, usize::MAX] {
                    let got = decoded(kind, &variant, step).unwrap();
                    // `extra` keeps the file's own name of an unknown column: compare the rest.
                    let n = want.num_columns() - 1;
                    assert_eq!(
                        got.project(&(0..n).collect::<Vec<_>>()).unwrap(),
                        want.project(&(0..n).collect::<Vec<_>>()).unwrap(),
                        "{kind:?} {step} {variant:?}"
                    );
                }
            }
        }
        // A file cut inside its gzip stream is an error, not fewer rows.
        let cut = gzip(files[0].1);
        let e = decoded(ExportKind::Customers, &cut[..cut.len() - 5], 7)
            .unwrap_err()
            .to_string();
        assert!(e.contains("gzip"), "{e}");
    }

    #[test]
    fn a_file_without_an_identity_column_fails_naming_it() {
        let e = |kind, data: &[u8]| {
            decoded(kind, data, 3)
                .map(|b| format!("no error, {} rows", b.num_rows()))
                .unwrap_or_else(|e| e.to_string())
        };
        // People: neither `id` nor `cio_id`.
        let got = e(ExportKind::Customers, b"email,plan\na@x.io,pro\n");
        for needle in [
            "export 1 (a local file)",
            "customers_export file has no identity column",
            "`cio_id` or `id`",
            "[\"email\", \"plan\"]",
        ] {
            assert!(got.contains(needle), "'{got}' lacks '{needle}'");
        }
        assert!(!got.contains("none of its columns"), "{got}");
        // Deliveries whose every column is renamed: nothing the connector reads.
        let got = e(
            ExportKind::Deliveries,
            b"created_at,campaign,plan\n1700000000,3,pro\n",
        );
        for needle in [
            "deliveries_export file has no identity column",
            "`delivery_id`",
            "[\"created_at\", \"campaign\", \"plan\"]",
            "none of its columns is one the connector reads (delivery_id, campaign_id",
        ] {
            assert!(got.contains(needle), "'{got}' lacks '{needle}'");
        }
        // Gzip inside gzip: one layer comes off, the header is binary.
        let plain: &[u8] = b"id,email,cio_id\n1,a@x.io,c1\n";
        let got = e(ExportKind::Customers, &gzip(&gzip(plain)));
        assert!(got.contains("export 1 (a local file)"), "{got}");
        assert!(got.contains("header"), "{got}");
        // A binary header that happens to be UTF-8 matches nothing.
        let got = e(
            ExportKind::Deliveries,
            b"\x1f\x08\x00\x03,\x7f\n\x01,\x02\n",
        );
        assert!(
            got.contains("export 1 (a local file)")
                && got.contains("`delivery_id`")
                && got.contains("none of its columns"),
            "{got}"
        );
        // One identity column is enough, in any case; other columns missing are drift (NULL).
        for file in [
            &b"cio_id\nc1\n"[..],
            b"ID,plan\n1,pro\n",
            b"Cio_Id,email\nc1,a@x.io\n",
        ] {
            let b = decoded(ExportKind::Customers, file, 2).unwrap();
            assert_eq!(b.num_rows(), 1);
        }
        for file in [&b"id,created\nd1,1700000000\n"[..], b"MESSAGE_ID\nd1\n"] {
            let b = decoded(ExportKind::Deliveries, file, 2).unwrap();
            let id = b.column_by_name("delivery_id").unwrap().as_string::<i32>();
            assert_eq!(id.value(0), "d1");
        }
        // An empty file is still no rows, not an error.
        assert_eq!(
            decoded(ExportKind::Deliveries, b"", 2).unwrap().num_rows(),
            0
        );
    }

    #[test]
    fn attribute_columns_match_their_case_exactly() {
        let read = |attribute: &str, file: &[u8]| {
            let batches = fuzzing::decode(
                ExportKind::Customers,
                vec![attribute.to_string()],
                file,
                &[5],
            )
            .unwrap();
            let b =
                datafusion::arrow::compute::concat_batches(&batches[0].schema(), &batches).unwrap();
            let value = |name: &str| {
                let c = b.column_by_name(name).unwrap().as_string::<i32>();
                c.is_valid(0).then(|| c.value(0).to_string())
            };
            (value("cio_id"), value(attribute))
        };
        // `Plan` is not `plan`: another attribute, missing from this file (NULL); the fixed
        // columns still fold.
        let file = b"ID,EMAIL,CIO_ID,plan\n1,a@x.io,c1,pro\n";
        assert_eq!(read("Plan", file), (Some("c1".into()), None));
        assert_eq!(read("plan", file), (Some("c1".into()), Some("pro".into())));
        let both = b"id,email,cio_id,plan,Plan\n1,a@x.io,c1,pro,Gold\n";
        assert_eq!(read("Plan", both), (Some("c1".into()), Some("Gold".into())));
    }

    #[test]
    fn a_time_column_with_no_time_fails_naming_it() {
        let bad = b"id,created,sent\nd1,yesterday,\nd2,soon,\n";
        let e = decoded(ExportKind::Deliveries, bad, 4)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("column created") && e.contains("'yesterday'") && e.contains("2 values"),
            "{e}"
        );
        // One value that reads is enough: the others are NULL and counted, as before.
        let some = b"id,created\nd1,yesterday\nd2,1700000000\n";
        let b = decoded(ExportKind::Deliveries, some, 4).unwrap();
        assert_eq!(b.column_by_name("created").unwrap().null_count(), 1);
        // An empty column is not a failure.
        let empty = b"id,created\nd1,\n";
        assert_eq!(
            decoded(ExportKind::Deliveries, empty, 4)
                .unwrap()
                .num_rows(),
            1
        );
    }

    #[test]
    fn times() {
        assert_eq!(parse_time("1700000000"), Some(1_700_000_000_000_000));
        assert_eq!(
            parse_time("2023-11-14T22:13:20Z"),
            Some(1_700_000_000_000_000)
        );
        assert_eq!(parse_time("soon"), None);
    }
}

//! The `campaign_journey_metrics` report: `GET /v1/campaigns/{id}/journey_metrics` per campaign,
//! one row per campaign and bucket with the journeys started in the bucket and how far they went
//! (`started`, `activated`, `never_activated`, `messaged`, `converted`, `finished`,
//! `exited_early`).
//!
//! The request is `start` (the first of the `steps + 1` buckets up to the one holding now),
//! `end` (now) and `resolution` (the period). The endpoint names no time zone; buckets are read
//! as cut in UTC (docs/API-NOTES.md §7). An answer whose series do not have one value per bucket
//! is an error, never a guess at which buckets they are.

use std::sync::{Arc, LazyLock};

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use datafusion::arrow::array::{
    ArrayRef, Int64Array, Int64Builder, StringArray, TimestampMicrosecondBuilder,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::arrow::record_batch::{RecordBatch, RecordBatchOptions};
use futures::stream::{self, BoxStream, StreamExt, TryStreamExt};
use serde_json::Value;

use super::{ReadRequest, ReportReader};
use crate::client::models::CampaignList;
use crate::error::{Error, Result};
use crate::options::MetricOptions;

/// The series of a journey metrics answer, in column order.
pub const JOURNEY_SERIES: [&str; 7] = [
    "started",
    "activated",
    "never_activated",
    "messaged",
    "converted",
    "finished",
    "exited_early",
];

/// The columns of `campaign_journey_metrics`.
pub fn schema() -> SchemaRef {
    static SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
        let mut fields = vec![
            Field::new("workspace", DataType::Utf8, false),
            Field::new("campaign_id", DataType::Int64, false),
            Field::new("campaign_name", DataType::Utf8, true),
            Field::new("period", DataType::Utf8, false),
            Field::new(
                "period_start",
                DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
                false,
            ),
        ];
        fields.extend(
            JOURNEY_SERIES
                .iter()
                .map(|m| Field::new(*m, DataType::Int64, true)),
        );
        Arc::new(Schema::new(fields))
    });
    SCHEMA.clone()
}

/// Reads `campaign_journey_metrics`.
#[derive(Debug)]
pub struct JourneyReport {
    workspace: String,
    options: MetricOptions,
}

impl JourneyReport {
    /// The report of `workspace` with `options` (`period` and `steps`).
    pub fn new(workspace: impl Into<String>, options: MetricOptions) -> Self {
        JourneyReport {
            workspace: workspace.into(),
            options,
        }
    }

    /// The bucket starts at `now`: `steps + 1` buckets in UTC, the last holding `now`.
    fn buckets(&self, now: DateTime<Utc>) -> Vec<DateTime<Utc>> {
        self.options
            .period
            .buckets(self.options.steps, now, Tz::UTC)
    }
}

impl ReportReader for JourneyReport {
    fn schema(&self) -> SchemaRef {
        schema()
    }

    fn pushdown_columns(&self) -> Vec<&'static str> {
        vec!["campaign_id"]
    }

    fn describe(&self) -> Vec<(&'static str, String)> {
        vec![
            ("period", self.options.period.to_string()),
            ("steps", self.options.steps.to_string()),
        ]
    }

    fn read(&self, request: ReadRequest) -> BoxStream<'static, Result<RecordBatch>> {
        let now = request.clock.now();
        let buckets = Arc::new(self.buckets(now));
        let period = self.options.period;
        let workspace: Arc<str> = self.workspace.as_str().into();
        // `end` is now, inside the current bucket: every `end` in it asks for the same buckets,
        // so the cache key holds the current bucket's start in its place (as version-2 metrics).
        let current = buckets[buckets.len() - 1];
        let end = super::metrics::v2_end(current, now);
        let client = request
            .client
            .clone()
            .with_cache_key_value("end", current.timestamp().to_string());
        let stats = request.stats.clone();
        let wanted: Option<Vec<i64>> = request.pushed.as_ref().map(|p| p.i64_values());
        let projection = Arc::new(request.projection.clone());
        let concurrency = request.concurrency.max(1);
        let campaigns = {
            let (client, stats) = (client.clone(), stats.clone());
            stream::once(async move {
                let list: CampaignList = client.get("/v1/campaigns", &[], &stats).await?;
                let items: Vec<(i64, Option<String>)> = list
                    .campaigns
                    .into_iter()
                    .filter(|c| wanted.as_ref().is_none_or(|w| w.contains(&c.id)))
                    .map(|c| (c.id, c.name))
                    .collect();
                Ok::<_, Error>(stream::iter(items.into_iter().map(Ok)))
            })
            .try_flatten()
        };
        campaigns
            .map_ok(move |(id, name)| {
                let (client, stats) = (client.clone(), stats.clone());
                let (buckets, workspace, projection) =
                    (buckets.clone(), workspace.clone(), projection.clone());
                async move {
                    let path = format!("/v1/campaigns/{id}/journey_metrics");
                    let query = vec![
                        ("start", buckets[0].timestamp().to_string()),
                        ("end", end.to_string()),
                        ("resolution", period.as_str().to_string()),
                    ];
                    let body: Value = client.get(&path, &query, &stats).await?;
                    let series = read_series(&path, &body, buckets.len())?;
                    build(
                        &workspace,
                        id,
                        name.as_deref(),
                        period.as_str(),
                        &buckets,
                        &series,
                        &projection,
                    )
                }
            })
            .try_buffered(concurrency)
            .boxed()
    }
}

/// The series of an answer, one per [`JOURNEY_SERIES`], each with `n` values.
fn read_series(path: &str, body: &Value, n: usize) -> Result<Vec<Vec<Option<i64>>>> {
    let malformed = |detail: String| Error::Malformed {
        endpoint: format!("GET {path} (campaignJourneyMetrics)"),
        detail,
    };
    let metric = body
        .get("journey_metric")
        .and_then(Value::as_object)
        .ok_or_else(|| malformed("the answer has no `journey_metric` object".into()))?;
    JOURNEY_SERIES
        .iter()
        .map(|key| match metric.get(*key) {
            // The contract types every series as an array: a missing one is another shape, not
            // a column of NULLs.
            None => Err(malformed(format!(
                "the answer has no `journey_metric.{key}`"
            ))),
            Some(Value::Array(values)) => {
                if values.len() != n {
                    return Err(malformed(format!(
                        "`journey_metric.{key}` has {} values for the {n} buckets asked for",
                        values.len()
                    )));
                }
                values
                    .iter()
                    .map(|v| match v {
                        Value::Null => Ok(None),
                        v => v.as_i64().map(Some).ok_or_else(|| {
                            malformed(format!(
                                "`journey_metric.{key}` holds {v}, expected integers"
                            ))
                        }),
                    })
                    .collect()
            }
            Some(other) => Err(malformed(format!(
                "`journey_metric.{key}` is {other}, expected an array"
            ))),
        })
        .collect()
}

fn build(
    workspace: &str,
    id: i64,
    name: Option<&str>,
    period: &str,
    buckets: &[DateTime<Utc>],
    series: &[Vec<Option<i64>>],
    projection: &[usize],
) -> Result<RecordBatch> {
    let n = buckets.len();
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(projection.len());
    for &c in projection {
        columns.push(match c {
            0 => Arc::new(StringArray::from(vec![workspace; n])),
            1 => Arc::new(Int64Array::from_value(id, n)),
            2 => Arc::new(StringArray::from(vec![name; n])),
            3 => Arc::new(StringArray::from(vec![period; n])),
            4 => {
                let mut b = TimestampMicrosecondBuilder::with_capacity(n);
                buckets
                    .iter()
                    .for_each(|t| b.append_value(t.timestamp_micros()));
                Arc::new(b.finish().with_timezone("UTC"))
            }
            k => {
                let mut b = Int64Builder::with_capacity(n);
                series[k - 5].iter().for_each(|v| b.append_option(*v));
                Arc::new(b.finish())
            }
        });
    }
    let schema = Arc::new(schema().project(projection)?);
    let options = RecordBatchOptions::new().with_row_count(Some(n));
    Ok(RecordBatch::try_new_with_options(
        schema, columns, &options,
    )?)
}

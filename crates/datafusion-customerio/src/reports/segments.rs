//! The `segments` report: `GET /v1/segments` as a table (one request; archived segments are
//! left out by the API). Handy for joins, and the name-to-id lookup of `customers_export`.
//!
//! With the `counts` option the table has four more columns, asked for per segment only when
//! selected: `customer_count` (`GET /v1/segments/{id}/customer_count`) and `used_by_campaigns`,
//! `used_by_sent_newsletters`, `used_by_draft_newsletters` (`GET /v1/segments/{id}/used_by`).

use std::sync::{Arc, LazyLock};

use datafusion::arrow::array::{ArrayRef, Int64Builder, ListBuilder, StringBuilder};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::arrow::record_batch::{RecordBatch, RecordBatchOptions};
use futures::StreamExt;
use futures::stream::{self, BoxStream};

use super::{ReadRequest, ReportReader};
use crate::client::models::{Segment, SegmentList};
use crate::client::{Client, RequestStats};
use crate::error::Result;

/// The columns `counts` adds, after [`schema`]'s.
const COUNT_COLUMNS: [&str; 4] = [
    "customer_count",
    "used_by_campaigns",
    "used_by_sent_newsletters",
    "used_by_draft_newsletters",
];

/// The columns of `segments` with `counts`.
pub fn schema_with_counts() -> SchemaRef {
    static SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
        let mut fields: Vec<Field> = schema().fields().iter().map(|f| (**f).clone()).collect();
        fields.push(Field::new(COUNT_COLUMNS[0], DataType::Int64, true));
        for name in &COUNT_COLUMNS[1..] {
            fields.push(Field::new(
                *name,
                DataType::List(Arc::new(Field::new("item", DataType::Int64, true))),
                true,
            ));
        }
        Arc::new(Schema::new(fields))
    });
    SCHEMA.clone()
}

/// The columns of `segments`.
pub fn schema() -> SchemaRef {
    static SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
        Arc::new(Schema::new(vec![
            Field::new("workspace", DataType::Utf8, false),
            Field::new("id", DataType::Int64, false),
            Field::new("name", DataType::Utf8, true),
            Field::new("description", DataType::Utf8, true),
            Field::new("state", DataType::Utf8, true),
            Field::new("type", DataType::Utf8, true),
            Field::new("progress", DataType::Int64, true),
            Field::new(
                "tags",
                DataType::List(Arc::new(Field::new("item", DataType::Utf8, true))),
                true,
            ),
            Field::new("deduplicate_id", DataType::Utf8, true),
        ]))
    });
    SCHEMA.clone()
}

/// Every segment of the workspace (one request).
pub async fn list(client: &Client, stats: &RequestStats) -> Result<Vec<Segment>> {
    let list: SegmentList = client.get("/v1/segments", &[], stats).await?;
    Ok(list.segments)
}

/// Reads `segments`.
#[derive(Debug)]
pub struct SegmentsReport {
    workspace: String,
    counts: bool,
}

impl SegmentsReport {
    /// The report of `workspace`.
    pub fn new(workspace: impl Into<String>) -> Self {
        SegmentsReport {
            workspace: workspace.into(),
            counts: false,
        }
    }

    /// With the `counts` columns.
    pub fn with_counts(mut self, counts: bool) -> Self {
        self.counts = counts;
        self
    }
}

/// The `counts` values of one segment.
#[derive(Debug, Default)]
struct Counts {
    customer_count: Option<i64>,
    used_by: [Vec<i64>; 3],
}

/// The `counts` values of `segments`, for the projected count columns (none: no request),
/// `concurrency` segments at a time.
async fn counts(
    client: &Client,
    stats: &RequestStats,
    segments: &[Segment],
    projection: &[usize],
    concurrency: usize,
) -> Result<Vec<Counts>> {
    use futures::{StreamExt, TryStreamExt};
    let base = schema().fields().len();
    let want_count = projection.contains(&base);
    let want_used = projection.iter().any(|c| *c > base);
    stream::iter(segments.iter().map(|s| s.id).collect::<Vec<_>>())
        .map(|id| {
            let (client, stats) = (client.clone(), stats.clone());
            async move { segment_counts(&client, &stats, id, want_count, want_used).await }
        })
        .buffered(concurrency.max(1))
        .try_collect()
        .await
}

/// The `counts` values of one segment.
async fn segment_counts(
    client: &Client,
    stats: &RequestStats,
    id: i64,
    want_count: bool,
    want_used: bool,
) -> Result<Counts> {
    {
        let mut c = Counts::default();
        if want_count {
            let path = format!("/v1/segments/{id}/customer_count");
            let body: serde_json::Value = client.get(&path, &[], stats).await?;
            c.customer_count = Some(
                body.get("count")
                    .and_then(serde_json::Value::as_i64)
                    .ok_or_else(|| crate::error::Error::Malformed {
                        endpoint: format!("GET {path} (getSegmentCount)"),
                        detail: format!(
                            "`count` is {}, expected an integer",
                            body.get("count")
                                .map_or("missing".into(), |v| v.to_string())
                        ),
                    })?,
            );
        }
        if want_used {
            let path = format!("/v1/segments/{id}/used_by");
            let body: serde_json::Value = client.get(&path, &[], stats).await?;
            if !body
                .get("used_by")
                .is_some_and(serde_json::Value::is_object)
            {
                return Err(crate::error::Error::Malformed {
                    endpoint: format!("GET {path} (getSegmentDependencies)"),
                    detail: "the answer has no `used_by` object".into(),
                });
            }
            for (i, key) in ["campaigns", "sent_newsletters", "draft_newsletters"]
                .iter()
                .enumerate()
            {
                c.used_by[i] = match body.pointer(&format!("/used_by/{key}")) {
                    // The contract types all three as arrays: a missing one is not "used by
                    // none", it is an answer of another shape.
                    None => {
                        return Err(crate::error::Error::Malformed {
                            endpoint: format!("GET {path} (getSegmentDependencies)"),
                            detail: format!("the answer has no `used_by.{key}`"),
                        });
                    }
                    Some(serde_json::Value::Array(ids)) => ids
                        .iter()
                        .map(|v| v.as_i64())
                        .collect::<Option<Vec<i64>>>()
                        .ok_or_else(|| crate::error::Error::Malformed {
                            endpoint: format!("GET {path} (getSegmentDependencies)"),
                            detail: format!(
                                "`used_by.{key}` holds a value that is not an integer id"
                            ),
                        })?,
                    Some(other) => {
                        return Err(crate::error::Error::Malformed {
                            endpoint: format!("GET {path} (getSegmentDependencies)"),
                            detail: format!("`used_by.{key}` is {other}, expected an array"),
                        });
                    }
                };
            }
        }
        Ok(c)
    }
}

impl ReportReader for SegmentsReport {
    fn schema(&self) -> SchemaRef {
        if self.counts {
            schema_with_counts()
        } else {
            schema()
        }
    }

    fn pushdown_columns(&self) -> Vec<&'static str> {
        vec![]
    }

    fn describe(&self) -> Vec<(&'static str, String)> {
        if self.counts {
            vec![("counts", "true".into())]
        } else {
            vec![]
        }
    }

    fn read(&self, request: ReadRequest) -> BoxStream<'static, Result<RecordBatch>> {
        let workspace = self.workspace.clone();
        let schema = self.schema();
        stream::once(async move {
            let segments = list(&request.client, &request.stats).await?;
            let counts = counts(
                &request.client,
                &request.stats,
                &segments,
                &request.projection,
                request.concurrency,
            )
            .await?;
            build_batch(&workspace, &segments, &counts, &request.projection, &schema)
        })
        .boxed()
    }
}

fn build_batch(
    workspace: &str,
    segments: &[Segment],
    counts: &[Counts],
    projection: &[usize],
    full: &SchemaRef,
) -> Result<RecordBatch> {
    let n = segments.len();
    fn text<'a>(segments: &'a [Segment], f: &dyn Fn(&'a Segment) -> Option<&'a str>) -> ArrayRef {
        let mut b = StringBuilder::new();
        segments.iter().for_each(|s| b.append_option(f(s)));
        Arc::new(b.finish())
    }
    let int = |f: &dyn Fn(&Segment) -> Option<i64>| -> ArrayRef {
        let mut b = Int64Builder::with_capacity(n);
        segments.iter().for_each(|s| b.append_option(f(s)));
        Arc::new(b.finish())
    };
    let mut columns = Vec::with_capacity(projection.len());
    for &c in projection {
        columns.push(match c {
            0 => {
                let mut b = StringBuilder::new();
                (0..n).for_each(|_| b.append_value(workspace));
                Arc::new(b.finish())
            }
            1 => int(&|s| Some(s.id)),
            2 => text(segments, &|s| s.name.as_deref()),
            3 => text(segments, &|s| s.description.as_deref()),
            4 => text(segments, &|s| s.state.as_deref()),
            5 => text(segments, &|s| s.kind.as_deref()),
            6 => int(&|s| s.progress),
            7 => {
                let mut b = ListBuilder::new(StringBuilder::new());
                for s in segments {
                    s.tags.iter().for_each(|t| b.values().append_value(t));
                    b.append(true);
                }
                Arc::new(b.finish())
            }
            8 => text(segments, &|s| s.deduplicate_id.as_deref()),
            9 => {
                let mut b = Int64Builder::with_capacity(n);
                counts
                    .iter()
                    .for_each(|c| b.append_option(c.customer_count));
                Arc::new(b.finish())
            }
            k => {
                let mut b = ListBuilder::new(Int64Builder::new());
                for c in counts {
                    b.values().append_slice(&c.used_by[k - 10]);
                    b.append(true);
                }
                Arc::new(b.finish())
            }
        });
    }
    let schema = Arc::new(full.project(projection)?);
    let options = RecordBatchOptions::new().with_row_count(Some(n));
    Ok(RecordBatch::try_new_with_options(
        schema, columns, &options,
    )?)
}

//! The `segments` report: `GET /v1/segments` as a table (one request; archived segments are
//! left out by the API). Handy for joins, and the name-to-id lookup of `customers_export`.

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
}

impl SegmentsReport {
    /// The report of `workspace`.
    pub fn new(workspace: impl Into<String>) -> Self {
        SegmentsReport {
            workspace: workspace.into(),
        }
    }
}

impl ReportReader for SegmentsReport {
    fn schema(&self) -> SchemaRef {
        schema()
    }

    fn pushdown_columns(&self) -> Vec<&'static str> {
        vec![]
    }

    fn describe(&self) -> Vec<(&'static str, String)> {
        vec![]
    }

    fn read(&self, request: ReadRequest) -> BoxStream<'static, Result<RecordBatch>> {
        let workspace = self.workspace.clone();
        stream::once(async move {
            let segments = list(&request.client, &request.stats).await?;
            build_batch(&workspace, &segments, &request.projection)
        })
        .boxed()
    }
}

fn build_batch(workspace: &str, segments: &[Segment], projection: &[usize]) -> Result<RecordBatch> {
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
            _ => text(segments, &|s| s.deduplicate_id.as_deref()),
        });
    }
    let schema = Arc::new(schema().project(projection)?);
    let options = RecordBatchOptions::new().with_row_count(Some(n));
    Ok(RecordBatch::try_new_with_options(
        schema, columns, &options,
    )?)
}

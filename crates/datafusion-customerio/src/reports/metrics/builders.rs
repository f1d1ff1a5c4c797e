//! The Arrow arrays of one item's rows: identity columns repeated, a column per series metric,
//! the `links` list of structs, the segment-id lists.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use datafusion::arrow::array::{
    ArrayRef, Int64Array, Int64Builder, ListArray, ListBuilder, StringArray, StringBuilder,
    StructArray, TimestampMicrosecondBuilder, new_null_array,
};
use datafusion::arrow::buffer::OffsetBuffer;
use datafusion::arrow::datatypes::{DataType, Field};
use datafusion::arrow::record_batch::RecordBatch;

use super::Shared;
use super::fetch::Item;
use super::schema::{LINKS_COLUMN, attribute_columns, link_fields};
use super::series::{AlignedLinks, aligned, series_len};
use crate::api::{LINK_METRICS, SERIES_METRICS};
use crate::client::models::Series;
use crate::error::Result;
use crate::reports::objects::convert::{build, lookup};

/// The rows of one item: one per bucket start, in the scan's projection.
pub(super) fn build_batch(
    shared: &Shared,
    item: &Item,
    starts: &[DateTime<Utc>],
    series: &Series,
    links: Option<&AlignedLinks>,
) -> Result<RecordBatch> {
    let n = starts.len();
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(shared.projection.len());
    for &c in &shared.projection {
        let array: ArrayRef = match c {
            0 => repeat_str(Some(&shared.workspace), n),
            1 => Arc::new(Int64Array::from_value(item.id, n)),
            2 => repeat_str(item.name.as_deref(), n),
            3 => repeat_str(item.kind.as_deref(), n),
            4 => repeat_str(shared.options.metric_type.as_deref(), n),
            5 => repeat_str(Some(shared.options.period.as_str()), n),
            6 => {
                let mut b = TimestampMicrosecondBuilder::with_capacity(n);
                starts
                    .iter()
                    .for_each(|t| b.append_value(t.timestamp_micros()));
                Arc::new(b.finish().with_timezone("UTC"))
            }
            LINKS_COLUMN => links_array(links, starts),
            c if c > LINKS_COLUMN + item.segments.len() => {
                let attrs = attribute_columns(shared.kind);
                let column = &attrs[c - LINKS_COLUMN - 1 - item.segments.len()];
                let endpoint = format!("GET {} (item {})", shared.kind.facts().path, item.id);
                let value = lookup(column, &item.attributes).map_err(|detail| {
                    crate::error::Error::Malformed {
                        endpoint: endpoint.clone(),
                        detail,
                    }
                })?;
                build(column, &vec![value; n], &endpoint)?
            }
            c if c > LINKS_COLUMN => {
                let ids = item
                    .segments
                    .get(c - LINKS_COLUMN - 1)
                    .map_or(&[][..], Vec::as_slice);
                let mut b = ListBuilder::new(Int64Builder::new());
                for _ in 0..n {
                    b.values().append_slice(ids);
                    b.append(true);
                }
                Arc::new(b.finish())
            }
            metric => {
                let mut b = Int64Builder::with_capacity(n);
                // One lookup of the series per column, not per row.
                match series.series.get(SERIES_METRICS[metric - 7]) {
                    Some(v) => (0..n).for_each(|i| b.append_option(aligned(v, i, n))),
                    None => b.append_nulls(n),
                }
                Arc::new(b.finish())
            }
        };
        columns.push(array);
    }
    let schema = Arc::new(shared.schema.project(&shared.projection)?);
    let options =
        datafusion::arrow::record_batch::RecordBatchOptions::new().with_row_count(Some(n));
    Ok(RecordBatch::try_new_with_options(
        schema, columns, &options,
    )?)
}

fn repeat_str(v: Option<&str>, n: usize) -> ArrayRef {
    match v {
        Some(v) => Arc::new(StringArray::new_repeated(v, n)),
        None => new_null_array(&DataType::Utf8, n),
    }
}

fn links_array(links: Option<&AlignedLinks>, starts: &[DateTime<Utc>]) -> ArrayRef {
    let fields = link_fields();
    let item = Arc::new(Field::new("item", DataType::Struct(fields.clone()), true));
    let Some((links, buckets)) = links else {
        return Arc::new(ListArray::new_null(item, starts.len()));
    };
    let n = links
        .iter()
        .map(|l| series_len(&l.metric))
        .max()
        .unwrap_or(0);
    // Each link's series, looked up once.
    let series: Vec<[Option<&[Option<i64>]>; LINK_METRICS.len()]> = links
        .iter()
        .map(|l| LINK_METRICS.map(|m| l.metric.series.get(m).map(Vec::as_slice)))
        .collect();
    let entries = starts.len() * links.len();
    let mut ids = Int64Builder::with_capacity(entries);
    let mut hrefs = StringBuilder::new();
    let mut values: [Int64Builder; LINK_METRICS.len()] =
        std::array::from_fn(|_| Int64Builder::with_capacity(entries));
    for t in starts {
        let bucket = buckets.index.get(&t.timestamp()).copied();
        for (l, s) in links.iter().zip(&series) {
            ids.append_value(l.link.id);
            hrefs.append_option(l.link.href.as_deref());
            for (b, v) in values.iter_mut().zip(s) {
                b.append_option(bucket.zip(*v).and_then(|(i, v)| aligned(v, i, n)));
            }
        }
    }
    let mut columns: Vec<ArrayRef> = vec![Arc::new(ids.finish()), Arc::new(hrefs.finish())];
    columns.extend(values.iter_mut().map(|b| Arc::new(b.finish()) as ArrayRef));
    let entries = StructArray::new(fields, columns, None);
    let offsets = OffsetBuffer::from_lengths(std::iter::repeat_n(links.len(), starts.len()));
    Arc::new(ListArray::new(item, offsets, Arc::new(entries), None))
}

//! The columns of the metric reports: identity, bucket, one per series metric, `links`, and the
//! item's segment ids.

use std::sync::{Arc, LazyLock};

use datafusion::arrow::datatypes::{DataType, Field, Fields, Schema, SchemaRef, TimeUnit};

use super::MetricKind;
use crate::api::SERIES_METRICS;

/// The fields of one `links` entry.
pub fn link_fields() -> Fields {
    Fields::from(vec![
        Field::new("link_id", DataType::Int64, false),
        Field::new("href", DataType::Utf8, true),
        Field::new("clicked", DataType::Int64, true),
        Field::new("human_clicked", DataType::Int64, true),
        Field::new("machine_clicked", DataType::Int64, true),
    ])
}

/// The schema of a metric report.
pub fn schema(kind: MetricKind) -> SchemaRef {
    static SCHEMAS: LazyLock<Vec<(MetricKind, SchemaRef)>> = LazyLock::new(|| {
        MetricKind::ALL
            .iter()
            .map(|k| (*k, build_schema(*k)))
            .collect()
    });
    SCHEMAS
        .iter()
        .find(|(k, _)| *k == kind)
        .map(|(_, s)| s.clone())
        .unwrap_or_else(|| build_schema(kind))
}

fn build_schema(kind: MetricKind) -> SchemaRef {
    let s = kind.facts().singular;
    let mut fields = vec![
        Field::new("workspace", DataType::Utf8, false),
        Field::new(format!("{s}_id"), DataType::Int64, false),
        Field::new(format!("{s}_name"), DataType::Utf8, true),
        Field::new(format!("{s}_type"), DataType::Utf8, true),
        Field::new("metric_type", DataType::Utf8, true),
        Field::new("period", DataType::Utf8, false),
        Field::new(
            "period_start",
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            false,
        ),
    ];
    fields.extend(
        SERIES_METRICS
            .iter()
            .map(|m| Field::new(*m, DataType::Int64, true)),
    );
    fields.push(Field::new(
        "links",
        DataType::List(Arc::new(Field::new(
            "item",
            DataType::Struct(link_fields()),
            true,
        ))),
        true,
    ));
    for name in segment_columns(kind) {
        fields.push(Field::new(
            *name,
            DataType::List(Arc::new(Field::new("item", DataType::Int64, true))),
            true,
        ));
    }
    for c in attribute_columns(kind) {
        fields.push(Field::new(c.name, c.kind.data_type(), true));
    }
    Arc::new(Schema::new(fields))
}

/// The attribute columns after the segment ids: fields the list call already returns.
pub fn attribute_columns(kind: MetricKind) -> &'static [crate::reports::objects::spec::Column] {
    kind.facts().attribute_columns
}

/// The segment-id columns after `links`: the item's segments, as the API lists them.
pub fn segment_columns(kind: MetricKind) -> &'static [&'static str] {
    kind.facts().segment_columns
}

/// Index of the `links` column.
pub(super) const LINKS_COLUMN: usize = 7 + SERIES_METRICS.len();

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_shape() {
        let s = schema(MetricKind::Campaigns);
        assert_eq!(s.field(1).name(), "campaign_id");
        assert_eq!(s.field(LINKS_COLUMN).name(), "links");
        assert_eq!(s.fields().len(), 7 + 26 + 1 + 2 + 8);
        assert_eq!(
            schema(MetricKind::Newsletters).fields().len(),
            7 + 26 + 1 + 1 + 7
        );
    }
}

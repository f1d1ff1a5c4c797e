//! The file's text to the table's types: integers, times (unix seconds or RFC 3339), and the
//! `extra` map of the columns the schema does not know.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use datafusion::arrow::array::{
    Array, ArrayRef, MapBuilder, StringArray, StringBuilder, TimestampMicrosecondBuilder,
};
use datafusion::arrow::compute::{CastOptions, cast_with_options};
use datafusion::arrow::datatypes::DataType;
use datafusion::arrow::record_batch::RecordBatch;

use super::schema::ColType;
use crate::error::Result;

/// Text to the column's type; values that do not convert become NULL and are counted.
pub(super) fn typed(
    text: ArrayRef,
    ty: ColType,
    stats: &crate::client::RequestStats,
) -> Result<ArrayRef> {
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
pub(super) fn first_value(text: &ArrayRef) -> Option<String> {
    let s = text.as_any().downcast_ref::<StringArray>()?;
    (0..s.len())
        .find(|&i| s.is_valid(i))
        .map(|i| s.value(i).chars().take(40).collect())
}

/// Unix seconds, or RFC 3339.
pub(super) fn parse_time(s: &str) -> Option<i64> {
    let s = s.trim();
    if let Ok(secs) = s.parse::<i64>() {
        return secs.checked_mul(1_000_000);
    }
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc).timestamp_micros())
}

pub(super) fn extra_array(batch: &RecordBatch, extra: &[(usize, String)]) -> Result<ArrayRef> {
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

#[cfg(test)]
mod tests {
    use super::*;

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

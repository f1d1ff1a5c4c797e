//! JSON items to Arrow columns, by each column's [`Kind`]. A value of another JSON type than the
//! kind accepts is an error naming the operation, the item and the field: never a NULL.

use std::sync::Arc;

use datafusion::arrow::array::{
    ArrayRef, BooleanBuilder, Int64Builder, ListBuilder, MapBuilder, StringBuilder,
    TimestampSecondBuilder,
};
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::{RecordBatch, RecordBatchOptions};
use serde_json::Value;

use super::spec::{Column, Kind, Source};
use crate::error::{Error, Result};

/// What one page's rows are built from.
pub(super) struct Page<'a> {
    /// `GET /v1/... (operationId)`, for errors.
    pub endpoint: &'a str,
    /// The workspace label.
    pub workspace: &'a str,
    /// The parent id (per-parent tables).
    pub parent: Option<&'a str>,
    /// The items.
    pub items: &'a [Value],
    /// Per projected `PerItem` column (by projection position), one value per item.
    pub per_item: &'a [(usize, Vec<Value>)],
}

/// The type name of a JSON value, for errors.
pub(super) fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "an integer",
        Value::Number(_) => "a number with a fraction",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// A short rendering of a value for errors (strings cut at 60 characters).
fn shown(v: &Value) -> String {
    let text = v.to_string();
    if text.chars().count() > 60 {
        format!("{}...", text.chars().take(60).collect::<String>())
    } else {
        text
    }
}

/// The value of `column` in `item` (`None`: absent, which is NULL like `null`). A value on the
/// way that is neither an object nor `null` (`customer_identifiers` as a string) is an error
/// (its detail), never a NULL.
pub(crate) fn lookup<'v>(
    column: &Column,
    item: &'v Value,
) -> std::result::Result<Option<&'v Value>, String> {
    let Source::Field(paths) = column.source else {
        return Ok(None);
    };
    let own: &[&str] = &[column.name];
    let paths: &[&[&str]] = if paths.is_empty() { &[own] } else { paths };
    'paths: for path in paths {
        let mut v = item;
        for (depth, key) in path.iter().enumerate() {
            match v {
                Value::Object(fields) => match fields.get(*key) {
                    Some(next) => v = next,
                    None => continue 'paths,
                },
                Value::Null if depth > 0 => return Ok(None),
                other => {
                    return Err(format!(
                        "`{}` is {} ({}), expected an object holding `{key}`",
                        path[..depth].join("."),
                        json_type(other),
                        shown(other)
                    ));
                }
            }
        }
        return Ok(Some(v));
    }
    Ok(None)
}

/// A batch of the projected columns of `page`.
pub(super) fn batch(
    schema: &SchemaRef,
    columns: &[Column],
    projection: &[usize],
    page: &Page,
) -> Result<RecordBatch> {
    let n = page.items.len();
    let needs_object = projection
        .iter()
        .any(|&c| matches!(columns[c].source, Source::Field(_)));
    for (i, item) in page.items.iter().enumerate() {
        if needs_object && !item.is_object() {
            return Err(Error::Malformed {
                endpoint: page.endpoint.to_string(),
                detail: format!(
                    "item {i} is {} ({}), expected an object",
                    json_type(item),
                    shown(item)
                ),
            });
        }
    }
    let mut arrays: Vec<ArrayRef> = Vec::with_capacity(projection.len());
    for (position, &c) in projection.iter().enumerate() {
        let column = &columns[c];
        let array = match column.source {
            Source::Workspace => {
                let mut b = StringBuilder::with_capacity(n, n * page.workspace.len());
                (0..n).for_each(|_| b.append_value(page.workspace));
                Arc::new(b.finish()) as ArrayRef
            }
            Source::Parent => {
                let parent = page.parent.map(|p| match column.kind {
                    Kind::Int | Kind::IntId => p
                        .parse::<i64>()
                        .map(Value::from)
                        .unwrap_or_else(|_| Value::from(p)),
                    _ => Value::from(p),
                });
                let values: Vec<Option<&Value>> = (0..n).map(|_| parent.as_ref()).collect();
                build(column, &values, page.endpoint)?
            }
            Source::Item => {
                let values: Vec<Option<&Value>> = page.items.iter().map(Some).collect();
                build(column, &values, page.endpoint)?
            }
            Source::Field(_) => {
                let mut values: Vec<Option<&Value>> = Vec::with_capacity(n);
                for (i, item) in page.items.iter().enumerate() {
                    let v = lookup(column, item).map_err(|detail| Error::Malformed {
                        endpoint: page.endpoint.to_string(),
                        detail: format!("item {i}: {detail}"),
                    })?;
                    if column.required && v.is_none_or(Value::is_null) {
                        return Err(Error::Malformed {
                            endpoint: page.endpoint.to_string(),
                            detail: format!(
                                "item {i} has no `{}` ({} expected): its keys are {}",
                                column.name,
                                column.kind.expected(),
                                item.as_object()
                                    .map(|o| o.keys().cloned().collect::<Vec<_>>().join(", "))
                                    .unwrap_or_default()
                            ),
                        });
                    }
                    values.push(v);
                }
                build(column, &values, page.endpoint)?
            }
            Source::PerItem(..) => {
                let values = page
                    .per_item
                    .iter()
                    .find(|(p, _)| *p == position)
                    .map(|(_, v)| v.iter().map(Some).collect::<Vec<_>>())
                    .unwrap_or_else(|| vec![None; n]);
                build(column, &values, page.endpoint)?
            }
        };
        arrays.push(array);
    }
    let schema = Arc::new(schema.project(projection)?);
    let options = RecordBatchOptions::new().with_row_count(Some(n));
    Ok(RecordBatch::try_new_with_options(schema, arrays, &options)?)
}

/// One column's array from its values (`None` and `null` are NULL).
pub(crate) fn build(
    column: &Column,
    values: &[Option<&Value>],
    endpoint: &str,
) -> Result<ArrayRef> {
    let wrong = |row: usize, v: &Value| Error::Malformed {
        endpoint: endpoint.to_string(),
        detail: format!(
            "field `{}` of item {row} is {} ({}), expected {}",
            column.name,
            json_type(v),
            shown(v),
            column.kind.expected()
        ),
    };
    fn present<'v>(v: &Option<&'v Value>) -> Option<&'v Value> {
        v.filter(|v| !v.is_null())
    }
    Ok(match column.kind {
        Kind::Int | Kind::IntId | Kind::Time => {
            let mut ints = Vec::with_capacity(values.len());
            for (row, v) in values.iter().enumerate() {
                ints.push(match present(v) {
                    None => None,
                    Some(Value::Number(n)) if n.as_i64().is_some() => n.as_i64(),
                    Some(Value::String(s)) if column.kind == Kind::IntId => {
                        Some(s.parse::<i64>().map_err(|_| wrong(row, v.unwrap()))?)
                    }
                    Some(other) => return Err(wrong(row, other)),
                });
            }
            if column.kind == Kind::Time {
                let mut b = TimestampSecondBuilder::with_capacity(ints.len()).with_timezone("UTC");
                ints.into_iter().for_each(|v| b.append_option(v));
                Arc::new(b.finish())
            } else {
                let mut b = Int64Builder::with_capacity(ints.len());
                ints.into_iter().for_each(|v| b.append_option(v));
                Arc::new(b.finish())
            }
        }
        Kind::Text => {
            let mut b = StringBuilder::new();
            for (row, v) in values.iter().enumerate() {
                match present(v) {
                    None => b.append_null(),
                    Some(Value::String(s)) => b.append_value(s),
                    Some(Value::Number(n)) => b.append_value(n.to_string()),
                    Some(other) => return Err(wrong(row, other)),
                }
            }
            Arc::new(b.finish())
        }
        Kind::Json => {
            let mut b = StringBuilder::new();
            for v in values {
                match present(v) {
                    None => b.append_null(),
                    Some(v) => b.append_value(v.to_string()),
                }
            }
            Arc::new(b.finish())
        }
        Kind::Bool => {
            let mut b = BooleanBuilder::with_capacity(values.len());
            for (row, v) in values.iter().enumerate() {
                match present(v) {
                    None => b.append_null(),
                    Some(Value::Bool(x)) => b.append_value(*x),
                    Some(other) => return Err(wrong(row, other)),
                }
            }
            Arc::new(b.finish())
        }
        Kind::Texts => {
            let mut b = ListBuilder::new(StringBuilder::new());
            for (row, v) in values.iter().enumerate() {
                match present(v) {
                    None => b.append(false),
                    Some(Value::Array(items)) => {
                        for item in items {
                            match item {
                                Value::String(s) => b.values().append_value(s),
                                Value::Null => b.values().append_null(),
                                _ => return Err(wrong(row, v.unwrap())),
                            }
                        }
                        b.append(true);
                    }
                    Some(other) => return Err(wrong(row, other)),
                }
            }
            Arc::new(b.finish())
        }
        Kind::Ints => {
            let mut b = ListBuilder::new(Int64Builder::new());
            for (row, v) in values.iter().enumerate() {
                match present(v) {
                    None => b.append(false),
                    Some(Value::Array(items)) => {
                        for item in items {
                            match item.as_i64() {
                                Some(x) => b.values().append_value(x),
                                None if item.is_null() => b.values().append_null(),
                                None => return Err(wrong(row, v.unwrap())),
                            }
                        }
                        b.append(true);
                    }
                    Some(other) => return Err(wrong(row, other)),
                }
            }
            Arc::new(b.finish())
        }
        Kind::TimeMap => {
            let mut b = MapBuilder::new(
                None,
                StringBuilder::new(),
                TimestampSecondBuilder::new().with_timezone("UTC"),
            );
            for (row, v) in values.iter().enumerate() {
                match present(v) {
                    None => b.append(false)?,
                    Some(Value::Object(entries)) => {
                        for (key, ts) in entries {
                            match ts {
                                Value::Null => b.values().append_null(),
                                _ => match ts.as_i64() {
                                    Some(ts) => b.values().append_value(ts),
                                    None => return Err(wrong(row, v.unwrap())),
                                },
                            }
                            b.keys().append_value(key);
                        }
                        b.append(true)?;
                    }
                    Some(other) => return Err(wrong(row, other)),
                }
            }
            // MapBuilder's default names and nullability are the declared type's
            // (`entries` of non-null `keys` and nullable `values`).
            Arc::new(b.finish())
        }
    })
}

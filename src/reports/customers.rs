//! The `customers` report: people and their attributes.
//!
//! API calls: the search `POST /v1/customers?limit=1000` with the match-all filter
//! `cio_id exists` (cursor paging), then `POST /v1/customers/attributes?id_type=cio_id` for each
//! batch of 100 people, batches in flight concurrently within the key's rate limit. Pushdown:
//! `id = / IN` reads those people directly (`/v1/customers/attributes`, `id_type=id`, no search);
//! `email = / IN` becomes a search filter. Both are exact: rows are re-checked against the wanted
//! values before they are emitted.
//!
//! A column list in the DDL selects typed columns: built-in names keep their meaning, any other
//! name is read from the attributes and cast to the declared type; a value that does not cast is
//! NULL and counted in the `cast_failures` metric.

use std::collections::HashSet;
use std::sync::Arc;

use chrono::DateTime;
use datafusion::arrow::array::{
    Array, ArrayRef, BooleanBuilder, ListBuilder, MapBuilder, StringArray, StringBuilder,
    StructBuilder, TimestampMicrosecondBuilder,
};
use datafusion::arrow::compute::{CastOptions, can_cast_types, cast_with_options};
use datafusion::arrow::datatypes::{DataType, Field, Fields, Schema, SchemaRef, TimeUnit};
use datafusion::arrow::record_batch::{RecordBatch, RecordBatchOptions};
use futures::stream::{self, BoxStream, StreamExt, TryStreamExt};
use reqwest::Method;
use serde_json::{Value, json};

use super::{ReadRequest, ReportReader};
use crate::client::models::{Identifiers, PeopleResponse, Person, SearchPage};
use crate::client::pagination::{PageRequest, paginate, prefetch};
use crate::error::{Error, Result};

/// People per `POST /v1/customers/attributes` request (the API's maximum).
pub const ATTRIBUTE_BATCH: usize = 100;
/// People per search page (the API's maximum).
pub const SEARCH_PAGE: usize = 1000;

fn utc_micros() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
}

fn device_fields() -> Fields {
    Fields::from(vec![
        Field::new("id", DataType::Utf8, true),
        Field::new("platform", DataType::Utf8, true),
        Field::new("last_used", utc_micros(), true),
    ])
}

fn map_type(value: DataType) -> DataType {
    let entries = Fields::from(vec![
        Field::new("keys", DataType::Utf8, false),
        Field::new("values", value, true),
    ]);
    DataType::Map(
        Arc::new(Field::new("entries", DataType::Struct(entries), false)),
        false,
    )
}

/// The built-in columns, in order.
pub fn builtin_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("workspace", DataType::Utf8, false),
        Field::new("id", DataType::Utf8, true),
        Field::new("cio_id", DataType::Utf8, true),
        Field::new("email", DataType::Utf8, true),
        Field::new("attributes", map_type(DataType::Utf8), true),
        Field::new("attribute_timestamps", map_type(utc_micros()), true),
        Field::new("unsubscribed", DataType::Boolean, true),
        Field::new(
            "devices",
            DataType::List(Arc::new(Field::new(
                "item",
                DataType::Struct(device_fields()),
                true,
            ))),
            true,
        ),
    ]))
}

/// Where a column's values come from.
#[derive(Debug, Clone)]
enum Source {
    Workspace,
    Id,
    CioId,
    Email,
    Attributes,
    Timestamps,
    Unsubscribed,
    Devices,
    /// An attribute by name, cast to the column's type.
    Attribute(String),
}

fn builtin_source(name: &str) -> Option<Source> {
    Some(match name {
        "workspace" => Source::Workspace,
        "id" => Source::Id,
        "cio_id" => Source::CioId,
        "email" => Source::Email,
        "attributes" => Source::Attributes,
        "attribute_timestamps" => Source::Timestamps,
        "unsubscribed" => Source::Unsubscribed,
        "devices" => Source::Devices,
        _ => return None,
    })
}

/// Reads `customers`.
#[derive(Debug)]
pub struct CustomersReport {
    workspace: String,
    schema: SchemaRef,
    sources: Vec<Source>,
}

impl CustomersReport {
    /// The report of `workspace`, with the built-in columns or the `declared` ones.
    pub fn new(workspace: impl Into<String>, declared: Option<SchemaRef>) -> Result<Self> {
        let builtin = builtin_schema();
        let schema = declared.unwrap_or_else(|| builtin.clone());
        let mut sources = Vec::with_capacity(schema.fields().len());
        for field in schema.fields() {
            let source = match builtin_source(field.name()) {
                Some(s) => {
                    let from = builtin.field_with_name(field.name())?.data_type();
                    if from != field.data_type() && !can_cast_types(from, field.data_type()) {
                        return Err(Error::option(format!(
                            "column {} {}: the built-in column {} is {from} and cannot be cast to {}",
                            field.name(),
                            field.data_type(),
                            field.name(),
                            field.data_type()
                        )));
                    }
                    s
                }
                None => {
                    if !can_cast_types(&DataType::Utf8, field.data_type()) {
                        return Err(Error::option(format!(
                            "column {} {}: attributes are text and cannot be cast to {}; declare \
                             a text, number, boolean, date or timestamp type",
                            field.name(),
                            field.data_type(),
                            field.data_type()
                        )));
                    }
                    Source::Attribute(field.name().clone())
                }
            };
            sources.push(source);
        }
        Ok(CustomersReport {
            workspace: workspace.into(),
            schema,
            sources,
        })
    }
}

/// A batch of people to fetch by `id_type`.
struct Group {
    id_type: &'static str,
    ids: Vec<String>,
}

impl ReportReader for CustomersReport {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn pushdown_columns(&self) -> Vec<&'static str> {
        // Declared `VARCHAR` columns are `Utf8View` in DataFusion 55: any string type pushes down.
        let is_text = |name: &str| {
            self.schema.field_with_name(name).is_ok_and(|f| {
                matches!(
                    f.data_type(),
                    DataType::Utf8 | DataType::Utf8View | DataType::LargeUtf8
                )
            })
        };
        ["id", "email"].into_iter().filter(|c| is_text(c)).collect()
    }

    fn describe(&self) -> Vec<(&'static str, String)> {
        vec![]
    }

    fn read(&self, request: ReadRequest) -> BoxStream<'static, Result<RecordBatch>> {
        let client = request.client.clone();
        let stats = request.stats.clone();
        let concurrency = match request.limit {
            Some(l) => request.concurrency.min(l.div_ceil(ATTRIBUTE_BATCH)).max(1),
            None => request.concurrency,
        };
        // Rows are re-checked against pushed values, so an API that matched loosely (say, email
        // case) cannot break the `Exact` promise.
        let wanted: Option<(&'static str, HashSet<String>)> = request
            .pushed
            .as_ref()
            .map(|p| (p.column, p.string_values().into_iter().collect()));
        let groups: BoxStream<'static, Result<Group>> = match &request.pushed {
            Some(p) if p.column == "id" => {
                let ids = p.string_values();
                let groups: Vec<Result<Group>> = ids
                    .chunks(ATTRIBUTE_BATCH)
                    .map(|c| {
                        Ok(Group {
                            id_type: "id",
                            ids: c.to_vec(),
                        })
                    })
                    .collect();
                stream::iter(groups).boxed()
            }
            Some(p) => {
                let values = p.string_values();
                if values.is_empty() {
                    stream::empty().boxed()
                } else {
                    let leaves: Vec<Value> = values
                        .iter()
                        .map(|v| json!({"attribute": {"field": p.column, "operator": "eq", "value": v}}))
                        .collect();
                    search_groups(
                        client.clone(),
                        stats.clone(),
                        json!({"or": leaves}),
                        request.limit,
                    )
                }
            }
            None => {
                let all =
                    json!({"and": [{"attribute": {"field": "cio_id", "operator": "exists"}}]});
                search_groups(client.clone(), stats.clone(), all, request.limit)
            }
        };
        let shared = Arc::new((
            self.workspace.clone(),
            Arc::new(
                self.schema
                    .project(&request.projection)
                    .unwrap_or_else(|_| Schema::empty()),
            ),
            request
                .projection
                .iter()
                .map(|i| self.sources[*i].clone())
                .collect::<Vec<_>>(),
            request,
            wanted,
        ));
        groups
            .map(move |group| {
                let shared = shared.clone();
                async move {
                    let group = group?;
                    let (workspace, schema, sources, request, wanted) = &*shared;
                    let query = [("id_type", group.id_type.to_string())];
                    let body = json!({ "ids": group.ids });
                    let resp: PeopleResponse = request
                        .client
                        .post("/v1/customers/attributes", &query, &body, &request.stats)
                        .await?;
                    let mut people = resp.customers;
                    if let Some((column, values)) = wanted {
                        people.retain(|p| {
                            let v = if *column == "id" {
                                id_of(p)
                            } else {
                                email_of(p)
                            };
                            v.is_some_and(|v| values.contains(v))
                        });
                    }
                    build_batch(workspace, schema.clone(), sources, &people, request).map(Some)
                }
            })
            .buffer_unordered(concurrency)
            .try_filter_map(
                |b: Option<RecordBatch>| async move { Ok(b.filter(|b| b.num_rows() > 0)) },
            )
            .boxed()
    }
}

/// Search pages cut into groups of cio_ids for the attributes endpoint.
fn search_groups(
    client: crate::client::Client,
    stats: crate::client::RequestStats,
    filter: Value,
    limit: Option<usize>,
) -> BoxStream<'static, Result<Group>> {
    let page = limit.map_or(SEARCH_PAGE, |l| l.clamp(1, SEARCH_PAGE));
    let request = PageRequest {
        method: Method::POST,
        path: "/v1/customers".into(),
        query: vec![("limit", page.to_string())],
        body: Some(json!({ "filter": filter })),
    };
    let pages = paginate::<SearchPage>(client, request, stats);
    // Without a limit every page is needed: ask for the next while this one's people are fetched.
    let pages: BoxStream<'static, Result<Vec<Identifiers>>> = match limit {
        None => prefetch(pages, 1).boxed(),
        Some(_) => pages.boxed(),
    };
    pages
        .map_ok(|people: Vec<Identifiers>| {
            let ids: Vec<String> = people.into_iter().filter_map(|p| p.cio_id).collect();
            let groups: Vec<Result<Group>> = ids
                .chunks(ATTRIBUTE_BATCH)
                .map(|c| {
                    Ok(Group {
                        id_type: "cio_id",
                        ids: c.to_vec(),
                    })
                })
                .collect();
            stream::iter(groups)
        })
        .try_flatten()
        .boxed()
}

fn attr_str<'a>(p: &'a Person, name: &str) -> Option<&'a str> {
    p.attributes
        .get(name)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

fn id_of(p: &Person) -> Option<&str> {
    p.identifiers
        .id
        .as_deref()
        .filter(|s| !s.is_empty())
        .or_else(|| attr_str(p, "id"))
}

fn email_of(p: &Person) -> Option<&str> {
    p.identifiers
        .email
        .as_deref()
        .or_else(|| attr_str(p, "email"))
}

fn cio_id_of(p: &Person) -> Option<&str> {
    p.identifiers
        .cio_id
        .as_deref()
        .or_else(|| attr_str(p, "cio_id"))
}

/// An attribute value as text: strings as they are, other JSON as its text.
fn attr_text(v: &Value) -> Option<String> {
    match v {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

fn build_batch(
    workspace: &str,
    schema: SchemaRef,
    sources: &[Source],
    people: &[Person],
    request: &ReadRequest,
) -> Result<RecordBatch> {
    let n = people.len();
    let mut columns = Vec::with_capacity(sources.len());
    for (source, field) in sources.iter().zip(schema.fields()) {
        let raw: ArrayRef = match source {
            Source::Workspace => strings(people.iter().map(|_| Some(workspace))),
            Source::Id => strings(people.iter().map(id_of)),
            Source::CioId => strings(people.iter().map(cio_id_of)),
            Source::Email => strings(people.iter().map(email_of)),
            Source::Unsubscribed => {
                let mut b = BooleanBuilder::with_capacity(n);
                people.iter().for_each(|p| b.append_option(p.unsubscribed));
                Arc::new(b.finish())
            }
            Source::Attributes => {
                let mut b = MapBuilder::new(None, StringBuilder::new(), StringBuilder::new());
                for p in people {
                    for (k, v) in &p.attributes {
                        b.keys().append_value(k);
                        b.values().append_option(attr_text(v));
                    }
                    b.append(true)?;
                }
                Arc::new(b.finish())
            }
            Source::Timestamps => {
                let values = TimestampMicrosecondBuilder::new().with_timezone("UTC");
                let mut b = MapBuilder::new(None, StringBuilder::new(), values);
                for p in people {
                    for (k, v) in &p.timestamps {
                        b.keys().append_value(k);
                        b.values()
                            .append_option(v.map(|s| s.saturating_mul(1_000_000)));
                    }
                    b.append(true)?;
                }
                Arc::new(b.finish())
            }
            Source::Devices => devices_array(people),
            Source::Attribute(name) => {
                let wants_time = matches!(
                    field.data_type(),
                    DataType::Timestamp(..) | DataType::Date32 | DataType::Date64
                );
                let values = people.iter().map(|p| {
                    let v = p.attributes.get(name).and_then(attr_text)?;
                    // Customer.io keeps times as unix seconds in text.
                    match (wants_time, v.parse::<i64>()) {
                        (true, Ok(secs)) => {
                            DateTime::from_timestamp(secs, 0).map(|t| t.to_rfc3339())
                        }
                        _ => Some(v),
                    }
                });
                let owned: Vec<Option<String>> = values.collect();
                Arc::new(StringArray::from(owned)) as ArrayRef
            }
        };
        columns.push(cast_counting(raw, field.data_type(), request)?);
    }
    let options = RecordBatchOptions::new().with_row_count(Some(n));
    Ok(RecordBatch::try_new_with_options(
        schema, columns, &options,
    )?)
}

/// Casts `array` to `to` where it differs; values that do not cast become NULL and are counted.
fn cast_counting(array: ArrayRef, to: &DataType, request: &ReadRequest) -> Result<ArrayRef> {
    if array.data_type() == to {
        return Ok(array);
    }
    let safe = CastOptions {
        safe: true,
        ..CastOptions::default()
    };
    let cast = cast_with_options(&array, to, &safe)?;
    let failed = cast.null_count().saturating_sub(array.null_count());
    if failed > 0 {
        request.stats.cast_failures.add(failed);
    }
    Ok(cast)
}

fn strings<'a>(values: impl Iterator<Item = Option<&'a str>>) -> ArrayRef {
    let mut b = StringBuilder::new();
    values.for_each(|v| b.append_option(v));
    Arc::new(b.finish())
}

fn devices_array(people: &[Person]) -> ArrayRef {
    let fields = device_fields();
    let mut b = ListBuilder::new(StructBuilder::from_fields(fields.clone(), 0))
        .with_field(Arc::new(Field::new("item", DataType::Struct(fields), true)));
    for p in people {
        let s = b.values();
        for d in &p.devices {
            if let Some(f) = s.field_builder::<StringBuilder>(0) {
                f.append_option(d.id.as_deref());
            }
            if let Some(f) = s.field_builder::<StringBuilder>(1) {
                f.append_option(d.platform.as_deref());
            }
            if let Some(f) = s.field_builder::<TimestampMicrosecondBuilder>(2) {
                f.append_option(d.last_used.map(|t| t.saturating_mul(1_000_000)));
            }
            s.append(true);
        }
        b.append(true);
    }
    Arc::new(b.finish())
}

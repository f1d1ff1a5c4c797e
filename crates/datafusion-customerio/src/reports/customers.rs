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
    Array, ArrayRef, BooleanBuilder, ListBuilder, MapBuilder, StringBuilder, StructBuilder,
    TimestampMicrosecondBuilder,
};
use datafusion::arrow::compute::{CastOptions, can_cast_types, cast_with_options};
use datafusion::arrow::datatypes::{DataType, Field, Fields, Schema, SchemaRef, TimeUnit};
use datafusion::arrow::record_batch::{RecordBatch, RecordBatchOptions};
use futures::stream::{self, BoxStream, StreamExt, TryStreamExt};
use reqwest::Method;
use serde_json::{Value, json};

use super::{ReadRequest, ReportReader};
use crate::client::BodyError;
use crate::client::models::{
    Identifiers, PeopleResponse, PeopleResponseRef, PersonRef, SearchPage,
};
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
                        return Err(Error::option(
                            "columns",
                            format!(
                                "column {} {}: the built-in column {} is {from} and cannot be cast to {}",
                                field.name(),
                                field.data_type(),
                                field.name(),
                                field.data_type()
                            ),
                        ));
                    }
                    s
                }
                None => {
                    if !can_cast_types(&DataType::Utf8, field.data_type()) {
                        return Err(Error::option(
                            "columns",
                            format!(
                                "column {} {}: attributes are text and cannot be cast to {}; declare \
                             a text, number, boolean, date or timestamp type",
                                field.name(),
                                field.data_type(),
                                field.data_type()
                            ),
                        ));
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
                    // The batch is built from the body itself, borrowing its strings.
                    let batch = request
                        .client
                        .post_with(
                            "/v1/customers/attributes",
                            &query,
                            &body,
                            &request.stats,
                            |bytes| {
                                with_people(bytes, |mut people| {
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
                                    build_batch(
                                        workspace,
                                        schema.clone(),
                                        sources,
                                        &people,
                                        request,
                                    )
                                })
                            },
                        )
                        .await??;
                    Ok(Some(batch))
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
            // Every person has its `cio_id` (a page without one fails to decode, naming it).
            let ids: Vec<String> = people.into_iter().map(|p| p.cio_id).collect();
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

/// The people of an attributes answer, borrowed from its body, handed to `f`.
///
/// A body the borrowing decoder refuses is decoded again as [`PeopleResponse`], the reference
/// model: its error names the JSON path, and should it accept what the borrowing decoder did
/// not, its people are used.
fn with_people<T>(
    bytes: &[u8],
    f: impl FnOnce(Vec<PersonRef<'_>>) -> T,
) -> std::result::Result<T, BodyError> {
    if let Some(page) = crate::client::decode_fast::<PeopleResponseRef>(bytes) {
        return Ok(f(page.customers));
    }
    let page: PeopleResponse = crate::client::decode_body(bytes)?;
    Ok(f(page.customers.into_iter().map(PersonRef::from).collect()))
}

fn attr_str<'a>(p: &'a PersonRef<'_>, name: &str) -> Option<&'a str> {
    p.attribute(name)
        .and_then(|v| v.as_str())
        .filter(|s| !s.is_empty())
}

fn id_of<'a>(p: &'a PersonRef<'_>) -> Option<&'a str> {
    p.identifiers
        .id
        .as_deref()
        .filter(|s| !s.is_empty())
        .or_else(|| attr_str(p, "id"))
}

fn email_of<'a>(p: &'a PersonRef<'_>) -> Option<&'a str> {
    p.identifiers
        .email
        .as_deref()
        .or_else(|| attr_str(p, "email"))
}

fn cio_id_of<'a>(p: &'a PersonRef<'_>) -> Option<&'a str> {
    Some(p.identifiers.cio_id.as_ref())
}

fn build_batch(
    workspace: &str,
    schema: SchemaRef,
    sources: &[Source],
    people: &[PersonRef<'_>],
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
                // Builders made to size: growing them cost more than counting first.
                let all = || people.iter().flat_map(|p| &p.attributes);
                let (entries, keys, values) = all().fold((0, 0, 0), |(n, k, v), (key, value)| {
                    (n + 1, k + key.len(), v + value.text().map_or(0, str::len))
                });
                let mut b = MapBuilder::with_capacity(
                    None,
                    StringBuilder::with_capacity(entries, keys),
                    StringBuilder::with_capacity(entries, values),
                    n,
                );
                for p in people {
                    for (k, v) in &p.attributes {
                        b.keys().append_value(k);
                        b.values().append_option(v.text());
                    }
                    b.append(true)?;
                }
                Arc::new(b.finish())
            }
            Source::Timestamps => {
                let entries = people.iter().map(|p| p.timestamps.len()).sum();
                let keys = people
                    .iter()
                    .flat_map(|p| &p.timestamps)
                    .map(|(k, _)| k.len())
                    .sum();
                let values =
                    TimestampMicrosecondBuilder::with_capacity(entries).with_timezone("UTC");
                let mut b = MapBuilder::with_capacity(
                    None,
                    StringBuilder::with_capacity(entries, keys),
                    values,
                    n,
                );
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
                let mut b = StringBuilder::with_capacity(n, 0);
                for p in people {
                    let v = p.attribute(name).and_then(|v| v.text());
                    // Customer.io keeps times as unix seconds in text.
                    match (wants_time, v.map(str::parse::<i64>)) {
                        (true, Some(Ok(secs))) => b.append_option(
                            DateTime::from_timestamp(secs, 0).map(|t| t.to_rfc3339()),
                        ),
                        _ => b.append_option(v),
                    }
                }
                Arc::new(b.finish()) as ArrayRef
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

fn strings<'a>(values: impl Iterator<Item = Option<&'a str>> + Clone) -> ArrayRef {
    let bytes = values.clone().map(|v| v.map_or(0, str::len)).sum();
    let mut b = StringBuilder::with_capacity(values.size_hint().0, bytes);
    values.for_each(|v| b.append_option(v));
    Arc::new(b.finish())
}

fn devices_array(people: &[PersonRef<'_>]) -> ArrayRef {
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

/// Answers already at hand (saved bodies, a bench's pages), decoded as a scan decodes them: for
/// the benchmarks, behind the `test-support` feature. Not part of the API.
#[cfg(any(test, feature = "test-support"))]
#[doc(hidden)]
pub mod local {
    use super::*;

    /// The rows of the body of a `POST /v1/customers/attributes` answer, in `report`'s columns.
    pub fn people_batch(report: &CustomersReport, body: &[u8]) -> Result<RecordBatch> {
        let projection: Vec<usize> = (0..report.schema.fields().len()).collect();
        let request = ReadRequest::detached(projection);
        with_people(body, |people| {
            build_batch(
                &report.workspace,
                report.schema.clone(),
                &report.sources,
                &people,
                &request,
            )
        })
        .map_err(|e| Error::Malformed {
            endpoint: "POST /v1/customers/attributes".into(),
            detail: e.to_string(),
        })?
    }
}

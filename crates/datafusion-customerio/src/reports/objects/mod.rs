//! The object tables: App API listings (messages, activities, broadcasts, ...) as tables, one row
//! per object. Each table is a declaration ([`tables`]: endpoint, envelope key, paging, columns,
//! pushdowns), read by the one reader here, [`ObjectReport`], which keeps what every report
//! keeps: the client's rate limit and retries, pages streamed as they arrive, a cursor seen twice
//! is an error, exact pushdown of one column (a query parameter, a per-parent listing or another
//! endpoint), the window column as query parameters (re-checked above the scan), and an early
//! stop at the query's limit.
//!
//! Shapes are read as the vendor documents them and as it is known to send them (API-NOTES §5:
//! `null` for an empty list, an empty `messages` page that still carries a cursor, activities
//! ending on an empty page). Anything else fails, naming the operation, the item and the field.

pub mod convert;
pub mod spec;
pub mod tables;

use std::collections::HashSet;
use std::sync::Arc;

use datafusion::arrow::datatypes::{Field, Schema, SchemaRef};
use datafusion::arrow::record_batch::RecordBatch;
use futures::stream::{self, BoxStream};
use futures::{StreamExt, TryStreamExt};
use serde_json::Value;

use self::convert::{Page, json_type};
use self::spec::{Column, Endpoint, Kind, Paging, Parents, Rows, Source, TableSpec};
use super::{ReadRequest, ReportReader};
use crate::client::{Client, RequestStats};
use crate::error::{Error, Result};
use crate::options::{ObjectSettings, ObjectTable};

pub use self::tables::spec as table_spec;

/// The schema of an object table.
pub fn schema(table: ObjectTable) -> SchemaRef {
    let spec = tables::spec(table);
    Arc::new(Schema::new(
        spec.columns
            .iter()
            .map(|c| Field::new(c.name, c.kind.data_type(), c.name != "workspace"))
            .collect::<Vec<_>>(),
    ))
}

/// Reads one object table.
#[derive(Debug)]
pub struct ObjectReport {
    spec: &'static TableSpec,
    workspace: String,
    settings: ObjectSettings,
    schema: SchemaRef,
}

impl ObjectReport {
    /// The table of `settings`, labelled `workspace`.
    pub fn new(workspace: impl Into<String>, settings: ObjectSettings) -> Self {
        ObjectReport {
            spec: tables::spec(settings.table),
            workspace: workspace.into(),
            schema: schema(settings.table),
            settings,
        }
    }
}

/// One listing to read: an endpoint, the id in its path, its query.
#[derive(Debug, Clone)]
struct Call {
    endpoint: Endpoint,
    /// The id in the path (`{}`), which is also the parent column's value of per-parent rows.
    id: Option<String>,
    query: Vec<(&'static str, String)>,
    /// Whether the id is the parent column's value.
    is_parent: bool,
    /// Whether a 404 on the first page means the id names nothing, so no rows (ids the query
    /// gave, parents from a listing that may have gone since); otherwise a 404 fails the read.
    missing_is_empty: bool,
    /// A routed call's column and value: items whose column holds another value are not rows
    /// of the query (the filter is marked exact, so nothing above re-checks it).
    check: Option<(Column, String)>,
}

impl Call {
    fn path(&self) -> String {
        match &self.id {
            Some(id) if self.endpoint.body.is_none() => {
                self.endpoint.path.replace("{}", &encode_segment(id))
            }
            _ => self.endpoint.path.to_string(),
        }
    }

    fn method(&self) -> reqwest::Method {
        match self.endpoint.body {
            Some(_) => reqwest::Method::POST,
            None => reqwest::Method::GET,
        }
    }

    /// The JSON body of a list-style POST, the id in place of `{}`.
    fn body(&self) -> Result<Option<Value>> {
        let Some(template) = self.endpoint.body else {
            return Ok(None);
        };
        let id = self.id.as_deref().unwrap_or_default();
        // The id as JSON string content (quotes trimmed).
        let escaped = Value::from(id).to_string();
        let text = template.replace("{}", &escaped[1..escaped.len() - 1]);
        serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| Error::Malformed {
                endpoint: self.name(),
                detail: format!("the request body template is not JSON: {e}"),
            })
    }

    fn name(&self) -> String {
        let path = match self.endpoint.body {
            // The id is in the body, not the path.
            Some(_) => self.endpoint.path.to_string(),
            None => self.path(),
        };
        format!("{} {} ({})", self.method(), path, self.endpoint.operation)
    }
}

/// `s` as one path segment: unreserved characters kept, everything else percent-encoded.
fn encode_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Where a pushed column goes.
enum Target {
    /// One call per value to another endpoint.
    Route(Endpoint),
    /// One per-parent call per value.
    Parent(Endpoint),
    /// One call per value with the value as this query parameter.
    Param(&'static str),
}

impl ObjectReport {
    /// The endpoint rows come from when nothing is routed.
    fn items(&self) -> &Endpoint {
        self.spec.items()
    }

    /// Where a filter on `column` is answered, if it can be.
    fn target(&self, column: &str) -> Option<Target> {
        if let Rows::PerParent {
            column: c, each, ..
        } = &self.spec.rows
            && *c == column
        {
            return Some(Target::Parent(*each));
        }
        // A route that cannot take `deleted` is not used when it is set: the listing's own
        // parameter for the column is.
        if let Some(route) = self.spec.routes.iter().find(|r| r.column == column)
            && !(self.settings.deleted
                && !route.endpoint.takes_deleted
                && self.param(column).is_some())
        {
            return Some(Target::Route(route.endpoint));
        }
        self.param(column).map(Target::Param)
    }

    fn param(&self, column: &str) -> Option<&'static str> {
        self.items()
            .params
            .iter()
            .find(|(c, _)| *c == column)
            .map(|(_, p)| *p)
    }

    /// The query every call to `endpoint` carries: the window and `deleted`.
    fn base_query(
        &self,
        endpoint: &Endpoint,
        request: &ReadRequest,
    ) -> Vec<(&'static str, String)> {
        let mut query = Vec::new();
        if let Some((from, to)) = endpoint.window {
            let (lo, hi) = request.window.unwrap_or((None, None));
            // Always a lower bound (0: all time): the listings' default window is not
            // documented, and a default like the exports' "last 6 months" would cut a read
            // short silently (docs/API-NOTES.md §7).
            query.push((from, lo.map_or(0, |t| t.timestamp().max(0)).to_string()));
            // Always an upper bound (now, without one): the listing is newest first, and
            // deliveries created while the pages are read would shift its pages.
            let hi = hi.unwrap_or_else(|| request.clock.now());
            query.push((to, hi.timestamp().to_string()));
        }
        if self.settings.deleted && endpoint.takes_deleted {
            query.push(("deleted", "true".to_string()));
        }
        query
    }

    /// The values of the pushed column as the API's text, for the column's kind (values of
    /// another type match no row and are dropped).
    fn pushed_values(&self, request: &ReadRequest) -> Option<(&'static str, Vec<String>)> {
        let pushed = request.pushed.as_ref()?;
        let column = self.spec.column(pushed.column)?;
        let values = match column.kind {
            Kind::Int | Kind::IntId => pushed
                .i64_values()
                .into_iter()
                .map(|v| v.to_string())
                .collect(),
            _ => pushed.string_values(),
        };
        Some((pushed.column, values))
    }

    /// The calls a read makes, or the parent listing to read first.
    fn plan(&self, request: &ReadRequest) -> Result<Plan> {
        let pushed = self.pushed_values(request);
        if let Some(required) = self.spec.required
            && pushed.as_ref().map(|(c, _)| *c) != Some(required)
        {
            return Err(Error::option(
                required,
                format!(
                    "{} needs a filter on {required}: WHERE {required} = '...' (or IN (...)), \
                     because {} reads one {required} at a time and the API has no listing of them",
                    self.settings.table.as_str(),
                    self.items().operation
                ),
            ));
        }
        if let Some((column, values)) = pushed
            && let Some(target) = self.target(column)
        {
            // Fixed parents (the suppression types): another value names no list, so no rows.
            let values: Vec<String> = match &self.spec.rows {
                Rows::PerParent {
                    parents: Parents::Values(known),
                    ..
                } if matches!(target, Target::Parent(_)) => values
                    .into_iter()
                    .filter(|v| known.contains(&v.as_str()))
                    .collect(),
                _ => values,
            };
            let fixed = matches!(
                self.spec.rows,
                Rows::PerParent {
                    parents: Parents::Values(_),
                    ..
                }
            );
            let calls = values
                .into_iter()
                .map(|v| match &target {
                    Target::Route(e) => Call {
                        query: self.base_query(e, request),
                        endpoint: *e,
                        check: self.spec.column(column).map(|c| (*c, v.clone())),
                        id: Some(v),
                        is_parent: false,
                        missing_is_empty: true,
                    },
                    Target::Parent(e) => Call {
                        query: self.base_query(e, request),
                        endpoint: *e,
                        id: Some(v),
                        is_parent: true,
                        missing_is_empty: !fixed,
                        check: None,
                    },
                    Target::Param(p) => {
                        let e = *self.items();
                        let mut query = self.base_query(&e, request);
                        query.push((p, v.clone()));
                        Call {
                            endpoint: e,
                            id: None,
                            query,
                            is_parent: false,
                            missing_is_empty: false,
                            check: self.spec.column(column).map(|c| (*c, v)),
                        }
                    }
                })
                .collect();
            return Ok(Plan::Calls(calls));
        }
        Ok(match &self.spec.rows {
            Rows::List(e) => Plan::Calls(vec![Call {
                query: self.base_query(e, request),
                endpoint: *e,
                id: None,
                is_parent: false,
                missing_is_empty: false,
                check: None,
            }]),
            Rows::PerParent { parents, each, .. } => match parents {
                Parents::Values(values) => Plan::Calls(
                    values
                        .iter()
                        .map(|v| Call {
                            query: self.base_query(each, request),
                            endpoint: *each,
                            id: Some(v.to_string()),
                            is_parent: true,
                            missing_is_empty: false,
                            check: None,
                        })
                        .collect(),
                ),
                Parents::Listing(listing) => Plan::AfterListing(Box::new((*listing, *each))),
                // `required` above refused the read.
                Parents::Given => Plan::Calls(vec![]),
            },
        })
    }
}

enum Plan {
    Calls(Vec<Call>),
    /// Read the parents' listing, then one call per parent id.
    AfterListing(Box<(Endpoint, Endpoint)>),
}

/// What a page read needs, shared by every call of a read.
#[derive(Clone)]
struct Reader {
    client: Client,
    stats: RequestStats,
    spec: &'static TableSpec,
    schema: SchemaRef,
    workspace: Arc<str>,
    projection: Arc<[usize]>,
    /// Requests in flight for the per-item columns of a page.
    concurrency: usize,
}

/// The answer's items at `envelope` (`null` is none) and its `next` cursor.
fn split_page(call: &Call, body: Value) -> Result<(Vec<Value>, Option<String>)> {
    let malformed = |detail: String| Error::Malformed {
        endpoint: call.name(),
        detail,
    };
    let Value::Object(mut object) = body else {
        return Err(malformed(format!(
            "the answer is {}, expected an object with `{}`",
            json_type(&body),
            call.endpoint.envelope
        )));
    };
    let items = match object.remove(call.endpoint.envelope) {
        Some(Value::Array(items)) => items,
        Some(Value::Null) if call.endpoint.null_is_empty() => Vec::new(),
        Some(other) => {
            return Err(malformed(format!(
                "`{}` is {}, expected an array",
                call.endpoint.envelope,
                json_type(&other)
            )));
        }
        None => {
            let keys: Vec<&str> = object.keys().map(String::as_str).collect();
            return Err(malformed(format!(
                "the answer has no `{}` (its keys: {})",
                call.endpoint.envelope,
                keys.join(", ")
            )));
        }
    };
    let next = match object.get("next") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.is_empty() => None,
        Some(Value::String(s)) => Some(s.clone()),
        // The 2022 membership schema types `next` as an integer.
        Some(Value::Number(n)) => Some(n.to_string()),
        Some(other) => {
            return Err(malformed(format!(
                "`next` is {}, expected a string cursor",
                json_type(other)
            )));
        }
    };
    let next = match (call.endpoint.paging, next) {
        (Paging::Cursor { .. }, next) => next,
        (_, None) => None,
        // A listing documented as one answer that pages after all: reading on from here would
        // be guessing, stopping would lose rows.
        (_, Some(n)) => {
            return Err(malformed(format!(
                "the answer carries `next` ('{n}') but this listing is documented without paging"
            )));
        }
    };
    Ok((items, next))
}

/// Whether an error is the API's 404 for the id in a call's path: that item does not exist, so
/// it has no rows (a filter on an unknown person or campaign matches nothing).
fn is_not_found(e: &Error) -> bool {
    matches!(e, Error::Api { status: 404, .. })
}

/// Every item of `endpoint` (`{}` in its path is `id`), every page of it, read with the object
/// reader's paging and shape rules; with `missing_is_empty`, a 404 for the id is no items.
pub(crate) async fn listing(
    client: &Client,
    stats: &RequestStats,
    endpoint: Endpoint,
    id: Option<String>,
    missing_is_empty: bool,
) -> Result<Vec<Value>> {
    let call = Call {
        endpoint,
        id,
        query: Vec::new(),
        is_parent: false,
        missing_is_empty,
        check: None,
    };
    let pages: Vec<Vec<Value>> = pages(client.clone(), stats.clone(), call)
        .try_collect()
        .await?;
    Ok(pages.into_iter().flatten().collect())
}

/// The items of a routed or filtered answer held to the value `column` was asked for: an item
/// holding another value is left out (the endpoint did not filter: the filter is applied here),
/// an item without the field (absent or `null`) is given the value (the endpoint answered for
/// it), and a field of another shape fails naming the operation and the field.
fn held_to(call: &Call, column: &Column, value: &str, items: Vec<Value>) -> Result<Vec<Value>> {
    let bad = |detail: String| Error::Malformed {
        endpoint: call.name(),
        detail,
    };
    let mut kept = Vec::with_capacity(items.len());
    for mut item in items {
        let same = match convert::lookup(column, &item).map_err(|e| bad(e.to_string()))? {
            Some(Value::String(s)) => s == value,
            Some(Value::Number(n)) => n.to_string() == value,
            None | Some(Value::Null) => {
                let filled = match column.kind {
                    Kind::Int | Kind::IntId => value.parse::<i64>().map(Value::from).ok(),
                    _ => Some(Value::String(value.to_string())),
                };
                let slot = match column.source {
                    Source::Field([path, ..]) => path.iter().try_fold(&mut item, |v, key| {
                        v.as_object_mut()
                            .map(|o| o.entry(*key).or_insert(Value::Null))
                    }),
                    _ => item
                        .as_object_mut()
                        .map(|o| o.entry(column.name).or_insert(Value::Null)),
                };
                match (slot, filled) {
                    (Some(slot), Some(v)) => {
                        *slot = v;
                        true
                    }
                    _ => {
                        return Err(bad(format!(
                            "an item has no `{}`, and '{value}' cannot stand in it",
                            column.name
                        )));
                    }
                }
            }
            Some(other) => {
                return Err(bad(format!(
                    "`{}` is {other}, expected the {} asked for ('{value}')",
                    column.name,
                    if matches!(column.kind, Kind::Int | Kind::IntId) {
                        "integer"
                    } else {
                        "string"
                    }
                )));
            }
        };
        if same {
            kept.push(item);
        }
    }
    Ok(kept)
}

/// The items of every page of `call`, page by page.
fn pages(
    client: Client,
    stats: RequestStats,
    call: Call,
) -> BoxStream<'static, Result<Vec<Value>>> {
    Reader::pages_of(client, stats, call)
}

impl Reader {
    fn pages(&self, call: Call) -> BoxStream<'static, Result<Vec<Value>>> {
        pages(self.client.clone(), self.stats.clone(), call)
    }

    /// The items of every page of `call`, page by page.
    fn pages_of(
        client: Client,
        stats: RequestStats,
        call: Call,
    ) -> BoxStream<'static, Result<Vec<Value>>> {
        struct State {
            cursor: Option<String>,
            seen: HashSet<String>,
            offset: u64,
            done: bool,
        }
        let reader = Arc::new((client.listing(), stats));
        let call = Arc::new(call);
        stream::try_unfold(
            State {
                cursor: None,
                seen: HashSet::new(),
                offset: 0,
                done: false,
            },
            move |mut s| {
                let reader = reader.clone();
                let call = call.clone();
                async move {
                    if s.done {
                        return Ok(None);
                    }
                    let mut query = call.query.clone();
                    match call.endpoint.paging {
                        Paging::Cursor {
                            limit: Some(limit), ..
                        } => query.push(("limit", limit.to_string())),
                        Paging::Offset { limit } => {
                            query.push(("limit", limit.to_string()));
                            query.push(("offset", s.offset.to_string()));
                        }
                        _ => {}
                    }
                    if let Some(c) = &s.cursor {
                        query.push(("start", c.clone()));
                    }
                    let request_body = call.body()?;
                    let answer = reader
                        .0
                        .send::<Value>(
                            call.method(),
                            &call.path(),
                            &query,
                            request_body.as_ref(),
                            &reader.1,
                        )
                        .await;
                    let first_page = s.cursor.is_none() && s.offset == 0;
                    let body: Value = match answer {
                        Ok(body) => body,
                        Err(e)
                            if first_page
                                && call.missing_is_empty
                                && call.endpoint.body.is_none()
                                && is_not_found(&e) =>
                        {
                            return Ok(Some((Vec::new(), State { done: true, ..s })));
                        }
                        Err(e) => return Err(e),
                    };
                    let (mut items, next) = split_page(&call, body)?;
                    if let Some((column, value)) = &call.check {
                        items = held_to(&call, column, value, items)?;
                    }
                    if let Paging::Offset { .. } = call.endpoint.paging {
                        // Until an empty page: a server capping `limit` lower than asked would
                        // make a short page look like the last.
                        s.offset += items.len() as u64;
                        s.done = items.is_empty();
                        if s.done {
                            reader.0.end_listing();
                        }
                        return Ok(Some((items, s)));
                    }
                    let ends_on_empty = matches!(
                        call.endpoint.paging,
                        Paging::Cursor {
                            empty_page_ends: true,
                            ..
                        }
                    );
                    match next {
                        Some(n) if !(items.is_empty() && ends_on_empty) => {
                            if !s.seen.insert(n.clone()) {
                                return Err(Error::RepeatedCursor {
                                    endpoint: call.name(),
                                    cursor: n,
                                });
                            }
                            s.cursor = Some(n);
                        }
                        _ => {
                            s.done = true;
                            reader.0.end_listing();
                        }
                    }
                    Ok(Some((items, s)))
                }
            },
        )
        .boxed()
    }

    /// The rows of `call`, one batch per page.
    fn batches(&self, call: Call) -> BoxStream<'static, Result<RecordBatch>> {
        let reader = self.clone();
        let parent = call.is_parent.then(|| call.id.clone()).flatten();
        let name = call.name();
        self.pages(call)
            .and_then(move |items| {
                let reader = reader.clone();
                let parent = parent.clone();
                let name = name.clone();
                async move {
                    let per_item = reader.per_item(&items, parent.as_deref()).await?;
                    convert::batch(
                        &reader.schema,
                        reader.spec.columns,
                        &reader.projection,
                        &Page {
                            endpoint: &name,
                            workspace: &reader.workspace,
                            parent: parent.as_deref(),
                            items: &items,
                            per_item: &per_item,
                        },
                    )
                }
            })
            .boxed()
    }

    /// The values of projected per-item columns (`collections.content`): one request per item.
    async fn per_item(
        &self,
        items: &[Value],
        parent: Option<&str>,
    ) -> Result<Vec<(usize, Vec<Value>)>> {
        let mut out = Vec::new();
        for (position, &c) in self.projection.iter().enumerate() {
            let Source::PerItem(per) = self.spec.columns[c].source else {
                continue;
            };
            let mut paths = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                let id = match item.get(per.id_key) {
                    Some(Value::Number(n)) => n.to_string(),
                    Some(Value::String(s)) if !s.is_empty() => s.clone(),
                    other => {
                        return Err(Error::Malformed {
                            endpoint: format!("{} ({})", self.items_name(), per.operation),
                            detail: format!(
                                "item {i} has `{}` {}, expected an integer or a string",
                                per.id_key,
                                other.map_or("missing", json_type)
                            ),
                        });
                    }
                };
                paths.push(
                    per.path
                        .replace("{id}", &encode_segment(&id))
                        .replace("{parent}", &encode_segment(parent.unwrap_or_default())),
                );
            }
            // The items' requests in flight together, their values in the items' order.
            let values: Vec<Value> = stream::iter(paths)
                .map(|path| async move {
                    let mut body: Value = self.client.get(&path, &[], &self.stats).await?;
                    let mut value = &mut body;
                    for key in per.pointer {
                        value = value.get_mut(*key).ok_or_else(|| Error::Malformed {
                            endpoint: format!("GET {path} ({})", per.operation),
                            detail: format!("the answer has no `{}`", per.pointer.join(".")),
                        })?;
                    }
                    Ok::<_, Error>(value.take())
                })
                .buffered(self.concurrency)
                .try_collect()
                .await?;
            out.push((position, values));
        }
        Ok(out)
    }

    fn items_name(&self) -> &'static str {
        self.spec.items().operation
    }

    /// The ids of every item of `endpoint`.
    async fn parent_ids(&self, endpoint: Endpoint) -> Result<Vec<String>> {
        let name = format!("GET {} ({})", endpoint.path, endpoint.operation);
        let items = listing(&self.client, &self.stats, endpoint, None, false).await?;
        items
            .iter()
            .enumerate()
            .map(|(i, item)| match item.get("id") {
                Some(Value::Number(n)) => Ok(n.to_string()),
                Some(Value::String(s)) if !s.is_empty() => Ok(s.clone()),
                other => Err(Error::Malformed {
                    endpoint: name.clone(),
                    detail: format!(
                        "item {i} has `id` {}, expected an integer or a string",
                        other.map_or("missing", json_type)
                    ),
                }),
            })
            .collect()
    }
}

impl ReportReader for ObjectReport {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn pushdown_columns(&self) -> Vec<&'static str> {
        let mut columns: Vec<&'static str> = Vec::new();
        if let Rows::PerParent { column, .. } = &self.spec.rows {
            columns.push(column);
        }
        columns.extend(self.spec.routes.iter().map(|r| r.column));
        columns.extend(self.items().params.iter().map(|(c, _)| *c));
        let mut seen = HashSet::new();
        columns.retain(|c| seen.insert(*c));
        columns
    }

    fn window_column(&self) -> Option<&'static str> {
        self.spec.window_column
    }

    fn describe(&self) -> Vec<(&'static str, String)> {
        let mut out = vec![("api", self.items().operation.to_string())];
        if self.settings.deleted {
            out.push(("deleted", "true".to_string()));
        }
        out
    }

    fn describe_scan(&self, pushed: Option<&super::Pushed>) -> Vec<(&'static str, String)> {
        let mut out = self.describe();
        let operation = match pushed.and_then(|p| self.target(p.column)) {
            Some(Target::Route(e)) | Some(Target::Parent(e)) => e.operation,
            _ => self.items().operation,
        };
        out[0] = ("api", operation.to_string());
        out
    }

    fn read(&self, request: ReadRequest) -> BoxStream<'static, Result<RecordBatch>> {
        let plan = match self.plan(&request) {
            Ok(plan) => plan,
            Err(e) => return stream::once(async move { Err(e) }).boxed(),
        };
        let reader = Reader {
            client: request.client.clone(),
            stats: request.stats.clone(),
            spec: self.spec,
            schema: self.schema.clone(),
            workspace: self.workspace.as_str().into(),
            projection: request.projection.clone().into(),
            concurrency: request.concurrency.max(1),
        };
        let concurrency = request.concurrency.max(1);
        let calls: BoxStream<'static, Result<Call>> = match plan {
            Plan::Calls(calls) => stream::iter(calls.into_iter().map(Ok)).boxed(),
            Plan::AfterListing(endpoints) => {
                let (listing, each) = *endpoints;
                let reader = reader.clone();
                let query = self.base_query(&each, &request);
                stream::once(async move { reader.parent_ids(listing).await })
                    .map_ok(move |ids| {
                        let query = query.clone();
                        stream::iter(ids.into_iter().map(move |id| {
                            // A parent gone since the listing has no rows.
                            Ok(Call {
                                endpoint: each,
                                id: Some(id),
                                query: query.clone(),
                                is_parent: true,
                                missing_is_empty: true,
                                check: None,
                            })
                        }))
                    })
                    .try_flatten()
                    .boxed()
            }
        };
        let batches = calls
            .map(move |call| match call {
                Ok(call) => reader.batches(call),
                Err(e) => stream::once(async move { Err(e) }).boxed(),
            })
            .flatten_unordered(concurrency);
        match request.limit {
            None => batches.boxed(),
            Some(limit) => batches
                .scan(limit, |left, batch| {
                    if *left == 0 {
                        return futures::future::ready(None);
                    }
                    if let Ok(b) = &batch {
                        *left = left.saturating_sub(b.num_rows());
                    }
                    futures::future::ready(Some(batch))
                })
                .boxed(),
        }
    }
}

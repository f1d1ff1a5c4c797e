//! What an object table is made of: a declaration read by the one generic reader
//! ([`super::ObjectReport`]). A table names its listing endpoint, the key its items come under,
//! how it pages, where its rows come from (one listing, or one listing per parent item), its
//! columns and which filters the API answers.

use datafusion::arrow::datatypes::{DataType, Field, Fields, TimeUnit};
use std::sync::Arc;

use crate::options::ObjectTable;

/// One API call shape: an operation, its path (with `{}` for a parent's or a pushed value's id),
/// where its items are and how it pages.
#[derive(Debug, Clone, Copy)]
pub struct Endpoint {
    /// The vendor `operationId` (errors and EXPLAIN name it).
    pub operation: &'static str,
    /// The path; `{}` is replaced by the (percent-encoded) id.
    pub path: &'static str,
    /// The key of the item array in the answer. `null` there is an empty page (the API sends it
    /// for empty lists: API-NOTES §5); a missing key is an error.
    pub envelope: &'static str,
    /// How the endpoint pages.
    pub paging: Paging,
    /// The query parameters bounding the table's window column, when the endpoint takes them
    /// (`start_ts`, `end_ts`: unix seconds, both inclusive).
    pub window: Option<(&'static str, &'static str)>,
    /// Query parameters the endpoint takes for pushed columns: `(column, parameter)`.
    pub params: &'static [(&'static str, &'static str)],
    /// A list-style POST: the JSON body, `{}` standing for the (JSON-escaped) id. `None`: a GET.
    pub body: Option<&'static str>,
    /// Whether the endpoint takes `deleted=true` (the `deleted` table option).
    pub takes_deleted: bool,
}

/// The listings that answer `null` in place of an empty item array (API-NOTES §5: deliveries,
/// activities, segment membership, ESP suppressions); elsewhere `null` is an error.
const NULL_FOR_EMPTY: &[&str] = &[
    "listMessages",
    "getPersonMessages",
    "getCampaignMessages",
    "getNewsletterMsgMeta",
    "broadcastMessages",
    "listActivities",
    "getPersonActivities",
    "getSegmentMembership",
    "getSuppressionByType",
];

impl Endpoint {
    /// Whether `null` in place of the item array means no items.
    pub fn null_is_empty(&self) -> bool {
        NULL_FOR_EMPTY.contains(&self.operation)
    }
}

/// How an endpoint pages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Paging {
    /// One answer holds every item.
    None,
    /// `next` goes back as `start` until it is `""`, `null` or missing. `limit` is the page size
    /// sent (the endpoint's maximum), if the endpoint takes one.
    Cursor {
        /// `limit` sent with every page.
        limit: Option<u32>,
        /// Whether an empty page ends the read even when it carries a `next` (activities: API-NOTES
        /// §5); otherwise an empty page with a `next` is read on (messages).
        empty_page_ends: bool,
    },
    /// `limit` and `offset` (from 0), until an empty page (a short page is not trusted to be
    /// the last: the server may cap `limit` lower).
    Offset {
        /// `limit` sent with every page.
        limit: u32,
    },
}

/// Where the rows of a table come from.
#[derive(Debug, Clone, Copy)]
pub enum Rows {
    /// One listing.
    List(Endpoint),
    /// One listing per parent: the parents are the items of another table's listing (their
    /// `id`), or fixed values; `column` holds the parent's id in each row. A filter on `column`
    /// reads only those parents.
    PerParent {
        /// The parents.
        parents: Parents,
        /// The column holding the parent id.
        column: &'static str,
        /// The per-parent listing; `{}` in its path is the parent id.
        each: Endpoint,
    },
}

/// The parents of a per-parent table.
#[derive(Debug, Clone, Copy)]
pub enum Parents {
    /// The `id` of every item another listing returns.
    Listing(Endpoint),
    /// Fixed values (the suppression types).
    Values(&'static [&'static str]),
    /// Only values the query gives (`WHERE column = v`): the API has no listing of them.
    Given,
}

/// A filter the API answers by reading another endpoint instead (`customer_id = 'x'` reads
/// `getPersonMessages`): one listing per value.
#[derive(Debug, Clone, Copy)]
pub struct Route {
    /// The filtered column.
    pub column: &'static str,
    /// The endpoint; `{}` in its path is the value.
    pub endpoint: Endpoint,
}

/// A value a row's column is read from.
#[derive(Debug, Clone, Copy)]
pub enum Source {
    /// The workspace label.
    Workspace,
    /// The parent id of a per-parent table (or the routed value).
    Parent,
    /// The item itself (an array of strings, like `ip_addresses`).
    Item,
    /// A field of the item: a path of keys, tried in order of the alternatives (the first present
    /// wins; renamed fields).
    Field(&'static [&'static [&'static str]]),
    /// The answer of another endpoint, per item, asked only when the column is projected
    /// (`collections.content`, `objects.attributes`).
    PerItem(&'static PerItem),
}

/// A request made per item for a column.
#[derive(Debug, Clone, Copy)]
pub struct PerItem {
    /// The vendor `operationId`.
    pub operation: &'static str,
    /// The path: `{id}` is the item's `id_key` value, `{parent}` the parent id.
    pub path: &'static str,
    /// The item's key holding the id.
    pub id_key: &'static str,
    /// Where the column's value is in the answer (empty: the whole answer).
    pub pointer: &'static [&'static str],
}

/// A column's type, and what JSON it accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `Int64` from a JSON integer.
    Int,
    /// `Int64` from a JSON integer or a string of digits (ids the API sends either way, like
    /// campaign action ids).
    IntId,
    /// `Utf8` from a string (or a number, written in decimal: identifiers the API sends either way).
    Text,
    /// `Boolean`.
    Bool,
    /// `Timestamp(Second, UTC)` from unix seconds.
    Time,
    /// `List<Utf8>` from an array of strings.
    Texts,
    /// `List<Int64>` from an array of integers.
    Ints,
    /// `Utf8` holding the JSON text of any value (free-form objects).
    Json,
    /// `Map<Utf8, Timestamp(Second, UTC)>` from an object of unix seconds (message metrics).
    TimeMap,
}

impl Kind {
    /// The Arrow type.
    pub fn data_type(self) -> DataType {
        let ts = DataType::Timestamp(TimeUnit::Second, Some("UTC".into()));
        match self {
            Kind::Int | Kind::IntId => DataType::Int64,
            Kind::Text | Kind::Json => DataType::Utf8,
            Kind::Bool => DataType::Boolean,
            Kind::Time => ts,
            Kind::Texts => DataType::List(Arc::new(Field::new("item", DataType::Utf8, true))),
            Kind::Ints => DataType::List(Arc::new(Field::new("item", DataType::Int64, true))),
            Kind::TimeMap => DataType::Map(
                Arc::new(Field::new(
                    "entries",
                    DataType::Struct(Fields::from(vec![
                        Field::new("keys", DataType::Utf8, false),
                        Field::new("values", ts, true),
                    ])),
                    false,
                )),
                false,
            ),
        }
    }

    /// What the kind accepts, for error messages.
    pub fn expected(self) -> &'static str {
        match self {
            Kind::Int => "an integer",
            Kind::IntId => "an integer or a string of digits",
            Kind::Text => "a string",
            Kind::Bool => "true or false",
            Kind::Time => "unix seconds (an integer)",
            Kind::Texts => "an array of strings",
            Kind::Ints => "an array of integers",
            Kind::Json => "any JSON value",
            Kind::TimeMap => "an object of unix seconds",
        }
    }
}

/// One column.
#[derive(Debug, Clone, Copy)]
pub struct Column {
    /// Its name.
    pub name: &'static str,
    /// Its type.
    pub kind: Kind,
    /// Where its values come from.
    pub source: Source,
    /// An item without this field (or with `null`) is an error, not a NULL: the item's key
    /// fields (`id`, `created`), whose absence means the answer is not what the table reads.
    pub required: bool,
}

/// A column read from the item's field of the same name.
pub const fn col(name: &'static str, kind: Kind) -> Column {
    Column {
        name,
        kind,
        source: Source::Field(&[]),
        required: false,
    }
}

/// A required column read from the item's field of the same name (see [`Column::required`]).
pub const fn key(name: &'static str, kind: Kind) -> Column {
    Column {
        required: true,
        ..col(name, kind)
    }
}

/// A column read from the item at `path` (or the alternatives after it).
pub const fn at(
    name: &'static str,
    kind: Kind,
    paths: &'static [&'static [&'static str]],
) -> Column {
    Column {
        name,
        kind,
        source: Source::Field(paths),
        required: false,
    }
}

/// A column with another source.
pub const fn from(name: &'static str, kind: Kind, source: Source) -> Column {
    Column {
        name,
        kind,
        source,
        required: false,
    }
}

/// A whole object table.
#[derive(Debug, Clone, Copy)]
pub struct TableSpec {
    /// Which table.
    pub table: ObjectTable,
    /// Where its rows come from.
    pub rows: Rows,
    /// Filters answered by another endpoint, most selective first.
    pub routes: &'static [Route],
    /// Its columns, `workspace` first.
    pub columns: &'static [Column],
    /// The time column whose range becomes the endpoint's window parameters.
    pub window_column: Option<&'static str>,
    /// A column the query must pin (`customer_segments` needs `customer_id = '...'`).
    pub required: Option<&'static str>,
}

impl TableSpec {
    /// The endpoint whose items become rows (the per-parent one for per-parent tables).
    pub fn items(&self) -> &Endpoint {
        match &self.rows {
            Rows::List(e) => e,
            Rows::PerParent { each, .. } => each,
        }
    }

    /// The column with `name`.
    pub fn column(&self, name: &str) -> Option<&Column> {
        self.columns.iter().find(|c| c.name == name)
    }
}

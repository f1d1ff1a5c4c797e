//! The columns of the export reports, and what each kind of export is: its report name, its
//! type in the API, its known, identity and aliased columns.

use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Field, Fields, TimeUnit};

use super::ExportKind;

/// How a file column becomes a table column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ColType {
    Text,
    Int,
    /// Unix seconds (or RFC 3339) as a UTC timestamp.
    Time,
}

impl ColType {
    pub(super) fn data_type(self) -> DataType {
        match self {
            ColType::Text => DataType::Utf8,
            ColType::Int => DataType::Int64,
            ColType::Time => DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
        }
    }
}

/// What an export kind is, in one place.
#[derive(Debug)]
pub(super) struct KindFacts {
    /// The table's report name.
    pub report: &'static str,
    /// Its type in the API: `POST /v1/exports/{api}`.
    pub api: &'static str,
    /// Columns before the file's, filled from what the export was for.
    pub prefix: &'static [(&'static str, ColType)],
    /// The file columns the connector types.
    pub known: &'static [(&'static str, ColType)],
    /// The columns that identify a row: a file needs one of them.
    pub identity: &'static [&'static str],
    /// Other spellings of known columns: (theirs, ours).
    pub aliases: &'static [(&'static str, &'static str)],
    /// The time column whose range filters narrow the export window.
    pub window_column: Option<&'static str>,
}

impl ExportKind {
    /// The facts of this kind of export.
    pub(super) fn facts(self) -> &'static KindFacts {
        match self {
            ExportKind::Customers => &CUSTOMERS,
            ExportKind::Deliveries => &DELIVERIES,
        }
    }
}

const CUSTOMERS: KindFacts = KindFacts {
    report: "customers_export",
    api: "customers",
    prefix: &CUSTOMER_PREFIX,
    known: &CUSTOMER_COLUMNS,
    identity: &CUSTOMER_IDENTITY,
    aliases: &[],
    window_column: None,
};

const DELIVERIES: KindFacts = KindFacts {
    report: "deliveries_export",
    api: "deliveries",
    prefix: &DELIVERY_PREFIX,
    known: &DELIVERY_COLUMNS,
    identity: &DELIVERY_IDENTITY,
    aliases: &DELIVERY_ALIASES,
    window_column: Some("created"),
};

/// Columns before the file's: filled from what the export was for.
const CUSTOMER_PREFIX: [(&str, ColType); 3] = [
    ("workspace", ColType::Text),
    ("segment_id", ColType::Int),
    ("segment_name", ColType::Text),
];
const DELIVERY_PREFIX: [(&str, ColType); 2] =
    [("workspace", ColType::Text), ("export_id", ColType::Int)];

/// Identifier columns of a people export.
const CUSTOMER_COLUMNS: [(&str, ColType); 3] = [
    ("id", ColType::Text),
    ("email", ColType::Text),
    ("cio_id", ColType::Text),
];

/// The delivery columns we know how to type. The real file layout is not documented; these
/// mirror the `/v1/messages` delivery object.
const DELIVERY_COLUMNS: [(&str, ColType); 24] = [
    ("delivery_id", ColType::Text),
    ("campaign_id", ColType::Int),
    ("newsletter_id", ColType::Int),
    ("action_id", ColType::Int),
    ("transactional_message_id", ColType::Int),
    ("template_id", ColType::Int),
    ("customer_id", ColType::Text),
    ("cio_id", ColType::Text),
    ("recipient", ColType::Text),
    ("type", ColType::Text),
    ("subject", ColType::Text),
    ("created", ColType::Time),
    ("attempted", ColType::Time),
    ("sent", ColType::Time),
    ("delivered", ColType::Time),
    ("opened", ColType::Time),
    ("clicked", ColType::Time),
    ("converted", ColType::Time),
    ("bounced", ColType::Time),
    ("spammed", ColType::Time),
    ("unsubscribed", ColType::Time),
    ("dropped", ColType::Time),
    ("failed", ColType::Time),
    ("undeliverable", ColType::Time),
];

/// The columns that identify a row of each export: a file needs one of them, or it would read
/// as rows that name nobody. People: `cio_id` is every person's, `id` the workspace's own (the
/// columns of the simulator's files, API-NOTES §2.5); deliveries: the delivery id (or an alias).
const CUSTOMER_IDENTITY: [&str; 2] = ["cio_id", "id"];
const DELIVERY_IDENTITY: [&str; 1] = ["delivery_id"];

/// Other spellings of delivery columns, mapped to ours.
const DELIVERY_ALIASES: [(&str, &str); 3] = [
    ("id", "delivery_id"),
    ("message_id", "delivery_id"),
    ("msg_template_id", "template_id"),
];

/// The column of `extra`: file columns the schema does not know.
pub const EXTRA_COLUMN: &str = "extra";

pub(super) fn extra_type() -> DataType {
    let entries = Fields::from(vec![
        Field::new("keys", DataType::Utf8, false),
        Field::new("values", DataType::Utf8, true),
    ]);
    DataType::Map(
        Arc::new(Field::new("entries", DataType::Struct(entries), false)),
        false,
    )
}

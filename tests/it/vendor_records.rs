//! Vendor records through the connector (issue 12, item 6): the items recorded from a real
//! Customer.io workspace (`spec/customerio-api/fixtures/`) are served as the list answers by
//! scripted simulator answers and read with SQL; every column the tables fill from an item
//! equals the record's field. The expected values are read from the record file, never from the
//! connector.

use customerio_sim::Region;
use datafusion::arrow::record_batch::RecordBatch;
use serde_json::{Map, Value, json};

use crate::common::*;

const FIXTURES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/spec/customerio-api/fixtures/airbyte_source-customer-io_expected_records.jsonl"
);

/// The `data` of the recorded item of `stream`.
fn record(stream: &str) -> Map<String, Value> {
    let text = std::fs::read_to_string(FIXTURES).expect("fixtures are readable");
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str::<Value>(l).expect("a fixture line is JSON"))
        .find(|r| r["stream"] == stream)
        .and_then(|r| r["data"].as_object().cloned())
        .unwrap_or_else(|| panic!("no {stream} record in the fixtures"))
}

/// The rows as JSON objects (NULLs left out, lists as arrays), as arrow writes them.
fn json_rows(batches: &[RecordBatch]) -> Vec<Value> {
    let mut out = Vec::new();
    let mut w = datafusion::arrow::json::ArrayWriter::new(&mut out);
    for b in batches {
        w.write(b).unwrap();
    }
    w.finish().unwrap();
    drop(w);
    serde_json::from_slice::<Value>(&out)
        .ok()
        .and_then(|v| v.as_array().cloned())
        .unwrap_or_default()
}

/// The row each table makes of `record`: `(record field, column)` for every column filled from
/// the item. A field the record lacks is expected as the column's empty value (a list column:
/// `[]`; the API leaves empty lists out).
fn expected_row(record: &Map<String, Value>, columns: &[(&str, &str)]) -> Value {
    let mut row = Map::new();
    for (field, column) in columns {
        let v = match record.get(*field) {
            Some(v) => v.clone(),
            None if column.ends_with("_ids") => json!([]),
            None => Value::Null,
        };
        if !v.is_null() {
            row.insert(column.to_string(), v);
        }
    }
    Value::Object(row)
}

/// The fields of `record` that no column shows: what the report says has no column.
fn uncovered(record: &Map<String, Value>, columns: &[(&str, &str)]) -> Vec<String> {
    let mut fields: Vec<String> = record
        .keys()
        .filter(|k| !columns.iter().any(|(f, _)| f == k))
        .cloned()
        .collect();
    fields.sort();
    fields
}

/// The Eastern days 24, 25 and 26 November 2026 (EST: 05:00 UTC), written by hand.
const EASTERN_DAYS_24_TO_26: [&str; 3] = [
    "2026-11-24T05:00:00Z",
    "2026-11-25T05:00:00Z",
    "2026-11-26T05:00:00Z",
];

/// Three rows (one per bucket), each, without `period_start` and `sent`, equal to `want`.
fn assert_item_rows(batches: &[RecordBatch], want: &Value) {
    let rows = json_rows(batches);
    assert_eq!(rows.len(), 3, "{}", pretty(batches));
    for row in &rows {
        let mut item = row.as_object().unwrap().clone();
        item.remove("period_start");
        item.remove("sent");
        assert_eq!(&Value::Object(item), want, "{}", pretty(batches));
    }
}

/// The recorded campaign, as the only item of `GET /v1/campaigns`, read through `campaigns`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_recorded_campaign_reads_through_the_campaigns_table() {
    let campaign = record("campaigns");
    let env = Env::start(fast_config(vec![workspace(
        "vendor_campaign",
        "sim_us",
        Region::Us,
    )]))
    .await;
    env.sql(
        "CREATE EXTERNAL TABLE c STORED AS CUSTOMERIO LOCATION 'campaigns' \
         OPTIONS (key 'sim_us', period 'days', steps '2', rate_limit '500')",
    )
    .await
    .unwrap();
    script(
        &env,
        "listCampaigns",
        &json!({ "campaigns": [Value::Object(campaign.clone())] }),
    );
    // The version-2 answer of the window the connector asks for at 2026-11-26 15:30 UTC: the
    // Eastern days 24, 25 and 26 November (EST, 05:00 UTC).
    script(
        &env,
        "campaignMetrics",
        &json!({
            "start": "2026-11-24 00:00:00 -0500 EST",
            "end": "2026-11-27 00:00:00 -0500 EST",
            "res": "days",
            "metric": {"series": {"sent": [5, 6, 7]}}
        }),
    );
    let columns = [
        ("id", "campaign_id"),
        ("name", "campaign_name"),
        ("type", "campaign_type"),
        ("trigger_segment_ids", "trigger_segment_ids"),
        ("filter_segment_ids", "filter_segment_ids"),
    ];
    let batches = env
        .sql(
            "SELECT campaign_id, campaign_name, campaign_type, trigger_segment_ids, \
             filter_segment_ids, period_start, sent FROM c ORDER BY period_start",
        )
        .await
        .unwrap();
    let want = expected_row(&campaign, &columns);
    assert_item_rows(&batches, &want);
    assert_eq!(
        i64_column(&batches, 5),
        EASTERN_DAYS_24_TO_26.map(|s| Some(
            chrono::DateTime::parse_from_rfc3339(s)
                .unwrap()
                .timestamp_micros()
        ))
    );
    assert_eq!(i64_column(&batches, 6), [Some(5), Some(6), Some(7)]);
    // The same item as `GET /v1/campaigns/{id}` answers it (one id pushed down).
    script(
        &env,
        "getCampaigns",
        &json!({ "campaign": Value::Object(campaign.clone()) }),
    );
    script(
        &env,
        "campaignMetrics",
        &json!({"start": "2026-11-24 00:00:00 -0500 EST", "metric": {"series": {"sent": [5, 6, 7]}}}),
    );
    let before = env.requests("getCampaigns");
    let by_id = env
        .sql(&format!(
            "SELECT campaign_id, campaign_name, campaign_type, trigger_segment_ids, \
             filter_segment_ids FROM c WHERE campaign_id = {}",
            campaign["id"]
        ))
        .await
        .unwrap();
    assert_eq!(env.requests("getCampaigns"), before + 1);
    assert_eq!(json_rows(&by_id), vec![want; 3], "{}", pretty(&by_id));
    // The record's fields without a column (reported in the note).
    assert_eq!(
        uncovered(&campaign, &columns),
        [
            "actions",
            "active",
            "created",
            "deduplicate_id",
            "event_name",
            "first_started",
            "state",
            "tags",
            "updated"
        ]
    );
}

/// The recorded newsletter, as the only item of `GET /v1/newsletters` (last page), read through
/// `newsletters`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_recorded_newsletter_reads_through_the_newsletters_table() {
    let newsletter = record("newsletters");
    let env = Env::start(fast_config(vec![workspace(
        "vendor_newsletter",
        "sim_us",
        Region::Us,
    )]))
    .await;
    env.sql(
        "CREATE EXTERNAL TABLE n STORED AS CUSTOMERIO LOCATION 'newsletters' \
         OPTIONS (key 'sim_us', period 'days', steps '2', rate_limit '500')",
    )
    .await
    .unwrap();
    script(
        &env,
        "listNewsletters",
        &json!({ "newsletters": [Value::Object(newsletter.clone())], "next": "" }),
    );
    script(
        &env,
        "getNewsletterMetrics",
        &json!({"metric": {"series": {"sent": [1, 2, 3]}}}),
    );
    let columns = [
        ("id", "newsletter_id"),
        ("name", "newsletter_name"),
        ("type", "newsletter_type"),
        ("recipient_segment_ids", "recipient_segment_ids"),
    ];
    let batches = env
        .sql(
            "SELECT newsletter_id, newsletter_name, newsletter_type, recipient_segment_ids, \
             period_start, sent FROM n ORDER BY period_start",
        )
        .await
        .unwrap();
    let want = expected_row(&newsletter, &columns);
    assert_item_rows(&batches, &want);
    // Version 1 ends with the server's day (the simulator's clock: 26 November, EST).
    assert_eq!(
        i64_column(&batches, 4),
        EASTERN_DAYS_24_TO_26.map(|s| Some(
            chrono::DateTime::parse_from_rfc3339(s)
                .unwrap()
                .timestamp_micros()
        ))
    );
    assert_eq!(i64_column(&batches, 5), [Some(1), Some(2), Some(3)]);
    // The same item as `GET /v1/newsletters/{id}` answers it (the id pushed down).
    script(
        &env,
        "getNewsletters",
        &json!({ "newsletter": Value::Object(newsletter.clone()) }),
    );
    script(
        &env,
        "getNewsletterMetrics",
        &json!({"metric": {"series": {"sent": [1, 2, 3]}}}),
    );
    let before = env.requests("getNewsletters");
    let by_id = env
        .sql(&format!(
            "SELECT newsletter_id, newsletter_name, newsletter_type, recipient_segment_ids \
             FROM n WHERE newsletter_id = {}",
            newsletter["id"]
        ))
        .await
        .unwrap();
    assert_eq!(env.requests("getNewsletters"), before + 1);
    assert_eq!(json_rows(&by_id), vec![want; 3], "{}", pretty(&by_id));
    assert_eq!(
        uncovered(&newsletter, &columns),
        [
            "content_ids",
            "created",
            "deduplicate_id",
            "sent_at",
            "tags",
            "updated"
        ]
    );
}

/// The recorded campaign action, as the only action of the only campaign, read through
/// `campaign_actions` (issue 15: the table that the record had no columns to compare with before).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_recorded_campaign_action_reads_through_campaign_actions() {
    let action = record("campaigns_actions");
    assert_eq!(action["id"], "25", "the recorded action id is a string");
    let env = Env::start(fast_config(vec![workspace(
        "vendor_actions",
        "sim_us",
        Region::Us,
    )]))
    .await;
    env.sql(
        "CREATE EXTERNAL TABLE a STORED AS CUSTOMERIO LOCATION 'campaign_actions' \
         OPTIONS (key 'sim_us', rate_limit '500')",
    )
    .await
    .unwrap();
    let campaign = action["campaign_id"].clone();
    script(
        &env,
        "listCampaigns",
        &json!({ "campaigns": [{ "id": campaign }] }),
    );
    script(
        &env,
        "listCampaignActions",
        &json!({ "actions": [Value::Object(action.clone())], "next": "" }),
    );
    let batches = env
        .sql(
            "SELECT id, campaign_id, name, type, language, body, recipient, deduplicate_id, \
             CAST(to_unixtime(created) AS BIGINT) AS created, \
             CAST(to_unixtime(updated) AS BIGINT) AS updated FROM a",
        )
        .await
        .unwrap();
    // The record's fields by hand: the id string as the integer it spells.
    let mut want = action.clone();
    want.insert("id".into(), json!(25));
    for field in ["layout", "editor", "recipient_environment_id"] {
        want.remove(field);
    }
    assert_eq!(
        json_rows(&batches),
        vec![Value::Object(want)],
        "{}",
        pretty(&batches)
    );
    // The record's fields without a column (reported in the note).
    let columns: Vec<(&str, &str)> = [
        "id",
        "campaign_id",
        "name",
        "type",
        "language",
        "body",
        "recipient",
        "deduplicate_id",
        "created",
        "updated",
    ]
    .iter()
    .map(|c| (*c, *c))
    .collect();
    assert_eq!(
        uncovered(&action, &columns),
        ["editor", "layout", "recipient_environment_id"]
    );
}

/// The recorded campaign's and newsletter's other fields, as the attribute columns (issue 15:
/// the fields the list call returns become columns at no extra request).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_recorded_items_other_fields_read_as_attribute_columns() {
    let campaign = record("campaigns");
    let newsletter = record("newsletters");
    let env = Env::start(fast_config(vec![workspace(
        "vendor_attributes",
        "sim_us",
        Region::Us,
    )]))
    .await;
    for ddl in [
        "CREATE EXTERNAL TABLE c STORED AS CUSTOMERIO LOCATION 'campaigns' \
         OPTIONS (key 'sim_us', period 'days', steps '1', rate_limit '500')",
        "CREATE EXTERNAL TABLE n STORED AS CUSTOMERIO LOCATION 'newsletters' \
         OPTIONS (key 'sim_us', period 'days', steps '1', rate_limit '500')",
    ] {
        env.sql(ddl).await.unwrap();
    }
    script(
        &env,
        "listCampaigns",
        &json!({ "campaigns": [Value::Object(campaign.clone())] }),
    );
    script(
        &env,
        "campaignMetrics",
        &json!({"start": "2026-11-26 00:00:00 -0500 EST", "metric": {"series": {"sent": [4, 5]}}}),
    );
    let before = env.total_requests();
    let batches = env
        .sql(
            "SELECT campaign_id AS id, campaign_name AS name, campaign_type AS type, \
             campaign_state AS state, campaign_active AS active, campaign_tags AS tags, \
             campaign_event_name AS event_name, campaign_deduplicate_id AS deduplicate_id, \
             CAST(to_unixtime(campaign_created) AS BIGINT) AS created, \
             CAST(to_unixtime(campaign_updated) AS BIGINT) AS updated, \
             CAST(to_unixtime(campaign_first_started) AS BIGINT) AS first_started FROM c",
        )
        .await
        .unwrap();
    // The list call and one metrics call: the attributes cost nothing more.
    assert_eq!(env.total_requests() - before, 2);
    let fields = [
        "id",
        "name",
        "type",
        "state",
        "active",
        "tags",
        "event_name",
        "deduplicate_id",
        "created",
        "updated",
        "first_started",
    ];
    let columns: Vec<(&str, &str)> = fields.iter().map(|f| (*f, *f)).collect();
    assert_eq!(
        json_rows(&batches),
        vec![expected_row(&campaign, &columns); 2],
        "{}",
        pretty(&batches)
    );
    // Only the action list has no column.
    assert_eq!(uncovered(&campaign, &columns), ["actions"]);

    script(
        &env,
        "listNewsletters",
        &json!({ "newsletters": [Value::Object(newsletter.clone())], "next": "" }),
    );
    script(
        &env,
        "getNewsletterMetrics",
        &json!({"metric": {"series": {"sent": [0, 1]}}}),
    );
    let batches = env
        .sql(
            "SELECT newsletter_id AS id, newsletter_name AS name, newsletter_type AS type, \
             newsletter_tags AS tags, newsletter_content_ids AS content_ids, \
             newsletter_deduplicate_id AS deduplicate_id, \
             CAST(to_unixtime(newsletter_created) AS BIGINT) AS created, \
             CAST(to_unixtime(newsletter_updated) AS BIGINT) AS updated, \
             CAST(to_unixtime(newsletter_sent_at) AS BIGINT) AS sent_at FROM n",
        )
        .await
        .unwrap();
    let fields = [
        "id",
        "name",
        "type",
        "tags",
        "content_ids",
        "deduplicate_id",
        "created",
        "updated",
        "sent_at",
    ];
    let columns: Vec<(&str, &str)> = fields.iter().map(|f| (*f, *f)).collect();
    assert_eq!(
        json_rows(&batches),
        vec![expected_row(&newsletter, &columns); 2],
        "{}",
        pretty(&batches)
    );
    assert!(uncovered(&newsletter, &columns).is_empty());
}

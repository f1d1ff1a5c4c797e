//! Schema drift (issue 5): the API adds fields and series metrics, export files gain and lose
//! columns, and values turn up `null` or with another JSON type. Each case ends as documented in
//! `RELIABILITY.md`: kept, ignored, NULL, or a clear error naming the endpoint and the JSON path
//! (one request, not retried), never a panic.

use std::time::Duration;

use customerio_sim::{ExportConfig, Region, SimConfig};
use datafusion::arrow::array::{Array, AsArray, MapArray, StringArray};
use datafusion::arrow::record_batch::RecordBatch;
use serde_json::{Value, json};

use crate::common::*;

/// Adds fields the spec does not have to `v` (an object) and to every object below it.
fn add_new_fields(v: &mut Value) {
    match v {
        Value::Object(map) => {
            for child in map.values_mut() {
                add_new_fields(child);
            }
            map.insert("new_field".into(), json!({"nested": [1, "two", null]}));
            map.insert("new_flag".into(), json!(true));
        }
        Value::Array(items) => items.iter_mut().for_each(add_new_fields),
        _ => {}
    }
}

const NEWSLETTERS: &str = "CREATE EXTERNAL TABLE n STORED AS CUSTOMERIO LOCATION 'newsletters' \
     OPTIONS (key 'sim_us', period 'weeks', steps '3', rate_limit '500')";

const ONE_NEWSLETTER: &str = "SELECT newsletter_id, newsletter_name, newsletter_type, \
     period_start, sent, opened, links FROM n WHERE newsletter_id = 1 ORDER BY period_start";

/// Every string of column `c`, NULL as None.
fn str_column(batches: &[RecordBatch], c: usize) -> Vec<Option<String>> {
    let mut out = Vec::new();
    for b in batches {
        let col = datafusion::arrow::compute::cast(
            b.column(c),
            &datafusion::arrow::datatypes::DataType::Utf8,
        )
        .unwrap();
        let a = col.as_any().downcast_ref::<StringArray>().unwrap();
        out.extend((0..a.len()).map(|i| (!a.is_null(i)).then(|| a.value(i).to_string())));
    }
    out
}

/// Every entry of map column `c`, one sorted list of (key, value) per row.
fn map_column(batches: &[RecordBatch], c: usize) -> Vec<Vec<(String, Option<String>)>> {
    let mut out = Vec::new();
    for b in batches {
        let m: &MapArray = b.column(c).as_map();
        for row in 0..m.len() {
            let entries = m.value(row);
            let keys = entries.column(0).as_string::<i32>();
            let values = entries.column(1).as_string::<i32>();
            let mut pairs: Vec<(String, Option<String>)> = (0..keys.len())
                .map(|i| {
                    (
                        keys.value(i).to_string(),
                        (!values.is_null(i)).then(|| values.value(i).to_string()),
                    )
                })
                .collect();
            pairs.sort();
            out.push(pairs);
        }
    }
    out
}

/// New fields at every level of every JSON answer the tables read are ignored: the rows equal
/// the clean run's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_fields_at_every_level_are_ignored() {
    let ws = workspace("drift_new", "sim_us", Region::Us);
    let env = Env::start(fast_config(vec![ws.clone()])).await;
    env.sql(NEWSLETTERS).await.unwrap();
    env.sql(
        "CREATE EXTERNAL TABLE c STORED AS CUSTOMERIO LOCATION 'campaigns' \
         OPTIONS (key 'sim_us', period 'weeks', steps '3', rate_limit '500')",
    )
    .await
    .unwrap();
    env.sql(
        "CREATE EXTERNAL TABLE s STORED AS CUSTOMERIO LOCATION 'segments' \
         OPTIONS (key 'sim_us', rate_limit '500')",
    )
    .await
    .unwrap();
    let campaigns = "SELECT campaign_id, campaign_name, campaign_type, period_start, sent \
                     FROM c ORDER BY 1, 4";
    let segments = "SELECT * FROM s ORDER BY id";
    let clean = [
        pretty(&env.sql(ONE_NEWSLETTER).await.unwrap()),
        pretty(&env.sql(campaigns).await.unwrap()),
        pretty(&env.sql(segments).await.unwrap()),
    ];

    // The simulator's own answers, with new fields added at every level.
    for (op, path) in [
        ("getNewsletters", "/v1/newsletters/1"),
        (
            "getNewsletterMetrics",
            "/v1/newsletters/1/metrics?period=weeks&steps=3",
        ),
        (
            "getNewsletterLinks",
            "/v1/newsletters/1/metrics/links?period=weeks&steps=3&unique=false",
        ),
        ("listCampaigns", "/v1/campaigns"),
        ("listSegments", "/v1/segments"),
    ] {
        let mut body = env.api(&ws, path).await;
        add_new_fields(&mut body);
        script(&env, op, &body);
    }
    env.sim.reset_stats();
    let drifted = [
        pretty(&env.sql(ONE_NEWSLETTER).await.unwrap()),
        pretty(&env.sql(campaigns).await.unwrap()),
        pretty(&env.sql(segments).await.unwrap()),
    ];
    assert_eq!(
        env.sim.stats().faults_injected,
        5,
        "every scripted body was used"
    );
    assert_eq!(drifted, clean);
    // The links column really carried data, so its new fields were read past.
    assert!(clean[0].contains("link_id"), "{}", clean[0]);
}

/// Series metrics the connector does not know are dropped, whatever their JSON type; the known
/// ones keep their buckets. Unknown link metrics are dropped the same way.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_series_metrics_are_dropped_and_known_ones_kept() {
    let env = Env::start(fast_config(vec![workspace(
        "drift_metrics",
        "sim_us",
        Region::Us,
    )]))
    .await;
    env.sql(NEWSLETTERS).await.unwrap();
    script(
        &env,
        "getNewsletterMetrics",
        &json!({"metric": {"series": {
            "sent": [10, 20, 30, 40],
            "opened": [null, 1, 2, 3],
            "open_rate": [0.5, 0.25, null, 1.0],
            "brand_new_metric": [7, 7, 7, 7],
            "labels": ["a", "b", "c", "d"],
            "by_device": {"ios": [1, 2, 3, 4]},
            "a_number": 5
        }}}),
    );
    script(
        &env,
        "getNewsletterLinks",
        &json!({"links": [{
            "link": {"id": 9, "href": "https://example.com/x"},
            "metric": {"series": {
                "clicked": [1, 2, 3, 4],
                "new_click_kind": [0.1, 0.2, 0.3, 0.4]
            }}
        }]}),
    );
    let batches = env
        .sql(
            "SELECT period_start, sent, opened, delivered, \
             links[1]['clicked'], links[1]['human_clicked'], links[1]['link_id'] \
             FROM n WHERE newsletter_id = 1 ORDER BY period_start",
        )
        .await
        .unwrap_or_else(|e| panic!("an unknown metric failed the query: {e}"));
    assert_eq!(
        i64_column(&batches, 1),
        vec![Some(10), Some(20), Some(30), Some(40)]
    );
    assert_eq!(
        i64_column(&batches, 2),
        vec![None, Some(1), Some(2), Some(3)]
    );
    assert_eq!(i64_column(&batches, 3), vec![None; 4], "absent metric");
    assert_eq!(
        i64_column(&batches, 4),
        vec![Some(1), Some(2), Some(3), Some(4)]
    );
    assert_eq!(i64_column(&batches, 5), vec![None; 4]);
    assert_eq!(i64_column(&batches, 6), vec![Some(9); 4]);
    // No column appeared for the new metrics.
    let schema = env.ctx.table("n").await.unwrap().schema().clone();
    for new in ["open_rate", "brand_new_metric", "new_click_kind"] {
        assert!(schema.field_with_unqualified_name(new).is_err(), "{new}");
    }
}

/// `null` where the spec has a string, a list or an object: the value is NULL (or an empty list),
/// the row is kept.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nulls_where_the_spec_has_values_become_null() {
    let env = Env::start(fast_config(vec![workspace(
        "drift_nulls",
        "sim_us",
        Region::Us,
    )]))
    .await;
    env.sql(NEWSLETTERS).await.unwrap();
    env.sql(
        "CREATE EXTERNAL TABLE c STORED AS CUSTOMERIO LOCATION 'campaigns' \
         OPTIONS (key 'sim_us', period 'weeks', steps '3', rate_limit '500')",
    )
    .await
    .unwrap();
    env.sql(
        "CREATE EXTERNAL TABLE s STORED AS CUSTOMERIO LOCATION 'segments' \
         OPTIONS (key 'sim_us', rate_limit '500')",
    )
    .await
    .unwrap();

    // A newsletter whose name and type are null, a series with null values, `links: null`.
    script(
        &env,
        "getNewsletters",
        &json!({"newsletter": {"id": 1, "name": null, "type": null}}),
    );
    script(
        &env,
        "getNewsletterMetrics",
        &json!({"metric": {"series": {"sent": [null, 1, null, 2], "opened": null}}}),
    );
    script(&env, "getNewsletterLinks", &json!({"links": null}));
    let b = env.sql(ONE_NEWSLETTER).await.unwrap();
    assert_eq!(row_count(&b), 4, "{}", pretty(&b));
    assert_eq!(str_column(&b, 1), vec![None; 4], "name");
    assert_eq!(str_column(&b, 2), vec![None; 4], "type");
    assert_eq!(i64_column(&b, 4), vec![None, Some(1), None, Some(2)]);
    assert_eq!(i64_column(&b, 5), vec![None; 4], "opened: null");
    let links = b[0].column(6).as_list::<i32>();
    assert!(
        (0..links.len()).all(|i| !links.is_null(i) && links.value(i).is_empty()),
        "links: null is an empty list per bucket: {}",
        pretty(&b)
    );

    // `series: null` or `{}`: the 3 + 1 buckets asked for, every value NULL (never a newsletter
    // without rows).
    for body in [
        json!({"metric": {"series": null}}),
        json!({"metric": {"series": {}}}),
    ] {
        script(&env, "getNewsletterMetrics", &body);
        let b = env
            .sql("SELECT sent FROM n WHERE newsletter_id = 1")
            .await
            .unwrap_or_else(|e| panic!("{body}: {e}"));
        assert_eq!(row_count(&b), 4, "{body}: {}", pretty(&b));
        assert_eq!(i64_column(&b, 0), vec![None; 4], "{body}");
    }
    // `metric: null`: not a shape the spec documents; the query fails naming the field.
    script(&env, "getNewsletterMetrics", &json!({"metric": null}));
    let e = env
        .sql("SELECT sent FROM n WHERE newsletter_id = 1")
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("metric") && e.contains("/metrics"), "{e}");

    // Campaigns: null and missing names and types.
    script(
        &env,
        "listCampaigns",
        &json!({"campaigns": [{"id": 1, "name": null, "type": null}, {"id": 2}]}),
    );
    let b = env
        .sql("SELECT DISTINCT campaign_id, campaign_name, campaign_type FROM c ORDER BY 1")
        .await
        .unwrap();
    assert_eq!(i64_column(&b, 0), vec![Some(1), Some(2)]);
    assert_eq!(str_column(&b, 1), vec![None, None]);
    assert_eq!(str_column(&b, 2), vec![None, None]);

    // Segments: every optional field null.
    script(
        &env,
        "listSegments",
        &json!({"segments": [{"id": 4, "name": null, "description": null, "state": null,
            "type": null, "progress": null, "tags": null, "deduplicate_id": null}]}),
    );
    let b = env
        .sql("SELECT id, name, description, state, type, progress, tags, deduplicate_id FROM s")
        .await
        .unwrap();
    assert_eq!(i64_column(&b, 0), vec![Some(4)]);
    for c in [1, 2, 3, 4, 7] {
        assert_eq!(str_column(&b, c), vec![None], "column {c}");
    }
    assert_eq!(i64_column(&b, 5), vec![None]);
    let tags = b[0].column(6).as_list::<i32>();
    assert!(!tags.is_null(0) && tags.value(0).is_empty(), "tags: null");
}

/// People whose attributes are numbers, booleans, objects or null, whose `id` is a number, and
/// whose `attributes`/`timestamps`/`devices` are null.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn customer_attributes_of_any_json_type_are_kept_as_text() {
    let env = Env::start(fast_config(vec![workspace(
        "drift_people",
        "sim_us",
        Region::Us,
    )]))
    .await;
    env.sql(
        "CREATE EXTERNAL TABLE p STORED AS CUSTOMERIO LOCATION 'customers' \
         OPTIONS (key 'sim_us', rate_limit '500')",
    )
    .await
    .unwrap();
    env.sql(
        "CREATE EXTERNAL TABLE typed (id VARCHAR, plan BIGINT, prefs VARCHAR, vip BOOLEAN, \
         gone VARCHAR) STORED AS CUSTOMERIO LOCATION 'customers' \
         OPTIONS (key 'sim_us', rate_limit '500')",
    )
    .await
    .unwrap();
    let people = json!({"customers": [
        {
            "identifiers": {"id": 123, "email": "a@example.com", "cio_id": "c1"},
            "attributes": {"plan": 42, "prefs": {"a": [1, 2]}, "vip": true, "gone": null,
                           "name": "Ann"},
            "timestamps": {"plan": 1_700_000_000, "prefs": null},
            "devices": null,
            "unsubscribed": null,
            "new_field": {"x": 1}
        },
        {
            "identifiers": {"id": 124.5, "email": null, "cio_id": "c2"},
            "attributes": null,
            "timestamps": null
        }
    ]});
    script(&env, "getPeopleById", &people);
    let b = env
        .sql(
            "SELECT id, cio_id, email, attributes, unsubscribed, cardinality(devices), \
             cardinality(attribute_timestamps) FROM p WHERE id IN ('123', '124.5') ORDER BY id",
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        str_column(&b, 0),
        vec![Some("123".into()), Some("124.5".into())],
        "numeric ids are kept as their text"
    );
    assert_eq!(str_column(&b, 2), vec![Some("a@example.com".into()), None]);
    let s = |k: &str, v: Option<&str>| (k.to_string(), v.map(str::to_string));
    assert_eq!(
        map_column(&b, 3),
        vec![
            vec![
                s("gone", None),
                s("name", Some("Ann")),
                s("plan", Some("42")),
                s("prefs", Some(r#"{"a":[1,2]}"#)),
                s("vip", Some("true")),
            ],
            vec![],
        ],
        "{}",
        pretty(&b)
    );
    assert_eq!(str_column(&b, 4), vec![None, None], "unsubscribed");
    assert_eq!(i64_column(&b, 5), vec![Some(0), Some(0)], "devices: null");
    assert_eq!(i64_column(&b, 6), vec![Some(2), Some(0)], "timestamps");

    // Declared columns cast the text: a number to BIGINT, an object stays its JSON text.
    // (A declared `id VARCHAR` is pushed down like the built-in one: one request, no search.)
    script(&env, "getPeopleById", &people);
    env.sim.reset_stats();
    let b = env
        .sql("SELECT id, plan, prefs, vip, gone FROM typed WHERE id = '123'")
        .await
        .unwrap();
    assert_eq!(env.total_requests(), 1, "{:?}", env.sim.stats());
    assert_eq!(i64_column(&b, 1), vec![Some(42)]);
    assert_eq!(str_column(&b, 2), vec![Some(r#"{"a":[1,2]}"#.into())]);
    assert_eq!(str_column(&b, 3), vec![Some("true".into())]);
    assert_eq!(str_column(&b, 4), vec![None]);
}

/// A value of another JSON type where the connector needs one (an id that is not a number, a
/// known metric that is not a list of whole numbers, a list that is not a list, a missing id):
/// a clear error naming the endpoint and the JSON path, after exactly one request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_types_and_missing_ids_are_clear_errors_after_one_request() {
    let env = Env::start(fast_config(vec![workspace(
        "drift_types",
        "sim_us",
        Region::Us,
    )]))
    .await;
    env.sql(NEWSLETTERS).await.unwrap();
    for (report, table) in [("campaigns", "c"), ("segments", "s"), ("customers", "p")] {
        env.sql(&format!(
            "CREATE EXTERNAL TABLE {table} STORED AS CUSTOMERIO LOCATION '{report}' \
             OPTIONS (key 'sim_us', rate_limit '500')"
        ))
        .await
        .unwrap();
    }
    let cases: Vec<(&str, Value, &str, Vec<&str>)> = vec![
        (
            "listCampaigns",
            json!({"campaigns": [{"id": "abc", "name": "x"}]}),
            "SELECT * FROM c",
            vec!["GET /v1/campaigns", "campaigns[0].id", "invalid type"],
        ),
        (
            "listCampaigns",
            json!({"campaigns": [{"name": "no id"}]}),
            "SELECT * FROM c",
            vec!["GET /v1/campaigns", "campaigns[0]", "missing field `id`"],
        ),
        (
            "listCampaigns",
            json!({"campaigns": 5}),
            "SELECT * FROM c",
            vec!["GET /v1/campaigns", "campaigns", "invalid type"],
        ),
        (
            "getNewsletterMetrics",
            json!({"metric": {"series": {"sent": ["1", "2", "3", "4"]}}}),
            "SELECT * FROM n WHERE newsletter_id = 1",
            vec!["GET /v1/newsletters/1/metrics", "metric.series", "sent"],
        ),
        (
            "getNewsletterMetrics",
            json!({"metric": {"series": {"sent": [1.5, 2, 3, 4]}}}),
            "SELECT * FROM n WHERE newsletter_id = 1",
            vec!["GET /v1/newsletters/1/metrics", "metric.series", "sent"],
        ),
        (
            "listSegments",
            json!({"segments": [{"id": 1, "tags": "vip"}]}),
            "SELECT * FROM s",
            vec!["GET /v1/segments", "segments[0].tags", "invalid type"],
        ),
        (
            "getPeopleById",
            json!({"customers": [{"identifiers": "c1"}]}),
            "SELECT * FROM p WHERE id = '1'",
            vec![
                "POST /v1/customers/attributes",
                "customers[0].identifiers",
                "invalid type",
            ],
        ),
    ];
    for (op, body, query, needles) in cases {
        env.sim.reset_stats();
        script(&env, op, &body);
        let err = env
            .sql(query)
            .await
            .expect_err(&format!("{op} {body} must fail"))
            .to_string();
        assert!(err.contains("does not match the API"), "{op} {body}: {err}");
        for n in &needles {
            assert!(err.contains(n), "{op} {body}: '{err}' lacks '{n}'");
        }
        assert_eq!(
            env.requests(op),
            1,
            "{op} {body}: retried? {:?}",
            env.sim.stats()
        );
    }
}

/// A simulator whose deliveries files have `columns`, and a `deliveries_export` table `d` of
/// the last 14 days over it.
async fn deliveries_env(test: &str, campaigns: u32, newsletters: u32, columns: Vec<String>) -> Env {
    let ws = customerio_sim::WorkspaceSpec {
        campaigns,
        newsletters,
        ..workspace(test, "sim_us", Region::Us)
    };
    let config = SimConfig {
        exports: ExportConfig {
            ready_after: Duration::ZERO,
            delivery_columns: columns,
            ..ExportConfig::default()
        },
        ..fast_config(vec![ws])
    };
    let env = Env::start(config).await;
    env.sql(
        "CREATE EXTERNAL TABLE d STORED AS CUSTOMERIO LOCATION 'deliveries_export' \
         OPTIONS (key 'sim_us', start '-14d', rate_limit '500')",
    )
    .await
    .unwrap();
    env
}

/// An export file with a column the connector does not know and without some it does: the new
/// column is kept in `extra`, the missing ones are NULL, the rows are the clean file's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_files_with_new_and_missing_columns() {
    let run = |columns: Vec<String>| async move {
        let env = deliveries_env("drift_csv", 4, 3, columns).await;
        env.sql(
            "SELECT delivery_id, campaign_id, created, sent, opened, subject, extra \
             FROM d ORDER BY delivery_id",
        )
        .await
        .unwrap()
    };
    let clean = run(ExportConfig::default().delivery_columns).await;
    assert!(
        row_count(&clean) > 0,
        "no deliveries: the test proves nothing"
    );
    let drifted_columns: Vec<String> = ExportConfig::DELIVERY_COLUMNS
        .iter()
        .filter(|c| !["opened", "subject"].contains(c))
        .map(|c| c.to_string())
        .chain(["new_score".to_string(), "new_channel".to_string()])
        .rev() // and in another order
        .collect();
    let drifted = run(drifted_columns).await;
    assert_eq!(row_count(&drifted), row_count(&clean));
    for c in 0..4 {
        assert_eq!(str_column(&drifted, c), str_column(&clean, c), "column {c}");
    }
    assert!(
        str_column(&clean, 4).iter().any(Option::is_some),
        "the clean file has opens"
    );
    assert!(
        str_column(&drifted, 4).iter().all(Option::is_none),
        "opened"
    );
    assert!(
        str_column(&drifted, 5).iter().all(Option::is_none),
        "subject"
    );
    assert!(map_column(&clean, 6).iter().all(Vec::is_empty));
    let ids = str_column(&drifted, 0);
    for (extra, id) in map_column(&drifted, 6).into_iter().zip(ids) {
        let id = id.unwrap();
        assert_eq!(
            extra,
            vec![
                ("new_channel".to_string(), Some(format!("new_channel:{id}"))),
                ("new_score".to_string(), Some(format!("new_score:{id}"))),
            ]
        );
    }
}

/// A deliveries file without the delivery id, or with none of the columns the connector knows
/// (every name changed, say `created_at` for `created`), fails naming the export, the header
/// and the column expected: it would read as rows of NULLs. One query, no rows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_files_without_an_identity_column_fail() {
    let run = |columns: Vec<String>| async move {
        let env = deliveries_env("drift_noid", 2, 1, columns).await;
        match env.sql("SELECT delivery_id, created FROM d").await {
            Ok(b) => panic!("no error, {} rows", row_count(&b)),
            Err(e) => e.to_string(),
        }
    };
    let without_id: Vec<String> = ExportConfig::DELIVERY_COLUMNS
        .iter()
        .filter(|c| **c != "delivery_id")
        .map(|c| c.to_string())
        .collect();
    let e = run(without_id).await;
    for needle in [
        "export ",
        "deliveries_export file has no identity column",
        "`delivery_id`",
        "\"campaign_id\"",
    ] {
        assert!(e.contains(needle), "'{e}' lacks '{needle}'");
    }
    assert!(!e.contains("none of its columns"), "{e}");
    let e = run(vec!["new_created_at".into(), "new_campaign".into()]).await;
    for needle in [
        "`delivery_id`",
        "[\"new_created_at\", \"new_campaign\"]",
        "none of its columns is one the connector reads (delivery_id, campaign_id",
    ] {
        assert!(e.contains(needle), "'{e}' lacks '{needle}'");
    }
}

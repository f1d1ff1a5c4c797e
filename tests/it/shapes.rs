//! Issue 12, items 3 and 4: every answer shape the vendor documents or plausibly sends (the
//! simulator's `ShapeConfig` switches, `cio-sim --people-shape` etc.) reads to byte-identical CSV
//! as the default shape, and an answer without the field that carries its data fails the query
//! naming the operation and the JSON path (or the column), never as NULL or missing rows.
//!
//! Each switch test runs the same SQL against a default simulator and a switched one (same seed,
//! same fixed clock), compares the CSV, and checks over raw HTTP that the switched simulator
//! really served the variant, so that it cannot pass vacuously.

use std::time::Duration;

use customerio_sim::{
    ExportCompression, ExportConfig, HeaderCase, LinkIdType, MetricsEnd, MetricsTimeFormat,
    PeopleShape, Region, ScriptedResponse, ShapeConfig, SimConfig, WorkspaceSpec,
};
use datafusion::arrow::array::{ArrayRef, StringBuilder};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use serde_json::{Value, json};

use crate::common::*;

/// The batches as CSV with a header, written by arrow's CSV writer; nested values (lists, maps,
/// structs) as their text, as `cio-sql --format csv` writes them.
fn csv(batches: &[RecordBatch]) -> String {
    let mut out = Vec::new();
    {
        let mut w = datafusion::arrow::csv::WriterBuilder::new()
            .with_header(true)
            .build(&mut out);
        for b in batches {
            let mut fields = Vec::new();
            let mut columns: Vec<ArrayRef> = Vec::new();
            for (f, c) in b.schema().fields().iter().zip(b.columns()) {
                if f.data_type().is_nested() {
                    let fmt =
                        ArrayFormatter::try_new(c.as_ref(), &FormatOptions::default()).unwrap();
                    let mut s = StringBuilder::new();
                    for i in 0..c.len() {
                        s.append_value(fmt.value(i).to_string());
                    }
                    fields.push(Field::new(f.name(), DataType::Utf8, true));
                    columns.push(std::sync::Arc::new(s.finish()));
                } else {
                    fields.push(f.as_ref().clone());
                    columns.push(c.clone());
                }
            }
            let flat =
                RecordBatch::try_new(std::sync::Arc::new(Schema::new(fields)), columns).unwrap();
            w.write(&flat).unwrap();
        }
    }
    String::from_utf8(out).unwrap()
}

/// `sim_us` (fewer people, so that the exports stay small), with a key of test `test`.
fn small_us(test: &str) -> WorkspaceSpec {
    WorkspaceSpec {
        customers: 400,
        campaigns: 5,
        newsletters: 4,
        ..workspace(test, "sim_us", Region::Us)
    }
}

/// A simulator with `shapes` (exports ready at once) and a session reading it.
async fn start(test: &str, shapes: ShapeConfig) -> (Env, WorkspaceSpec) {
    let ws = small_us(test);
    let config = SimConfig {
        shapes,
        exports: ExportConfig {
            ready_after: Duration::ZERO,
            ..ExportConfig::default()
        },
        ..fast_config(vec![ws.clone()])
    };
    (Env::start(config).await, ws)
}

/// The CSV of each query after the DDL statements.
async fn outputs(env: &Env, ddl: &[&str], queries: &[&str]) -> Vec<String> {
    for d in ddl {
        env.sql(d).await.unwrap_or_else(|e| panic!("{d}: {e}"));
    }
    let mut out = Vec::new();
    for q in queries {
        let batches = env.sql(q).await.unwrap_or_else(|e| panic!("{q}: {e}"));
        out.push(csv(&batches));
    }
    out
}

/// Runs `queries` against a default simulator and one with `shapes`, asserts each CSV is the
/// same (and not empty), and returns the switched simulator for the raw checks.
async fn same_csv(
    test: &str,
    shapes: ShapeConfig,
    ddl: &[&str],
    queries: &[&str],
) -> (Env, WorkspaceSpec) {
    let (plain, _) = start(&format!("{test}_plain"), ShapeConfig::default()).await;
    let (switched, ws) = start(&format!("{test}_switched"), shapes).await;
    let want = outputs(&plain, ddl, queries).await;
    let got = outputs(&switched, ddl, queries).await;
    for ((q, w), g) in queries.iter().zip(&want).zip(&got) {
        assert!(
            w.lines().count() > 2,
            "{q}: too few rows to prove anything:\n{w}"
        );
        assert!(
            w == g,
            "{q}: {shapes:?} differs from the default shape\n--- default\n{w}\n--- switched\n{g}"
        );
    }
    (switched, ws)
}

/// `method base+path` with the workspace's key and a JSON `body`: status, headers, raw bytes.
async fn raw(
    env: &Env,
    ws: &WorkspaceSpec,
    post: Option<&Value>,
    path: &str,
) -> (u16, reqwest::header::HeaderMap, Vec<u8>) {
    let url = format!("{}{path}", env.sim.url_for(ws.region));
    raw_url(&url, Some(&ws.api_key), post).await
}

async fn raw_url(
    url: &str,
    key: Option<&str>,
    post: Option<&Value>,
) -> (u16, reqwest::header::HeaderMap, Vec<u8>) {
    let client = reqwest::Client::new();
    let mut req = match post {
        Some(body) => client.post(url).json(body),
        None => client.get(url),
    };
    if let Some(k) = key {
        req = req.bearer_auth(k);
    }
    let resp = req.send().await.expect("simulator answers");
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    (status, headers, resp.bytes().await.unwrap().to_vec())
}

fn json_of(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes).unwrap()
}

// ---- people ----------------------------------------------------------------------------------

const PEOPLE_DDL: &[&str] = &[
    "CREATE EXTERNAL TABLE p STORED AS CUSTOMERIO LOCATION 'customers' \
     OPTIONS (key 'sim_us', rate_limit '500')",
];
const PEOPLE_QUERIES: &[&str] = &[
    "SELECT * FROM p ORDER BY cio_id",
    // By id: `POST /v1/customers/attributes` with `id_type=id`, no search.
    "SELECT id, email, cio_id, attributes FROM p WHERE id IN ('2', '3', '5', '8') ORDER BY id",
];

/// The shape of each item of a raw `POST /v1/customers/attributes` answer: wrapped or not.
async fn people_items_wrapped(env: &Env, ws: &WorkspaceSpec) -> Vec<bool> {
    let (status, _, body) = raw(
        env,
        ws,
        Some(&json!({"ids": ["2", "3", "5", "8"]})),
        "/v1/customers/attributes?id_type=id",
    )
    .await;
    assert_eq!(status, 200);
    json_of(&body)["customers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.get("customer").is_some())
        .collect()
}

/// `--people-shape wrapped`: every item `{"customer": {...}}`, the vendor's documented example.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn people_wrapped_read_as_unwrapped() {
    let shapes = ShapeConfig {
        people: PeopleShape::Wrapped,
        ..ShapeConfig::default()
    };
    let (env, ws) = same_csv("shape_pw", shapes, PEOPLE_DDL, PEOPLE_QUERIES).await;
    let items = people_items_wrapped(&env, &ws).await;
    assert!(items.len() >= 3 && items.iter().all(|w| *w), "{items:?}");
}

/// `--people-shape mixed`: wrapped and bare items alternate in one answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn people_mixed_read_as_unwrapped() {
    let shapes = ShapeConfig {
        people: PeopleShape::Mixed,
        ..ShapeConfig::default()
    };
    let (env, ws) = same_csv("shape_pm", shapes, PEOPLE_DDL, PEOPLE_QUERIES).await;
    let items = people_items_wrapped(&env, &ws).await;
    assert!(items.len() >= 3, "{items:?}");
    assert!(
        items.iter().enumerate().all(|(n, w)| *w == (n % 2 == 0)),
        "{items:?}"
    );
}

// ---- campaign metrics ------------------------------------------------------------------------

const CAMPAIGN_DDL: &[&str] = &[
    "CREATE EXTERNAL TABLE cd STORED AS CUSTOMERIO LOCATION 'campaigns' \
     OPTIONS (key 'sim_us', period 'days', steps '10', rate_limit '500')",
    "CREATE EXTERNAL TABLE cw STORED AS CUSTOMERIO LOCATION 'campaigns' \
     OPTIONS (key 'sim_us', period 'weeks', steps '4', rate_limit '500')",
    "CREATE EXTERNAL TABLE cm STORED AS CUSTOMERIO LOCATION 'campaigns' \
     OPTIONS (key 'sim_us', period 'months', steps '3', rate_limit '500')",
    "CREATE EXTERNAL TABLE ch STORED AS CUSTOMERIO LOCATION 'campaigns' \
     OPTIONS (key 'sim_us', period 'hours', steps '6', rate_limit '500')",
];
const CAMPAIGN_QUERIES: &[&str] = &[
    "SELECT * EXCLUDE (links) FROM cd ORDER BY campaign_id, period_start",
    "SELECT * EXCLUDE (links) FROM cw ORDER BY campaign_id, period_start",
    "SELECT * EXCLUDE (links) FROM cm ORDER BY campaign_id, period_start",
    "SELECT * EXCLUDE (links) FROM ch ORDER BY campaign_id, period_start",
];

/// The raw version-2 answer of campaign 1 for days from 2025-01-01 to `end` in New York.
async fn v2_answer(env: &Env, ws: &WorkspaceSpec, end: i64) -> Value {
    // 2025-01-01 00:00 EST.
    let path = format!(
        "/v1/campaigns/1/metrics?version=2&res=days&start=1735707600&end={end}&tz=America/New_York"
    );
    let (status, _, body) = raw(env, ws, None, &path).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    json_of(&body)
}

/// `--metrics-time-format rfc3339`: `start`/`end` as `2026-01-01T00:00:00.000Z`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_times_in_rfc3339_utc_read_as_go_times() {
    let shapes = ShapeConfig {
        metrics_time: MetricsTimeFormat::Rfc3339,
        ..ShapeConfig::default()
    };
    let (env, ws) = same_csv("shape_tz", shapes, CAMPAIGN_DDL, CAMPAIGN_QUERIES).await;
    let body = v2_answer(&env, &ws, 1735707600 + 3 * 86_400).await;
    assert_eq!(body["start"], "2025-01-01T05:00:00.000Z", "{body}");
    assert_eq!(body["end"], "2025-01-03T05:00:00.000Z", "{body}");
}

/// `--metrics-time-format rfc3339-offset`: the same instants at `-05:00`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_times_in_rfc3339_with_an_offset_read_as_go_times() {
    let shapes = ShapeConfig {
        metrics_time: MetricsTimeFormat::Rfc3339Offset,
        ..ShapeConfig::default()
    };
    let (env, ws) = same_csv("shape_to", shapes, CAMPAIGN_DDL, CAMPAIGN_QUERIES).await;
    let body = v2_answer(&env, &ws, 1735707600 + 3 * 86_400).await;
    assert_eq!(body["start"], "2025-01-01T00:00:00.000-05:00", "{body}");
}

/// `--metrics-end inclusive`: the bucket that contains `end` comes too. The connector's `end`
/// is now (not the next bucket's start), so no future bucket appears; also with the clock on a
/// bucket's first second (midnight in New York), where `end` = now would leave the current
/// bucket out under the exclusive reading.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_end_inclusive_adds_no_bucket() {
    let shapes = ShapeConfig {
        metrics_end: MetricsEnd::Inclusive,
        ..ShapeConfig::default()
    };
    let (env, ws) = same_csv("shape_me", shapes, CAMPAIGN_DDL, CAMPAIGN_QUERIES).await;
    // The switch is real: an `end` on a bucket's start gets that bucket too.
    let on_boundary = 1735707600 + 3 * 86_400;
    assert_eq!(
        v2_answer(&env, &ws, on_boundary).await["metric"]["series"]["sent"]
            .as_array()
            .unwrap()
            .len(),
        4
    );
    let (plain, pws) = start("shape_me_plain2", ShapeConfig::default()).await;
    outputs(&plain, CAMPAIGN_DDL, &[]).await;
    assert_eq!(
        v2_answer(&plain, &pws, on_boundary).await["metric"]["series"]["sent"]
            .as_array()
            .unwrap()
            .len(),
        3
    );

    // Midnight in New York: the first second of the current day's bucket and of the hour's.
    let midnight = chrono::DateTime::parse_from_rfc3339("2026-11-26T05:00:00Z")
        .unwrap()
        .with_timezone(&chrono::Utc);
    for e in [&env, &plain] {
        e.clock.set(midnight);
    }
    let queries = [
        "SELECT campaign_id, period_start, sent FROM cd ORDER BY campaign_id, period_start",
        "SELECT campaign_id, period_start, sent FROM ch ORDER BY campaign_id, period_start",
    ];
    for q in queries {
        let want = env_csv(&plain, q).await;
        let got = env_csv(&env, q).await;
        assert_eq!(want, got, "{q}");
        // steps + 1 buckets per campaign, the last the current one.
        let last = want.lines().last().unwrap().to_string();
        assert!(last.contains("2026-11-26T05:00:00"), "{q}: {last}");
        let rows_of_1 = want.lines().filter(|l| l.starts_with("1,")).count();
        assert_eq!(rows_of_1, if q.contains(" cd ") { 11 } else { 7 }, "{want}");
    }
}

async fn env_csv(env: &Env, q: &str) -> String {
    csv(&env.sql(q).await.unwrap_or_else(|e| panic!("{q}: {e}")))
}

// ---- link ids --------------------------------------------------------------------------------

/// `--link-id-type string`: link ids as `"12"`, for campaigns and newsletters.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn link_ids_as_strings_read_as_numbers() {
    let shapes = ShapeConfig {
        link_ids: LinkIdType::String,
        ..ShapeConfig::default()
    };
    let ddl = [
        "CREATE EXTERNAL TABLE c STORED AS CUSTOMERIO LOCATION 'campaigns' \
         OPTIONS (key 'sim_us', period 'days', steps '5', rate_limit '500')",
        "CREATE EXTERNAL TABLE n STORED AS CUSTOMERIO LOCATION 'newsletters' \
         OPTIONS (key 'sim_us', period 'weeks', steps '3', unique_links 'true', rate_limit '500')",
    ];
    let queries = [
        "SELECT campaign_id, period_start, clicked, links FROM c ORDER BY campaign_id, period_start",
        "SELECT newsletter_id, period_start, links FROM n ORDER BY newsletter_id, period_start",
    ];
    let (env, ws) = same_csv("shape_li", shapes, &ddl, &queries).await;
    for path in [
        "/v1/campaigns/1/metrics/links?period=days&steps=5",
        "/v1/newsletters/1/metrics/links?period=weeks&steps=3",
    ] {
        let (_, _, body) = raw(&env, &ws, None, path).await;
        let body = json_of(&body);
        let links = body["links"].as_array().unwrap();
        assert!(!links.is_empty(), "{path}: {body}");
        for l in links {
            let id = l["link"]["id"].as_str().expect("a string id");
            assert!(id.parse::<i64>().is_ok(), "{id}");
        }
    }
}

// ---- export files ----------------------------------------------------------------------------

const EXPORT_DDL: &[&str] = &[
    "CREATE EXTERNAL TABLE e STORED AS CUSTOMERIO LOCATION 'customers_export' \
     OPTIONS (key 'sim_us', attributes 'plan,country', rate_limit '500')",
    "CREATE EXTERNAL TABLE d STORED AS CUSTOMERIO LOCATION 'deliveries_export' \
     OPTIONS (key 'sim_us', start '-3d', attributes 'plan', rate_limit '500')",
];
const EXPORT_QUERIES: &[&str] = &[
    "SELECT * FROM e ORDER BY cio_id",
    "SELECT * EXCLUDE (export_id) FROM d ORDER BY delivery_id, campaign_id, newsletter_id, created",
];

/// A people export's file as served: the download's headers and raw bytes.
async fn export_file(env: &Env, ws: &WorkspaceSpec) -> (reqwest::header::HeaderMap, Vec<u8>) {
    let body = json!({"filters": {"and": [{"segment": {"id": 1}}]}, "attributes": ["plan"]});
    let (status, _, created) = raw(env, ws, Some(&body), "/v1/exports/customers").await;
    assert_eq!(status, 200);
    let id = json_of(&created)["export"]["id"].as_i64().unwrap();
    let (status, _, link) = raw(env, ws, None, &format!("/v1/exports/{id}/download")).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&link));
    let url = json_of(&link)["url"].as_str().unwrap().to_string();
    let (status, headers, bytes) = raw_url(&url, None, None).await;
    assert_eq!(status, 200);
    (headers, bytes)
}

/// `--export-compression gzip`: gzip bytes with no `Content-Encoding`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gzip_export_files_without_a_header_read_as_plain_ones() {
    let shapes = ShapeConfig {
        export_compression: ExportCompression::Gzip,
        ..ShapeConfig::default()
    };
    let (env, ws) = same_csv("shape_gz", shapes, EXPORT_DDL, EXPORT_QUERIES).await;
    let (headers, bytes) = export_file(&env, &ws).await;
    assert_eq!(&bytes[..2], b"\x1f\x8b");
    assert!(headers.get("content-encoding").is_none(), "{headers:?}");
}

/// `--export-compression gzip-header`: gzip bytes with `Content-Encoding: gzip`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gzip_export_files_with_content_encoding_read_as_plain_ones() {
    let shapes = ShapeConfig {
        export_compression: ExportCompression::GzipHeader,
        ..ShapeConfig::default()
    };
    let (env, ws) = same_csv("shape_gh", shapes, EXPORT_DDL, EXPORT_QUERIES).await;
    let (headers, bytes) = export_file(&env, &ws).await;
    assert_eq!(&bytes[..2], b"\x1f\x8b");
    assert_eq!(headers.get("content-encoding").unwrap(), "gzip");
}

/// `--export-bom`: a UTF-8 byte-order mark before the header.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_files_with_a_bom_read_as_plain_ones() {
    let shapes = ShapeConfig {
        export_bom: true,
        ..ShapeConfig::default()
    };
    let (env, ws) = same_csv("shape_bom", shapes, EXPORT_DDL, EXPORT_QUERIES).await;
    let (_, bytes) = export_file(&env, &ws).await;
    assert!(
        bytes.starts_with(b"\xEF\xBB\xBFid,email,cio_id,plan\n"),
        "{:?}",
        &bytes[..20]
    );
}

/// `--export-header-case upper`: `ID,EMAIL,CIO_ID,plan` (attribute names keep their case).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_headers_in_upper_case_read_as_lower_case_ones() {
    let shapes = ShapeConfig {
        export_header_case: HeaderCase::Upper,
        ..ShapeConfig::default()
    };
    let (env, ws) = same_csv("shape_uc", shapes, EXPORT_DDL, EXPORT_QUERIES).await;
    let (_, bytes) = export_file(&env, &ws).await;
    assert!(
        bytes.starts_with(b"ID,EMAIL,CIO_ID,plan\n"),
        "{:?}",
        &bytes[..20]
    );
}

// ---- loud failure ----------------------------------------------------------------------------

/// Answers the next `operation` request with `body` (status 200), runs `query` after `ddl`, and
/// asserts it fails with every needle in its message, after one request of `operation`.
async fn fails_loudly(
    test: &str,
    operation: &str,
    body: Value,
    ddl: &str,
    query: &str,
    needles: &[&str],
) {
    let (env, _) = start(test, ShapeConfig::default()).await;
    env.sql(ddl).await.unwrap();
    env.sim.push_script(
        ScriptedResponse::new(200)
            .for_operation(operation)
            .with_body(body.to_string()),
    );
    let err = match env.sql(query).await {
        Ok(b) => panic!("{operation} {body}: no error, rows:\n{}", pretty(&b)),
        Err(e) => e.to_string(),
    };
    for n in needles {
        assert!(err.contains(n), "{operation} {body}: '{err}' lacks '{n}'");
    }
    assert_eq!(env.requests(operation), 1, "{operation}: retried?");
}

const CAMPAIGNS: &str = "CREATE EXTERNAL TABLE c STORED AS CUSTOMERIO LOCATION 'campaigns' \
     OPTIONS (key 'sim_us', period 'days', steps '3', rate_limit '500')";
const NEWSLETTERS: &str = "CREATE EXTERNAL TABLE n STORED AS CUSTOMERIO LOCATION 'newsletters' \
     OPTIONS (key 'sim_us', period 'days', steps '3', rate_limit '500')";
const PEOPLE: &str = "CREATE EXTERNAL TABLE p STORED AS CUSTOMERIO LOCATION 'customers' \
     OPTIONS (key 'sim_us', rate_limit '500')";
const SEGMENTS: &str = "CREATE EXTERNAL TABLE s STORED AS CUSTOMERIO LOCATION 'segments' \
     OPTIONS (key 'sim_us', rate_limit '500')";
const PEOPLE_EXPORT: &str = "CREATE EXTERNAL TABLE e STORED AS CUSTOMERIO LOCATION 'customers_export' \
     OPTIONS (key 'sim_us', rate_limit '500')";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn campaign_metrics_without_metric_fail() {
    fails_loudly(
        "loud_cm",
        "campaignMetrics",
        json!({"start": "2026-11-23 00:00:00 -0500 EST", "res": "days"}),
        CAMPAIGNS,
        "SELECT * FROM c WHERE campaign_id = 1",
        &[
            "GET /v1/campaigns/1/metrics",
            "does not match the API",
            "missing field `metric`",
        ],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_without_series_fail() {
    fails_loudly(
        "loud_ms",
        "getNewsletterMetrics",
        json!({"metric": {"type": "email"}}),
        NEWSLETTERS,
        "SELECT * FROM n WHERE newsletter_id = 1",
        &[
            "GET /v1/newsletters/1/metrics",
            "at metric",
            "missing field `series`",
        ],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn newsletter_metrics_without_metric_fail() {
    fails_loudly(
        "loud_nm",
        "getNewsletterMetrics",
        json!({"series": {"sent": [1, 2, 3, 4]}}),
        NEWSLETTERS,
        "SELECT * FROM n WHERE newsletter_id = 1",
        &["GET /v1/newsletters/1/metrics", "missing field `metric`"],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn people_by_id_without_customers_fail() {
    fails_loudly(
        "loud_pc",
        "getPeopleById",
        json!({"people": [{"identifiers": {"id": "2"}}]}),
        PEOPLE,
        "SELECT * FROM p WHERE id = '2'",
        &["POST /v1/customers/attributes", "missing field `customers`"],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn people_items_in_both_shapes_fail() {
    fails_loudly(
        "loud_pb",
        "getPeopleById",
        json!({"customers": [{"customer": {"identifiers": {"id": "2", "cio_id": "c2"}}, "attributes": {"plan": "x"}}]}),
        PEOPLE,
        "SELECT * FROM p WHERE id = '2'",
        &["POST /v1/customers/attributes", "customers[0]", "`customer`"],
    )
    .await;
}

/// An item of `POST /v1/customers/attributes` that holds no person (empty, a `null` or empty
/// `customer`, the person under another key) fails at its path, not a row of NULLs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn people_items_without_a_person_fail() {
    for (test, item) in [
        ("loud_p0", json!({})),
        ("loud_p1", json!({"customer": null})),
        ("loud_p2", json!({"customer": {}})),
        (
            "loud_p3",
            json!({"person": {"identifiers": {"id": "2", "email": null, "cio_id": "c2"}}}),
        ),
    ] {
        fails_loudly(
            test,
            "getPeopleById",
            json!({ "customers": [item] }),
            PEOPLE,
            "SELECT * FROM p WHERE id = '2'",
            &[
                "POST /v1/customers/attributes",
                "customers[0]",
                "a person with `identifiers`",
                "wrapped as {\"customer\"",
            ],
        )
        .await;
    }
}

/// A person without Customer.io's id fails at its `cio_id`, not a row without its key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn people_items_without_a_cio_id_fail() {
    fails_loudly(
        "loud_pn",
        "getPeopleById",
        json!({"customers": [{"identifiers": {"id": "2", "email": null, "cio_id": null}}]}),
        PEOPLE,
        "SELECT * FROM p WHERE id = '2'",
        &[
            "POST /v1/customers/attributes",
            "customers[0].identifiers.cio_id",
            "got null",
        ],
    )
    .await;
}

/// A search page whose identifiers lack a `cio_id` (missing or `null`) fails at it, rather
/// than leaving the person out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn people_search_identifiers_without_cio_id_fail() {
    for (test, second, needles) in [
        (
            "loud_sm",
            json!({"id": "2", "email": null}),
            ["identifiers[1]", "missing field `cio_id`"],
        ),
        (
            "loud_sn",
            json!({"id": "2", "email": null, "cio_id": null}),
            ["identifiers[1].cio_id", "got null"],
        ),
    ] {
        let body = json!({
            "identifiers": [{"id": "1", "email": null, "cio_id": "c1"}, second],
            "ids": ["1", "2"],
            "next": ""
        });
        fails_loudly(
            test,
            "getPeopleFilter",
            body,
            PEOPLE,
            "SELECT * FROM p",
            &["POST /v1/customers", needles[0], needles[1]],
        )
        .await;
    }
}

/// A search page that lists people in `ids` but not (all) in `identifiers` cannot be read
/// fully: it fails naming both counts, rather than giving zero rows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn people_search_ids_without_identifiers_fail() {
    for (test, identifiers, ids, needles) in [
        (
            "loud_in",
            json!(null),
            json!(["1", "2"]),
            ["0 in `identifiers`", "2 in `ids`"],
        ),
        (
            "loud_ie",
            json!([]),
            json!([""]),
            ["0 in `identifiers`", "1 in `ids`"],
        ),
    ] {
        fails_loudly(
            test,
            "getPeopleFilter",
            json!({"identifiers": identifiers, "ids": ids, "next": ""}),
            PEOPLE,
            "SELECT * FROM p",
            &["POST /v1/customers", needles[0], needles[1]],
        )
        .await;
    }
}

/// A series map with keys but none of the known metrics fails naming them, rather than
/// reading as NULL values.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_series_without_a_known_metric_fail() {
    fails_loudly(
        "loud_sk",
        "getNewsletterMetrics",
        json!({"metric": {"series": {"sends": [1, 2, 3, 4], "opens": [0, 0, 1, 0]}}}),
        NEWSLETTERS,
        "SELECT * FROM n WHERE newsletter_id = 1",
        &[
            "GET /v1/newsletters/1/metrics",
            "at metric.series",
            "known metrics (attempted, bounced",
            "`sends`",
        ],
    )
    .await;
}

/// A link without `metric` fails at its path, rather than reading as NULL values.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn link_without_metric_fails() {
    fails_loudly(
        "loud_lm",
        "getNewsletterLinks",
        json!({"links": [{"link": {"id": 1, "href": "https://x.io"}}]}),
        NEWSLETTERS,
        "SELECT links FROM n WHERE newsletter_id = 1",
        &[
            "GET /v1/newsletters/1/metrics/links",
            "links[0]",
            "missing field `metric`",
        ],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn people_search_without_identifiers_fail() {
    fails_loudly(
        "loud_pf",
        "getPeopleFilter",
        json!({"ids": ["1", "2"], "next": ""}),
        PEOPLE,
        "SELECT * FROM p",
        &["POST /v1/customers", "missing field `identifiers`"],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn link_metrics_without_links_fail() {
    fails_loudly(
        "loud_lk",
        "campaignLinkMetrics",
        json!({"link_metrics": []}),
        CAMPAIGNS,
        "SELECT links FROM c WHERE campaign_id = 1",
        &["GET /v1/campaigns/1/metrics/links", "missing field `links`"],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn link_ids_that_are_not_numbers_fail() {
    fails_loudly(
        "loud_li",
        "getNewsletterLinks",
        json!({"links": [{"link": {"id": "home-page", "href": "https://x.io"}, "metric": {"series": {"clicked": [1, 2, 3, 4]}}}]}),
        NEWSLETTERS,
        "SELECT links FROM n WHERE newsletter_id = 1",
        &["GET /v1/newsletters/1/metrics/links", "links[0].link.id", "\"home-page\""],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lists_without_their_key_fail() {
    for (test, op, body, ddl, query, needles) in [
        (
            "loud_lc",
            "listCampaigns",
            json!({"automations": []}),
            CAMPAIGNS,
            "SELECT * FROM c",
            ["GET /v1/campaigns", "missing field `campaigns`"],
        ),
        (
            "loud_ln",
            "listNewsletters",
            json!({"next": ""}),
            NEWSLETTERS,
            "SELECT * FROM n",
            ["GET /v1/newsletters", "missing field `newsletters`"],
        ),
        (
            "loud_ls",
            "listSegments",
            json!({"items": []}),
            SEGMENTS,
            "SELECT * FROM s",
            ["GET /v1/segments", "missing field `segments`"],
        ),
    ] {
        fails_loudly(test, op, body, ddl, query, &needles).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn download_without_url_fails() {
    fails_loudly(
        "loud_du",
        "downloadExport",
        json!({"link": "https://files.example.com/x.csv"}),
        PEOPLE_EXPORT,
        "SELECT * FROM e",
        &["/download", "at url", "signed link"],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exports_without_export_fail() {
    for (test, op) in [("loud_ec", "exportPeopleData"), ("loud_eg", "getExport")] {
        fails_loudly(
            test,
            op,
            json!({"id": 7, "status": "done"}),
            PEOPLE_EXPORT,
            "SELECT * FROM e",
            &["/v1/exports", "missing field `export`"],
        )
        .await;
    }
}

/// An export file whose `created` column holds no time at all fails naming the column; the file
/// is served by a little server of the test's own (scripted `/download` points at it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_time_column_with_no_time_fails() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = axum::Router::new().route(
        "/f.csv",
        axum::routing::get(|| async {
            "delivery_id,campaign_id,created,sent\nd1,1,last tuesday,\nd2,1,yesterday,\n"
        }),
    );
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    fails_loudly(
        "loud_tc",
        "downloadExport",
        json!({"url": format!("http://{addr}/f.csv")}),
        "CREATE EXTERNAL TABLE d STORED AS CUSTOMERIO LOCATION 'deliveries_export' \
         OPTIONS (key 'sim_us', campaign_id '1', rate_limit '500')",
        "SELECT delivery_id, created FROM d",
        &[
            "column created",
            "no time",
            "'last tuesday'",
            "campaign_id 1",
        ],
    )
    .await;
    server.abort();
}

/// What the notes document as legitimate still reads: `null` lists, a missing `next`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn documented_nulls_still_read() {
    let (env, _) = start("loud_ok", ShapeConfig::default()).await;
    env.sql(CAMPAIGNS).await.unwrap();
    env.sql(PEOPLE).await.unwrap();
    for (op, body) in [
        ("listCampaigns", json!({"campaigns": null})),
        ("getPeopleFilter", json!({"identifiers": null, "ids": null})),
    ] {
        env.sim.push_script(
            ScriptedResponse::new(200)
                .for_operation(op)
                .with_body(body.to_string()),
        );
    }
    assert_eq!(row_count(&env.sql("SELECT * FROM c").await.unwrap()), 0);
    assert_eq!(row_count(&env.sql("SELECT * FROM p").await.unwrap()), 0);
    // An empty page, however its lists are sent.
    env.sim.push_script(
        ScriptedResponse::new(200)
            .for_operation("getPeopleFilter")
            .with_body(json!({"identifiers": [], "ids": [], "next": ""}).to_string()),
    );
    assert_eq!(row_count(&env.sql("SELECT * FROM p").await.unwrap()), 0);
}

/// An export file sent with an encoding the connector cannot read (`br`) fails naming it,
/// rather than being parsed as CSV.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_file_in_an_unreadable_encoding_fails() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = axum::Router::new().route(
        "/f.csv",
        axum::routing::get(|| async {
            (
                [(axum::http::header::CONTENT_ENCODING, "br")],
                "delivery_id,created\nd1,1700000000\n",
            )
        }),
    );
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    fails_loudly(
        "loud_br",
        "downloadExport",
        json!({"url": format!("http://{addr}/f.csv")}),
        "CREATE EXTERNAL TABLE d STORED AS CUSTOMERIO LOCATION 'deliveries_export' \
         OPTIONS (key 'sim_us', campaign_id '1', rate_limit '500')",
        "SELECT delivery_id, created FROM d",
        &["Content-Encoding 'br'", "only gzip"],
    )
    .await;
    server.abort();
}

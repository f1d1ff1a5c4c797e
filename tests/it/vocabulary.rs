//! Issue 12, items 2 and 8: each metric report checks `metric_type`, `period` and `steps` against
//! its own endpoints (the lists read here from the 2026 spec, so they cannot drift), refusing at
//! CREATE with no request; a credential's `base_url` wins over a table's `region`, and a region
//! that contradicts the credential's is refused.

use std::sync::OnceLock;

use customerio_sim::{Region, WorkspaceSpec};
use datafusion::prelude::SessionContext;
use datafusion_customerio::api::period::Period;
use datafusion_customerio::{Credentials, CustomerIo, Report};
use serde_json::Value;

use crate::common::*;

const SPEC_2026: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/spec/customerio-api/journeys-app.2026-excerpt.json"
);

fn spec() -> &'static Value {
    static SPEC: OnceLock<Value> = OnceLock::new();
    SPEC.get_or_init(|| {
        serde_json::from_str(&std::fs::read_to_string(SPEC_2026).expect("2026 excerpt is readable"))
            .expect("2026 excerpt is JSON")
    })
}

/// The query parameter `name` of the operation `operation_id`, `$ref`s resolved.
fn parameter(operation_id: &str, name: &str) -> Option<Value> {
    let spec = spec();
    let op = spec["paths"]
        .as_object()
        .expect("paths")
        .values()
        .flat_map(|item| item.as_object().expect("path item").values())
        .find(|op| op["operationId"] == operation_id)
        .unwrap_or_else(|| panic!("{operation_id} is not in the 2026 excerpt"));
    op["parameters"]
        .as_array()
        .expect("parameters")
        .iter()
        .map(|p| match p["$ref"].as_str() {
            Some(r) => {
                let key = r.rsplit('/').next().expect("ref name");
                spec["components"]["parameters"][key].clone()
            }
            None => p.clone(),
        })
        .find(|p| p["name"] == name)
}

/// The enum of a parameter, as strings.
fn enum_of(operation_id: &str, name: &str) -> Vec<String> {
    let p = parameter(operation_id, name)
        .unwrap_or_else(|| panic!("{operation_id} has no parameter {name}"));
    p["schema"]["enum"]
        .as_array()
        .unwrap_or_else(|| panic!("{operation_id} {name} has no enum: {p}"))
        .iter()
        .map(|v| v.as_str().expect("string enum").to_string())
        .collect()
}

/// The `steps` maximums a v1 operation documents ("Maximums are 24 hours, 45 days, 12 weeks, or
/// 121 months"), by period name.
fn documented_maximums(operation_id: &str) -> Vec<(String, u32)> {
    let p = parameter(operation_id, "steps").expect("steps");
    let text = p["description"].as_str().expect("steps description");
    let from = text
        .find("Maximums are")
        .expect("steps documents its maximums")
        + 12;
    let sentence = &text[from..from + text[from..].find('.').expect("sentence end")];
    let words: Vec<&str> = sentence
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|w| !w.is_empty() && *w != "or")
        .collect();
    let found: Vec<(String, u32)> = words
        .chunks(2)
        .map(|pair| (pair[1].to_string(), pair[0].parse().expect("a number")))
        .collect();
    assert_eq!(found.len(), 4, "{operation_id}: {sentence}");
    found
}

/// The connector's `metric_type`, `period` and `steps` vocabularies equal the 2026 spec's, per
/// report: campaigns read `campaignMetrics` (version 2) and `campaignLinkMetrics` (version 1),
/// newsletters `getNewsletterMetrics` and `getNewsletterLinks` (version 1).
#[test]
fn metric_vocabulary_equals_the_specs_enums() {
    let names = |l: &[&str]| l.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    assert_eq!(
        names(Report::Campaigns.metric_types()),
        enum_of("campaignMetrics", "type")
    );
    assert_eq!(
        names(Report::Newsletters.metric_types()),
        enum_of("getNewsletterMetrics", "type")
    );
    // The link endpoints take no `type`: the channel filter applies to metrics only.
    for op in ["campaignLinkMetrics", "getNewsletterLinks"] {
        assert!(parameter(op, "type").is_none(), "{op} now takes type");
    }
    for report in [
        Report::Customers,
        Report::Segments,
        Report::CustomersExport,
        Report::DeliveriesExport,
    ] {
        assert!(report.metric_types().is_empty(), "{report}");
    }

    // Periods: every v1 endpoint's `period` enum, and campaign metrics' v2 `res` enum, holds
    // exactly the four periods (v2 also has aliases, which the connector never sends).
    let periods: Vec<String> = Period::ALL.iter().map(|p| p.to_string()).collect();
    for op in [
        "campaignLinkMetrics",
        "getNewsletterMetrics",
        "getNewsletterLinks",
    ] {
        assert_eq!(enum_of(op, "period"), periods, "{op}");
    }
    let res = enum_of("campaignMetrics", "res");
    for p in &periods {
        assert!(res.contains(p), "campaignMetrics res lacks {p}: {res:?}");
    }

    // Steps: newsletters are version 1 only, so their maximums are the documented ones.
    let newsletters = documented_maximums("getNewsletterMetrics");
    assert_eq!(documented_maximums("getNewsletterLinks"), newsletters);
    for (name, max) in &newsletters {
        let period: Period = name.parse().expect("a period");
        assert_eq!(Report::Newsletters.max_steps(period), *max, "{name}");
    }
    // Campaigns: link metrics are version 1; metrics are version 2, whose `end` is "limited to
    // N years from `start`", and the connector asks version 2 for `steps + 1` buckets.
    let end = parameter("campaignMetrics", "end").expect("end");
    let text = end["description"].as_str().expect("end description");
    let years: u32 = text
        .split("Limited to ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| {
            panic!("campaignMetrics end no longer says 'Limited to N years': {text}")
        });
    for (name, max) in documented_maximums("campaignLinkMetrics") {
        let period: Period = name.parse().expect("a period");
        let v2_max = match period {
            Period::Months => years * 12 - 1,
            _ => u32::MAX, // 25 hours, 46 days or 13 weeks are far within N years
        };
        assert_eq!(
            Report::Campaigns.max_steps(period),
            max.min(v2_max),
            "{name}"
        );
    }
}

/// The rest of the library's `api` module against the spec: the series keys of a metrics
/// answer (`MetricSeries`), the link metrics, the deliveries export's `metric` enum, the
/// version-2 window's limit and the periods' names.
#[test]
fn api_module_equals_the_spec() {
    use datafusion_customerio::api;
    let spec = spec();
    let series: Vec<&str> = spec
        .pointer("/components/schemas/MetricSeries/properties")
        .and_then(Value::as_object)
        .expect("components.schemas.MetricSeries.properties")
        .keys()
        .map(String::as_str)
        .collect();
    let mut ours = api::SERIES_METRICS.to_vec();
    let mut theirs = series.clone();
    ours.sort_unstable();
    theirs.sort_unstable();
    assert_eq!(ours, theirs, "api::SERIES_METRICS against MetricSeries");
    for m in api::LINK_METRICS {
        assert!(series.contains(&m), "link metric {m} is not a series key");
    }
    let deliveries = spec
        .pointer("/paths/~1v1~1exports~1deliveries/post/requestBody/content/application~1json/schema/oneOf")
        .and_then(Value::as_array)
        .expect("exportDeliveriesData body oneOf")
        .iter()
        .find_map(|s| s.pointer("/properties/metric/enum"))
        .and_then(Value::as_array)
        .expect("exportDeliveriesData metric enum")
        .iter()
        .map(|v| v.as_str().expect("a string").to_string())
        .collect::<Vec<_>>();
    assert_eq!(
        api::DELIVERY_METRICS.map(str::to_string).to_vec(),
        deliveries,
        "api::DELIVERY_METRICS against exportDeliveriesData's metric"
    );
    let end = parameter("campaignMetrics", "end").expect("end");
    let text = end["description"].as_str().expect("end description");
    assert!(
        text.contains(&format!("Limited to {} years", api::V2_MAX_MONTHS / 12)),
        "api::V2_MAX_MONTHS is {} months; the spec says: {text}",
        api::V2_MAX_MONTHS
    );
}

/// `metric_type` is checked against the report's own channels at CREATE: `inbox` on campaigns and
/// `whatsapp` on newsletters are refused with no request and the report's valid list named.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metric_type_is_checked_per_report_at_create() {
    let ws = workspace("vocab_refused", "sim_us", Region::Us);
    let env = Env::start(fast_config(vec![ws])).await;
    let cases = [
        (
            "campaigns",
            "inbox",
            "email, webhook, twilio, whatsapp, slack, push, in_app, live_notification",
            "newsletters",
        ),
        (
            "newsletters",
            "whatsapp",
            "email, webhook, twilio, push, in_app, inbox",
            "campaigns",
        ),
    ];
    for (report, value, valid, other) in cases {
        let sql = format!(
            "CREATE EXTERNAL TABLE t_{report} STORED AS CUSTOMERIO LOCATION '{report}' \
             OPTIONS (key 'sim_us', metric_type '{value}')"
        );
        let err = env.sql(&sql).await.expect_err(&sql).to_string();
        for needle in [
            "metric_type",
            &format!("'{value}'"),
            &format!("report {report}"),
            &format!("valid values are {valid}"),
            &format!("channel of report {other} only"),
        ] {
            assert!(err.contains(needle), "{sql}\n  '{err}' lacks '{needle}'");
        }
    }
    // A near miss keeps the "did you mean" hint, from the report's own list.
    let err = env
        .sql(
            "CREATE EXTERNAL TABLE t_near STORED AS CUSTOMERIO LOCATION 'newsletters' \
             OPTIONS (key 'sim_us', metric_type 'inbx')",
        )
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("did you mean 'inbox'"), "{err}");
    assert_eq!(env.total_requests(), 0, "{:?}", env.sim.stats());
}

/// `live_notification` on campaigns and `inbox` on newsletters are accepted and sent as `type`:
/// the table's sums equal the simulator's own answers for that `type`, and differ from the
/// unfiltered ones (so the filter reached the API).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn report_specific_channels_are_accepted_and_sent() {
    let ws = WorkspaceSpec {
        campaigns: 6,
        newsletters: 20,
        ..workspace("vocab_sent", "sim_us", Region::Us)
    };
    let env = Env::start(fast_config(vec![ws.clone()])).await;
    let cases = [
        ("campaigns", "campaign_id", "live_notification"),
        ("newsletters", "newsletter_id", "inbox"),
    ];
    for (report, id_column, channel) in cases {
        env.sql(&format!(
            "CREATE EXTERNAL TABLE t_{report} STORED AS CUSTOMERIO LOCATION '{report}' \
             OPTIONS (key 'sim_us', rate_limit '500', period 'weeks', steps '3', \
             metric_type '{channel}')"
        ))
        .await
        .unwrap();
        let batches = env
            .sql(&format!(
                "SELECT {id_column}, SUM(sent), MIN(metric_type), COUNT(*) FROM t_{report} \
                 GROUP BY 1 ORDER BY 1"
            ))
            .await
            .unwrap();
        let text = pretty(&batches);
        assert!(text.contains(channel), "{text}");
        let (ids, sums) = (i64_column(&batches, 0), i64_column(&batches, 1));
        assert!(!ids.is_empty(), "{report}: no rows");
        let (mut differs, mut total_all) = (false, 0);
        for (id, sum) in ids.iter().zip(&sums) {
            let id = id.expect("an id");
            // The simulator's version-1 answer for the same four weeks, with and without `type`.
            let path = format!("/v1/{report}/{id}/metrics?period=weeks&steps=3");
            let series = |v: Value| -> i64 {
                v["metric"]["series"]["sent"]
                    .as_array()
                    .unwrap_or_else(|| panic!("{path}: {v}"))
                    .iter()
                    .map(|x| x.as_i64().expect("a count"))
                    .sum()
            };
            let filtered = series(env.api(&ws, &format!("{path}&type={channel}")).await);
            let all = series(env.api(&ws, &path).await);
            assert_eq!(*sum, Some(filtered), "{report} {id}");
            differs |= filtered != all;
            total_all += all;
        }
        assert!(
            differs && total_all > 0,
            "{report}: metric_type '{channel}' filtered nothing out, the comparison proves nothing"
        );
    }
}

/// `steps` is checked against the report's own endpoints: newsletters (version 1 only) take the
/// 2026 maximum of 121 months; campaigns stop at 119, so that version 2's `steps + 1` months fit
/// its ten years, and the simulator (which enforces the ten years) serves 119.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn steps_are_checked_per_report() {
    let ws = WorkspaceSpec {
        campaigns: 2,
        newsletters: 2,
        ..workspace("vocab_steps", "sim_us", Region::Us)
    };
    let env = Env::start(fast_config(vec![ws.clone()])).await;
    let err = env
        .sql(
            "CREATE EXTERNAL TABLE c120 STORED AS CUSTOMERIO LOCATION 'campaigns' \
             OPTIONS (key 'sim_us', period 'months', steps '120')",
        )
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("'120'") && err.contains("1 to 119") && err.contains("report campaigns"),
        "{err}"
    );
    assert_eq!(env.total_requests(), 0, "{:?}", env.sim.stats());

    for (report, steps) in [("campaigns", 119), ("newsletters", 121)] {
        env.sql(&format!(
            "CREATE EXTERNAL TABLE t_{report} STORED AS CUSTOMERIO LOCATION '{report}' \
             OPTIONS (key 'sim_us', rate_limit '500', period 'months', steps '{steps}')"
        ))
        .await
        .unwrap();
        let batches = env
            .sql(&format!("SELECT COUNT(*) FROM t_{report}"))
            .await
            .unwrap_or_else(|e| panic!("{report} steps {steps}: {e}"));
        assert_eq!(
            i64_column(&batches, 0),
            vec![Some(2 * (steps + 1))],
            "{report}"
        );
    }
}

/// A credentials file: `[acme]` with the EU workspace's key, region `eu` and the simulator's EU
/// host as `base_url` (standing for a proxy in front of the EU region).
fn eu_credentials(env: &Env, ws: &WorkspaceSpec, dir: &std::path::Path) -> std::path::PathBuf {
    let path = dir.join("credentials.toml");
    std::fs::write(
        &path,
        format!(
            "[acme]\napi_key = \"{}\"\nregion = \"eu\"\nbase_url = \"{}\"\n",
            ws.api_key,
            env.sim.eu_url()
        ),
    )
    .unwrap();
    path
}

/// `OPTIONS (key 'acme', region 'eu')` with an EU credential that has a `base_url` reads from
/// that `base_url` (not the public EU host); a table region contradicting the credential's is
/// refused at CREATE naming both regions and the key's name, never the key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credential_base_url_wins_over_an_agreeing_region() {
    let ws = workspace("precedence", "ws_eu", Region::Eu);
    let env = Env::start(fast_config(vec![ws.clone()])).await;
    let dir = crate::cli_support::scratch("precedence");
    let cio = CustomerIo::with_credentials(Credentials::with_file(eu_credentials(&env, &ws, &dir)))
        .with_clock(env.clock.clone());
    let ctx = SessionContext::new();
    cio.register(&ctx);

    // One attempt and a short timeout: if the key went to the public host, fail fast.
    ctx.sql(
        "CREATE EXTERNAL TABLE s STORED AS CUSTOMERIO LOCATION 'segments' \
         OPTIONS (key 'acme', region 'eu', max_attempts '1', request_timeout '5s')",
    )
    .await
    .unwrap();
    let batches = ctx
        .sql("SELECT COUNT(*) FROM s")
        .await
        .unwrap()
        .collect()
        .await
        .expect("the EU credential's base_url answers");
    assert!(i64_column(&batches, 0)[0].unwrap() > 0);
    assert_eq!(env.requests("listSegments"), 1, "{:?}", env.sim.stats());
    assert_eq!(env.sim.stats().by_workspace.get("ws_eu"), Some(&1));

    // A contradicting region: refused at CREATE, no request.
    let created = ctx
        .sql(
            "CREATE EXTERNAL TABLE s_us STORED AS CUSTOMERIO LOCATION 'segments' \
             OPTIONS (key 'acme', region 'us')",
        )
        .await;
    let Err(err) = created.map(|_| ()) else {
        panic!("a table region contradicting the credential's is accepted")
    };
    let err = err.to_string();
    for needle in ["region", "'us'", "'eu'", "credential 'acme'"] {
        assert!(err.contains(needle), "'{err}' lacks '{needle}'");
    }
    assert!(!err.contains(&ws.api_key), "{err}");
    assert_eq!(env.total_requests(), 1, "{:?}", env.sim.stats());
}

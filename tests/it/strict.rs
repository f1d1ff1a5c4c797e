//! The strict simulator: every `/v1` request is checked against its vendor contract (the spec files
//! under `spec/`) and refused with a 400 `errors[]` body naming the parameter; `strict: false`
//! (`cio-sim --lenient`) lets the same requests through to the handlers.
//!
//! Expected values here come from the vendor material (the lists are the 2026 spec's), not
//! from the simulator's code.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::simulator::{Reply, get, post, send, start, test_config};
use customerio_sim::SimConfig;

const US: &str = "sim-us-key";

/// 2025-01-01T00:00Z and a day later.
const JAN1: i64 = 1_735_689_600;
const DAY: i64 = 86_400;

fn lenient() -> SimConfig {
    SimConfig {
        strict: false,
        ..test_config()
    }
}

fn v2(extra: &str) -> String {
    format!(
        "/v1/campaigns/1/metrics?version=2&res=days&start={JAN1}&end={}{extra}",
        JAN1 + DAY
    )
}

/// The single `errors[]` entry of a 400, checked for the vendor shape.
fn refusal(r: &Reply, what: &str) -> Value {
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{what}: {}", r.body);
    let errors = r.body["errors"].as_array().expect("an errors[] body");
    assert_eq!(errors.len(), 1, "{what}: {}", r.body);
    assert_eq!(errors[0]["status"], "400", "{what}");
    errors[0].clone()
}

fn detail(e: &Value) -> &str {
    e["detail"].as_str().unwrap_or_default()
}

#[tokio::test]
async fn strict_refuses_inbox_on_campaign_metrics_naming_the_parameter() {
    let sim = start(test_config()).await;
    let us = sim.us_url();
    let e = refusal(&get(&us, &v2("&type=inbox"), US).await, "type=inbox");
    assert_eq!(e["source"], json!({"parameter": "type"}));
    assert_eq!(
        e["meta"]["contract"],
        "spec/customerio-api/journeys-app.2026-excerpt.json"
    );
    for word in [
        "type",
        "'inbox'",
        "campaignMetrics",
        "live_notification",
        "whatsapp",
    ] {
        assert!(detail(&e).contains(word), "{word}: {}", detail(&e));
    }
    // The 2026 campaignMetrics list: live_notification is valid there (and inbox is not).
    let ok = get(&us, &v2("&type=live_notification"), US).await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.body);
    // v1 too: the enum is the parameter's, not the version's.
    let v1 = get(&us, "/v1/campaigns/1/metrics?period=days&type=inbox", US).await;
    assert_eq!(refusal(&v1, "v1 inbox")["source"]["parameter"], "type");
}

#[tokio::test]
async fn strict_refuses_unknown_query_parameters() {
    let sim = start(test_config()).await;
    let us = sim.us_url();
    let e = refusal(&get(&us, "/v1/campaigns?bogus=1", US).await, "bogus");
    assert_eq!(e["source"], json!({"parameter": "bogus"}));
    assert_eq!(e["meta"]["contract"], "spec/journeys-app.2026-ops.json");
    assert!(detail(&e).contains("'bogus'"), "{}", detail(&e));
    assert!(detail(&e).contains("no query parameters"), "{}", detail(&e));
    // An operation with parameters lists them.
    let e = refusal(
        &get(&us, "/v1/newsletters?limit=10&page=2", US).await,
        "page",
    );
    assert_eq!(e["source"]["parameter"], "page");
    for word in ["limit", "sort", "start"] {
        assert!(detail(&e).contains(word), "{word}: {}", detail(&e));
    }
    // A parameter of another operation is unknown here: `unique` is a links parameter.
    let e = refusal(
        &get(&us, "/v1/newsletters/1/metrics?unique=true", US).await,
        "unique",
    );
    assert_eq!(e["source"]["parameter"], "unique");
    assert_eq!(
        get(&us, "/v1/newsletters/1/metrics/links?unique=true", US)
            .await
            .status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn strict_refuses_bad_enum_values() {
    let sim = start(test_config()).await;
    let us = sim.us_url();
    for (path, param, value) in [
        // The 2026 getNewsletterMetrics list has no whatsapp.
        (
            "/v1/newsletters/1/metrics?type=whatsapp",
            "type",
            "whatsapp",
        ),
        (
            "/v1/newsletters/1/metrics?period=fortnights",
            "period",
            "fortnights",
        ),
        (
            "/v1/campaigns/1/metrics/links?period=years",
            "period",
            "years",
        ),
        ("/v1/newsletters?sort=sideways", "sort", "sideways"),
        (
            "/v1/customers/1/attributes?id_type=phone_number",
            "id_type",
            "phone_number",
        ),
    ] {
        let e = refusal(&get(&us, path, US).await, path);
        assert_eq!(e["source"]["parameter"], param, "{path}");
        assert!(detail(&e).contains(value), "{path}: {}", detail(&e));
        assert!(
            detail(&e).contains("valid values are"),
            "{path}: {}",
            detail(&e)
        );
    }
    let e = refusal(
        &get(&us, &v2("").replace("res=days", "res=yearly"), US).await,
        "res",
    );
    assert_eq!(e["source"]["parameter"], "res");
    // Newsletters have inbox.
    let ok = get(&us, "/v1/newsletters/1/metrics?type=inbox", US).await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.body);
}

#[tokio::test]
async fn strict_refuses_wrong_types() {
    let sim = start(test_config()).await;
    let us = sim.us_url();
    let start_soon = format!(
        "/v1/campaigns/1/metrics?version=2&res=days&start=soon&end={}",
        JAN1 + DAY
    );
    for (path, param, value) in [
        (start_soon.as_str(), "start", "soon"),
        (
            "/v1/campaigns/1/metrics?period=days&steps=ten",
            "steps",
            "ten",
        ),
        ("/v1/campaigns/1/metrics/links?unique=yes", "unique", "yes"),
        ("/v1/newsletters?limit=many", "limit", "many"),
        // Path parameters: the contracts' ids are integers.
        ("/v1/campaigns/abc/metrics", "campaign_id", "abc"),
        ("/v1/newsletters/1.5", "newsletter_id", "1.5"),
        ("/v1/exports/x", "export_id", "x"),
    ] {
        let e = refusal(&get(&us, path, US).await, path);
        assert_eq!(e["source"]["parameter"], param, "{path}");
        assert!(
            detail(&e).contains(&format!("'{value}'")),
            "{path}: {}",
            detail(&e)
        );
    }
    // The 2026 getPeopleFilter limit has maximum 1000.
    let all =
        json!({"filter": {"and": [{"attribute": {"field": "cio_id", "operator": "exists"}}]}});
    let e = refusal(
        &post(&us, "/v1/customers?limit=1001", US, all.clone()).await,
        "limit",
    );
    assert_eq!(e["source"]["parameter"], "limit");
    assert!(detail(&e).contains("1000"), "{}", detail(&e));
    assert_eq!(
        post(&us, "/v1/customers?limit=1000", US, all).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn strict_refuses_missing_required_parameters_with_version_2_only() {
    let sim = start(test_config()).await;
    let us = sim.us_url();
    for missing in ["res", "start", "end"] {
        let mut q = vec![
            "version=2".to_string(),
            "res=days".into(),
            format!("start={JAN1}"),
            format!("end={}", JAN1 + DAY),
        ];
        q.retain(|p| !p.starts_with(&format!("{missing}=")));
        let path = format!("/v1/campaigns/1/metrics?{}", q.join("&"));
        let e = refusal(&get(&us, &path, US).await, &path);
        assert_eq!(e["source"]["parameter"], missing);
        assert!(detail(&e).contains("required"), "{}", detail(&e));
        assert!(detail(&e).contains("version=2"), "{}", detail(&e));
    }
    // The spec: "Any other value, including leaving the parameter off, uses version 1", where
    // res/start/end are not needed.
    for q in [
        "period=days&steps=3",
        "version=1&period=days",
        "version=3&period=weeks",
    ] {
        let r = get(&us, &format!("/v1/campaigns/1/metrics?{q}"), US).await;
        assert_eq!(r.status, StatusCode::OK, "{q}: {}", r.body);
    }
}

#[tokio::test]
async fn strict_refuses_bad_json_bodies() {
    let sim = start(test_config()).await;
    let us = sim.us_url();
    let many: Vec<String> = (1..=101).map(|i| i.to_string()).collect();
    for (path, body, pointer, word) in [
        (
            "/v1/customers/attributes",
            json!({"ids": []}),
            "/ids",
            "at least 1",
        ),
        (
            "/v1/customers/attributes",
            json!({ "ids": many }),
            "/ids",
            "at most 100",
        ),
        (
            "/v1/customers/attributes",
            json!({"ids": [1, 2]}),
            "/ids/0",
            "string",
        ),
        (
            "/v1/customers/attributes",
            json!({"cio_ids": ["1"]}),
            "",
            "'ids'",
        ),
        ("/v1/customers", json!({"filters": {}}), "", "'filter'"),
        (
            "/v1/exports/customers",
            json!({"filter": {}}),
            "",
            "'filters'",
        ),
        (
            "/v1/exports/deliveries",
            json!({"campaign_id": 1, "newsletter_id": 2}),
            "",
            "more than one",
        ),
        ("/v1/exports/deliveries", json!({"start": 1}), "", "none of"),
        (
            "/v1/exports/deliveries",
            json!({"campaign_id": 1, "metric": "read"}),
            "/metric",
            "undeliverable",
        ),
        (
            "/v1/exports/deliveries",
            json!({"campaign_id": "1"}),
            "/campaign_id",
            "integer",
        ),
    ] {
        let what = format!("{path} {body}");
        let e = refusal(&post(&us, path, US, body).await, &what);
        assert_eq!(e["source"], json!({ "pointer": pointer }), "{what}");
        assert!(detail(&e).contains(word), "{what}: {}", detail(&e));
    }
    let raw = send(
        crate::simulator::client()
            .post(format!("{us}/v1/customers/attributes"))
            .bearer_auth(US)
            .header("content-type", "application/json")
            .body("{\"ids\": [\"1\""),
    )
    .await;
    let e = refusal(&raw, "truncated JSON");
    assert!(detail(&e).contains("not valid JSON"), "{}", detail(&e));
    // Valid bodies still reach the handlers (their own answer, here 200).
    let ok = post(&us, "/v1/customers/attributes", US, json!({"ids": ["1"]})).await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.body);
}

#[tokio::test]
async fn lenient_simulator_lets_the_same_requests_through() {
    let strict = start(test_config()).await;
    let lenient = start(lenient()).await;
    let ids: Vec<String> = (1..=101).map(|i| i.to_string()).collect();
    // (request, whether the lenient handler answers it 200)
    let gets = [
        ("/v1/campaigns?bogus=1".to_string(), true),
        // The metrics handlers keep their own per-operation channel check (from the spec).
        (v2("&type=inbox"), false),
        ("/v1/newsletters/1/metrics?type=whatsapp".into(), false),
        ("/v1/newsletters/1/metrics?unique=true".into(), true),
        // The handler has its own check for a v2 window without start/end.
        ("/v1/campaigns/1/metrics?version=2&res=days".into(), false),
    ];
    for (path, handler_ok) in &gets {
        let s = get(&strict.us_url(), path, US).await;
        assert_eq!(s.status, StatusCode::BAD_REQUEST, "strict {path}");
        assert!(s.body["errors"][0].get("source").is_some(), "strict {path}");
        let l = get(&lenient.us_url(), path, US).await;
        // Lenient: the handler answers, never the contract's refusal (which carries `source`).
        assert!(
            l.body["errors"][0].get("source").is_none(),
            "lenient {path}: {}",
            l.body
        );
        if *handler_ok {
            assert_eq!(l.status, StatusCode::OK, "lenient {path}: {}", l.body);
        }
    }
    // getPeopleFilter's limit above the contract's maximum: refused, or clamped by the handler.
    let all =
        json!({"filter": {"and": [{"attribute": {"field": "cio_id", "operator": "exists"}}]}});
    let s = post(
        &strict.us_url(),
        "/v1/customers?limit=4000",
        US,
        all.clone(),
    )
    .await;
    assert_eq!(s.status, StatusCode::BAD_REQUEST);
    let l = post(&lenient.us_url(), "/v1/customers?limit=4000", US, all).await;
    assert_eq!(
        l.body["ids"].as_array().map(Vec::len),
        Some(1000),
        "{}",
        l.body
    );
    let body = json!({ "ids": ids });
    let s = post(
        &strict.us_url(),
        "/v1/customers/attributes",
        US,
        body.clone(),
    )
    .await;
    assert_eq!(s.status, StatusCode::BAD_REQUEST);
    let l = post(&lenient.us_url(), "/v1/customers/attributes", US, body).await;
    assert!(l.body["errors"][0].get("source").is_none(), "{}", l.body);
}

#[tokio::test]
async fn auth_comes_before_validation_and_refusals_are_counted() {
    let sim = start(test_config()).await;
    let us = sim.us_url();
    let r = get(&us, "/v1/campaigns?bogus=1", "not-a-key").await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        get(&us, "/v1/campaigns?bogus=1", US).await.status,
        StatusCode::BAD_REQUEST
    );
    let stats = sim.stats();
    assert_eq!(stats.requests["listCampaigns"], 2);
    assert_eq!(stats.statuses["400"], 1);
    assert_eq!(stats.statuses["401"], 1);
    assert_eq!(stats.by_workspace["sim_us"], 1);
}

#[tokio::test]
async fn strict_refuses_repeated_parameters_and_handlers_read_the_first() {
    let strict = start(test_config()).await;
    let us = strict.us_url();
    // `version=2&version=1` and `version=2&version=` were read one way by the validator (any `2`)
    // and another by the handler (the last value); Go's `Query().Get` takes the first.
    for (path, name) in [
        (v2("&version=1"), "version"),
        (v2("&version="), "version"),
        ("/v1/newsletters?limit=10&limit=20".to_string(), "limit"),
        (v2("&type=email&type=inbox"), "type"),
    ] {
        let e = refusal(&get(&us, &path, US).await, &path);
        assert_eq!(e["source"], json!({ "parameter": name }), "{path}");
        assert!(detail(&e).contains("repeated"), "{path}: {}", detail(&e));
    }
    // Lenient: the handler takes the first value. A version-2 window without start/end is the
    // handler's own 400; version 1 ignores `res`.
    let lenient = start(lenient()).await;
    let first_v2 = get(
        &lenient.us_url(),
        "/v1/campaigns/1/metrics?version=2&version=1&res=days",
        US,
    )
    .await;
    assert_eq!(
        first_v2.status,
        StatusCode::BAD_REQUEST,
        "{}",
        first_v2.body
    );
    let first_v1 = get(
        &lenient.us_url(),
        "/v1/campaigns/1/metrics?version=1&version=2&res=days",
        US,
    )
    .await;
    assert_eq!(first_v1.status, StatusCode::OK, "{}", first_v1.body);
}

//! The simulator over real loopback HTTP: auth, rate limit, metric windows, pagination,
//! determinism, stats and faults.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use customerio_sim::clock::FixedClock;
use customerio_sim::{
    FaultConfig, ScriptKind, ScriptedResponse, SimConfig, Simulator, StepsMode, WorkspaceSpec,
};
use datafusion_customerio::api::period::{EASTERN, Period};
use reqwest::StatusCode;
use serde_json::{Value, json};

/// "Now" for time-dependent tests: a Thursday in November 2026.
pub(crate) const NOW: &str = "2026-11-26T18:00:00Z";

pub(crate) fn utc(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

/// The default dataset at a fixed time, with a rate limit tests do not hit.
pub(crate) fn test_config() -> SimConfig {
    SimConfig {
        rate_limit: 10_000.0,
        clock: Arc::new(FixedClock::new(utc(NOW))),
        ..SimConfig::default()
    }
}

pub(crate) async fn start(config: SimConfig) -> Simulator {
    Simulator::start(config).await.expect("simulator starts")
}

/// A reply: status, headers and the body parsed as JSON (`Value::Null` if it is not JSON).
pub(crate) struct Reply {
    pub(crate) status: StatusCode,
    pub(crate) headers: reqwest::header::HeaderMap,
    pub(crate) body: Value,
}

pub(crate) async fn send(req: reqwest::RequestBuilder) -> Reply {
    let resp = req.send().await.expect("request is answered");
    let status = resp.status();
    let headers = resp.headers().clone();
    let text = resp.text().await.expect("body is read");
    let body = serde_json::from_str(&text).unwrap_or(Value::Null);
    Reply {
        status,
        headers,
        body,
    }
}

/// One client for every request of the tests (building one per request is slow). It keeps no
/// idle connections: each test has its own runtime, and a pooled connection must not outlive it.
pub(crate) fn client() -> reqwest::Client {
    static CLIENT: std::sync::OnceLock<reqwest::Client> = std::sync::OnceLock::new();
    CLIENT
        .get_or_init(|| {
            reqwest::Client::builder()
                .pool_max_idle_per_host(0)
                .build()
                .expect("the test HTTP client builds")
        })
        .clone()
}

pub(crate) async fn get(base: &str, path: &str, key: &str) -> Reply {
    send(client().get(format!("{base}{path}")).bearer_auth(key)).await
}

pub(crate) async fn post(base: &str, path: &str, key: &str, body: Value) -> Reply {
    send(
        client()
            .post(format!("{base}{path}"))
            .bearer_auth(key)
            .json(&body),
    )
    .await
}

fn detail(r: &Reply) -> &str {
    r.body["errors"][0]["detail"].as_str().unwrap_or_default()
}

fn series_len(r: &Reply, key: &str) -> usize {
    r.body["metric"]["series"][key]
        .as_array()
        .map_or(0, Vec::len)
}

fn config_with(ws: WorkspaceSpec) -> SimConfig {
    SimConfig {
        workspaces: vec![ws],
        ..test_config()
    }
}

const US: &str = "sim-us-key";
const EU: &str = "sim-eu-key";

#[tokio::test]
async fn auth_rejects_missing_wrong_and_other_region_keys() {
    let sim = start(test_config()).await;
    let (us, eu) = (sim.us_url(), sim.eu_url());
    let unauthorized = json!({"errors": [{"detail": "unauthorized", "status": "401"}]});
    let none = send(client().get(format!("{us}/v1/campaigns"))).await;
    assert_eq!(
        (none.status, &none.body),
        (StatusCode::UNAUTHORIZED, &unauthorized)
    );
    for (base, key) in [(&us, "nope"), (&us, EU), (&eu, US)] {
        let r = get(base, "/v1/campaigns", key).await;
        assert_eq!(
            (r.status, &r.body),
            (StatusCode::UNAUTHORIZED, &unauthorized),
            "{base} {key}"
        );
    }
    assert_eq!(get(&us, "/v1/campaigns", US).await.status, StatusCode::OK);
    assert_eq!(get(&eu, "/v1/campaigns", EU).await.status, StatusCode::OK);
    let stats = sim.stats();
    assert_eq!(stats.statuses["401"], 4);
    assert_eq!(stats.by_workspace["sim_us"], 1);
    assert_eq!(stats.requests["listCampaigns"], 6);
}

#[tokio::test]
async fn rate_limit_answers_429_with_retry_after_per_workspace() {
    let sim = start(SimConfig {
        rate_limit: 0.5,
        burst: Some(3),
        ..test_config()
    })
    .await;
    let mut statuses = Vec::new();
    let mut limited = None;
    for _ in 0..5 {
        let r = get(&sim.us_url(), "/v1/segments", US).await;
        statuses.push(r.status.as_u16());
        if r.status == StatusCode::TOO_MANY_REQUESTS {
            limited = Some(r);
        }
    }
    assert_eq!(statuses, [200, 200, 200, 429, 429]);
    let r = limited.unwrap();
    assert_eq!(r.headers["retry-after"], "1");
    assert_eq!(r.body["errors"][0]["status"], "429");
    let d = detail(&r);
    assert!(
        d.starts_with("rate limited to 0.5 requests per 1s (reference "),
        "{d}"
    );
    let reference = d.trim_end_matches(')').rsplit(' ').next().unwrap();
    assert_eq!(reference.len(), 6);
    assert!(reference.chars().all(|c| c.is_ascii_hexdigit()));
    // The other workspace has its own bucket.
    assert_eq!(
        get(&sim.eu_url(), "/v1/segments", EU).await.status,
        StatusCode::OK
    );
    assert_eq!(sim.stats().rate_limited, 2);
}

#[tokio::test]
async fn default_rate_limit_text_uses_ten() {
    let sim = start(SimConfig {
        rate_limit: 10.0,
        burst: Some(1),
        ..test_config()
    })
    .await;
    let us = sim.us_url();
    // Five requests at once against a bucket of one.
    let replies = futures::future::join_all((0..5).map(|_| get(&us, "/v1/segments", US))).await;
    let limited: Vec<&Reply> = replies
        .iter()
        .filter(|r| r.status == StatusCode::TOO_MANY_REQUESTS)
        .collect();
    assert!(limited.len() >= 3, "{}", limited.len());
    assert!(detail(limited[0]).starts_with("rate limited to 10 requests per 1s (reference "));
}

#[tokio::test]
async fn v1_series_have_steps_plus_one_buckets() {
    let sim = start(test_config()).await;
    let us = sim.us_url();
    // (period, default steps, maximum steps) as the 2026 spec states them: "Defaults to the
    // maximum available, or 12 if the period is in months. Maximums are 24 hours, 45 days, 12
    // weeks, or 121 months."
    for (p, default, max) in [
        ("hours", 24, 24),
        ("days", 45, 45),
        ("weeks", 12, 12),
        ("months", 12, 121),
    ] {
        for (steps, expected) in [
            (Some(1), 2),
            (Some(3), 4),
            (None, default + 1),
            (Some(0), max + 1),
            (Some(1000), max + 1),
            (Some(-5), max + 1),
        ] {
            let q = match steps {
                Some(s) => format!("period={p}&steps={s}"),
                None => format!("period={p}"),
            };
            for path in ["/v1/campaigns/2/metrics", "/v1/newsletters/2/metrics"] {
                let r = get(&us, &format!("{path}?{q}"), US).await;
                assert_eq!(r.status, StatusCode::OK, "{path}?{q}: {}", r.body);
                let series = r.body["metric"]["series"].as_object().unwrap();
                assert_eq!(series.len(), 26);
                assert!(
                    series
                        .values()
                        .all(|v| v.as_array().unwrap().len() == expected),
                    "{path}?{q}"
                );
                assert!(r.body.get("start").is_none() && r.body.get("res").is_none());
            }
            for path in [
                "/v1/campaigns/2/metrics/links",
                "/v1/newsletters/2/metrics/links",
            ] {
                let r = get(&us, &format!("{path}?{q}&unique=true"), US).await;
                let links = r.body["links"].as_array().unwrap();
                assert_eq!(links.len(), 3);
                for l in links {
                    for k in ["clicked", "human_clicked", "machine_clicked"] {
                        assert_eq!(l["metric"]["series"][k].as_array().unwrap().len(), expected);
                    }
                }
            }
        }
    }
    // Default period is days.
    let r = get(&us, "/v1/campaigns/2/metrics", US).await;
    assert_eq!(series_len(&r, "sent"), 46);
}

#[tokio::test]
async fn reject_mode_answers_400_for_out_of_range_steps() {
    let sim = start(SimConfig {
        steps_out_of_range: StepsMode::Reject,
        ..test_config()
    })
    .await;
    for q in [
        "period=days&steps=46",
        "period=hours&steps=-1",
        "period=months&steps=500",
    ] {
        for path in [
            "/v1/campaigns/1/metrics",
            "/v1/campaigns/1/metrics/links",
            "/v1/newsletters/1/metrics",
            "/v1/newsletters/1/metrics/links",
        ] {
            let r = get(&sim.us_url(), &format!("{path}?{q}"), US).await;
            assert_eq!(r.status, StatusCode::BAD_REQUEST, "{path}?{q}");
            assert_eq!(r.body["errors"][0]["status"], "400");
            assert!(detail(&r).contains("steps"), "{}", detail(&r));
        }
    }
    let ok = get(
        &sim.us_url(),
        "/v1/campaigns/1/metrics?period=days&steps=0",
        US,
    )
    .await;
    assert_eq!(series_len(&ok, "sent"), 46);
}

#[tokio::test]
async fn v2_bucket_counts_and_header() {
    let sim = start(test_config()).await;
    let us = sim.us_url();
    // 2025-01-01T08:00Z .. 2025-01-02T08:00Z: the vendor example.
    let r = get(
        &us,
        "/v1/campaigns/1/metrics?version=2&res=days&start=1735718400&end=1735804800",
        US,
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["start"], "2025-01-01 00:00:00 +0000 UTC");
    assert_eq!(r.body["end"], "2025-01-02 00:00:00 +0000 UTC");
    assert_eq!(r.body["res"], "days");
    assert_eq!(series_len(&r, "sent"), 2);
    let day = 86_400;
    let jan1 = 1_735_689_600; // 2025-01-01T00:00Z
    for (res, start, end, tz, expected) in [
        ("hours", jan1, jan1 + 6 * 3600, "UTC", 6),
        ("hourly", jan1 + 1800, jan1 + 6 * 3600, "UTC", 6),
        ("daily", jan1, jan1 + 10 * day, "UTC", 10),
        ("weeks", jan1, jan1 + 28 * day, "UTC", 5), // Sunday 2024-12-29 .. 2025-01-26
        ("months", jan1, jan1 + 365 * day, "UTC", 12),
        ("monthly", jan1, jan1 + 365 * day, "America/New_York", 13),
        ("days", jan1, jan1, "UTC", 1),
    ] {
        let q = format!("version=2&res={res}&start={start}&end={end}&tz={tz}");
        let r = get(&us, &format!("/v1/campaigns/1/metrics?{q}"), US).await;
        assert_eq!(r.status, StatusCode::OK, "{q}: {}", r.body);
        assert_eq!(series_len(&r, "sent"), expected, "{q}");
        assert_eq!(r.body["res"], res);
    }
    let ny = get(
        &us,
        &format!(
            "/v1/campaigns/1/metrics?version=2&res=days&start={jan1}&end={}&tz=America/New_York",
            jan1 + day
        ),
        US,
    )
    .await;
    assert_eq!(ny.body["start"], "2024-12-31 00:00:00 -0500 EST");
    for bad in [
        "version=2&start=1&end=2",
        "version=2&res=days&end=2",
        "version=2&res=days&start=1",
        "version=2&res=days&start=x&end=2",
        "version=2&res=yearly&start=1&end=2",
        "version=2&res=days&start=100&end=50",
        "version=2&res=days&start=0&end=400000000",
        "version=2&res=days&start=0&end=2&tz=Nowhere/City",
        "type=carrier_pigeon",
    ] {
        let r = get(&us, &format!("/v1/campaigns/1/metrics?{bad}"), US).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{bad}");
        assert!(!detail(&r).is_empty());
    }
}

/// The `type` filter takes each operation's channels from the 2026 spec, not one list for both:
/// `campaignMetrics` allows `email, webhook, twilio, whatsapp, slack, push, in_app,
/// live_notification`, `getNewsletterMetrics` allows `email, webhook, twilio, push, in_app, inbox`.
#[tokio::test]
async fn metric_type_channels_are_per_operation() {
    let sim = start(test_config()).await;
    let us = sim.us_url();
    let v1 = "period=days&steps=2";
    let v2 = "version=2&res=days&start=1735718400&end=1735804800";
    let campaign_ok: &[&str] = &["live_notification", "whatsapp", "slack", "email"];
    let campaign_refused: &[&str] = &["inbox", "urban_airship"];
    let newsletter_ok: &[&str] = &["inbox", "in_app", "webhook", "email"];
    let newsletter_refused: &[&str] = &["whatsapp", "slack", "live_notification"];
    for (path, ok, refused) in [
        (
            format!("/v1/campaigns/1/metrics?{v1}"),
            campaign_ok,
            campaign_refused,
        ),
        (
            format!("/v1/campaigns/1/metrics?{v2}"),
            campaign_ok,
            campaign_refused,
        ),
        (
            format!("/v1/newsletters/1/metrics?{v1}"),
            newsletter_ok,
            newsletter_refused,
        ),
    ] {
        for channel in ok {
            let r = get(&us, &format!("{path}&type={channel}"), US).await;
            assert_eq!(r.status, StatusCode::OK, "{path} {channel}: {}", r.body);
        }
        for channel in refused {
            let r = get(&us, &format!("{path}&type={channel}"), US).await;
            assert_eq!(r.status, StatusCode::BAD_REQUEST, "{path} {channel}");
            let d = detail(&r);
            assert!(d.contains("type") && d.contains(channel), "{path}: {d}");
        }
    }
}

#[tokio::test]
async fn v1_and_v2_agree_on_shared_buckets() {
    let sim = start(test_config()).await;
    let us = sim.us_url();
    let now = utc(NOW);
    let mut compared = 0;
    for id in 1..=12 {
        for (period, steps) in [
            (Period::Hours, 24),
            (Period::Days, 45),
            (Period::Weeks, 12),
            (Period::Months, 40),
        ] {
            let p = period.as_str();
            let v1 = get(
                &us,
                &format!("/v1/campaigns/{id}/metrics?period={p}&steps={steps}"),
                US,
            )
            .await;
            let first = period.v1_buckets(steps, now)[0];
            assert_eq!(first, period.floor(first, EASTERN));
            // `end` just after now, so the current (partial) bucket is included as in v1.
            let q = format!(
                "version=2&res={p}&start={}&end={}&tz=America/New_York",
                first.timestamp(),
                now.timestamp() + 1
            );
            let v2 = get(&us, &format!("/v1/campaigns/{id}/metrics?{q}"), US).await;
            assert_eq!(v1.body["metric"], v2.body["metric"], "campaign {id} {p}");
            compared += v1.body["metric"]["series"]["sent"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_u64().unwrap())
                .sum::<u64>();
            // And again: values never change between calls.
            let again = get(&us, &format!("/v1/campaigns/{id}/metrics?{q}"), US).await;
            assert_eq!(v2.body, again.body);
        }
    }
    assert!(compared > 0, "the compared buckets must not all be zero");
}

#[tokio::test]
async fn metrics_are_plausible_and_type_filtered() {
    let sim = start(test_config()).await;
    let us = sim.us_url();
    let campaigns = get(&us, "/v1/campaigns", US).await;
    let mut total_sent = 0;
    for c in campaigns.body["campaigns"].as_array().unwrap() {
        let id = &c["id"];
        let r = get(
            &us,
            &format!("/v1/campaigns/{id}/metrics?period=months&steps=40"),
            US,
        )
        .await;
        let s = &r.body["metric"]["series"];
        let col = |k: &str| {
            s[k].as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_u64().unwrap())
                .collect::<Vec<_>>()
        };
        let (sent, delivered, opened, clicked) =
            (col("sent"), col("delivered"), col("opened"), col("clicked"));
        let (human, machine) = (col("human_clicked"), col("machine_clicked"));
        for b in 0..sent.len() {
            assert!(sent[b] >= delivered[b] && delivered[b] >= opened[b]);
            assert_eq!(human[b] + machine[b], clicked[b]);
        }
        total_sent += sent.iter().sum::<u64>();
        if c["state"] == "draft" {
            assert!(sent.iter().all(|v| *v == 0));
        }
        // The `type` filter: the campaign's channel (its first action's type) gives its own
        // values, any other channel all zeros.
        let channel = c["actions"][0]["type"].as_str().unwrap();
        let base = format!("/v1/campaigns/{id}/metrics?period=months&steps=40");
        let own = get(&us, &format!("{base}&type={channel}"), US).await;
        assert_eq!(own.body, r.body);
        let other = if channel == "email" { "push" } else { "email" };
        let filtered = get(&us, &format!("{base}&type={other}"), US).await;
        let series = filtered.body["metric"]["series"].as_object().unwrap();
        assert_eq!(series.len(), 26);
        assert!(
            series
                .values()
                .flat_map(|v| v.as_array().unwrap())
                .all(|v| v == 0)
        );
        // Unique link clicks never exceed total link clicks.
        let total = get(
            &us,
            &format!("/v1/campaigns/{id}/metrics/links?period=months&steps=40"),
            US,
        )
        .await;
        let unique = get(
            &us,
            &format!("/v1/campaigns/{id}/metrics/links?period=months&steps=40&unique=true"),
            US,
        )
        .await;
        for (t, u) in total.body["links"]
            .as_array()
            .unwrap()
            .iter()
            .zip(unique.body["links"].as_array().unwrap())
        {
            assert_eq!(t["link"], u["link"]);
            let tc = t["metric"]["series"]["clicked"].as_array().unwrap();
            let uc = u["metric"]["series"]["clicked"].as_array().unwrap();
            assert!(tc.iter().zip(uc).all(|(a, b)| a.as_u64() >= b.as_u64()));
        }
    }
    assert!(total_sent > 0);
}

#[tokio::test]
async fn bad_ids_and_unknown_routes() {
    let sim = start(test_config()).await;
    let us = sim.us_url();
    for (path, status) in [
        ("/v1/campaigns/abc", 400),
        ("/v1/campaigns/999", 404),
        ("/v1/campaigns/999/actions", 404),
        ("/v1/campaigns/999/metrics", 404),
        ("/v1/campaigns/x/metrics/links", 400),
        ("/v1/newsletters/999", 404),
        ("/v1/newsletters/999/metrics", 404),
        ("/v1/newsletters/abc/metrics/links", 400),
        ("/v1/no/such/route", 404),
        ("/v2/campaigns", 404),
    ] {
        let r = get(&us, path, US).await;
        assert_eq!(r.status.as_u16(), status, "{path}");
        assert_eq!(r.body["errors"][0]["status"], status.to_string(), "{path}");
    }
    let wrong_method = post(&us, "/v1/campaigns", US, json!({})).await;
    assert_eq!(wrong_method.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(wrong_method.body["errors"][0]["status"], "405");
    let c = get(&us, "/v1/campaigns/3", US).await;
    assert_eq!(c.body["campaign"]["id"], 3);
    let n = get(&us, "/v1/newsletters/3", US).await;
    assert_eq!(n.body["newsletter"]["id"], 3);
}

#[tokio::test]
async fn campaign_actions_paginate_by_ten() {
    let sim = start(test_config()).await;
    let us = sim.us_url();
    let listed = get(&us, "/v1/campaigns/1", US).await.body["campaign"]["actions"].clone();
    let expected: Vec<String> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["id"].to_string())
        .collect();
    assert!(expected.len() > 10);
    let mut seen = Vec::new();
    let mut start = String::new();
    loop {
        let q = if start.is_empty() {
            String::new()
        } else {
            format!("?start={start}")
        };
        let r = get(&us, &format!("/v1/campaigns/1/actions{q}"), US).await;
        let page = r.body["actions"].as_array().unwrap();
        assert!(page.len() <= 10);
        seen.extend(page.iter().map(|a| a["id"].as_str().unwrap().to_string()));
        start = r.body["next"].as_str().unwrap().to_string();
        if start.is_empty() {
            break;
        }
    }
    assert_eq!(seen, expected);
    let bad = get(&us, "/v1/campaigns/1/actions?start=%%%", US).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
}

async fn all_newsletter_pages(
    base: &str,
    limit: Option<i64>,
    sort: Option<&str>,
) -> (Vec<u64>, usize) {
    let mut ids = Vec::new();
    let mut pages = 0;
    let mut start = String::new();
    loop {
        let mut q = Vec::new();
        if let Some(l) = limit {
            q.push(format!("limit={l}"));
        }
        if let Some(s) = sort {
            q.push(format!("sort={s}"));
        }
        if !start.is_empty() {
            q.push(format!("start={start}"));
        }
        let r = get(base, &format!("/v1/newsletters?{}", q.join("&")), US).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        pages += 1;
        ids.extend(
            r.body["newsletters"]
                .as_array()
                .unwrap()
                .iter()
                .map(|n| n["id"].as_u64().unwrap()),
        );
        start = r.body["next"].as_str().unwrap().to_string();
        if start.is_empty() {
            return (ids, pages);
        }
    }
}

#[tokio::test]
async fn newsletters_paginate_with_limit_start_and_sort() {
    let ws = WorkspaceSpec {
        newsletters: 1_234,
        ..WorkspaceSpec::default_us()
    };
    let sim = start(config_with(ws)).await;
    let us = sim.us_url();
    let every: Vec<u64> = (1..=1_234).collect();
    let (asc, pages) = all_newsletter_pages(&us, Some(100), None).await;
    assert_eq!((asc.clone(), pages), (every.clone(), 13));
    let (desc, _) = all_newsletter_pages(&us, Some(500), Some("desc")).await;
    assert_eq!(desc, every.iter().rev().copied().collect::<Vec<_>>());
    // Default 100 per page; larger limits are clamped to 1000.
    let (default, pages) = all_newsletter_pages(&us, None, Some("asc")).await;
    assert_eq!((default.len(), pages), (1_234, 13));
    let (clamped, pages) = all_newsletter_pages(&us, Some(5_000), None).await;
    assert_eq!((clamped, pages), (every, 2));
    for bad in [
        "limit=0",
        "limit=-3",
        "limit=x",
        "sort=sideways",
        "start=bm9wZQ==",
    ] {
        let r = get(&us, &format!("/v1/newsletters?{bad}"), US).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{bad}");
        assert!(!detail(&r).is_empty());
    }
}

#[tokio::test]
async fn customer_search_pages_through_every_person_once() {
    let ws = WorkspaceSpec {
        customers: 5_000,
        ..WorkspaceSpec::default_us()
    };
    let sim = start(config_with(ws)).await;
    let us = sim.us_url();
    let all =
        json!({"filter": {"and": [{"attribute": {"field": "cio_id", "operator": "exists"}}]}});
    let mut cio_ids = BTreeSet::new();
    let (mut start, mut pages, mut without_id) = (String::new(), 0, 0);
    loop {
        let q = if start.is_empty() {
            "limit=1000".to_string()
        } else {
            format!("limit=1000&start={start}")
        };
        let r = post(&us, &format!("/v1/customers?{q}"), US, all.clone()).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        pages += 1;
        let identifiers = r.body["identifiers"].as_array().unwrap();
        let ids = r.body["ids"].as_array().unwrap();
        assert_eq!(identifiers.len(), ids.len());
        for (ident, id) in identifiers.iter().zip(ids) {
            assert!(cio_ids.insert(ident["cio_id"].as_str().unwrap().to_string()));
            match ident["id"].as_str() {
                Some(v) => assert_eq!(id, v),
                None => {
                    assert_eq!(id, "");
                    without_id += 1;
                }
            }
        }
        start = r.body["next"].as_str().unwrap().to_string();
        if start.is_empty() {
            break;
        }
    }
    assert_eq!((cio_ids.len(), pages), (5_000, 5));
    assert!(without_id > 0);
    // Limits: default 50, at most 1000 (the 2026 contract's maximum: the strict simulator refuses
    // more, the lenient one clamps, see strict.rs), at least 1.
    assert_eq!(
        post(&us, "/v1/customers", US, all.clone()).await.body["ids"]
            .as_array()
            .unwrap()
            .len(),
        50
    );
    let big = post(&us, "/v1/customers?limit=1000", US, all.clone()).await;
    assert_eq!(big.body["ids"].as_array().unwrap().len(), 1000);
    assert_eq!(
        post(&us, "/v1/customers?limit=4000", US, all.clone())
            .await
            .status,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        post(&us, "/v1/customers?limit=0", US, all.clone())
            .await
            .status,
        StatusCode::BAD_REQUEST
    );
    // A direct lookup by email.
    let someone = &big.body["identifiers"][123];
    let email = someone["email"].as_str().unwrap();
    let found = post(
        &us,
        "/v1/customers",
        US,
        json!({"filter": {"attribute": {"field": "email", "operator": "eq", "value": email}}}),
    )
    .await;
    assert_eq!(found.body["identifiers"], json!([someone]));
    assert_eq!(found.body["next"], "");
    // Segment filters nest: clickers are openers.
    let clicks = post(
        &us,
        "/v1/customers?limit=1000",
        US,
        json!({"filter": {"and": [{"segment": {"id": 3}}, {"not": {"segment": {"id": 2}}}]}}),
    )
    .await;
    assert_eq!(clicks.body["ids"], json!([]));
    for bad in [
        json!({}),
        json!({"filters": {"segment": {"id": 1}}}),
        json!({"filter": {"attribute": {"field": "x", "operator": "lt", "value": "1"}}}),
        json!([1]),
    ] {
        let r = post(&us, "/v1/customers", US, bad.clone()).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{bad}");
    }
    let garbage = send(
        client()
            .post(format!("{us}/v1/customers"))
            .bearer_auth(US)
            .body("{nope"),
    )
    .await;
    assert_eq!(garbage.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn attribute_batches_are_limited_and_omit_unknown_ids() {
    let sim = start(test_config()).await;
    let us = sim.us_url();
    let many: Vec<String> = (1..=101).map(|i| i.to_string()).collect();
    let r = post(&us, "/v1/customers/attributes", US, json!({ "ids": many })).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(detail(&r).contains("100"));
    assert_eq!(
        post(&us, "/v1/customers/attributes", US, json!({"ids": []}))
            .await
            .status,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        post(&us, "/v1/customers/attributes", US, json!({}))
            .await
            .status,
        StatusCode::BAD_REQUEST
    );
    let page = post(
        &us,
        "/v1/customers?limit=5",
        US,
        json!({"filter": {"attribute": {"field": "id", "operator": "exists"}}}),
    )
    .await;
    let ids: Vec<&str> = page.body["ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    let mut asked: Vec<&str> = ids.clone();
    asked.insert(2, "no-such-person");
    let r = post(&us, "/v1/customers/attributes", US, json!({ "ids": asked })).await;
    assert_eq!(r.status, StatusCode::OK);
    let customers = r.body["customers"].as_array().unwrap();
    assert_eq!(customers.len(), 5);
    for (c, id) in customers.iter().zip(&ids) {
        assert_eq!(c["identifiers"]["id"], *id);
        assert!(c.get("customer").is_none(), "items are unwrapped");
        assert!(
            c["attributes"]
                .as_object()
                .unwrap()
                .values()
                .all(Value::is_string)
        );
    }
    // By cio_id, with or without the cio_ prefix.
    let cio: Vec<Value> = page.body["identifiers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["cio_id"].clone())
        .collect();
    let by_cio = post(
        &us,
        "/v1/customers/attributes?id_type=cio_id",
        US,
        json!({ "ids": cio }),
    )
    .await;
    assert_eq!(by_cio.body["customers"], r.body["customers"]);
    assert_eq!(
        post(
            &us,
            "/v1/customers/attributes?id_type=email",
            US,
            json!({"ids": ["1"]})
        )
        .await
        .status,
        StatusCode::BAD_REQUEST
    );
}

#[tokio::test]
async fn person_attributes_by_id_and_cio_id() {
    let sim = start(test_config()).await;
    let us = sim.us_url();
    let page = post(
        &us,
        "/v1/customers?limit=1",
        US,
        json!({"filter": {"attribute": {"field": "id", "operator": "exists"}}}),
    )
    .await;
    let ident = &page.body["identifiers"][0];
    let id = ident["id"].as_str().unwrap();
    let cio = ident["cio_id"].as_str().unwrap();
    let by_id = get(&us, &format!("/v1/customers/{id}/attributes"), US).await;
    assert_eq!(by_id.status, StatusCode::OK);
    assert_eq!(by_id.body["customer"]["identifiers"], *ident);
    let by_cio = get(
        &us,
        &format!("/v1/customers/cio_{cio}/attributes?id_type=cio_id"),
        US,
    )
    .await;
    assert_eq!(by_cio.body, by_id.body);
    assert_eq!(
        get(
            &us,
            &format!("/v1/customers/{cio}/attributes?id_type=cio_id"),
            US
        )
        .await
        .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        get(&us, "/v1/customers/99999999/attributes", US)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    for t in ["email", "phone"] {
        let r = get(&us, &format!("/v1/customers/x/attributes?id_type={t}"), US).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST);
        assert!(detail(&r).contains("not enabled as identifiers"));
    }
}

#[tokio::test]
async fn same_seed_same_data_across_instances() {
    let paths = [
        "/v1/campaigns",
        "/v1/campaigns/1/actions",
        "/v1/newsletters",
        "/v1/segments",
        "/v1/campaigns/4/metrics?period=weeks",
        "/v1/campaigns/4/metrics/links?period=days&unique=true",
        "/v1/newsletters/2/metrics?period=months&steps=30",
        "/v1/customers/17/attributes",
    ];
    let body = json!({"filter": {"segment": {"id": 1}}});
    let (a, b) = (start(test_config()).await, start(test_config()).await);
    let c = start(SimConfig {
        seed: 7,
        ..test_config()
    })
    .await;
    for path in paths {
        let (ra, rb, rc) = (
            get(&a.us_url(), path, US).await,
            get(&b.us_url(), path, US).await,
            get(&c.us_url(), path, US).await,
        );
        assert_eq!(ra.status, StatusCode::OK, "{path}");
        assert_eq!(ra.body, rb.body, "{path}");
        assert_ne!(ra.body, rc.body, "{path}");
    }
    let (sa, sb) = (
        post(&a.eu_url(), "/v1/customers?limit=100", EU, body.clone()).await,
        post(&b.eu_url(), "/v1/customers?limit=100", EU, body).await,
    );
    assert_eq!(sa.body, sb.body);
    let segments = get(&a.eu_url(), "/v1/segments", EU).await;
    let names: Vec<&str> = segments.body["segments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        &names[..3],
        [
            "Email Activity - Sent",
            "Email Activity - Opens",
            "Email Activity - Clicks"
        ]
    );
    assert_eq!(names.len(), 6);
}

#[tokio::test]
async fn stats_count_operations_workspaces_and_statuses() {
    let sim = start(test_config()).await;
    let (us, eu) = (sim.us_url(), sim.eu_url());
    get(&us, "/v1/campaigns", US).await;
    get(&us, "/v1/campaigns", US).await;
    get(&eu, "/v1/newsletters", EU).await;
    get(&us, "/v1/campaigns/999", US).await;
    post(
        &us,
        "/v1/customers",
        US,
        json!({"filter": {"segment": {"id": 1}}}),
    )
    .await;
    let over_http = get(&eu, "/__sim/stats", "").await;
    let stats = sim.stats();
    assert_eq!(over_http.body, serde_json::to_value(&stats).unwrap());
    assert_eq!(stats.requests["listCampaigns"], 2);
    assert_eq!(stats.requests["listNewsletters"], 1);
    assert_eq!(stats.requests["getCampaigns"], 1);
    assert_eq!(stats.requests["getPeopleFilter"], 1);
    assert_eq!(stats.by_workspace["sim_us"], 4);
    assert_eq!(stats.by_workspace["sim_eu"], 1);
    assert_eq!(stats.statuses["200"], 4);
    assert_eq!(stats.statuses["404"], 1);
    assert_eq!((stats.rate_limited, stats.faults_injected), (0, 0));
    let reset = send(client().post(format!("{us}/__sim/reset"))).await;
    assert!(reset.status.is_success());
    assert!(sim.stats().requests.is_empty());
    get(&us, "/v1/segments", US).await;
    sim.reset_stats();
    assert_eq!(sim.stats(), Default::default());
}

#[tokio::test]
async fn scripted_responses_are_consumed_in_order() {
    let sim = start(test_config()).await;
    let us = sim.us_url();
    sim.push_script(ScriptedResponse::rate_limited(3).for_operation("listNewsletters"));
    sim.push_script(ScriptedResponse::new(503).for_workspace("sim_eu"));
    sim.push_script(
        ScriptedResponse::new(500).with_body(r#"{"errors":[{"detail":"boom","status":"500"}]}"#),
    );
    // The campaigns request skips the newsletters-only entry and takes the 500.
    let c = get(&us, "/v1/campaigns", US).await;
    assert_eq!(
        (c.status, detail(&c)),
        (StatusCode::INTERNAL_SERVER_ERROR, "boom")
    );
    let n = get(&us, "/v1/newsletters", US).await;
    assert_eq!(n.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(n.headers["retry-after"], "3");
    assert!(detail(&n).starts_with("rate limited to"));
    assert_eq!(get(&us, "/v1/newsletters", US).await.status, StatusCode::OK);
    // Auth comes first: a bad key does not consume the entry.
    assert_eq!(
        get(&sim.eu_url(), "/v1/segments", "nope").await.status,
        StatusCode::UNAUTHORIZED
    );
    let e = get(&sim.eu_url(), "/v1/segments", EU).await;
    assert_eq!(
        (e.status, e.body["errors"][0]["status"].as_str()),
        (StatusCode::SERVICE_UNAVAILABLE, Some("503"))
    );
    let stats = sim.stats();
    assert_eq!((stats.rate_limited, stats.faults_injected), (1, 3));

    // Over HTTP, with the fault kinds.
    let script = json!([
        {"status": 200, "kind": "malformed", "operation": "listSegments"},
        {"status": 200, "kind": "reset", "operation": "listSegments"},
        {"status": 200, "kind": "truncate", "operation": "listSegments"},
        {"status": 200, "kind": {"delay_ms": 10}, "operation": "listSegments"},
    ]);
    let queued = send(client().post(format!("{us}/__sim/script")).json(&script)).await;
    assert_eq!(queued.body["queued"], 4);
    let html = client()
        .get(format!("{us}/v1/segments"))
        .bearer_auth(US)
        .send()
        .await
        .unwrap();
    assert_eq!(html.status(), StatusCode::OK);
    assert!(html.text().await.unwrap().contains("<html>"));
    for _ in 0..2 {
        let resp = client()
            .get(format!("{us}/v1/segments"))
            .bearer_auth(US)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        assert!(resp.bytes().await.is_err(), "the body must fail mid-way");
    }
    assert_eq!(
        get(&us, "/v1/segments", US).await.body["segments"]
            .as_array()
            .unwrap()
            .len(),
        8
    );
}

async fn one_faulty_request(
    faults: FaultConfig,
) -> (Simulator, Result<reqwest::Response, reqwest::Error>) {
    let sim = start(SimConfig {
        faults,
        ..test_config()
    })
    .await;
    let resp = reqwest::Client::builder()
        .timeout(Duration::from_millis(500))
        .build()
        .unwrap()
        .get(format!("{}/v1/campaigns", sim.us_url()))
        .bearer_auth(US)
        .send()
        .await;
    (sim, resp)
}

#[tokio::test]
async fn random_faults_are_observable() {
    let all = |f: fn(&mut FaultConfig)| {
        let mut c = FaultConfig::default();
        f(&mut c);
        c
    };
    let (sim, r) = one_faulty_request(all(|c| c.error_5xx_rate = 1.0)).await;
    let r = r.unwrap();
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["errors"][0]["status"], "503");
    assert_eq!(sim.stats().faults_injected, 1);

    let (_sim, r) = one_faulty_request(all(|c| c.reset_rate = 1.0)).await;
    let r = r.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.bytes().await.is_err(), "reset: the body fails");

    let (_sim, r) = one_faulty_request(all(|c| c.truncate_rate = 1.0)).await;
    let r = r.unwrap();
    let declared = r.content_length().unwrap();
    assert!(declared > 0);
    assert!(
        r.bytes().await.is_err(),
        "truncate: fewer bytes than Content-Length"
    );

    let (_sim, r) = one_faulty_request(all(|c| c.malformed_rate = 1.0)).await;
    let r = r.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let text = r.text().await.unwrap();
    assert!(
        serde_json::from_str::<Value>(&text).is_err(),
        "malformed: {text}"
    );

    let (sim, r) = one_faulty_request(all(|c| c.slow_headers = Some(Duration::from_secs(5)))).await;
    assert!(
        r.unwrap_err().is_timeout(),
        "slow headers: the client times out"
    );
    assert_eq!(sim.stats().faults_injected, 1);
}

#[tokio::test]
async fn fault_rates_mix_and_are_deterministic() {
    let faults = FaultConfig {
        error_5xx_rate: 0.3,
        malformed_rate: 0.3,
        ..FaultConfig::default()
    };
    let mut runs = Vec::new();
    for _ in 0..2 {
        let sim = start(SimConfig {
            faults: faults.clone(),
            ..test_config()
        })
        .await;
        let mut outcome = Vec::new();
        for _ in 0..40 {
            let r = get(&sim.us_url(), "/v1/segments", US).await;
            outcome.push((r.status.as_u16(), r.body.is_null()));
        }
        runs.push(outcome);
    }
    assert_eq!(runs[0], runs[1]);
    let errors = runs[0].iter().filter(|(s, _)| *s == 503).count();
    let malformed = runs[0]
        .iter()
        .filter(|(s, null)| *s == 200 && *null)
        .count();
    assert!(errors > 3 && malformed > 3, "{errors} {malformed}");
}

#[tokio::test]
async fn latency_delays_answers() {
    let sim = start(SimConfig {
        latency: Duration::from_secs(5),
        ..test_config()
    })
    .await;
    let quick = reqwest::Client::builder()
        .timeout(Duration::from_millis(200))
        .build()
        .unwrap();
    let slow = quick
        .get(format!("{}/v1/segments", sim.us_url()))
        .bearer_auth(US)
        .send()
        .await;
    assert!(slow.unwrap_err().is_timeout());
    // The simulator's own endpoints are not delayed.
    let stats = quick
        .get(format!("{}/__sim/stats", sim.us_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(stats.status(), StatusCode::OK);
}

#[tokio::test]
async fn start_on_fixed_ports() {
    let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = probe.local_addr().unwrap().port();
    drop(probe);
    let probe2 = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port2 = probe2.local_addr().unwrap().port();
    drop(probe2);
    let sim = Simulator::start_on(test_config(), port, port2)
        .await
        .unwrap();
    assert_eq!(sim.us_url(), format!("http://127.0.0.1:{port}"));
    assert_eq!(sim.eu_url(), format!("http://127.0.0.1:{port2}"));
    assert_eq!(sim.url_for(customerio_sim::Region::Eu), sim.eu_url());
    sim.shutdown().await;
    // After shutdown the port is free again.
    let again = Simulator::start_on(test_config(), port, 0).await.unwrap();
    assert_eq!(
        get(&again.us_url(), "/v1/segments", US).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn invalid_configs_fail_to_start() {
    let dup = SimConfig {
        workspaces: vec![WorkspaceSpec::default_us(), WorkspaceSpec::default_us()],
        ..test_config()
    };
    assert!(Simulator::start(dup).await.is_err());
    let bad_rate = SimConfig {
        rate_limit: 0.0,
        ..test_config()
    };
    assert!(Simulator::start(bad_rate).await.is_err());
    let _ = ScriptKind::Status;
}

/// Asynchronous exports: lifecycle, signed URLs, CSV contents.
mod exports {
    use super::*;
    use customerio_sim::{DownloadWhilePending, ExportConfig};

    fn export_config(clock: Arc<FixedClock>, exports: ExportConfig, customers: u64) -> SimConfig {
        SimConfig {
            clock,
            exports,
            workspaces: vec![
                WorkspaceSpec {
                    customers,
                    ..WorkspaceSpec::default_us()
                },
                WorkspaceSpec::default_eu(),
            ],
            ..test_config()
        }
    }

    async fn fetch_text(url: &str) -> (StatusCode, String) {
        let resp = client().get(url).send().await.unwrap();
        (resp.status(), resp.text().await.unwrap())
    }

    /// Every person matching `filter`, by paging the search endpoint.
    async fn search_all(base: &str, filter: Value) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        let mut start = String::new();
        loop {
            let r = post(
                base,
                &format!("/v1/customers?limit=1000&start={start}"),
                US,
                json!({ "filter": filter }),
            )
            .await;
            for i in r.body["identifiers"].as_array().unwrap() {
                out.insert(i["cio_id"].as_str().unwrap().to_string());
            }
            start = r.body["next"].as_str().unwrap().to_string();
            if start.is_empty() {
                return out;
            }
        }
    }

    #[tokio::test]
    async fn people_export_lifecycle() {
        let clock = Arc::new(FixedClock::new(utc(NOW)));
        let sim = start(export_config(clock.clone(), ExportConfig::default(), 3_000)).await;
        let us = sim.us_url();
        let filter = json!({"and": [{"segment": {"id": 3}}, {"attribute": {"field": "plan", "operator": "exists"}}]});
        let created = post(
            &us,
            "/v1/exports/customers",
            US,
            json!({"filters": filter, "attributes": ["plan", "country"]}),
        )
        .await;
        assert_eq!(created.status, StatusCode::OK, "{}", created.body);
        let export = &created.body["export"];
        assert_eq!(export["type"], "customers");
        assert!(export.get("status").is_none() && export.get("total").is_none());
        let id = export["id"].as_u64().unwrap();
        assert_eq!(
            export["deduplicate_id"],
            format!("{id}:{}", utc(NOW).timestamp())
        );

        let pending = get(&us, &format!("/v1/exports/{id}"), US).await;
        assert_eq!(
            (
                pending.body["export"]["status"].as_str(),
                pending.body["export"]["total"].as_u64()
            ),
            (Some("pending"), Some(0))
        );
        let early = get(&us, &format!("/v1/exports/{id}/download"), US).await;
        assert_eq!(early.status, StatusCode::NOT_FOUND);
        assert_eq!(early.body["errors"][0]["status"], "404");

        clock.advance(chrono::Duration::seconds(3));
        let done = get(&us, &format!("/v1/exports/{id}"), US).await.body["export"].clone();
        assert_eq!(
            (done["status"].as_str(), done["failed"].as_bool()),
            (Some("done"), Some(false))
        );
        let expected = search_all(&us, filter).await;
        assert_eq!(done["total"].as_u64().unwrap(), expected.len() as u64);
        assert!(!expected.is_empty());

        let url = get(&us, &format!("/v1/exports/{id}/download"), US)
            .await
            .body["url"]
            .as_str()
            .unwrap()
            .to_string();
        assert!(url.starts_with(&us), "{url}");
        let (status, csv) = fetch_text(&url).await;
        assert_eq!(status, StatusCode::OK);
        let mut lines = csv.lines();
        assert_eq!(lines.next(), Some("id,email,cio_id,plan,country"));
        let cio_ids: BTreeSet<String> = lines
            .map(|l| l.split(',').nth(2).unwrap().to_string())
            .collect();
        assert_eq!(cio_ids, expected);
        let after = get(&us, &format!("/v1/exports/{id}"), US).await;
        assert_eq!(after.body["export"]["downloads"], 1);
        assert_eq!(sim.stats().requests["downloadExportFile"], 1);

        // Signed URLs: tampered, unsigned and expired links are refused.
        let (bad, body) = fetch_text(&url.replace("signature=", "signature=0")).await;
        assert_eq!(bad, StatusCode::FORBIDDEN);
        assert!(
            body.contains("<Code>SignatureDoesNotMatch</Code>"),
            "{body}"
        );
        let unsigned = url.split('?').next().unwrap();
        assert_eq!(fetch_text(unsigned).await.0, StatusCode::FORBIDDEN);
        clock.advance(chrono::Duration::minutes(16));
        let (expired, body) = fetch_text(&url).await;
        assert_eq!(expired, StatusCode::FORBIDDEN);
        assert!(body.contains("expired"), "{body}");
        // A fresh link works again.
        let url = get(&us, &format!("/v1/exports/{id}/download"), US)
            .await
            .body["url"]
            .as_str()
            .unwrap()
            .to_string();
        assert_eq!(fetch_text(&url).await.0, StatusCode::OK);

        // Exports belong to their workspace.
        let listed = get(&us, "/v1/exports", US).await;
        assert_eq!(listed.body["exports"].as_array().unwrap().len(), 1);
        assert_eq!(
            get(&sim.eu_url(), "/v1/exports", EU).await.body["exports"],
            json!([])
        );
        assert_eq!(
            get(&sim.eu_url(), &format!("/v1/exports/{id}"), EU)
                .await
                .status,
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            get(&us, "/v1/exports/abc", US).await.status,
            StatusCode::BAD_REQUEST
        );
    }

    #[tokio::test]
    async fn pending_null_url_and_failed_modes() {
        let clock = Arc::new(FixedClock::new(utc(NOW)));
        let config = ExportConfig {
            download_while_pending: DownloadWhilePending::NullUrl,
            fail: true,
            ..ExportConfig::default()
        };
        let sim = start(export_config(clock.clone(), config, 100)).await;
        let us = sim.us_url();
        let created = post(
            &us,
            "/v1/exports/customers",
            US,
            json!({"filters": {"segment": {"id": 1}}}),
        )
        .await;
        let id = created.body["export"]["id"].as_u64().unwrap();
        let early = get(&us, &format!("/v1/exports/{id}/download"), US).await;
        assert_eq!(
            (early.status, early.body.clone()),
            (StatusCode::OK, json!({"url": null}))
        );
        clock.advance(chrono::Duration::seconds(10));
        let failed = get(&us, &format!("/v1/exports/{id}"), US).await.body["export"].clone();
        assert_eq!(
            (
                failed["status"].as_str(),
                failed["failed"].as_bool(),
                failed["total"].as_u64()
            ),
            (Some("failed"), Some(true), Some(0))
        );
        assert_eq!(
            get(&us, &format!("/v1/exports/{id}/download"), US)
                .await
                .status,
            StatusCode::NOT_FOUND
        );
    }

    #[tokio::test]
    async fn deliveries_export_agrees_with_daily_metrics() {
        let clock = Arc::new(FixedClock::new(utc(NOW)));
        let config = ExportConfig {
            ready_after: Duration::ZERO,
            ..ExportConfig::default()
        };
        let sim = start(export_config(clock, config, 2_000)).await;
        let us = sim.us_url();
        // A month of Eastern days that ends before now.
        let start_ts = utc("2025-10-01T04:00:00Z").timestamp();
        let end_ts = utc("2025-11-01T04:00:00Z").timestamp() - 1;
        let mut checked = 0;
        for id in 1..=12 {
            let q = format!("version=2&res=days&start={start_ts}&end={end_ts}&tz=America/New_York");
            let m = get(&us, &format!("/v1/campaigns/{id}/metrics?{q}"), US).await;
            let sum = |k: &str| {
                m.body["metric"]["series"][k]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|v| v.as_u64().unwrap())
                    .sum::<u64>()
            };
            for (metric, expected) in [(None, sum("created")), (Some("opened"), sum("opened"))] {
                let mut body = json!({"campaign_id": id, "start": start_ts, "end": end_ts, "attributes": ["plan"]});
                if let Some(m) = metric {
                    body["metric"] = json!(m);
                }
                let created = post(&us, "/v1/exports/deliveries", US, body).await;
                assert_eq!(created.status, StatusCode::OK, "{}", created.body);
                let eid = created.body["export"]["id"].as_u64().unwrap();
                let export =
                    get(&us, &format!("/v1/exports/{eid}"), US).await.body["export"].clone();
                assert_eq!(export["type"], "deliveries");
                assert_eq!(
                    export["total"].as_u64().unwrap(),
                    expected,
                    "campaign {id} {metric:?}"
                );
                let url = get(&us, &format!("/v1/exports/{eid}/download"), US)
                    .await
                    .body["url"]
                    .as_str()
                    .unwrap()
                    .to_string();
                let (_, csv) = fetch_text(&url).await;
                let mut lines = csv.lines();
                let header = lines.next().unwrap();
                assert!(
                    header.starts_with("delivery_id,campaign_id,") && header.ends_with(",plan"),
                    "{header}"
                );
                let rows: Vec<&str> = lines.collect();
                assert_eq!(rows.len() as u64, expected);
                checked += expected;
            }
        }
        assert!(checked > 0);
        for bad in [
            json!({}),
            json!({"campaign_id": 1, "newsletter_id": 1}),
            json!({"campaign_id": 999}),
            json!({"campaign_id": 1, "metric": "teleported"}),
            json!({"campaign_id": 1, "start": 10, "end": 5}),
            json!({"transactional_message_id": 1}),
        ] {
            let r = post(&us, "/v1/exports/deliveries", US, bad.clone()).await;
            assert_eq!(r.status, StatusCode::BAD_REQUEST, "{bad}");
        }
        let singular = post(
            &us,
            "/v1/exports/customers",
            US,
            json!({"filter": {"segment": {"id": 1}}}),
        )
        .await;
        assert_eq!(singular.status, StatusCode::BAD_REQUEST);
        assert!(detail(&singular).contains("filters"));
    }

    #[tokio::test]
    async fn large_people_export_streams() {
        let clock = Arc::new(FixedClock::new(utc(NOW)));
        let config = ExportConfig {
            ready_after: Duration::ZERO,
            ..ExportConfig::default()
        };
        let sim = start(export_config(clock, config, 200_000)).await;
        let us = sim.us_url();
        let all = json!({"filters": {"attribute": {"field": "cio_id", "operator": "exists"}}});
        let id = post(&us, "/v1/exports/customers", US, all).await.body["export"]["id"]
            .as_u64()
            .unwrap();
        assert_eq!(
            get(&us, &format!("/v1/exports/{id}"), US).await.body["export"]["total"],
            200_000
        );
        let url = get(&us, &format!("/v1/exports/{id}/download"), US)
            .await
            .body["url"]
            .as_str()
            .unwrap()
            .to_string();
        let resp = client().get(&url).send().await.unwrap();
        assert_eq!(resp.headers()["content-type"], "text/csv");
        assert!(
            resp.content_length().is_none(),
            "the file is streamed, not buffered"
        );
        let mut newlines = 0usize;
        let mut chunks = 0usize;
        let mut stream = resp.bytes_stream();
        while let Some(chunk) = futures::StreamExt::next(&mut stream).await {
            let chunk = chunk.unwrap();
            chunks += 1;
            newlines += chunk.iter().filter(|b| **b == b'\n').count();
        }
        assert_eq!(newlines, 200_001);
        assert!(chunks > 10);
    }
}

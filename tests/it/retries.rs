//! The client under faults: retried pages give exactly the clean rows; errors that retrying cannot
//! fix fail the query (never a partial result) with the endpoint, status and Customer.io's detail.

use std::time::{Duration, Instant};

use customerio_sim::{FaultConfig, Region, ScriptKind, ScriptedResponse, SimConfig, WorkspaceSpec};

use crate::common::*;

const NEWSLETTERS_DDL: &str = "CREATE EXTERNAL TABLE n STORED AS CUSTOMERIO LOCATION 'newsletters' \
     OPTIONS (key 'sim_us', period 'weeks', steps '3', rate_limit '500')";
const ALL_ROWS: &str = "SELECT newsletter_id, period_start, sent, opened, links FROM n \
     ORDER BY newsletter_id, period_start";

async fn rows(config: SimConfig) -> (String, Env) {
    let env = Env::start(config).await;
    env.sql(NEWSLETTERS_DDL).await.unwrap();
    let text = pretty(
        &env.sql(ALL_ROWS)
            .await
            .expect("the query succeeds despite faults"),
    );
    (text, env)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_faults_give_exactly_the_clean_rows() {
    let ws = WorkspaceSpec {
        newsletters: 240,
        ..workspace("faults", "sim_us", Region::Us)
    };
    let (clean, _) = rows(fast_config(vec![ws.clone()])).await;
    let faults = FaultConfig {
        error_5xx_rate: 0.02,
        reset_rate: 0.02,
        truncate_rate: 0.02,
        malformed_rate: 0.02,
        ..FaultConfig::default()
    };
    // 8% of requests fail; all five attempts of one request fail with odds near 3e-6.
    let (faulty, env) = rows(SimConfig {
        faults,
        ..fast_config(vec![ws])
    })
    .await;
    let stats = env.sim.stats();
    assert!(
        stats.faults_injected >= 10,
        "too few faults to prove anything: {stats:?}"
    );
    assert_eq!(faulty, clean, "rows differ under faults");
    // 3 pages of newsletters, 240 metrics and 240 link requests, plus one retry per fault.
    let served: u64 = stats.requests.values().sum();
    assert_eq!(served, 3 + 240 + 240 + stats.faults_injected, "{stats:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limited_answer_waits_for_retry_after() {
    let ws = workspace("retry_after", "sim_us", Region::Us);
    let env = Env::start(fast_config(vec![ws])).await;
    env.sql(NEWSLETTERS_DDL).await.unwrap();
    env.sim
        .push_script(ScriptedResponse::rate_limited(1).for_operation("listNewsletters"));
    let started = Instant::now();
    let batches = env.sql("SELECT count(*) FROM n").await.unwrap();
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "Retry-After: 1 was not honoured"
    );
    assert_eq!(i64_column(&batches, 0), vec![Some(8 * 4)]);
    assert_eq!(env.requests("listNewsletters"), 2);
    assert_eq!(env.sim.stats().rate_limited, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn permanent_5xx_fails_the_query_naming_attempts_and_status() {
    let ws = workspace("perm_5xx", "sim_us", Region::Us);
    let env = Env::start(fast_config(vec![ws])).await;
    env.sql(NEWSLETTERS_DDL).await.unwrap();
    for _ in 0..10 {
        env.sim
            .push_script(ScriptedResponse::new(503).for_operation("getNewsletterMetrics"));
    }
    let err = env
        .sql("SELECT * FROM n WHERE newsletter_id = 2")
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("GET /v1/newsletters/2/metrics")
            && err.contains("5 attempts")
            && err.contains("HTTP 503"),
        "{err}"
    );
    assert_eq!(env.requests("getNewsletterMetrics"), 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_errors_are_not_retried() {
    let ws = workspace("no_retry", "sim_us", Region::Us);
    let env = Env::start(fast_config(vec![ws])).await;
    env.sql(NEWSLETTERS_DDL).await.unwrap();
    for status in [400u16, 403, 422] {
        env.sim.reset_stats();
        env.sim.push_script(
            ScriptedResponse::new(status)
                .for_operation("listNewsletters")
                .with_body(format!(
                    r#"{{"errors":[{{"detail":"nope {status}","status":"{status}"}}]}}"#
                )),
        );
        let err = env
            .sql("SELECT count(*) FROM n")
            .await
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(&format!("HTTP {status}: nope {status}")),
            "{err}"
        );
        assert_eq!(env.total_requests(), 1, "{status} must not be retried");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repeated_cursor_is_an_error_not_a_loop() {
    let ws = workspace("cursor", "sim_us", Region::Us);
    let env = Env::start(fast_config(vec![ws])).await;
    env.sql(NEWSLETTERS_DDL).await.unwrap();
    for _ in 0..2 {
        env.sim.push_script(
            ScriptedResponse::new(200)
                .for_operation("listNewsletters")
                .with_body(r#"{"newsletters":[],"next":"MDoxMDA="}"#),
        );
    }
    let err = env
        .sql("SELECT count(*) FROM n")
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("MDoxMDA=") && err.contains("twice"), "{err}");
    assert_eq!(env.requests("listNewsletters"), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_that_never_parses_fails_after_the_attempts() {
    let ws = workspace("malformed", "sim_us", Region::Us);
    let env = Env::start(fast_config(vec![ws])).await;
    env.sql(NEWSLETTERS_DDL).await.unwrap();
    for _ in 0..5 {
        env.sim.push_script(
            ScriptedResponse::fault(ScriptKind::Malformed).for_operation("listNewsletters"),
        );
    }
    let err = env
        .sql("SELECT count(*) FROM n")
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("GET /v1/newsletters") && err.contains("unreadable body"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tables_sharing_a_key_share_its_rate_limit() {
    // Two tables on one key, scanned at once, against the simulator's 10 requests/second.
    let ws = WorkspaceSpec {
        campaigns: 9,
        ..workspace("shared_key", "sim_us", Region::Us)
    };
    let env = Env::start(SimConfig::with_workspaces(vec![ws])).await;
    // Different steps: their metric requests differ (identical ones in flight would be shared).
    for (t, steps) in [("a", 2), ("b", 1)] {
        env.sql(&format!(
            "CREATE EXTERNAL TABLE {t} STORED AS CUSTOMERIO LOCATION 'campaigns' \
             OPTIONS (key 'sim_us', steps '{steps}', concurrency '16')"
        ))
        .await
        .unwrap();
    }
    let batches = env
        .sql("SELECT count(*) FROM (SELECT * FROM a UNION ALL SELECT * FROM b)")
        .await
        .unwrap();
    assert_eq!(i64_column(&batches, 0), vec![Some(9 * 3 + 9 * 2)]);
    let stats = env.sim.stats();
    assert_eq!(stats.rate_limited, 0, "{stats:?}");
    // 2 × (1 list + 9 metrics); the two identical list requests may be shared when in flight
    // together.
    let sent = stats.requests.values().sum::<u64>();
    assert!((19..=20).contains(&sent), "{sent} requests: {stats:?}");
}

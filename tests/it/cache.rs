//! The response cache and request coalescing (issue 16): a second identical query is answered
//! without a request and with the same rows, until the time to live or `clear`; a self-join
//! costs one scan; identical requests in flight are sent once; `cio-sql` caches in the shell
//! and `-c` but never in `schedule`; EXPLAIN ANALYZE counts `cache_hits` apart from `requests`.

use std::process::Stdio;
use std::time::Duration;

use customerio_sim::{Region, SimConfig};
use datafusion_customerio::client::{Client, ClientConfig, RequestStats, RetryPolicy};
use serde_json::Value;

use crate::cli_support::*;
use crate::common::*;

async fn cached_env(test: &str) -> Env {
    let ws = workspace(test, "sim_us", Region::Us);
    let env = Env::start(fast_config(vec![ws])).await;
    for (t, options) in [
        ("campaigns", ", period 'weeks', steps '3'"),
        ("newsletters", ", period 'days', steps '5'"),
        ("customers", ""),
        ("segments", ""),
        ("messages", ""),
    ] {
        env.sql(&format!(
            "CREATE EXTERNAL TABLE {t} STORED AS CUSTOMERIO LOCATION '{t}' \
             OPTIONS (key 'sim_us', rate_limit '1000'{options})"
        ))
        .await
        .unwrap();
    }
    env
}

const QUERIES: [&str; 5] = [
    "SELECT campaign_id, period_start, sent, opened FROM campaigns ORDER BY 1, 2",
    "SELECT newsletter_id, period_start, sent, clicked FROM newsletters ORDER BY 1, 2",
    "SELECT id, email, cio_id FROM customers ORDER BY cio_id",
    "SELECT id, name FROM segments ORDER BY id",
    "SELECT id, created FROM messages ORDER BY id",
];

/// `(requests, rows as text)` of each query.
async fn run_all(env: &Env) -> Vec<(u64, String)> {
    let mut out = Vec::new();
    for q in QUERIES {
        let before = env.total_requests();
        let rows = pretty(&env.sql(q).await.unwrap());
        out.push((env.total_requests() - before, rows));
    }
    out
}

/// A bad value of setting `customerio.<name>` fails the next query, naming the setting and the
/// value; then the setting is put back to `default`.
async fn assert_bad_setting(env: &Env, name: &str, value: &str, default: &str) {
    env.sql(&format!("SET customerio.{name} = '{value}'"))
        .await
        .unwrap();
    let err = env
        .sql("SELECT * FROM segments")
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(&format!("customerio.{name}")) && err.contains(value),
        "{err}"
    );
    env.sql(&format!("SET customerio.{name} = '{default}'"))
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_identical_select_makes_no_request_until_the_ttl_or_a_clear() {
    let env = cached_env("cache_second").await;
    // The library's default is off: every run asks again.
    let off = run_all(&env).await;
    assert!(off.iter().all(|(n, _)| *n > 0), "{off:?}");
    assert_eq!(run_all(&env).await, off);

    env.sql("SET customerio.cache_ttl = '5m'").await.unwrap();
    let first = run_all(&env).await;
    assert_eq!(first, off, "the first run with the cache on asks the API");
    let searches = env.requests("getPeopleFilter");
    let second = run_all(&env).await;
    for (i, ((n, rows), (_, want))) in second.iter().zip(&first).enumerate() {
        assert_eq!(rows, want, "{}", QUERIES[i]);
        if QUERIES[i].contains("customers") {
            // The people search has several pages, which are not kept (a cursor from one
            // time used at another would skip or repeat people): only they are asked again;
            // the attribute batches come from the cache.
            let pages = env.requests("getPeopleFilter") - searches;
            assert!(
                pages >= 2 && *n == pages,
                "{n} requests, {pages} search pages"
            );
        } else {
            assert_eq!(*n, 0, "{}: {n} requests on the second run", QUERIES[i]);
        }
    }
    // A reader whose own time to live is 0 does not read what a 5-minute one stored.
    env.sql("SET customerio.cache_ttl = '0'").await.unwrap();
    assert_eq!(run_all(&env).await, first);
    env.sql("SET customerio.cache_ttl = '5m'").await.unwrap();
    let stats = env.cio.cache().stats();
    assert!(
        stats.entries > 0 && stats.bytes > 0 && stats.hits > 0,
        "{stats:?}"
    );

    // Emptied: the same requests as the first run.
    env.cio.cache().clear();
    assert_eq!(run_all(&env).await, first);

    // After the time to live: the same requests again.
    env.sql("SET customerio.cache_ttl = '1s'").await.unwrap();
    env.cio.cache().clear();
    assert_eq!(run_all(&env).await, first);
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(run_all(&env).await, first);

    // A table's own cache_ttl wins over the session's.
    env.sql("SET customerio.cache_ttl = '0'").await.unwrap();
    env.cio.cache().clear();
    env.sql(
        "CREATE EXTERNAL TABLE s2 STORED AS CUSTOMERIO LOCATION 'segments' \
         OPTIONS (key 'sim_us', rate_limit '1000', cache_ttl '5m')",
    )
    .await
    .unwrap();
    let before = env.total_requests();
    env.sql("SELECT * FROM s2").await.unwrap();
    assert_eq!(env.total_requests(), before + 1);
    env.sql("SELECT * FROM s2").await.unwrap();
    assert_eq!(env.total_requests(), before + 1);
    // ... and the session's 0 still holds for the others.
    env.sql("SELECT * FROM segments").await.unwrap();
    assert_eq!(env.total_requests(), before + 1 + 1);
    // The bound, per session setting: 0 stores nothing.
    env.sql("SET customerio.cache_max_bytes = '0'")
        .await
        .unwrap();
    env.sql("SELECT * FROM s2").await.unwrap();
    assert_eq!(env.cio.cache().stats().entries, 0);
    let before = env.total_requests();
    env.sql("SELECT * FROM s2").await.unwrap();
    assert_eq!(env.total_requests(), before + 1);
    env.sql("SET customerio.cache_max_bytes = '268435456'")
        .await
        .unwrap();
    assert_bad_setting(&env, "cache_max_bytes", "lots", "").await;
    assert_bad_setting(&env, "cache_ttl", "forever", "0").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_self_join_costs_one_scan_and_explain_analyze_counts_the_hits() {
    let env = cached_env("cache_join").await;
    env.sql("SET customerio.cache_ttl = '5m'").await.unwrap();
    let before = env.total_requests();
    env.sql("SELECT count(*) FROM campaigns").await.unwrap();
    let one = env.total_requests() - before;
    env.cio.cache().clear();
    let before = env.total_requests();
    env.sql(
        "SELECT count(*) FROM campaigns a JOIN campaigns b \
         ON a.campaign_id = b.campaign_id AND a.period_start = b.period_start",
    )
    .await
    .unwrap();
    assert_eq!(env.total_requests() - before, one);

    let plan = pretty(
        &env.sql("EXPLAIN ANALYZE SELECT * FROM segments")
            .await
            .unwrap(),
    );
    assert!(
        plan.contains("cache_hits=0") && plan.contains("requests=1"),
        "{plan}"
    );
    let plan = pretty(
        &env.sql("EXPLAIN ANALYZE SELECT * FROM segments")
            .await
            .unwrap(),
    );
    assert!(
        plan.contains("cache_hits=1") && plan.contains("requests=0"),
        "{plan}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identical_requests_in_flight_are_sent_once() {
    let ws = workspace("cache_inflight", "sim_us", Region::Us);
    // Slow answers, so the second request is made while the first is in flight.
    let config = SimConfig {
        latency: Duration::from_millis(300),
        ..fast_config(vec![ws.clone()])
    };
    let env = Env::start(config).await;
    let client = Client::with_transport(
        ClientConfig {
            base_url: env.sim.url_for(Region::Us),
            api_key: datafusion_customerio::Secret::new(ws.api_key.clone()),
            rate_limit: 1000.0,
            retry: RetryPolicy::default(),
        },
        env.cio.transport(),
    )
    // Nothing stored: only sharing what is in flight.
    .with_cache("sim_us", Duration::ZERO);
    let stats = RequestStats::default();
    let (a, b) = tokio::join!(
        client.get::<Value>("/v1/segments", &[], &stats),
        client.get::<Value>("/v1/segments", &[], &stats)
    );
    assert_eq!(a.unwrap(), b.unwrap());
    assert_eq!(env.requests("listSegments"), 1);
    assert_eq!((stats.requests.value(), stats.cache_hits.value()), (1, 1));
    // Afterwards nothing is held: the next asks again.
    client
        .get::<Value>("/v1/segments", &[], &stats)
        .await
        .unwrap();
    assert_eq!(env.requests("listSegments"), 2);
    // Different requests are not shared.
    let (c, d) = tokio::join!(
        client.get::<Value>("/v1/broadcasts", &[], &stats),
        client.get::<Value>("/v1/segments", &[], &stats)
    );
    c.unwrap();
    d.unwrap();
    assert_eq!(env.requests("listSegments"), 3);
}

/// `cio-sql -c` caches for five minutes; `cio-sql schedule` never, even for a table asking.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_shell_caches_and_the_scheduler_never_does() {
    let dir = scratch("cache-cli");
    let d = dir.clone();
    let out = tokio::task::spawn_blocking(move || {
        let mut c = cio_sql(&d);
        c.args([
            "--demo",
            "-c",
            "SELECT count(*) FROM sim_us.segments",
            "-c",
            "SELECT count(*) FROM sim_us.segments",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
        wait_output(c.spawn().unwrap(), Duration::from_secs(60))
    })
    .await
    .unwrap();
    let (_, stderr) = texts(&out);
    assert!(out.status.success(), "{stderr}");
    let lines: Vec<&str> = stderr.lines().filter(|l| l.contains(" in ")).collect();
    assert_eq!(lines.len(), 2, "{stderr}");
    assert!(lines[0].contains("(1 request)"), "{stderr}");
    assert!(!lines[1].contains("request"), "{stderr}");

    // The shell's `\cache` shows the entries and the hit; `\cache clear` empties it.
    let d = dir.clone();
    let out = tokio::task::spawn_blocking(move || {
        let mut c = cio_sql(&d);
        c.arg("--demo");
        run_with_input(
            c,
            "SELECT count(*) FROM sim_us.segments;\nSELECT count(*) FROM sim_us.segments;\n\\cache\n\\cache clear\n\\cache\n",
            Duration::from_secs(60),
        )
    })
    .await
    .unwrap();
    let (stdout, stderr) = texts(&out);
    assert!(out.status.success(), "{stderr}");
    // (The demo script ran first and filled the cache.)
    let reports: Vec<&str> = stdout
        .lines()
        .filter(|l| l.contains(" entries, "))
        .collect();
    assert_eq!(reports.len(), 2, "{stdout}");
    let hits: u64 = reports[0]
        .split("; ")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert!(
        !reports[0].starts_with("0 entries") && hits >= 1,
        "{stdout}"
    );
    assert!(
        reports[1].starts_with("0 entries, 0 of 268435456 bytes"),
        "{stdout}"
    );
    assert!(stderr.contains("The response cache is empty."), "{stderr}");

    let script = dir.join("twice.sql");
    std::fs::write(
        &script,
        "CREATE EXTERNAL TABLE s STORED AS CUSTOMERIO LOCATION 'segments' \
           OPTIONS (key 'customerio_key', cache_ttl '5m');\n\
         COPY (SELECT * FROM s) TO 'lake/a/date=${run_date}/' STORED AS PARQUET;\n\
         COPY (SELECT * FROM s) TO 'lake/b/date=${run_date}/' STORED AS PARQUET;\n",
    )
    .unwrap();
    let d = dir.clone();
    let out = tokio::task::spawn_blocking(move || {
        let mut c = cio_sql(&d);
        c.args([
            "--demo",
            "-q",
            "schedule",
            "--once",
            "--date",
            "2026-11-26",
            "--file",
        ])
        .arg(&script)
        .stderr(Stdio::piped());
        wait_output(c.spawn().unwrap(), Duration::from_secs(60))
    })
    .await
    .unwrap();
    let (_, stderr) = texts(&out);
    assert!(out.status.success(), "{stderr}");
    let manifest: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("lake/_cio_sql/twice/2026-11-26/_MANIFEST.json"))
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        manifest["requests"], 2,
        "both reads asked the API: {manifest}"
    );
}

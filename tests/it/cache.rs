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
        ("activities", ""),
        ("esp_suppressions", ""),
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

const QUERIES: [&str; 7] = [
    "SELECT campaign_id, period_start, sent, opened FROM campaigns ORDER BY 1, 2",
    "SELECT newsletter_id, period_start, sent, clicked FROM newsletters ORDER BY 1, 2",
    "SELECT id, email, cio_id FROM customers ORDER BY cio_id",
    "SELECT id, name FROM segments ORDER BY id",
    "SELECT id, created FROM messages ORDER BY id",
    // Listings of several pages: by cursor, and by offset.
    "SELECT id, timestamp, customer_id FROM activities ORDER BY id",
    "SELECT type, email FROM esp_suppressions ORDER BY 1, 2",
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
    let pages = |env: &Env| {
        ["getPeopleFilter", "listActivities", "getSuppressionByType"].map(|op| env.requests(op))
    };
    let before = pages(&env);
    let first = run_all(&env).await;
    assert_eq!(first, off, "the first run with the cache on asks the API");
    // The listings read here have several pages (a person search, activities by cursor,
    // each suppression type by offset), so the test covers whole listings.
    let after = pages(&env);
    assert!(
        after[0] - before[0] >= 2 && after[1] - before[1] >= 2 && after[2] - before[2] > 5,
        "{before:?} {after:?}"
    );
    let second = run_all(&env).await;
    for (i, ((n, rows), (_, want))) in second.iter().zip(&first).enumerate() {
        assert_eq!(rows, want, "{}", QUERIES[i]);
        assert_eq!(*n, 0, "{}: {n} requests on the second run", QUERIES[i]);
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
    // A directory that cannot be made (under a file).
    let file = scratch("cache-bad-dir").join("a-file");
    std::fs::write(&file, "x").unwrap();
    let bad = file.join("exports");
    assert_bad_setting(&env, "export_cache_dir", bad.to_str().unwrap(), "").await;
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
    // The same for a listing of several pages (the people search) and its attribute batches.
    env.cio.cache().clear();
    let before = env.total_requests();
    env.sql("SELECT count(*) FROM customers").await.unwrap();
    let one = env.total_requests() - before;
    env.cio.cache().clear();
    let before = env.total_requests();
    env.sql("SELECT count(*) FROM customers a JOIN customers b ON a.cio_id = b.cio_id")
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

/// A listing left before its end (a `LIMIT` reached) never serves a new read, which would take
/// its later pages from the API with a cursor of another time; read to its end, it serves whole.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listing_serves_a_new_read_only_when_it_was_read_to_its_end() {
    let env = cached_env("cache_listing").await;
    let all = "SELECT id, timestamp, customer_id FROM activities ORDER BY id";
    let run = |sql: &'static str| {
        let env = &env;
        async move {
            let before = env.requests("listActivities");
            let rows = pretty(&env.sql(sql).await.unwrap());
            (env.requests("listActivities") - before, rows)
        }
    };
    let (whole, rows) = run(all).await;
    env.sql("SET customerio.cache_ttl = '5m'").await.unwrap();
    let (part, _) = run("SELECT id FROM activities LIMIT 1").await;
    assert!(whole >= 3 && part < whole, "{part} of {whole} pages");
    // The first page is held, but the listing was left early: the whole read asks again.
    assert_eq!(run(all).await, (whole, rows.clone()));
    // Read to its end: served whole, and so is its first page.
    assert_eq!(run(all).await, (0, rows));
    assert_eq!(run("SELECT id FROM activities LIMIT 1").await.0, 0);
}

/// A client of `ws` on the simulator, through the session's transport (its cache), caching for
/// `ttl` under the credential name `sim_us`.
fn sim_client(env: &Env, ws: &customerio_sim::WorkspaceSpec, ttl: Duration) -> Client {
    Client::with_transport(
        ClientConfig {
            base_url: env.sim.url_for(Region::Us),
            api_key: datafusion_customerio::Secret::new(ws.api_key.clone()),
            rate_limit: 1000.0,
            retry: RetryPolicy::default(),
        },
        env.cio.transport(),
    )
    .with_cache("sim_us", ttl)
}

/// Every page of `client`'s listing of activities, in order (`next` back as `start`), clearing
/// the cache after the first if asked.
async fn activity_pages(
    client: &Client,
    stats: &RequestStats,
    clear_after_first: bool,
) -> Vec<Value> {
    let client = client.listing();
    let mut pages = Vec::new();
    let mut start: Option<String> = None;
    loop {
        let query: Vec<(&str, String)> = start.iter().map(|s| ("start", s.clone())).collect();
        let page: Value = client.get("/v1/activities", &query, stats).await.unwrap();
        if clear_after_first && pages.is_empty() {
            client.cache().clear();
        }
        let next = page["next"].as_str().unwrap_or_default().to_string();
        // (The listing ends on an empty page, or without `next`.)
        let empty = page["activities"].as_array().is_none_or(Vec::is_empty);
        pages.push(page);
        if next.is_empty() || empty {
            client.end_listing();
            return pages;
        }
        start = Some(next);
    }
}

/// A read served from a held listing takes all its pages from it, even if the cache loses them
/// meanwhile (cleared, evicted, replaced): never page 1 from the cache and page 2 from the API.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_served_from_a_listing_keeps_its_pages() {
    let ws = workspace("cache_pages", "sim_us", Region::Us);
    let env = Env::start(fast_config(vec![ws.clone()])).await;
    let client = sim_client(&env, &ws, Duration::from_secs(300));
    let stats = RequestStats::default();
    let first = activity_pages(&client, &stats, false).await;
    let sent = env.requests("listActivities");
    assert!(first.len() >= 3 && sent == first.len() as u64, "{sent}");
    let again = activity_pages(&client, &stats, true).await;
    assert_eq!(again, first);
    assert_eq!(env.requests("listActivities"), sent, "no page asked again");
    // Cleared: the next read asks for every page.
    assert_eq!(activity_pages(&client, &stats, false).await, first);
    assert_eq!(env.requests("listActivities"), 2 * sent);
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
    // Nothing stored: only sharing what is in flight.
    let client = sim_client(&env, &ws, Duration::ZERO);
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
        "SET customerio.cache_max_bytes = '268435456';\n\
         CREATE EXTERNAL TABLE s STORED AS CUSTOMERIO LOCATION 'segments' \
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

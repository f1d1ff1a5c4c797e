//! Response-cache benchmark (not a test: it reports, against the bounds of issue 16).
//!
//! 1. The second run of a query over 200 campaigns (`steps '7'`, 201 requests at Customer.io's
//!    10 requests/s with 100 ms of latency) against the first: bound, under 5 % of the first's
//!    wall time.
//! 2. 10,000 distinct queries (`customer_segments` of 10,000 different people: one request each,
//!    each answer a cache entry) with the cache bounded at 1 MiB (well under what they add up
//!    to, so the least recently used are evicted): bound, the cache's bytes never above its
//!    bound; this process's peak RSS is reported before and after.
//!
//! 1b. The same for the people search of `customers` (20,000 people: a listing of many pages, held
//!    whole) and its attribute batches.
//!
//! Run: `cargo bench --bench cache` (`-- --quick`: 20 campaigns, 2,000 people, 500 queries, a
//! 64 KiB bound).

use std::time::{Duration, Instant};

use customerio_sim::{Region, SimConfig, Simulator, WorkspaceSpec};
use datafusion::prelude::SessionContext;
use datafusion_customerio::{Credential, Credentials, CustomerIo};

#[allow(dead_code)]
mod support;

async fn session(
    spec: &WorkspaceSpec,
    config: SimConfig,
) -> (Simulator, SessionContext, CustomerIo) {
    let sim = Simulator::start(config).await.expect("simulator");
    let cio = CustomerIo::with_credentials(Credentials::empty());
    cio.credentials().insert(
        "ws",
        Credential::new(spec.api_key.clone()).with_base_url(sim.us_url()),
    );
    let ctx = SessionContext::new();
    cio.register(&ctx);
    (sim, ctx, cio)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let (campaigns, queries, bound) = if quick {
        (20u32, 500usize, 64 * 1024u64)
    } else {
        (200, 10_000, 1024 * 1024)
    };
    println!("cache benchmark: {}", support::machine());

    // 1. Second run against first.
    let spec = WorkspaceSpec {
        name: "ws".into(),
        api_key: "cache-bench-1".into(),
        region: Region::Us,
        campaigns,
        newsletters: 1,
        links: 3,
        segments: 8,
        customers: 1_000,
    };
    let (sim, ctx, _cio) = session(&spec, paced(&spec)).await;
    ctx.sql(
        "CREATE EXTERNAL TABLE campaigns STORED AS CUSTOMERIO LOCATION 'campaigns' \
         OPTIONS (key 'ws', steps '7', rate_limit '10', cache_ttl '5m')",
    )
    .await
    .unwrap();
    let q = "SELECT campaign_id, sum(sent) AS sent FROM campaigns GROUP BY campaign_id ORDER BY 1";
    let runs = twice(&ctx, &sim, q).await;
    report(&format!("{campaigns} campaigns"), &runs);

    // 1b. The same for a listing of many pages: the people search of `customers` and its
    // attribute batches (held whole, issue 16).
    let people = if quick { 2_000 } else { 20_000 };
    let spec_people = WorkspaceSpec {
        api_key: "cache-bench-3".into(),
        campaigns: 1,
        customers: people,
        ..spec.clone()
    };
    let (sim3, ctx3, _cio3) = session(&spec_people, paced(&spec_people)).await;
    ctx3.sql(
        "CREATE EXTERNAL TABLE customers STORED AS CUSTOMERIO LOCATION 'customers' \
         OPTIONS (key 'ws', rate_limit '10', cache_ttl '5m')",
    )
    .await
    .unwrap();
    let runs = twice(
        &ctx3,
        &sim3,
        "SELECT count(*), count(DISTINCT cio_id) FROM customers",
    )
    .await;
    let searches = sim3
        .stats()
        .requests
        .get("getPeopleFilter")
        .copied()
        .unwrap_or(0);
    report(&format!("{people} people ({searches} search pages)"), &runs);
    drop((sim3, ctx3));

    // 2. Distinct queries against a bounded cache.
    let spec = WorkspaceSpec {
        api_key: "cache-bench-2".into(),
        customers: 20_000,
        ..spec
    };
    let config = SimConfig {
        rate_limit: 1000.0,
        ..SimConfig::with_workspaces(vec![spec.clone()])
    };
    let (_sim2, ctx, cio) = session(&spec, config).await;
    cio.cache().set_max_bytes(bound);
    ctx.sql(
        "CREATE EXTERNAL TABLE cs STORED AS CUSTOMERIO LOCATION 'customer_segments' \
         OPTIONS (key 'ws', rate_limit '1000', cache_ttl '1h')",
    )
    .await
    .unwrap();
    let rss_before = support::peak_rss_kb();
    let mut most = 0u64;
    let started = Instant::now();
    for i in 0..queries {
        ctx.sql(&format!(
            "SELECT count(*) FROM cs WHERE customer_id = '{}'",
            i + 1
        ))
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
        most = most.max(cio.cache().stats().bytes);
    }
    let stats = cio.cache().stats();
    println!(
        "{queries} distinct queries in {:.1} s: cache {} entries, {} bytes now, {} at most, bound {} bytes; peak RSS {} KiB before, {} KiB after",
        started.elapsed().as_secs_f64(),
        stats.entries,
        stats.bytes,
        most,
        bound,
        rss_before,
        support::peak_rss_kb()
    );
    println!(
        "bound (issue 16): the cache's bytes never above cache_max_bytes: {}",
        if most <= bound { "PASS" } else { "FAIL" }
    );
}

/// The simulator of `spec` at Customer.io's 10 requests/s, with 100 ms of latency.
fn paced(spec: &WorkspaceSpec) -> SimConfig {
    SimConfig {
        latency: Duration::from_millis(100),
        rate_limit: 10.0,
        ..SimConfig::with_workspaces(vec![spec.clone()])
    }
}

/// (wall, requests, rows) of `q` run twice.
async fn twice(ctx: &SessionContext, sim: &Simulator, q: &str) -> Vec<(Duration, u64, usize)> {
    let mut runs = Vec::new();
    for _ in 0..2 {
        let before: u64 = sim.stats().requests.values().sum();
        let started = Instant::now();
        let rows: usize = ctx
            .sql(q)
            .await
            .unwrap()
            .collect()
            .await
            .unwrap()
            .iter()
            .map(|b| b.num_rows())
            .sum();
        let wall = started.elapsed();
        let requests = sim.stats().requests.values().sum::<u64>() - before;
        runs.push((wall, requests, rows));
    }
    runs
}

/// The two runs' line, and the bound's.
fn report(what: &str, runs: &[(Duration, u64, usize)]) {
    let ratio = runs[1].0.as_secs_f64() / runs[0].0.as_secs_f64();
    println!(
        "{what}: first run {:.2} s ({} requests, {} rows), second run {:.4} s ({} requests, {} rows): {:.3} % of the first",
        runs[0].0.as_secs_f64(),
        runs[0].1,
        runs[0].2,
        runs[1].0.as_secs_f64(),
        runs[1].1,
        runs[1].2,
        ratio * 100.0
    );
    println!(
        "bound (issue 16): second run under 5 % of the first: {}",
        if ratio < 0.05 && runs[1].1 == 0 {
            "PASS"
        } else {
            "FAIL"
        }
    );
}

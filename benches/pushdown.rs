//! Pushdown benchmark (not a test: it reports). The requests a pushed-down query makes, from the
//! simulator's counters, at two sizes of the same workspace: a pushed filter or limit must cost
//! the same requests whatever the size, and at most the bound stated for the query. Each query
//! runs [`RUNS`] times at each size (min-max shown): a `LIMIT` on campaigns may start one metrics
//! request more than it uses, when a slot frees before the rows already in flight arrive, a race
//! of timing that does not depend on the size. Wall time is printed too.
//!
//! - `campaigns` (100 and 1,000 campaigns): `WHERE campaign_id = k`, `WHERE campaign_id IN
//!   (a, b, c)`, `LIMIT n`.
//! - `customers` (10,000 and 100,000 people): `WHERE id = '...'`, `WHERE email = '...'`,
//!   `LIMIT n`. The person looked up is among the last of the workspace, where a scan would
//!   cost the most.
//!
//! Simulator at Customer.io's 10 requests/s with 100 ms of latency; a fresh simulator and key
//! per run, so each starts with an idle limiter.
//!
//! Run: `cargo bench --bench pushdown` (`-- --quick` for 10 and 100 campaigns, 1,000 and 10,000
//! people).

use std::time::{Duration, Instant};

use customerio_sim::{Region, SimConfig, Simulator, WorkspaceSpec};
use datafusion::prelude::SessionContext;
use datafusion_customerio::{Credential, Credentials, CustomerIo};

#[allow(dead_code)]
mod support;

const RATE: f64 = 10.0;
const LATENCY: Duration = Duration::from_millis(100);
/// Metric buckets per campaign: `steps '7'` gives 8 rows (7 days and today).
const STEPS: u32 = 7;
/// Runs of each query at each size.
const RUNS: usize = 3;

/// One query at one size.
struct Measure {
    requests: u64,
    /// Requests by operation, `op n, op n`.
    by_op: String,
    rows: usize,
    wall: Duration,
}

/// A workspace of `campaigns` campaigns and `customers` people, and its simulator.
async fn start(tag: &str, campaigns: u32, customers: u64) -> (Simulator, SessionContext) {
    let spec = WorkspaceSpec {
        name: "ws".into(),
        api_key: format!("push-{tag}"),
        region: Region::Us,
        campaigns,
        newsletters: 1,
        links: 3,
        segments: 8,
        customers,
    };
    let config = SimConfig {
        latency: LATENCY,
        rate_limit: RATE,
        ..SimConfig::with_workspaces(vec![spec.clone()])
    };
    let sim = Simulator::start(config).await.expect("simulator");
    let cio = CustomerIo::with_credentials(Credentials::empty());
    cio.credentials().insert(
        "ws",
        Credential::new(spec.api_key).with_base_url(sim.us_url()),
    );
    let ctx = SessionContext::new();
    cio.register(&ctx);
    for ddl in [
        format!(
            "CREATE EXTERNAL TABLE campaigns STORED AS CUSTOMERIO LOCATION 'campaigns' \
             OPTIONS (key 'ws', steps '{STEPS}', rate_limit '{RATE}')"
        ),
        format!(
            "CREATE EXTERNAL TABLE customers STORED AS CUSTOMERIO LOCATION 'customers' \
             OPTIONS (key 'ws', rate_limit '{RATE}')"
        ),
    ] {
        ctx.sql(&ddl)
            .await
            .expect("create")
            .collect()
            .await
            .expect("create");
    }
    (sim, ctx)
}

async fn measure(sim: &Simulator, ctx: &SessionContext, sql: &str) -> Measure {
    sim.reset_stats();
    let started = Instant::now();
    let batches = ctx
        .sql(sql)
        .await
        .expect("plan")
        .collect()
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    let wall = started.elapsed();
    let stats = sim.stats();
    Measure {
        requests: stats.requests.values().sum(),
        by_op: stats
            .requests
            .iter()
            .map(|(op, n)| format!("{op} {n}"))
            .collect::<Vec<_>>()
            .join(", "),
        rows: batches.iter().map(|b| b.num_rows()).sum(),
        wall,
    }
}

/// The id and email of one of the last people of a workspace of `size`, from
/// `GET /v1/customers/{id}/attributes` (about 3% of people have no id, a few no email).
async fn last_person(sim: &Simulator, size: u64) -> (String, String) {
    let http = reqwest::Client::new();
    for id in (1..=size).rev() {
        let resp = http
            .get(format!("{}/v1/customers/{id}/attributes", sim.us_url()))
            .bearer_auth(format!("push-people-{size}"))
            .send()
            .await
            .expect("attributes");
        if !resp.status().is_success() {
            continue;
        }
        let body: serde_json::Value = resp.json().await.expect("json");
        if let Some(email) = body["customer"]["attributes"]["email"].as_str() {
            return (id.to_string(), email.to_string());
        }
    }
    panic!("no person with an id and an email");
}

struct Case {
    table: &'static str,
    name: &'static str,
    sql: String,
    /// The most the query may cost, whatever the size.
    bound: u64,
    /// What a scan without the pushdown costs, for comparison.
    unpushed: u64,
}

/// The runs of one query at each size, for the verdict.
struct Seen {
    query: String,
    bound: u64,
    /// (size, min requests, max requests)
    sizes: Vec<(u64, u64, u64)>,
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let campaign_sizes: [u32; 2] = if quick { [10, 100] } else { [100, 1_000] };
    let people_sizes: [u64; 2] = if quick {
        [1_000, 10_000]
    } else {
        [10_000, 100_000]
    };
    println!(
        "machine: {}; simulator at {RATE} requests/s, latency {} ms; {RUNS} runs of each query",
        support::machine(),
        LATENCY.as_millis()
    );
    println!(
        "| table | query | size | requests (min-max) | bound | by operation (last run) | rows | wall (median) | a scan without pushdown |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    let mut seen: Vec<Seen> = Vec::new();

    for size in campaign_sizes {
        let n = size as u64;
        let rows_per_campaign = STEPS as u64 + 1;
        let cases = [
            Case {
                table: "campaigns",
                name: "WHERE campaign_id = k",
                sql: format!("SELECT * FROM campaigns WHERE campaign_id = {}", size - 3),
                // The campaign, its metrics, its link metrics.
                bound: 3,
                unpushed: 1 + 2 * n,
            },
            Case {
                table: "campaigns",
                name: "WHERE campaign_id IN (a, b, c)",
                sql: format!(
                    "SELECT * FROM campaigns WHERE campaign_id IN (3, {}, {size})",
                    size / 2
                ),
                // The campaign list (one request whatever the size), then metrics and link
                // metrics of each of the three.
                bound: 1 + 2 * 3,
                unpushed: 1 + 2 * n,
            },
            Case {
                table: "campaigns",
                name: "LIMIT 10",
                sql: "SELECT campaign_id, period_start, sent FROM campaigns LIMIT 10".into(),
                // The list and the campaigns the limit needs (none is started while the rows
                // already on their way cover the limit).
                bound: 1 + 10u64.div_ceil(rows_per_campaign),
                unpushed: 1 + n,
            },
        ];
        for (i, case) in cases.iter().enumerate() {
            let mut runs = Vec::new();
            for run in 0..RUNS {
                let (sim, ctx) = start(&format!("campaigns-{size}-{i}-{run}"), size, 10).await;
                runs.push(measure(&sim, &ctx, &case.sql).await);
            }
            report(&mut seen, case, n, &runs);
        }
    }

    for size in people_sizes {
        let (sim, _) = start(&format!("people-{size}"), 1, size).await;
        let (id, email) = last_person(&sim, size).await;
        drop(sim);
        // A search page per 1,000 people and an attributes batch per 100.
        let unpushed = size.div_ceil(1000) + size.div_ceil(100);
        let cases = [
            Case {
                table: "customers",
                name: "WHERE id = '...'",
                sql: format!("SELECT * FROM customers WHERE id = '{id}'"),
                // One attributes batch by id, no search.
                bound: 1,
                unpushed,
            },
            Case {
                table: "customers",
                name: "WHERE email = '...'",
                sql: format!("SELECT * FROM customers WHERE email = '{email}'"),
                // A search filtered by email, one attributes batch.
                bound: 2,
                unpushed,
            },
            Case {
                table: "customers",
                name: "LIMIT 10",
                sql: "SELECT * FROM customers LIMIT 10".into(),
                // One small search page, one attributes batch.
                bound: 2,
                unpushed,
            },
        ];
        for (i, case) in cases.iter().enumerate() {
            let mut runs = Vec::new();
            for run in 0..RUNS {
                // The data depends only on the seed and the workspace name: the person found
                // above is the same in every simulator of this size.
                let (sim, ctx) = start(&format!("people-{size}-{i}-{run}"), 1, size).await;
                runs.push(measure(&sim, &ctx, &case.sql).await);
            }
            report(&mut seen, case, size, &runs);
        }
    }

    let mut all = true;
    for s in &seen {
        let within = s.sizes.iter().all(|&(_, _, max)| max <= s.bound);
        all &= within;
        let sizes: Vec<String> = s
            .sizes
            .iter()
            .map(|(size, min, max)| format!("{min}-{max} at {size}"))
            .collect();
        println!(
            "{}: requests {} (bound {}): {}",
            s.query,
            sizes.join(", "),
            s.bound,
            if within {
                "within the bound at both sizes"
            } else {
                "NOT within the bound"
            }
        );
    }
    println!(
        "every pushed query within its size-independent bound at both sizes: {}",
        if all { "yes" } else { "NO" }
    );
}

fn report(seen: &mut Vec<Seen>, case: &Case, size: u64, runs: &[Measure]) {
    let min = runs.iter().map(|m| m.requests).min().unwrap_or(0);
    let max = runs.iter().map(|m| m.requests).max().unwrap_or(0);
    let mut walls: Vec<f64> = runs.iter().map(|m| m.wall.as_secs_f64()).collect();
    walls.sort_by(f64::total_cmp);
    let last = runs.last().expect("at least one run");
    println!(
        "| {} | `{}` | {size} | {min}-{max} | {} | {} | {} | {:.2}s | {} requests |",
        case.table,
        case.name,
        case.bound,
        last.by_op,
        last.rows,
        walls[walls.len() / 2],
        case.unpushed
    );
    let query = format!("{} {}", case.table, case.name);
    match seen.iter_mut().find(|s| s.query == query) {
        Some(s) => s.sizes.push((size, min, max)),
        None => seen.push(Seen {
            query,
            bound: case.bound,
            sizes: vec![(size, min, max)],
        }),
    }
}

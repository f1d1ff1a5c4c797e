//! End-to-end scan benchmark against the simulator over loopback (not a test: it reports).
//!
//! 1. `SELECT *` (links included) over 200 campaigns, simulator latency 100 ms, limit 50 requests/s
//!    on both sides: wall time against the rate-limit bound (requests / limit), 429 share, failures.
//! 2. The same scan as a UNION ALL over 3 and over 10 workspaces (a key each, each key with its
//!    own limit): wall time against one workspace (target: at most 1.15 at 10), 429s, and the
//!    process CPU time (client and in-process simulator together), to tell a CPU-bound run from a
//!    paced one on a small machine.
//!
//! Run: `cargo bench --bench scan` (add `-- --quick` for a smaller smoke run).

use std::time::{Duration, Instant};

use customerio_sim::{Region, SimConfig, Simulator, WorkspaceSpec};
use datafusion::prelude::SessionContext;
use datafusion_customerio::{Credential, Credentials, CustomerIo};

#[allow(dead_code)]
mod support;
use support::process_cpu;

struct Run {
    wall: Duration,
    /// CPU time of the whole process (client and simulator) during the query.
    cpu: Duration,
    requests: u64,
    rate_limited: u64,
    rows: usize,
}

async fn scan(workspaces: usize, campaigns: u32, rate: f64, latency_ms: u64, tag: &str) -> Run {
    let specs: Vec<WorkspaceSpec> = (0..workspaces)
        .map(|i| WorkspaceSpec {
            name: format!("ws{i}"),
            // Fresh keys per run: each key's limiter starts idle, as in a new process.
            api_key: format!("bench-{tag}-{i}"),
            region: Region::Us,
            campaigns,
            links: 3,
            ..WorkspaceSpec::default_us()
        })
        .collect();
    let config = SimConfig {
        rate_limit: rate,
        latency: Duration::from_millis(latency_ms),
        ..SimConfig::with_workspaces(specs.clone())
    };
    let sim = Simulator::start(config).await.expect("simulator");
    let cio = CustomerIo::with_credentials(Credentials::empty());
    let ctx = SessionContext::new();
    cio.register(&ctx);
    let mut selects = Vec::new();
    for ws in &specs {
        cio.credentials().insert(
            ws.name.clone(),
            Credential::new(ws.api_key.clone()).with_base_url(sim.us_url()),
        );
        ctx.sql(&format!(
            "CREATE EXTERNAL TABLE {0} STORED AS CUSTOMERIO LOCATION 'campaigns' \
             OPTIONS (key '{0}', rate_limit '{rate}', concurrency '16', steps '45')",
            ws.name
        ))
        .await
        .expect("create")
        .collect()
        .await
        .expect("create");
        selects.push(format!("SELECT * FROM {}", ws.name));
    }
    let sql = selects.join(" UNION ALL ");
    let cpu = process_cpu();
    let started = Instant::now();
    let batches = ctx
        .sql(&sql)
        .await
        .expect("plan")
        .collect()
        .await
        .expect("query succeeds");
    let wall = started.elapsed();
    let cpu = process_cpu().saturating_sub(cpu);
    let stats = sim.stats();
    Run {
        wall,
        cpu,
        requests: stats.requests.values().sum(),
        rate_limited: stats.rate_limited,
        rows: batches.iter().map(|b| b.num_rows()).sum(),
    }
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let (campaigns, rate, latency) = if quick {
        (40, 50.0, 100)
    } else {
        (200, 50.0, 100)
    };
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    println!(
        "machine: {}; simulator latency {latency} ms, {rate} requests/s per workspace",
        support::machine()
    );

    let one = scan(1, campaigns, rate, latency, "one").await;
    let bound = one.requests as f64 / rate;
    // The campaign list must come back before any campaign's requests can go (2 levels).
    let least = support::least_possible(one.requests, 2, latency as f64 / 1000.0, rate);
    println!(
        "1 workspace, {campaigns} campaigns with links: {} rows, {} requests, wall {:.2}s, \
         bound (requests / limit) {:.2}s, ratio {:.3}, least for an evenly paced client {:.2}s, ratio {:.3}, \
         429s {} ({:.2}%), CPU {:.2}s",
        one.rows,
        one.requests,
        one.wall.as_secs_f64(),
        bound,
        one.wall.as_secs_f64() / bound,
        least,
        one.wall.as_secs_f64() / least,
        one.rate_limited,
        100.0 * one.rate_limited as f64 / one.requests as f64,
        one.cpu.as_secs_f64()
    );

    println!(
        "| workspaces | rows | requests | wall | wall / 1 workspace | 429s | CPU (client + simulator) | CPU / (wall x {cores} cores) |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    let row = |n: usize, r: &Run| {
        println!(
            "| {n} | {} | {} | {:.2}s | {:.3} | {} | {:.2}s | {:.0}% |",
            r.rows,
            r.requests,
            r.wall.as_secs_f64(),
            r.wall.as_secs_f64() / one.wall.as_secs_f64(),
            r.rate_limited,
            r.cpu.as_secs_f64(),
            100.0 * r.cpu.as_secs_f64() / (r.wall.as_secs_f64() * cores.max(1) as f64)
        )
    };
    row(1, &one);
    for n in [3, 10] {
        let run = scan(n, campaigns, rate, latency, &format!("ws{n}")).await;
        row(n, &run);
        if n == 10 {
            let ratio = run.wall.as_secs_f64() / one.wall.as_secs_f64();
            println!(
                "10 workspaces: ratio {ratio:.3} to one workspace (target: at most 1.15: {})",
                if ratio <= 1.15 { "met" } else { "NOT met" }
            );
        }
    }
    println!("failed queries: 0 (a failure panics above)");
}

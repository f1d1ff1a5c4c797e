//! End-to-end scan benchmark against the simulator over loopback (not a test: it reports).
//!
//! 1. `SELECT *` (links included) over 200 campaigns, simulator latency 100 ms, limit 50 requests/s
//!    on both sides: wall time against the rate-limit bound (requests / limit), 429 share, failures.
//! 2. The same scan as a UNION ALL over 3 workspaces (3 keys, each with its own limit): wall time
//!    against one workspace.
//!
//! Run: `cargo bench --bench scan` (add `-- --quick` for a smaller smoke run).

use std::time::{Duration, Instant};

use datafusion::prelude::SessionContext;
use datafusion_customerio::simulator::{Region, SimConfig, Simulator, WorkspaceSpec};
use datafusion_customerio::{Credential, Credentials, CustomerIo};

struct Run {
    wall: Duration,
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
    let started = Instant::now();
    let batches = ctx
        .sql(&sql)
        .await
        .expect("plan")
        .collect()
        .await
        .expect("query succeeds");
    let wall = started.elapsed();
    let stats = sim.stats();
    Run {
        wall,
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
    println!(
        "machine: {} cores; simulator latency {latency} ms, {rate} requests/s per workspace",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(0)
    );

    let one = scan(1, campaigns, rate, latency, "one").await;
    let bound = one.requests as f64 / rate;
    println!(
        "1 workspace, {campaigns} campaigns with links: {} rows, {} requests, wall {:.2}s, \
         bound {:.2}s, ratio {:.3}, 429s {} ({:.2}%)",
        one.rows,
        one.requests,
        one.wall.as_secs_f64(),
        bound,
        one.wall.as_secs_f64() / bound,
        one.rate_limited,
        100.0 * one.rate_limited as f64 / one.requests as f64
    );

    let three = scan(3, campaigns, rate, latency, "three").await;
    println!(
        "3 workspaces UNION ALL: {} rows, {} requests, wall {:.2}s, ratio to 1 workspace {:.3}, \
         429s {}",
        three.rows,
        three.requests,
        three.wall.as_secs_f64(),
        three.wall.as_secs_f64() / one.wall.as_secs_f64(),
        three.rate_limited
    );
    println!("failed queries: 0 (a failure panics above)");
}

//! Request efficiency (not a test: it reports). For each report, the requests a full scan makes
//! against the minimum the API allows, and the wall time against the rate-limit bound
//! (requests / limit), with the simulator at Customer.io's 10 requests/second and a latency of
//! 100 ms, then 300 ms.
//!
//! Run: `cargo bench --bench efficiency` (`-- --quick` for smaller workspaces).

use std::time::{Duration, Instant};

use customerio_sim::{ExportConfig, Region, SimConfig, Simulator, WorkspaceSpec};
use datafusion::prelude::SessionContext;
use datafusion_customerio::{Credential, Credentials, CustomerIo};

#[allow(dead_code)] // each bench uses some of the helpers
mod support;

const RATE: f64 = 10.0;

struct Case {
    name: &'static str,
    ddl: &'static str,
    query: &'static str,
    /// The fewest requests the API allows for the query.
    minimum: fn(&WorkspaceSpec) -> u64,
    /// How many answers must come back one after another before the last request can go, plus
    /// one: 2 for a list and then a request per item (nothing else is known before the list's
    /// first answer), one per call for an export (create, poll, link: each needs the one before).
    levels: u64,
}

fn cases() -> Vec<Case> {
    vec![
        Case {
            name: "campaigns, links selected",
            ddl: "LOCATION 'campaigns' OPTIONS (key 'ws', steps '7')",
            query: "SELECT * FROM t",
            minimum: |w| 1 + 2 * w.campaigns as u64,
            levels: 2,
        },
        Case {
            name: "campaigns, no links",
            ddl: "LOCATION 'campaigns' OPTIONS (key 'ws', steps '7')",
            query: "SELECT campaign_id, sent FROM t",
            minimum: |w| 1 + w.campaigns as u64,
            levels: 2,
        },
        Case {
            name: "newsletters, links selected",
            ddl: "LOCATION 'newsletters' OPTIONS (key 'ws', steps '7')",
            query: "SELECT * FROM t",
            minimum: |w| (w.newsletters as u64).div_ceil(100) + 2 * w.newsletters as u64,
            levels: 2,
        },
        Case {
            name: "customers",
            ddl: "LOCATION 'customers' OPTIONS (key 'ws')",
            query: "SELECT * FROM t",
            minimum: |w| w.customers.div_ceil(1000) + w.customers.div_ceil(100),
            levels: 2,
        },
        Case {
            name: "segments",
            ddl: "LOCATION 'segments' OPTIONS (key 'ws')",
            query: "SELECT * FROM t",
            minimum: |_| 1,
            levels: 1,
        },
        Case {
            name: "customers_export, 1 segment",
            ddl: "LOCATION 'customers_export' OPTIONS (key 'ws', segments 'Email Activity - Opens')",
            query: "SELECT * FROM t",
            // segments list, create, one poll, download link (the file itself is not an API call).
            minimum: |_| 4,
            levels: 4,
        },
        Case {
            name: "deliveries_export, 1 campaign",
            ddl: "LOCATION 'deliveries_export' OPTIONS (key 'ws', campaign_id '1', start '-7d')",
            query: "SELECT * FROM t",
            minimum: |_| 3,
            levels: 3,
        },
    ]
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let ws = WorkspaceSpec {
        name: "ws".into(),
        api_key: String::new(),
        region: Region::Us,
        campaigns: if quick { 10 } else { 60 },
        newsletters: if quick { 10 } else { 40 },
        links: 3,
        segments: 8,
        customers: if quick { 1_000 } else { 5_000 },
    };
    println!(
        "machine: {} cores; simulator at {RATE} requests/s; campaigns {}, newsletters {}, people {}",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(0),
        ws.campaigns,
        ws.newsletters,
        ws.customers
    );
    println!(
        "| latency | report | requests | minimum | extra | wall | requests / limit | wall / that | least, evenly paced | wall / least | 429s |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    for latency in [100u64, 300] {
        for (i, case) in cases().into_iter().enumerate() {
            // A fresh key per run, so each starts with an idle limiter.
            let spec = WorkspaceSpec {
                api_key: format!("eff-{latency}-{i}"),
                ..ws.clone()
            };
            let config = SimConfig {
                latency: Duration::from_millis(latency),
                rate_limit: RATE,
                exports: ExportConfig {
                    ready_after: Duration::ZERO,
                    ..ExportConfig::default()
                },
                ..SimConfig::with_workspaces(vec![spec.clone()])
            };
            let sim = Simulator::start(config).await.expect("simulator");
            let cio = CustomerIo::with_credentials(Credentials::empty());
            cio.credentials().insert(
                "ws",
                Credential::new(spec.api_key.clone()).with_base_url(sim.us_url()),
            );
            let ctx = SessionContext::new();
            cio.register(&ctx);
            ctx.sql(&format!(
                "CREATE EXTERNAL TABLE t STORED AS CUSTOMERIO {}",
                case.ddl
            ))
            .await
            .expect("create")
            .collect()
            .await
            .expect("create");
            let started = Instant::now();
            ctx.sql(case.query)
                .await
                .expect("plan")
                .collect()
                .await
                .expect("query succeeds");
            let wall = started.elapsed().as_secs_f64();
            let stats = sim.stats();
            let requests: u64 = stats
                .requests
                .iter()
                .filter(|(op, _)| op.as_str() != "downloadExportFile")
                .map(|(_, n)| n)
                .sum();
            let minimum = (case.minimum)(&spec);
            // requests / limit, and the least any client can take: the last request cannot go
            // before (requests - 1) / limit, nor before the answers it depends on have come back
            // one after another ((levels - 1) round trips, the rest paced after them), and its
            // own answer takes one latency.
            let bound = requests as f64 / RATE;
            let floor =
                support::least_possible(requests, case.levels, latency as f64 / 1000.0, RATE);
            println!(
                "| {latency} ms | {} | {requests} | {minimum} | {} | {wall:.2}s | {bound:.2}s | {:.3} | {floor:.2}s | {:.3} | {} |",
                case.name,
                requests as i64 - minimum as i64,
                wall / bound,
                wall / floor,
                stats.rate_limited
            );
        }
    }
}

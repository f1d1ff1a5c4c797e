//! Memory benchmark (not a test: it reports). Peak RSS (`VmHWM`) of a child process that runs
//! `SELECT * FROM customers` over N people, consuming the batches as they stream (nothing is kept),
//! against a `cio-sim` in a separate process, at two sizes: the peak must not grow with N.
//!
//! Both sides run at 1,000 requests/s (the real limit of 10/s would make 100,000 people, 1,100
//! requests, take two minutes; memory does not depend on the pace).
//!
//! Run: `cargo bench --bench memory` (`-- --quick` for 1,000 and 10,000 people).

use std::time::Instant;

use datafusion::prelude::SessionContext;
use datafusion_customerio::{Credential, Credentials, CustomerIo};
use futures::StreamExt;

#[allow(dead_code)]
mod support;

const RATE: &str = "1000";
const CONCURRENCY: &str = "8";

fn main() {
    support::serve_as_simulator_if_asked();
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--child") {
        let url = args[i + 1].clone();
        let rt = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(child(url));
        return;
    }
    let quick = args.iter().any(|a| a == "--quick");
    let sizes: [u64; 2] = if quick {
        [1_000, 10_000]
    } else {
        [10_000, 100_000]
    };
    println!(
        "machine: {}; cio-sim and client at {RATE} requests/s, concurrency {CONCURRENCY}",
        support::machine()
    );
    println!("| people | rows | requests | wall | rows/s | peak RSS |");
    println!("|---|---|---|---|---|---|");
    let mut peaks = Vec::new();
    for people in sizes {
        let (mut sim, url) =
            support::start_sim(&["--customers", &people.to_string(), "--rate-limit", RATE]);
        let child = support::run_child(&[&url]);
        let (wall, field) = (child.wall, |name: &str| child.field(name));
        let (rows, secs, peak_kb, requests) = (
            field("rows"),
            field("seconds"),
            field("peak_rss_kb"),
            field("requests"),
        );
        let _ = sim.kill();
        let _ = sim.wait();
        assert_eq!(rows as u64, people, "every person once");
        println!(
            "| {people} | {rows} | {requests} | {secs:.2}s (process {wall:.2}s) | {:.0} | {:.1} MB |",
            rows / secs,
            peak_kb / 1024.0
        );
        peaks.push(peak_kb / 1024.0);
    }
    let ratio = peaks[1] / peaks[0];
    println!(
        "peak RSS {:.1} MB at {} people vs {:.1} MB at {}: ratio {ratio:.3} \
         (targets: under 256 MB: {}; flat, within 1.10: {})",
        peaks[1],
        sizes[1],
        peaks[0],
        sizes[0],
        if peaks[1] < 256.0 { "met" } else { "NOT met" },
        if ratio <= 1.10 { "met" } else { "NOT met" }
    );
}

async fn child(url: String) {
    let cio = CustomerIo::with_credentials(Credentials::empty());
    cio.credentials().insert(
        "sim",
        Credential::new("sim-us-key").with_base_url(url.clone()),
    );
    let ctx = SessionContext::new();
    cio.register(&ctx);
    ctx.sql(&format!(
        "CREATE EXTERNAL TABLE customers STORED AS CUSTOMERIO LOCATION 'customers' \
         OPTIONS (key 'sim', rate_limit '{RATE}', concurrency '{CONCURRENCY}')"
    ))
    .await
    .expect("create")
    .collect()
    .await
    .expect("create");
    let started = Instant::now();
    let mut stream = ctx
        .sql("SELECT * FROM customers")
        .await
        .expect("plan")
        .execute_stream()
        .await
        .expect("execute");
    let mut rows = 0;
    while let Some(batch) = stream.next().await {
        rows += batch.expect("scan succeeds").num_rows();
    }
    let secs = started.elapsed().as_secs_f64();
    let stats: serde_json::Value = reqwest::get(format!("{url}/__sim/stats"))
        .await
        .expect("stats")
        .json()
        .await
        .expect("json");
    let requests: u64 = stats["requests"]
        .as_object()
        .map(|m| m.values().filter_map(|v| v.as_u64()).sum())
        .unwrap_or(0);
    println!("rows={rows}");
    println!("seconds={secs}");
    println!("requests={requests}");
    println!("peak_rss_kb={}", support::peak_rss_kb());
}

//! Export benchmark (not a test: it reports). A customers export of N rows from the simulator
//! (a separate `cio-sim` process, so the figures are the connector's alone), scanned with
//! `COPY (SELECT * FROM export) TO '<file>' STORED AS PARQUET`: rows/s, MB/s of CSV, peak RSS.
//! Then the same CSV, saved to disk, through DuckDB's `read_csv` to Parquet (DuckDB from PyPI),
//! on the same machine in the same run.
//!
//! Run: `cargo bench --bench export` (1,000,000 and 8,000,000 rows; `-- --quick` for 100,000 and
//! 400,000, `-- --rows N,M,...` for other sizes). Its last line is the pass/fail of issue 16's
//! memory bound: under 256 MB at every size, and the rise from the first size to the last.

use std::process::{Child, Command};
use std::time::Instant;

use cio_sql as cli;
use datafusion_customerio::{Credential, Credentials, CustomerIo};

#[allow(dead_code)] // each bench uses some of the helpers
mod support;

const ATTRIBUTES: &str = "plan,country,first_name,last_name,created_at";

fn main() {
    support::serve_as_simulator_if_asked();
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--child") {
        let url = args[i + 1].clone();
        let out = args[i + 2].clone();
        let rt = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(child(url, out));
        return;
    }
    let quick = args.iter().any(|a| a == "--quick");
    // `--rows 1000000,2000000,...` for other sizes; the first is the reference for the ratio.
    let sizes: Vec<u64> = match args.iter().position(|a| a == "--rows") {
        Some(i) => args
            .get(i + 1)
            .expect("--rows needs a list of sizes")
            .split(',')
            .map(|n| n.trim().parse().expect("--rows: whole numbers"))
            .collect(),
        None if quick => vec![100_000, 400_000],
        // Issue 16: the rise from 1M to 8M rows.
        None => vec![1_000_000, 8_000_000],
    };
    let dir = std::env::temp_dir().join(format!("cio-export-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    println!("machine: {}", support::machine());
    let mut peaks = Vec::new();
    for &rows in &sizes {
        let (mut sim, url) = start_sim(rows);
        let out = dir.join(format!("customers-{rows}.parquet"));
        let child = support::run_child(&[&url, out.to_str().expect("utf-8 path")]);
        let (wall, field) = (child.wall, |name: &str| child.field(name));
        let (got, secs, peak_kb) = (field("rows"), field("seconds"), field("peak_rss_kb"));
        // A figure for fewer (or more) rows than asked is no figure: the run fails.
        if got != rows as f64 {
            let _ = sim.kill();
            let _ = sim.wait();
            panic!(
                "export bench: the COPY wrote {got} rows, expected {rows} (--rows); \
                 the customers export of a {rows}-person simulator must give every person once"
            );
        }
        // The CSV itself, for its size and for DuckDB.
        let csv = dir.join(format!("customers-{rows}.csv"));
        let fetch = Instant::now();
        let csv_bytes = download_csv(&url, &csv);
        let fetch = fetch.elapsed().as_secs_f64();
        let mb = csv_bytes as f64 / 1e6;
        println!(
            "cio {rows} rows: {got} rows in {secs:.2}s ({:.0} rows/s, {:.1} MB/s of CSV, {mb:.0} MB), \
             peak RSS {:.0} MB (process wall {wall:.2}s), parquet {:.0} MB",
            got / secs,
            mb / secs,
            peak_kb / 1024.0,
            std::fs::metadata(&out)
                .map(|m| m.len() as f64 / 1e6)
                .unwrap_or(f64::NAN)
        );
        println!(
            "  the simulator alone (export + plain download to disk, no parsing): {fetch:.2}s ({:.1} MB/s)",
            mb / fetch
        );
        peaks.push(peak_kb / 1024.0);
        duckdb(&csv, &dir.join(format!("duckdb-{rows}.parquet")), rows, mb);
        let _ = sim.kill();
        let _ = sim.wait();
        let _ = std::fs::remove_file(&csv);
    }
    for (rows, peak) in sizes.iter().zip(&peaks).skip(1) {
        println!(
            "peak RSS {peak:.0} MB at {rows} rows vs {:.0} MB at {} rows: ratio {:.3} (target: under 256 MB, flat)",
            peaks[0],
            sizes[0],
            peak / peaks[0]
        );
    }
    let under = peaks.iter().all(|p| *p < 256.0);
    let rise = peaks.last().copied().unwrap_or(f64::NAN) / peaks[0];
    println!(
        "bound (issue 16): peak RSS under 256 MB at every size: {} (highest {:.0} MB); the rise \
         from {} to {} rows as a ratio: {rise:.3}",
        if under { "PASS" } else { "FAIL" },
        peaks.iter().copied().fold(0.0, f64::max),
        sizes[0],
        sizes.last().copied().unwrap_or(0)
    );
    let _ = std::fs::remove_dir_all(&dir);
}

fn start_sim(rows: u64) -> (Child, String) {
    support::start_sim(&[
        "--customers",
        &rows.to_string(),
        "--export-ready-ms",
        "0",
        "--rate-limit",
        "100",
    ])
}

async fn child(url: String, out: String) {
    let cio = CustomerIo::with_credentials(Credentials::empty());
    cio.credentials()
        .insert("sim", Credential::new("sim-us-key").with_base_url(url));
    // cio-sql's session: Parquet in zstd(1), row groups of DuckDB's size (122,880 rows) instead of
    // DataFusion's 1,048,576 (the writer buffers one row group, so this bounds memory at a size
    // that does not depend on the export).
    let ctx = cli::new_session(&cio);
    ctx.sql(&format!(
        "CREATE EXTERNAL TABLE e STORED AS CUSTOMERIO LOCATION 'customers_export' \
         OPTIONS (key 'sim', attributes '{ATTRIBUTES}')"
    ))
    .await
    .expect("create")
    .collect()
    .await
    .expect("create");
    let started = Instant::now();
    let result = ctx
        .sql(&format!(
            "COPY (SELECT * FROM e) TO '{out}' STORED AS PARQUET"
        ))
        .await
        .expect("plan")
        .collect()
        .await
        .expect("copy succeeds");
    let secs = started.elapsed().as_secs_f64();
    let rows = datafusion::arrow::util::display::array_value_to_string(result[0].column(0), 0)
        .unwrap_or_default();
    println!("rows={rows}");
    println!("seconds={secs}");
    println!("peak_rss_kb={}", support::peak_rss_kb());
}

/// Runs the same export through the API by hand and saves the file; returns its size.
fn download_csv(url: &str, path: &std::path::Path) -> u64 {
    let attributes: Vec<&str> = ATTRIBUTES.split(',').collect();
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(support::download_customers_export(
            url,
            "sim-us-key",
            &attributes,
            path,
        ))
}

fn duckdb(csv: &std::path::Path, out: &std::path::Path, rows: u64, mb: f64) {
    let script = format!(
        "import duckdb, time, resource\n\
         con = duckdb.connect()\n\
         con.execute('SET enable_progress_bar=false')\n\
         t = time.time()\n\
         con.execute(\"COPY (SELECT * FROM read_csv('{}')) TO '{}' (FORMAT parquet)\")\n\
         s = time.time() - t\n\
         print(f'{{s}} {{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}} {{duckdb.__version__}}')\n",
        csv.display(),
        out.display()
    );
    match Command::new("python3").args(["-c", &script]).output() {
        Ok(o) if o.status.success() => {
            let text = String::from_utf8_lossy(&o.stdout);
            let parts: Vec<&str> = text.split_whitespace().collect();
            let secs: f64 = parts
                .first()
                .and_then(|s| s.parse().ok())
                .unwrap_or(f64::NAN);
            let rss_kb: f64 = parts
                .get(1)
                .and_then(|s| s.parse().ok())
                .unwrap_or(f64::NAN);
            println!(
                "duckdb {} read_csv -> parquet, {rows} rows from local disk: {secs:.2}s ({:.0} rows/s, {:.1} MB/s), peak RSS {:.0} MB",
                parts.get(2).unwrap_or(&"?"),
                rows as f64 / secs,
                mb / secs,
                rss_kb / 1024.0
            );
        }
        Ok(o) => println!(
            "duckdb: failed: {}",
            String::from_utf8_lossy(&o.stderr).trim()
        ),
        Err(e) => println!("duckdb: python3 not runnable: {e}"),
    }
}

//! The `distributed` feature: two `cio-sql --worker` processes on loopback run the stages a
//! coordinator plans, and return exactly the rows one process returns.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use datafusion::arrow::record_batch::RecordBatch;
use datafusion::physical_plan::{ExecutionPlan, displayable};
use datafusion::prelude::SessionContext;
use datafusion_customerio::cli::new_distributed_session;
use datafusion_customerio::distributed::{CustomerIoCodec, parse_workers};
use datafusion_customerio::provider::scan::CustomerIoScanExec;
use datafusion_customerio::simulator::{ExportConfig, Region, SimConfig, WorkspaceSpec};
use datafusion_customerio::{Credential, Credentials, CustomerIo};

use crate::cli_support::{cio_sql, credentials_file, scratch};
use crate::common::*;

/// A `cio-sql --worker` process, killed on drop.
struct WorkerProcess {
    child: Child,
    url: String,
    stderr: Arc<Mutex<String>>,
}

impl Drop for WorkerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts a worker on a free port reading `credentials`; its address comes from its first line.
fn start_worker(dir: &std::path::Path, credentials: &std::path::Path) -> WorkerProcess {
    let mut child = cio_sql(dir)
        .args(["--worker", "--port", "0", "--credentials"])
        .arg(credentials)
        .env("CIO_LOG", "trace")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("cio-sql --worker starts");
    let stderr = Arc::new(Mutex::new(String::new()));
    let mut err = child.stderr.take().unwrap();
    let sink = stderr.clone();
    std::thread::spawn(move || {
        let mut buf = [0u8; 8192];
        while let Ok(n) = err.read(&mut buf) {
            if n == 0 {
                break;
            }
            sink.lock()
                .unwrap()
                .push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    });
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .trim()
        .strip_prefix("cio-sql worker listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}: {}", stderr.lock().unwrap()))
        .to_string();
    WorkerProcess { child, url, stderr }
}

/// Forwards loopback connections to `target`, keeping every byte sent either way, so a test can
/// look at exactly what crossed the network.
fn recording_relay(target: String) -> (String, Arc<Mutex<Vec<u8>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = seen.clone();
    std::thread::spawn(move || {
        for inbound in listener.incoming() {
            let Ok(inbound) = inbound else { break };
            let Ok(outbound) = TcpStream::connect(&target) else {
                continue;
            };
            for (mut from, mut to) in [
                (inbound.try_clone().unwrap(), outbound.try_clone().unwrap()),
                (outbound, inbound),
            ] {
                let record = record.clone();
                std::thread::spawn(move || {
                    let mut buf = [0u8; 16384];
                    loop {
                        match from.read(&mut buf) {
                            Ok(0) | Err(_) => break,
                            Ok(n) => {
                                record.lock().unwrap().extend_from_slice(&buf[..n]);
                                if to.write_all(&buf[..n]).is_err() {
                                    break;
                                }
                            }
                        }
                    }
                    let _ = to.shutdown(std::net::Shutdown::Write);
                });
            }
        }
    });
    (format!("127.0.0.1:{}", addr.port()), seen)
}

/// The rows as sorted lines, for an order-free comparison.
fn sorted_rows(batches: &[RecordBatch]) -> Vec<String> {
    let text = pretty(batches);
    let mut rows: Vec<String> = text
        .lines()
        .filter(|l| l.starts_with('|'))
        .skip(1)
        .map(str::to_string)
        .collect();
    rows.sort();
    rows
}

/// Every scan node in `plan`.
fn scans(plan: &Arc<dyn ExecutionPlan>, out: &mut Vec<Arc<dyn ExecutionPlan>>) {
    if plan.downcast_ref::<CustomerIoScanExec>().is_some() {
        out.push(plan.clone());
    }
    for child in plan.children() {
        scans(child, out);
    }
}

/// The one Customer.io scan in the physical plan of `sql`.
async fn only_scan(ctx: &SessionContext, sql: &str) -> Arc<dyn ExecutionPlan> {
    let plan = ctx
        .sql(sql)
        .await
        .unwrap()
        .create_physical_plan()
        .await
        .unwrap();
    let mut found = Vec::new();
    scans(&plan, &mut found);
    assert_eq!(found.len(), 1, "{sql}");
    found.remove(0)
}

/// Requests the simulator saw from each worker (by its `User-Agent`).
fn by_worker(env: &Env) -> BTreeMap<String, u64> {
    env.sim
        .stats()
        .by_user_agent
        .into_iter()
        .filter(|(agent, _)| agent.contains("(worker "))
        .collect()
}

fn four_workspaces(test: &str) -> Vec<WorkspaceSpec> {
    (0..4u32)
        .map(|n| WorkspaceSpec {
            campaigns: 3 + n,
            newsletters: 2,
            customers: 400,
            ..workspace(test, &format!("ws{n}"), Region::Us)
        })
        .collect()
}

fn coordinator(env: &Env, urls: &[String]) -> SessionContext {
    let workers = parse_workers(&urls.join(",")).unwrap();
    new_distributed_session(&env.cio, workers)
}

async fn run(ctx: &SessionContext, sql: &str) -> Vec<RecordBatch> {
    ctx.sql(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .collect()
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

async fn explain(ctx: &SessionContext, sql: &str) -> String {
    let plan = ctx
        .sql(sql)
        .await
        .unwrap()
        .create_physical_plan()
        .await
        .unwrap();
    datafusion_distributed::display_plan_ascii(plan.as_ref(), false)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_workers_return_exactly_the_rows_of_one_process() {
    let specs = four_workspaces("dist_union");
    let env = Env::start(SimConfig {
        exports: ExportConfig {
            ready_after: Duration::ZERO,
            ..ExportConfig::default()
        },
        ..fast_config(specs.clone())
    })
    .await;
    let dir = scratch("distributed");
    let entries: Vec<(&str, &WorkspaceSpec)> = specs.iter().map(|s| (s.name.as_str(), s)).collect();
    let credentials = credentials_file(&dir, &env, &entries);
    let workers = [
        start_worker(&dir, &credentials),
        start_worker(&dir, &credentials),
    ];
    let urls: Vec<String> = workers.iter().map(|w| w.url.clone()).collect();
    let dist = coordinator(&env, &urls);

    let mut ddl = Vec::new();
    for ws in &specs {
        ddl.push(format!(
            "CREATE EXTERNAL TABLE c_{0} STORED AS CUSTOMERIO LOCATION 'campaigns' \
             OPTIONS (key '{0}', rate_limit '500', steps '3')",
            ws.name
        ));
    }
    ddl.push(
        "CREATE EXTERNAL TABLE people STORED AS CUSTOMERIO LOCATION 'customers_export' \
         OPTIONS (key 'ws0', segments '[\"Email Activity - Sent\", \"Email Activity - Opens\", \
         \"Email Activity - Clicks\", 4]', attributes 'plan', rate_limit '500')"
            .to_string(),
    );
    for stmt in &ddl {
        run(&env.ctx, stmt).await;
        run(&dist, stmt).await;
    }
    let union = specs
        .iter()
        .map(|ws| format!("SELECT * FROM c_{}", ws.name))
        .collect::<Vec<_>>()
        .join(" UNION ALL ");

    // The 4-workspace union: one process, then two workers.
    let local = run(&env.ctx, &union).await;
    env.sim.reset_stats();
    let plan = explain(&dist, &union).await;
    assert!(
        plan.contains("DistributedExec") && plan.contains("Stage 1"),
        "the union is not split into stages:\n{plan}"
    );
    let remote = run(&dist, &union).await;
    assert!(row_count(&local) > 0);
    assert_eq!(
        sorted_rows(&remote),
        sorted_rows(&local),
        "union rows differ"
    );
    let per_worker = by_worker(&env);
    assert_eq!(
        per_worker.len(),
        2,
        "requests should come from both workers: {per_worker:?}\nplan:\n{plan}"
    );
    assert_eq!(
        env.sim.stats().by_user_agent.len(),
        2,
        "the coordinator itself made requests: {:?}",
        env.sim.stats().by_user_agent
    );
    println!(
        "union: {} rows, requests by worker {per_worker:?}",
        row_count(&remote)
    );

    // A customers export of four segments: one export per segment, spread over the workers.
    let sql = "SELECT * FROM people";
    let local = run(&env.ctx, sql).await;
    env.sim.reset_stats();
    let plan = explain(&dist, sql).await;
    assert!(
        plan.contains("DistributedExec") && plan.contains("task=1/2"),
        "the export is not split:\n{plan}"
    );
    let remote = run(&dist, sql).await;
    assert!(row_count(&local) > 0);
    assert_eq!(
        sorted_rows(&remote),
        sorted_rows(&local),
        "export rows differ"
    );
    let stats = env.sim.stats();
    assert_eq!(
        stats.requests.get("exportPeopleData").copied(),
        Some(4),
        "each segment exported exactly once: {stats:?}"
    );
    let per_worker = by_worker(&env);
    assert_eq!(
        per_worker.len(),
        2,
        "export requests by worker: {per_worker:?}"
    );
    println!(
        "export: {} rows, requests by worker {per_worker:?}",
        row_count(&remote)
    );

    // The same through `cio-sql --workers`: EXPLAIN draws the stages, the query answers alike.
    let coordinator = |sql: &str| {
        let out = cio_sql(&dir)
            .arg("--credentials")
            .arg(&credentials)
            .args([
                "--workers",
                &urls.join(","),
                "--format",
                "csv",
                "-q",
                "-c",
                sql,
            ])
            .output()
            .unwrap();
        let (stdout, stderr) = (
            String::from_utf8_lossy(&out.stdout).to_string(),
            String::from_utf8_lossy(&out.stderr).to_string(),
        );
        assert!(out.status.success(), "{sql}: {stderr}");
        stdout
    };
    let count = "SELECT workspace, count(*) AS n FROM (".to_string()
        + &specs
            .iter()
            .map(|ws| format!("SELECT * FROM {}.campaigns", ws.name))
            .collect::<Vec<_>>()
            .join(" UNION ALL ")
        + ") GROUP BY 1 ORDER BY 1";
    let drawn = coordinator(&format!("EXPLAIN {count}"));
    assert!(
        drawn.contains("DistributedExec") && drawn.contains("Stage 1"),
        "{drawn}"
    );
    let answer = coordinator(&count);
    for ws in &specs {
        run(
            &env.ctx,
            &format!(
                "CREATE EXTERNAL TABLE d_{0} STORED AS CUSTOMERIO LOCATION 'campaigns' \
                 OPTIONS (key '{0}')",
                ws.name
            ),
        )
        .await;
    }
    let local = run(
        &env.ctx,
        &count
            .replace(".campaigns", "")
            .replace("FROM ws", "FROM d_ws"),
    )
    .await;
    // One process's answer, written as the coordinator's CSV: the lines must be the same.
    let counts = i64_column(&local, 1);
    let names = datafusion::arrow::compute::cast(
        local[0].column(0),
        &datafusion::arrow::datatypes::DataType::Utf8,
    )
    .unwrap();
    assert_eq!(local.len(), 1, "one batch after ORDER BY");
    let names = names
        .as_any()
        .downcast_ref::<datafusion::arrow::array::StringArray>()
        .unwrap();
    let mut expected = vec!["workspace,n".to_string()];
    for (i, n) in counts.iter().enumerate() {
        expected.push(format!("{},{}", names.value(i), n.unwrap()));
    }
    assert_eq!(expected.len(), 1 + specs.len());
    assert_eq!(answer.lines().collect::<Vec<_>>(), expected, "{answer}");

    for w in &workers {
        let log = w.stderr.lock().unwrap();
        for ws in &specs {
            assert!(!log.contains(&ws.api_key), "a worker logged a key");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_crosses_the_network() {
    let specs = four_workspaces("dist_secret");
    let env = Env::start(fast_config(specs.clone())).await;
    let dir = scratch("distributed-secret");
    let entries: Vec<(&str, &WorkspaceSpec)> = specs.iter().map(|s| (s.name.as_str(), s)).collect();
    let credentials = credentials_file(&dir, &env, &entries);
    let workers = [
        start_worker(&dir, &credentials),
        start_worker(&dir, &credentials),
    ];
    // Every byte between the coordinator and the workers passes a relay that keeps it.
    let mut relayed = Vec::new();
    let mut urls = Vec::new();
    for w in &workers {
        let (addr, seen) = recording_relay(w.url.trim_start_matches("http://").to_string());
        urls.push(format!("http://{addr}"));
        relayed.push(seen);
    }
    let dist = coordinator(&env, &urls);
    for ws in &specs {
        run(
            &dist,
            &format!(
                "CREATE EXTERNAL TABLE n_{0} STORED AS CUSTOMERIO LOCATION 'newsletters' \
                 OPTIONS (key '{0}', rate_limit '500', steps '2')",
                ws.name
            ),
        )
        .await;
    }
    let union = specs
        .iter()
        .map(|ws| {
            format!(
                "SELECT newsletter_id, period_start, sent FROM n_{} WHERE newsletter_id IN (1, 2)",
                ws.name
            )
        })
        .collect::<Vec<_>>()
        .join(" UNION ALL ");
    let rows = run(&dist, &union).await;
    assert!(row_count(&rows) > 0);

    let total: usize = relayed.iter().map(|r| r.lock().unwrap().len()).sum();
    assert!(
        total > 1000,
        "the relays saw too little traffic: {total} bytes"
    );
    let bytes: Vec<u8> = relayed
        .iter()
        .flat_map(|r| r.lock().unwrap().clone())
        .collect();
    for ws in &specs {
        let key = ws.api_key.as_bytes();
        assert!(
            !bytes.windows(key.len()).any(|w| w == key),
            "the key of {} crossed the network",
            ws.name
        );
        // The credential's name does travel: that is how a worker finds its own copy.
        let name = format!("\"key\":\"{}\"", ws.name);
        assert!(
            bytes.windows(name.len()).any(|w| w == name.as_bytes()),
            "the credential name {} was not sent",
            ws.name
        );
    }
    println!("relayed {total} bytes between coordinator and workers: no key");
}

/// The codec alone: every report's scan round-trips, and its bytes name the credential only.
#[tokio::test]
async fn codec_round_trips_every_report_without_the_key() {
    let key = "canary-0123456789abcdef0123456789abcdef";
    let cio = CustomerIo::with_credentials(Credentials::empty());
    cio.credentials().insert(
        "prod",
        Credential::new(key.to_string()).with_base_url("http://127.0.0.1:9".to_string()),
    );
    let ctx = SessionContext::new();
    cio.register(&ctx);
    let tables = [
        (
            "campaigns",
            "metric_type 'email', period 'weeks', steps '4'",
        ),
        ("newsletters", "unique_links 'true'"),
        ("customers", "attributes 'plan'"),
        ("segments", "concurrency '2'"),
        (
            "customers_export",
            "segments '[1, \"VIPs\"]', attributes 'plan,country'",
        ),
        ("deliveries_export", "start '-7d', metric 'opened'"),
    ];
    let codec = CustomerIoCodec::new(cio.clone());
    for (report, options) in tables {
        let ddl = if report == "customers" {
            format!(
                "CREATE EXTERNAL TABLE t_{report} (id VARCHAR, plan VARCHAR, created_at TIMESTAMP) \
                 STORED AS CUSTOMERIO LOCATION '{report}' OPTIONS (key 'prod')"
            )
        } else {
            format!(
                "CREATE EXTERNAL TABLE t_{report} STORED AS CUSTOMERIO LOCATION '{report}' \
                 OPTIONS (key 'prod', {options})"
            )
        };
        ctx.sql(&ddl).await.unwrap().collect().await.unwrap();
        let filter = match report {
            "campaigns" => " WHERE campaign_id IN (3, 5)",
            "newsletters" => " WHERE newsletter_id = 3",
            "customers" => " WHERE id = 'p1'",
            "deliveries_export" => " WHERE created >= TIMESTAMP '2026-11-20T00:00:00Z'",
            _ => "",
        };
        let plan = only_scan(&ctx, &format!("SELECT * FROM t_{report}{filter} LIMIT 7")).await;
        let scan = plan.downcast_ref::<CustomerIoScanExec>().unwrap();
        let bytes = codec.encode_scan(scan).unwrap();
        let text = String::from_utf8(bytes.clone()).unwrap();
        assert!(!text.contains(key), "{report}: the key is in {text}");
        assert!(text.contains("\"key\":\"prod\""), "{report}: {text}");
        let decoded = codec.decode_scan(&bytes).unwrap();
        assert_eq!(decoded.definition(), scan.definition(), "{report}");
        let (a, b) = (decoded.params(), scan.params());
        assert_eq!(a.projection, b.projection, "{report}");
        // Text values come back as Utf8 (the scan reads them as text whatever their type).
        let values = |p: &Option<datafusion_customerio::reports::Pushed>| {
            p.as_ref()
                .map(|p| (p.column, p.string_values(), p.i64_values()))
        };
        assert_eq!(values(&a.pushed), values(&b.pushed), "{report}");
        assert_eq!(a.window, b.window, "{report}");
        assert_eq!(a.limit, b.limit, "{report}");
        assert_eq!(
            displayable(&decoded).one_line().to_string(),
            displayable(scan).one_line().to_string(),
            "{report}"
        );
    }

    // A worker without the credential says which name it lacks, not a key.
    let bare = CustomerIoCodec::new(CustomerIo::with_credentials(Credentials::empty()));
    let plan = only_scan(&ctx, "SELECT * FROM t_segments").await;
    let scan = plan.downcast_ref::<CustomerIoScanExec>().unwrap();
    let err = bare
        .decode_scan(&codec.encode_scan(scan).unwrap())
        .unwrap_err()
        .to_string();
    assert!(err.contains("prod") && err.contains("worker"), "{err}");
    assert!(!err.contains(key), "{err}");

    // Bytes from something else are refused with a clear message.
    let err = codec
        .decode_scan(b"{\"format\":\"other\"}")
        .unwrap_err()
        .to_string();
    assert!(err.contains("same version"), "{err}");
}

#[test]
fn worker_addresses_are_checked() {
    assert_eq!(
        parse_workers("127.0.0.1:5000, http://h:6000")
            .unwrap()
            .iter()
            .map(|u| u.to_string())
            .collect::<Vec<_>>(),
        vec!["http://127.0.0.1:5000/", "http://h:6000/"]
    );
    for bad in ["", " , ", "ftp://h:1", "http://", "h:port"] {
        let err = parse_workers(bad).unwrap_err().to_string();
        assert!(err.contains("workers"), "{bad:?}: {err}");
    }
}

//! The `distributed` feature: two `cio-sql --worker` processes on loopback run the stages a
//! coordinator plans, and return exactly the rows one process returns.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cio_sql::worker::{WorkerChannels, parse_workers};
use cio_sql::{new_distributed_session, new_distributed_session_with};
use customerio_sim::{ExportConfig, Region, SimConfig, WorkspaceSpec};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::physical_plan::{ExecutionPlan, displayable};
use datafusion::prelude::SessionContext;
use datafusion_customerio::credentials::Secret;
use datafusion_customerio::distributed::CustomerIoCodec;
use datafusion_customerio::provider::scan::CustomerIoScanExec;
use datafusion_customerio::{Credential, Credentials, CustomerIo};

use crate::cli_support::{cio_sql, credentials_file, scratch, texts, wait_output};
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
    start_worker_with(dir, credentials, &[], None)
}

/// [`start_worker`] with more arguments, and `CIO_WORKER_TOKEN` set to `token` (or unset).
fn start_worker_with(
    dir: &std::path::Path,
    credentials: &std::path::Path,
    extra: &[&str],
    token: Option<&str>,
) -> WorkerProcess {
    let mut command = cio_sql(dir);
    command
        .args(["--worker", "--port", "0", "--credentials"])
        .arg(credentials)
        .args(extra)
        .env("CIO_LOG", "trace");
    match token {
        Some(token) => command.env("CIO_WORKER_TOKEN", token),
        None => command.env_remove("CIO_WORKER_TOKEN"),
    };
    let mut child = command
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
        ("segments", "concurrency '2', counts 'true'"),
        (
            "customers_export",
            "segments '[1, \"VIPs\"]', attributes 'plan,country'",
        ),
        ("deliveries_export", "start '-7d', metric 'opened'"),
        ("messages", "workspace 'acme'"),
        ("activities", "deleted 'true'"),
        ("esp_suppressions", "rate_limit '5'"),
        ("broadcast_metrics", "metric_type 'email', period 'weeks'"),
        ("campaign_journey_metrics", "period 'weeks', steps '4'"),
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
            "messages" => {
                " WHERE customer_id = '7' AND created >= TIMESTAMP '2026-11-20T00:00:00Z'"
            }
            "activities" => " WHERE type IN ('event', 'page')",
            "esp_suppressions" => " WHERE type = 'bounces'",
            "broadcast_metrics" => " WHERE broadcast_id = 2",
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

    // The coordinator's time to live travels with the scan (a worker's session has not its
    // settings): the session's setting, and 0 once the coordinator's cache is off.
    let ttl = |scan: &CustomerIoScanExec| scan.params().client.cache_ttl();
    let plan = only_scan(&ctx, "SELECT * FROM t_segments").await;
    let scan = plan.downcast_ref::<CustomerIoScanExec>().unwrap();
    let decoded = codec
        .decode_scan(&codec.encode_scan(scan).unwrap())
        .unwrap();
    assert_eq!((ttl(scan), ttl(&decoded)), (Duration::ZERO, Duration::ZERO));
    ctx.sql("SET customerio.cache_ttl = '5m'").await.unwrap();
    let plan = only_scan(&ctx, "SELECT * FROM t_segments").await;
    let scan = plan.downcast_ref::<CustomerIoScanExec>().unwrap();
    let decoded = codec
        .decode_scan(&codec.encode_scan(scan).unwrap())
        .unwrap();
    let five = Duration::from_secs(300);
    assert_eq!((ttl(scan), ttl(&decoded)), (five, five));
    cio.cache().disable();
    let decoded = codec
        .decode_scan(&codec.encode_scan(scan).unwrap())
        .unwrap();
    assert_eq!(ttl(&decoded), Duration::ZERO);
    ctx.sql("SET customerio.cache_ttl = '0'").await.unwrap();

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
    // A scan of the previous format (every report's settings in one struct) is refused by its
    // tag, naming both formats.
    let err = codec
        .decode_scan(b"{\"format\":\"customerio-scan/1\",\"options\":{}}")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("'customerio-scan/1'")
            && err.contains("expected 'customerio-scan/2'")
            && err.contains("same version"),
        "{err}"
    );
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

/// The query of the token and TLS tests: one workspace's customers and another's segments.
fn people_and_segments(specs: &[WorkspaceSpec]) -> String {
    format!(
        "SELECT 'c' AS kind, CAST(id AS VARCHAR) AS item FROM t_{0}_customers \
         UNION ALL SELECT 's', CAST(id AS VARCHAR) FROM t_{1}_segments",
        specs[0].name, specs[1].name
    )
}

/// Creates the tables of [`people_and_segments`] on `ctx`.
async fn create_people_and_segments(ctx: &SessionContext, specs: &[WorkspaceSpec]) {
    for (ws, report) in [(&specs[0], "customers"), (&specs[1], "segments")] {
        run(
            ctx,
            &format!(
                "CREATE EXTERNAL TABLE t_{0}_{report} STORED AS CUSTOMERIO LOCATION '{report}' \
                 OPTIONS (key '{0}')",
                ws.name
            ),
        )
        .await;
    }
}

/// Every `/v1` request the simulator has counted.
fn sim_requests(env: &Env) -> u64 {
    env.sim.stats().requests.values().sum()
}

/// Runs `sql` on `ctx` and returns its error (the query must fail).
async fn refused(ctx: &SessionContext, sql: &str) -> String {
    let result = match ctx.sql(sql).await {
        Ok(df) => df.collect().await,
        Err(e) => Err(e),
    };
    match result {
        Ok(rows) => panic!("{sql} answered {} rows", row_count(&rows)),
        Err(e) => e.to_string(),
    }
}

/// A coordinator session whose calls to `urls` go through `channels`.
fn coordinator_with(env: &Env, urls: &[String], channels: WorkerChannels) -> SessionContext {
    let workers = parse_workers(&urls.join(",")).unwrap();
    new_distributed_session_with(&env.cio, workers, channels)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workers_refuse_calls_without_the_right_token() {
    let specs: Vec<WorkspaceSpec> = four_workspaces("dist_token").into_iter().take(2).collect();
    let env = Env::start(fast_config(specs.clone())).await;
    let dir = scratch("distributed-token");
    let entries: Vec<(&str, &WorkspaceSpec)> = specs.iter().map(|s| (s.name.as_str(), s)).collect();
    let credentials = credentials_file(&dir, &env, &entries);
    let token = "w0rker-t0ken-3f9a1c2e7b";
    let token_file = dir.join("worker.token");
    std::fs::write(&token_file, format!("{token}\n")).unwrap();
    // One worker reads the token from the environment, the other from --token-file.
    let token_arg = token_file.to_str().unwrap();
    let workers = [
        start_worker_with(&dir, &credentials, &[], Some(token)),
        start_worker_with(&dir, &credentials, &["--token-file", token_arg], None),
    ];
    let urls: Vec<String> = workers.iter().map(|w| w.url.clone()).collect();
    let sql = people_and_segments(&specs);

    // No token, then a wrong one: refused before any plan is read, so no Customer.io request.
    for (what, channels) in [
        ("no token", WorkerChannels::new(None, None)),
        (
            "a wrong token",
            WorkerChannels::new(Some(Secret::new("not-the-worker-token")), None),
        ),
    ] {
        let dist = coordinator_with(&env, &urls, channels);
        create_people_and_segments(&dist, &specs).await;
        let before = sim_requests(&env);
        let error = refused(&dist, &sql).await;
        assert_eq!(
            sim_requests(&env),
            before,
            "{what}: requests were made: {error}"
        );
        assert!(
            by_worker(&env).is_empty(),
            "{what}: a worker reached Customer.io"
        );
        assert!(error.contains("Unauthenticated"), "{what}: {error}");
        assert!(
            urls.iter().any(|u| error.contains(u.as_str())),
            "{what}: the error does not name the worker: {error}"
        );
        assert!(
            error.contains("CIO_WORKER_TOKEN") && error.contains("--token-file"),
            "{what}: the error does not say how to set the token: {error}"
        );
        assert!(!error.contains(token), "{what}: the error shows the token");
        println!("{what}: {error}");
    }

    // The same through `cio-sql --workers`: non-zero exit, the worker and the settings named.
    let cli = |token: Option<&str>, sql: &str| {
        let mut command = cio_sql(&dir);
        command
            .arg("--credentials")
            .arg(&credentials)
            .args(["--workers", &urls.join(","), "--format", "csv", "-q"])
            .env("CIO_LOG", "trace");
        match token {
            Some(t) => command.env("CIO_WORKER_TOKEN", t),
            None => command.env_remove("CIO_WORKER_TOKEN"),
        };
        let out = command.args(["-c", sql]).output().unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).to_string(),
            String::from_utf8_lossy(&out.stderr).to_string(),
        )
    };
    let cli_sql = format!(
        "CREATE EXTERNAL TABLE t_{0}_customers STORED AS CUSTOMERIO LOCATION 'customers' \
         OPTIONS (key '{0}'); CREATE EXTERNAL TABLE t_{1}_segments STORED AS CUSTOMERIO \
         LOCATION 'segments' OPTIONS (key '{1}'); SELECT count(*) AS n FROM ({sql})",
        specs[0].name, specs[1].name
    );
    let before = sim_requests(&env);
    let (ok, _, stderr) = cli(Some("not-the-worker-token"), &cli_sql);
    assert!(!ok, "a wrong token was let in");
    assert!(
        urls.iter().any(|u| stderr.contains(u.as_str()))
            && stderr.contains("CIO_WORKER_TOKEN")
            && stderr.contains("--token-file"),
        "{stderr}"
    );
    assert_eq!(sim_requests(&env), before, "{stderr}");

    // The right token: the rows of one process.
    let dist = coordinator_with(
        &env,
        &urls,
        WorkerChannels::new(Some(Secret::new(token)), None),
    );
    create_people_and_segments(&dist, &specs).await;
    let remote = run(&dist, &sql).await;
    create_people_and_segments(&env.ctx, &specs).await;
    let local = run(&env.ctx, &sql).await;
    assert_eq!(
        row_count(&local),
        specs[0].customers as usize + specs[1].segments as usize
    );
    assert_eq!(sorted_rows(&remote), sorted_rows(&local));
    assert_eq!(
        by_worker(&env).len(),
        2,
        "both workers (token from the environment and from --token-file) ran a scan: {:?}",
        by_worker(&env)
    );
    // A grouped query: its later stage runs on the workers and reads the scans' stage from the
    // other workers, so the workers' own calls carry the token too.
    let grouped = format!("SELECT item, count(*) AS n FROM ({sql}) GROUP BY item ORDER BY item");
    let drawn = explain(&dist, &grouped).await;
    assert!(drawn.contains("Stage 2"), "{drawn}");
    assert_eq!(
        sorted_rows(&run(&dist, &grouped).await),
        sorted_rows(&run(&env.ctx, &grouped).await)
    );
    let drawn = explain(&dist, &sql).await;
    assert!(drawn.contains("DistributedExec"), "{drawn}");
    assert!(!drawn.contains(token), "EXPLAIN shows the token");
    let channels = WorkerChannels::new(Some(Secret::new(token)), None);
    assert!(!format!("{channels:?}").contains(token));

    let (ok, stdout, stderr) = cli(Some(token), &cli_sql);
    assert!(ok, "{stderr}");
    assert_eq!(
        stdout.lines().last(),
        Some(row_count(&local).to_string().as_str()),
        "{stdout}"
    );
    assert!(!stderr.contains(token), "the coordinator logged the token");
    for w in &workers {
        let log = w.stderr.lock().unwrap();
        assert!(log.contains("refused a call"), "{log}");
        assert!(!log.contains(token), "a worker logged the token");
    }
}

/// A throwaway CA: (its certificate in PEM, a certificate and key it signed for 127.0.0.1 and
/// localhost, in PEM).
fn test_ca(name: &str) -> (String, String, String) {
    use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params
        .distinguished_name
        .push(DnType::CommonName, format!("{name} test CA"));
    let ca = CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap();
    let key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()])
        .unwrap()
        .signed_by(&key, &*ca)
        .unwrap();
    (ca.pem(), leaf.pem(), key.serialize_pem())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workers_serve_tls_to_coordinators_that_trust_their_ca() {
    let specs: Vec<WorkspaceSpec> = four_workspaces("dist_tls").into_iter().take(2).collect();
    let env = Env::start(fast_config(specs.clone())).await;
    let dir = scratch("distributed-tls");
    let entries: Vec<(&str, &WorkspaceSpec)> = specs.iter().map(|s| (s.name.as_str(), s)).collect();
    let credentials = credentials_file(&dir, &env, &entries);
    let (ca, cert, key) = test_ca("worker");
    let (other_ca, _, _) = test_ca("other");
    std::fs::write(dir.join("cert.pem"), &cert).unwrap();
    std::fs::write(dir.join("key.pem"), &key).unwrap();
    std::fs::write(dir.join("ca.pem"), &ca).unwrap();
    let token = "tls-w0rker-t0ken-81d2";
    // `--tls-ca`: the workers reach each other over TLS too (a stage read from another worker).
    let tls_args = [
        "--tls-cert",
        dir.join("cert.pem").to_str().unwrap(),
        "--tls-key",
        dir.join("key.pem").to_str().unwrap(),
        "--tls-ca",
        dir.join("ca.pem").to_str().unwrap(),
    ]
    .map(str::to_string);
    let tls_args: Vec<&str> = tls_args.iter().map(String::as_str).collect();
    let workers = [
        start_worker_with(&dir, &credentials, &tls_args, Some(token)),
        start_worker_with(&dir, &credentials, &tls_args, Some(token)),
    ];
    let urls: Vec<String> = workers.iter().map(|w| w.url.clone()).collect();
    for url in &urls {
        assert!(url.starts_with("https://127.0.0.1:"), "{url}");
    }
    let sql = people_and_segments(&specs);

    // A coordinator that trusts another CA: refused at the handshake, no request made.
    let dist = coordinator_with(
        &env,
        &urls,
        WorkerChannels::new(Some(Secret::new(token)), Some(other_ca.into_bytes())),
    );
    create_people_and_segments(&dist, &specs).await;
    let before = sim_requests(&env);
    let error = refused(&dist, &sql).await;
    assert_eq!(sim_requests(&env), before, "{error}");
    assert!(by_worker(&env).is_empty(), "a worker reached Customer.io");
    assert!(
        urls.iter().any(|u| error.contains(u.as_str())),
        "the error does not name the worker: {error}"
    );
    assert!(error.contains("--tls-ca"), "{error}");
    println!("another CA: {error}");

    // The right CA (and the token): the rows of one process.
    let dist = coordinator_with(
        &env,
        &urls,
        WorkerChannels::new(Some(Secret::new(token)), Some(ca.clone().into_bytes())),
    );
    create_people_and_segments(&dist, &specs).await;
    let remote = run(&dist, &sql).await;
    create_people_and_segments(&env.ctx, &specs).await;
    let local = run(&env.ctx, &sql).await;
    assert!(row_count(&local) > 0);
    assert_eq!(sorted_rows(&remote), sorted_rows(&local));
    assert!(!by_worker(&env).is_empty(), "the workers ran no scan");
    // A grouped query: a stage on the workers reads another stage from the workers, over TLS.
    let grouped = format!("SELECT item, count(*) AS n FROM ({sql}) GROUP BY item ORDER BY item");
    assert_eq!(
        sorted_rows(&run(&dist, &grouped).await),
        sorted_rows(&run(&env.ctx, &grouped).await)
    );

    // The right CA without the token: refused all the same.
    let dist = coordinator_with(
        &env,
        &urls,
        WorkerChannels::new(None, Some(ca.clone().into_bytes())),
    );
    create_people_and_segments(&dist, &specs).await;
    let before = sim_requests(&env);
    let error = refused(&dist, &sql).await;
    assert!(error.contains("Unauthenticated"), "{error}");
    assert_eq!(sim_requests(&env), before, "{error}");

    // Through relays that keep every byte: the rows arrive over TLS records only (no HTTP/2
    // preface in clear), and the token is not in the bytes.
    let mut relayed = Vec::new();
    let mut relay_urls = Vec::new();
    for url in &urls {
        let (addr, seen) = recording_relay(url.trim_start_matches("https://").to_string());
        relay_urls.push(format!("https://{addr}"));
        relayed.push(seen);
    }
    let dist = coordinator_with(
        &env,
        &relay_urls,
        WorkerChannels::new(Some(Secret::new(token)), Some(ca.clone().into_bytes())),
    );
    create_people_and_segments(&dist, &specs).await;
    assert_eq!(sorted_rows(&run(&dist, &sql).await), sorted_rows(&local));
    let bytes: Vec<u8> = relayed
        .iter()
        .flat_map(|r| r.lock().unwrap().clone())
        .collect();
    assert!(bytes.len() > 1000, "the relays saw {} bytes", bytes.len());
    for seen in &relayed {
        let seen = seen.lock().unwrap();
        assert_eq!(seen.first(), Some(&0x16), "not a TLS handshake record");
    }
    let preface = b"PRI * HTTP/2.0";
    assert!(
        !bytes.windows(preface.len()).any(|w| w == preface),
        "HTTP/2 in clear text"
    );
    assert!(
        !bytes.windows(token.len()).any(|w| w == token.as_bytes()),
        "the token crossed the network in clear text over TLS"
    );

    // A plain-HTTP/2 coordinator gets no answer from a TLS worker.
    let plain: Vec<String> = urls
        .iter()
        .map(|u| u.replace("https://", "http://"))
        .collect();
    let dist = coordinator_with(
        &env,
        &plain,
        WorkerChannels::new(Some(Secret::new(token)), None),
    );
    create_people_and_segments(&dist, &specs).await;
    let _ = refused(&dist, &sql).await;

    // `cio-sql --workers ... --tls-ca FILE`: the same answer.
    std::fs::write(dir.join("ca.pem"), &ca).unwrap();
    let out = cio_sql(&dir)
        .arg("--credentials")
        .arg(&credentials)
        .args(["--workers", &urls.join(","), "--tls-ca"])
        .arg(dir.join("ca.pem"))
        .args(["--format", "csv", "-q", "-c"])
        .arg(format!(
            "CREATE EXTERNAL TABLE t_{0}_customers STORED AS CUSTOMERIO LOCATION 'customers' \
             OPTIONS (key '{0}'); CREATE EXTERNAL TABLE t_{1}_segments STORED AS CUSTOMERIO \
             LOCATION 'segments' OPTIONS (key '{1}'); SELECT count(*) AS n FROM ({sql})",
            specs[0].name, specs[1].name
        ))
        .env("CIO_WORKER_TOKEN", token)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        stdout.lines().last(),
        Some(row_count(&local).to_string().as_str()),
        "{stdout}"
    );
}

#[test]
fn a_worker_on_a_public_address_needs_a_token() {
    let dir = scratch("distributed-bind");
    let worker = |extra: &[&str]| {
        let mut command = cio_sql(&dir);
        command
            .args(["--worker", "--bind", "0.0.0.0", "--port", "0"])
            .args(extra)
            .env_remove("CIO_WORKER_TOKEN")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        command.spawn().unwrap()
    };
    let out = wait_output(worker(&[]), Duration::from_secs(30));
    let (stdout, stderr) = texts(&out);
    assert!(!out.status.success(), "{stdout}{stderr}");
    assert!(!stdout.contains("listening"), "{stdout}");
    for needed in ["0.0.0.0", "CIO_WORKER_TOKEN", "--token-file", "--insecure"] {
        assert!(stderr.contains(needed), "no {needed}: {stderr}");
    }

    // --insecure: it starts, and warns. No traffic is sent to it.
    let mut child = worker(&["--insecure"]);
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let _ = child.kill();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        line.starts_with("cio-sql worker listening on http://0.0.0.0:"),
        "{line}{stderr}"
    );
    assert!(
        stderr.contains("warning") && stderr.contains("--insecure"),
        "{stderr}"
    );
}

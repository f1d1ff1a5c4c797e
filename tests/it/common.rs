//! Shared test setup: a simulator per test with keys of its own (the rate limiter is per key and
//! process-wide), a fixed clock shared by the simulator and the tables, and SQL helpers.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use customerio_sim::{IsolatedSimulator, Region, SimConfig, Simulator, WorkspaceSpec};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::prelude::SessionContext;
use datafusion_customerio::clock::FixedClock;
use datafusion_customerio::{Credential, Credentials, CustomerIo};

/// 2026-11-26 15:30 UTC, a Thursday.
pub fn fixed_now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-26T15:30:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

/// The suite's canary: `CIO_TEST_CANARY` (`.ci/run` sets a fresh `canary-<32 hex>` each run),
/// carried by every key the suite makes, so that the whole run's logs and files can be searched
/// for it afterwards; `key` when unset.
pub fn suite_canary() -> &'static str {
    static CANARY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    CANARY.get_or_init(|| {
        std::env::var("CIO_TEST_CANARY")
            .ok()
            .filter(|c| {
                c.strip_prefix("canary-")
                    .is_some_and(|h| h.len() >= 20 && h.chars().all(|c| c.is_ascii_hexdigit()))
            })
            .unwrap_or_else(|| "key".to_string())
    })
}

/// With `CIO_TEST_TRACE_FILE` set (by `.ci/run`), every in-process log event of the suite, at
/// TRACE level, goes to that file, for the canary search after the run. Tests that install a
/// subscriber of their own keep it (a thread's own subscriber wins over the global one).
pub fn trace_to_file() {
    static INIT: std::sync::Once = std::sync::Once::new();
    INIT.call_once(|| {
        let Ok(path) = std::env::var("CIO_TEST_TRACE_FILE") else {
            return;
        };
        let Ok(file) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
        else {
            panic!("CIO_TEST_TRACE_FILE {path} cannot be opened");
        };
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .with_writer(std::sync::Mutex::new(file))
            .finish();
        let _ = tracing::subscriber::set_global_default(subscriber);
    });
}

/// A workspace named `name` whose key is unique to the test `test`.
pub fn workspace(test: &str, name: &str, region: Region) -> WorkspaceSpec {
    trace_to_file();
    let base = match region {
        Region::Us => WorkspaceSpec::default_us(),
        Region::Eu => WorkspaceSpec::default_eu(),
    };
    WorkspaceSpec {
        name: name.into(),
        api_key: format!("it-{test}-{name}-{}", suite_canary()),
        region,
        ..base
    }
}

/// The test's fixed clock seen by the simulator, which has a clock type of its own (it shares no
/// code with the connector).
#[derive(Debug)]
pub struct SimClock(pub Arc<FixedClock>);

impl customerio_sim::clock::Clock for SimClock {
    fn now(&self) -> chrono::DateTime<chrono::Utc> {
        use datafusion_customerio::clock::Clock as _;
        self.0.now()
    }
}

/// A simulator, a session with the factory registered, and the credentials `sim_us`/`sim_eu`
/// (or each workspace's name) pointing at it.
pub struct Env {
    /// On a thread and runtime of its own, like a real server: arrival times it logs do not
    /// depend on how busy the test's own threads are.
    pub sim: IsolatedSimulator,
    pub ctx: SessionContext,
    pub cio: CustomerIo,
    pub clock: Arc<FixedClock>,
}

impl Env {
    /// Starts `config` (its clock replaced by a fixed one) with a high rate limit unless set.
    pub async fn start(mut config: SimConfig) -> Env {
        trace_to_file();
        let clock = Arc::new(FixedClock::new(fixed_now()));
        config.clock = Arc::new(SimClock(clock.clone()));
        let sim = Simulator::start_isolated(config.clone())
            .await
            .expect("simulator starts");
        let cio = CustomerIo::with_credentials(Credentials::empty()).with_clock(clock.clone());
        for ws in &config.workspaces {
            let cred = Credential::new(ws.api_key.clone()).with_base_url(sim.url_for(ws.region));
            cio.credentials().insert(ws.name.clone(), cred);
        }
        let ctx = SessionContext::new();
        cio.register(&ctx);
        Env {
            sim,
            ctx,
            cio,
            clock,
        }
    }

    /// Runs one statement and collects its batches.
    pub async fn sql(&self, sql: &str) -> datafusion::error::Result<Vec<RecordBatch>> {
        self.ctx.sql(sql).await?.collect().await
    }

    /// `GET base + path` with the workspace's key, as JSON.
    pub async fn api(&self, ws: &WorkspaceSpec, path_and_query: &str) -> serde_json::Value {
        let url = format!("{}{}", self.sim.url_for(ws.region), path_and_query);
        let resp = reqwest::Client::new()
            .get(&url)
            .bearer_auth(&ws.api_key)
            .send()
            .await
            .expect("simulator answers");
        assert!(resp.status().is_success(), "{url}: {}", resp.status());
        resp.json().await.expect("json")
    }

    /// Requests the simulator served for `operation`.
    pub fn requests(&self, operation: &str) -> u64 {
        self.sim
            .stats()
            .requests
            .get(operation)
            .copied()
            .unwrap_or(0)
    }

    /// Every request the simulator served.
    pub fn total_requests(&self) -> u64 {
        self.sim.stats().requests.values().sum()
    }
}

/// A simulator config with `workspaces` and a rate limit high enough not to slow tests down.
pub fn fast_config(workspaces: Vec<WorkspaceSpec>) -> SimConfig {
    SimConfig {
        rate_limit: 1000.0,
        ..SimConfig::with_workspaces(workspaces)
    }
}

/// Rows in `batches`.
pub fn row_count(batches: &[RecordBatch]) -> usize {
    batches.iter().map(|b| b.num_rows()).sum()
}

/// The batches as pretty text, for comparisons and messages.
pub fn pretty(batches: &[RecordBatch]) -> String {
    datafusion::arrow::util::pretty::pretty_format_batches(batches)
        .unwrap()
        .to_string()
}

/// Column `c` of every row as i64 (NULL as None).
pub fn i64_column(batches: &[RecordBatch], c: usize) -> Vec<Option<i64>> {
    use datafusion::arrow::array::{Array, Int64Array};
    use datafusion::arrow::compute::cast;
    use datafusion::arrow::datatypes::DataType;
    let mut out = Vec::new();
    for b in batches {
        let col = cast(b.column(c), &DataType::Int64).unwrap();
        let a = col.as_any().downcast_ref::<Int64Array>().unwrap();
        out.extend((0..a.len()).map(|i| if a.is_null(i) { None } else { Some(a.value(i)) }));
    }
    out
}

/// `POST base + path` on `env`'s simulator with `ws`'s key and a JSON body; the answer as JSON
/// (it must be a success).
pub async fn post(
    env: &Env,
    ws: &WorkspaceSpec,
    path: &str,
    body: serde_json::Value,
) -> serde_json::Value {
    let url = format!("{}{}", env.sim.url_for(ws.region), path);
    let resp = reqwest::Client::new()
        .post(&url)
        .bearer_auth(&ws.api_key)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success(), "{url}: {}", resp.status());
    resp.json().await.unwrap()
}

/// Answers the next `operation` request of `env`'s simulator with `body` (status 200).
pub fn script(env: &Env, operation: &str, body: &serde_json::Value) {
    env.sim.push_script(
        customerio_sim::ScriptedResponse::new(200)
            .for_operation(operation)
            .with_body(body.to_string()),
    );
}

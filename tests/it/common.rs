//! Shared test setup: a simulator per test with keys of its own (the rate limiter is per key and
//! process-wide), a fixed clock shared by the simulator and the tables, and SQL helpers.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::prelude::SessionContext;
use datafusion_customerio::clock::FixedClock;
use datafusion_customerio::simulator::{Region, SimConfig, Simulator, WorkspaceSpec};
use datafusion_customerio::{Credential, Credentials, CustomerIo};

/// 2026-11-26 15:30 UTC, a Thursday.
pub fn fixed_now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-26T15:30:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

/// A workspace named `name` whose key is unique to the test `test`.
pub fn workspace(test: &str, name: &str, region: Region) -> WorkspaceSpec {
    let base = match region {
        Region::Us => WorkspaceSpec::default_us(),
        Region::Eu => WorkspaceSpec::default_eu(),
    };
    WorkspaceSpec {
        name: name.into(),
        api_key: format!("it-{test}-{name}-key"),
        region,
        ..base
    }
}

/// A simulator, a session with the factory registered, and the credentials `sim_us`/`sim_eu`
/// (or each workspace's name) pointing at it.
pub struct Env {
    pub sim: Simulator,
    pub ctx: SessionContext,
    pub cio: CustomerIo,
    pub clock: Arc<FixedClock>,
}

impl Env {
    /// Starts `config` (its clock replaced by a fixed one) with a high rate limit unless set.
    pub async fn start(mut config: SimConfig) -> Env {
        let clock = Arc::new(FixedClock::new(fixed_now()));
        config.clock = clock.clone();
        let sim = Simulator::start(config.clone())
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

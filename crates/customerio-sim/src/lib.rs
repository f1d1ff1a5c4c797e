//! A local Customer.io App API: two HTTP servers (the US and the EU host) that answer the read
//! endpoints this crate uses with deterministic, lazily generated data.
//!
//! The simulator follows `docs/API-NOTES.md`: bearer keys are workspace- and
//! region-scoped (a key sent to the other region's host gets 401), each workspace has a token
//! bucket (429 with `Retry-After: 1` when it is empty), every error body is the 2026 `errors[]`
//! shape, and faults (5xx, connection resets, truncated or malformed bodies, slow headers) can be
//! injected at random rates or scripted one request at a time.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use customerio_sim::{SimConfig, Simulator};
//! let sim = Simulator::start(SimConfig::default()).await?;
//! let url = format!("{}/v1/campaigns", sim.us_url()); // Bearer sim-us-key
//! # let _ = url;
//! sim.shutdown().await;
//! # Ok(())
//! # }
//! ```
//!
//! # Pipeline of a `/v1` request
//! Count (`stats.requests[operationId]`) → auth (401) → 503 during an outage
//! ([`Simulator::start_outage`]) → a matching scripted answer, if any →
//! rate limit (429) → latency → strict request validation (400) → random fault → handler.
//!
//! # Strict requests
//! With [`SimConfig::strict`] (the default; `cio-sim --lenient` turns it off) every `/v1` request
//! is checked against its operation's vendor contract, read at start from the spec files under
//! `spec/` (the 2026 excerpt; `spec/journeys-app.2026-ops.json`, copied from the vendor JSON for
//! the operations the excerpt lacks; `spec/customer_io_api.2022-ops.json` for `getCampaigns`,
//! which only the 2022 spec has here): path parameter types, query parameter names (an unknown
//! one is refused), types, enums, `minimum`/`maximum`, required parameters, and JSON bodies.
//! A refused request gets 400 and `{"errors":[{"detail":..,"status":"400","source":{..}}]}`, the
//! detail naming the operation, the parameter, the value and what is valid (`meta.contract`: the
//! spec file of the rule). Validation follows
//! auth and the rate limit (a gateway checks the key and counts the request first). Quirks the
//! spec documents in prose are kept: campaign metrics `version` other than `2` is version 1;
//! `res`, `start`, `end` are required only with `version=2`; `steps` out of range is
//! [`SimConfig::steps_out_of_range`]'s business, not a 400. Choices where the specs are silent:
//! `listNewsletters` `limit` has no documented maximum, so the handler clamps it to 1000; a query
//! boolean is `true` or `false`.
//!
//! # Endpoints
//! Campaigns (`listCampaigns`, `getCampaigns`, `listCampaignActions`, `campaignMetrics` v1 and
//! v2, `campaignLinkMetrics`), newsletters (`listNewsletters`, `getNewsletters`,
//! `getNewsletterMetrics`, `getNewsletterLinks`), `listSegments`, people (`getPeopleFilter`,
//! `getPeopleById`, `getPersonAttributes`) and exports (`exportPeopleData`,
//! `exportDeliveriesData`, `listExports`, `getExport`, `downloadExport`, and the signed file
//! URLs `/__sim/files/{id}?expires=..&signature=..`, served without auth).
//! Both hosts also serve `GET /__sim/stats`, `POST /__sim/reset` and `POST /__sim/script` (a JSON
//! list of [`ScriptedResponse`]) without auth or rate limit.
//!
//! # Data
//! Every value is a pure function of the seed, the workspace name and the item's coordinates:
//! two simulators with the same seed (and clock) answer byte-for-byte the same. Campaign,
//! newsletter and segment ids are `1..=n`; person `i` has `id = i + 1` (about 3% have none),
//! a hex `cio_id` and an email ending in `.{i}@domain`, so lookups by identifier are direct.
//! A metric bucket's numbers depend only on the item, the period and the bucket start, so
//! version 1 and version 2 (`tz=America/New_York`) agree on shared buckets.
//!
//! # An independent oracle
//! The simulator imports none of the connector's vocabulary or arithmetic: the channels of each
//! metrics operation's `type`, the `period`/`res` names, the series keys and the deliveries
//! `metric` values are read from the vendor's 2026 spec (`vocabulary`), and bucket boundaries
//! come from its own calendar (`calendar`), written from the vendor's descriptions.

mod api_catalog;
mod api_metrics;
mod api_objects;
mod api_people;
mod calendar;
pub mod cli;
/// The simulator's clock.
pub mod clock;
mod customers;
mod data;
mod error;
mod export_files;
mod exports;
mod faults;
mod hash;
mod http_date;
mod limits;
mod metrics;
mod objects;
mod params;
mod routes;
mod shapes;
mod state;
mod validate;
mod vocabulary;
mod window;

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::clock::{Clock, SystemClock};

pub use exports::{DownloadWhilePending, ExportConfig};
pub use faults::{FaultConfig, ScriptKind, ScriptedResponse};
pub use shapes::{
    ExportCompression, HeaderCase, LinkIdType, MetricsEnd, MetricsTimeFormat, PeopleShape,
    ShapeConfig,
};

use state::SimState;

/// Everything a simulator run is made of. `SimConfig::default()` is the documented demo dataset.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// The seed of every generated value (default 42).
    pub seed: u64,
    /// The workspaces, each with its App API key and region (default: `sim_us` and `sim_eu`).
    pub workspaces: Vec<WorkspaceSpec>,
    /// Added before answering each `/v1` request (default 0).
    pub latency: Duration,
    /// Requests per second allowed per workspace (default 10, the real API's limit).
    pub rate_limit: f64,
    /// Token bucket capacity; `None` means `ceil(rate_limit)`.
    pub burst: Option<u32>,
    /// Random fault rates (default: none).
    pub faults: FaultConfig,
    /// What metrics endpoints do with a `steps` above the maximum or below 0.
    pub steps_out_of_range: StepsMode,
    /// The clock behind metric windows and export timing (default: the system clock).
    pub clock: Arc<dyn Clock>,
    /// Asynchronous export behaviour (timing, download URLs, file layout).
    pub exports: ExportConfig,
    /// Validate every `/v1` request against its operation's vendor contract and answer 400 with
    /// the vendor error body when it breaks it (default `true`; `cio-sim --lenient` turns it off).
    /// See "Strict requests" in the module docs.
    pub strict: bool,
    /// Response shapes other than the default one (wrapped people, RFC 3339 times, string link
    /// ids, compressed export files, ...): see [`ShapeConfig`].
    pub shapes: ShapeConfig,
}

impl SimConfig {
    /// The documented default dataset: `sim_us` (key `sim-us-key`, US) with 12 campaigns,
    /// 8 newsletters, 3 links each, 8 segments and 2,000 customers, and `sim_eu` (key `sim-eu-key`,
    /// EU) with 7 campaigns, 5 newsletters, 2 links, 6 segments and 1,000 customers.
    pub fn default_dataset() -> Self {
        Self::default()
    }

    /// The default configuration with `workspaces` replaced.
    pub fn with_workspaces(workspaces: Vec<WorkspaceSpec>) -> Self {
        SimConfig {
            workspaces,
            ..Self::default()
        }
    }

    /// The token bucket capacity in effect: `burst`, or `ceil(rate_limit)` (at least 1).
    pub fn effective_burst(&self) -> u32 {
        self.burst
            .unwrap_or_else(|| self.rate_limit.ceil().clamp(1.0, u32::MAX as f64) as u32)
            .max(1)
    }
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            seed: 42,
            workspaces: vec![WorkspaceSpec::default_us(), WorkspaceSpec::default_eu()],
            latency: Duration::ZERO,
            rate_limit: 10.0,
            burst: None,
            faults: FaultConfig::default(),
            steps_out_of_range: StepsMode::Clamp,
            clock: Arc::new(SystemClock),
            exports: ExportConfig::default(),
            strict: true,
            shapes: ShapeConfig::default(),
        }
    }
}

/// One simulated workspace and the sizes of its generated data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkspaceSpec {
    /// The workspace name (used in stats and as part of the data seed).
    pub name: String,
    /// Its App API key (`Authorization: Bearer <api_key>`).
    pub api_key: String,
    /// The host that accepts the key.
    pub region: Region,
    /// Number of campaigns (ids `1..=campaigns`).
    pub campaigns: u32,
    /// Number of newsletters (ids `1..=newsletters`).
    pub newsletters: u32,
    /// Tracked links per campaign and per newsletter.
    pub links: u32,
    /// Number of segments (ids `1..=segments`).
    pub segments: u32,
    /// Number of people; generated on demand, never held in memory.
    pub customers: u64,
}

impl WorkspaceSpec {
    /// `sim_us`, key `sim-us-key`, US: 12 campaigns, 8 newsletters, 3 links, 8 segments, 2,000 people.
    pub fn default_us() -> Self {
        WorkspaceSpec {
            name: "sim_us".into(),
            api_key: "sim-us-key".into(),
            region: Region::Us,
            campaigns: 12,
            newsletters: 8,
            links: 3,
            segments: 8,
            customers: 2_000,
        }
    }

    /// `sim_eu`, key `sim-eu-key`, EU: 7 campaigns, 5 newsletters, 2 links, 6 segments, 1,000 people.
    pub fn default_eu() -> Self {
        WorkspaceSpec {
            name: "sim_eu".into(),
            api_key: "sim-eu-key".into(),
            region: Region::Eu,
            campaigns: 7,
            newsletters: 5,
            links: 2,
            segments: 6,
            customers: 1_000,
        }
    }

    /// Workspace number `n` of a multi-workspace benchmark: `sim_ws{n}`, key `sim-ws{n}-key`, US,
    /// with the sizes of `sim_us`.
    pub fn numbered(n: u32) -> Self {
        WorkspaceSpec {
            name: format!("sim_ws{n}"),
            api_key: format!("sim-ws{n}-key"),
            ..Self::default_us()
        }
    }
}

/// Customer.io's data regions: a workspace lives in one, and each has its own App API host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Region {
    /// `https://api.customer.io`
    #[default]
    Us,
    /// `https://api-eu.customer.io`
    Eu,
}

impl std::fmt::Display for Region {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Region::Us => "us",
            Region::Eu => "eu",
        })
    }
}

/// What a metrics endpoint does with `steps` above the period's maximum or below 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StepsMode {
    /// Use the maximum, as `steps=0` does (the undocumented behaviour is assumed lenient).
    #[default]
    Clamp,
    /// Answer 400 with an `errors[]` body.
    Reject,
}

impl FromStr for StepsMode {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "clamp" => Ok(StepsMode::Clamp),
            "reject" => Ok(StepsMode::Reject),
            _ => Err(format!(
                "'{s}' is not a steps mode; valid values are clamp, reject"
            )),
        }
    }
}

/// Request counters, as served by `GET /__sim/stats`.
#[derive(Serialize, Deserialize, Debug, Clone, Default, PartialEq, Eq)]
pub struct SimStats {
    /// `/v1` requests by operation id (`listCampaigns`, `getPeopleFilter`, ...), counted on
    /// arrival, whatever the answer. Signed export file downloads count as `downloadExportFile`.
    pub requests: BTreeMap<String, u64>,
    /// Authenticated `/v1` requests by workspace name.
    pub by_workspace: BTreeMap<String, u64>,
    /// Authenticated `/v1` requests by `User-Agent` (empty when none was sent): which process
    /// (a distributed worker names itself there) made them.
    #[serde(default)]
    pub by_user_agent: BTreeMap<String, u64>,
    /// 429 answers, real or scripted.
    pub rate_limited: u64,
    /// Injected faults: random ones (5xx, reset, truncate, malformed, slow headers) and consumed
    /// scripted responses.
    pub faults_injected: u64,
    /// Answers by HTTP status (`"200"`, `"429"`, ...), for `/v1` and unknown routes.
    pub statuses: BTreeMap<String, u64>,
}

/// One authenticated `/v1` request, as logged after [`Simulator::record_requests`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestRecord {
    /// The workspace whose key it carried.
    pub workspace: String,
    /// Its operation id (`listNewsletters`, ...).
    pub operation: String,
    /// When it arrived (after auth, before the rate limit), from the simulator's start.
    pub at: Duration,
}

/// A running simulator. Dropping it (or [`Simulator::shutdown`]) stops both servers.
pub struct Simulator {
    state: Arc<SimState>,
    us_addr: SocketAddr,
    eu_addr: SocketAddr,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

/// A simulator on its own thread and runtime ([`Simulator::start_isolated`]).
pub struct IsolatedSimulator {
    sim: Simulator,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl std::ops::Deref for IsolatedSimulator {
    type Target = Simulator;
    fn deref(&self) -> &Simulator {
        &self.sim
    }
}

impl fmt::Debug for IsolatedSimulator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.sim.fmt(f)
    }
}

impl Drop for IsolatedSimulator {
    fn drop(&mut self) {
        let _ = self.sim.stop.send(true);
        // The thread ends once its servers have stopped; it is not joined here, because a drop
        // inside an async task must not block.
        drop(self.thread.take());
    }
}

impl fmt::Debug for Simulator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Simulator")
            .field("us", &self.us_addr)
            .field("eu", &self.eu_addr)
            .finish_non_exhaustive()
    }
}

impl Simulator {
    /// Starts both hosts on free loopback ports (`127.0.0.1:0`).
    pub async fn start(config: SimConfig) -> std::io::Result<Simulator> {
        Self::start_on(config, 0, 0).await
    }

    /// Starts both hosts on free loopback ports, served by a runtime on a thread of their own.
    ///
    /// A simulator in the caller's runtime is served by the same worker threads as the client
    /// under test: when they are busy (decoding a page in a debug build), requests are handled,
    /// and their arrival logged, late. Tests that measure arrival times use this one, which, like
    /// a real server, does not wait for the client's threads.
    pub async fn start_isolated(config: SimConfig) -> std::io::Result<IsolatedSimulator> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let thread = std::thread::Builder::new()
            .name("cio-sim".into())
            .spawn(move || {
                let runtime = match tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(1)
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt,
                    Err(e) => {
                        let _ = tx.send(Err(e));
                        return;
                    }
                };
                runtime.block_on(async move {
                    match Simulator::start(config).await {
                        Ok(sim) => {
                            let mut stopped = sim.stop.subscribe();
                            if tx.send(Ok(sim)).is_ok() {
                                let _ = stopped.wait_for(|s| *s).await;
                            }
                        }
                        Err(e) => {
                            let _ = tx.send(Err(e));
                        }
                    }
                });
            })?;
        let sim = rx
            .await
            .map_err(|_| std::io::Error::other("the simulator thread ended before starting"))??;
        Ok(IsolatedSimulator {
            sim,
            thread: Some(thread),
        })
    }

    /// Starts the US host on `127.0.0.1:us_port` and the EU host on `127.0.0.1:eu_port`
    /// (0 picks a free port).
    pub async fn start_on(
        config: SimConfig,
        us_port: u16,
        eu_port: u16,
    ) -> std::io::Result<Simulator> {
        let us = bind(us_port).await?;
        let eu = bind(eu_port).await?;
        let (us_addr, eu_addr) = (us.local_addr()?, eu.local_addr()?);
        let state =
            Arc::new(SimState::new(config, us_addr, eu_addr).map_err(std::io::Error::other)?);
        let contracts = validate::Contracts::from_specs().map_err(std::io::Error::other)?;
        let (stop, stopped) = watch::channel(false);
        let mut tasks = Vec::new();
        for (listener, region) in [(us, Region::Us), (eu, Region::Eu)] {
            let app = routes::router(state.clone(), region, &contracts);
            let mut stopped = stopped.clone();
            tasks.push(tokio::spawn(async move {
                let serve = axum::serve(listener, app).with_graceful_shutdown(async move {
                    let _ = stopped.wait_for(|s| *s).await;
                });
                if let Err(e) = serve.await {
                    tracing::warn!("simulator {region} host stopped: {e}");
                }
            }));
        }
        Ok(Simulator {
            state,
            us_addr,
            eu_addr,
            stop,
            tasks,
        })
    }

    /// The US host's base URL, e.g. `http://127.0.0.1:4010` (no trailing slash).
    pub fn us_url(&self) -> String {
        format!("http://{}", self.us_addr)
    }

    /// The EU host's base URL (no trailing slash).
    pub fn eu_url(&self) -> String {
        format!("http://{}", self.eu_addr)
    }

    /// The base URL of `region`'s host.
    pub fn url_for(&self, region: Region) -> String {
        match region {
            Region::Us => self.us_url(),
            Region::Eu => self.eu_url(),
        }
    }

    /// The configuration the simulator runs with.
    pub fn config(&self) -> &SimConfig {
        &self.state.config
    }

    /// The request counters (the same data as `GET /__sim/stats`).
    pub fn stats(&self) -> SimStats {
        self.state.stats()
    }

    /// Starts logging every authenticated `/v1` request with its arrival time, for tests that
    /// check pacing and retry timing ([`Simulator::request_log`]). Off by default, so a
    /// long-running simulator does not grow.
    pub fn record_requests(&self) {
        self.state.record_requests();
    }

    /// The requests logged since [`Simulator::record_requests`] (or the last reset), in arrival
    /// order.
    pub fn request_log(&self) -> Vec<RequestRecord> {
        self.state.request_log()
    }

    /// Zeroes the request counters (and empties the request log).
    pub fn reset_stats(&self) {
        self.state.reset_stats();
    }

    /// Queues a scripted answer: the next `/v1` request that matches it (after auth) gets it
    /// instead of its normal answer.
    pub fn push_script(&self, step: ScriptedResponse) {
        self.state.push_script(step);
    }

    /// Starts an outage: every authenticated `/v1` request arriving within `duration` from now
    /// is answered 503 (counted in `faults_injected`); scripts, rate limit and handlers are not
    /// reached. For retry-budget tests.
    pub fn start_outage(&self, duration: Duration) {
        self.state.start_outage(duration);
    }

    /// Stops both servers, letting in-flight requests finish for up to a second.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        for task in std::mem::take(&mut self.tasks) {
            let abort = task.abort_handle();
            if tokio::time::timeout(Duration::from_secs(1), task)
                .await
                .is_err()
            {
                abort.abort();
            }
        }
    }
}

impl Drop for Simulator {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        for task in &self.tasks {
            task.abort();
        }
    }
}

async fn bind(port: u16) -> std::io::Result<TcpListener> {
    TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], port))).await
}

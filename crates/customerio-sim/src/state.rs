//! The state both hosts share: workspaces, counters, scripts, exports.

use std::collections::{BTreeSet, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use super::customers::People;
use super::data::Catalog;
use super::exports::ExportStore;
use super::hash::Key;
use super::limits::TokenBucket;
use super::{Region, RequestRecord, ScriptedResponse, SimConfig, SimStats, WorkspaceSpec};

/// One workspace: its generated data and its rate limit.
#[derive(Debug)]
pub(crate) struct Workspace {
    pub(crate) spec: WorkspaceSpec,
    pub(crate) catalog: Catalog,
    pub(crate) people: People,
    pub(crate) bucket: TokenBucket,
}

/// Everything the handlers share.
#[derive(Debug)]
pub(crate) struct SimState {
    pub(crate) config: SimConfig,
    pub(crate) workspaces: Vec<Arc<Workspace>>,
    pub(crate) exports: ExportStore,
    pub(crate) us_addr: SocketAddr,
    pub(crate) eu_addr: SocketAddr,
    stats: Mutex<SimStats>,
    scripts: Mutex<VecDeque<ScriptedResponse>>,
    /// Counts `/v1` requests that reach fault selection.
    fault_counter: AtomicU64,
    /// Counts error references (`reference a1b2c3`).
    references: AtomicU64,
    /// When the simulator started: the origin of [`RequestRecord::at`].
    started: Instant,
    /// Whether authenticated `/v1` requests are logged (off unless a test asks).
    recording: AtomicBool,
    log: Mutex<Vec<RequestRecord>>,
    /// Until when every authenticated `/v1` request is answered 503 (an outage).
    outage_until: Mutex<Option<Instant>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl SimState {
    /// Validates `config` and builds the workspaces.
    pub(crate) fn new(
        config: SimConfig,
        us_addr: SocketAddr,
        eu_addr: SocketAddr,
    ) -> Result<Self, String> {
        if !(config.rate_limit.is_finite() && config.rate_limit > 0.0) {
            return Err(format!(
                "rate_limit must be a positive number of requests per second, got {}",
                config.rate_limit
            ));
        }
        config.faults.validate()?;
        config.exports.validate()?;
        super::vocabulary::check()?;
        if config.workspaces.is_empty() {
            return Err("the simulator needs at least one workspace".into());
        }
        let (mut names, mut keys) = (BTreeSet::new(), BTreeSet::new());
        for ws in &config.workspaces {
            if !names.insert(ws.name.as_str()) {
                return Err(format!("workspace name '{}' is used twice", ws.name));
            }
            if ws.api_key.is_empty() || !keys.insert(ws.api_key.as_str()) {
                return Err(format!(
                    "workspace '{}' needs an API key that no other workspace uses",
                    ws.name
                ));
            }
        }
        let now = Instant::now();
        let burst = config.effective_burst();
        let workspaces = config
            .workspaces
            .iter()
            .map(|spec| {
                let catalog = Catalog::new(config.seed, spec.clone());
                let people = People::new(catalog.root, spec.customers, u64::from(spec.segments));
                Arc::new(Workspace {
                    spec: spec.clone(),
                    catalog,
                    people,
                    bucket: TokenBucket::new(config.rate_limit, burst, now),
                })
            })
            .collect();
        Ok(SimState {
            exports: ExportStore::new(Key::new(config.seed).str("export-signing").bits()),
            config,
            workspaces,
            us_addr,
            eu_addr,
            stats: Mutex::new(SimStats::default()),
            scripts: Mutex::new(VecDeque::new()),
            fault_counter: AtomicU64::new(0),
            references: AtomicU64::new(0),
            started: now,
            recording: AtomicBool::new(false),
            log: Mutex::new(Vec::new()),
            outage_until: Mutex::new(None),
        })
    }

    /// The workspace whose key is `key`, if any.
    pub(crate) fn workspace_by_key(&self, key: &str) -> Option<&Arc<Workspace>> {
        self.workspaces.iter().find(|w| w.spec.api_key == key)
    }

    /// The base URL of `region`'s host.
    pub(crate) fn base_url(&self, region: Region) -> String {
        match region {
            Region::Us => format!("http://{}", self.us_addr),
            Region::Eu => format!("http://{}", self.eu_addr),
        }
    }

    /// A copy of the counters.
    pub(crate) fn stats(&self) -> SimStats {
        lock(&self.stats).clone()
    }

    /// Zeroes the counters.
    pub(crate) fn reset_stats(&self) {
        *lock(&self.stats) = SimStats::default();
        lock(&self.log).clear();
    }

    /// Updates the counters.
    pub(crate) fn record(&self, f: impl FnOnce(&mut SimStats)) {
        f(&mut lock(&self.stats));
    }

    /// Starts logging every authenticated `/v1` request (cleared by `reset_stats`).
    pub(crate) fn record_requests(&self) {
        self.recording.store(true, Ordering::Relaxed);
    }

    /// Logs an authenticated `/v1` request of `workspace`, if logging is on.
    pub(crate) fn log_request(&self, workspace: &str, operation: &str) {
        if self.recording.load(Ordering::Relaxed) {
            let at = self.started.elapsed();
            lock(&self.log).push(RequestRecord {
                workspace: workspace.to_string(),
                operation: operation.to_string(),
                at,
            });
        }
    }

    /// The logged requests, in arrival order.
    pub(crate) fn request_log(&self) -> Vec<RequestRecord> {
        lock(&self.log).clone()
    }

    /// Queues a scripted answer.
    pub(crate) fn push_script(&self, step: ScriptedResponse) {
        lock(&self.scripts).push_back(step);
    }

    /// Answers every authenticated `/v1` request with 503 for `duration` from now.
    pub(crate) fn start_outage(&self, duration: std::time::Duration) {
        *lock(&self.outage_until) = Some(Instant::now() + duration);
    }

    /// Whether an outage is in progress.
    pub(crate) fn in_outage(&self) -> bool {
        lock(&self.outage_until).is_some_and(|until| Instant::now() < until)
    }

    /// Removes and returns the first script matching `operation` in `workspace`.
    pub(crate) fn take_script(&self, operation: &str, workspace: &str) -> Option<ScriptedResponse> {
        let mut scripts = lock(&self.scripts);
        let pos = scripts
            .iter()
            .position(|s| s.matches(operation, workspace))?;
        scripts.remove(pos)
    }

    /// The next fault-selection number.
    pub(crate) fn next_fault_number(&self) -> u64 {
        self.fault_counter.fetch_add(1, Ordering::Relaxed)
    }

    /// A 6-hex-digit error reference, like the real API's `(reference a1b2c3)`.
    pub(crate) fn reference(&self) -> String {
        let n = self.references.fetch_add(1, Ordering::Relaxed);
        format!(
            "{:06x}",
            Key::new(self.config.seed).str("reference").u64(n).bits() & 0xFF_FFFF
        )
    }
}

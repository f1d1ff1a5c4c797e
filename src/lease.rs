//! The lease on one run date: `lock-<generation>.json` objects written with create-if-absent.
//!
//! Taking the lease creates the next generation; so does renewing it (every third of its
//! duration) and taking over a lease whose time ran out or whose process is gone from this host.
//! Of two runs creating the same generation only one succeeds, so at most one run holds the
//! newest generation; a holder that finds a newer generation than its own has lost the lease.

use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use object_store::{ObjectStoreExt, PutMode};
use serde::{Deserialize, Serialize};

use super::errors::CliError;
use super::ingest::{IngestJob, RunEnv, RunError};
use super::stores::{Location, PutError, delete, ignore_missing, os_error, put_json};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct LockRecord {
    pub(super) run_id: String,
    pub(super) host: String,
    pub(super) pid: u32,
    pub(super) acquired_at: DateTime<Utc>,
    pub(super) expires_at: DateTime<Utc>,
}

/// A lease on one run date, held by one run.
pub(super) struct Lease {
    dir: Location,
    run_id: String,
    generation: Mutex<u64>,
    expires_at: Mutex<DateTime<Utc>>,
}

fn lock_name(generation: u64) -> String {
    format!("lock-{generation:010}.json")
}

impl Lease {
    pub(super) async fn latest(dir: &Location) -> Result<(u64, Option<LockRecord>), CliError> {
        let listing = dir
            .store
            .list_with_delimiter(Some(&dir.path))
            .await
            .map_err(|e| os_error("list", dir, e))?;
        let latest = listing
            .objects
            .iter()
            .filter_map(|o| {
                o.location
                    .filename()?
                    .strip_prefix("lock-")?
                    .strip_suffix(".json")?
                    .parse::<u64>()
                    .ok()
            })
            .max();
        let Some(generation) = latest else {
            return Ok((0, None));
        };
        let loc = dir.join(&lock_name(generation))?;
        let record = match loc.store.get(&loc.path).await {
            Ok(r) => {
                let bytes = r.bytes().await.map_err(|e| os_error("read", &loc, e))?;
                serde_json::from_slice::<LockRecord>(&bytes).ok()
            }
            Err(object_store::Error::NotFound { .. }) => None,
            Err(e) => return Err(os_error("read", &loc, e)),
        };
        Ok((generation, record))
    }

    fn record(run_id: &str, env: &RunEnv, ttl: Duration) -> LockRecord {
        let now = env.clock.now();
        LockRecord {
            run_id: run_id.to_string(),
            host: host_name(),
            pid: std::process::id(),
            acquired_at: now,
            expires_at: now + chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::MAX),
        }
    }

    pub(super) async fn acquire(
        dir: &Location,
        run_id: &str,
        env: &RunEnv,
        job: &IngestJob,
    ) -> Result<Lease, RunError> {
        for _ in 0..5 {
            let (generation, current) = Self::latest(dir).await?;
            if let Some(holder) = &current {
                if let Some(why) = alive(holder, env.clock.now()) {
                    return Err(RunError::Busy(format!(
                        "run {} of {} is held by run {} (pid {} on {}, since {}, lease until \
                         {}; {why}); this run stops without writing anything. If that run \
                         died, rerun after its lease ends, or delete {}",
                        dir.path.filename().unwrap_or_default(),
                        job.name,
                        holder.run_id,
                        holder.pid,
                        holder.host,
                        holder
                            .acquired_at
                            .to_rfc3339_opts(SecondsFormat::Secs, true),
                        holder.expires_at.to_rfc3339_opts(SecondsFormat::Secs, true),
                        dir.join(&lock_name(generation))?.display()
                    )));
                }
                env.log(&format!(
                    "taking over the lease of run {} (pid {} on {}): {}",
                    holder.run_id,
                    holder.pid,
                    holder.host,
                    if holder.expires_at <= env.clock.now() {
                        "its lease ended"
                    } else {
                        "its process is gone"
                    }
                ));
            }
            let next = generation + 1;
            let record = Self::record(run_id, env, job.lease);
            let loc = dir.join(&lock_name(next))?;
            match put_json(&loc, &record, PutMode::Create).await {
                Ok(()) => {
                    return Ok(Lease {
                        dir: dir.clone(),
                        run_id: run_id.to_string(),
                        generation: Mutex::new(next),
                        expires_at: Mutex::new(record.expires_at),
                    });
                }
                Err(PutError::Exists) => continue,
                Err(PutError::Other(e)) => return Err(e.into()),
            }
        }
        Err(RunError::Busy(format!(
            "run {} of {}: other runs keep taking the lease; this run stops without writing anything",
            dir.path.filename().unwrap_or_default(),
            job.name
        )))
    }

    /// Renews the lease every third of its duration; returns only when it was lost.
    pub(super) async fn keep(&self, env: &RunEnv, ttl: Duration) -> RunError {
        loop {
            tokio::time::sleep(ttl / 3).await;
            let current = *self.generation.lock().unwrap_or_else(|e| e.into_inner());
            let next = current + 1;
            let record = Self::record(&self.run_id, env, ttl);
            let loc = match self.dir.join(&lock_name(next)) {
                Ok(l) => l,
                Err(e) => return RunError::Failed(e),
            };
            match put_json(&loc, &record, PutMode::Create).await {
                Ok(()) => {
                    *self.generation.lock().unwrap_or_else(|e| e.into_inner()) = next;
                    *self.expires_at.lock().unwrap_or_else(|e| e.into_inner()) = record.expires_at;
                    let old = self.dir.join(&lock_name(current));
                    if let Ok(old) = old {
                        let _ = delete(&old).await;
                    }
                }
                Err(PutError::Exists) => {
                    return RunError::Busy(
                        "another run took over this run's lease; stopping without committing"
                            .into(),
                    );
                }
                Err(PutError::Other(e)) => {
                    env.log(&format!("could not renew the lease (will retry): {e}"));
                }
            }
        }
    }

    /// Fails unless this run still holds the newest, unexpired lease.
    pub(super) async fn check(&self, env: &RunEnv) -> Result<(), RunError> {
        let (generation, record) = Self::latest(&self.dir).await?;
        let mine = *self.generation.lock().unwrap_or_else(|e| e.into_inner());
        let expires = *self.expires_at.lock().unwrap_or_else(|e| e.into_inner());
        let held = generation == mine && record.is_some_and(|r| r.run_id == self.run_id);
        if !held {
            return Err(RunError::Busy(
                "another run took over this run's lease; stopping without committing".into(),
            ));
        }
        if expires <= env.clock.now() {
            return Err(RunError::Busy(
                "this run's lease ran out before the commit; stopping without committing (a \
                 longer --lease helps)"
                    .into(),
            ));
        }
        Ok(())
    }

    pub(super) async fn release(&self, _env: &RunEnv) -> Result<(), CliError> {
        let mine = *self.generation.lock().unwrap_or_else(|e| e.into_inner());
        let listing = self
            .dir
            .store
            .list_with_delimiter(Some(&self.dir.path))
            .await
            .map_err(|e| os_error("list", &self.dir, e))?;
        for o in listing.objects {
            let generation = o
                .location
                .filename()
                .and_then(|n| n.strip_prefix("lock-"))
                .and_then(|n| n.strip_suffix(".json"))
                .and_then(|n| n.parse::<u64>().ok());
            if generation.is_some_and(|g| g <= mine) {
                self.dir
                    .store
                    .delete(&o.location)
                    .await
                    .or_else(ignore_missing)
                    .map_err(|e| os_error("delete", &self.dir, e))?;
            }
        }
        Ok(())
    }
}

/// Why the holder of a lease is alive, or `None` if the lease may be taken over.
pub(super) fn alive(holder: &LockRecord, now: DateTime<Utc>) -> Option<&'static str> {
    if holder.expires_at <= now {
        return None;
    }
    if holder.host == host_name() && holder.pid != std::process::id() && !process_alive(holder.pid)
    {
        return None;
    }
    Some("it is running")
}

fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .or_else(|| std::env::var("COMPUTERNAME").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "unknown-host".into())
}

/// Whether process `pid` runs on this host (Linux: `/proc`; elsewhere assumed alive).
fn process_alive(pid: u32) -> bool {
    if !std::path::Path::new("/proc/self").exists() {
        return true;
    }
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the parenthesised command name; Z and X are dead.
        Ok(stat) => stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_some_and(|state| !matches!(state, "Z" | "X")),
        Err(_) => false,
    }
}

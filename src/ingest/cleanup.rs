//! Removing what runs leave: this run's staging, intent and lease once committed or failed;
//! what dead runs of the date left; leftovers on a committed date.

use std::collections::BTreeSet;

use futures::TryStreamExt;
use object_store::ObjectStoreExt;

use super::manifest::Intent;
use super::run::Run;
use super::{RunEnv, RunError};
use crate::errors::CliError;
use crate::lease::{Lease, alive};
use crate::stores::{self, Location, delete, delete_prefix, ignore_missing, os_error};

impl Run<'_> {
    /// Removes what dead runs of this date left: their staging, and their published files
    /// that this run will not overwrite.
    pub(super) async fn clean_previous(&self, finals: &[String]) -> Result<(), RunError> {
        let keep: BTreeSet<&str> = finals.iter().map(String::as_str).collect();
        let listing = self
            .dir
            .store
            .list_with_delimiter(Some(&self.dir.path))
            .await
            .map_err(|e| os_error("list", self.dir, e))?;
        for o in &listing.objects {
            let name = o.location.filename().unwrap_or_default();
            let Some(id) = name
                .strip_prefix("intent-")
                .and_then(|n| n.strip_suffix(".json"))
            else {
                continue;
            };
            if id == self.run_id {
                continue;
            }
            let loc = self.dir.join(name)?;
            let bytes = match loc.store.get(&loc.path).await {
                Ok(r) => r.bytes().await.map_err(|e| os_error("read", &loc, e))?,
                Err(object_store::Error::NotFound { .. }) => continue,
                Err(e) => return Err(os_error("read", &loc, e).into()),
            };
            if let Ok(intent) = serde_json::from_slice::<Intent>(&bytes) {
                for f in intent.files.iter().filter(|f| !keep.contains(f.as_str())) {
                    let target = stores::location(&self.shell.ctx, f)?;
                    delete(&target).await?;
                    self.env.log(&format!(
                        "removed {} left by the dead run {id}",
                        target.display()
                    ));
                }
            }
            delete(&loc).await?;
        }
        let staging_root = self.dir.join("staging/")?;
        let mine = self.staging()?;
        let old: Vec<_> = staging_root
            .store
            .list(Some(&staging_root.path))
            .try_collect()
            .await
            .map_err(|e| os_error("list", &staging_root, e))?;
        for o in old {
            if !o.location.as_ref().starts_with(mine.path.as_ref()) {
                staging_root
                    .store
                    .delete(&o.location)
                    .await
                    .or_else(ignore_missing)
                    .map_err(|e| os_error("delete", &staging_root, e))?;
            }
        }
        Ok(())
    }

    /// After the commit: staging, intent and lease go.
    pub(super) async fn finish(&self) -> Result<(), CliError> {
        delete_prefix(&self.staging()?).await?;
        delete(&self.dir.join(&format!("intent-{}.json", self.run_id))?).await?;
        self.lease.release(self.env).await
    }

    /// After a failure: staging and lease go; the intent stays if files were published.
    pub(super) async fn abandon(&self) -> Result<(), CliError> {
        delete_prefix(&self.staging()?).await?;
        if !self.published {
            delete(&self.dir.join(&format!("intent-{}.json", self.run_id))?).await?;
        }
        self.lease.release(self.env).await
    }
}

/// On a committed date, removes what a run that died after its commit left (staging files, its
/// intent, its lease), unless a live run holds the lease.
pub(super) async fn tidy(dir: &Location, env: &RunEnv) -> Result<(), CliError> {
    let (_, holder) = Lease::latest(dir).await?;
    if holder.is_some_and(|h| alive(&h, env.clock.now()).is_some()) {
        return Ok(());
    }
    let staging = dir.join("staging/")?;
    let mut removed = 0;
    let objects: Vec<_> = staging
        .store
        .list(Some(&staging.path))
        .try_collect()
        .await
        .map_err(|e| os_error("list", &staging, e))?;
    let listing = dir
        .store
        .list_with_delimiter(Some(&dir.path))
        .await
        .map_err(|e| os_error("list", dir, e))?;
    let leftovers = listing.objects.into_iter().filter(|o| {
        o.location
            .filename()
            .is_some_and(|n| n.starts_with("intent-") || n.starts_with("lock-"))
    });
    for o in objects.into_iter().chain(leftovers) {
        dir.store
            .delete(&o.location)
            .await
            .or_else(ignore_missing)
            .map_err(|e| os_error("delete", dir, e))?;
        removed += 1;
    }
    if removed > 0 {
        env.log(&format!(
            "removed {removed} leftover file{} of an earlier run",
            crate::exec::plural(removed)
        ));
    }
    Ok(())
}

//! Running one export: create it, poll it until `done`, download its file and stream its rows.
//! A download cut off midway is opened again (under the table's retry policy, with a fresh link
//! when the old one expired: [`exports::Download`]) and the rows already emitted are skipped; a
//! file with fewer rows than the export's `total` is an error, never a partial result.
//!
//! With an export cache directory (`customerio.export_cache_dir`) and a time to live, the
//! downloaded file is also written there (owner-only, under a name that is a salted hash of the
//! credential, key fingerprint, base URL and request: [`crate::client::Client::export_cache_file`])
//! and kept only once the whole file was read and its rows were exactly the export's `total`;
//! the same export within the time to live (counted from the export's creation) is then read from
//! that file, with no request. Only files the cache recorded are read (`client::kept`).

use std::io::{Seek, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_stream::try_stream;
use datafusion::arrow::record_batch::RecordBatch;
use futures::stream::{BoxStream, StreamExt};
use tokio::io::AsyncReadExt;

use super::Shared;
use super::decode::FileDecoder;
use super::plan::Job;
use crate::client::exports;
use crate::error::{Error, Result};

/// Runs one export and streams its rows.
pub(super) fn run_job(shared: Arc<Shared>, job: Job) -> BoxStream<'static, Result<RecordBatch>> {
    try_stream! {
        let (client, stats) = (&shared.request.client, &shared.request.stats);
        let kept = client.export_cache_file(job.kind, &job.body);
        let held = match &kept {
            Some((_, prefix)) => client.cache().exports().get(prefix, client.cache_ttl()),
            None => None,
        };
        if let Some((file, id)) = held {
            stats.cache_hits.add(1);
            client.cache().hit();
            let io = |e: std::io::Error| {
                Error::Export(format!("export {id} ({}): reading its kept file: {e}", job.what))
            };
            let mut file = tokio::fs::File::from_std(file);
            let mut decoder = FileDecoder::new(&shared, &job, id, 0);
            let mut chunk = vec![0u8; 64 * 1024];
            loop {
                let n = file.read(&mut chunk).await.map_err(io)?;
                if n == 0 {
                    break;
                }
                for batch in decoder.feed(&chunk[..n], stats)? {
                    yield batch;
                }
            }
            for batch in decoder.finish(stats)? {
                yield batch;
            }
        } else {
            let made = std::time::Instant::now();
            let created = exports::create(client, job.kind, &job.body, stats).await?;
            let id = created.id;
            let done = exports::wait_done(client, id, &job.what, shared.options.timeout, stats).await?;
            let total = done.total.filter(|t| *t > 0).map(|t| t as usize);
            let mut emitted = 0usize;
            let mut tee = kept.as_ref().and_then(|(dir, prefix)| Tee::create(dir, prefix));
            let mut download = exports::Download::start(client, id, &job.what, stats).await?;
            loop {
                let body = download.open().await?;
                // The file is opened again from its first byte: so is the kept copy.
                if let Some(t) = &mut tee && !t.restart() {
                    tee = None;
                }
                let mut decoder = FileDecoder::new(&shared, &job, id, emitted);
                let mut body = std::pin::pin!(body);
                let mut cut: Option<Error> = None;
                while let Some(chunk) = body.next().await {
                    match chunk {
                        Ok(bytes) => {
                            if let Some(t) = &mut tee && !t.write(&bytes) {
                                tee = None;
                            }
                            for batch in decoder.feed(&bytes, stats)? {
                                emitted += batch.num_rows();
                                yield batch;
                            }
                        }
                        Err(e) => {
                            cut = Some(e);
                            break;
                        }
                    }
                }
                match cut {
                    None => {
                        for batch in decoder.finish(stats)? {
                            yield batch;
                        }
                        let rows = decoder.rows_seen();
                        if let Some(total) = total
                            && rows < total {
                                Err(Error::Export(format!(
                                    "export {id} ({}): the file has {rows} rows but Customer.io reported {total}; \
                                     the download is incomplete",
                                    job.what
                                )))?;
                            }
                        // Kept only when the file holds exactly the rows Customer.io counted (a
                        // file without a count, or with more rows, serves nobody later).
                        if let (Some(t), Some((dir, prefix)), Some(total)) = (tee.take(), &kept, total)
                            && rows == total
                        {
                            // On a blocking thread, and recorded there: a query cancelled meanwhile
                            // leaves no file the cache does not know.
                            let path = dir.join(format!("{prefix}{id}.export"));
                            let (cache, prefix, ttl) = (client.cache().clone(), prefix.clone(), client.cache_ttl());
                            let _ = tokio::task::spawn_blocking(move || {
                                if let Some(written) = t.commit(&path) {
                                    cache.exports().keep(&prefix, path, written, id, made, ttl);
                                }
                            })
                            .await;
                        }
                        break;
                    }
                    // Opened again after the backoff, or the error once the attempts are spent.
                    Some(e) => download.cut_off(e).await?,
                }
            }
        }
    }
    .boxed()
}

/// The downloaded file, written beside the read to a partial file (owner-only) and kept under
/// its name only once whole ([`Tee::commit`]); a partial file is removed when dropped. A failure
/// to write stops keeping the file (the query goes on: keeping it is an optimisation).
struct Tee {
    partial: PathBuf,
    file: Option<std::fs::File>,
    written: u64,
}

impl Tee {
    fn create(dir: &Path, prefix: &str) -> Option<Tee> {
        let partial = dir.join(format!("{prefix}partial-{:016x}", rand::random::<u64>()));
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        match options.open(&partial) {
            Ok(file) => Some(Tee {
                partial,
                file: Some(file),
                written: 0,
            }),
            Err(e) => {
                tracing::warn!(dir = %dir.display(), error = %e, "cannot keep an export file");
                None
            }
        }
    }

    /// Writes `bytes`; false on failure (the partial file goes when the tee is dropped).
    fn write(&mut self, bytes: &[u8]) -> bool {
        let ok = self
            .file
            .as_mut()
            .is_some_and(|f| f.write_all(bytes).is_ok());
        self.written += bytes.len() as u64;
        if !ok {
            tracing::warn!(file = %self.partial.display(), "cannot write a kept export file");
        }
        ok
    }

    /// Starts the file again (a download opened again reads from its first byte).
    fn restart(&mut self) -> bool {
        self.written = 0;
        self.file
            .as_mut()
            .is_some_and(|f| f.set_len(0).is_ok() && f.rewind().is_ok())
    }

    /// Puts the whole file at `path`: its identity on disk if every byte written reached it
    /// (synced, so that a deferred write error shows here, and its length checked) and the
    /// rename was made.
    fn commit(mut self, path: &Path) -> Option<(u64, u64, u64)> {
        let file = self.file.take()?;
        let written = file
            .sync_data()
            .and_then(|()| file.metadata())
            .ok()
            .filter(|m| m.len() == self.written)
            .map(|m| crate::client::kept_identity(&m))?;
        drop(file);
        std::fs::rename(&self.partial, path).ok()?;
        Some(written)
    }
}

impl Drop for Tee {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.partial);
    }
}

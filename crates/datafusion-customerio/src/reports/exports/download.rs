//! Running one export: create it, poll it until `done`, download its file and stream its rows.
//! A download cut off midway is opened again (with a fresh link when the old one expired) and
//! the rows already emitted are skipped; a file with fewer rows than the export's `total` is an
//! error, never a partial result.

use std::sync::Arc;

use async_stream::try_stream;
use datafusion::arrow::record_batch::RecordBatch;
use futures::stream::{BoxStream, StreamExt};

use super::Shared;
use super::decode::FileDecoder;
use super::plan::Job;
use crate::client::exports::{self, OpenError};
use crate::error::{Error, Result};

/// Times a download cut off midway is opened again.
const DOWNLOAD_ATTEMPTS: u32 = 3;

/// Runs one export and streams its rows.
pub(super) fn run_job(shared: Arc<Shared>, job: Job) -> BoxStream<'static, Result<RecordBatch>> {
    try_stream! {
        let (client, stats) = (&shared.request.client, &shared.request.stats);
        let created = exports::create(client, job.kind, &job.body, stats).await?;
        let id = created.id;
        let done = exports::wait_done(client, id, &job.what, shared.options.timeout, stats).await?;
        let total = done.total.filter(|t| *t > 0).map(|t| t as usize);
        let mut emitted = 0usize;
        let mut attempt = 0u32;
        let mut url = exports::download_url(client, id, stats).await?;
        let mut renewed = false;
        loop {
            attempt += 1;
            let body = match exports::open(&url, stats).await {
                Ok(body) => body,
                Err(OpenError::Expired(why)) if !renewed => {
                    // The link lasts 15 minutes: ask for a new one, once.
                    tracing::debug!(export = id, %why, "download link refused; asking for a new one");
                    renewed = true;
                    url = exports::download_url(client, id, stats).await?;
                    continue;
                }
                Err(OpenError::Expired(why)) => {
                    Err(Error::Export(format!("export {id} ({}): {why}, also with a new link", job.what)))?;
                    unreachable!()
                }
                Err(OpenError::Other(e)) if attempt < DOWNLOAD_ATTEMPTS => {
                    tracing::debug!(export = id, error = %e, "download did not start; trying again");
                    stats.retries.add(1);
                    tokio::time::sleep(std::time::Duration::from_millis(200 * u64::from(attempt))).await;
                    continue;
                }
                Err(OpenError::Other(e)) => {
                    Err(Error::Export(format!(
                        "export {id} ({}): {e}; gave up after {attempt} attempts",
                        job.what
                    )))?;
                    unreachable!()
                }
            };
            let mut decoder = FileDecoder::new(&shared, &job, id, emitted);
            let mut body = std::pin::pin!(body);
            let mut cut: Option<Error> = None;
            while let Some(chunk) = body.next().await {
                match chunk {
                    Ok(bytes) => {
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
                    break;
                }
                Some(e) if attempt < DOWNLOAD_ATTEMPTS => {
                    tracing::debug!(export = id, error = %e, emitted, "download cut off; resuming");
                    stats.retries.add(1);
                }
                Some(e) => {
                    Err(Error::Export(format!(
                        "export {id} ({}): {e}; gave up after {attempt} attempts",
                        job.what
                    )))?;
                }
            }
        }
    }
    .boxed()
}

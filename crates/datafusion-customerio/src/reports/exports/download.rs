//! Running one export: create it, poll it until `done`, download its file and stream its rows.
//! A download cut off midway is opened again (under the table's retry policy, with a fresh link
//! when the old one expired: [`exports::Download`]) and the rows already emitted are skipped; a
//! file with fewer rows than the export's `total` is an error, never a partial result.

use std::sync::Arc;

use async_stream::try_stream;
use datafusion::arrow::record_batch::RecordBatch;
use futures::stream::{BoxStream, StreamExt};

use super::Shared;
use super::decode::FileDecoder;
use super::plan::Job;
use crate::client::exports;
use crate::error::{Error, Result};

/// Runs one export and streams its rows.
pub(super) fn run_job(shared: Arc<Shared>, job: Job) -> BoxStream<'static, Result<RecordBatch>> {
    try_stream! {
        let (client, stats) = (&shared.request.client, &shared.request.stats);
        let created = exports::create(client, job.kind, &job.body, stats).await?;
        let id = created.id;
        let done = exports::wait_done(client, id, &job.what, shared.options.timeout, stats).await?;
        let total = done.total.filter(|t| *t > 0).map(|t| t as usize);
        let mut emitted = 0usize;
        let mut download = exports::Download::start(client, id, &job.what, stats).await?;
        loop {
            let body = download.open().await?;
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
                // Opened again after the backoff, or the error once the attempts are spent.
                Some(e) => download.cut_off(e).await?,
            }
        }
    }
    .boxed()
}

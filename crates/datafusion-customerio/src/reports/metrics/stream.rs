//! The items of a scan read concurrently, and no more of them than a `LIMIT` needs.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use datafusion::arrow::record_batch::RecordBatch;
use futures::stream::{BoxStream, FuturesUnordered, Stream, StreamExt};

use super::fetch::ItemRef;
use crate::error::Result;

/// Reads up to `concurrency` items at once, like `buffer_unordered`, but with a limit starts an
/// item only while the rows delivered plus the rows the items in flight will bring
/// (`rows_per_item` each) fall short of it, so a `LIMIT` costs exactly the items it needs, not
/// whichever extra one a freed slot happened to start before an answer already in flight came
/// back. An item that brings fewer rows than expected (404, filtered) opens the way for the next.
pub(super) struct ItemReads<F, Fut> {
    pub(super) items: futures::stream::Fuse<BoxStream<'static, Result<ItemRef>>>,
    pub(super) running: FuturesUnordered<Fut>,
    pub(super) read: F,
    pub(super) concurrency: usize,
    pub(super) limit: Option<usize>,
    pub(super) rows_per_item: usize,
    pub(super) delivered: usize,
}

impl<F, Fut> ItemReads<F, Fut> {
    fn may_start(&self) -> bool {
        self.running.len() < self.concurrency
            && match self.limit {
                None => true,
                Some(limit) => {
                    self.running.is_empty()
                        || self.delivered + self.running.len() * self.rows_per_item < limit
                }
            }
    }
}

impl<F, Fut> Stream for ItemReads<F, Fut>
where
    F: FnMut(ItemRef) -> Fut + Unpin,
    Fut: Future<Output = Result<Option<RecordBatch>>>,
{
    type Item = Result<RecordBatch>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        loop {
            while this.may_start() {
                match this.items.poll_next_unpin(cx) {
                    Poll::Ready(Some(Ok(item))) => this.running.push((this.read)(item)),
                    Poll::Ready(Some(Err(e))) => return Poll::Ready(Some(Err(e))),
                    Poll::Ready(None) | Poll::Pending => break,
                }
            }
            match this.running.poll_next_unpin(cx) {
                Poll::Ready(Some(Ok(Some(batch)))) => {
                    this.delivered += batch.num_rows();
                    return Poll::Ready(Some(Ok(batch)));
                }
                Poll::Ready(Some(Ok(None))) => continue,
                Poll::Ready(Some(Err(e))) => return Poll::Ready(Some(Err(e))),
                Poll::Ready(None) if this.items.is_done() => return Poll::Ready(None),
                // Nothing in flight and the next item not ready yet: its stream has our waker.
                Poll::Ready(None) | Poll::Pending => return Poll::Pending,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use datafusion::arrow::array::{ArrayRef, Int64Array};
    use futures::stream::{self, TryStreamExt};

    use super::*;
    use crate::error::Error;

    /// `ItemReads` over ids, each read pending once, then bringing 8 rows (id 0: none; a negative
    /// id: an error); `started` counts the reads begun.
    fn item_reads(
        items: Vec<Result<ItemRef>>,
        limit: Option<usize>,
        started: Arc<std::sync::atomic::AtomicUsize>,
    ) -> BoxStream<'static, Result<RecordBatch>> {
        let read = move |item: ItemRef| {
            let started = started.clone();
            async move {
                started.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                tokio::task::yield_now().await;
                let ItemRef::Id(id) = item else {
                    unreachable!("the tests give ids")
                };
                match id {
                    0 => Ok(None),
                    id if id < 0 => Err(Error::Api {
                        endpoint: format!("GET /v1/campaigns/{id}/metrics"),
                        status: 400,
                        detail: "bad".into(),
                    }),
                    _ => {
                        let column: ArrayRef = Arc::new(Int64Array::from(vec![id; 8]));
                        Ok(Some(RecordBatch::try_from_iter([("id", column)]).unwrap()))
                    }
                }
            }
        };
        ItemReads {
            items: stream::iter(items).boxed().fuse(),
            running: FuturesUnordered::new(),
            read,
            concurrency: 4,
            limit,
            rows_per_item: 8,
            delivered: 0,
        }
        .boxed()
    }

    fn ids(ids: &[i64]) -> Vec<Result<ItemRef>> {
        ids.iter().map(|&id| Ok(ItemRef::Id(id))).collect()
    }

    /// Reads batches as DataFusion's limit does: until `limit` rows, then drops the stream.
    async fn take_rows(
        mut batches: BoxStream<'static, Result<RecordBatch>>,
        limit: usize,
    ) -> usize {
        let mut rows = 0;
        while rows < limit {
            match batches.next().await {
                Some(batch) => rows += batch.unwrap().num_rows(),
                None => break,
            }
        }
        rows
    }

    #[tokio::test]
    async fn a_limit_starts_only_the_items_it_needs() {
        let started = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let batches = item_reads(ids(&[0, 1, 2, 3, 4, 5]), Some(10), started.clone());
        assert_eq!(take_rows(batches, 10).await, 16);
        // 0 and 1 at first (8 rows on their way from 1 would leave 2 short); 0 brought none, so 2
        // then; with 1's 8 rows in and 2's on the way, nothing more.
        assert_eq!(started.load(std::sync::atomic::Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn without_a_limit_every_item_is_read() {
        let started = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let batches: Vec<RecordBatch> = item_reads(ids(&[0, 1, 2, 3, 4, 5]), None, started.clone())
            .try_collect()
            .await
            .unwrap();
        assert_eq!(batches.iter().map(|b| b.num_rows()).sum::<usize>(), 40);
        assert_eq!(started.load(std::sync::atomic::Ordering::SeqCst), 6);
    }

    #[tokio::test]
    async fn errors_of_the_list_and_of_a_read_end_the_stream_as_errors() {
        let started = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let list_error = Error::Api {
            endpoint: "GET /v1/newsletters".into(),
            status: 400,
            detail: "bad page".into(),
        };
        let items = vec![Ok(ItemRef::Id(1)), Err(list_error), Ok(ItemRef::Id(2))];
        let result: Result<Vec<RecordBatch>> =
            item_reads(items, None, started.clone()).try_collect().await;
        assert!(result.unwrap_err().to_string().contains("/v1/newsletters"));

        for limit in [None, Some(100)] {
            let result: Result<Vec<RecordBatch>> =
                item_reads(ids(&[1, -2, 3]), limit, started.clone())
                    .try_collect()
                    .await;
            assert!(
                result
                    .unwrap_err()
                    .to_string()
                    .contains("/v1/campaigns/-2/metrics")
            );
        }
    }
}

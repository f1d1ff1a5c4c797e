//! Cursor pagination as a stream: `next` goes back as `start`; `""`, `null` or a missing `next`
//! ends the read; a cursor seen twice is an error rather than an endless loop.

use std::collections::HashSet;

use futures::Stream;
use reqwest::Method;
use serde::de::DeserializeOwned;

use super::{Client, RequestStats};
use crate::error::{Error, Result};

/// A page of a cursor-paginated endpoint.
pub trait Page: DeserializeOwned + Send + 'static {
    /// What a page holds.
    type Item: Send + 'static;
    /// The items and the next cursor.
    fn into_parts(self) -> (Vec<Self::Item>, Option<String>);
}

impl Page for super::models::NewsletterPage {
    type Item = super::models::Newsletter;
    fn into_parts(self) -> (Vec<Self::Item>, Option<String>) {
        (self.newsletters, self.next)
    }
}

/// One paginated request: the same method, path, query and body for every page.
#[derive(Debug, Clone)]
pub struct PageRequest {
    /// GET or POST.
    pub method: Method,
    /// The path, e.g. `/v1/newsletters`.
    pub path: String,
    /// Query parameters other than `start`.
    pub query: Vec<(&'static str, String)>,
    /// The body, sent unchanged with every page.
    pub body: Option<serde_json::Value>,
}

struct State {
    client: Client,
    request: PageRequest,
    stats: RequestStats,
    cursor: Option<String>,
    seen: HashSet<String>,
    done: bool,
}

/// The pages of `request`, fetched one after the other as the stream is polled.
pub fn paginate<P: Page>(
    client: Client,
    request: PageRequest,
    stats: RequestStats,
) -> impl Stream<Item = Result<Vec<P::Item>>> + Send {
    let state = State {
        client: client.listing(),
        request,
        stats,
        cursor: None,
        seen: HashSet::new(),
        done: false,
    };
    futures::stream::try_unfold(state, |mut s| async move {
        if s.done {
            return Ok(None);
        }
        let mut query = s.request.query.clone();
        if let Some(c) = &s.cursor {
            query.push(("start", c.clone()));
        }
        let page: P = s
            .client
            .send(
                s.request.method.clone(),
                &s.request.path,
                &query,
                s.request.body.as_ref(),
                &s.stats,
            )
            .await?;
        let (items, next) = page.into_parts();
        match next.filter(|n| !n.is_empty()) {
            Some(n) => {
                if !s.seen.insert(n.clone()) {
                    return Err(Error::RepeatedCursor {
                        endpoint: format!("{} {}", s.request.method, s.request.path),
                        cursor: n,
                    });
                }
                s.cursor = Some(n);
            }
            None => {
                s.done = true;
                s.client.end_listing();
            }
        }
        Ok(Some((items, s)))
    })
}

/// Reads `stream` up to `ahead` items ahead of its consumer, on a task of its own: the next page
/// is requested while the consumer still works on this one. Dropping the result stops the task.
pub fn prefetch<S, T>(stream: S, ahead: usize) -> impl Stream<Item = T> + Send + 'static
where
    S: Stream<Item = T> + Send + 'static,
    T: Send + 'static,
{
    use futures::StreamExt;
    let (tx, rx) = tokio::sync::mpsc::channel(ahead.max(1));
    let task = tokio::spawn(async move {
        let mut stream = std::pin::pin!(stream);
        while let Some(item) = stream.next().await {
            if tx.send(item).await.is_err() {
                break;
            }
        }
    });
    let guard = AbortOnDrop(task);
    futures::stream::unfold((rx, guard), |(mut rx, guard)| async move {
        rx.recv().await.map(|item| (item, (rx, guard)))
    })
}

/// Aborts a task when dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

//! Issue 14: what an embedder can replace. Tables send through the application's own
//! `reqwest::Client` and pace keys with its own registry; nothing they use is process-global that
//! it cannot hand in.

use std::sync::Arc;

use customerio_sim::Region;
use datafusion::prelude::SessionContext;
use datafusion_customerio::CustomerIo;
use datafusion_customerio::client::Pacers;

use crate::common::*;

async fn segments(cio: &CustomerIo) -> datafusion::error::Result<usize> {
    let ctx = SessionContext::new();
    cio.register(&ctx);
    ctx.sql(
        "CREATE EXTERNAL TABLE s STORED AS CUSTOMERIO LOCATION 'segments' \
         OPTIONS (key 'sim_us', max_attempts '1')",
    )
    .await?;
    let batches = ctx.sql("SELECT * FROM s").await?.collect().await?;
    Ok(row_count(&batches))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tables_send_through_the_embedders_http_client() {
    let ws = workspace("embed_http", "sim_us", Region::Us);
    let env = Env::start(fast_config(vec![ws])).await;
    // A client that only speaks HTTPS cannot reach the simulator's http:// URL: if the tables
    // send through it, the scan fails before any request arrives.
    let https_only = reqwest::Client::builder().https_only(true).build().unwrap();
    let err = segments(&env.cio.clone().with_http_client(https_only))
        .await
        .expect_err("an https-only client cannot reach http://");
    assert!(err.to_string().contains("/v1/segments"), "{err}");
    assert_eq!(env.total_requests(), 0);
    // The default client reaches it.
    assert!(segments(&env.cio).await.unwrap() > 0);
    assert_eq!(env.total_requests(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tables_pace_keys_with_the_embedders_registry() {
    let ws = workspace("embed_pacers", "sim_us", Region::Us);
    let env = Env::start(fast_config(vec![ws])).await;
    let mine = Arc::new(Pacers::new());
    let cio = env.cio.clone().with_pacers(mine.clone());
    assert_eq!(mine.keys(), 0);
    assert!(segments(&cio).await.unwrap() > 0);
    assert_eq!(
        mine.keys(),
        1,
        "the scan's key is paced by the registry handed in"
    );
    // Another instance with a registry of its own leaves this one alone.
    let other = Arc::new(Pacers::new());
    assert!(
        segments(&env.cio.clone().with_pacers(other.clone()))
            .await
            .unwrap()
            > 0
    );
    assert_eq!((mine.keys(), other.keys()), (1, 1));
}

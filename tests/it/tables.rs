//! The campaigns and newsletters tables against the simulator: values equal what the simulator
//! serves over its own API, pushdown and limits cut requests, bad options fail before any request.

use std::collections::BTreeMap;
use std::time::Duration;

use customerio_sim::{Region, SimConfig, WorkspaceSpec};
use datafusion_customerio::api::period::Period;

use crate::common::*;

fn campaigns_ddl(table: &str, key: &str, extra: &str) -> String {
    format!(
        "CREATE EXTERNAL TABLE {table} STORED AS CUSTOMERIO LOCATION 'campaigns' \
         OPTIONS (key '{key}', rate_limit '500'{extra})"
    )
}

/// `{id: series}` of one metric from the simulator's version-1 endpoint.
async fn api_series(env: &Env, ws: &WorkspaceSpec, path: &str, metric: &str) -> Vec<i64> {
    let v = env.api(ws, path).await;
    v["metric"]["series"][metric]
        .as_array()
        .unwrap_or_else(|| panic!("{path}: no series {metric}: {v}"))
        .iter()
        .map(|x| x.as_i64().unwrap())
        .collect()
}

/// `period_start` as `2026-11-22T05:00:00Z` text, for comparison with hand-written bucket starts.
const START: &str = "to_char(period_start, '%Y-%m-%dT%H:%M:%SZ')";

/// Column `c` of every row as text (NULL as an empty string).
fn str_column(batches: &[datafusion::arrow::record_batch::RecordBatch], c: usize) -> Vec<String> {
    use datafusion::arrow::array::{Array, StringArray};
    use datafusion::arrow::compute::cast;
    use datafusion::arrow::datatypes::DataType;
    let mut out = Vec::new();
    for b in batches {
        let col = cast(b.column(c), &DataType::Utf8).unwrap();
        let a = col.as_any().downcast_ref::<StringArray>().unwrap();
        out.extend((0..a.len()).map(|i| a.value(i).to_string()));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn campaign_rows_equal_the_apis_series() {
    let ws = workspace("camp_rows", "sim_us", Region::Us);
    let env = Env::start(fast_config(vec![ws.clone()])).await;
    env.sql(&campaigns_ddl("c", "sim_us", ", period 'weeks', steps '6'"))
        .await
        .unwrap();

    let list = env.api(&ws, "/v1/campaigns").await;
    let ids: Vec<i64> = list["campaigns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids.len(), ws.campaigns as usize);

    let batches = env
        .sql(&format!(
            "SELECT campaign_id, sent, opened, clicked, {START} FROM c \
              ORDER BY campaign_id, period_start"
        ))
        .await
        .unwrap();
    // One row per campaign and bucket: steps + 1 buckets, the last the current week.
    assert_eq!(row_count(&batches), ids.len() * 7, "{}", pretty(&batches));
    let table_ids = i64_column(&batches, 0);
    let starts = str_column(&batches, 4);
    // Per campaign: (period_start, [sent, opened, clicked]) in bucket order.
    type Rows = Vec<(String, [Option<i64>; 3])>;
    let mut by_id: BTreeMap<i64, Rows> = BTreeMap::new();
    let (sent, opened, clicked) = (
        i64_column(&batches, 1),
        i64_column(&batches, 2),
        i64_column(&batches, 3),
    );
    for i in 0..table_ids.len() {
        by_id
            .entry(table_ids[i].unwrap())
            .or_default()
            .push((starts[i].clone(), [sent[i], opened[i], clicked[i]]));
    }
    // Bucket starts, written by hand: Sundays at 00:00 New York time (EDT until 1 November
    // 2026, EST after), ending with the current week (fixed_now is Thursday 26 November).
    let weeks = [
        "2026-10-11T04:00:00Z",
        "2026-10-18T04:00:00Z",
        "2026-10-25T04:00:00Z",
        "2026-11-01T04:00:00Z",
        "2026-11-08T05:00:00Z",
        "2026-11-15T05:00:00Z",
        "2026-11-22T05:00:00Z",
    ];
    // The table reads version 2; the test reads version 1 of the same endpoint, whose series
    // are the buckets in order. Both must agree bucket by bucket: (period_start, value).
    let mut nonzero = 0;
    for id in &ids {
        let path = format!("/v1/campaigns/{id}/metrics?period=weeks&steps=6");
        for (k, metric) in ["sent", "opened", "clicked"].iter().enumerate() {
            let api = api_series(&env, &ws, &path, metric).await;
            assert_eq!(api.len(), weeks.len(), "{path}");
            let want: Vec<(String, i64)> = weeks
                .iter()
                .map(|w| w.to_string())
                .zip(api.iter().copied())
                .collect();
            let table: Vec<(String, i64)> = by_id[id]
                .iter()
                .map(|(start, r)| (start.clone(), r[k].unwrap()))
                .collect();
            assert_eq!(table, want, "campaign {id} {metric}");
            nonzero += api.iter().filter(|v| **v != 0).count();
        }
    }
    assert!(
        nonzero > 0,
        "the data set has no activity at all; the comparison proves nothing"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn newsletter_links_equal_the_apis_link_series() {
    let ws = WorkspaceSpec {
        newsletters: 30,
        ..workspace("nl_links", "sim_us", Region::Us)
    };
    let env = Env::start(fast_config(vec![ws.clone()])).await;
    env.sql(
        "CREATE EXTERNAL TABLE n STORED AS CUSTOMERIO LOCATION 'customerio:newsletters' \
         OPTIONS ('format.key' 'sim_us', period 'months', steps '24', unique_links 'true', rate_limit '500')",
    )
    .await
    .unwrap();
    let batches = env
        .sql(&format!(
            "SELECT newsletter_id, link['link_id'], {START}, link['clicked'], link['human_clicked'] \
              FROM (SELECT newsletter_id, period_start, unnest(links) AS link FROM n) \
              ORDER BY 1, 2, period_start"
        ))
        .await
        .unwrap();
    let (nid, lid, starts, clicked, human) = (
        i64_column(&batches, 0),
        i64_column(&batches, 1),
        str_column(&batches, 2),
        i64_column(&batches, 3),
        i64_column(&batches, 4),
    );
    // Bucket starts, by hand: the 1st of each month at 00:00 New York time, 25 months ending
    // with November 2026; the 1st is in EDT from April to November, in EST from December to March.
    let months: Vec<String> = (0..25)
        .map(|k| {
            let (year, month) = (2024 + (10 + k) / 12, (10 + k) % 12 + 1);
            let hour = if (4..=11).contains(&month) { 4 } else { 5 };
            format!("{year}-{month:02}-01T{hour:02}:00:00Z")
        })
        .collect();
    // (newsletter, link) -> [(period_start, clicked, human_clicked)] in bucket order.
    type Buckets = Vec<(String, i64, i64)>;
    let mut table: BTreeMap<(i64, i64), Buckets> = BTreeMap::new();
    for i in 0..nid.len() {
        table
            .entry((nid[i].unwrap(), lid[i].unwrap()))
            .or_default()
            .push((starts[i].clone(), clicked[i].unwrap(), human[i].unwrap()));
    }
    assert_eq!(
        table.len(),
        (ws.newsletters * ws.links) as usize,
        "{}",
        pretty(&batches)
    );
    let mut checked_clicks = 0;
    for ((newsletter, link_id), got) in &table {
        let path = format!(
            "/v1/newsletters/{newsletter}/metrics/links?period=months&steps=24&unique=true"
        );
        let v = env.api(&ws, &path).await;
        let link = v["links"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["link"]["id"].as_i64() == Some(*link_id))
            .unwrap_or_else(|| panic!("link {link_id} not served for {path}"));
        let series = |m: &str| -> Vec<i64> {
            link["metric"]["series"][m]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_i64().unwrap())
                .collect()
        };
        let (c, h) = (series("clicked"), series("human_clicked"));
        assert_eq!(c.len(), months.len(), "{path}");
        let want: Buckets = (0..months.len())
            .map(|k| (months[k].clone(), c[k], h[k]))
            .collect();
        assert_eq!(got, &want, "{path} link {link_id}, bucket by bucket");
        checked_clicks += c.iter().sum::<i64>();
    }
    assert!(
        checked_clicks > 0,
        "no clicks in the data set; the comparison proves nothing"
    );
    assert_eq!(env.requests("listNewsletters"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn id_pushdown_costs_at_most_three_requests_whatever_the_size() {
    let ws = WorkspaceSpec {
        campaigns: 400,
        ..workspace("pushdown", "big", Region::Us)
    };
    let env = Env::start(fast_config(vec![ws.clone()])).await;
    env.sql(&campaigns_ddl("c", "big", "")).await.unwrap();

    let batches = env
        .sql("SELECT campaign_id, sent, links FROM c WHERE campaign_id = 7")
        .await
        .unwrap();
    assert_eq!(row_count(&batches), 46, "45 days + today");
    assert!(env.total_requests() <= 3, "{:?}", env.sim.stats());
    assert_eq!(env.requests("listCampaigns"), 0);
    assert_eq!(env.requests("campaignLinkMetrics"), 1);

    // Without links, no link request; ids that do not exist give no rows and no error.
    env.sim.reset_stats();
    let batches = env
        .sql("SELECT campaign_id, sent FROM c WHERE campaign_id IN (3, 5, 999999)")
        .await
        .unwrap();
    let ids: std::collections::BTreeSet<_> = i64_column(&batches, 0).into_iter().collect();
    assert_eq!(ids, [Some(3), Some(5)].into_iter().collect());
    assert_eq!(env.requests("campaignLinkMetrics"), 0);
    // Several ids: one list request names them all (1 + 2 metrics), not one request per id.
    assert_eq!(env.requests("listCampaigns"), 1);
    assert_eq!(env.requests("getCampaigns"), 0);
    assert_eq!(env.total_requests(), 3, "{:?}", env.sim.stats());

    // EXPLAIN shows the pushed ids and no filter above the scan (the pushdown is Exact).
    let plan = pretty(
        &env.sql("EXPLAIN SELECT sent FROM c WHERE campaign_id = 7")
            .await
            .unwrap(),
    );
    assert!(plan.contains("filter=[campaign_id IN (7)]"), "{plan}");
    assert!(!plan.contains("FilterExec"), "{plan}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limit_stops_paging() {
    let ws = WorkspaceSpec {
        newsletters: 450,
        ..workspace("limit", "sim_us", Region::Us)
    };
    let env = Env::start(fast_config(vec![ws])).await;
    env.sql(
        "CREATE EXTERNAL TABLE n STORED AS CUSTOMERIO LOCATION 'newsletters' \
         OPTIONS (key 'sim_us', period 'weeks', steps '2', rate_limit '500')",
    )
    .await
    .unwrap();
    let batches = env
        .sql("SELECT newsletter_id, period_start FROM n LIMIT 5")
        .await
        .unwrap();
    assert_eq!(row_count(&batches), 5);
    let stats = env.sim.stats();
    // 450 newsletters are five pages of 100; five rows need two newsletters of three buckets,
    // and no third is started while the second's three rows are on their way.
    assert_eq!(env.requests("listNewsletters"), 1, "{stats:?}");
    assert_eq!(env.requests("getNewsletterMetrics"), 2, "{stats:?}");

    // A pushed id that does not exist brings no rows, so the next one is started in its place.
    env.sim.reset_stats();
    let batches = env
        .sql("SELECT newsletter_id FROM n WHERE newsletter_id IN (0, 1, 2) LIMIT 5")
        .await
        .unwrap();
    assert_eq!(row_count(&batches), 5);
    assert_eq!(env.requests("getNewsletters"), 3, "{:?}", env.sim.stats());
    assert_eq!(
        env.requests("getNewsletterMetrics"),
        2,
        "{:?}",
        env.sim.stats()
    );

    // Without a limit, every page and every newsletter.
    env.sim.reset_stats();
    let all = env.sql("SELECT count(*) FROM n").await.unwrap();
    assert_eq!(i64_column(&all, 0), vec![Some(450 * 3)]);
    assert_eq!(env.requests("listNewsletters"), 5);
    assert_eq!(env.requests("getNewsletterMetrics"), 450);
}

/// Ten rows of eight-bucket campaigns are two campaigns, every time. When an answer takes longer
/// than the pacer's interval, a slot freed by the first answer used to start a third campaign
/// before the second's answer (with enough rows) was in.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limit_starts_no_campaign_it_does_not_need() {
    let ws = workspace("limit_campaigns", "sim_us", Region::Us);
    let env = Env::start(SimConfig {
        latency: Duration::from_millis(150),
        ..fast_config(vec![ws])
    })
    .await;
    env.sql(
        "CREATE EXTERNAL TABLE c STORED AS CUSTOMERIO LOCATION 'campaigns' \
         OPTIONS (key 'sim_us', steps '7', rate_limit '10')",
    )
    .await
    .unwrap();
    for _ in 0..3 {
        env.sim.reset_stats();
        let batches = env
            .sql("SELECT campaign_id, period_start, sent FROM c LIMIT 10")
            .await
            .unwrap();
        assert_eq!(row_count(&batches), 10);
        assert_eq!(env.requests("listCampaigns"), 1, "{:?}", env.sim.stats());
        assert_eq!(env.requests("campaignMetrics"), 2, "{:?}", env.sim.stats());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_options_fail_at_create_time_without_requests() {
    let ws = workspace("bad_opts", "sim_us", Region::Us);
    let env = Env::start(fast_config(vec![ws])).await;
    let cases: &[(&str, &[&str])] = &[
        (
            "LOCATION 'campaigns' OPTIONS (key 'sim_us', peroid 'days')",
            &["peroid", "did you mean 'period'"],
        ),
        (
            "LOCATION 'campaigns' OPTIONS (key 'sim_us', steps '46')",
            &["steps", "46", "1 to 45"],
        ),
        (
            "LOCATION 'campaigns' OPTIONS (key 'sim_us', period 'hours', steps '30')",
            &["30", "1 to 24"],
        ),
        (
            "LOCATION 'newsletters' OPTIONS (key 'sim_us', metric_type 'fax')",
            &["metric_type", "fax", "email"],
        ),
        (
            "LOCATION 'newsletters' OPTIONS (key 'sim_us', unique_links 'sometimes')",
            &["unique_links", "sometimes"],
        ),
        (
            "LOCATION 'people' OPTIONS (key 'sim_us')",
            &["people", "campaigns, newsletters, customers"],
        ),
        (
            "LOCATION 'campaigns' OPTIONS (key 'no_such_credential')",
            &["no_such_credential", "CIO_KEY_NO_SUCH_CREDENTIAL"],
        ),
        (
            "LOCATION 'campaigns' OPTIONS (key '3f9a8c7e6d5b4a3f2e1d0c9b8a7f6e5d')",
            &["looks like an API key"],
        ),
        (
            "LOCATION 'campaigns' OPTIONS (period 'days')",
            &["'key' is required"],
        ),
    ];
    for (tail, needles) in cases {
        let sql = format!("CREATE EXTERNAL TABLE t STORED AS CUSTOMERIO {tail}");
        let err = env.sql(&sql).await.expect_err(&sql).to_string();
        for n in *needles {
            assert!(err.contains(n), "{sql}\n  error '{err}' lacks '{n}'");
        }
        assert!(!err.contains("3f9a8c7e6d5b4a3f2e1d0c9b8a7f6e5d"), "{err}");
    }
    let err = env
        .sql("CREATE EXTERNAL TABLE t (a INT) STORED AS CUSTOMERIO LOCATION 'campaigns' OPTIONS (key 'sim_us')")
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("does not take a column list"), "{err}");
    assert_eq!(env.total_requests(), 0, "{:?}", env.sim.stats());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_workspaces_union_each_with_its_own_key_and_region() {
    let us = workspace("union", "ws_us", Region::Us);
    let eu = workspace("union", "ws_eu", Region::Eu);
    let env = Env::start(fast_config(vec![us.clone(), eu.clone()])).await;
    env.sql(&campaigns_ddl("a", "ws_us", ", period 'months', steps '2'"))
        .await
        .unwrap();
    env.sql(&campaigns_ddl(
        "b",
        "ws_eu",
        ", period 'months', steps '2', workspace 'europe'",
    ))
    .await
    .unwrap();
    let batches = env
        .sql(
            "SELECT workspace, count(DISTINCT campaign_id), count(*) FROM \
              (SELECT * FROM a UNION ALL SELECT * FROM b) GROUP BY 1 ORDER BY 1",
        )
        .await
        .unwrap();
    let text = pretty(&batches);
    assert_eq!(
        i64_column(&batches, 1),
        vec![Some(eu.campaigns as i64), Some(us.campaigns as i64)],
        "{text}"
    );
    assert!(text.contains("europe") && text.contains("ws_us"), "{text}");
    let by_ws = env.sim.stats().by_workspace;
    assert_eq!(by_ws.get("ws_us"), Some(&(1 + us.campaigns as u64)));
    assert_eq!(by_ws.get("ws_eu"), Some(&(1 + eu.campaigns as u64)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_errors_name_endpoint_status_and_detail_never_the_key() {
    let ws = workspace("api_err", "sim_us", Region::Us);
    let env = Env::start(fast_config(vec![ws.clone()])).await;
    // A US key sent to the EU host: Customer.io answers 401, which is not retried.
    env.cio.credentials().insert(
        "wrong_region",
        datafusion_customerio::Credential::new(ws.api_key.clone()).with_base_url(env.sim.eu_url()),
    );
    env.sql(&campaigns_ddl("c", "wrong_region", ""))
        .await
        .unwrap();
    let err = env.sql("SELECT * FROM c").await.unwrap_err().to_string();
    assert!(
        err.contains("GET /v1/campaigns") && err.contains("401") && err.contains("unauthorized"),
        "{err}"
    );
    assert!(!err.contains(&ws.api_key), "{err}");
    assert_eq!(
        env.sim.stats().statuses.get("401"),
        Some(&1),
        "exactly one request"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn explain_and_debug_never_show_the_key() {
    let canary = "canary-key-7f3d9b";
    let ws = WorkspaceSpec {
        api_key: canary.into(),
        ..workspace("explain", "sim_us", Region::Us)
    };
    let env = Env::start(fast_config(vec![ws])).await;
    env.sql(&campaigns_ddl("c", "sim_us", "")).await.unwrap();
    for q in [
        "EXPLAIN SELECT * FROM c WHERE campaign_id = 1",
        "EXPLAIN VERBOSE SELECT * FROM c",
        "EXPLAIN ANALYZE SELECT campaign_id FROM c WHERE campaign_id = 1",
    ] {
        let text = pretty(&env.sql(q).await.unwrap());
        assert!(text.contains("CustomerIoScanExec"), "{q}: {text}");
        assert!(!text.contains(canary), "{q} leaks the key:\n{text}");
    }
    let analyzed = pretty(
        &env.sql("EXPLAIN ANALYZE SELECT campaign_id FROM c WHERE campaign_id = 1")
            .await
            .unwrap(),
    );
    assert!(analyzed.contains("requests=2"), "{analyzed}");
    let provider = env.ctx.table_provider("c").await.unwrap();
    let plan = env
        .ctx
        .sql("SELECT * FROM c")
        .await
        .unwrap()
        .create_physical_plan()
        .await
        .unwrap();
    for text in [
        format!("{provider:?}"),
        format!("{plan:?}"),
        format!("{:?}", env.cio),
    ] {
        assert!(!text.contains(canary), "Debug leaks the key: {text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typed_options_build_a_table_without_sql() {
    use datafusion_customerio::TableOptions;
    use datafusion_customerio::options::{MetricOptions, ReportSettings};
    let ws = workspace("typed", "sim_us", Region::Us);
    let env = Env::start(fast_config(vec![ws.clone()])).await;
    let metrics = MetricOptions {
        period: Period::Months,
        steps: 3,
        ..MetricOptions::default()
    };
    let mut options = TableOptions::with_settings("sim_us", ReportSettings::Newsletters(metrics));
    options.connection.rate_limit = Some(500.0);
    let table = env.cio.table(options).unwrap();
    env.ctx.register_table("n", table).unwrap();
    let batches = env
        .sql("SELECT count(*), count(DISTINCT period_start) FROM n")
        .await
        .unwrap();
    assert_eq!(
        i64_column(&batches, 0),
        vec![Some(ws.newsletters as i64 * 4)]
    );
    assert_eq!(i64_column(&batches, 1), vec![Some(4)]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metric_type_filters_channels() {
    let ws = workspace("mtype", "sim_us", Region::Us);
    let env = Env::start(fast_config(vec![ws.clone()])).await;
    env.sql(&campaigns_ddl("c", "sim_us", ", metric_type 'push'"))
        .await
        .unwrap();
    let list = env.api(&ws, "/v1/campaigns").await;
    let batches = env
        .sql("SELECT campaign_id, sent, metric_type, period_start FROM c ORDER BY 1, 4")
        .await
        .unwrap();
    let text = pretty(&batches);
    assert!(text.contains("push"), "{text}");
    let (ids, sent) = (i64_column(&batches, 0), i64_column(&batches, 1));
    let mut by_id: BTreeMap<i64, Vec<i64>> = BTreeMap::new();
    for (id, v) in ids.iter().zip(&sent) {
        by_id.entry(id.unwrap()).or_default().push(v.unwrap());
    }
    assert_eq!(by_id.len(), list["campaigns"].as_array().unwrap().len());
    // Bucket by bucket (in period_start order) against the API's push series; the filter must
    // change something, or the comparison proves nothing.
    let mut filtered_out = 0;
    for (id, table) in &by_id {
        let path = format!("/v1/campaigns/{id}/metrics?period=days&steps=45");
        let push = api_series(&env, &ws, &format!("{path}&type=push"), "sent").await;
        let all = api_series(&env, &ws, &path, "sent").await;
        assert_eq!(table, &push, "campaign {id}: sent per day bucket");
        filtered_out += usize::from(push != all);
    }
    assert!(filtered_out > 0, "metric_type 'push' filtered nothing out");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limit_is_respected_with_the_simulators_default() {
    // The simulator enforces 10 requests/second; the table paces itself to the same limit.
    let ws = WorkspaceSpec {
        campaigns: 14,
        ..workspace("rate", "sim_us", Region::Us)
    };
    let env = Env::start(SimConfig::with_workspaces(vec![ws])).await;
    env.sql(
        "CREATE EXTERNAL TABLE c STORED AS CUSTOMERIO LOCATION 'campaigns' OPTIONS (key 'sim_us', steps '2')",
    )
    .await
    .unwrap();
    let batches = env.sql("SELECT count(*) FROM c").await.unwrap();
    assert_eq!(i64_column(&batches, 0), vec![Some(14 * 3)]);
    assert_eq!(env.sim.stats().rate_limited, 0, "{:?}", env.sim.stats());
    assert_eq!(env.total_requests(), 15);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn segment_id_columns_equal_the_api_and_join_with_segments() {
    let ws = WorkspaceSpec {
        campaigns: 30,
        ..workspace("seg_ids", "sim_us", Region::Us)
    };
    let env = Env::start(fast_config(vec![ws.clone()])).await;
    env.sql(&campaigns_ddl("c", "sim_us", ", period 'weeks', steps '1'"))
        .await
        .unwrap();
    env.sql(
        "CREATE EXTERNAL TABLE s STORED AS CUSTOMERIO LOCATION 'segments' OPTIONS (key 'sim_us')",
    )
    .await
    .unwrap();
    let list = env.api(&ws, "/v1/campaigns").await;
    let mut with_segments = 0;
    for c in list["campaigns"].as_array().unwrap() {
        let id = c["id"].as_i64().unwrap();
        let ids = |field: &str| -> Vec<i64> {
            c[field]
                .as_array()
                .map(|a| a.iter().map(|x| x.as_i64().unwrap()).collect())
                .unwrap_or_default()
        };
        let (trigger, filter) = (ids("trigger_segment_ids"), ids("filter_segment_ids"));
        with_segments += usize::from(!trigger.is_empty() || !filter.is_empty());
        for (column, want) in [
            ("trigger_segment_ids", trigger),
            ("filter_segment_ids", filter),
        ] {
            let got = env
                .sql(&format!(
                    "SELECT DISTINCT unnest({column}) FROM c WHERE campaign_id = {id} ORDER BY 1"
                ))
                .await
                .unwrap();
            let got: Vec<i64> = i64_column(&got, 0).into_iter().flatten().collect();
            let mut want = want;
            want.sort();
            want.dedup();
            assert_eq!(got, want, "campaign {id} {column}");
        }
    }
    assert!(
        with_segments > 0,
        "no campaign uses a segment: the test proves nothing"
    );
    // Campaign sends per trigger segment, by name: a join on segment ids.
    let joined = env
        .sql("SELECT s.name, SUM(x.sent) FROM (SELECT unnest(trigger_segment_ids) AS segment_id, sent FROM c) x \
              JOIN s ON s.id = x.segment_id GROUP BY s.name ORDER BY 1")
        .await
        .unwrap();
    // The same sums from the API: segment names by GET /v1/segments, trigger segments by the
    // campaign list, sends by each campaign's version-1 series over the same buckets.
    let segments = env.api(&ws, "/v1/segments").await;
    let names: BTreeMap<i64, String> = segments["segments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["id"].as_i64().unwrap(),
                s["name"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let mut want: BTreeMap<String, i64> = BTreeMap::new();
    for c in list["campaigns"].as_array().unwrap() {
        let id = c["id"].as_i64().unwrap();
        let path = format!("/v1/campaigns/{id}/metrics?period=weeks&steps=1");
        let sent: i64 = api_series(&env, &ws, &path, "sent").await.iter().sum();
        for seg in c["trigger_segment_ids"].as_array().into_iter().flatten() {
            if let Some(name) = names.get(&seg.as_i64().unwrap()) {
                *want.entry(name.clone()).or_default() += sent;
            }
        }
    }
    let got: BTreeMap<String, i64> = str_column(&joined, 0)
        .into_iter()
        .zip(i64_column(&joined, 1).into_iter().map(|v| v.unwrap()))
        .collect();
    assert!(
        !want.is_empty(),
        "no trigger segment: the join proves nothing"
    );
    assert_eq!(got, want, "(segment, sends) pairs\n{}", pretty(&joined));
}

//! Clock skew (issue 12, item 5): the simulator's clock ahead of and behind the connector's,
//! across midnight America/New_York and across the daylight-saving changes of 2026 (8 March,
//! 1 November). Version-1 buckets (newsletter metrics, link metrics) end with the server's
//! current bucket, so they must be labelled from the server's time (the answer's `Date`), not the
//! connector's; version-2 campaign buckets are labelled from the answer's `start` (the window the
//! connector asked for). Every expected `period_start` below is written by hand.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use customerio_sim::{IsolatedSimulator, Region, ScriptedResponse, Simulator, WorkspaceSpec};
use datafusion::prelude::SessionContext;
use datafusion_customerio::clock::FixedClock;
use datafusion_customerio::{Credential, Credentials, CustomerIo};
use serde_json::{Value, json};

use crate::common::*;

fn utc(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

/// Microseconds of the hand-written instants, as `i64_column` reads `period_start`.
fn micros(starts: &[&str]) -> Vec<Option<i64>> {
    starts
        .iter()
        .map(|s| Some(utc(s).timestamp_micros()))
        .collect()
}

/// A simulator whose clock shows `server` and a session whose tables' clock shows `client`.
struct Skewed {
    sim: IsolatedSimulator,
    ctx: SessionContext,
    ws: WorkspaceSpec,
}

impl Skewed {
    async fn start(test: &str, server: &str, client: &str) -> Skewed {
        let ws = workspace(test, "sim_us", Region::Us);
        let mut config = fast_config(vec![ws.clone()]);
        config.clock = Arc::new(customerio_sim::clock::FixedClock::new(utc(server)));
        let sim = Simulator::start_isolated(config)
            .await
            .expect("simulator starts");
        let cio = CustomerIo::with_credentials(Credentials::empty())
            .with_clock(Arc::new(FixedClock::new(utc(client))));
        cio.credentials().insert(
            ws.name.clone(),
            Credential::new(ws.api_key.clone()).with_base_url(sim.us_url()),
        );
        let ctx = SessionContext::new();
        cio.register(&ctx);
        Skewed { sim, ctx, ws }
    }

    async fn query(&self, sql: &str) -> Vec<datafusion::arrow::record_batch::RecordBatch> {
        match self.ctx.sql(sql).await {
            Ok(df) => df.collect().await.unwrap_or_else(|e| panic!("{sql}: {e}")),
            Err(e) => panic!("{sql}: {e}"),
        }
    }

    /// Answers the next `operation` request with `body` (status 200).
    fn script(&self, operation: &str, body: &Value) {
        self.sim.push_script(
            ScriptedResponse::new(200)
                .for_operation(operation)
                .with_body(body.to_string()),
        );
    }

    /// `GET path` on the simulator, as JSON.
    async fn api(&self, path: &str) -> Value {
        let resp = reqwest::Client::new()
            .get(format!("{}{path}", self.sim.us_url()))
            .bearer_auth(&self.ws.api_key)
            .send()
            .await
            .unwrap();
        assert!(resp.status().is_success(), "{path}: {}", resp.status());
        resp.json().await.unwrap()
    }
}

/// One skew case: the server's and the connector's clocks, and the `period_start`s of the three
/// daily buckets (`steps 2`) that the answer covers, written by hand: midnight Eastern is 05:00Z
/// under EST (-05:00) and 04:00Z under EDT (-04:00).
struct Case {
    name: &'static str,
    server: &'static str,
    client: &'static str,
    /// Version-1 buckets: the last one holds the server's time.
    v1: [&'static str; 3],
}

const CASES: &[Case] = &[
    Case {
        name: "server past midnight EST, connector not (Thanksgiving night)",
        server: "2026-11-27T05:10:00Z", // 00:10 EST, 27 Nov
        client: "2026-11-27T04:50:00Z", // 23:50 EST, 26 Nov
        v1: [
            "2026-11-25T05:00:00Z",
            "2026-11-26T05:00:00Z",
            "2026-11-27T05:00:00Z",
        ],
    },
    Case {
        name: "connector past midnight EST, server not",
        server: "2026-11-27T04:50:00Z",
        client: "2026-11-27T05:10:00Z",
        v1: [
            "2026-11-24T05:00:00Z",
            "2026-11-25T05:00:00Z",
            "2026-11-26T05:00:00Z",
        ],
    },
    Case {
        name: "server past midnight of 8 March (EST, the DST day), connector not",
        server: "2026-03-08T05:10:00Z", // 00:10 EST, 8 Mar
        client: "2026-03-08T04:50:00Z", // 23:50 EST, 7 Mar
        v1: [
            "2026-03-06T05:00:00Z",
            "2026-03-07T05:00:00Z",
            "2026-03-08T05:00:00Z",
        ],
    },
    Case {
        name: "server past midnight of 9 March (first EDT midnight), connector not",
        server: "2026-03-09T04:20:00Z", // 00:20 EDT, 9 Mar
        client: "2026-03-09T03:40:00Z", // 23:40 EDT, 8 Mar
        v1: [
            "2026-03-07T05:00:00Z",
            "2026-03-08T05:00:00Z",
            "2026-03-09T04:00:00Z",
        ],
    },
    Case {
        name: "connector past midnight of 9 March, server not",
        server: "2026-03-09T03:40:00Z",
        client: "2026-03-09T04:20:00Z",
        v1: [
            "2026-03-06T05:00:00Z",
            "2026-03-07T05:00:00Z",
            "2026-03-08T05:00:00Z",
        ],
    },
    Case {
        name: "server past midnight of 1 November (EDT, the day DST ends), connector not",
        server: "2026-11-01T04:10:00Z", // 00:10 EDT, 1 Nov
        client: "2026-11-01T03:50:00Z", // 23:50 EDT, 31 Oct
        v1: [
            "2026-10-30T04:00:00Z",
            "2026-10-31T04:00:00Z",
            "2026-11-01T04:00:00Z",
        ],
    },
    Case {
        name: "connector past midnight of 1 November, server not",
        server: "2026-11-01T03:50:00Z",
        client: "2026-11-01T04:10:00Z",
        v1: [
            "2026-10-29T04:00:00Z",
            "2026-10-30T04:00:00Z",
            "2026-10-31T04:00:00Z",
        ],
    },
    Case {
        name: "server past midnight of 2 November (first EST midnight), connector not",
        server: "2026-11-02T05:10:00Z", // 00:10 EST, 2 Nov
        client: "2026-11-02T04:50:00Z", // 23:50 EST, 1 Nov
        v1: [
            "2026-10-31T04:00:00Z",
            "2026-11-01T04:00:00Z",
            "2026-11-02T05:00:00Z",
        ],
    },
];

const NEWSLETTERS: &str = "CREATE EXTERNAL TABLE n STORED AS CUSTOMERIO LOCATION 'newsletters' \
     OPTIONS (key 'sim_us', period 'days', steps '2', rate_limit '500')";

/// A scripted version-1 answer (`sent` 1, 2, 3, oldest first: the vendor's series run oldest to
/// newest and end with the current bucket) is labelled with the server's days, whichever clock
/// is ahead; and so are the link series of the same item.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn newsletter_buckets_end_with_the_servers_day_under_skew() {
    for case in CASES {
        let env = Skewed::start("skew_v1", case.server, case.client).await;
        env.query(NEWSLETTERS).await;
        env.script(
            "getNewsletterMetrics",
            &json!({"metric": {"series": {"sent": [1, 2, 3]}}}),
        );
        env.script(
            "getNewsletterLinks",
            &json!({"links": [{
                "link": {"id": 7, "href": "https://example.com/a"},
                "metric": {"series": {"clicked": [10, 20, 30]}}
            }]}),
        );
        let batches = env
            .query(
                "SELECT period_start, sent, links[1]['clicked'] FROM n \
                 WHERE newsletter_id = 1 ORDER BY period_start",
            )
            .await;
        assert_eq!(
            i64_column(&batches, 0),
            micros(&case.v1),
            "{}: {}",
            case.name,
            pretty(&batches)
        );
        assert_eq!(
            i64_column(&batches, 1),
            vec![Some(1), Some(2), Some(3)],
            "{}",
            case.name
        );
        assert_eq!(
            i64_column(&batches, 2),
            vec![Some(10), Some(20), Some(30)],
            "{}: links",
            case.name
        );
    }
}

/// Unscripted: the simulator computes its version-1 window from its own clock; the rows read
/// under skew are the rows read with the connector's clock set to the server's, and their
/// `period_start`s are the hand-written ones.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn newsletter_rows_under_skew_equal_the_rows_at_the_servers_time() {
    const ROWS: &str = "SELECT newsletter_id, period_start, sent, opened, clicked, links FROM n \
                        ORDER BY newsletter_id, period_start";
    for case in CASES {
        let skewed = Skewed::start("skew_v1_rows", case.server, case.client).await;
        skewed.query(NEWSLETTERS).await;
        let got = skewed.query(ROWS).await;
        let agreed = Skewed::start("skew_v1_rows_ref", case.server, case.server).await;
        agreed.query(NEWSLETTERS).await;
        let want = agreed.query(ROWS).await;
        assert_eq!(pretty(&got), pretty(&want), "{}", case.name);
        let starts = skewed
            .query("SELECT DISTINCT period_start FROM n ORDER BY 1")
            .await;
        assert_eq!(i64_column(&starts, 0), micros(&case.v1), "{}", case.name);
        // Some sends in the window, or the comparison above proves little.
        assert!(
            i64_column(&got, 2).iter().flatten().sum::<i64>() > 0,
            "{}: {}",
            case.name,
            pretty(&got)
        );
    }
}

/// Version-2 campaign buckets are labelled from the answer's `start`: the window the connector
/// asked for from its own clock (its day and the two before), whichever clock is ahead; their
/// numbers are the simulator's for that hand-written window. The campaign's link series (version
/// 1) end with the server's day, and line up with the rows by date.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn campaign_rows_follow_the_requested_window_and_links_the_servers_day_under_skew() {
    struct V2 {
        server: &'static str,
        client: &'static str,
        /// The connector's three days.
        rows: [&'static str; 3],
        /// The day after the last: the window's `end`.
        end: &'static str,
        /// `links[1].clicked` per row, from the scripted series [10, 20, 30] that ends with the
        /// server's day.
        clicked: [Option<i64>; 3],
    }
    let cases = [
        // Server on 9 March (EDT), connector on 8 March: the server's link days are 7, 8, 9 March.
        V2 {
            server: "2026-03-09T04:20:00Z",
            client: "2026-03-09T03:40:00Z",
            rows: [
                "2026-03-06T05:00:00Z",
                "2026-03-07T05:00:00Z",
                "2026-03-08T05:00:00Z",
            ],
            end: "2026-03-09T04:00:00Z",
            clicked: [None, Some(10), Some(20)],
        },
        // Connector on 9 March, server on 8 March: the server's link days are 6, 7, 8 March.
        V2 {
            server: "2026-03-09T03:40:00Z",
            client: "2026-03-09T04:20:00Z",
            rows: [
                "2026-03-07T05:00:00Z",
                "2026-03-08T05:00:00Z",
                "2026-03-09T04:00:00Z",
            ],
            end: "2026-03-10T04:00:00Z",
            clicked: [Some(20), Some(30), None],
        },
        // Server on 1 November (EDT), connector on 31 October.
        V2 {
            server: "2026-11-01T04:10:00Z",
            client: "2026-11-01T03:50:00Z",
            rows: [
                "2026-10-29T04:00:00Z",
                "2026-10-30T04:00:00Z",
                "2026-10-31T04:00:00Z",
            ],
            end: "2026-11-01T04:00:00Z",
            clicked: [None, Some(10), Some(20)],
        },
        // Connector on 2 November (EST), server on 1 November.
        V2 {
            server: "2026-11-02T04:50:00Z",
            client: "2026-11-02T05:10:00Z",
            rows: [
                "2026-10-31T04:00:00Z",
                "2026-11-01T04:00:00Z",
                "2026-11-02T05:00:00Z",
            ],
            end: "2026-11-03T05:00:00Z",
            clicked: [Some(20), Some(30), None],
        },
    ];
    for case in cases {
        let env = Skewed::start("skew_v2", case.server, case.client).await;
        env.query(
            "CREATE EXTERNAL TABLE c STORED AS CUSTOMERIO LOCATION 'campaigns' \
             OPTIONS (key 'sim_us', period 'days', steps '2', rate_limit '500')",
        )
        .await;
        env.script(
            "campaignLinkMetrics",
            &json!({"links": [{
                "link": {"id": 3, "href": "https://example.com/c"},
                "metric": {"series": {"clicked": [10, 20, 30]}}
            }]}),
        );
        let batches = env
            .query(
                "SELECT period_start, sent, delivered, links[1]['clicked'] FROM c \
                 WHERE campaign_id = 1 ORDER BY period_start",
            )
            .await;
        let label = format!("server {} connector {}", case.server, case.client);
        assert_eq!(
            i64_column(&batches, 0),
            micros(&case.rows),
            "{label}: {}",
            pretty(&batches)
        );
        assert_eq!(
            i64_column(&batches, 3),
            case.clicked.to_vec(),
            "{label}: links"
        );
        // The numbers are the simulator's for the hand-written window.
        let (start, end) = (utc(case.rows[0]).timestamp(), utc(case.end).timestamp());
        let direct = env
            .api(&format!(
                "/v1/campaigns/1/metrics?version=2&res=days&start={start}&end={end}&tz=America/New_York"
            ))
            .await;
        for (c, metric) in [(1, "sent"), (2, "delivered")] {
            let want: Vec<Option<i64>> = direct["metric"]["series"][metric]
                .as_array()
                .unwrap()
                .iter()
                .map(Value::as_i64)
                .collect();
            assert_eq!(i64_column(&batches, c), want, "{label}: {metric}");
        }
    }
}

impl Skewed {
    /// The error of `sql`, which must fail.
    async fn error(&self, sql: &str) -> String {
        match self.ctx.sql(sql).await {
            Ok(df) => match df.collect().await {
                Ok(b) => panic!("{sql} returned rows: {}", pretty(&b)),
                Err(e) => e.to_string(),
            },
            Err(e) => e.to_string(),
        }
    }
}

/// A server `Date` hours from this machine's clock still labels version-1 buckets (they end at
/// the server's now, whichever clock is wrong); a `Date` before 2012 is no server's clock, and
/// the query fails naming both times, for newsletter metrics and campaign link metrics alike.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_date_hours_away_labels_and_one_before_2012_fails() {
    let client = "2026-11-27T12:00:00Z";
    for (server, days) in [
        (
            "2026-11-27T18:00:00Z",
            [
                "2026-11-25T05:00:00Z",
                "2026-11-26T05:00:00Z",
                "2026-11-27T05:00:00Z",
            ],
        ),
        (
            "2026-11-25T03:00:00Z", // 22:00 EST on 24 November
            [
                "2026-11-22T05:00:00Z",
                "2026-11-23T05:00:00Z",
                "2026-11-24T05:00:00Z",
            ],
        ),
    ] {
        let env = Skewed::start("skew_far", server, client).await;
        env.query(NEWSLETTERS).await;
        let b = env
            .query("SELECT period_start FROM n WHERE newsletter_id = 1 ORDER BY 1")
            .await;
        assert_eq!(i64_column(&b, 0), micros(&days), "{server}");
    }
    // Newsletter metrics; campaign link metrics (campaign metrics are version 2, whose buckets
    // come from the window asked for, so only the links' Date is judged there).
    for links in [false, true] {
        let server = "1970-01-01T00:00:00Z";
        let env = Skewed::start("skew_epoch", server, client).await;
        env.query(NEWSLETTERS).await;
        env.query(
            "CREATE EXTERNAL TABLE c STORED AS CUSTOMERIO LOCATION 'campaigns' \
             OPTIONS (key 'sim_us', period 'days', steps '2', rate_limit '500')",
        )
        .await;
        let sql = if links {
            "SELECT links FROM c WHERE campaign_id = 1"
        } else {
            "SELECT sent FROM n WHERE newsletter_id = 1"
        };
        let e = env.error(sql).await;
        let path = if links {
            "/v1/campaigns/1/metrics/links"
        } else {
            "/v1/newsletters/1/metrics"
        };
        for needle in [&server[..19], &client[..19], "Date", path] {
            assert!(e.contains(needle), "links={links}: {needle} in {e}");
        }
    }
}

/// A campaign metrics answer that is not the version-2 answer asked for fails naming the field:
/// no `start` (a version-1 answer would end at the server's now, 45 days long), a `res` other
/// than the one asked for, more buckets than the window holds, or fewer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_campaign_answer_that_is_not_the_version_2_window_fails() {
    let t = "2026-11-27T12:00:00Z";
    let cases = [
        (
            json!({"metric": {"series": {"sent": [1, 2, 3]}}}),
            "at start: missing",
        ),
        (
            json!({"start": "2026-11-25 05:00:00 +0000 UTC", "res": "weeks",
                   "metric": {"series": {"sent": [1, 2, 3]}}}),
            "at res: 'weeks'",
        ),
        (
            json!({"start": "2026-11-25 05:00:00 +0000 UTC", "res": "days",
                   "metric": {"series": {"sent": vec![0; 46]}}}),
            "46 buckets",
        ),
        (
            json!({"start": "2026-11-25 05:00:00 +0000 UTC", "res": "days",
                   "metric": {"series": {"sent": [1, 2]}}}),
            "2 buckets",
        ),
    ];
    for (body, needle) in cases {
        let env = Skewed::start("skew_v2", t, t).await;
        env.query(
            "CREATE EXTERNAL TABLE c STORED AS CUSTOMERIO LOCATION 'campaigns' \
             OPTIONS (key 'sim_us', period 'days', steps '2', rate_limit '500')",
        )
        .await;
        env.script("campaignMetrics", &body);
        let e = env.error("SELECT sent FROM c WHERE campaign_id = 1").await;
        assert!(
            e.contains(needle) && e.contains("/v1/campaigns/1/metrics"),
            "{body}: {e}"
        );
    }
    // `daily` is the same resolution as `days`: read.
    let env = Skewed::start("skew_v2", t, t).await;
    env.query(
        "CREATE EXTERNAL TABLE c STORED AS CUSTOMERIO LOCATION 'campaigns' \
         OPTIONS (key 'sim_us', period 'days', steps '2', rate_limit '500')",
    )
    .await;
    env.script(
        "campaignMetrics",
        &json!({"start": "2026-11-25 05:00:00 +0000 UTC", "res": "daily",
               "metric": {"series": {"sent": [1, 2, 3]}}}),
    );
    let b = env
        .query("SELECT sent FROM c WHERE campaign_id = 1 ORDER BY period_start")
        .await;
    assert_eq!(i64_column(&b, 0), vec![Some(1), Some(2), Some(3)]);
}

//! Hardening (issue 5): bad input over every option of every report, exact fault scenarios, the
//! key kept out of logs, plans and errors, and one key's rate limit shared under concurrent load.
//! The figures these tests measure are recorded in `RELIABILITY.md`.

use std::collections::HashMap;
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use customerio_sim::{
    ExportConfig, FaultConfig, Region, ScriptKind, ScriptedResponse, SimConfig, WorkspaceSpec,
};
use datafusion::physical_plan::displayable;
use datafusion_customerio::{Report, TableOptions};

use crate::common::*;

// ---------------------------------------------------------------------------------------------
// Bad input
// ---------------------------------------------------------------------------------------------

/// A value every report accepts for `option`, so a CREATE with it succeeds.
fn valid_value(option: &str, base_url: &str) -> String {
    match option {
        "key" => "sim_us",
        "region" => "us",
        "base_url" => base_url,
        "workspace" => "acme",
        "rate_limit" => "5",
        "concurrency" => "4",
        "max_attempts" => "3",
        "request_timeout" => "30s",
        "cache_ttl" => "5m",
        "metric_type" => "email",
        "period" => "weeks",
        "steps" => "3",
        "unique_links" => "true",
        "segments" => "1, Email Activity - Sent",
        "attributes" => r#"["plan", "first_name"]"#,
        "export_timeout" => "15m",
        "campaign_id" | "newsletter_id" | "action_id" | "transactional_message_id" => "7",
        "start" => "-7d",
        "end" => "now",
        "metric" => "sent",
        "drafts" | "deleted" | "counts" => "false",
        other => panic!("option {other} has no valid value in the bad-input table; add one"),
    }
    .to_string()
}

/// Invalid values of `option`, each with what the error must contain besides the option's name.
/// `{v}` in a needle stands for the value. Panics for an option without cases, so a new option
/// cannot skip this table.
fn invalid_values(option: &str) -> Vec<(&'static str, Vec<&'static str>)> {
    let v = "{v}";
    match option {
        // The value may be a secret: the error must not repeat it, only say what a name is.
        "key" => vec![
            ("a b", vec!["letters, digits", "CIO_KEY_<NAME>"]),
            ("", vec!["letters, digits"]),
            (
                "3f9a8c7e6d5b4a3f2e1d0c9b8a7f6e5d",
                vec!["looks like an API key"],
            ),
            ("no_such_credential", vec!["CIO_KEY_NO_SUCH_CREDENTIAL"]),
        ],
        "region" => vec![
            ("mars", vec![v, "us, eu"]),
            ("", vec!["us, eu"]),
            ("us-east-1", vec![v, "us, eu"]),
        ],
        "base_url" => vec![
            ("ftp://example.com", vec![v, "https://api.customer.io"]),
            ("not a url", vec![v, "https://api.customer.io"]),
            (
                "http://user:pw@example.com",
                vec!["must not carry credentials"],
            ),
        ],
        "workspace" => vec![("", vec!["non-empty"]), ("   ", vec!["non-empty"])],
        "rate_limit" => ["0", "-1", "abc", "NaN", "inf", "1001"]
            .into_iter()
            .map(|x| (x, vec![v, "above 0 and at most 1000"]))
            .collect(),
        "concurrency" => ["0", "65", "x", "1.5"]
            .into_iter()
            .map(|x| (x, vec![v, "1 to 64"]))
            .collect(),
        "max_attempts" => ["0", "11", "x"]
            .into_iter()
            .map(|x| (x, vec![v, "1 to 10"]))
            .collect(),
        "request_timeout" => ["0", "11m", "abc", "5d", "-1"]
            .into_iter()
            .map(|x| (x, vec![v, "1s to 10m"]))
            .collect(),
        "metric_type" => vec![
            ("fax", vec![v, "email, webhook"]),
            ("", vec!["email, webhook"]),
            ("emial", vec![v, "did you mean 'email'"]),
        ],
        "period" => vec![
            ("fortnights", vec![v, "hours, days, weeks, months"]),
            ("", vec!["hours, days, weeks, months"]),
        ],
        "steps" => ["0", "46", "x", "-1"]
            .into_iter()
            .map(|x| (x, vec![v, "1 to 45"]))
            .collect(),
        "unique_links" | "drafts" | "deleted" | "counts" => ["maybe", "", "2"]
            .into_iter()
            .map(|x| (x, vec!["true, false"]))
            .collect(),
        "segments" | "attributes" => vec![
            ("", vec!["empty entry", "JSON array"]),
            ("a,,b", vec![v, "empty entry"]),
            ("[1,", vec![v, "not a JSON array"]),
            ("[{}]", vec!["not a name or an id"]),
            ("[]", vec!["empty entry"]),
        ],
        "cache_ttl" => ["25h", "abc", "-5m"]
            .into_iter()
            .map(|x| (x, vec![v, "0 (off) to 24h"]))
            .collect(),
        "export_timeout" => ["0", "25h", "abc", "-5m"]
            .into_iter()
            .map(|x| (x, vec![v, "1s to 24h"]))
            .collect(),
        "campaign_id" | "newsletter_id" | "action_id" | "transactional_message_id" => {
            ["0", "-5", "abc"]
                .into_iter()
                .map(|x| (x, vec![v, "whole numbers from 1 to"]))
                .collect()
        }
        "start" | "end" => ["yesterday", "2026-13-01", "-7y"]
            .into_iter()
            .map(|x| (x, vec![v, "a date (2026-01-31)", "-7d"]))
            .collect(),
        "metric" => vec![("viewed", vec![v, "created, attempted, sent"])],
        other => panic!("option {other} has no invalid values in the bad-input table; add them"),
    }
}

/// `'text'` as an SQL string literal.
fn quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// The OPTIONS list of a CREATE for `report` with `extra` pairs (a `key` among them replaces the
/// default one).
fn options_sql(extra: &[(&str, &str)]) -> String {
    let mut pairs: Vec<String> = Vec::new();
    if !extra
        .iter()
        .any(|(k, _)| k.rsplit('.').next() == Some("key"))
    {
        pairs.push("key 'sim_us'".into());
    }
    pairs.extend(extra.iter().map(|(k, v)| format!("{k} {}", quote(v))));
    pairs.join(", ")
}

fn map(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Every option of every report: a valid value creates the table, each invalid value (bare and
/// `format.`/`customerio.` prefixed), a typo of its name and an unknown key fail the CREATE
/// naming the option and the valid values, and the simulator sees no request at all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_option_of_every_report_rejects_bad_input_at_create_time() {
    let ws = workspace("bad_input", "sim_us", Region::Us);
    let env = Env::start(fast_config(vec![ws])).await;
    let base_url = env.sim.us_url();
    let mut table = 0usize;
    let mut next_name = || {
        table += 1;
        format!("t{table}")
    };
    let (mut rejected, mut accepted) = (0usize, 0usize);
    for report in Report::ALL {
        let names: Vec<&str> = report.options().iter().map(|(k, _)| *k).collect();
        let listing = format!("valid options are {}", names.join(", "));
        for option in &names {
            // A valid value is accepted: the failures below are the value's, not the table's.
            let good = valid_value(option, &base_url);
            let sql = format!(
                "CREATE EXTERNAL TABLE {} STORED AS CUSTOMERIO LOCATION '{report}' OPTIONS ({})",
                next_name(),
                options_sql(&[(option, &good)])
            );
            env.sql(&sql)
                .await
                .unwrap_or_else(|e| panic!("{sql}\n  was refused: {e}"));
            accepted += 1;

            for (value, needles) in invalid_values(option) {
                for prefix in ["", "format.", "customerio."] {
                    let key = format!("{prefix}{option}");
                    let sql = format!(
                        "CREATE EXTERNAL TABLE {} STORED AS CUSTOMERIO LOCATION '{report}' \
                         OPTIONS ({})",
                        next_name(),
                        options_sql(&[(key.as_str(), value)])
                    );
                    let err = env.sql(&sql).await.expect_err(&sql).to_string();
                    assert!(
                        err.contains(option),
                        "{sql}\n  '{err}' does not name {option}"
                    );
                    for needle in &needles {
                        let needle = needle.replace("{v}", value);
                        assert!(err.contains(&needle), "{sql}\n  '{err}' lacks '{needle}'");
                    }
                    if *option == "key" {
                        assert!(
                            value.is_empty()
                                || value == "no_such_credential"
                                || !err.contains(value),
                            "{sql}\n  the key value is repeated: {err}"
                        );
                    }
                    rejected += 1;
                }
            }

            // A typo of the name: the option suggested, every valid option listed.
            let typo = &option[..option.len() - 1];
            let sql = format!(
                "CREATE EXTERNAL TABLE {} STORED AS CUSTOMERIO LOCATION '{report}' OPTIONS ({})",
                next_name(),
                options_sql(&[(typo, &good)])
            );
            let err = env.sql(&sql).await.expect_err(&sql).to_string();
            for needle in [
                format!("unknown option 'format.{typo}'"),
                format!("did you mean '{option}'"),
                listing.clone(),
            ] {
                assert!(err.contains(&needle), "{sql}\n  '{err}' lacks '{needle}'");
            }
            rejected += 1;
        }

        // Unknown keys, bare and prefixed, and another report's option.
        let foreign = Report::ALL
            .iter()
            .flat_map(|r| r.options().iter().map(|(k, _)| *k))
            .find(|k| !names.contains(k));
        let mut unknown = vec![
            ("colour".to_string(), "colour"),
            ("format.colour".to_string(), "colour"),
            ("customerio.colour".to_string(), "colour"),
            ("aws.region".to_string(), "aws.region"),
        ];
        if let Some(f) = foreign {
            unknown.push((f.to_string(), f));
        }
        for (key, needle) in &unknown {
            let sql = format!(
                "CREATE EXTERNAL TABLE {} STORED AS CUSTOMERIO LOCATION '{report}' OPTIONS ({})",
                next_name(),
                options_sql(&[(key.as_str(), "x")])
            );
            let err = env.sql(&sql).await.expect_err(&sql).to_string();
            assert!(
                err.contains("unknown option")
                    && err.contains(needle)
                    && err.contains(&format!("for report {report}"))
                    && err.contains(&listing),
                "{sql}\n  {err}"
            );
            rejected += 1;
        }
    }

    // Options that are valid alone but not together.
    type Combo<'a> = (&'a str, &'a [(&'a str, &'a str)], &'a [&'a str]);
    let combos: &[Combo] = &[
        (
            "campaigns",
            &[("period", "hours"), ("steps", "25")],
            &["steps", "25", "1 to 24"],
        ),
        (
            "newsletters",
            &[("period", "months"), ("steps", "122")],
            &["steps", "122", "1 to 121"],
        ),
        (
            "campaigns",
            &[("period", "months"), ("steps", "120")],
            &["steps", "120", "1 to 119", "campaignMetrics (version 2)"],
        ),
        (
            "deliveries_export",
            &[("campaign_id", "1"), ("newsletter_id", "2")],
            &["campaign_id, newsletter_id", "at most one"],
        ),
        (
            "deliveries_export",
            &[("start", "2026-02-01"), ("end", "2026-01-01")],
            &["start/end", "start must come before end"],
        ),
        (
            "deliveries_export",
            &[("start", "2024-01-01"), ("end", "2026-01-01")],
            &["start/end", "longer than 12 calendar months"],
        ),
        (
            // 366 days without a 29 February: 12 months and a day.
            "deliveries_export",
            &[("start", "2022-03-01"), ("end", "2023-03-02")],
            &[
                "start/end",
                "2022-03-01 00:00:00 UTC",
                "2023-03-02 00:00:00 UTC",
                "longer than 12 calendar months",
                "2023-03-01 00:00:00 UTC at the latest",
            ],
        ),
    ];
    for (report, pairs, needles) in combos {
        let sql = format!(
            "CREATE EXTERNAL TABLE {} STORED AS CUSTOMERIO LOCATION '{report}' OPTIONS ({})",
            next_name(),
            options_sql(pairs)
        );
        let err = env.sql(&sql).await.expect_err(&sql).to_string();
        for n in *needles {
            assert!(err.contains(n), "{sql}\n  '{err}' lacks '{n}'");
        }
        rejected += 1;
    }

    // Repeated keys that reach the factory: DataFusion prefixes bare keys with `format.` and
    // refuses `key` then `format.key` itself; `customerio.` and mixed case reach our parser.
    for (pairs, needle) in [
        (
            "key 'sim_us', format.key 'sim_us'",
            "specified multiple times",
        ),
        (
            "key 'sim_us', period 'days', customerio.period 'weeks'",
            "given twice",
        ),
        (
            "key 'sim_us', format.period 'days', customerio.period 'weeks'",
            "given twice",
        ),
        ("customerio.key 'sim_us', key 'sim_us'", "given twice"),
    ] {
        let sql = format!(
            "CREATE EXTERNAL TABLE {} STORED AS CUSTOMERIO LOCATION 'campaigns' OPTIONS ({pairs})",
            next_name()
        );
        let err = env.sql(&sql).await.expect_err(&sql).to_string();
        assert!(err.contains(needle), "{sql}\n  {err}");
        rejected += 1;
    }

    println!("bad input: {accepted} valid CREATEs accepted, {rejected} invalid CREATEs refused");
    assert!(rejected > 300, "only {rejected} cases ran");
    assert_eq!(env.total_requests(), 0, "{:?}", env.sim.stats());
    assert!(env.sim.stats().statuses.is_empty(), "{:?}", env.sim.stats());
}

/// The parser itself (the typed API's entry point): every option given twice under any two of
/// its spellings (bare, `format.`, `customerio.`, upper case) is refused naming the option.
#[test]
fn every_option_given_twice_is_refused_by_the_parser() {
    let mut cases = 0;
    for report in Report::ALL {
        for (option, _) in report.options() {
            let upper = option.to_ascii_uppercase();
            let spellings = [
                option.to_string(),
                format!("format.{option}"),
                format!("customerio.{option}"),
                upper,
            ];
            for (i, a) in spellings.iter().enumerate() {
                for b in &spellings[i + 1..] {
                    let mut raw = map(&[(a.as_str(), "x"), (b.as_str(), "y")]);
                    if *option != "key" {
                        raw.insert("key".into(), "sim_us".into());
                    }
                    let err = TableOptions::parse(report, &raw, fixed_now())
                        .expect_err("a repeated option must be refused")
                        .to_string();
                    assert!(
                        err.contains(&format!("option '{option}' is given twice")),
                        "{report} {a} + {b}: {err}"
                    );
                    cases += 1;
                }
            }
        }
    }
    assert!(cases >= 6 * 6 * 8, "{cases}");
}

// ---------------------------------------------------------------------------------------------
// Faults
// ---------------------------------------------------------------------------------------------

fn newsletters_ddl(extra: &str) -> String {
    format!(
        "CREATE EXTERNAL TABLE n STORED AS CUSTOMERIO LOCATION 'newsletters' \
         OPTIONS (key 'sim_us', period 'weeks', steps '3', rate_limit '500'{extra})"
    )
}

const ALL_ROWS: &str = "SELECT newsletter_id, period_start, sent, opened, links FROM n \
     ORDER BY newsletter_id, period_start";

/// Arrival times of `operation`'s requests, as the simulator logged them.
fn arrivals(env: &Env, operation: &str) -> Vec<Duration> {
    env.sim
        .request_log()
        .into_iter()
        .filter(|r| r.operation == operation)
        .map(|r| r.at)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_after_two_seconds_is_waited_between_exactly_two_requests() {
    let env = Env::start(fast_config(vec![workspace("ra2", "sim_us", Region::Us)])).await;
    env.sql(&newsletters_ddl("")).await.unwrap();
    env.sim.record_requests();
    env.sim
        .push_script(ScriptedResponse::rate_limited(2).for_operation("listNewsletters"));
    let batches = env.sql("SELECT count(*) FROM n").await.unwrap();
    assert_eq!(i64_column(&batches, 0), vec![Some(8 * 4)]);
    let at = arrivals(&env, "listNewsletters");
    assert_eq!(at.len(), 2, "exactly two requests: {at:?}");
    let gap = at[1] - at[0];
    assert!(gap >= Duration::from_secs(2), "Retry-After: 2 but {gap:?}");
    println!("retry-after 2: gap {gap:?}");
    assert_eq!(env.sim.stats().rate_limited, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_429s_without_retry_after_back_off_and_the_fourth_succeeds() {
    let env = Env::start(fast_config(vec![workspace("r429", "sim_us", Region::Us)])).await;
    env.sql(&newsletters_ddl("")).await.unwrap();
    let clean = pretty(&env.sql(ALL_ROWS).await.unwrap());
    env.sim.reset_stats();
    env.sim.record_requests();
    for _ in 0..3 {
        env.sim
            .push_script(ScriptedResponse::new(429).for_operation("listNewsletters"));
    }
    let rows = pretty(&env.sql(ALL_ROWS).await.unwrap());
    assert_eq!(rows, clean);
    let at = arrivals(&env, "listNewsletters");
    assert_eq!(at.len(), 4, "three 429s and one success: {at:?}");
    assert_eq!(env.sim.stats().rate_limited, 3);
    // The backoff doubles from 250 ms with jitter in [ceiling/2, ceiling]: each gap is at least
    // the floor of its step.
    let gaps: Vec<Duration> = at.windows(2).map(|w| w[1] - w[0]).collect();
    for (i, (gap, floor)) in gaps.iter().zip([125u64, 250, 500]).enumerate() {
        assert!(
            *gap >= Duration::from_millis(floor),
            "gap {i} is {gap:?}, below the backoff floor {floor} ms: {gaps:?}"
        );
    }
    println!("429 x3 without Retry-After: gaps {gaps:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unauthorized_and_not_found_are_one_request_each() {
    // 400, 403 and 422 are in retries.rs; these are 401 and 404, on a per-item endpoint.
    let env = Env::start(fast_config(vec![workspace("r4xx", "sim_us", Region::Us)])).await;
    env.sql(&newsletters_ddl("")).await.unwrap();
    for status in [401u16, 404] {
        env.sim.reset_stats();
        env.sim.push_script(
            ScriptedResponse::new(status)
                .for_operation("getNewsletterMetrics")
                .with_body(format!(
                    r#"{{"errors":[{{"detail":"status {status} detail","status":"{status}"}}]}}"#
                )),
        );
        let err = env
            .sql("SELECT * FROM n WHERE newsletter_id = 3")
            .await
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("GET /v1/newsletters/3/metrics")
                && err.contains(&format!("HTTP {status}: status {status} detail")),
            "{err}"
        );
        assert_eq!(env.requests("getNewsletterMetrics"), 1, "{status}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_broken_body_is_fetched_again_and_rows_equal_the_clean_run() {
    let env = Env::start(fast_config(vec![workspace("bodies", "sim_us", Region::Us)])).await;
    env.sql(&newsletters_ddl("")).await.unwrap();
    let clean = pretty(&env.sql(ALL_ROWS).await.unwrap());
    let clean_requests = env.sim.stats().requests;
    let truncated_json = r#"{"newsletters":[{"id":1,"name":"Wel"#;
    let cases = [
        ("reset mid-body", ScriptedResponse::fault(ScriptKind::Reset)),
        (
            "short of Content-Length",
            ScriptedResponse::fault(ScriptKind::Truncate),
        ),
        (
            "HTML with 200",
            ScriptedResponse::fault(ScriptKind::Malformed),
        ),
        (
            "truncated JSON with 200",
            ScriptedResponse::new(200).with_body(truncated_json),
        ),
    ];
    for operation in [
        "listNewsletters",
        "getNewsletterMetrics",
        "getNewsletterLinks",
    ] {
        for (what, script) in &cases {
            env.sim.reset_stats();
            env.sim.push_script(script.clone().for_operation(operation));
            let rows = pretty(
                &env.sql(ALL_ROWS)
                    .await
                    .unwrap_or_else(|e| panic!("{what} on {operation}: {e}")),
            );
            assert_eq!(rows, clean, "{what} on {operation}: rows differ");
            let stats = env.sim.stats();
            assert_eq!(stats.faults_injected, 1, "{what} on {operation}: {stats:?}");
            for (op, n) in &clean_requests {
                let expected = n + u64::from(op == operation);
                assert_eq!(
                    stats.requests.get(op),
                    Some(&expected),
                    "{what} on {operation}: {op} {stats:?}"
                );
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_headers_beyond_the_request_timeout_abort_the_attempt() {
    let env = Env::start(fast_config(vec![workspace("slow", "sim_us", Region::Us)])).await;
    env.sql(&newsletters_ddl(", request_timeout '1s'"))
        .await
        .unwrap();
    let clean = pretty(&env.sql(ALL_ROWS).await.unwrap());
    env.sim.reset_stats();
    // Headers 30 s late: without the 1 s attempt timeout the first answer would be used.
    env.sim.push_script(
        ScriptedResponse::fault(ScriptKind::Delay(Duration::from_secs(30)))
            .for_operation("listNewsletters"),
    );
    let rows = pretty(&env.sql(ALL_ROWS).await.unwrap());
    assert_eq!(rows, clean);
    assert_eq!(env.requests("listNewsletters"), 2, "{:?}", env.sim.stats());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn headers_that_never_come_fail_after_the_configured_attempts() {
    let ws = workspace("slow_all", "sim_us", Region::Us);
    let config = SimConfig {
        faults: FaultConfig {
            slow_headers: Some(Duration::from_secs(30)),
            ..FaultConfig::default()
        },
        ..fast_config(vec![ws])
    };
    let env = Env::start(config).await;
    env.sql(&newsletters_ddl(", request_timeout '1', max_attempts '2'"))
        .await
        .unwrap();
    let err = env
        .sql("SELECT count(*) FROM n")
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("GET /v1/newsletters")
            && err.contains("after 2 attempts")
            && err.contains("timed out"),
        "{err}"
    );
    assert_eq!(env.requests("listNewsletters"), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_attempts_bounds_a_permanent_503() {
    let env = Env::start(fast_config(vec![workspace(
        "attempts",
        "sim_us",
        Region::Us,
    )]))
    .await;
    env.sql(&newsletters_ddl(", max_attempts '3'"))
        .await
        .unwrap();
    for _ in 0..10 {
        env.sim
            .push_script(ScriptedResponse::new(503).for_operation("listNewsletters"));
    }
    let err = env
        .sql("SELECT count(*) FROM n")
        .await
        .unwrap_err()
        .to_string();
    // Endpoint, attempts, elapsed time and last status.
    assert!(
        err.contains("GET /v1/newsletters failed after 3 attempts in ")
            && err.contains("s; last error: HTTP 503"),
        "{err}"
    );
    assert_eq!(env.requests("listNewsletters"), 3);
}

// ---------------------------------------------------------------------------------------------
// Secrets
// ---------------------------------------------------------------------------------------------

/// A `tracing` writer into a shared buffer.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

const CANARY: &str = "canary-5e1f0a9c7b3d";

/// Every table of the canary workspace, scanned and explained under trace logging, with the
/// simulator echoing the request headers (the bearer key) back in error bodies: the canary
/// appears in no log line, no EXPLAIN form, no Debug output of plans, providers or errors.
// One thread: the test's log subscriber sees the client, the simulator and every spawned task.
#[tokio::test(flavor = "current_thread")]
async fn a_canary_key_never_reaches_logs_plans_or_errors() {
    let logs = Captured::default();
    let _ = tracing_log::LogTracer::init(); // `log` records (reqwest) into tracing
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer({
            let logs = logs.clone();
            move || logs.clone()
        })
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    // While one subscriber is registered, tracing-core decides whether a callsite is enabled
    // from the subscriber of the thread that reaches it first: a concurrent test (no subscriber)
    // would switch the client's events off for this one. A second registered subscriber makes
    // every callsite ask all of them.
    let _second = tracing::Dispatch::new(
        tracing_subscriber::fmt()
            .with_max_level(tracing::Level::ERROR)
            .with_writer(std::io::sink)
            .finish(),
    );
    tracing::callsite::rebuild_interest_cache();

    let ws = WorkspaceSpec {
        api_key: CANARY.into(),
        customers: 300,
        ..workspace("canary", "sim_us", Region::Us)
    };
    let config = SimConfig {
        exports: ExportConfig {
            ready_after: Duration::ZERO,
            ..ExportConfig::default()
        },
        ..fast_config(vec![ws])
    };
    let env = Env::start(config).await;
    let mut seen: Vec<(String, String)> = Vec::new();
    for report in Report::ALL {
        env.sql(&format!(
            "CREATE EXTERNAL TABLE {report} STORED AS CUSTOMERIO LOCATION '{report}' \
             OPTIONS (key 'sim_us', rate_limit '500')"
        ))
        .await
        .unwrap();
    }
    let runnable = [
        "campaigns",
        "newsletters",
        "customers",
        "segments",
        "customers_export",
    ];
    for report in Report::ALL {
        let select = format!("SELECT * FROM {report}");
        let mut forms = vec![
            format!("EXPLAIN {select}"),
            format!("EXPLAIN VERBOSE {select}"),
            format!("EXPLAIN FORMAT TREE {select}"),
            format!("EXPLAIN FORMAT INDENT {select}"),
            format!("EXPLAIN FORMAT PGJSON {select}"),
            format!("EXPLAIN FORMAT GRAPHVIZ {select}"),
        ];
        if runnable.contains(&report.as_str()) {
            forms.push(format!("EXPLAIN ANALYZE {select}"));
            forms.push(format!("EXPLAIN ANALYZE VERBOSE {select}"));
            forms.push(select.clone());
        }
        for q in forms {
            let text = pretty(&env.sql(&q).await.unwrap_or_else(|e| panic!("{q}: {e}")));
            seen.push((q.clone(), text));
        }
        let df = env.ctx.sql(&select).await.unwrap();
        let logical = df.logical_plan().clone();
        let physical = df.create_physical_plan().await.unwrap();
        let provider = env.ctx.table_provider(report.as_str()).await.unwrap();
        seen.push((
            format!("{report}: logical plan Debug"),
            format!("{logical:?}"),
        ));
        seen.push((
            format!("{report}: physical plan Debug"),
            format!("{physical:?}"),
        ));
        seen.push((
            format!("{report}: physical plan display"),
            displayable(physical.as_ref()).indent(true).to_string(),
        ));
        seen.push((format!("{report}: provider Debug"), format!("{provider:?}")));
    }
    seen.push(("CustomerIo Debug".into(), format!("{:?}", env.cio)));

    // Errors whose bodies carry the key: a 403 (not retried) and a 503 five times (retried,
    // then exhausted), both echoing the request headers.
    for (status, times) in [(403u16, 1), (503, 5)] {
        for _ in 0..times {
            env.sim.push_script(
                ScriptedResponse::new(status)
                    .for_operation("listSegments")
                    .echoing_headers(),
            );
        }
        let err = env.sql("SELECT * FROM segments").await.unwrap_err();
        let (display, debug) = (err.to_string(), format!("{err:?}"));
        assert!(
            display.contains("authorization: Bearer ***"),
            "the simulator did not echo the header, or the client did not scrub it: {display}"
        );
        seen.push((format!("HTTP {status} error Display"), display));
        seen.push((format!("HTTP {status} error Debug"), debug));
    }

    let log_text = logs.text();
    assert!(
        log_text.contains("retrying") && log_text.contains("Bearer ***"),
        "the log capture missed the client's retry events:\n{}",
        &log_text[..log_text.len().min(2000)]
    );
    seen.push(("trace log".into(), log_text));
    for (what, text) in &seen {
        assert!(!text.contains(CANARY), "{what} shows the key:\n{text}");
    }
    let log_lines = seen.last().map_or(0, |(_, t)| t.lines().count());
    println!(
        "canary: {} outputs checked, {log_lines} trace log lines, 0 occurrences",
        seen.len()
    );
}

// ---------------------------------------------------------------------------------------------
// Load
// ---------------------------------------------------------------------------------------------

/// The most requests in any window of `width` starting at a request.
fn max_in_window(times: &[Duration], width: Duration) -> usize {
    let mut sorted = times.to_vec();
    sorted.sort();
    let mut best = 0;
    let mut end = 0;
    for (start, t) in sorted.iter().enumerate() {
        while end < sorted.len() && sorted[end] < *t + width {
            end += 1;
        }
        best = best.max(end - start);
    }
    best
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_concurrent_queries_share_one_keys_limit() {
    // The simulator enforces Customer.io's 10 requests/second; four tables of one key, queried
    // at once, pace themselves on the key's one timeline.
    let ws = WorkspaceSpec {
        campaigns: 12,
        newsletters: 8,
        customers: 1_500,
        ..workspace("load4", "sim_us", Region::Us)
    };
    let env = Env::start(SimConfig::with_workspaces(vec![ws.clone()])).await;
    env.sim.record_requests();
    for (t, report) in [
        ("c", "campaigns"),
        ("n", "newsletters"),
        ("p", "customers"),
        ("s", "segments"),
    ] {
        env.sql(&format!(
            "CREATE EXTERNAL TABLE {t} STORED AS CUSTOMERIO LOCATION '{report}' \
             OPTIONS (key 'sim_us', concurrency '16')"
        ))
        .await
        .unwrap();
    }
    let queries = [
        ("SELECT count(*) FROM c", (12 * 46) as i64),
        ("SELECT count(*) FROM n", (8 * 46) as i64),
        ("SELECT count(*) FROM p", 1_500),
        ("SELECT count(*) FROM s", i64::from(ws.segments)),
    ];
    let tasks: Vec<_> = queries
        .iter()
        .map(|(q, _)| {
            let ctx = env.ctx.clone();
            let q = q.to_string();
            tokio::spawn(async move { ctx.sql(&q).await?.collect().await })
        })
        .collect();
    for ((q, expected), task) in queries.iter().zip(tasks) {
        let batches = task.await.unwrap().unwrap_or_else(|e| panic!("{q}: {e}"));
        assert_eq!(i64_column(&batches, 0), vec![Some(*expected)], "{q}");
    }
    let times: Vec<Duration> = env
        .sim
        .request_log()
        .into_iter()
        .filter(|r| r.workspace == "sim_us")
        .map(|r| r.at)
        .collect();
    let stats = env.sim.stats();
    let total = times.len();
    assert!(total >= 35, "too few requests to measure: {total}");
    // The client spaces requests 2% wider than 1/rate, so eleven arrivals span at least 1.02 s
    // less the jitter between them: no one-second window at the server holds more than 10.
    let tight = max_in_window(&times, Duration::from_millis(950));
    let second = max_in_window(&times, Duration::from_secs(1));
    let mut sorted = times.clone();
    sorted.sort();
    let span_of_11 = sorted.windows(11).map(|w| w[10] - w[0]).min();
    println!(
        "load: {total} requests in {:?}, at most {second} in any 1 s window \
         ({tight} in 950 ms; 11 consecutive span at least {span_of_11:?}), {} answered 429",
        times.iter().max().copied().unwrap_or_default()
            - times.iter().min().copied().unwrap_or_default(),
        stats.rate_limited
    );
    // Judged in a 900 ms window: eleven paced arrivals span 1.02 s at the client, and the
    // arrival times at the server carry the scheduling jitter of a loaded 2-core machine (11
    // consecutive spans of 969-997 ms were seen); a client that bursts puts its eleventh request
    // within a few milliseconds of the first, far inside 900 ms.
    let loose = max_in_window(&times, Duration::from_millis(900));
    assert!(
        loose <= 10,
        "{loose} requests within 900 ms ({second} within one second; 11 consecutive span \
         {span_of_11:?}): {stats:?}"
    );
    assert!(
        (stats.rate_limited as f64) < 0.01 * total as f64,
        "{} of {total} answered 429",
        stats.rate_limited
    );
}

/// Ten workspaces in one `UNION ALL`, each at Customer.io's 10 requests/second: every workspace
/// makes the requests it makes alone, none is answered 429, and the union takes about as long as
/// its slowest member (the ratio is printed for `RELIABILITY.md`, not asserted).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_workspaces_in_one_union_each_at_its_own_limit() {
    let specs: Vec<WorkspaceSpec> = (0..10u32)
        .map(|n| WorkspaceSpec {
            newsletters: 4 + 3 * n,
            ..workspace("union10", &format!("ws{n}"), Region::Us)
        })
        .collect();
    let env = Env::start(SimConfig::with_workspaces(specs.clone())).await;
    for ws in &specs {
        env.sql(&format!(
            "CREATE EXTERNAL TABLE {0} STORED AS CUSTOMERIO LOCATION 'newsletters' \
             OPTIONS (key '{0}', period 'weeks', steps '3')",
            ws.name
        ))
        .await
        .unwrap();
    }
    let count = |name: &str| format!("SELECT '{name}' AS ws, count(*) AS n FROM {name}");
    // The slowest alone: 1 list request + 31 metrics requests.
    let slowest = &specs[9].name;
    let t = std::time::Instant::now();
    let alone = env.sql(&count(slowest)).await.unwrap();
    let alone_time = t.elapsed();
    assert_eq!(i64_column(&alone, 1), vec![Some(31 * 4)]);
    env.sim.reset_stats();

    let union = specs
        .iter()
        .map(|ws| count(&ws.name))
        .collect::<Vec<_>>()
        .join(" UNION ALL ");
    let t = std::time::Instant::now();
    let batches = env
        .sql(&format!("SELECT ws, n FROM ({union}) ORDER BY n"))
        .await
        .unwrap();
    let union_time = t.elapsed();
    let expected: Vec<Option<i64>> = specs
        .iter()
        .map(|ws| Some(i64::from(ws.newsletters) * 4))
        .collect();
    assert_eq!(i64_column(&batches, 1), expected);
    let stats = env.sim.stats();
    for ws in &specs {
        assert_eq!(
            stats.by_workspace.get(&ws.name),
            Some(&u64::from(1 + ws.newsletters)),
            "{}: {stats:?}",
            ws.name
        );
    }
    assert_eq!(stats.rate_limited, 0, "{stats:?}");
    println!(
        "ten workspaces: union {union_time:?}, slowest alone {alone_time:?}, ratio {:.2}, \
         {} requests, 0 answered 429",
        union_time.as_secs_f64() / alone_time.as_secs_f64(),
        stats.by_workspace.values().sum::<u64>()
    );
}

/// The retry budget under an outage (the issue's 60 s outage across 10 concurrent scans, scaled:
/// see `RELIABILITY.md`). Every `/v1` request is answered 503 while the outage lasts. A scan's
/// first request is its list request; under the default policy (5 attempts, backoff 125-250,
/// 250-500, 500-1000, 1000-2000 ms: at most 3.75 s between the first and the last attempt):
/// - an outage that outlasts every scan: each scan gives up after exactly 5 requests, spaced by
///   at least the backoff's minimum at the server, so 10 scans make exactly 50, none after;
/// - an outage that every scan has met (each scan, on a workspace of its own, has been answered
///   503 and come back) and that is then ended: every scan succeeds with the clean rows, and the
///   requests are the clean run's plus one per 503 answered, at most 4 per scan.
///
/// Both outages are ended by the test once the simulator has seen what it needs, not by a timer
/// that ten scans on a loaded machine must beat.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_across_ten_scans_stays_within_the_retry_budget() {
    let spaces: Vec<WorkspaceSpec> = (0..10)
        .map(|i| workspace("outage", &format!("ws{i}"), Region::Us))
        .collect();
    let env = Env::start(fast_config(spaces.clone())).await;
    for i in 0..10 {
        env.sql(&format!(
            "CREATE EXTERNAL TABLE n{i} STORED AS CUSTOMERIO LOCATION 'newsletters' \
             OPTIONS (key 'ws{i}', period 'weeks', steps '3', rate_limit '500')"
        ))
        .await
        .unwrap();
    }
    let query =
        |i: usize| format!("SELECT newsletter_id, period_start, sent FROM n{i} ORDER BY 1, 2");
    let mut clean = Vec::new();
    for i in 0..10 {
        clean.push(pretty(&env.sql(&query(i)).await.unwrap()));
    }
    let clean_requests = env.total_requests();
    let spawn_all = || {
        (0..10)
            .map(|i| {
                let ctx = env.ctx.clone();
                let q = query(i);
                tokio::spawn(async move { ctx.sql(&q).await?.collect().await })
            })
            .collect::<Vec<_>>()
    };
    let arrivals_of = |ws: &str| -> Vec<Duration> {
        env.sim
            .request_log()
            .into_iter()
            .filter(|r| r.workspace == ws)
            .map(|r| r.at)
            .collect()
    };
    let end_outage = || env.sim.start_outage(Duration::ZERO);

    // An outage that outlasts every scan: each fails after exactly 5 attempts.
    env.sim.reset_stats();
    env.sim.record_requests();
    env.sim.start_outage(Duration::from_secs(120));
    for task in spawn_all() {
        let err = task
            .await
            .unwrap()
            .expect_err("a scan outlived the outage")
            .to_string();
        assert!(
            err.contains("GET /v1/newsletters failed after 5 attempts") && err.contains("HTTP 503"),
            "{err}"
        );
    }
    let stats = env.sim.stats();
    assert_eq!(
        stats.requests.get("listNewsletters"),
        Some(&50),
        "{stats:?}"
    );
    assert_eq!(env.total_requests(), 50, "{stats:?}");
    // Spaced by the backoff at the server (a client that bursts its retries fails here).
    for ws in &spaces {
        let at = arrivals_of(&ws.name);
        assert_eq!(at.len(), 5, "{}: {at:?}", ws.name);
        for (k, pair) in at.windows(2).enumerate() {
            let least = Duration::from_millis(125 << k);
            assert!(
                pair[1] - pair[0] >= least,
                "{}: attempt {} came {:?} after the one before, under the backoff's {least:?}: {at:?}",
                ws.name,
                k + 2,
                pair[1] - pair[0]
            );
        }
    }
    // Nothing is retried after the scans gave up (the outage is still on).
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(env.total_requests(), 50, "{:?}", env.sim.stats());
    end_outage();

    // An outage every scan has met and come back from, then ended: every scan succeeds, each 503
    // costs exactly one request.
    env.sim.reset_stats();
    env.sim.record_requests();
    env.sim.start_outage(Duration::from_secs(120));
    let tasks = spawn_all();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        // Two arrivals of a workspace: its first request met the outage and was retried.
        let met: Vec<usize> = spaces
            .iter()
            .map(|ws| arrivals_of(&ws.name).len())
            .collect();
        if met.iter().all(|n| *n >= 2) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline && !tasks.iter().all(|t| t.is_finished()),
            "not every scan met the outage and came back: arrivals per workspace {met:?}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    end_outage();
    for (i, task) in tasks.into_iter().enumerate() {
        let rows = pretty(
            &task
                .await
                .unwrap()
                .unwrap_or_else(|e| panic!("scan {i}: {e}")),
        );
        assert_eq!(rows, clean[i], "scan {i}");
    }
    let stats = env.sim.stats();
    let failed = stats.statuses.get("503").copied().unwrap_or(0);
    assert!(failed >= 10, "the outage answered no scan: {stats:?}");
    assert!(failed <= 40, "more than 4 retries per scan: {stats:?}");
    assert_eq!(env.total_requests(), clean_requests + failed, "{stats:?}");
    println!(
        "outage: outlasting -> 50 requests (10 scans x 5 attempts); met then ended -> {} requests = {clean_requests} clean + {failed} answered 503",
        env.total_requests()
    );
}

/// A body that stalls midway (headers, half the body, then nothing): the attempt is aborted
/// by `request_timeout`, the page fetched again, and the rows equal the clean run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_that_stalls_midway_is_aborted_by_the_request_timeout() {
    let env = Env::start(fast_config(vec![workspace("stall", "sim_us", Region::Us)])).await;
    env.sql(&newsletters_ddl(", request_timeout '1s'"))
        .await
        .unwrap();
    let clean = pretty(&env.sql(ALL_ROWS).await.unwrap());
    for operation in ["listNewsletters", "getNewsletterMetrics"] {
        env.sim.reset_stats();
        env.sim.record_requests();
        env.sim
            .push_script(ScriptedResponse::fault(ScriptKind::Stall).for_operation(operation));
        let rows = pretty(&env.sql(ALL_ROWS).await.unwrap());
        assert_eq!(rows, clean, "{operation}");
        assert_eq!(env.sim.stats().faults_injected, 1, "{operation}");
        let at = arrivals(&env, operation);
        let clean_count = if operation == "listNewsletters" { 1 } else { 8 };
        assert_eq!(at.len(), clean_count + 1, "{operation}: {at:?}");
        if operation == "listNewsletters" {
            // The retry came after the 1 s timeout (plus backoff), not after the hour-long stall.
            let gap = at[1] - at[0];
            assert!(gap >= Duration::from_secs(1), "{gap:?}");
            assert!(gap < Duration::from_secs(30), "{gap:?}");
        }
    }
}

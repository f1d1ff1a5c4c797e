//! Property tests (issue 5): pagination over random page layouts served by the simulator, the
//! time-window options, and period bucket math.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use customerio_sim::{Region, ScriptedResponse, WorkspaceSpec};
use datafusion_customerio::api::period::{EASTERN, Period};
use datafusion_customerio::client::models::NewsletterPage;
use datafusion_customerio::client::pagination::{PageRequest, paginate};
use datafusion_customerio::client::{Client, ClientConfig, RequestStats, RetryPolicy};
use datafusion_customerio::options::{ReportSettings, TimeSpec, check_window};
use datafusion_customerio::{Error, Report, Secret, TableOptions};
use futures::StreamExt;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde_json::json;

use crate::common::*;

/// How the last page says it is the last.
#[derive(Debug, Clone, Copy)]
enum End {
    Empty,
    Null,
    Missing,
}

/// Pages of 0-5 items; optionally page `j` (j >= 1) repeats the cursor of an earlier page.
fn layouts() -> impl Strategy<Value = (Vec<usize>, End, Option<(usize, usize)>)> {
    (
        prop::collection::vec(0usize..6, 1..8),
        prop_oneof![Just(End::Empty), Just(End::Null), Just(End::Missing)],
        any::<Option<(prop::sample::Index, prop::sample::Index)>>(),
    )
        .prop_map(|(pages, end, repeat)| {
            // A repeat needs a page with an earlier cursor: page j in 1..m-1 repeats cursor r < j.
            let m = pages.len();
            let repeat = repeat.filter(|_| m >= 3).map(|(a, b)| {
                let j = 1 + a.index(m - 2);
                (j, b.index(j))
            });
            (pages, end, repeat)
        })
}

#[test]
fn pagination_reads_every_item_once_and_stops_at_a_repeated_cursor() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let ws = workspace("prop_pages", "sim_us", Region::Us);
    let env = rt.block_on(Env::start(fast_config(vec![ws.clone()])));
    let client = Client::new(ClientConfig {
        base_url: env.sim.us_url(),
        api_key: Secret::new(ws.api_key.clone()),
        rate_limit: 1000.0,
        retry: RetryPolicy::default(),
    });
    let mut runner = TestRunner::new(Config::with_cases(64));
    runner
        .run(&layouts(), |(pages, end, repeat)| {
            env.sim.reset_stats();
            let cursor = |i: usize| format!("c{i}-{}", pages.len());
            let mut next_id = 1i64;
            let mut expected = Vec::new();
            let served = repeat.map_or(pages.len(), |(j, _)| j + 1);
            for (i, n) in pages.iter().take(served).enumerate() {
                let items: Vec<_> = (0..*n)
                    .map(|_| {
                        next_id += 1;
                        json!({"id": next_id, "name": format!("n{next_id}")})
                    })
                    .collect();
                let mut body = json!({ "newsletters": items });
                match repeat {
                    Some((j, r)) if j == i => body["next"] = json!(cursor(r)),
                    _ if i + 1 < pages.len() => body["next"] = json!(cursor(i)),
                    _ => match end {
                        End::Empty => body["next"] = json!(""),
                        End::Null => body["next"] = json!(null),
                        End::Missing => {}
                    },
                }
                if repeat.is_none_or(|(j, _)| i < j) {
                    expected.extend(next_id - *n as i64 + 1..=next_id);
                }
                env.sim.push_script(
                    ScriptedResponse::new(200)
                        .for_operation("listNewsletters")
                        .with_body(body.to_string()),
                );
            }
            let request = PageRequest {
                method: reqwest::Method::GET,
                path: "/v1/newsletters".into(),
                query: vec![("limit", "100".into())],
                body: None,
            };
            let results: Vec<_> = rt.block_on(
                paginate::<NewsletterPage>(client.clone(), request, RequestStats::default())
                    .collect(),
            );
            let mut ids = Vec::new();
            let mut error = None;
            for r in results {
                match r {
                    Ok(page) => ids.extend(page.into_iter().map(|n| n.id)),
                    Err(e) => error = Some(e),
                }
            }
            prop_assert_eq!(&ids, &expected, "every item once, in order");
            prop_assert_eq!(env.requests("listNewsletters"), served as u64);
            prop_assert_eq!(env.sim.stats().faults_injected, served as u64);
            match (repeat, error) {
                (None, None) => {}
                (Some((_, r)), Some(Error::RepeatedCursor { cursor: c, .. })) => {
                    prop_assert_eq!(c, cursor(r));
                }
                (r, e) => prop_assert!(false, "repeat {:?} but {:?}", r, e),
            }
            Ok(())
        })
        .unwrap();
}

/// Relative and absolute window bounds of any size: CREATE either accepts the window or refuses
/// it with an option error; it never panics, and an accepted window is ordered and at most
/// 12 months long.
#[test]
fn time_windows_never_panic_and_accepted_ones_are_valid() {
    let units = prop_oneof![Just("d"), Just("h"), Just("w"), Just("m")];
    let bound = prop_oneof![
        (any::<u64>(), units.clone()).prop_map(|(n, u)| format!("-{n}{u}")),
        (0u64..2_000_000, units).prop_map(|(n, u)| format!("-{n}{u}")),
        any::<i64>().prop_map(|s| s.to_string()),
        (-4_000_000_000i64..8_000_000_000).prop_map(|s| s.to_string()),
        Just("now".to_string()),
        (1900i32..2200, 1u32..13, 1u32..29).prop_map(|(y, m, d)| format!("{y:04}-{m:02}-{d:02}")),
    ];
    let mut runner = TestRunner::new(Config::with_cases(512));
    runner
        .run(&(bound.clone(), bound), |(start, end)| {
            let raw: HashMap<String, String> = [
                ("key".to_string(), "sim_us".to_string()),
                ("start".to_string(), start.clone()),
                ("end".to_string(), end.clone()),
            ]
            .into();
            let now = Utc::now();
            let parsed = std::panic::catch_unwind(|| {
                TableOptions::parse(Report::DeliveriesExport, &raw, now).map(|o| o.settings)
            });
            let parsed = parsed.map_err(|_| {
                TestCaseError::fail(format!("start '{start}', end '{end}' panicked"))
            })?;
            if let Ok(settings) = parsed {
                let ReportSettings::DeliveriesExport(export) = settings else {
                    return Err(TestCaseError::fail(format!("{settings:?}")));
                };
                let s = export.start.map(|t| t.resolve(now));
                let e = export.end.map_or(now, |t| t.resolve(now));
                if let Some(s) = s {
                    prop_assert!(s < e, "{} {}", start, end);
                    prop_assert!(e - s <= chrono::Duration::days(366), "{} {}", start, end);
                }
            }
            Ok(())
        })
        .unwrap();
}

/// The last instant a window starting at `a` may end: `a` plus 12 calendar months in UTC, the day
/// of month cut to the length of the target month (29 February plus 12 months is 28 February).
/// Written out by hand (leap years included), not with the calendar arithmetic `check_window` uses.
fn twelve_months_after(a: DateTime<Utc>) -> (i32, u32, u32, u32, u32) {
    use chrono::{Datelike, Timelike};
    let year = a.year() + 1;
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    let days_in_month = match a.month() {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    };
    (
        year,
        a.month(),
        a.day().min(days_in_month),
        a.num_seconds_from_midnight(),
        a.nanosecond(),
    )
}

/// `(year, month, day, second of day, nanosecond)` of `t` in UTC, ordered like the instants.
fn fields(t: DateTime<Utc>) -> (i32, u32, u32, u32, u32) {
    use chrono::{Datelike, Timelike};
    (
        t.year(),
        t.month(),
        t.day(),
        t.num_seconds_from_midnight(),
        t.nanosecond(),
    )
}

/// `check_window` refuses exactly the windows that end more than 12 calendar months (in UTC) after
/// they start, for any instants, absolute or relative.
#[test]
fn check_window_allows_twelve_calendar_months() {
    let at = |s: &str| Some(TimeSpec::At(s.parse::<DateTime<Utc>>().unwrap()));
    let now = DateTime::<Utc>::from_timestamp(0, 0).unwrap();
    // Hand-computed: (start, end, allowed).
    let cases = [
        // 12 months holding 29 February 2024: 366 days, allowed.
        ("2023-03-01T00:00:00Z", "2024-03-01T00:00:00Z", true),
        // 366 days without a 29 February: 12 months and a day, refused.
        ("2022-03-01T00:00:00Z", "2023-03-02T00:00:00Z", false),
        // 12 months without a 29 February: 365 days, allowed; a second more is refused.
        ("2022-03-01T00:00:00Z", "2023-03-01T00:00:00Z", true),
        ("2022-03-01T00:00:00Z", "2023-03-01T00:00:01Z", false),
        // From 29 February, 12 months end on 28 February.
        ("2024-02-29T00:00:00Z", "2025-02-28T00:00:00Z", true),
        ("2024-02-29T00:00:00Z", "2025-02-28T00:00:01Z", false),
        ("2024-02-29T00:00:00Z", "2025-03-01T00:00:00Z", false),
        // From 28 February 2023 to 29 February 2024 is 12 months and a day.
        ("2023-02-28T00:00:00Z", "2024-02-28T00:00:00Z", true),
        ("2023-02-28T00:00:00Z", "2024-02-29T00:00:00Z", false),
        // Month ends: 31 March plus 12 months is 31 March.
        ("2025-03-31T12:00:00Z", "2026-03-31T12:00:00Z", true),
        ("2025-03-31T12:00:00Z", "2026-03-31T12:00:01Z", false),
        // Found by the 366-day property: 365 days and a second, across 29 February 2012.
        ("2011-04-12T15:16:26Z", "2012-04-11T15:16:27Z", true),
        ("2011-04-12T15:16:26Z", "2012-04-12T15:16:26Z", true),
        ("2011-04-12T15:16:26Z", "2012-04-12T15:16:27Z", false),
    ];
    for (a, b, allowed) in cases {
        let result = check_window(at(a), at(b), now);
        assert_eq!(result.is_ok(), allowed, "{a}..{b}: {result:?}");
        let oracle = fields(b.parse().unwrap()) <= twelve_months_after(a.parse().unwrap());
        assert_eq!(
            oracle, allowed,
            "the oracle disagrees with the hand case {a}..{b}"
        );
        if let Err(e) = result {
            let msg = e.to_string();
            let (sa, sb) = (
                a.replace('T', " ").replace('Z', " UTC"),
                b.replace('T', " ").replace('Z', " UTC"),
            );
            assert!(
                msg.contains(&sa) && msg.contains(&sb) && msg.contains("12 calendar months"),
                "{msg}"
            );
        }
    }
    let instant = (-2_000_000_000i64..6_000_000_000)
        .prop_map(|s| DateTime::<Utc>::from_timestamp(s, 0).unwrap());
    // Pairs about a year apart, where the edge is.
    let year_apart = (
        -2_000_000_000i64..6_000_000_000,
        362i64 * 86_400..370 * 86_400,
    )
        .prop_map(|(s, d)| {
            (
                DateTime::<Utc>::from_timestamp(s, 0).unwrap(),
                DateTime::<Utc>::from_timestamp(s + d, 0).unwrap(),
            )
        });
    let pairs = prop_oneof![(instant.clone(), instant.clone()), year_apart];
    let mut runner = TestRunner::new(Config::with_cases(2048));
    runner
        .run(&(pairs, instant), |((a, b), now)| {
            let ok = check_window(Some(TimeSpec::At(a)), Some(TimeSpec::At(b)), now).is_ok();
            prop_assert_eq!(
                ok,
                a < b && fields(b) <= twelve_months_after(a),
                "{} {}",
                a,
                b
            );
            let rel = check_window(
                Some(TimeSpec::Relative(a - now)),
                Some(TimeSpec::Relative(b - now)),
                now,
            )
            .is_ok();
            prop_assert_eq!(rel, ok);
            Ok(())
        })
        .unwrap();
}

/// Bucket math for every period, any instant from 1990 to 2090 (DST changes included): `floor`
/// is idempotent and at most `t`, the next bucket starts after `t`, `add` is monotonic and
/// inverts, and `v1_buckets` has `steps + 1` strictly increasing starts ending at `floor(now)`.
/// CREATE checks a window against the table's clock, not the system's (issue 14, item 7): at
/// the suite's fixed "now" a window from 12 calendar months before it, less an hour, up to now
/// is valid; at any instant more than an hour later (the system clock, which is past the fixed
/// "now") it is longer than 12 months and refused. Moving the fixed clock on refuses it too.
#[tokio::test]
async fn create_checks_windows_at_the_injected_clock() {
    use datafusion::prelude::SessionContext;
    use datafusion_customerio::clock::FixedClock;
    use datafusion_customerio::{Credential, Credentials, CustomerIo};

    let clock = std::sync::Arc::new(FixedClock::new(fixed_now()));
    let cio = CustomerIo::with_credentials(Credentials::empty()).with_clock(clock.clone());
    // CREATE makes no request: the URL is never called.
    let credential = Credential::new("clock-key").with_base_url("http://127.0.0.1:9");
    cio.credentials().insert("clock_test", credential);
    let ctx = SessionContext::new();
    cio.register(&ctx);
    let start = fixed_now()
        .checked_sub_months(chrono::Months::new(12))
        .unwrap()
        + chrono::Duration::hours(1);
    let ddl = |name: &str| {
        format!(
            "CREATE EXTERNAL TABLE {name} STORED AS CUSTOMERIO LOCATION 'deliveries_export' \
             OPTIONS (key 'clock_test', start '{}')",
            start.to_rfc3339()
        )
    };
    ctx.sql(&ddl("at_fixed_now"))
        .await
        .expect("valid at the fixed clock's now");
    // Through the application's path (`download`) too.
    let raw: HashMap<String, String> = [
        ("key".to_string(), "clock_test".to_string()),
        ("start".to_string(), start.to_rfc3339()),
    ]
    .into();
    cio.parse_options(Report::DeliveriesExport, &raw)
        .expect("valid at the fixed clock's now");

    clock.advance(chrono::Duration::hours(2));
    let err = ctx
        .sql(&ddl("two_hours_later"))
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("longer than 12 calendar months"), "{err}");
}

#[test]
fn period_bucket_math() {
    let period = prop::sample::select(Period::ALL.to_vec());
    let t = (631_152_000i64..3_786_912_000)
        .prop_map(|s| DateTime::<Utc>::from_timestamp(s, 0).unwrap());
    let mut runner = TestRunner::new(Config::with_cases(1024));
    runner
        .run(&(period, t, 0u32..=45, -60i64..60), |(p, t, steps, n)| {
            let f = p.floor(t, EASTERN);
            prop_assert!(f <= t, "{p} floor({t}) = {f}");
            prop_assert_eq!(p.floor(f, EASTERN), f, "{} floor is idempotent", p);
            let next = p.add(f, 1, EASTERN);
            prop_assert!(next > t, "{p}: next bucket {next} not after {t}");
            prop_assert_eq!(p.floor(next, EASTERN), next, "{} next is a start", p);
            let moved = p.add(f, n, EASTERN);
            prop_assert_eq!(p.floor(moved, EASTERN), moved);
            prop_assert_eq!(p.add(moved, -n, EASTERN), f, "{} add({}) inverts", p, n);
            prop_assert_eq!(moved.cmp(&f), n.cmp(&0), "{} add is monotonic", p);
            let steps = steps.min(p.max_steps());
            let b = p.v1_buckets(steps, t);
            prop_assert_eq!(b.len(), steps as usize + 1);
            prop_assert_eq!(*b.last().unwrap(), f);
            prop_assert!(b.windows(2).all(|w| w[0] < w[1]), "{} {:?}", p, b);
            prop_assert!(
                b.windows(2).all(|w| p.add(w[0], 1, EASTERN) == w[1]),
                "{} buckets are consecutive",
                p
            );
            Ok(())
        })
        .unwrap();
}

// ---------------------------------------------------------------------------------------------
// The daily ingestion's commit protocol
// ---------------------------------------------------------------------------------------------

/// One step of a commit-protocol history.
#[derive(Debug, Clone)]
enum Op {
    /// A run of date `d`.
    Run(usize),
    /// A run of date `d` killed at its `k`-th fail point (1-based, wrapped to the run's steps).
    Kill(usize, usize),
    /// Two runs of date `d` at once.
    Race(usize),
    /// The clock moves past the lease (60 s).
    Expire,
}

fn ops() -> impl Strategy<Value = Vec<Op>> {
    let op = prop_oneof![
        3 => (0usize..2).prop_map(Op::Run),
        4 => (0usize..2, 1usize..64).prop_map(|(d, k)| Op::Kill(d, k)),
        2 => (0usize..2).prop_map(Op::Race),
        2 => Just(Op::Expire),
    ];
    prop::collection::vec(op, 1..7)
}

/// Two outputs: a single file and a partitioned folder.
fn commit_script(host: &str, key: &str) -> String {
    format!(
        "CREATE EXTERNAL TABLE c STORED AS CUSTOMERIO LOCATION 'campaigns'
           OPTIONS (key '{key}', period 'weeks', steps '1', rate_limit '1000');
         COPY (SELECT campaign_id, period_start, sent FROM c ORDER BY 1, 2)
           TO 'memory://{host}/lake/c/date=${{run_date}}/c.parquet' STORED AS PARQUET;
         COPY (SELECT campaign_id % 3 AS b, campaign_id, sent FROM c)
           TO 'memory://{host}/lake/parts/date=${{run_date}}/' STORED AS PARQUET PARTITIONED BY (b);
        "
    )
}

/// Every object of the memory store `host`: path, size and e-tag (a rewrite changes it).
async fn objects(host: &str) -> std::collections::BTreeMap<String, (u64, Option<String>)> {
    use futures::TryStreamExt;
    use object_store::ObjectStore;
    cio_sql::stores::memory_store(host)
        .list(None)
        .map_ok(|m| (m.location.to_string(), (m.size, m.e_tag)))
        .try_collect()
        .await
        .unwrap()
}

/// A committed date is whole: every listed file exists once with its size and the rows the
/// manifest says; the outputs' folders for the date hold nothing but the listed files.
async fn assert_committed(host: &str, m: &cio_sql::ingest::Manifest, rows: &[u64]) {
    use datafusion::prelude::{ParquetReadOptions, SessionContext};
    let ctx = SessionContext::new();
    let date = m.run_date.format("%Y-%m-%d").to_string();
    let all = objects(host).await;
    let mut listed = std::collections::BTreeSet::new();
    assert_eq!(m.outputs.len(), rows.len());
    for (o, want) in m.outputs.iter().zip(rows) {
        assert_eq!(o.rows, *want, "{o:?}");
        let mut got = 0u64;
        for f in &o.files {
            let loc = cio_sql::stores::location(&ctx, &f.url).unwrap();
            let path = loc.path.to_string();
            assert!(listed.insert(path.clone()), "{} listed twice", f.url);
            assert_eq!(all.get(&path).map(|x| x.0), Some(f.bytes), "{}", f.url);
            got += ctx
                .read_parquet(f.url.as_str(), ParquetReadOptions::default())
                .await
                .unwrap()
                .count()
                .await
                .unwrap() as u64;
        }
        assert_eq!(got, o.rows, "rows in the files of {}", o.target);
    }
    let present: std::collections::BTreeSet<String> = all
        .keys()
        .filter(|p| p.contains(&format!("date={date}/")))
        .cloned()
        .collect();
    assert_eq!(
        present, listed,
        "{date}: the outputs hold exactly the manifest's files"
    );
}

/// Random histories of runs, runs killed at any step of the protocol, two runs at once and
/// leases running out, over two dates: at most one manifest per date and it never changes once
/// written; a committed date's files exist with the listed sizes and rows, none twice, nothing
/// else in its folders; a run of a committed date, and a run refused because a live lease
/// holds the date, write nothing.
#[test]
fn commit_protocol_under_kills_reruns_and_races() {
    use cio_sql::ingest::{self, FailPoints, IngestJob, RunError, RunOutcome};
    use datafusion_customerio::clock::Clock;

    use crate::cli_support::{Log, log_text, run_env};
    use crate::schedule::{manifest, state_dir};

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let ws = WorkspaceSpec {
        campaigns: 5,
        newsletters: 0,
        ..workspace("prop_commit", "sim_us", Region::Us)
    };
    let env = rt.block_on(Env::start(fast_config(vec![ws.clone()])));
    let log = Log::default();
    let dates = [
        chrono::NaiveDate::from_ymd_opt(2026, 3, 1).unwrap(),
        chrono::NaiveDate::from_ymd_opt(2026, 3, 2).unwrap(),
    ];
    let job_for = |host: &str| {
        let mut job = IngestJob::new("daily.sql", commit_script(host, &ws.name));
        job.lease = std::time::Duration::from_secs(60);
        job
    };
    // A clean run: the fail points of a whole run and the rows of each output.
    let (steps, rows) = rt.block_on(async {
        let reference = run_env(&env, &log, FailPoints::none());
        let m = match ingest::run(
            &job_for("prop-commit-ref"),
            &reference,
            dates[0],
            env.clock.now(),
        )
        .await
        {
            Ok(RunOutcome::Committed(m)) => m,
            other => panic!("{other:?}"),
        };
        let rows: Vec<u64> = m.outputs.iter().map(|o| o.rows).collect();
        assert_committed("prop-commit-ref", &m, &rows).await;
        (reference.faults.passed(), rows)
    });
    assert!(steps >= 8, "only {steps} fail points");
    assert_eq!(rows, [10, 10], "5 campaigns, 2 weekly buckets each");

    const CASES: u32 = 48;
    let case = std::sync::atomic::AtomicUsize::new(0);
    let counts = std::sync::Mutex::new((0usize, 0usize));
    let mut runner = TestRunner::new(Config {
        failure_persistence: None,
        ..Config::with_cases(CASES)
    });
    runner
        .run(&ops(), |history| {
            let host = format!(
                "prop-commit-{}",
                case.fetch_add(1, std::sync::atomic::Ordering::SeqCst)
            );
            let job = job_for(&host);
            rt.block_on(async {
                // The model: each date's manifest once written, and until when a killed run's
                // lease holds it.
                let mut committed: [Option<ingest::Manifest>; 2] = [None, None];
                let mut held_until: [Option<chrono::DateTime<Utc>>; 2] = [None, None];
                let live =
                    |h: &Option<chrono::DateTime<Utc>>| h.is_some_and(|t| env.clock.now() < t);
                for op in &history {
                    let before = objects(&host).await;
                    match *op {
                        Op::Expire => env.clock.advance(chrono::Duration::seconds(61)),
                        Op::Run(d) => {
                            let r = ingest::run(
                                &job,
                                &run_env(&env, &log, FailPoints::none()),
                                dates[d],
                                env.clock.now(),
                            )
                            .await;
                            counts.lock().unwrap().0 += 1;
                            match (&committed[d], r) {
                                (Some(m), Ok(RunOutcome::AlreadyCommitted(got))) => {
                                    assert_eq!(&got, m);
                                    // Nothing written: outputs and manifest untouched; only a dead
                                    // run's leftovers in the state folder may go.
                                    let after = objects(&host).await;
                                    for (p, v) in &after {
                                        assert_eq!(before.get(p), Some(v), "{op:?} wrote {p}");
                                    }
                                    for p in before.keys().filter(|p| !after.contains_key(*p)) {
                                        assert!(
                                            p.starts_with(&state_dir(dates[d]))
                                                && !p.ends_with(ingest::MANIFEST),
                                            "{op:?} removed {p}"
                                        );
                                    }
                                }
                                (None, Err(RunError::Busy(msg))) if live(&held_until[d]) => {
                                    assert!(msg.contains("is held by run"), "{msg}");
                                    assert_eq!(
                                        objects(&host).await,
                                        before,
                                        "{op:?} was refused but wrote"
                                    );
                                }
                                (None, Ok(RunOutcome::Committed(m))) if !live(&held_until[d]) => {
                                    committed[d] = Some(m);
                                }
                                (c, r) => panic!(
                                    "{op:?} (committed: {}, held: {}): {r:?}\n{}",
                                    c.is_some(),
                                    live(&held_until[d]),
                                    log_text(&log)
                                ),
                            }
                        }
                        Op::Kill(d, k) => {
                            let k = 1 + (k - 1) % steps;
                            let killed = run_env(&env, &log, FailPoints::error_at(k));
                            let r = ingest::run(&job, &killed, dates[d], env.clock.now()).await;
                            counts.lock().unwrap().1 += 1;
                            match (&committed[d], r) {
                                (Some(m), Ok(RunOutcome::AlreadyCommitted(got))) => {
                                    assert_eq!(&got, m)
                                }
                                (None, Err(RunError::Busy(_))) if live(&held_until[d]) => {
                                    assert_eq!(
                                        objects(&host).await,
                                        before,
                                        "{op:?} was refused but wrote"
                                    );
                                }
                                (None, Err(RunError::Killed(_))) if !live(&held_until[d]) => {
                                    // Killed with its lease held: nobody else runs the date until
                                    // it runs out. Killed at the commit or after: committed.
                                    held_until[d] =
                                        Some(env.clock.now() + chrono::Duration::seconds(60));
                                    if let Some(m) = manifest(&host, dates[d]).await {
                                        assert!(k >= steps - 1, "committed at step {k} of {steps}");
                                        committed[d] = Some(m);
                                    }
                                }
                                (c, r) => panic!(
                                    "{op:?} (committed: {}, held: {}): {r:?}",
                                    c.is_some(),
                                    live(&held_until[d])
                                ),
                            }
                        }
                        Op::Race(d) => {
                            let (a, b) = (
                                run_env(&env, &log, FailPoints::none()),
                                run_env(&env, &log, FailPoints::none()),
                            );
                            let (ra, rb) = tokio::join!(
                                ingest::run(&job, &a, dates[d], env.clock.now()),
                                ingest::run(&job, &b, dates[d], env.clock.now())
                            );
                            counts.lock().unwrap().0 += 2;
                            let results = [ra, rb];
                            let mut new = results.iter().filter_map(|r| match r {
                                Ok(RunOutcome::Committed(m)) => Some(m.clone()),
                                _ => None,
                            });
                            let first = new.next();
                            assert!(
                                new.next().is_none(),
                                "two runs committed {op:?}: {results:?}"
                            );
                            match (&committed[d], first) {
                                (Some(_), Some(_)) => {
                                    panic!("{op:?} committed a committed date: {results:?}")
                                }
                                (None, Some(m)) => {
                                    assert!(
                                        !live(&held_until[d]),
                                        "{op:?} committed under a live lease"
                                    );
                                    committed[d] = Some(m);
                                }
                                (None, None) => assert!(
                                    live(&held_until[d]),
                                    "{op:?}: nobody committed: {results:?}"
                                ),
                                (Some(_), None) => {}
                            }
                            for r in &results {
                                match r {
                                    Ok(RunOutcome::AlreadyCommitted(m)) => {
                                        assert_eq!(Some(m), committed[d].as_ref())
                                    }
                                    Ok(RunOutcome::Committed(_)) | Err(RunError::Busy(_)) => {}
                                    other => panic!("{op:?}: {other:?}"),
                                }
                            }
                        }
                    }
                    // After every step, every date: the manifest is the one first written (or
                    // none), and a committed date is whole.
                    for (i, d) in dates.iter().enumerate() {
                        let found = manifest(&host, *d).await;
                        assert_eq!(found.as_ref(), committed[i].as_ref(), "after {op:?}, {d}");
                        if let Some(m) = &found {
                            assert_committed(&host, m, &rows).await;
                        }
                    }
                }
            });
            Ok(())
        })
        .unwrap();
    let (runs, kills) = *counts.lock().unwrap();
    println!(
        "commit protocol: {CASES} histories, {runs} runs, {kills} killed runs, {steps} fail points per run"
    );
}

//! Property tests (issue 5): pagination over random page layouts served by the simulator, the
//! time-window options, and period bucket math.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use datafusion_customerio::client::models::NewsletterPage;
use datafusion_customerio::client::pagination::{PageRequest, paginate};
use datafusion_customerio::client::{Client, ClientConfig, RequestStats, RetryPolicy};
use datafusion_customerio::options::{TimeSpec, check_window};
use datafusion_customerio::period::{EASTERN, Period};
use datafusion_customerio::simulator::{Region, ScriptedResponse};
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
            let parsed = std::panic::catch_unwind(|| {
                TableOptions::parse(Report::DeliveriesExport, &raw).map(|o| o.export.clone())
            });
            let parsed = parsed.map_err(|_| {
                TestCaseError::fail(format!("start '{start}', end '{end}' panicked"))
            })?;
            if let Ok(export) = parsed {
                let now = Utc::now();
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

/// `check_window` agrees with the resolved bounds for any instants.
#[test]
fn check_window_matches_its_definition() {
    let instant = (-2_000_000_000i64..6_000_000_000)
        .prop_map(|s| DateTime::<Utc>::from_timestamp(s, 0).unwrap());
    let mut runner = TestRunner::new(Config::with_cases(512));
    runner
        .run(
            &(instant.clone(), instant.clone(), instant),
            |(a, b, now)| {
                let ok = check_window(Some(TimeSpec::At(a)), Some(TimeSpec::At(b)), now).is_ok();
                prop_assert_eq!(ok, a < b && b - a <= chrono::Duration::days(365));
                let rel = check_window(
                    Some(TimeSpec::Relative(a - now)),
                    Some(TimeSpec::Relative(b - now)),
                    now,
                )
                .is_ok();
                prop_assert_eq!(rel, ok);
                Ok(())
            },
        )
        .unwrap();
}

/// Bucket math for every period, any instant from 1990 to 2090 (DST changes included): `floor`
/// is idempotent and at most `t`, the next bucket starts after `t`, `add` is monotonic and
/// inverts, and `v1_buckets` has `steps + 1` strictly increasing starts ending at `floor(now)`.
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

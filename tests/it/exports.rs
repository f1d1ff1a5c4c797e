//! The export tables against the simulator: rows equal what the simulator's own API gives, and
//! every way an export can go wrong ends in the right rows or a clear error.

use std::collections::BTreeMap;
use std::time::Duration;

use customerio_sim::{ExportConfig, Region, SimConfig, WorkspaceSpec};
use serde_json::{Value, json};

use crate::common::*;

fn config(ws: &WorkspaceSpec, exports: ExportConfig) -> SimConfig {
    SimConfig {
        exports,
        ..fast_config(vec![ws.clone()])
    }
}

fn ready() -> ExportConfig {
    ExportConfig {
        ready_after: Duration::ZERO,
        ..ExportConfig::default()
    }
}

/// Every person of `segment` by the search endpoint, as a sorted list of cio_ids.
async fn search_segment(env: &Env, ws: &WorkspaceSpec, segment: i64) -> Vec<String> {
    let mut out = Vec::new();
    let mut start = String::new();
    loop {
        let url = format!(
            "{}/v1/customers?limit=1000&start={start}",
            env.sim.url_for(ws.region)
        );
        let page: Value = reqwest::Client::new()
            .post(&url)
            .bearer_auth(&ws.api_key)
            .json(&json!({"filter": {"segment": {"id": segment}}}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        out.extend(
            page["identifiers"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| p["cio_id"].as_str().unwrap().to_string()),
        );
        match page["next"].as_str() {
            Some(n) if !n.is_empty() => start = n.to_string(),
            _ => break,
        }
    }
    out.sort();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multi_segment_export_equals_the_segments_members() {
    let ws = WorkspaceSpec {
        customers: 3_000,
        ..workspace("exp_seg", "sim_us", Region::Us)
    };
    let env = Env::start(config(&ws, ready())).await;
    env.sql(
        r#"CREATE EXTERNAL TABLE e STORED AS CUSTOMERIO LOCATION 'customers_export'
           OPTIONS (key 'sim_us', segments '["Email Activity - Sent", "Email Activity - Opens"]',
                    attributes 'plan,country', rate_limit '500')"#,
    )
    .await
    .unwrap();
    let batches = env
        .sql("SELECT segment_id, segment_name, cio_id, plan, country, email FROM e ORDER BY segment_id, cio_id")
        .await
        .unwrap();
    let segments = env.api(&ws, "/v1/segments").await;
    let id_of = |name: &str| {
        segments["segments"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == name)
            .unwrap()["id"]
            .as_i64()
            .unwrap()
    };
    let text = pretty(&batches);
    let seg_col = i64_column(&batches, 0);
    let mut by_segment: BTreeMap<i64, usize> = BTreeMap::new();
    seg_col
        .iter()
        .for_each(|s| *by_segment.entry(s.unwrap()).or_default() += 1);
    for name in ["Email Activity - Sent", "Email Activity - Opens"] {
        let members = search_segment(&env, &ws, id_of(name)).await;
        assert!(
            !members.is_empty(),
            "segment {name} is empty: the test proves nothing"
        );
        assert_eq!(by_segment.get(&id_of(name)), Some(&members.len()), "{name}");
        assert!(text.contains(&members[0]) && text.contains(name), "{name}");
    }
    // Attribute columns hold the person's attributes.
    let one = env
        .sql("SELECT id, plan FROM e WHERE id IS NOT NULL LIMIT 1")
        .await
        .unwrap();
    let line = pretty(&one).lines().nth(3).unwrap().to_string();
    let id = line.split('|').nth(1).unwrap().trim().to_string();
    let plan = line.split('|').nth(2).unwrap().trim().to_string();
    let person = env
        .api(&ws, &format!("/v1/customers/{id}/attributes"))
        .await;
    assert_eq!(
        person["customer"]["attributes"]["plan"].as_str(),
        Some(plan.as_str())
    );
    // Two exports were created, each polled and downloaded.
    assert!(
        env.requests("exportPeopleData") >= 2 * 2,
        "two per query: {:?}",
        env.sim.stats()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_segment_fails_before_any_export_listing_the_names() {
    let ws = workspace("exp_unknown", "sim_us", Region::Us);
    let env = Env::start(config(&ws, ready())).await;
    env.sql(
        "CREATE EXTERNAL TABLE e STORED AS CUSTOMERIO LOCATION 'customers_export' \
         OPTIONS (key 'sim_us', segments 'Email Activity - Sent, No Such Segment')",
    )
    .await
    .unwrap();
    let err = env
        .sql("SELECT count(*) FROM e")
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("No Such Segment") && err.contains("'Email Activity - Opens'"),
        "{err}"
    );
    assert_eq!(env.requests("exportPeopleData"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deliveries_without_selector_cover_every_campaign_and_newsletter() {
    let ws = WorkspaceSpec {
        campaigns: 4,
        newsletters: 3,
        ..workspace("exp_deliv", "sim_us", Region::Us)
    };
    let env = Env::start(config(&ws, ready())).await;
    env.sql(
        "CREATE EXTERNAL TABLE d STORED AS CUSTOMERIO LOCATION 'deliveries_export' \
         OPTIONS (key 'sim_us', start '-14d', rate_limit '500')",
    )
    .await
    .unwrap();
    env.sql(
        "CREATE EXTERNAL TABLE c STORED AS CUSTOMERIO LOCATION 'campaigns' \
         OPTIONS (key 'sim_us', period 'days', steps '20', rate_limit '500')",
    )
    .await
    .unwrap();
    let per_campaign = env
        .sql("SELECT campaign_id, count(*) FROM d WHERE campaign_id IS NOT NULL GROUP BY 1 ORDER BY 1")
        .await
        .unwrap();
    let total = env.sql("SELECT count(*) FROM d").await.unwrap();
    assert!(
        i64_column(&total, 0)[0].unwrap() > 0,
        "no deliveries at all: the test proves nothing"
    );
    // One export per campaign and newsletter, for each of the two queries above.
    assert_eq!(
        env.requests("exportDeliveriesData"),
        2 * (4 + 3),
        "{:?}",
        env.sim.stats()
    );
    // Each campaign's deliveries equal its `created` metric over the same whole days (from the
    // first whole day of the window to the start of today).
    use datafusion_customerio::api::period::{EASTERN, Period};
    let now = fixed_now();
    let first = Period::Days.add(
        Period::Days.floor(now - chrono::Duration::days(14), EASTERN),
        1,
        EASTERN,
    );
    let today = Period::Days.floor(now, EASTERN);
    let (a, b) = (
        first.format("%Y-%m-%dT%H:%M:%SZ"),
        today.format("%Y-%m-%dT%H:%M:%SZ"),
    );
    let metrics = env
        .sql(&format!(
            "SELECT campaign_id, SUM(created) FROM c WHERE period_start >= TIMESTAMP '{a}' \
             AND period_start < TIMESTAMP '{b}' GROUP BY 1 ORDER BY 1"
        ))
        .await
        .unwrap();
    let exported = env
        .sql(&format!(
            "SELECT campaign_id, count(*) FROM d WHERE campaign_id IS NOT NULL \
             AND created >= TIMESTAMP '{a}' AND created < TIMESTAMP '{b}' GROUP BY 1 ORDER BY 1"
        ))
        .await
        .unwrap();
    let m: BTreeMap<i64, i64> = i64_column(&metrics, 0)
        .into_iter()
        .zip(i64_column(&metrics, 1))
        .filter_map(|(a, b)| Some((a?, b?)))
        .filter(|(_, n)| *n > 0)
        .collect();
    let e: BTreeMap<i64, i64> = i64_column(&exported, 0)
        .into_iter()
        .zip(i64_column(&exported, 1))
        .filter_map(|(a, b)| Some((a?, b?)))
        .collect();
    assert_eq!(
        e,
        m,
        "deliveries per campaign vs created metric\n{}",
        pretty(&per_campaign)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn created_filters_narrow_the_export_window() {
    let ws = WorkspaceSpec {
        campaigns: 6,
        newsletters: 0,
        ..workspace("exp_window", "sim_us", Region::Us)
    };
    let env = Env::start(config(&ws, ready())).await;
    env.sql("CREATE EXTERNAL TABLE d STORED AS CUSTOMERIO LOCATION 'deliveries_export' OPTIONS (key 'sim_us', rate_limit '500')")
        .await
        .unwrap();
    let sql = "SELECT count(*) FROM d WHERE created >= TIMESTAMP '2026-11-20T00:00:00Z' AND created < TIMESTAMP '2026-11-22T00:00:00Z'";
    let plan = pretty(&env.sql(&format!("EXPLAIN {sql}")).await.unwrap());
    assert!(
        plan.contains("window=[2026-11-20T00:00:00+00:00, 2026-11-22T00:00:00+00:00]"),
        "{plan}"
    );
    assert!(
        plan.contains("FilterExec"),
        "Inexact: the filter stays above the scan\n{plan}"
    );
    // The filter is Inexact: DataFusion re-applies it above the scan, so the count alone would be
    // right whatever window the connector sent. What was downloaded is judged at the simulator.
    let narrowed = i64_column(&env.sql(sql).await.unwrap(), 0)[0].unwrap();
    let downloaded = export_totals(&env, &ws).await;
    assert_eq!(
        downloaded.len(),
        6,
        "one export per campaign: {downloaded:?}"
    );
    // The same six exports created by hand with the window as epoch seconds (the bounds are
    // inclusive, so a row at exactly 2026-11-22T00:00:00Z may be downloaded and filtered out).
    let (start, end) = (1_795_132_800_i64, 1_795_305_600_i64); // 2026-11-20, 2026-11-22 UTC
    let campaigns = env.api(&ws, "/v1/campaigns").await;
    let mut reference = Vec::new();
    for c in campaigns["campaigns"].as_array().unwrap() {
        let body = json!({"campaign_id": c["id"], "start": start, "end": end});
        let created = post(&env, &ws, "/v1/exports/deliveries", body).await;
        reference.push(created["export"]["id"].as_i64().unwrap());
    }
    let by_hand: BTreeMap<i64, i64> = export_totals(&env, &ws)
        .await
        .into_iter()
        .filter(|(id, _)| reference.contains(id))
        .collect();
    let sum = |m: &BTreeMap<i64, i64>| m.values().sum::<i64>();
    assert_eq!(
        sum(&downloaded),
        sum(&by_hand),
        "rows downloaded by the narrowed query {downloaded:?} vs exports of [{start}, {end}] {by_hand:?}"
    );
    assert!(sum(&downloaded) >= narrowed, "{downloaded:?} vs {narrowed}");
    assert!(
        narrowed > 0,
        "no delivery in the window: the test proves nothing"
    );
    // The whole table downloads more: the window made a difference at the source.
    let all = i64_column(&env.sql("SELECT count(*) FROM d").await.unwrap(), 0)[0].unwrap();
    let everything: BTreeMap<i64, i64> = export_totals(&env, &ws)
        .await
        .into_iter()
        .filter(|(id, _)| !downloaded.contains_key(id) && !by_hand.contains_key(id))
        .collect();
    assert_eq!(everything.len(), 6, "{everything:?}");
    assert_eq!(sum(&everything), all, "{everything:?}");
    assert!(
        all > sum(&downloaded),
        "the window made no difference: {all} rows in all, {downloaded:?} downloaded"
    );
}

/// `{export id: rows in its file}` of every deliveries export of the workspace, as the
/// simulator's `GET /v1/exports` reports it (`total`).
async fn export_totals(env: &Env, ws: &WorkspaceSpec) -> BTreeMap<i64, i64> {
    let list = env.api(ws, "/v1/exports").await;
    list["exports"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["type"] == "deliveries")
        .map(|e| {
            assert_eq!(e["status"], "done", "{e}");
            (e["id"].as_i64().unwrap(), e["total"].as_i64().unwrap())
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_link_is_renewed_once_and_cut_downloads_resume_exactly() {
    let ws = WorkspaceSpec {
        customers: 2_000,
        ..workspace("exp_faults", "sim_us", Region::Us)
    };
    let ddl = "CREATE EXTERNAL TABLE e STORED AS CUSTOMERIO LOCATION 'customers_export' \
               OPTIONS (key 'sim_us', segments 'Email Activity - Clicks', attributes 'plan')";
    let query = "SELECT cio_id, plan FROM e ORDER BY cio_id";
    let clean = {
        let env = Env::start(config(&ws, ready())).await;
        env.sql(ddl).await.unwrap();
        pretty(&env.sql(query).await.unwrap())
    };
    assert!(clean.lines().count() > 50, "too few rows to cut: {clean}");
    // First link already expired: one more /download call, same rows.
    let env = Env::start(config(
        &ws,
        ExportConfig {
            expired_links: 1,
            ..ready()
        },
    ))
    .await;
    env.sql(ddl).await.unwrap();
    assert_eq!(pretty(&env.sql(query).await.unwrap()), clean);
    assert_eq!(env.requests("downloadExport"), 2);
    // Every link expired: a clear error naming the export.
    let env = Env::start(config(
        &ws,
        ExportConfig {
            expired_links: 99,
            ..ready()
        },
    ))
    .await;
    env.sql(ddl).await.unwrap();
    let err = env.sql(query).await.unwrap_err().to_string();
    assert!(
        err.contains("export 100") && err.contains("403") && err.contains("new link"),
        "{err}"
    );
    assert!(
        !err.contains("signature="),
        "the signed link leaks into the error: {err}"
    );
    // The first two downloads cut off after 3000 bytes: resumed, no row lost or doubled.
    let env = Env::start(config(
        &ws,
        ExportConfig {
            cut_downloads: 2,
            cut_after_bytes: 3000,
            ..ready()
        },
    ))
    .await;
    env.sql(ddl).await.unwrap();
    assert_eq!(pretty(&env.sql(query).await.unwrap()), clean);
    assert_eq!(env.requests("downloadExportFile"), 3);
    // Cut off every time: an error, never a partial result.
    let env = Env::start(config(
        &ws,
        ExportConfig {
            cut_downloads: 99,
            cut_after_bytes: 3000,
            ..ready()
        },
    ))
    .await;
    env.sql(ddl).await.unwrap();
    let err = env.sql(query).await.unwrap_err().to_string();
    // hyper may drop the connection before the head goes out or mid-body: either way an error,
    // after the table's max_attempts (5 by default) downloads.
    assert!(
        err.contains("export 100")
            && err.contains("gave up after 5 attempts")
            && err.contains("max_attempts is 5"),
        "{err}"
    );
    assert_eq!(env.requests("downloadExportFile"), 5);
    assert!(
        !err.contains("signature="),
        "the signed link leaks into the error: {err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn downloads_are_tried_max_attempts_times() {
    let ws = WorkspaceSpec {
        customers: 2_000,
        ..workspace("exp_attempts", "sim_us", Region::Us)
    };
    let ddl = |max_attempts: &str| {
        format!(
            "CREATE EXTERNAL TABLE e STORED AS CUSTOMERIO LOCATION 'customers_export' \
             OPTIONS (key 'sim_us', segments 'Email Activity - Clicks', attributes 'plan'{max_attempts})"
        )
    };
    let query = "SELECT cio_id, plan FROM e ORDER BY cio_id";
    let clean = {
        let env = Env::start(config(&ws, ready())).await;
        env.sql(&ddl("")).await.unwrap();
        pretty(&env.sql(query).await.unwrap())
    };
    // The first three downloads are cut off (before the head or mid-body).
    let cut_three = ExportConfig {
        cut_downloads: 3,
        cut_after_bytes: 3000,
        ..ready()
    };
    // Three attempts allowed: the third cut fails the query, after exactly three downloads.
    let env = Env::start(config(&ws, cut_three.clone())).await;
    env.sql(&ddl(", max_attempts '3'")).await.unwrap();
    let err = env.sql(query).await.unwrap_err().to_string();
    assert!(
        err.contains("export 100 (segment 'Email Activity - Clicks'")
            && err.contains("gave up after 3 attempts (max_attempts is 3)"),
        "{err}"
    );
    assert!(
        !err.contains("signature="),
        "the signed link leaks into the error: {err}"
    );
    assert_eq!(env.requests("downloadExportFile"), 3);
    assert_eq!(env.requests("downloadExport"), 1, "no new link for a cut");
    // Four allowed: the fourth download succeeds, with the clean rows, none doubled.
    let env = Env::start(config(&ws, cut_three)).await;
    env.sql(&ddl(", max_attempts '4'")).await.unwrap();
    assert_eq!(pretty(&env.sql(query).await.unwrap()), clean);
    assert_eq!(env.requests("downloadExportFile"), 4);
    // One attempt: the first cut fails it.
    let env = Env::start(config(
        &ws,
        ExportConfig {
            cut_downloads: 1,
            cut_after_bytes: 3000,
            ..ready()
        },
    ))
    .await;
    env.sql(&ddl(", max_attempts '1'")).await.unwrap();
    let err = env.sql(query).await.unwrap_err().to_string();
    assert!(
        err.contains("gave up after 1 attempt (max_attempts is 1)"),
        "{err}"
    );
    assert_eq!(env.requests("downloadExportFile"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_and_never_finishing_exports_are_clear_errors() {
    let ws = workspace("exp_fail", "sim_us", Region::Us);
    let env = Env::start(config(
        &ws,
        ExportConfig {
            fail: true,
            ..ready()
        },
    ))
    .await;
    env.sql(
        "CREATE EXTERNAL TABLE e STORED AS CUSTOMERIO LOCATION 'customers_export' \
         OPTIONS (key 'sim_us', segments 'Email Activity - Opens')",
    )
    .await
    .unwrap();
    let err = env
        .sql("SELECT count(*) FROM e")
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("export 100")
            && err.contains("Email Activity - Opens")
            && err.contains("failed"),
        "{err}"
    );

    // The simulator's clock stands still: the export stays pending until export_timeout.
    let never = ExportConfig {
        ready_after: Duration::from_secs(3600),
        ..ExportConfig::default()
    };
    let env = Env::start(config(&ws, never)).await;
    env.sql(
        "CREATE EXTERNAL TABLE e STORED AS CUSTOMERIO LOCATION 'customers_export' \
         OPTIONS (key 'sim_us', segments 'Email Activity - Opens', export_timeout '2s')",
    )
    .await
    .unwrap();
    let err = env
        .sql("SELECT count(*) FROM e")
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("export 100") && err.contains("pending") && err.contains("export_timeout"),
        "{err}"
    );
}

/// `SET customerio.export_cache_dir`: with a time to live, an export's file is kept there
/// (owner-only, no key in its name) and the same export within it is read from the file with no
/// request and the same rows; nothing is kept without a time to live; another export is made
/// anew; the files go when their `CustomerIo` does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_files_are_kept_for_the_time_to_live_and_read_without_a_request() {
    use datafusion::prelude::SessionContext;
    use datafusion_customerio::{Credential, Credentials, CustomerIo};

    let ws = WorkspaceSpec {
        customers: 2_000,
        ..workspace("exp_kept", "sim_us", Region::Us)
    };
    let env = Env::start(config(&ws, ready())).await;
    let dir = crate::cli_support::scratch("export-cache");
    // A CustomerIo of the test's own, so that dropping it can be seen.
    let cio = CustomerIo::with_credentials(Credentials::empty());
    cio.credentials().insert(
        "sim_us",
        Credential::new(ws.api_key.clone()).with_base_url(env.sim.url_for(Region::Us)),
    );
    let ctx = SessionContext::new();
    cio.register(&ctx);
    let sql = |q: String| {
        let ctx = &ctx;
        async move { ctx.sql(&q).await.unwrap().collect().await.unwrap() }
    };
    sql(format!(
        "SET customerio.export_cache_dir = '{}'",
        dir.display()
    ))
    .await;
    for (t, segment) in [("e1", 1), ("e2", 2)] {
        sql(format!(
            "CREATE EXTERNAL TABLE {t} STORED AS CUSTOMERIO LOCATION 'customers_export' \
             OPTIONS (key 'sim_us', rate_limit '1000', segments '{segment}')"
        ))
        .await;
    }
    let files = || {
        let mut names: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        names
    };
    let run = |t: &'static str| {
        let env = &env;
        let sql = &sql;
        async move {
            let before = env.requests("exportPeopleData");
            let all = env.total_requests();
            let rows = pretty(&sql(format!("SELECT cio_id, email FROM {t} ORDER BY cio_id")).await);
            (
                env.requests("exportPeopleData") - before,
                env.total_requests() - all,
                rows,
            )
        }
    };
    // No time to live: nothing kept, an export each time.
    let (exports, requests, rows) = run("e1").await;
    assert!(
        exports == 1 && requests >= 3 && rows.lines().count() > 10,
        "{requests}"
    );
    assert!(files().is_empty(), "{:?}", files());
    sql("SET customerio.cache_ttl = '5m'".into()).await;
    assert_eq!(run("e1").await, (1, requests, rows.clone()));
    let kept = files();
    assert_eq!(kept.len(), 1, "{kept:?}");
    assert!(
        kept[0].starts_with("cio-export-") && kept[0].ends_with(".export"),
        "{kept:?}"
    );
    assert!(!kept[0].contains(&ws.api_key));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.join(&kept[0]))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{mode:o}");
    }
    // Within the time to live: from the file, no request, the same rows.
    assert_eq!(run("e1").await, (0, 0, rows.clone()));
    // Another export is made, and kept beside.
    let (exports, _, other) = run("e2").await;
    assert!(exports == 1 && other != rows);
    assert_eq!(files().len(), 2);
    assert_eq!(cio.cache().stats().export_files, 2);
    // Cleared (`\cache clear`): the files go; a file put back under a kept name (not one the
    // cache wrote) is never read.
    let names = files();
    cio.cache().clear();
    assert!(files().is_empty(), "{:?}", files());
    for name in &names {
        std::fs::write(dir.join(name), "id,email,cio_id\nplanted,p@x,cio_p\n").unwrap();
    }
    assert_eq!(run("e1").await, (1, requests, rows.clone()));
    for name in &names {
        std::fs::remove_file(dir.join(name)).unwrap();
    }
    // After the time to live: made again.
    sql("SET customerio.cache_ttl = '1s'".into()).await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(run("e1").await, (1, requests, rows));
    // Gone with their CustomerIo.
    drop(ctx);
    drop(cio);
    assert!(files().is_empty(), "{:?}", files());
}

/// A kept export file is the whole file once, also when its download was cut off and opened
/// again: read back, it gives the rows the download gave.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kept_export_file_is_whole_after_cut_downloads() {
    let ws = WorkspaceSpec {
        customers: 20_000,
        ..workspace("exp_kept_cut", "sim_us", Region::Us)
    };
    let cut = ExportConfig {
        cut_downloads: 2,
        cut_after_bytes: 1_000_000,
        ..ready()
    };
    let env = Env::start(config(&ws, cut)).await;
    let dir = crate::cli_support::scratch("export-cache-cut");
    env.sql(&format!(
        "SET customerio.export_cache_dir = '{}'",
        dir.display()
    ))
    .await
    .unwrap();
    env.sql("SET customerio.cache_ttl = '5m'").await.unwrap();
    env.sql(
        "CREATE EXTERNAL TABLE e STORED AS CUSTOMERIO LOCATION 'customers_export' \
         OPTIONS (key 'sim_us', rate_limit '1000')",
    )
    .await
    .unwrap();
    let q = "SELECT cio_id, email FROM e ORDER BY cio_id";
    let downloaded = pretty(&env.sql(q).await.unwrap());
    // Every person once: the rows read before each cut are not read again, none is lost.
    // (`pretty` draws 4 lines besides the rows: 3 alike borders and the header.)
    let lines: Vec<&str> = downloaded.lines().collect();
    let distinct: std::collections::HashSet<&str> = lines.iter().copied().collect();
    assert_eq!((lines.len() - 4, distinct.len() - 2), (20_000, 20_000));
    assert_eq!(
        env.requests("downloadExportFile"),
        3,
        "the downloads were cut"
    );
    let exports = env.requests("exportPeopleData");
    let kept = pretty(&env.sql(q).await.unwrap());
    assert_eq!(
        env.requests("exportPeopleData"),
        exports,
        "read from the kept file"
    );
    assert_eq!(kept, downloaded);
    env.sql("SET customerio.cache_ttl = '0'").await.unwrap();
}

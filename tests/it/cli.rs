//! `cio-sql` driven through pipes: -c, -f, the shell's commands and formats, workspace schemas,
//! Switchboard scripts, errors, history, Ctrl-C and the progress line.

use std::io::Write;
use std::process::Stdio;
use std::time::{Duration, Instant};

use customerio_sim::{ExportConfig, Region, SimConfig, WorkspaceSpec};
use datafusion_customerio::Report;

use crate::cli_support::*;
use crate::common::*;

const T: Duration = Duration::from_secs(60);

/// A simulator with `acme` (US) and `beta` (EU) and a credentials file naming them.
async fn two_workspaces(test: &str) -> (Env, WorkspaceSpec, WorkspaceSpec, std::path::PathBuf) {
    let acme = workspace(test, "acme", Region::Us);
    let beta = workspace(test, "beta", Region::Eu);
    let env = Env::start(fast_config(vec![acme.clone(), beta.clone()])).await;
    let dir = scratch(test);
    credentials_file(&dir, &env, &[("acme", &acme), ("beta", &beta)]);
    (env, acme, beta, dir)
}

fn with_creds(dir: &std::path::Path) -> std::process::Command {
    let mut c = cio_sql(dir);
    c.arg("--credentials").arg(dir.join("credentials.toml"));
    c
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn c_prints_every_format() {
    let dir = scratch("cli-formats");
    let sql = "SELECT 1 AS a, 'x' AS b UNION ALL SELECT 2, 'y' ORDER BY a";
    let cases = [
        (
            "table",
            "+---+---+\n| a | b |\n+---+---+\n| 1 | x |\n| 2 | y |\n+---+---+\n",
        ),
        ("csv", "a,b\n1,x\n2,y\n"),
        ("json", "[{\"a\":1,\"b\":\"x\"},{\"a\":2,\"b\":\"y\"}]\n"),
        ("ndjson", "{\"a\":1,\"b\":\"x\"}\n{\"a\":2,\"b\":\"y\"}\n"),
    ];
    for (format, want) in cases {
        let d = dir.clone();
        let out = blocking(move || {
            cio_sql(&d)
                .args(["-c", sql, "--format", format])
                .output()
                .unwrap()
        })
        .await;
        let (stdout, stderr) = texts(&out);
        assert!(out.status.success(), "{format}: {stderr}");
        assert_eq!(stdout, want, "{format}");
        assert!(stderr.starts_with("2 rows in "), "{format}: {stderr}");
    }
    // --quiet drops the counts; --maxrows cuts the table.
    let d = dir.clone();
    let out = blocking(move || {
        cio_sql(&d)
            .args(["-q", "--maxrows", "1", "-c", sql])
            .output()
            .unwrap()
    })
    .await;
    let (stdout, stderr) = texts(&out);
    assert!(
        stdout.contains("| 1 | x |") && !stdout.contains("| 2 | y |"),
        "{stdout}"
    );
    assert!(stdout.contains("(1 of 2 rows shown"), "{stdout}");
    assert_eq!(stderr, "");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_and_commands_run_in_order_mixing_sql_and_downloads() {
    let (_env, _acme, _beta, dir) = two_workspaces("cli_files").await;
    std::fs::write(
        dir.join("a.sbs"),
        "// a Switchboard script, then SQL on its table\n\
         download t from {\n  type: \"customerio:campaigns\";\n  key: \"acme\";\n  period: \"weeks\";\n  steps: 2;\n  rate_limit: 1000;\n} using {campaign_id, sent};\n\
         SELECT COUNT(*) AS n, COUNT(DISTINCT campaign_id) AS campaigns FROM t;\n",
    )
    .unwrap();
    std::fs::write(dir.join("b.sql"), "SELECT 'b' AS file;").unwrap();
    let d = dir.clone();
    let out = blocking(move || {
        with_creds(&d)
            .args([
                "--format",
                "csv",
                "-c",
                "SELECT 'c' AS cmd",
                "-f",
                "a.sbs",
                "-f",
                "b.sql",
            ])
            .output()
            .unwrap()
    })
    .await;
    let (stdout, stderr) = texts(&out);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(stdout, "cmd\nc\nn,campaigns\n36,12\nfile\nb\n");
    assert!(stderr.contains("registered table t"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_are_one_line_and_fail_the_run() {
    let (_env, _acme, _beta, dir) = two_workspaces("cli_errors").await;
    std::fs::write(
        dir.join("bad.sbs"),
        "SELECT 1;\ndownload t from {\n  type: \"customerio:campaigns\";\n  key \"acme\";\n}\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("badopt.sbs"),
        "download t from {\n  type: \"customerio:campaigns\";\n  key: \"acme\";\n  peroid: \"days\";\n}\n",
    )
    .unwrap();
    let cases: [(&[&str], &str); 6] = [
        (
            &["-c", "SELEC 1"],
            "Error: SQL syntax error: Expected: an SQL statement, found: SELEC at Line: 1, Column: 1",
        ),
        (
            &["-c", "SELECT 1;\n\nSELECT * FROM nowhere"],
            "table 'datafusion.public.nowhere' not found",
        ),
        (
            &["-f", "bad.sbs"],
            "Error: bad.sbs: line 4, column 7: expected ':' after the setting name 'key', found '\"'",
        ),
        (&["-f", "badopt.sbs"], "Error: bad"),
        (
            &[
                "-c",
                "CREATE EXTERNAL TABLE x STORED AS CUSTOMERIO LOCATION 'campaigns' OPTIONS (key 'acme', steps '99')",
            ],
            "option steps: '99' is out of range for period days; valid values are 1 to 45",
        ),
        (
            &["-c", "SELECT * FROM acme.nothing"],
            "table 'datafusion.acme.nothing' not found",
        ),
    ];
    for (args, want) in cases {
        let d = dir.clone();
        let a: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        let out = blocking(move || with_creds(&d).args(&a).output().unwrap()).await;
        let (_, stderr) = texts(&out);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(stderr.contains(want), "{args:?}: {stderr}");
        let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("Error")).collect();
        assert_eq!(errors.len(), 1, "{args:?}: one error line: {stderr}");
        assert!(
            !stderr.contains("ParserError(") && !stderr.contains("Plan(\""),
            "{stderr}"
        );
    }
    // The option error points at the setting, with the hint.
    let d = dir.clone();
    let out = blocking(move || with_creds(&d).args(["-f", "badopt.sbs"]).output().unwrap()).await;
    let (_, stderr) = texts(&out);
    assert!(
        stderr.contains("badopt.sbs: line 4, column 3: download t: unknown option 'peroid'")
            && stderr.contains("did you mean 'period'"),
        "{stderr}"
    );
    // A window error points at `start`, named by the error's field (its message says
    // "options start/end", which names no single setting).
    std::fs::write(
        dir.join("badwin.sbs"),
        "download d from {\n  type: \"customerio:deliveries_export\";\n  key: \"acme\";\n  \
         end: \"2026-01-01\";\n  start: \"2020-01-01\";\n}\n",
    )
    .unwrap();
    let d = dir.clone();
    let out = blocking(move || with_creds(&d).args(["-f", "badwin.sbs"]).output().unwrap()).await;
    let (_, stderr) = texts(&out);
    assert!(
        stderr.contains("badwin.sbs: line 5, column 3: download d: options start/end: the window")
            && stderr.contains("longer than 12 calendar months"),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_shell_reads_statements_and_commands_from_a_pipe() {
    let (_env, _acme, beta, dir) = two_workspaces("cli_shell").await;
    let input = "SELECT 1 AS a,\n  2 AS b;\n\
                 \\d\n\
                 \\d beta.newsletters\n\
                 SELEC oops;\n\
                 \\pset format csv\n\
                 \\pset maxrows 0\n\
                 \\nope\n\
                 download t from {\n  type: \"customerio:newsletters\";\n  key: \"beta\";\n  period: \"weeks\"; steps: 1; rate_limit: 1000;\n} using {*};\n\
                 SELECT COUNT(*) AS n FROM t;\n\
                 \\?\n\
                 SELECT 3 AS c;\n\
                 \\q\n\
                 SELECT 'never' AS after_quit;\n";
    let d = dir.clone();
    let out = blocking(move || run_with_input(with_creds(&d), input, T)).await;
    let (stdout, stderr) = texts(&out);
    assert!(out.status.success(), "{stderr}");
    // Multi-line statement in the table format.
    assert!(
        stdout.contains("| a | b |\n+---+---+\n| 1 | 2 |"),
        "{stdout}"
    );
    // \d lists every report of both workspaces.
    let rows: Vec<Vec<&str>> = stdout
        .lines()
        .map(|l| {
            l.split('|')
                .map(str::trim)
                .filter(|c| !c.is_empty())
                .collect()
        })
        .collect();
    for r in Report::ALL {
        for ws in ["acme", "beta"] {
            let kind = format!("customerio {}", r.as_str());
            assert!(
                rows.iter()
                    .any(|row| *row == [ws, r.as_str(), kind.as_str()]),
                "{ws}.{r}:\n{stdout}"
            );
        }
    }
    // \d NAME: the columns.
    assert!(stdout.contains("| newsletter_id "), "{stdout}");
    assert!(stdout.contains("| period_start "), "{stdout}");
    assert!(
        stderr.contains("Customer.io report newsletters of workspace beta"),
        "{stderr}"
    );
    // Errors do not end the session.
    assert!(stderr.contains("Error: SQL syntax error"), "{stderr}");
    assert!(
        stderr.contains("\\pset maxrows: '0' is not a number"),
        "{stderr}"
    );
    assert!(stderr.contains("unknown command \\nope"), "{stderr}");
    // \pset format csv applies to what follows.
    let n = beta.newsletters * 2; // steps 1: the last week and the current one
    assert!(stdout.contains(&format!("\nn\n{n}\n")), "{stdout}");
    assert!(stdout.contains("\\pset format F"), "help: {stdout}");
    assert!(stdout.ends_with("c\n3\n"), "{stdout}");
    assert!(!stdout.contains("never"), "\\q ends the shell");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workspaces_are_schemas_and_unions_need_no_ddl() {
    let (_env, acme, beta, dir) = two_workspaces("cli_union").await;
    let sql = "SELECT workspace, COUNT(DISTINCT campaign_id) AS campaigns \
               FROM (SELECT * FROM acme.campaigns UNION ALL SELECT * FROM beta.campaigns \
                     UNION ALL SELECT * FROM gamma.campaigns) \
               GROUP BY workspace ORDER BY workspace";
    let d = dir.clone();
    let out = blocking(move || {
        with_creds(&d)
            .args(["--workspace", "gamma=acme", "--format", "csv", "-c", sql])
            .output()
            .unwrap()
    })
    .await;
    let (stdout, stderr) = texts(&out);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(
        stdout,
        format!(
            "workspace,campaigns\nacme,{}\nbeta,{}\ngamma,{}\n",
            acme.campaigns, beta.campaigns, acme.campaigns
        )
    );
    assert!(!stderr.contains(&acme.api_key) && !stdout.contains(&acme.api_key));
    // A workspace whose credential is missing fails with the fix, not the key.
    let d = dir.clone();
    let out = blocking(move || {
        with_creds(&d)
            .args([
                "--workspace",
                "delta=no_such_key",
                "-c",
                "SELECT * FROM delta.campaigns",
            ])
            .output()
            .unwrap()
    })
    .await;
    let (_, stderr) = texts(&out);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr.contains("workspace delta: campaigns: credential 'no_such_key' not found")
            && stderr.contains("CIO_KEY_NO_SUCH_KEY"),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_seed_scripts_run_unchanged() {
    let ws = workspace("cli_seeds", "sim_us", Region::Us);
    // Exports are ready at once: the test's clock stands still.
    let config = SimConfig {
        exports: ExportConfig {
            ready_after: Duration::ZERO,
            ..ExportConfig::default()
        },
        ..fast_config(vec![ws.clone()])
    };
    let env = Env::start(config).await;
    let dir = scratch("cli-seeds");
    credentials_file(&dir, &env, &[("customerio_key", &ws)]);
    let sql_dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("sql");
    let seeds = [
        ("seed_campaigns.sbs", "campaigns"),
        ("seed_newsletters.sbs", "newsletters"),
        ("seed_customers.sbs", "customers"),
        ("seed_customers_export.sbs", "customers_export"),
        ("seed_deliveries_export.sbs", "deliveries_export"),
    ];
    for (file, report) in seeds {
        let path = sql_dir.join(file);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            text.contains(&format!("type: \"customerio:{report}\";")),
            "{file}"
        );
        let d = dir.clone();
        let out = blocking(move || {
            let mut c = with_creds(&d);
            c.args(["--format", "csv", "-f"])
                .arg(&path)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped());
            wait_output(c.spawn().unwrap(), T)
        })
        .await;
        let (stdout, stderr) = texts(&out);
        assert!(out.status.success(), "{file}: {stderr}");
        assert!(stderr.contains("registered table t"), "{file}: {stderr}");
        assert!(
            stdout.lines().count() > 1,
            "{file}: rows expected:\n{stdout}\n{stderr}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_keeps_statements_but_never_secrets() {
    let dir = scratch("cli-history");
    let input = "SELECT 1 AS one;\n\
                 SELECT '0123456789abcdef0123456789abcdef' AS k;\n\
                 CREATE EXTERNAL TABLE x STORED AS CUSTOMERIO LOCATION 'campaigns' OPTIONS (key 'Xk93jf8Qm2Lz7Pw4Tn6Rb1Vc');\n\
                 \\d\n\
                 SELECT 2\n  AS two;\n";
    let d = dir.clone();
    let out = blocking(move || run_with_input(cio_sql(&d), input, T)).await;
    let (_, stderr) = texts(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(
        !stderr.contains("Xk93jf8Qm2Lz7Pw4Tn6Rb1Vc"),
        "errors never quote a key: {stderr}"
    );
    let history = std::fs::read_to_string(dir.join("history")).unwrap();
    assert!(history.contains("SELECT 1 AS one;"), "{history}");
    assert!(history.contains("\\d"), "{history}");
    assert!(history.contains("SELECT 2"), "{history}");
    assert!(
        !history.contains("0123456789abcdef0123456789abcdef"),
        "{history}"
    );
    assert!(!history.contains("Xk93jf8Qm2Lz7Pw4Tn6Rb1Vc"), "{history}");

    // Piped input with no CIO_SQL_HISTORY is a script: nothing goes to the data folder.
    let d = dir.clone();
    let out = blocking(move || {
        let mut c = cio_sql(&d);
        c.env_remove("CIO_SQL_HISTORY")
            .env("XDG_DATA_HOME", d.join("xdg"));
        run_with_input(c, "SELECT 1;\n", T)
    })
    .await;
    assert!(out.status.success());
    assert!(!dir.join("xdg").join("cio-sql").exists());
}

/// A simulator that answers slowly, so a scan lasts seconds.
async fn slow(test: &str, latency_ms: u64) -> (Env, WorkspaceSpec, std::path::PathBuf) {
    let ws = workspace(test, "slow", Region::Us);
    let mut config = fast_config(vec![ws.clone()]);
    config.latency = Duration::from_millis(latency_ms);
    let env = Env::start(config).await;
    let dir = scratch(test);
    credentials_file(&dir, &env, &[("slow", &ws)]);
    (env, ws, dir)
}

fn interrupt(pid: u32) {
    let status = std::process::Command::new("kill")
        .args(["-INT", &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

async fn wait_for_requests(env: &Env) {
    let started = Instant::now();
    while env.total_requests() == 0 {
        assert!(
            started.elapsed() < T,
            "the query never reached the simulator"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_cancels_the_query_and_the_shell_goes_on() {
    // Each request takes 5 s: the scan below needs 3 rounds of them, 15 s.
    let (env, _ws, dir) = slow("cli_cancel", 5000).await;
    let mut child = with_creds(&dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin
        .write_all(b"SELECT COUNT(*) FROM slow.campaigns;\n")
        .unwrap();
    stdin.flush().unwrap();
    wait_for_requests(&env).await;
    let started = Instant::now();
    interrupt(child.id());
    stdin.write_all(b"SELECT 42 AS answer;\n\\q\n").unwrap();
    drop(stdin);
    let out = blocking(move || wait_output(child, T)).await;
    let (stdout, stderr) = texts(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("Cancelled."), "{stderr}");
    assert!(stdout.contains("| 42 "), "the session went on: {stdout}");
    assert!(!stdout.contains("count(*)"), "{stdout}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "cancelled at once, not after the scan: {:?}",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_stops_c_with_status_130() {
    let (env, _ws, dir) = slow("cli_cancel_c", 5000).await;
    let child = with_creds(&dir)
        .args([
            "-c",
            "SELECT COUNT(*) FROM slow.campaigns",
            "-c",
            "SELECT 'not run'",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for_requests(&env).await;
    interrupt(child.id());
    let out = blocking(move || wait_output(child, T)).await;
    let (stdout, stderr) = texts(&out);
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    assert!(stderr.contains("Cancelled."), "{stderr}");
    assert!(!stdout.contains("not run"), "{stdout}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn progress_shows_only_on_a_terminal() {
    let (_env, _ws, dir) = slow("cli_progress", 700).await;
    let sql = "SELECT COUNT(*) FROM slow.campaigns";
    // Piped stderr: silent.
    let d = dir.clone();
    let out = blocking(move || with_creds(&d).args(["-c", sql]).output().unwrap()).await;
    let (_, stderr) = texts(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(
        !stderr.contains('\r') && !stderr.contains("Ctrl-C cancels"),
        "{stderr:?}"
    );
    // As on a terminal (the same code path, forced): requests and rows, redrawn in place.
    let d = dir.clone();
    let out = blocking(move || {
        with_creds(&d)
            .env("CIO_SQL_PROGRESS", "1")
            .args(["-c", sql])
            .output()
            .unwrap()
    })
    .await;
    let (_, stderr) = texts(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("\r\u{1b}[2K… "), "{stderr:?}");
    assert!(
        stderr.contains(" requests, ") && stderr.contains("(Ctrl-C cancels)"),
        "{stderr:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_registers_the_simulators_workspaces() {
    let dir = scratch("cli-demo");
    let out = blocking(move || {
        cio_sql(&dir)
            .args([
                "--demo",
                "--format",
                "csv",
                "-c",
                "SELECT workspace, COUNT(DISTINCT newsletter_id) AS n FROM \
                 (SELECT * FROM sim_us.newsletters UNION ALL SELECT * FROM sim_eu.newsletters) \
                 GROUP BY workspace ORDER BY workspace",
            ])
            .output()
            .unwrap()
    })
    .await;
    let (stdout, stderr) = texts(&out);
    assert!(out.status.success(), "{stderr}");
    let (us, eu) = (WorkspaceSpec::default_us(), WorkspaceSpec::default_eu());
    assert_eq!(
        stdout,
        format!(
            "workspace,n\nsim_eu,{}\nsim_us,{}\n",
            eu.newsletters, us.newsletters
        )
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_example_scripts_run_with_the_demo() {
    let sql_dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("sql");
    for (file, want) in [
        ("workspace_union.sql", "sim_eu,7,"),
        ("campaigns_by_segment.sql", "\nsim_us,Email Activity"),
    ] {
        let dir = scratch("cli-examples");
        let path = sql_dir.join(file);
        let out = blocking(move || {
            let mut c = cio_sql(&dir);
            c.args(["--demo", "--format", "csv", "-f"])
                .arg(&path)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped());
            wait_output(c.spawn().unwrap(), T)
        })
        .await;
        let (stdout, stderr) = texts(&out);
        assert!(out.status.success(), "{file}: {stderr}");
        assert!(stdout.contains(want), "{file}: {stdout}");
    }
    // The daily ingest script, once, into a scratch folder.
    let dir = scratch("cli-daily");
    let path = sql_dir.join("daily_ingest.sql");
    let d = dir.clone();
    let out = blocking(move || {
        let mut c = cio_sql(&d);
        c.args([
            "--demo",
            "-q",
            "schedule",
            "--once",
            "--date",
            "2026-11-26",
            "--file",
        ])
        .arg(&path)
        .stderr(Stdio::piped());
        wait_output(c.spawn().unwrap(), T)
    })
    .await;
    let (_, stderr) = texts(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(
        dir.join("cio-lake/_cio_sql/daily_ingest/2026-11-26/_MANIFEST.json")
            .exists(),
        "{stderr}"
    );
    assert!(
        dir.join("cio-lake/campaigns/date=2026-11-26/campaigns.parquet")
            .exists()
    );
}

/// `cio-sql` writes Parquet with zstd level 1 in row groups of 122,880 rows, and keeps no large
/// dictionary of unique values (what the export and decode benches measure); `SET` changes the
/// codec.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parquet_outputs_are_zstd_in_bounded_row_groups() {
    use datafusion::parquet::basic::{Compression, Encoding, PageType};
    use datafusion::parquet::file::reader::{FileReader, SerializedFileReader};

    let dir = scratch("cli-parquet-defaults");
    let d = dir.clone();
    let out = blocking(move || {
        cio_sql(&d)
            .args([
                "-q",
                "-c",
                "COPY (SELECT value AS n, 'person-' || (value % 10000) || '@example.com' AS email, \
                 'plan-' || (value % 3) AS plan FROM generate_series(1, 300000)) \
                 TO 'n.parquet' STORED AS PARQUET; \
                 SET datafusion.execution.parquet.compression = 'snappy'; \
                 COPY (SELECT value AS n FROM generate_series(1, 10)) TO 's.parquet' \
                 STORED AS PARQUET;",
            ])
            .output()
            .unwrap()
    })
    .await;
    let (_, stderr) = texts(&out);
    assert!(out.status.success(), "{stderr}");

    let meta = |name: &str| {
        let file = std::fs::File::open(dir.join(name)).unwrap();
        SerializedFileReader::new(file).unwrap().metadata().clone()
    };
    let n = meta("n.parquet");
    let groups: Vec<i64> = n.row_groups().iter().map(|g| g.num_rows()).collect();
    assert_eq!(groups, vec![122_880, 122_880, 54_240]);
    for g in n.row_groups() {
        assert!(
            matches!(g.column(0).compression(), Compression::ZSTD(_)),
            "{:?}",
            g.column(0).compression()
        );
    }
    // Data pages of each column, by encoding: `email` (10,000 values, about 250 KB: DataFusion's
    // 1 MiB limit would keep them all in the dictionary) falls back to plain pages once its
    // dictionary reaches 64 KiB; `plan` (three values) stays dictionary-encoded.
    let data_pages = |column: usize| -> Vec<Encoding> {
        let chunk = n.row_group(0).column(column);
        match (
            chunk.page_encoding_stats(),
            chunk.page_encoding_stats_mask(),
        ) {
            (Some(stats), _) => stats
                .iter()
                .filter(|s| s.page_type != PageType::DICTIONARY_PAGE)
                .map(|s| s.encoding)
                .collect(),
            (None, Some(mask)) => mask.encodings().collect(),
            (None, None) => panic!("no page encoding stats"),
        }
    };
    let (email, plan) = (data_pages(1), data_pages(2));
    assert!(email.contains(&Encoding::PLAIN), "{email:?}");
    assert!(email.contains(&Encoding::RLE_DICTIONARY), "{email:?}");
    assert_eq!(plan, vec![Encoding::RLE_DICTIONARY]);

    let s = meta("s.parquet");
    assert_eq!(s.row_group(0).column(0).compression(), Compression::SNAPPY);
}

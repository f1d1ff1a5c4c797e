//! A canary key through the whole product: the `cio-sql` binary at trace level (`CIO_LOG=trace`)
//! running every report, the EXPLAIN forms, errors from a wrong key and from an answer that
//! echoes the request headers, the shell with its history file, and `cio-sql schedule --once`
//! writing Parquet, a manifest and (when killed) its lease; with the `distributed` feature, two
//! workers and their coordinators holding a canary worker token. The key and the token are
//! unique to this run and must appear in no stdout, stderr, log line, output file or history
//! entry.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use customerio_sim::{ExportConfig, Region, ScriptedResponse, SimConfig, WorkspaceSpec};
use datafusion_customerio::Report;
use datafusion_customerio::reports::objects::table_spec;

use crate::cli_support::*;
use crate::common::*;

const T: Duration = Duration::from_secs(120);

/// A key that looks like a real one (32 hex digits, as Customer.io's) behind a marker, unique
/// to this run so no fixture or earlier output can hold it.
fn canary() -> String {
    format!("canary-{:032x}", rand::random::<u128>())
}

/// Everything one process showed.
struct Seen {
    what: String,
    out: Output,
}

/// Runs `c` (with `stdin` piped in, if any) within [`T`]. Stdout and stderr go to files in
/// `streams`, not pipes: a trace log outgrows a pipe's buffer long before the process ends.
async fn run(what: &str, streams: &Path, mut c: Command, stdin: Option<String>) -> Seen {
    use std::io::Write;
    let n = std::fs::read_dir(streams).unwrap().count();
    let (out_path, err_path) = (
        streams.join(format!("{n}.out")),
        streams.join(format!("{n}.err")),
    );
    c.stdout(std::fs::File::create(&out_path).unwrap())
        .stderr(std::fs::File::create(&err_path).unwrap());
    if stdin.is_some() {
        c.stdin(std::process::Stdio::piped());
    }
    let status = tokio::task::spawn_blocking(move || {
        let mut child = c.spawn().expect("cio-sql starts");
        if let Some(input) = stdin {
            child
                .stdin
                .take()
                .unwrap()
                .write_all(input.as_bytes())
                .unwrap();
        }
        wait_output(child, T).status
    })
    .await
    .unwrap();
    let out = Output {
        status,
        stdout: std::fs::read(out_path).unwrap(),
        stderr: std::fs::read(err_path).unwrap(),
    };
    Seen {
        what: what.to_string(),
        out,
    }
}

/// Every file under `dir` but the credentials file (which holds the key by design), with its
/// bytes. The local store's in-flight temporary files are included.
fn files(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.file_name().is_some_and(|n| n != "credentials.toml") {
                let bytes = std::fs::read(&p).unwrap();
                out.push((p, bytes));
            }
        }
    }
    out.sort();
    out
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// The schedule script: two Parquet outputs under `lake/`.
const DAILY: &str = "CREATE EXTERNAL TABLE c STORED AS CUSTOMERIO LOCATION 'campaigns'
   OPTIONS (key 'acme', period 'weeks', steps '2', rate_limit '1000');
 download n from { type: \"customerio:newsletters\"; key: \"acme\"; period: \"weeks\"; steps: 1; }
 COPY (SELECT campaign_id, period_start, sent FROM c) TO 'lake/campaigns/date=${run_date}/c.parquet' STORED AS PARQUET;
 COPY (SELECT * FROM n) TO 'lake/newsletters/date=${run_date}/' STORED AS PARQUET;
";

/// The shell's input: the describe commands, a query, and the key pasted by mistake where a
/// credential name goes (refused without quoting it, and kept out of the history).
fn shell_input(key: &str) -> String {
    format!(
        "\\d\n\
         \\d acme.newsletters\n\
         SELECT count(*) AS people FROM acme.customers;\n\
         CREATE EXTERNAL TABLE pasted STORED AS CUSTOMERIO LOCATION 'campaigns' OPTIONS (key '{key}');\n\
         SELECT id, name FROM acme.segments ORDER BY 1 LIMIT 2;\n\
         \\q\n"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_canary_key_never_leaves_the_binary() {
    let key = canary();
    let ws = WorkspaceSpec {
        api_key: key.clone(),
        campaigns: 4,
        newsletters: 3,
        links: 2,
        segments: 3,
        customers: 150,
        ..workspace("canary_bin", "acme", Region::Us)
    };
    let config = SimConfig {
        exports: ExportConfig {
            ready_after: Duration::ZERO,
            ..ExportConfig::default()
        },
        ..fast_config(vec![ws.clone()])
    };
    let env = Env::start(config).await;
    let dir = scratch("canary-bin");
    let streams = scratch("canary-streams");
    // `wrong` is the canary with one more digit: the simulator refuses it (401), and an error
    // or log line quoting the key it sent would show the canary.
    let wrong = WorkspaceSpec {
        api_key: format!("{key}0"),
        ..ws.clone()
    };
    let creds = credentials_file(&dir, &env, &[("acme", &ws), ("wrong", &wrong)]);
    let base = |d: &Path| {
        let mut c = cio_sql(d);
        c.arg("--credentials").arg(&creds).env("CIO_LOG", "trace");
        c
    };
    let mut seen: Vec<Seen> = Vec::new();

    // Every report (exports included), the EXPLAIN forms, a Switchboard download, in two output
    // formats.
    let mut queries: Vec<String> = Report::ALL
        .iter()
        .map(|r| match r {
            // Tables that read one person at a time need one.
            Report::Object(t) => match table_spec(*t).required {
                Some(column) => format!("SELECT * FROM acme.{r} WHERE {column} = '1'"),
                None => format!("SELECT * FROM acme.{r}"),
            },
            _ => format!("SELECT * FROM acme.{r}"),
        })
        .collect();
    queries.extend([
        "EXPLAIN SELECT * FROM acme.campaigns WHERE campaign_id = 1".to_string(),
        "EXPLAIN VERBOSE SELECT * FROM acme.customers_export".to_string(),
        "EXPLAIN ANALYZE SELECT * FROM acme.newsletters".to_string(),
        "EXPLAIN ANALYZE VERBOSE SELECT * FROM acme.segments".to_string(),
    ]);
    std::fs::write(
        dir.join("download.sbs"),
        "download t from { type: \"customerio:customers\"; key: \"acme\"; }\nSELECT count(*) FROM t;\n",
    )
    .unwrap();
    for format in ["table", "ndjson"] {
        let mut c = base(&dir);
        c.args(["--format", format, "--maxrows", "1000"]);
        for q in &queries {
            c.args(["-c", q]);
        }
        c.args(["-f", "download.sbs"]);
        let s = run(&format!("-c, --format {format}"), &streams, c, None).await;
        let (stdout, stderr) = texts(&s.out);
        assert!(s.out.status.success(), "{stderr}");
        // Every EXPLAIN printed its scan, EXPLAIN ANALYZE its request counts.
        for want in [
            "CustomerIoScanExec: report=campaigns, workspace=acme",
            "CustomerIoScanExec: report=customers_export",
            "requests=",
        ] {
            assert!(stdout.contains(want), "{format}: no {want:?} in\n{stdout}");
        }
        assert!(
            stderr.contains("TRACE") && stderr.contains("DEBUG"),
            "trace logging was not on:\n{}",
            &stderr[..stderr.len().min(2000)]
        );
        seen.push(s);
    }

    // An answer that echoes the request headers (the bearer key) in its error body: shown
    // scrubbed.
    env.sim.push_script(
        ScriptedResponse::new(403)
            .for_operation("listSegments")
            .echoing_headers(),
    );
    let mut c = base(&dir);
    c.args(["-c", "SELECT * FROM acme.segments"]);
    let s = run("-c, 403 echoing the headers", &streams, c, None).await;
    let (_, stderr) = texts(&s.out);
    assert!(!s.out.status.success());
    assert!(
        stderr.contains("Error: ") && stderr.contains("authorization: Bearer ***"),
        "the simulator did not echo the header, or the client did not scrub it:\n{stderr}"
    );
    seen.push(s);

    // A wrong key: 401, one line naming the endpoint.
    let mut c = base(&dir);
    c.args(["-c", "SELECT * FROM wrong.campaigns"]);
    let s = run("-c, a wrong key", &streams, c, None).await;
    let (_, stderr) = texts(&s.out);
    assert!(!s.out.status.success());
    assert!(
        stderr.contains("Error: ") && stderr.contains("401"),
        "{}",
        &stderr[stderr.len().saturating_sub(2000)..]
    );
    seen.push(s);

    // The shell: piped input, history on (cio_sql sets CIO_SQL_HISTORY to `dir/history`).
    let s = run("the shell", &streams, base(&dir), Some(shell_input(&key))).await;
    let (stdout, stderr) = texts(&s.out);
    assert!(s.out.status.success(), "{stderr}");
    assert!(
        stdout.contains("people") && stdout.contains("150"),
        "{stdout}"
    );
    let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("Error")).collect();
    assert!(
        errors.len() == 1 && errors[0].contains("looks like an API key"),
        "the pasted key is refused as a key, and nothing else fails: {errors:#?}"
    );
    let history = std::fs::read_to_string(dir.join("history")).expect("history written");
    assert!(
        history.contains("\\d acme.newsletters") && history.contains("FROM acme.segments"),
        "{history}"
    );
    seen.push(s);

    // The scheduled ingestion: killed after its first output is staged (lease, intent and
    // staging files stay behind), the files checked, then a run that commits and a rerun.
    std::fs::write(dir.join("daily.sql"), DAILY).unwrap();
    let schedule = |fail_at: Option<&str>| {
        let mut c = base(&dir);
        c.args([
            "schedule",
            "--file",
            "daily.sql",
            "--once",
            "--date",
            "2026-11-26",
        ]);
        if let Some(k) = fail_at {
            c.env("CIO_SQL_FAIL_AT", k);
        }
        c
    };
    let s = run(
        "schedule --once, aborted at step 2",
        &streams,
        schedule(Some("2")),
        None,
    )
    .await;
    assert!(!s.out.status.success());
    seen.push(s);
    let state = dir.join("lake/_cio_sql/daily/2026-11-26");
    let leftovers = files(&state);
    let names: Vec<String> = leftovers
        .iter()
        .map(|(p, _)| p.strip_prefix(&state).unwrap().display().to_string())
        .collect();
    assert!(
        names.iter().any(|n| n.starts_with("lock-")) && names.iter().any(|n| n.contains("staging")),
        "the killed run left no lease or staging: {names:?}"
    );
    let left = leftovers.len();
    let mut checked: Vec<(String, Vec<u8>)> = leftovers
        .into_iter()
        .map(|(p, b)| (format!("left by the killed run: {}", p.display()), b))
        .collect();
    for what in ["schedule --once", "schedule --once, rerun"] {
        let s = run(what, &streams, schedule(None), None).await;
        let (_, stderr) = texts(&s.out);
        assert!(s.out.status.success(), "{stderr}");
        seen.push(s);
    }
    let (_, stderr) = texts(&seen.last().unwrap().out);
    assert!(stderr.contains("is already committed"), "{stderr}");

    // Distributed: two workers holding a canary worker token, a coordinator with it (EXPLAIN,
    // EXPLAIN ANALYZE, a query) and one with a wrong token; the token must show nowhere either.
    #[cfg(feature = "distributed")]
    let token = {
        let token = canary();
        seen.extend(distributed_runs(&dir, &streams, &creds, &token).await);
        token
    };

    // Every file the runs wrote: Parquet, the manifest, the history, the scripts.
    let written = files(&dir);
    let kinds = |ext: &str| {
        written
            .iter()
            .filter(|(p, _)| p.to_string_lossy().ends_with(ext))
            .count()
    };
    assert!(kinds(".parquet") >= 2, "{written:?}");
    assert_eq!(kinds("_MANIFEST.json"), 1);
    checked.extend(
        written
            .into_iter()
            .map(|(p, b)| (p.display().to_string(), b)),
    );

    #[cfg(feature = "distributed")]
    let needles = [key.as_bytes(), token.as_bytes()];
    #[cfg(not(feature = "distributed"))]
    let needles = [key.as_bytes()];
    for needle in needles {
        assert_absent(&seen, &checked, needle);
    }
    // The canary is where it was put, so a search that finds nothing means something.
    assert!(contains(&std::fs::read(&creds).unwrap(), key.as_bytes()));
    let stream_bytes: usize = seen
        .iter()
        .map(|s| s.out.stdout.len() + s.out.stderr.len())
        .sum();
    println!(
        "canary through the binary: {} runs, {} bytes of stdout/stderr (trace level), {} files \
         ({left} left by the killed run), 0 occurrences",
        seen.len(),
        stream_bytes,
        checked.len()
    );
}

/// Fails if any output in `seen` or any file in `checked` holds `needle`.
fn assert_absent(seen: &[Seen], checked: &[(String, Vec<u8>)], needle: &[u8]) {
    for s in seen {
        assert!(
            !contains(&s.out.stdout, needle),
            "{}: stdout shows a secret",
            s.what
        );
        if let Some(at) = s.out.stderr.windows(needle.len()).position(|w| w == needle) {
            let text = String::from_utf8_lossy(&s.out.stderr);
            let line = text[..at].rsplit('\n').next().unwrap_or_default();
            panic!(
                "{}: stderr shows a secret, in the line starting {line:?}",
                s.what
            );
        }
    }
    for (what, bytes) in checked {
        assert!(!contains(bytes, needle), "{what} holds a secret");
    }
}

/// The distributed runs of the canary test: two `cio-sql --worker` processes holding `token`
/// (trace level), a coordinator with the token and one with a wrong token. Returns what every
/// process showed, the workers' logs included.
#[cfg(feature = "distributed")]
async fn distributed_runs(dir: &Path, streams: &Path, creds: &Path, token: &str) -> Vec<Seen> {
    use std::io::{BufRead, BufReader};
    let mut workers = Vec::new();
    for n in 0..2 {
        let log = streams.join(format!("worker{n}.err"));
        let mut child = cio_sql(dir)
            .args(["--worker", "--port", "0", "--credentials"])
            .arg(creds)
            .env("CIO_LOG", "trace")
            .env("CIO_WORKER_TOKEN", token)
            .stdout(std::process::Stdio::piped())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let url = line
            .trim()
            .strip_prefix("cio-sql worker listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .to_string();
        workers.push((child, url, log));
    }
    let urls: Vec<&str> = workers.iter().map(|(_, u, _)| u.as_str()).collect();
    let coordinator = |token: &str| {
        let mut c = cio_sql(dir);
        c.arg("--credentials")
            .arg(creds)
            .args(["--workers", &urls.join(","), "--format", "ndjson"])
            .env("CIO_LOG", "trace")
            .env("CIO_WORKER_TOKEN", token);
        for q in [
            "EXPLAIN SELECT * FROM acme.campaigns UNION ALL SELECT * FROM acme.campaigns",
            "EXPLAIN ANALYZE SELECT * FROM acme.segments UNION ALL SELECT * FROM acme.segments",
            "SELECT count(*) AS n FROM (SELECT id FROM acme.customers UNION ALL \
             SELECT id FROM acme.segments)",
        ] {
            c.args(["-c", q]);
        }
        c
    };
    let mut seen = Vec::new();
    let s = run(
        "--workers with the token",
        streams,
        coordinator(token),
        None,
    )
    .await;
    let (stdout, stderr) = texts(&s.out);
    assert!(s.out.status.success(), "{stderr}");
    assert!(stdout.contains("DistributedExec"), "{stdout}");
    seen.push(s);
    let wrong = format!("{token}0");
    let s = run(
        "--workers with a wrong token",
        streams,
        coordinator(&wrong),
        None,
    )
    .await;
    let (_, stderr) = texts(&s.out);
    assert!(!s.out.status.success());
    assert!(stderr.contains("Unauthenticated"), "{stderr}");
    seen.push(s);
    for (mut child, url, log) in workers {
        let _ = child.kill();
        let status = child.wait().unwrap();
        let stderr = std::fs::read(&log).unwrap();
        assert!(
            String::from_utf8_lossy(&stderr).contains("refused a call"),
            "the worker {url} did not log the refusal"
        );
        seen.push(Seen {
            what: format!("the worker {url}"),
            out: Output {
                status,
                stdout: Vec::new(),
                stderr,
            },
        });
    }
    seen
}

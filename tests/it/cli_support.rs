//! Helpers for the `cio-sql` tests: the binary with a clean environment, credentials files
//! pointing at a test simulator, scratch folders, and in-process ingestion runs.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cio_sql::exec::ExecOptions;
use cio_sql::ingest::{FailPoints, RunEnv};
use cio_sql::{CliError, PrintOptions, Shell, new_session};
use customerio_sim::WorkspaceSpec;

use crate::common::Env;

/// The `cio-sql` binary with no credentials file, no history in the user's folder and no
/// progress line, run in `dir`.
pub fn cio_sql(dir: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_cio-sql"));
    c.current_dir(dir)
        .env("CIO_CREDENTIALS", dir.join("no-credentials.toml"))
        .env("CIO_SQL_HISTORY", dir.join("history"))
        .env_remove("CIO_SQL_PROGRESS")
        .env_remove("CIO_LOG")
        .env_remove("CIO_SQL_FAIL_AT")
        .stdin(Stdio::null());
    c
}

/// Runs `c` with `stdin` piped in, within `timeout`.
pub fn run_with_input(mut c: Command, stdin: &str, timeout: Duration) -> Output {
    use std::io::Write;
    c.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = c.spawn().expect("cio-sql starts");
    {
        let mut input = child.stdin.take().unwrap();
        input.write_all(stdin.as_bytes()).unwrap();
    }
    wait_output(child, timeout)
}

/// Waits for `child` at most `timeout`, then kills it and fails.
pub fn wait_output(mut child: std::process::Child, timeout: Duration) -> Output {
    let started = Instant::now();
    loop {
        if child.try_wait().unwrap().is_some() {
            return child.wait_with_output().unwrap();
        }
        if started.elapsed() > timeout {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!(
                "cio-sql did not finish in {timeout:?}\nstdout:\n{}\nstderr:\n{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Stdout and stderr as text.
pub fn texts(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A fresh folder for one test, under cargo's temporary folder for integration tests. The
/// folders of earlier test processes that are gone are removed on first use.
pub fn scratch(name: &str) -> PathBuf {
    static SWEPT: std::sync::OnceLock<()> = std::sync::OnceLock::new();
    let root = Path::new(env!("CARGO_TARGET_TMPDIR")).join("cio-sql-tests");
    SWEPT.get_or_init(|| {
        for e in std::fs::read_dir(&root).into_iter().flatten().flatten() {
            let pid = e
                .file_name()
                .to_string_lossy()
                .split('-')
                .next()
                .map(str::to_string);
            let dead = Path::new("/proc/self").exists()
                && pid
                    .and_then(|p| p.parse::<u32>().ok())
                    .is_some_and(|p| !Path::new(&format!("/proc/{p}")).exists());
            if dead {
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
    });
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let dir = root.join(format!("{}-{name}-{nanos}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A credentials file in `dir` with one entry per `(name, workspace)`, pointing at the
/// simulator of `env`.
pub fn credentials_file(dir: &Path, env: &Env, entries: &[(&str, &WorkspaceSpec)]) -> PathBuf {
    let mut text = String::new();
    for (name, ws) in entries {
        text.push_str(&format!(
            "[{name}]\napi_key = \"{}\"\nbase_url = \"{}\"\n\n",
            ws.api_key,
            env.sim.url_for(ws.region)
        ));
    }
    let path = dir.join("credentials.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// Log lines collected by an in-process run.
pub type Log = Arc<Mutex<Vec<String>>>;

/// A [`RunEnv`] over the test simulator's credentials and clock, logging into `log`.
pub fn run_env(env: &Env, log: &Log, faults: FailPoints) -> RunEnv {
    let cio = env.cio.clone();
    let sink = log.clone();
    RunEnv {
        new_shell: Arc::new(move || -> Result<Shell, CliError> {
            let mut shell = Shell::new(
                new_session(&cio),
                cio.clone(),
                PrintOptions {
                    quiet: true,
                    ..PrintOptions::default()
                },
            );
            shell.exec = ExecOptions::default();
            Ok(shell)
        }),
        clock: env.clock.clone(),
        log: Arc::new(move |m: &str| sink.lock().unwrap().push(m.to_string())),
        faults: Arc::new(faults),
    }
}

/// The log as one text.
pub fn log_text(log: &Log) -> String {
    log.lock().unwrap().join("\n")
}

//! `cio-sql`: SQL over Customer.io reports: an interactive shell, `-c`/`-f` scripts (SQL and
//! Switchboard `download` statements), and `cio-sql schedule` for daily ingestion.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use cio_sql::exec::{ExecOptions, Interrupt};
use cio_sql::ingest::{self, FailPoints, IngestJob, RunEnv, RunError};
use cio_sql::output::Format;
use cio_sql::parse_workspace_arg;
use cio_sql::schedule::{self, DailySchedule, SchedulerOptions, SystemWaiter};
use cio_sql::{CliError, PrintOptions, Shell, new_session, repl};
use clap::{Args as ClapArgs, Parser, Subcommand};
use customerio_sim::{SimConfig, Simulator};
use datafusion_customerio::CustomerIo;
use datafusion_customerio::clock::{Clock, SystemClock};
use datafusion_customerio::credentials::{Credential, Credentials};
use datafusion_customerio::workspaces::register_workspace;

/// The demo script, run by `--demo` when no -c or -f is given.
const DEMO_SQL: &str = include_str!("../sql/demo.sql");

/// Exit status when another run holds (or committed) the run date.
const EXIT_BUSY: u8 = 3;
/// Exit status after Ctrl-C.
const EXIT_INTERRUPTED: u8 = 130;

#[derive(Parser, Debug)]
#[command(
    name = "cio-sql",
    version,
    about = "SQL over Customer.io reports (Apache DataFusion)",
    after_help = "With no -c or -f, an interactive shell starts (\\? for its commands)."
)]
struct Args {
    #[command(subcommand)]
    command: Option<Command>,
    /// Run this SQL (repeatable; runs in order, before -f files).
    #[arg(short = 'c', long = "command", value_name = "SQL")]
    commands: Vec<String>,
    /// Run the SQL or Switchboard script in this file (repeatable).
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    files: Vec<PathBuf>,
    #[command(flatten)]
    common: Common,
    /// Output format: table, csv, json, ndjson.
    #[arg(long, default_value = "table")]
    format: Format,
    /// Rows shown at most per query in table format.
    #[arg(long, default_value_t = 40)]
    maxrows: usize,
    /// No row counts, timings or notices.
    #[arg(short, long)]
    quiet: bool,
    /// Run a datafusion-distributed worker (needs the `distributed` feature): it executes the
    /// stages a coordinator (`--workers`) sends, resolving credential names from its own
    /// environment and credentials file. Stops on Ctrl-C or SIGTERM.
    #[arg(long, conflicts_with_all = ["commands", "files", "demo", "workers"])]
    worker: bool,
    /// The worker's port (0 picks a free one; the address is printed on stdout).
    #[arg(long, default_value_t = 50051, requires = "worker")]
    port: u16,
    /// The worker's address to listen on.
    #[arg(
        long,
        default_value = "127.0.0.1",
        requires = "worker",
        value_name = "IP"
    )]
    bind: std::net::IpAddr,
    /// The worker's TLS certificate chain (PEM); with --tls-key, the worker serves TLS only.
    #[arg(long, value_name = "FILE", requires_all = ["worker", "tls_key"])]
    tls_cert: Option<PathBuf>,
    /// The private key (PEM) of --tls-cert.
    #[arg(long, value_name = "FILE", requires_all = ["worker", "tls_cert"])]
    tls_key: Option<PathBuf>,
    /// Let a worker listen on a non-loopback address without a worker token: anyone who
    /// reaches the port can then read every workspace it holds keys for.
    #[arg(long, requires = "worker")]
    insecure: bool,
}

#[derive(ClapArgs, Debug)]
struct Common {
    /// Start the embedded Customer.io simulator: credentials and schemas `sim_us` and `sim_eu`
    /// (and the credential `customerio_key`, the same workspace as sim_us, for the Switchboard
    /// samples); with no -c or -f, run the demo script, then open the shell.
    #[arg(long, global = true)]
    demo: bool,
    /// The credentials file (TOML: [name] api_key = "...", region = "us"|"eu").
    #[arg(long, env = "CIO_CREDENTIALS", value_name = "FILE", global = true)]
    credentials: Option<PathBuf>,
    /// A schema NAME holding every report read with the credential KEYREF (repeatable).
    /// Every entry of the credentials file is a schema too.
    #[arg(long = "workspace", value_name = "NAME=KEYREF", global = true)]
    workspaces: Vec<String>,
    /// Coordinate datafusion-distributed workers at these addresses (host:port or
    /// http://host:port, comma-separated; needs the `distributed` feature): stages of each
    /// query run on them.
    #[arg(long, value_name = "URL,...", global = true)]
    workers: Option<String>,
    /// The file holding the worker token (default: the environment variable
    /// CIO_WORKER_TOKEN). Workers refuse calls without it; coordinators send it.
    #[arg(long, value_name = "FILE", global = true)]
    token_file: Option<PathBuf>,
    /// Reach the workers over TLS, trusting only this CA certificate (PEM): with --workers, the
    /// coordinator's calls; with --worker, a worker's calls to the others (a query with a stage
    /// boundary between workers).
    #[arg(long, value_name = "FILE", global = true)]
    tls_ca: Option<PathBuf>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run an ingestion script once a day (or once with --once), committing each date's
    /// outputs all or nothing.
    Schedule(ScheduleArgs),
}

#[derive(ClapArgs, Debug)]
struct ScheduleArgs {
    /// The script: SQL and download statements, writing with COPY (...) TO '<url>' STORED AS
    /// PARQUET; URLs may use ${run_date} and ${run_ts}, and queries ${last_run_ts},
    /// ${this_run_ts} and ${last_run_date} (the run's window, for incremental loads).
    #[arg(long = "file", short = 'f', value_name = "FILE")]
    file: PathBuf,
    /// Local time of the daily run.
    #[arg(long, default_value = "06:00", value_name = "HH:MM")]
    at: String,
    /// Time zone of --at (IANA name).
    #[arg(long, default_value = "America/Los_Angeles", value_name = "ZONE")]
    tz: String,
    /// Run once now and exit.
    #[arg(long)]
    once: bool,
    /// With --once: the run date (default: today in --tz).
    #[arg(long, value_name = "YYYY-MM-DD", requires = "once")]
    date: Option<String>,
    /// Where commit markers, leases and staging files go (default: _cio_sql/ in the folder
    /// the outputs share).
    #[arg(long, value_name = "URL")]
    state: Option<String>,
    /// The job's name in the state folder (default: the file's stem).
    #[arg(long)]
    job: Option<String>,
    /// Seconds a run's lease lasts without renewal (it is renewed every third of it).
    #[arg(long, default_value_t = 600, value_name = "SECS")]
    lease: u64,
    /// At start, do not run the latest due date when it is not committed.
    #[arg(long)]
    no_catch_up: bool,
    /// Tries again after a failed run, at most this many times per date.
    #[arg(long, default_value_t = 3)]
    retries: u32,
    /// Minutes between tries.
    #[arg(long, default_value_t = 30, value_name = "MINUTES")]
    retry_delay: u64,
    /// How far behind its scheduled time a run's window (${last_run_ts} to ${this_run_ts})
    /// ends, so that data arriving late by up to this much is still read: 0s, 90s, 15m, 1h.
    #[arg(long, default_value = "1h", value_name = "DURATION")]
    lookback: String,
    /// Where the first run's window starts (RFC 3339 or YYYY-MM-DD, UTC); by default the first
    /// run reads nothing older than its own window end.
    #[arg(long, value_name = "TIME")]
    since: Option<String>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_env("CIO_LOG"))
        .with_writer(std::io::stderr)
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("Error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let code = runtime.block_on(run(args));
    // Blocking readers (the shell's stdin) must not hold the process open.
    runtime.shutdown_timeout(Duration::from_millis(100));
    code
}

/// The credentials, the simulator (with --demo) and the schemas to register.
struct Setup {
    cio: CustomerIo,
    workspaces: Vec<(String, String)>,
    // Without the feature, `--workers` fails in `setup`, so this stays `None`.
    #[cfg_attr(not(feature = "distributed"), allow(dead_code))]
    workers: Option<Workers>,
    _sim: Option<Simulator>,
}

#[cfg(feature = "distributed")]
type Workers = (Vec<url::Url>, cio_sql::worker::WorkerChannels);
#[cfg(not(feature = "distributed"))]
type Workers = ();

#[cfg(not(feature = "distributed"))]
const NOT_DISTRIBUTED: &str = "this cio-sql was built without the `distributed` feature; build \
     it with `cargo build --release --features distributed` to use --worker and --workers";

/// The parsed `--workers` list.
#[cfg(feature = "distributed")]
type WorkerUrls = Vec<url::Url>;
#[cfg(not(feature = "distributed"))]
type WorkerUrls = ();

fn parse_workers(list: &str) -> Result<WorkerUrls, CliError> {
    #[cfg(feature = "distributed")]
    {
        cio_sql::worker::parse_workers(list).map_err(|e| CliError::msg(format!("--{e}")))
    }
    #[cfg(not(feature = "distributed"))]
    {
        let _ = list;
        Err(CliError::msg(NOT_DISTRIBUTED))
    }
}

/// `--workers`, and the channels that carry the worker token and trust `--tls-ca`.
fn workers_with_channels(common: &Common, list: &str) -> Result<Workers, CliError> {
    #[cfg(feature = "distributed")]
    {
        use cio_sql::worker as d;
        let urls = parse_workers(list)?;
        let token = d::load_token(common.token_file.as_deref())
            .map_err(|e| CliError::msg(e.to_string()))?;
        let ca = common
            .tls_ca
            .as_deref()
            .map(|path| d::read_pem("--tls-ca", path))
            .transpose()
            .map_err(|e| CliError::msg(e.to_string()))?;
        Ok((urls, d::WorkerChannels::new(token, ca)))
    }
    #[cfg(not(feature = "distributed"))]
    {
        let _ = common;
        parse_workers(list)
    }
}

async fn setup(common: &Common, quiet: bool) -> Result<Setup, CliError> {
    let credentials = match &common.credentials {
        Some(path) => Credentials::with_file(path),
        None => Credentials::from_env(),
    };
    let cio = CustomerIo::with_credentials(credentials);
    // Every entry of the credentials file is a schema (before the demo adds its own).
    let mut workspaces: Vec<(String, String)> = match cio.credentials().names() {
        Ok(names) => names.into_iter().map(|n| (n.clone(), n)).collect(),
        Err(e) => {
            eprintln!("warning: {e}");
            Vec::new()
        }
    };
    let sim = if common.demo {
        let sim = Simulator::start(SimConfig::default())
            .await
            .map_err(|e| CliError::msg(format!("cannot start the simulator: {e}")))?;
        let us = Credential::new("sim-us-key").with_base_url(sim.us_url());
        cio.credentials().insert("sim_us", us.clone());
        cio.credentials().insert("customerio_key", us);
        cio.credentials().insert(
            "sim_eu",
            Credential::new("sim-eu-key").with_base_url(sim.eu_url()),
        );
        workspaces.push(("sim_us".into(), "sim_us".into()));
        workspaces.push(("sim_eu".into(), "sim_eu".into()));
        if !quiet {
            eprintln!(
                "Demo: simulated Customer.io at {} (sim_us) and {} (sim_eu)",
                sim.us_url(),
                sim.eu_url()
            );
        }
        Some(sim)
    } else {
        None
    };
    for w in &common.workspaces {
        let (name, key) =
            parse_workspace_arg(w).map_err(|e| CliError::msg(format!("--workspace: {e}")))?;
        workspaces.retain(|(n, _)| *n != name);
        workspaces.push((name, key));
    }
    let workers = match common.workers.as_deref() {
        Some(list) => Some(workers_with_channels(common, list)?),
        None => None,
    };
    Ok(Setup {
        cio,
        workspaces,
        workers,
        _sim: sim,
    })
}

/// The response cache's time to live in the shell, `-c` and `-f` (`SET customerio.cache_ttl`
/// changes it; a table's `cache_ttl` option wins).
const SHELL_CACHE_TTL: &str = "5m";

fn shell(setup: &Setup, print: PrintOptions, cache_ttl: &str) -> Result<Shell, CliError> {
    #[cfg(feature = "distributed")]
    let ctx = match &setup.workers {
        Some((urls, channels)) => {
            cio_sql::new_distributed_session_with(&setup.cio, urls.clone(), channels.clone())
        }
        None => new_session(&setup.cio),
    };
    #[cfg(not(feature = "distributed"))]
    let ctx = new_session(&setup.cio);
    ctx.state_ref()
        .write()
        .config_mut()
        .options_mut()
        .set("customerio.cache_ttl", cache_ttl)
        .map_err(|e| CliError::msg(e.to_string()))?;
    for (name, key) in &setup.workspaces {
        if let Err(e) = register_workspace(&ctx, &setup.cio, name, key) {
            eprintln!("warning: {e}");
        }
    }
    Ok(Shell::new(ctx, setup.cio.clone(), print))
}

async fn run(args: Args) -> ExitCode {
    if args.common.tls_ca.is_some() && !args.worker && args.common.workers.is_none() {
        return fail(&CliError::msg(
            "--tls-ca is the CA of the workers: give it with --workers (the coordinator) or \
             --worker (a worker calling the others)",
        ));
    }
    match &args.command {
        Some(Command::Schedule(s)) => return run_schedule(&args, s).await,
        None => {}
    }
    if args.worker {
        return match run_worker(&args).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => fail(&e),
        };
    }
    let setup = match setup(&args.common, args.quiet).await {
        Ok(s) => s,
        Err(e) => return fail(&e),
    };
    let print = PrintOptions {
        format: args.format,
        max_rows: args.maxrows,
        quiet: args.quiet,
    };
    let mut shell = match shell(&setup, print, SHELL_CACHE_TTL) {
        Ok(s) => s,
        Err(e) => return fail(&e),
    };
    let interrupt = match Interrupt::install(false) {
        Ok(i) => i,
        Err(e) => return fail(&CliError::msg(format!("cannot listen for Ctrl-C: {e}"))),
    };
    shell.exec = ExecOptions {
        interrupt: Some(interrupt),
        progress: ExecOptions::progress_default(),
    };

    let mut scripts: Vec<(String, Option<String>)> =
        args.commands.iter().map(|c| (c.clone(), None)).collect();
    for f in &args.files {
        match std::fs::read_to_string(f) {
            Ok(text) => scripts.push((text, Some(f.display().to_string()))),
            Err(e) => return fail(&CliError::msg(format!("cannot read {}: {e}", f.display()))),
        }
    }
    let open_shell = scripts.is_empty();
    if open_shell && args.common.demo {
        // `--demo` alone: the demo script, then the shell with its schemas.
        scripts.push((DEMO_SQL.to_string(), Some("sql/demo.sql".into())));
    }
    for (text, source) in &scripts {
        match shell.run_script(text, source.as_deref()).await {
            Ok(()) => {}
            Err(CliError::Cancelled) => {
                eprintln!("Cancelled.");
                return ExitCode::from(EXIT_INTERRUPTED);
            }
            Err(e) => return fail(&e),
        }
    }
    if open_shell {
        return match repl::run(shell, repl::history_path()).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => fail(&e),
        };
    }
    ExitCode::SUCCESS
}

/// `--worker`: serves stages until Ctrl-C or SIGTERM.
async fn run_worker(args: &Args) -> Result<(), CliError> {
    #[cfg(feature = "distributed")]
    {
        use cio_sql::worker as d;
        let setup = setup(&args.common, true).await?;
        let token = d::load_token(args.common.token_file.as_deref())
            .map_err(|e| CliError::msg(format!("--worker: {e}")))?;
        if !args.bind.is_loopback() {
            if token.is_none() && !args.insecure {
                return Err(CliError::msg(format!(
                    "--worker: refusing to listen on {} without a worker token: anyone who \
                     reaches the port could read every workspace this worker holds keys for. \
                     Set the environment variable {} or --token-file FILE (and give the \
                     coordinator the same token), or pass --insecure to listen without one",
                    args.bind,
                    d::TOKEN_ENV
                )));
            }
            if token.is_none() {
                eprintln!(
                    "warning: --insecure: this worker listens on {} without a worker token; \
                     anyone who reaches the port can read every workspace it holds keys for",
                    args.bind
                );
            } else if args.tls_cert.is_none() {
                eprintln!(
                    "warning: this worker listens on {} without TLS: the worker token and \
                     the rows cross the network in clear text; add --tls-cert and --tls-key",
                    args.bind
                );
            }
        }
        let tls = match (&args.tls_cert, &args.tls_key) {
            (Some(cert), Some(key)) => Some((
                d::read_pem("--tls-cert", cert).map_err(|e| CliError::msg(e.to_string()))?,
                d::read_pem("--tls-key", key).map_err(|e| CliError::msg(e.to_string()))?,
            )),
            _ => None,
        };
        let scheme = if tls.is_some() { "https" } else { "http" };
        let peer_ca = args
            .common
            .tls_ca
            .as_deref()
            .map(|path| d::read_pem("--tls-ca", path))
            .transpose()
            .map_err(|e| CliError::msg(e.to_string()))?;
        let security = d::WorkerSecurity {
            token,
            tls,
            peer_ca,
        };
        let addr = std::net::SocketAddr::new(args.bind, args.port);
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|e| CliError::msg(format!("--worker: cannot listen on {addr}: {e}")))?;
        let addr = listener
            .local_addr()
            .map_err(|e| CliError::msg(format!("--worker: {e}")))?;
        datafusion_customerio::client::set_instance_label(format!("worker {addr}"));
        println!("cio-sql worker listening on {scheme}://{addr}");
        use std::io::Write as _;
        let _ = std::io::stdout().flush();
        let stop = async {
            #[cfg(unix)]
            {
                use tokio::signal::unix::{SignalKind, signal};
                match signal(SignalKind::terminate()) {
                    Ok(mut term) => {
                        tokio::select! {
                            _ = tokio::signal::ctrl_c() => {}
                            _ = term.recv() => {}
                        }
                    }
                    Err(_) => {
                        let _ = tokio::signal::ctrl_c().await;
                    }
                }
            }
            #[cfg(not(unix))]
            {
                let _ = tokio::signal::ctrl_c().await;
            }
        };
        cio_sql::worker::serve_worker(setup.cio, listener, security, stop)
            .await
            .map_err(|e| CliError::msg(e.to_string()))
    }
    #[cfg(not(feature = "distributed"))]
    {
        let _ = args;
        Err(CliError::msg(NOT_DISTRIBUTED))
    }
}

fn fail(e: &CliError) -> ExitCode {
    eprintln!("Error: {e}");
    ExitCode::FAILURE
}

async fn run_schedule(args: &Args, s: &ScheduleArgs) -> ExitCode {
    match schedule_inner(args, s).await {
        Ok(code) => code,
        Err(e) => fail(&e),
    }
}

async fn schedule_inner(args: &Args, s: &ScheduleArgs) -> Result<ExitCode, CliError> {
    let when = DailySchedule::parse(&s.at, &s.tz).map_err(CliError::msg)?;
    let template = std::fs::read_to_string(&s.file)
        .map_err(|e| CliError::msg(format!("cannot read {}: {e}", s.file.display())))?;
    let mut job = IngestJob::new(s.file.display().to_string(), template);
    if let Some(name) = &s.job {
        job.name = name.clone();
    }
    job.state = s.state.clone();
    job.lease = Duration::from_secs(s.lease.max(3));
    job.lookback = humantime::parse_duration(s.lookback.trim()).map_err(|e| {
        CliError::msg(format!(
            "--lookback '{}' is not a duration ({e}); write 0s, 90s, 15m or 1h",
            s.lookback
        ))
    })?;
    if let Some(since) = &s.since {
        let t = DateTime::parse_from_rfc3339(since.trim())
            .map(|t| t.with_timezone(&Utc))
            .or_else(|_| {
                NaiveDate::parse_from_str(since.trim(), "%Y-%m-%d")
                    .map(|d| d.and_time(chrono::NaiveTime::MIN).and_utc())
            })
            .map_err(|_| {
                CliError::msg(format!(
                    "--since '{since}' is not a time; write 2026-11-01 or 2026-11-01T06:00:00Z"
                ))
            })?;
        job.since = Some(t);
    }
    let setup = Arc::new(setup(&args.common, args.quiet).await?);
    // A run never reads an answer from the cache, not even where a table asks for one or the
    // script sets a bound (`SET customerio.cache_max_bytes`); its workers neither.
    setup.cio.cache().disable();
    let interrupt = Interrupt::install(true)
        .map_err(|e| CliError::msg(format!("cannot listen for signals: {e}")))?;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let log_clock = clock.clone();
    let faults = match std::env::var("CIO_SQL_FAIL_AT") {
        Ok(k) => match k.parse::<usize>() {
            Ok(k) if k > 0 => FailPoints::abort_at(k),
            _ => {
                return Err(CliError::msg(
                    "CIO_SQL_FAIL_AT must be a step number from 1",
                ));
            }
        },
        Err(_) => FailPoints::none(),
    };
    let shell_setup = setup.clone();
    let shell_interrupt = interrupt.clone();
    let env = RunEnv {
        new_shell: Arc::new(move || {
            let mut sh = shell(
                &shell_setup,
                PrintOptions {
                    quiet: true,
                    ..PrintOptions::default()
                },
                "0",
            )?;
            sh.exec = ExecOptions {
                interrupt: Some(shell_interrupt.clone()),
                progress: false,
            };
            Ok(sh)
        }),
        clock: clock.clone(),
        log: Arc::new(move |msg: &str| {
            eprintln!(
                "{} {msg}",
                log_clock.now().to_rfc3339_opts(SecondsFormat::Secs, true)
            );
        }),
        faults: Arc::new(faults),
    };

    if s.once {
        let date = match &s.date {
            Some(d) => NaiveDate::parse_from_str(d, "%Y-%m-%d").map_err(|_| {
                CliError::msg(format!("--date '{d}' is not a date; write YYYY-MM-DD"))
            })?,
            None => clock.now().with_timezone(&when.tz).date_naive(),
        };
        let mark = interrupt.mark();
        let result = tokio::select! {
            // The date's scheduled instant (the window ends there, less the lookback), unless
            // that is still ahead.
            r = ingest::run(&job, &env, date, clock.now().min(when.on(date))) => r,
            _ = interrupt.after(mark) => {
                eprintln!("Interrupted: nothing committed for {date}.");
                return Ok(ExitCode::from(EXIT_INTERRUPTED));
            }
        };
        return Ok(match result {
            Ok(_) => ExitCode::SUCCESS,
            Err(RunError::Busy(m)) => {
                eprintln!("Error: {m}");
                ExitCode::from(EXIT_BUSY)
            }
            Err(RunError::Failed(CliError::Cancelled)) => {
                eprintln!("Interrupted: nothing committed for {date}.");
                ExitCode::from(EXIT_INTERRUPTED)
            }
            Err(e) => {
                eprintln!("Error: {e}");
                ExitCode::FAILURE
            }
        });
    }
    let options = SchedulerOptions {
        schedule: when,
        catch_up: !s.no_catch_up,
        retry_delay: Duration::from_secs(s.retry_delay.max(1) * 60),
        retries: s.retries,
        max_runs: None,
    };
    let waiter = SystemWaiter { clock };
    let report = schedule::run_daily(&job, &env, &options, &waiter, Some(&interrupt)).await?;
    Ok(if report.interrupted {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

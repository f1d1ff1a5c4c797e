//! `cio-sql`: SQL over Customer.io reports.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use datafusion::prelude::SessionContext;
use datafusion_customerio::CustomerIo;
use datafusion_customerio::cli::output::Format;
use datafusion_customerio::cli::{PrintOptions, run_sql};
use datafusion_customerio::credentials::{Credential, Credentials};
use datafusion_customerio::simulator::{SimConfig, Simulator};

/// The demo script, run by `--demo` when no -c or -f is given.
const DEMO_SQL: &str = include_str!("../../sql/demo.sql");

#[derive(Parser, Debug)]
#[command(
    name = "cio-sql",
    version,
    about = "SQL over Customer.io reports (Apache DataFusion)"
)]
struct Args {
    /// Run this SQL (repeatable; runs in order, before -f files).
    #[arg(short = 'c', long = "command", value_name = "SQL")]
    commands: Vec<String>,
    /// Run the SQL in this file (repeatable).
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    files: Vec<PathBuf>,
    /// Start the embedded Customer.io simulator and register its credentials `sim_us` and
    /// `sim_eu`; with no -c/-f, run the demo script.
    #[arg(long)]
    demo: bool,
    /// The credentials file (TOML: [name] api_key = "...", region = "us"|"eu").
    #[arg(long, env = "CIO_CREDENTIALS", value_name = "FILE")]
    credentials: Option<PathBuf>,
    /// Output format: table, csv, json, ndjson.
    #[arg(long, default_value = "table")]
    format: Format,
    /// Rows shown at most per query in table format.
    #[arg(long, default_value_t = 40)]
    maxrows: usize,
    /// No row counts or timings.
    #[arg(short, long)]
    quiet: bool,
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
    match runtime.block_on(run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("Error: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    let credentials = match &args.credentials {
        Some(path) => Credentials::with_file(path),
        None => Credentials::from_env(),
    };
    let cio = CustomerIo::with_credentials(credentials);
    let _sim = if args.demo {
        let sim = Simulator::start(SimConfig::default()).await?;
        cio.credentials().insert(
            "sim_us",
            Credential::new("sim-us-key").with_base_url(sim.us_url()),
        );
        cio.credentials().insert(
            "sim_eu",
            Credential::new("sim-eu-key").with_base_url(sim.eu_url()),
        );
        if !args.quiet {
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
    let ctx = SessionContext::new();
    cio.register(&ctx);
    let print = PrintOptions {
        format: args.format,
        max_rows: args.maxrows,
        quiet: args.quiet,
    };

    let mut scripts: Vec<String> = args.commands.clone();
    for f in &args.files {
        scripts.push(
            std::fs::read_to_string(f).map_err(|e| format!("cannot read {}: {e}", f.display()))?,
        );
    }
    if scripts.is_empty() {
        if args.demo {
            scripts.push(DEMO_SQL.to_string());
        } else {
            return Err(
                "nothing to run: give -c SQL, -f FILE or --demo (the interactive shell \
                        is not built yet)"
                    .into(),
            );
        }
    }
    for sql in &scripts {
        run_sql(&ctx, sql, &print).await?;
    }
    Ok(())
}

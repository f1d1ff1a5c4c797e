//! The `cio-sim` command: a local Customer.io App API for demos, tests and benchmarks. The
//! binary calls [`main`]; a benchmark that wants the simulator in a process of its own runs it
//! from its own executable.
//!
//! ```text
//! cio-sim --port 4010                 # US host on 4010, EU host on 4011
//! cio-sim --customers 1000000 --rate-limit 50 --error-5xx-rate 0.05
//! cio-sim --workspaces 8              # sim_ws1..sim_ws8, keys sim-ws1-key..., all US
//! cio-sim --lenient                   # accept requests the vendor contracts refuse
//! ```

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use crate::clock::SystemClock;
use crate::{
    DownloadWhilePending, ExportCompression, ExportConfig, FaultConfig, HeaderCase, LinkIdType,
    MetricsEnd, MetricsTimeFormat, PeopleShape, ShapeConfig, SimConfig, Simulator, StepsMode,
    WorkspaceSpec,
};
use clap::Parser;

/// A local Customer.io App API simulator (US and EU hosts) with deterministic data.
#[derive(Debug, Parser)]
#[command(name = "cio-sim", version)]
struct Args {
    /// Port of the US host; the EU host listens on the next port unless --eu-port is given.
    #[arg(long, default_value_t = 4010)]
    port: u16,
    /// Port of the EU host (default: --port + 1).
    #[arg(long)]
    eu_port: Option<u16>,
    /// Seed of all generated data.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Campaigns per workspace (replaces the default sizes).
    #[arg(long)]
    campaigns: Option<u32>,
    /// Newsletters per workspace.
    #[arg(long)]
    newsletters: Option<u32>,
    /// Tracked links per campaign and newsletter.
    #[arg(long)]
    links: Option<u32>,
    /// Segments per workspace.
    #[arg(long)]
    segments: Option<u32>,
    /// People per workspace (generated on demand; millions are fine).
    #[arg(long)]
    customers: Option<u64>,
    /// N workspaces sim_ws1..sim_wsN (keys sim-ws1-key..., all US); 0 keeps sim_us and sim_eu.
    #[arg(long, default_value_t = 0)]
    workspaces: u32,
    /// Latency added to every /v1 answer, in milliseconds.
    #[arg(long, default_value_t = 0)]
    latency_ms: u64,
    /// Requests per second per workspace.
    #[arg(long, default_value_t = 10.0)]
    rate_limit: f64,
    /// Token bucket capacity (default: the rate, rounded up).
    #[arg(long)]
    burst: Option<u32>,
    /// Share of /v1 requests answered 503.
    #[arg(long, default_value_t = 0.0)]
    error_5xx_rate: f64,
    /// Share of /v1 requests whose connection is reset mid-body.
    #[arg(long, default_value_t = 0.0)]
    reset_rate: f64,
    /// Share of /v1 requests with a truncated body.
    #[arg(long, default_value_t = 0.0)]
    truncate_rate: f64,
    /// Share of /v1 requests with an HTML or half-JSON body.
    #[arg(long, default_value_t = 0.0)]
    malformed_rate: f64,
    /// Delay before sending response headers, in milliseconds (applies to every /v1 request).
    #[arg(long)]
    slow_headers_ms: Option<u64>,
    /// What metrics do with steps out of range: clamp or reject (400).
    #[arg(long, default_value = "clamp", value_parser = parse_steps_mode)]
    steps_out_of_range: StepsMode,
    /// Milliseconds from an export's creation to `done`.
    #[arg(long, default_value_t = 2000)]
    export_ready_ms: u64,
    /// Every export ends `failed`.
    #[arg(long)]
    export_fail: bool,
    /// The /download answer while an export is pending: 404 (errors[] body) or null-url.
    #[arg(long, default_value = "404", value_parser = parse_pending)]
    download_while_pending: DownloadWhilePending,
    /// Lifetime of signed download links, in seconds.
    #[arg(long, default_value_t = 900)]
    url_ttl_secs: u64,
    /// Do not validate requests against the vendor contracts (strict is the default: an unknown
    /// parameter, a bad enum value, a wrong type or a missing required one gets a 400).
    #[arg(long)]
    lenient: bool,
    /// Items of POST /v1/customers/attributes: unwrapped (live), wrapped ({"customer": ...},
    /// the documented example) or mixed (alternating).
    #[arg(long, default_value = "unwrapped", value_parser = parse_switch::<PeopleShape>)]
    people_shape: PeopleShape,
    /// Version-2 campaign metrics start/end: go (`2025-01-01 00:00:00 +0000 UTC`), rfc3339
    /// (`2026-01-01T00:00:00.000Z`) or rfc3339-offset (the same instant at -05:00).
    #[arg(long, default_value = "go", value_parser = parse_switch::<MetricsTimeFormat>)]
    metrics_time_format: MetricsTimeFormat,
    /// Link ids of /metrics/links answers: integer or string.
    #[arg(long, default_value = "integer", value_parser = parse_switch::<LinkIdType>)]
    link_id_type: LinkIdType,
    /// Export files: none (plain CSV), gzip (gzip bytes, no Content-Encoding) or gzip-header
    /// (with Content-Encoding: gzip).
    #[arg(long, default_value = "none", value_parser = parse_switch::<ExportCompression>)]
    export_compression: ExportCompression,
    /// A UTF-8 byte-order mark before the export file's header.
    #[arg(long)]
    export_bom: bool,
    /// The case of the export file's own column names (`id`, `email`, ...): lower or upper;
    /// attribute columns keep their names.
    #[arg(long, default_value = "lower", value_parser = parse_switch::<HeaderCase>)]
    export_header_case: HeaderCase,
    /// Version-2 campaign metrics: exclusive (the buckets that start before `end`) or inclusive
    /// (also the bucket that contains `end`).
    #[arg(long, default_value = "exclusive", value_parser = parse_switch::<MetricsEnd>)]
    metrics_end: MetricsEnd,
}

fn parse_switch<T: std::str::FromStr<Err = String>>(s: &str) -> Result<T, String> {
    s.parse()
}

fn parse_pending(s: &str) -> Result<DownloadWhilePending, String> {
    match s {
        "404" => Ok(DownloadWhilePending::NotFound),
        "null-url" => Ok(DownloadWhilePending::NullUrl),
        _ => Err(format!(
            "'{s}' is not a pending answer; valid values are 404, null-url"
        )),
    }
}

fn parse_steps_mode(s: &str) -> Result<StepsMode, String> {
    s.parse()
}

impl Args {
    fn config(&self) -> SimConfig {
        let mut workspaces = if self.workspaces == 0 {
            vec![WorkspaceSpec::default_us(), WorkspaceSpec::default_eu()]
        } else {
            (1..=self.workspaces).map(WorkspaceSpec::numbered).collect()
        };
        for ws in &mut workspaces {
            ws.campaigns = self.campaigns.unwrap_or(ws.campaigns);
            ws.newsletters = self.newsletters.unwrap_or(ws.newsletters);
            ws.links = self.links.unwrap_or(ws.links);
            ws.segments = self.segments.unwrap_or(ws.segments);
            ws.customers = self.customers.unwrap_or(ws.customers);
        }
        SimConfig {
            seed: self.seed,
            workspaces,
            latency: Duration::from_millis(self.latency_ms),
            rate_limit: self.rate_limit,
            burst: self.burst,
            faults: FaultConfig {
                error_5xx_rate: self.error_5xx_rate,
                reset_rate: self.reset_rate,
                truncate_rate: self.truncate_rate,
                malformed_rate: self.malformed_rate,
                slow_headers: self.slow_headers_ms.map(Duration::from_millis),
                ..FaultConfig::default()
            },
            steps_out_of_range: self.steps_out_of_range,
            clock: Arc::new(SystemClock),
            exports: ExportConfig {
                ready_after: Duration::from_millis(self.export_ready_ms),
                fail: self.export_fail,
                download_while_pending: self.download_while_pending,
                url_ttl: Duration::from_secs(self.url_ttl_secs),
                ..ExportConfig::default()
            },
            strict: !self.lenient,
            shapes: ShapeConfig {
                people: self.people_shape,
                metrics_time: self.metrics_time_format,
                link_ids: self.link_id_type,
                export_compression: self.export_compression,
                export_bom: self.export_bom,
                export_header_case: self.export_header_case,
                metrics_end: self.metrics_end,
            },
        }
    }
}

/// Runs `cio-sim` with the process's arguments until Ctrl-C.
pub fn main() -> ExitCode {
    main_from(std::env::args_os())
}

/// Runs `cio-sim` with `args` (the first is the program name) until Ctrl-C.
pub fn main_from<I, T>(args: I) -> ExitCode
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let args = Args::parse_from(args);
    match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt.block_on(run(args)),
        Err(e) => {
            eprintln!("cio-sim: cannot start a runtime: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> ExitCode {
    let eu_port = match args.eu_port {
        Some(p) => p,
        None if args.port == 0 => 0,
        None => match args.port.checked_add(1) {
            Some(p) => p,
            None => {
                eprintln!(
                    "cio-sim: --port {} leaves no port for the EU host; pass --eu-port",
                    args.port
                );
                return ExitCode::FAILURE;
            }
        },
    };
    let config = args.config();
    let sim = match Simulator::start_on(config.clone(), args.port, eu_port).await {
        Ok(sim) => sim,
        Err(e) => {
            eprintln!(
                "cio-sim: cannot start on ports {} and {eu_port}: {e}",
                args.port
            );
            return ExitCode::FAILURE;
        }
    };
    // The banner; a reader that stops reading (a closed pipe) does not stop the server.
    let mut banner = format!(
        "cio-sim: Customer.io App API simulator (seed {})\n  US host: {}\n  EU host: {}\n  workspaces:\n",
        config.seed,
        sim.us_url(),
        sim.eu_url()
    );
    for ws in &config.workspaces {
        banner.push_str(&format!(
            "    {:<10} key {:<14} region {}  ({} campaigns, {} newsletters, {} segments, {} people)\n",
            ws.name, ws.api_key, ws.region, ws.campaigns, ws.newsletters, ws.segments, ws.customers
        ));
    }
    banner.push_str(&format!(
        "  stats: {}/__sim/stats   (Ctrl-C to stop)\n",
        sim.us_url()
    ));
    {
        use std::io::Write as _;
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(banner.as_bytes()).and_then(|()| out.flush());
    }
    if let Err(e) = tokio::signal::ctrl_c().await {
        eprintln!("cio-sim: cannot wait for Ctrl-C: {e}");
    }
    sim.shutdown().await;
    ExitCode::SUCCESS
}

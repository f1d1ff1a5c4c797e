//! Running one planned statement: Ctrl-C cancels it, a progress line shows the scans' requests
//! and rows on a terminal, and the scans' counters (the EXPLAIN ANALYZE metrics) are returned.

use std::io::{IsTerminal, Write};
use std::sync::Arc;
use std::time::{Duration, Instant};

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::logical_expr::LogicalPlan;
use datafusion::physical_plan::{ExecutionPlan, collect};
use datafusion::prelude::SessionContext;
use tokio::sync::watch;

use super::errors::CliError;

/// Ctrl-C (and, for the scheduler, SIGTERM) as a counter that futures can wait on. Installing
/// it replaces the default "exit at once" behaviour for the rest of the process.
#[derive(Debug, Clone)]
pub struct Interrupt {
    rx: watch::Receiver<u64>,
    tx: Arc<watch::Sender<u64>>,
}

impl Interrupt {
    /// Listens for Ctrl-C (SIGINT), and SIGTERM when `terminate` is set. Must run inside a
    /// tokio runtime. The handlers are in place when this returns.
    pub fn install(terminate: bool) -> std::io::Result<Self> {
        let (tx, rx) = watch::channel(0u64);
        let tx = Arc::new(tx);
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            let mut int = signal(SignalKind::interrupt())?;
            let mut term = if terminate {
                Some(signal(SignalKind::terminate())?)
            } else {
                None
            };
            let sender = tx.clone();
            tokio::spawn(async move {
                loop {
                    let got = match term.as_mut() {
                        Some(t) => tokio::select! { g = int.recv() => g, g = t.recv() => g },
                        None => int.recv().await,
                    };
                    if got.is_none() {
                        break;
                    }
                    sender.send_modify(|n| *n += 1);
                }
            });
        }
        #[cfg(not(unix))]
        {
            let _ = terminate;
            let sender = tx.clone();
            tokio::spawn(async move {
                while tokio::signal::ctrl_c().await.is_ok() {
                    sender.send_modify(|n| *n += 1);
                }
            });
        }
        Ok(Interrupt { rx, tx })
    }

    /// An interrupt that only [`Interrupt::trigger`] fires, for tests and embedding.
    pub fn manual() -> Self {
        let (tx, rx) = watch::channel(0u64);
        Interrupt {
            rx,
            tx: Arc::new(tx),
        }
    }

    /// Fires the interrupt.
    pub fn trigger(&self) {
        self.tx.send_modify(|n| *n += 1);
    }

    /// How many interrupts so far; pass it to [`Interrupt::after`].
    pub fn mark(&self) -> u64 {
        *self.rx.borrow()
    }

    /// Resolves at the first interrupt after `mark`.
    pub async fn after(&self, mark: u64) {
        let mut rx = self.rx.clone();
        if rx.wait_for(|n| *n > mark).await.is_err() {
            // The sender lives as long as `self`: never reached; wait forever to be safe.
            std::future::pending::<()>().await;
        }
    }
}

/// Counters of the Customer.io scans of one statement.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ScanStats {
    /// HTTP requests sent (retries included).
    pub requests: usize,
    /// Requests that were retried.
    pub retries: usize,
    /// 429 answers.
    pub rate_limited: usize,
    /// Response bytes received.
    pub bytes_received: usize,
    /// Rows the scans produced.
    pub rows: usize,
    /// Customer.io scan nodes in the plan.
    pub scans: usize,
}

impl ScanStats {
    /// The counters of every Customer.io scan in `plan`, read while it runs or after.
    pub fn of(plan: &Arc<dyn ExecutionPlan>) -> ScanStats {
        let mut s = ScanStats::default();
        walk(plan, &mut s);
        s
    }

    /// Adds `other` to `self`.
    pub fn add(&mut self, other: &ScanStats) {
        self.requests += other.requests;
        self.retries += other.retries;
        self.rate_limited += other.rate_limited;
        self.bytes_received += other.bytes_received;
        self.rows += other.rows;
        self.scans += other.scans;
    }
}

fn walk(plan: &Arc<dyn ExecutionPlan>, s: &mut ScanStats) {
    if let Some(m) = plan.metrics() {
        let get = |name: &str| m.sum_by_name(name).map(|v| v.as_usize()).unwrap_or(0);
        let requests = m.sum_by_name("requests");
        if requests.is_some() || plan.name().starts_with("CustomerIo") {
            s.scans += 1;
            s.requests += get("requests");
            s.retries += get("retries");
            s.rate_limited += get("rate_limited");
            s.bytes_received += get("bytes_received");
            s.rows += m.output_rows().unwrap_or(0);
        }
    }
    for child in plan.children() {
        walk(child, s);
    }
}

/// The result of one statement.
#[derive(Debug)]
pub struct Outcome {
    /// The result's schema (no fields for DDL).
    pub schema: SchemaRef,
    /// The result.
    pub batches: Vec<RecordBatch>,
    /// Its scans' counters.
    pub stats: ScanStats,
    /// Planning and execution time.
    pub elapsed: Duration,
}

impl Outcome {
    /// Rows in the result.
    pub fn rows(&self) -> usize {
        self.batches.iter().map(|b| b.num_rows()).sum()
    }
}

/// How a statement runs: cancellable, with or without a progress line.
#[derive(Debug, Clone, Default)]
pub struct ExecOptions {
    /// Ctrl-C cancels the statement.
    pub interrupt: Option<Interrupt>,
    /// Show a progress line on stderr.
    pub progress: bool,
}

impl ExecOptions {
    /// The progress line is shown when stderr is a terminal (or `CIO_SQL_PROGRESS=1`), never
    /// when `CIO_SQL_PROGRESS=0`.
    pub fn progress_default() -> bool {
        match std::env::var("CIO_SQL_PROGRESS").as_deref() {
            Ok("1") | Ok("always") => true,
            Ok("0") | Ok("never") => false,
            _ => std::io::stderr().is_terminal(),
        }
    }
}

/// Plans, runs and collects `plan`.
pub async fn run_plan(
    ctx: &SessionContext,
    plan: LogicalPlan,
    opts: &ExecOptions,
) -> Result<Outcome, CliError> {
    let started = Instant::now();
    let mark = opts.interrupt.as_ref().map(|i| i.mark());
    let work = async {
        let df = ctx.execute_logical_plan(plan).await?;
        let schema: SchemaRef = Arc::new(df.schema().as_arrow().clone());
        let physical = df.create_physical_plan().await?;
        Ok::<_, CliError>((schema, physical))
    };
    let (schema, physical) = cancellable(work, opts, mark).await?;
    let task = ctx.task_ctx();
    let run = collect(physical.clone(), task);
    let progress = Progress::new(opts.progress, started);
    let batches = {
        let watched = watch_progress(run, &physical, progress);
        cancellable(async { watched.await.map_err(CliError::from) }, opts, mark).await
    };
    let batches = batches?;
    Ok(Outcome {
        schema,
        batches,
        stats: ScanStats::of(&physical),
        elapsed: started.elapsed(),
    })
}

async fn cancellable<T>(
    work: impl Future<Output = Result<T, CliError>>,
    opts: &ExecOptions,
    mark: Option<u64>,
) -> Result<T, CliError> {
    match (&opts.interrupt, mark) {
        (Some(i), Some(m)) => tokio::select! {
            r = work => r,
            _ = i.after(m) => Err(CliError::Cancelled),
        },
        _ => work.await,
    }
}

async fn watch_progress<T>(
    work: impl Future<Output = T>,
    plan: &Arc<dyn ExecutionPlan>,
    mut progress: Progress,
) -> T {
    if !progress.enabled {
        return work.await;
    }
    tokio::pin!(work);
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    // Dropped with the future on Ctrl-C: the line is cleared then too.
    loop {
        tokio::select! {
            r = &mut work => break r,
            _ = tick.tick() => progress.show(&ScanStats::of(plan)),
        }
    }
}

/// The progress line: shown after the statement has run for a second, redrawn in place.
struct Progress {
    enabled: bool,
    started: Instant,
    shown: bool,
}

impl Progress {
    fn new(enabled: bool, started: Instant) -> Self {
        Progress {
            enabled,
            started,
            shown: false,
        }
    }

    fn show(&mut self, s: &ScanStats) {
        let elapsed = self.started.elapsed();
        if elapsed < Duration::from_secs(1) || s.scans == 0 {
            return;
        }
        let mut err = std::io::stderr().lock();
        let _ = write!(err, "\r\x1b[2K{}", progress_text(s, elapsed));
        let _ = err.flush();
        self.shown = true;
    }

    fn clear(&mut self) {
        if self.shown {
            let mut err = std::io::stderr().lock();
            let _ = write!(err, "\r\x1b[2K");
            let _ = err.flush();
            self.shown = false;
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.clear();
    }
}

/// `… 25 requests, 1,200 rows, 3.2s (Ctrl-C cancels)`.
pub fn progress_text(s: &ScanStats, elapsed: Duration) -> String {
    let mut line = format!(
        "… {} request{}, {} row{}",
        thousands(s.requests),
        plural(s.requests),
        thousands(s.rows),
        plural(s.rows)
    );
    if s.retries > 0 {
        line.push_str(&format!(", {} retried", thousands(s.retries)));
    }
    if s.rate_limited > 0 {
        line.push_str(&format!(", {} rate-limited", thousands(s.rate_limited)));
    }
    line.push_str(&format!(", {:.1}s (Ctrl-C cancels)", elapsed.as_secs_f64()));
    line
}

/// `1234567` as `1,234,567`.
pub fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// `""` for 1, else `"s"`.
pub fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_and_progress_text() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(1234567), "1,234,567");
        let s = ScanStats {
            requests: 25,
            rows: 1200,
            retries: 1,
            scans: 1,
            ..Default::default()
        };
        assert_eq!(
            progress_text(&s, Duration::from_millis(3200)),
            "… 25 requests, 1,200 rows, 1 retried, 3.2s (Ctrl-C cancels)"
        );
    }

    #[tokio::test]
    async fn manual_interrupt_cancels() {
        let i = Interrupt::manual();
        let opts = ExecOptions {
            interrupt: Some(i.clone()),
            progress: false,
        };
        let mark = i.mark();
        let fut = cancellable(
            async {
                tokio::time::sleep(Duration::from_secs(30)).await;
                Ok(())
            },
            &opts,
            Some(mark),
        );
        i.trigger();
        assert_eq!(fut.await, Err(CliError::Cancelled));
    }
}

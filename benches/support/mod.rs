//! Helpers shared by the benchmarks (`mod support;` in each): the machine line, a simulator
//! process, and this process's peak RSS and CPU time from `/proc`.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// `"N cores, <CPU model>"`, for the first line of every report.
pub fn machine() -> String {
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    format!("{cores} cores, {model}")
}

/// Set on a benchmark's own executable started as the simulator ([`start_sim`]).
const AS_SIM: &str = "CIO_BENCH_AS_SIMULATOR";

/// Called first in a benchmark's `main`: when this process was started by [`start_sim`], it
/// serves as `cio-sim` (the same code as the binary, `customerio_sim::cli`) and exits.
#[allow(dead_code)]
pub fn serve_as_simulator_if_asked() {
    if std::env::var_os(AS_SIM).is_some() {
        let args = std::env::args_os().skip(1);
        let code = customerio_sim::cli::main_from(std::iter::once("cio-sim".into()).chain(args));
        std::process::exit(if code == std::process::ExitCode::SUCCESS {
            0
        } else {
            1
        });
    }
}

/// Starts the simulator (`cio-sim`'s code, in this benchmark's own executable, so its memory
/// and CPU are not the benchmark's) on a free port with `args`, and returns it with its US host
/// URL. The caller kills it. The benchmark's `main` calls [`serve_as_simulator_if_asked`] first.
#[allow(dead_code)]
pub fn start_sim(args: &[&str]) -> (Child, String) {
    let exe = std::env::current_exe().expect("the benchmark's executable");
    let mut child = Command::new(exe)
        .env(AS_SIM, "1")
        .args(["--port", "0"])
        .args(args)
        .stdout(Stdio::piped())
        .spawn()
        .expect("cio-sim starts");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    // Keep reading what cio-sim prints, so its stdout never closes under it.
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(u) = line.trim().strip_prefix("US host: ") {
                let _ = tx.send(u.trim().to_string());
            }
        }
    });
    let url = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("cio-sim printed its US host");
    (child, url)
}

/// Peak resident set size of this process (`VmHWM`), in KiB; 0 where `/proc` is missing.
pub fn peak_rss_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}

/// User + system CPU time of this process so far, from `/proc/self/stat` (zero elsewhere).
pub fn process_cpu() -> Duration {
    let ticks = std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|s| {
            // utime and stime are fields 14 and 15; the command name (field 2) may hold spaces.
            let rest = s.rsplit_once(')')?.1.to_string();
            let f: Vec<u64> = rest
                .split_whitespace()
                .skip(11)
                .take(2)
                .filter_map(|v| v.parse().ok())
                .collect();
            (f.len() == 2).then(|| f[0] + f[1])
        })
        .unwrap_or(0);
    // In clock ticks of 1/100 s (USER_HZ) on every common Linux platform.
    Duration::from_millis(ticks * 10)
}

/// The value of the line `name=value` in `text` (what a child run prints), NaN if absent.
pub fn field(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{name}=")))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(f64::NAN)
}

/// What a `--child` run of this bench printed, and how long it took.
pub struct ChildOutput {
    /// Wall time of the whole child process, in seconds.
    pub wall: f64,
    /// Its standard output.
    pub text: String,
}

impl ChildOutput {
    /// The value of its `name=value` line.
    pub fn field(&self, name: &str) -> f64 {
        field(&self.text, name)
    }
}

/// Runs this bench binary again as `--child ARGS...` (a process of its own, so its peak RSS is
/// the measured work's alone); a failed child fails the bench with its output.
pub fn run_child(args: &[&str]) -> ChildOutput {
    let started = std::time::Instant::now();
    let output = Command::new(std::env::current_exe().expect("self"))
        .arg("--child")
        .args(args)
        .output()
        .expect("child runs");
    let wall = started.elapsed().as_secs_f64();
    let text = String::from_utf8_lossy(&output.stdout).to_string();
    assert!(
        output.status.success(),
        "child {args:?} failed: {text}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    ChildOutput { wall, text }
}

/// The least wall time an *evenly paced* client could take for `requests` requests at `rate` per
/// second (one request every `1 / rate`: a client that bursts into the server's token bucket,
/// whose capacity is `ceil(rate)` by default, could go faster at the start), when
/// the first `levels - 1` of them each wait for the previous one's answer (`latency` seconds) and
/// the rest depend on the last of those (a list, then a request per item: `levels` 2). The last
/// request goes no earlier than `(requests - 1) / rate`, and no earlier than `(levels - 1) ×
/// latency + (requests - levels) / rate`; its answer comes one latency later.
pub fn least_possible(requests: u64, levels: u64, latency: f64, rate: f64) -> f64 {
    let levels = levels.clamp(1, requests.max(1));
    let paced = requests.saturating_sub(1) as f64 / rate;
    let chained = (levels - 1) as f64 * latency + requests.saturating_sub(levels) as f64 / rate;
    paced.max(chained) + latency
}

/// Runs a customers export of everyone (with `attributes`) through the API by hand, as a plain
/// HTTP client would (create, download link, file), and saves the file to `path`; returns its
/// size. The simulator must have the export ready at once (`--export-ready-ms 0`).
pub async fn download_customers_export(
    url: &str,
    key: &str,
    attributes: &[&str],
    path: &std::path::Path,
) -> u64 {
    use std::io::Write;
    let http = reqwest::Client::new();
    let body = serde_json::json!({
        "filters": {"and": [{"attribute": {"field": "cio_id", "operator": "exists"}}]},
        "attributes": attributes,
    });
    let created: serde_json::Value = http
        .post(format!("{url}/v1/exports/customers"))
        .bearer_auth(key)
        .json(&body)
        .send()
        .await
        .expect("create")
        .json()
        .await
        .expect("json");
    let id = created["export"]["id"].as_i64().expect("export id");
    let link: serde_json::Value = http
        .get(format!("{url}/v1/exports/{id}/download"))
        .bearer_auth(key)
        .send()
        .await
        .expect("link")
        .json()
        .await
        .expect("json");
    let file_url = link["url"].as_str().expect("url").to_string();
    let mut resp = http.get(file_url).send().await.expect("file");
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).expect("csv file"));
    let mut n = 0u64;
    while let Some(chunk) = resp.chunk().await.expect("chunk") {
        f.write_all(&chunk).expect("write");
        n += chunk.len() as u64;
    }
    f.flush().expect("flush");
    n
}

//! Decoding benchmark (not a test: it reports). The connector's own decoders on bytes already in
//! memory or on local disk, against a reference decoder on the same bytes in the same run:
//!
//! - JSON answers to Arrow: campaign metrics (version 2) with link metrics, newsletter metrics
//!   (version 1) with link metrics, and `POST /v1/customers/attributes` pages, as the reports
//!   decode them, against arrow-json's `Decoder` with an equivalent schema.
//! - A customers export CSV to Arrow, and to Parquet (row groups of 122,880 rows, as the export
//!   bench), against DuckDB's `read_csv` (Python package, run as a child process). Like for
//!   like: the same 8 text columns (checked in the files written), the same codec, level and row
//!   groups, 2 threads on both sides, both timed from process start to exit; then each side's
//!   defaults (DataFusion's, `cio-sql`'s, DuckDB's).
//!
//! The bodies and the CSV come from the in-process simulator, fetched once before timing.
//!
//! Run: `cargo bench --bench decode` (`-- --quick` for a small smoke run, `-- --only WORD` for
//! the workloads whose name holds WORD, e.g. `customers`, `JSON`, `CSV`). For experiments with the
//! Parquet write: `DECODE_BENCH_SETTINGS='key=value;...'` adds DataFusion settings, and
//! `DECODE_BENCH_INLINE=1` reads the file in the writer's task instead of a blocking thread.

use std::io::Read;
use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use cio_sql as cli;
use customerio_sim::{ExportConfig, SimConfig, Simulator, WorkspaceSpec};
use datafusion::arrow::array::{Array, ListArray, RecordBatch};
use datafusion::arrow::datatypes::{DataType, Field, Fields, Schema, SchemaRef, TimeUnit};
use datafusion::arrow::json::ReaderBuilder as JsonReaderBuilder;
use datafusion::catalog::streaming::StreamingTable;
use datafusion::execution::TaskContext;
use datafusion::physical_plan::SendableRecordBatchStream;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::streaming::PartitionStream;
use datafusion::prelude::{SessionConfig, SessionContext};
use datafusion_customerio::api::{LINK_METRICS, SERIES_METRICS};
use datafusion_customerio::options::MetricOptions;
use datafusion_customerio::reports::customers::{CustomersReport, local::people_batch};
use datafusion_customerio::reports::exports::{ExportFileReader, ExportKind};
use datafusion_customerio::reports::metrics::MetricKind;
use datafusion_customerio::reports::metrics::local::{ItemDecoder, links_query, metrics_query};

#[allow(dead_code)] // each bench uses some of the helpers
mod support;

/// Parquet row groups: DuckDB's default, and the export bench's setting.
const ROW_GROUP: usize = cli::PARQUET_ROW_GROUP;
/// The attribute columns of the export file (as the export bench).
const ATTRIBUTES: [&str; 5] = ["plan", "country", "first_name", "last_name", "created_at"];
const KEY: &str = "sim-bench-key";

/// Sizes of a run.
struct Sizes {
    campaigns: u32,
    newsletters: u32,
    people: u64,
    export_rows: u64,
    /// Timed rounds per JSON decoder (the median is reported), and the least time per round.
    rounds: usize,
    round: Duration,
    /// Runs per CSV workload (the median is reported).
    csv_runs: usize,
    /// `--only WORD`: only the workloads whose name holds it (`JSON`, `CSV`, `customers`, ...).
    only: Option<String>,
}

impl Sizes {
    fn wants(&self, workload: &str) -> bool {
        self.only
            .as_ref()
            .is_none_or(|w| workload.to_lowercase().contains(&w.to_lowercase()))
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--child") {
        child(&args[i + 1..]);
        return;
    }
    let quick = args.iter().any(|a| a == "--quick");
    let only = args
        .iter()
        .position(|a| a == "--only")
        .and_then(|i| args.get(i + 1).cloned());
    let mut sizes = if quick {
        Sizes {
            campaigns: 20,
            newsletters: 10,
            people: 1_000,
            export_rows: 100_000,
            rounds: 3,
            round: Duration::from_millis(50),
            csv_runs: 1,
            only: None,
        }
    } else {
        Sizes {
            campaigns: 300,
            newsletters: 150,
            people: 20_000,
            export_rows: 1_000_000,
            rounds: 7,
            round: Duration::from_millis(300),
            csv_runs: 3,
            only: None,
        }
    };
    sizes.only = only;
    let dir = std::env::temp_dir().join(format!("cio-decode-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let csv = dir.join("customers.csv");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let fetched = Instant::now();
    let pages = rt.block_on(fetch(&sizes, &csv));
    println!(
        "machine: {}; inputs fetched from the simulator in {:.1}s",
        support::machine(),
        fetched.elapsed().as_secs_f64()
    );
    drop(rt);

    let mut table = Vec::new();
    json_workloads(&sizes, &pages, &mut table);
    if sizes.wants("CSV export") {
        csv_workloads(&sizes, &csv, &dir, &mut table);
    }
    print_table(&table);
    let _ = std::fs::remove_dir_all(&dir);
}

// ---- inputs -----------------------------------------------------------------------------------

/// Answer bodies, as the simulator sent them.
struct Pages {
    now: DateTime<Utc>,
    /// (id, metrics body, links body).
    campaigns: Vec<(i64, Vec<u8>, Vec<u8>)>,
    newsletters: Vec<(i64, Vec<u8>, Vec<u8>)>,
    /// `POST /v1/customers/attributes` bodies, 100 ids each.
    people: Vec<Vec<u8>>,
}

async fn fetch(sizes: &Sizes, csv: &Path) -> Pages {
    let spec = WorkspaceSpec {
        name: "sim_bench".into(),
        api_key: KEY.into(),
        campaigns: sizes.campaigns,
        newsletters: sizes.newsletters,
        links: 3,
        segments: 8,
        customers: sizes.export_rows.max(sizes.people),
        ..WorkspaceSpec::default_us()
    };
    let config = SimConfig {
        rate_limit: 1e9,
        exports: ExportConfig {
            ready_after: Duration::ZERO,
            ..ExportConfig::default()
        },
        ..SimConfig::with_workspaces(vec![spec])
    };
    let sim = Simulator::start(config).await.expect("simulator starts");
    let url = sim.us_url();
    let http = reqwest::Client::new();
    let get = |path: String, query: Vec<(&'static str, String)>| {
        let req = http
            .get(format!("{url}{path}"))
            .bearer_auth(KEY)
            .query(&query);
        async move {
            let resp = req.send().await.expect("request");
            assert!(resp.status().is_success(), "{path}: {}", resp.status());
            resp.bytes().await.expect("body").to_vec()
        }
    };
    // The queries a scan sends, with the default options (days, 45 steps).
    let o = MetricOptions::default();
    let now = Utc::now();
    let v2 = metrics_query(MetricKind::Campaigns, &o, now);
    let v1 = metrics_query(MetricKind::Newsletters, &o, now);
    let links = links_query(MetricKind::Campaigns, &o);
    let mut campaigns = Vec::new();
    for id in 1..=i64::from(sizes.campaigns) {
        let m = get(format!("/v1/campaigns/{id}/metrics"), v2.clone()).await;
        let l = get(format!("/v1/campaigns/{id}/metrics/links"), links.clone()).await;
        campaigns.push((id, m, l));
    }
    let mut newsletters = Vec::new();
    for id in 1..=i64::from(sizes.newsletters) {
        let m = get(format!("/v1/newsletters/{id}/metrics"), v1.clone()).await;
        let l = get(format!("/v1/newsletters/{id}/metrics/links"), links.clone()).await;
        newsletters.push((id, m, l));
    }
    let mut people = Vec::new();
    let ids: Vec<String> = (1..=sizes.people).map(|i| i.to_string()).collect();
    for chunk in ids.chunks(100) {
        let resp = http
            .post(format!("{url}/v1/customers/attributes"))
            .bearer_auth(KEY)
            .query(&[("id_type", "id")])
            .json(&serde_json::json!({ "ids": chunk }))
            .send()
            .await
            .expect("request");
        assert!(resp.status().is_success(), "attributes: {}", resp.status());
        people.push(resp.bytes().await.expect("body").to_vec());
    }
    if sizes.wants("CSV export") {
        support::download_customers_export(&url, KEY, &ATTRIBUTES, csv).await;
    }
    sim.shutdown().await;
    Pages {
        now,
        campaigns,
        newsletters,
        people,
    }
}

// ---- measuring --------------------------------------------------------------------------------

/// One line of the table.
struct Line {
    workload: &'static str,
    decoder: String,
    bytes: u64,
    rows: u64,
    secs: f64,
    /// (baseline name, its seconds) for the ratio column.
    versus: Option<(String, f64)>,
    note: String,
}

/// Seconds per pass of each decoder (median of `rounds` rounds, the decoders taking turns so
/// that a busy moment of the machine hits them alike), and the rows of the last pass.
fn race(sizes: &Sizes, decoders: &mut [&mut dyn FnMut() -> u64]) -> Vec<(f64, u64)> {
    let mut times: Vec<Vec<f64>> = vec![Vec::new(); decoders.len()];
    let mut rows = vec![0; decoders.len()];
    for d in decoders.iter_mut() {
        d(); // warm-up
    }
    for _ in 0..sizes.rounds {
        for (i, d) in decoders.iter_mut().enumerate() {
            let started = Instant::now();
            let mut passes = 0u32;
            while passes == 0 || started.elapsed() < sizes.round {
                rows[i] = d();
                passes += 1;
            }
            times[i].push(started.elapsed().as_secs_f64() / f64::from(passes));
        }
    }
    times.into_iter().map(median).zip(rows).collect()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    if v.is_empty() {
        f64::NAN
    } else {
        v[v.len() / 2]
    }
}

// ---- JSON -------------------------------------------------------------------------------------

fn list_of(item: DataType) -> DataType {
    DataType::List(Arc::new(Field::new("item", item, true)))
}

/// `{"metric": {"series": {name: [int, ...]}}}` for `metrics`.
fn series_field(metrics: &[&str]) -> Field {
    let series: Fields = metrics
        .iter()
        .map(|m| Field::new(*m, list_of(DataType::Int64), true))
        .collect();
    let metric = Fields::from(vec![Field::new("series", DataType::Struct(series), true)]);
    Field::new("metric", DataType::Struct(metric), true)
}

/// arrow-json's schema of a metrics answer (version 2 has `start`, `end`, `res` besides).
fn metrics_json_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("start", DataType::Utf8, true),
        Field::new("end", DataType::Utf8, true),
        Field::new("res", DataType::Utf8, true),
        series_field(&SERIES_METRICS),
    ]))
}

fn links_json_schema() -> SchemaRef {
    let link = Fields::from(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("href", DataType::Utf8, true),
    ]);
    let entry = Fields::from(vec![
        Field::new("link", DataType::Struct(link), true),
        series_field(&LINK_METRICS),
    ]);
    Arc::new(Schema::new(vec![Field::new(
        "links",
        list_of(DataType::Struct(entry)),
        true,
    )]))
}

fn map_of(value: DataType) -> DataType {
    let entries = Fields::from(vec![
        Field::new("keys", DataType::Utf8, false),
        Field::new("values", value, true),
    ]);
    DataType::Map(
        Arc::new(Field::new("entries", DataType::Struct(entries), false)),
        false,
    )
}

/// arrow-json's schema of a people page: the fields the `customers` columns come from.
fn people_json_schema() -> SchemaRef {
    let identifiers = Fields::from(vec![
        Field::new("id", DataType::Utf8, true),
        Field::new("email", DataType::Utf8, true),
        Field::new("cio_id", DataType::Utf8, true),
    ]);
    let device = Fields::from(vec![
        Field::new("id", DataType::Utf8, true),
        Field::new("platform", DataType::Utf8, true),
        Field::new(
            "last_used",
            DataType::Timestamp(TimeUnit::Second, Some("UTC".into())),
            true,
        ),
    ]);
    let person = Fields::from(vec![
        Field::new("identifiers", DataType::Struct(identifiers), true),
        Field::new("attributes", map_of(DataType::Utf8), true),
        Field::new(
            "timestamps",
            map_of(DataType::Timestamp(TimeUnit::Second, Some("UTC".into()))),
            true,
        ),
        Field::new("unsubscribed", DataType::Boolean, true),
        Field::new("devices", list_of(DataType::Struct(device)), true),
    ]);
    Arc::new(Schema::new(vec![Field::new(
        "customers",
        list_of(DataType::Struct(person)),
        true,
    )]))
}

/// arrow-json decoding one answer body into one row; the rows the report would make of it are
/// the values of the list column `list` (at `path` of nested structs) of that row.
struct JsonPage {
    decoder: datafusion::arrow::json::reader::Decoder,
}

impl JsonPage {
    fn new(schema: SchemaRef) -> Self {
        let decoder = JsonReaderBuilder::new(schema)
            .build_decoder()
            .expect("arrow-json decoder");
        JsonPage { decoder }
    }

    fn decode(&mut self, body: &[u8]) -> RecordBatch {
        let used = self.decoder.decode(body).expect("arrow-json decodes");
        assert_eq!(used, body.len());
        self.decoder
            .flush()
            .expect("arrow-json flushes")
            .expect("one row")
    }
}

/// Values of the list at `path` (struct fields, then a list) of row 0.
fn list_len(batch: &RecordBatch, path: &[&str]) -> usize {
    let mut array = batch.column_by_name(path[0]).expect("column").clone();
    for name in &path[1..] {
        let s = array
            .as_any()
            .downcast_ref::<datafusion::arrow::array::StructArray>()
            .expect("struct");
        array = s.column_by_name(name).expect("field").clone();
    }
    let list = array.as_any().downcast_ref::<ListArray>().expect("list");
    if list.is_null(0) {
        0
    } else {
        list.value_length(0) as usize
    }
}

fn json_workloads(sizes: &Sizes, pages: &Pages, table: &mut Vec<Line>) {
    let o = MetricOptions::default();
    let now = pages.now;
    for (workload, kind, items) in [
        (
            "JSON: campaign metrics v2 + links",
            MetricKind::Campaigns,
            &pages.campaigns,
        ),
        (
            "JSON: newsletter metrics v1 + links",
            MetricKind::Newsletters,
            &pages.newsletters,
        ),
    ] {
        if !sizes.wants(workload) {
            continue;
        }
        let bytes: usize = items.iter().map(|(_, m, l)| m.len() + l.len()).sum();
        // As a scan: one decoder for the report's items (bucket starts are shared).
        let mut ours = || {
            let decoder = ItemDecoder::new(kind, "bench", &o, true);
            let mut rows = 0;
            for (id, m, l) in items {
                let item = (*id, Some(format!("item {id}")), Some("email".to_string()));
                let batch = decoder
                    .decode(item, m, Some(l), now)
                    .expect("the report decodes its answer");
                rows += batch.num_rows() as u64;
            }
            rows
        };
        let (mut metrics, mut links) = (
            JsonPage::new(metrics_json_schema()),
            JsonPage::new(links_json_schema()),
        );
        let mut arrow = || {
            let mut rows = 0;
            for (_, m, l) in items {
                let b = metrics.decode(m);
                rows += list_len(&b, &["metric", "series", "sent"]) as u64;
                let l = links.decode(l);
                assert!(l.num_rows() == 1);
            }
            rows
        };
        let r = race(sizes, &mut [&mut ours, &mut arrow]);
        assert_eq!(
            r[0].1, r[1].1,
            "{workload}: both decoders see the same buckets"
        );
        push_against_arrow_json(
            table,
            workload,
            bytes,
            &r,
            format!(
                "{} items, one row per bucket, {} columns",
                items.len(),
                datafusion_customerio::reports::metrics::schema(kind)
                    .fields()
                    .len()
            ),
            "one row per answer: a list per series",
        );
    }

    let workload = "JSON: customers attributes pages";
    if !sizes.wants(workload) {
        return;
    }
    let report = CustomersReport::new("bench", None).expect("report");
    let bytes: usize = pages.people.iter().map(Vec::len).sum();
    let mut ours = || {
        pages
            .people
            .iter()
            .map(|body| {
                people_batch(&report, body)
                    .expect("the report decodes its answer")
                    .num_rows() as u64
            })
            .sum()
    };
    let mut page = JsonPage::new(people_json_schema());
    let mut arrow = || {
        pages
            .people
            .iter()
            .map(|body| list_len(&page.decode(body), &["customers"]) as u64)
            .sum()
    };
    let r = race(sizes, &mut [&mut ours, &mut arrow]);
    assert_eq!(r[0].1, r[1].1, "both decoders see the same people");
    push_against_arrow_json(
        table,
        workload,
        bytes,
        &r,
        format!("{} pages of 100 ids, 8 columns", pages.people.len()),
        "one row per page: a list of person structs",
    );
}

/// The two lines of a JSON race: ours (`r[0]`) against arrow-json's `Decoder` (`r[1]`).
fn push_against_arrow_json(
    table: &mut Vec<Line>,
    workload: &'static str,
    bytes: usize,
    r: &[(f64, u64)],
    ours_note: String,
    arrow_note: &str,
) {
    table.push(Line {
        workload,
        decoder: "ours (typed serde + Arrow builders)".into(),
        bytes: bytes as u64,
        rows: r[0].1,
        secs: r[0].0,
        versus: Some(("arrow-json".into(), r[1].0)),
        note: ours_note,
    });
    table.push(Line {
        workload,
        decoder: "arrow-json Decoder".into(),
        bytes: bytes as u64,
        rows: r[1].1,
        secs: r[1].0,
        versus: None,
        note: arrow_note.into(),
    });
}

// ---- CSV --------------------------------------------------------------------------------------

/// What a child process measured: rows, the seconds of the work itself, the wall time from the
/// process's start to its exit, and its peak RSS.
struct ChildRun {
    rows: u64,
    secs: f64,
    wall: f64,
    peak_mb: f64,
}

fn run_child(args: &[&str]) -> ChildRun {
    let out = support::run_child(args);
    ChildRun {
        wall: out.wall,
        ..parse_run(&out.text)
    }
}

fn parse_run(text: &str) -> ChildRun {
    ChildRun {
        rows: support::field(text, "rows") as u64,
        secs: support::field(text, "seconds"),
        wall: f64::NAN,
        peak_mb: support::field(text, "peak_rss_kb") / 1024.0,
    }
}

/// Threads on both sides of a like-for-like run: DuckDB's `SET threads`, and ours the tokio
/// runtime's workers and DataFusion's `target_partitions`.
const THREADS: usize = 2;

/// How DuckDB is run: `like` reads every column as text (`all_varchar`, the types ours gives
/// the file's columns) on [`THREADS`] threads; otherwise its own defaults (its type inference and
/// thread count).
#[derive(Clone, Copy)]
struct Duck {
    like: bool,
    /// `COPY` options after `FORMAT parquet` (`None`: into a table in memory).
    parquet: Option<&'static str>,
}

/// DuckDB 2.0.1 (`python3 -m pip install duckdb`), in a child `python3` process, timed from its
/// start (interpreter and `import duckdb` included) to its exit, like ours.
fn duckdb(duck: Duck, csv: &Path, out: &Path) -> Option<ChildRun> {
    let source = if duck.like {
        format!("read_csv('{}', all_varchar = true)", csv.display())
    } else {
        format!("read_csv('{}')", csv.display())
    };
    let statement = match duck.parquet {
        None => format!("CREATE TABLE t AS SELECT * FROM {source}"),
        Some(options) => format!(
            "COPY (SELECT * FROM {source}) TO '{}' (FORMAT parquet, {options})",
            out.display()
        ),
    };
    let threads = if duck.like {
        format!("con.execute('SET threads = {THREADS}')\n")
    } else {
        String::new()
    };
    let script = format!(
        "import duckdb, time, resource\n\
         con = duckdb.connect()\n\
         con.execute('SET enable_progress_bar=false')\n\
         {threads}\
         t = time.time()\n\
         con.execute(\"{statement}\")\n\
         s = time.time() - t\n\
         n = con.execute(\"SELECT count(*) FROM {}\").fetchone()[0]\n\
         print(f'rows={{n}}')\n\
         print(f'seconds={{s}}')\n\
         print(f'peak_rss_kb={{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}}')\n\
         print(f'version={{duckdb.__version__}}')\n",
        match duck.parquet {
            None => "t".to_string(),
            Some(_) => format!("read_parquet('{}')", out.display()),
        }
    );
    let started = Instant::now();
    match Command::new("python3").args(["-c", &script]).output() {
        Ok(o) if o.status.success() => Some(ChildRun {
            wall: started.elapsed().as_secs_f64(),
            ..parse_run(&String::from_utf8_lossy(&o.stdout))
        }),
        Ok(o) => {
            println!(
                "duckdb: failed: {}",
                String::from_utf8_lossy(&o.stderr).trim()
            );
            None
        }
        Err(e) => {
            println!("duckdb: python3 not runnable: {e}");
            None
        }
    }
}

/// The wall time of `python3 -c 'import duckdb'`: what a DuckDB child's wall holds before DuckDB
/// does any work.
fn python_start() -> f64 {
    let started = Instant::now();
    let ok = Command::new("python3")
        .args(["-c", "import duckdb"])
        .output()
        .is_ok_and(|o| o.status.success());
    if ok {
        started.elapsed().as_secs_f64()
    } else {
        f64::NAN
    }
}

fn median_run(runs: Vec<ChildRun>) -> ChildRun {
    let secs = median(runs.iter().map(|r| r.secs).collect());
    let wall = median(runs.iter().map(|r| r.wall).collect());
    let peak_mb = runs.iter().map(|r| r.peak_mb).fold(0.0, f64::max);
    let rows = runs.first().map_or(0, |r| r.rows);
    ChildRun {
        rows,
        secs,
        wall,
        peak_mb,
    }
}

/// A Parquet file's columns (name, physical type, converted type), row groups and rows.
fn parquet_layout(path: &str) -> (Vec<String>, usize, i64) {
    use datafusion::parquet::file::reader::{FileReader, SerializedFileReader};
    let file = std::fs::File::open(path).expect("parquet file");
    let reader = SerializedFileReader::new(file).expect("parquet footer");
    let meta = reader.metadata();
    let columns = meta
        .file_metadata()
        .schema_descr()
        .columns()
        .iter()
        .map(|c| {
            // The converted type, which both writers set (`UTF8`): DuckDB leaves out the newer
            // logical type annotation, DataFusion writes both.
            format!(
                "{} {:?} {:?}",
                c.name(),
                c.physical_type(),
                c.converted_type()
            )
        })
        .collect();
    (
        columns,
        meta.num_row_groups(),
        meta.file_metadata().num_rows(),
    )
}

/// One workload's runs: the child arguments of ours, or a DuckDB run.
enum Run {
    Ours(Vec<String>),
    Duck(Duck),
}

fn csv_workloads(sizes: &Sizes, csv: &Path, dir: &Path, table: &mut Vec<Line>) {
    let bytes = std::fs::metadata(csv).expect("csv").len();
    let file = csv.to_str().expect("utf-8 path").to_string();
    let path = |name: &str| dir.join(name).to_str().expect("utf-8 path").to_string();
    let threads = THREADS.to_string();
    let ours = |out: &str, settings: &str, columns: &str, threads: &str| {
        Run::Ours(
            [
                "ours-parquet",
                &file,
                &path(out),
                settings,
                columns,
                threads,
            ]
            .map(String::from)
            .to_vec(),
        )
    };
    let like_snappy = "COMPRESSION snappy, ROW_GROUP_SIZE 122880";
    let like_zstd = "COMPRESSION zstd, COMPRESSION_LEVEL 3, ROW_GROUP_SIZE 122880";
    let files = file_columns();
    // (name, run, its output file)
    let runs: Vec<(&str, Run, String)> = vec![
        (
            "ours-arrow",
            Run::Ours(vec!["ours-arrow".into(), file.clone()]),
            String::new(),
        ),
        (
            "arrow-csv",
            Run::Ours(vec!["arrow-csv".into(), file.clone()]),
            String::new(),
        ),
        (
            "duck-table",
            Run::Duck(Duck {
                like: true,
                parquet: None,
            }),
            String::new(),
        ),
        (
            "ours-snappy",
            ours("ours-snappy.parquet", "snappy", &files, &threads),
            path("ours-snappy.parquet"),
        ),
        (
            "duck-snappy",
            Run::Duck(Duck {
                like: true,
                parquet: Some(like_snappy),
            }),
            path("duck-snappy.parquet"),
        ),
        (
            "ours-zstd",
            ours("ours-zstd.parquet", "zstd(3)", &files, &threads),
            path("ours-zstd.parquet"),
        ),
        (
            "duck-zstd",
            Run::Duck(Duck {
                like: true,
                parquet: Some(like_zstd),
            }),
            path("duck-zstd.parquet"),
        ),
        (
            "ours-defaults",
            ours("ours-defaults.parquet", "defaults", &files, "defaults"),
            path("ours-defaults.parquet"),
        ),
        (
            "duck-defaults",
            Run::Duck(Duck {
                like: false,
                parquet: Some("ROW_GROUP_SIZE 122880"),
            }),
            path("duck-defaults.parquet"),
        ),
        (
            "ours-cio-sql",
            ours("ours-cio-sql.parquet", "cio-sql", "*", "defaults"),
            path("ours-cio-sql.parquet"),
        ),
    ];
    // Warm the page cache: every reader gets the file from memory.
    let _ = std::fs::read(csv);
    let python = python_start();
    let mut measured: Vec<Vec<ChildRun>> = runs.iter().map(|_| Vec::new()).collect();
    for _ in 0..sizes.csv_runs {
        for (i, (_, run, out)) in runs.iter().enumerate() {
            let r = match run {
                Run::Ours(args) => Some(run_child(
                    &args.iter().map(String::as_str).collect::<Vec<_>>(),
                )),
                Run::Duck(duck) => duckdb(*duck, csv, Path::new(out)),
            };
            measured[i].extend(r);
        }
    }
    let results: Vec<Option<ChildRun>> = measured
        .into_iter()
        .map(|runs| (!runs.is_empty()).then(|| median_run(runs)))
        .collect();
    let get = |name: &str| {
        let i = runs.iter().position(|(n, ..)| *n == name).expect("a run");
        (results[i].as_ref(), runs[i].2.as_str())
    };
    let size = |p: &str| {
        std::fs::metadata(p)
            .map(|m| m.len() as f64 / 1e6)
            .unwrap_or(f64::NAN)
    };
    // The like-for-like pairs write the same columns with the same types.
    for (a, b) in [("ours-snappy", "duck-snappy"), ("ours-zstd", "duck-zstd")] {
        let (Some(_), pa) = get(a) else { continue };
        let (Some(_), pb) = get(b) else { continue };
        let (la, lb) = (parquet_layout(pa), parquet_layout(pb));
        println!(
            "{a}: {} row groups, {} rows; {b}: {} row groups, {} rows; columns: {:?}",
            la.1, la.2, lb.1, lb.2, la.0
        );
        assert_eq!(la.0, lb.0, "{a} and {b} write the same columns and types");
        assert_eq!(la.2, lb.2, "{a} and {b} write the same rows");
    }
    println!(
        "python3 -c 'import duckdb' alone: {python:.3}s (part of every DuckDB wall); {THREADS} threads on both sides of the like-for-like lines"
    );
    let mut push =
        |workload: &'static str, name: &str, label: String, versus: Option<&str>, note: String| {
            let (Some(r), out) = get(name) else { return };
            let versus = versus.and_then(|v| get(v).0.map(|d| (format!("DuckDB ({v})"), d.wall)));
            let file = if out.is_empty() {
                String::new()
            } else {
                format!("{:.0} MB file; ", size(out))
            };
            table.push(Line {
                workload,
                decoder: label,
                bytes,
                rows: r.rows,
                secs: r.wall,
                versus,
                note: format!(
                    "{note}; {file}work alone {:.3}s; peak RSS {:.0} MB",
                    r.secs, r.peak_mb
                ),
            });
        };
    let w = "CSV export → Arrow (wall from process start)";
    push(
        w,
        "ours-arrow",
        "ours (ExportFileReader)".into(),
        Some("duck-table"),
        "12 columns: the file's 8 as text, workspace/segment, the extra map".into(),
    );
    push(
        w,
        "arrow-csv",
        "arrow-csv Reader (text only)".into(),
        None,
        "the parser ours wraps, no conversion".into(),
    );
    push(
        w,
        "duck-table",
        "DuckDB read_csv(all_varchar) → table".into(),
        None,
        format!("the file's 8 columns as VARCHAR, in DuckDB's memory, {THREADS} threads"),
    );
    let w = "CSV export → Parquet, like for like (wall from process start)";
    push(
        w,
        "ours-snappy",
        "ours + DataFusion writer, snappy".into(),
        Some("duck-snappy"),
        format!("the file's 8 columns as text, 122,880-row groups, {THREADS} threads"),
    );
    push(
        w,
        "duck-snappy",
        "DuckDB read_csv(all_varchar) → COPY, snappy".into(),
        None,
        format!("the same columns, types and row groups, {THREADS} threads"),
    );
    push(
        w,
        "ours-zstd",
        "ours + DataFusion writer, zstd(3)".into(),
        Some("duck-zstd"),
        format!("the file's 8 columns as text, 122,880-row groups, {THREADS} threads"),
    );
    push(
        w,
        "duck-zstd",
        "DuckDB read_csv(all_varchar) → COPY, zstd level 3".into(),
        None,
        format!("the same columns, types and row groups, {THREADS} threads"),
    );
    let w = "CSV export → Parquet, each side's defaults (wall from process start)";
    push(
        w,
        "ours-defaults",
        "ours + DataFusion writer, DataFusion's defaults".into(),
        Some("duck-defaults"),
        "zstd(3), row groups up to 1,048,576 rows, threads = cores; the file's 8 columns as text"
            .into(),
    );
    push(
        w,
        "ours-cio-sql",
        format!(
            "ours + DataFusion writer, cio-sql's settings ({}, dictionaries up to {} KiB)",
            cli::PARQUET_COMPRESSION,
            cli::PARQUET_DICTIONARY_LIMIT / 1024
        ),
        Some("duck-defaults"),
        "what cio-sql writes (cli::session_config): all 12 columns".into(),
    );
    push(
        w,
        "duck-defaults",
        "DuckDB read_csv → COPY, its defaults".into(),
        None,
        "its type inference (id, created_at as BIGINT), snappy, its thread count".into(),
    );
}

// ---- children ---------------------------------------------------------------------------------

fn child(args: &[String]) {
    let file = std::fs::File::open(&args[1]).expect("csv file");
    let started = Instant::now();
    let rows = match args[0].as_str() {
        "ours-arrow" => {
            let attributes = ATTRIBUTES.iter().map(|a| a.to_string()).collect();
            let reader = ExportFileReader::new(ExportKind::Customers, "bench", attributes, file);
            let mut rows = 0;
            for batch in reader {
                rows += batch.expect("the export decodes").num_rows();
            }
            rows
        }
        "arrow-csv" => {
            let mut file = file;
            let mut head = [0u8; 4096];
            let n = file.read(&mut head).expect("read");
            let header = head[..n].split(|b| *b == b'\n').next().unwrap_or_default();
            let fields: Vec<Field> = header
                .split(|b| *b == b',')
                .map(|name| Field::new(String::from_utf8_lossy(name), DataType::Utf8, true))
                .collect();
            let file = std::fs::File::open(&args[1]).expect("csv file");
            let reader = datafusion::arrow::csv::ReaderBuilder::new(Arc::new(Schema::new(fields)))
                .with_header(true)
                .with_batch_size(8192)
                .build(file)
                .expect("arrow-csv reader");
            let mut rows = 0;
            for batch in reader {
                rows += batch.expect("arrow-csv decodes").num_rows();
            }
            rows
        }
        "ours-parquet" => {
            let threads = args[5].parse::<usize>().ok();
            let mut rt = tokio::runtime::Builder::new_multi_thread();
            if let Some(n) = threads {
                rt.worker_threads(n);
            }
            let rt = rt.enable_all().build().expect("runtime");
            rt.block_on(to_parquet(file, &args[2], &args[3], &args[4], threads))
        }
        other => panic!("unknown child workload {other}"),
    };
    println!("rows={rows}");
    println!("seconds={}", started.elapsed().as_secs_f64());
    println!("peak_rss_kb={}", support::peak_rss_kb());
}

/// The export file as a one-partition table, read as it streams.
struct ExportPartition {
    schema: SchemaRef,
    reader: Mutex<Option<ExportFileReader<std::fs::File>>>,
}

impl PartitionStream for ExportPartition {
    fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    fn execute(&self, _ctx: Arc<TaskContext>) -> SendableRecordBatchStream {
        let reader = self.reader.lock().ok().and_then(|mut r| r.take());
        let batches = reader
            .into_iter()
            .flatten()
            .map(|b| b.map_err(|e| datafusion::error::DataFusionError::External(Box::new(e))));
        if std::env::var_os("DECODE_BENCH_INLINE").is_some() {
            return Box::pin(RecordBatchStreamAdapter::new(
                self.schema.clone(),
                futures::stream::iter(batches),
            ));
        }
        // The reader is synchronous: it runs on a blocking thread, a few batches ahead of the
        // writer, as a sync reader is run under tokio.
        let (tx, rx) = tokio::sync::mpsc::channel(4);
        tokio::task::spawn_blocking(move || {
            for batch in batches {
                if tx.blocking_send(batch).is_err() {
                    break;
                }
            }
        });
        let stream = futures::stream::unfold(rx, |mut rx| async move {
            rx.recv().await.map(|batch| (batch, rx))
        });
        Box::pin(RecordBatchStreamAdapter::new(self.schema.clone(), stream))
    }
}

impl std::fmt::Debug for ExportPartition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExportPartition").finish_non_exhaustive()
    }
}

/// The columns of the export file itself.
fn file_columns() -> String {
    ["id", "email", "cio_id"]
        .iter()
        .chain(&ATTRIBUTES)
        .copied()
        .collect::<Vec<_>>()
        .join(", ")
}

/// `COPY (SELECT <columns> FROM export) TO out STORED AS PARQUET`, as the export bench writes.
async fn to_parquet(
    file: std::fs::File,
    out: &str,
    compression: &str,
    columns: &str,
    threads: Option<usize>,
) -> usize {
    let attributes = ATTRIBUTES.iter().map(|a| a.to_string()).collect();
    let reader = ExportFileReader::new(ExportKind::Customers, "bench", attributes, file);
    let schema = reader.schema();
    let partition = ExportPartition {
        schema: schema.clone(),
        reader: Mutex::new(Some(reader)),
    };
    let table = StreamingTable::try_new(schema, vec![Arc::new(partition)]).expect("table");
    // `cio-sql`: its whole session configuration (codec, row groups, dictionary limit);
    // `defaults`: DataFusion's; otherwise DataFusion's defaults with the given codec and the same
    // row groups as DuckDB's.
    let mut config = match compression {
        "cio-sql" => cli::session_config(),
        "defaults" => SessionConfig::new(),
        codec => SessionConfig::new()
            .set_usize("datafusion.execution.parquet.max_row_group_size", ROW_GROUP)
            .set_str("datafusion.execution.parquet.compression", codec),
    };
    // For experiments: `DECODE_BENCH_SETTINGS='key=value;key=value'` (DataFusion settings).
    for setting in std::env::var("DECODE_BENCH_SETTINGS")
        .unwrap_or_default()
        .split(';')
    {
        if let Some((k, v)) = setting.split_once('=') {
            config = config.set_str(k.trim(), v.trim());
        }
    }
    if let Some(n) = threads {
        config = config.with_target_partitions(n);
    }
    let ctx = SessionContext::new_with_config(config);
    ctx.register_table("export", Arc::new(table))
        .expect("register");
    let result = ctx
        .sql(&format!(
            "COPY (SELECT {columns} FROM export) TO '{out}' STORED AS PARQUET"
        ))
        .await
        .expect("plan")
        .collect()
        .await
        .expect("copy succeeds");
    datafusion::arrow::util::display::array_value_to_string(result[0].column(0), 0)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

// ---- output -----------------------------------------------------------------------------------

fn print_table(table: &[Line]) {
    println!();
    println!(
        "| workload | decoder | bytes | rows | seconds | MB/s | rows/s | ours / baseline (throughput) | notes |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    for l in table {
        let ratio = match &l.versus {
            Some((name, secs)) => format!("{:.2}x {name}", secs / l.secs),
            None => String::new(),
        };
        println!(
            "| {} | {} | {:.1} MB | {} | {:.4} | {:.1} | {:.0} | {} | {} |",
            l.workload,
            l.decoder,
            l.bytes as f64 / 1e6,
            l.rows,
            l.secs,
            l.bytes as f64 / 1e6 / l.secs,
            l.rows as f64 / l.secs,
            ratio,
            l.note
        );
    }
}

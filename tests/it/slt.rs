//! The SQL logic tests: every `tests/slt/*.slt` file (sqllogictest's format, DataFusion's own
//! convention) run against a simulator with the suite's fixed clock and seed, so results are
//! deterministic. One test per file; a file's failing records are all reported, each with its
//! `file:line`. Values and column types are written the way datafusion-sqllogictest writes them:
//! NULL as `NULL`, an empty string as `(empty)`, floats rounded to 12 decimals without trailing
//! zeros, multi-line cells (EXPLAIN plans) one line a row with leading spaces as `-`; types `B`
//! boolean, `I` integer, `R` float or decimal, `T` text, `D` date or time, `P` timestamp, `?`
//! anything else.
//!
//! `CIO_SLT_COMPLETE=1` rewrites a file's expected output from what the tables return (see
//! tests/slt/README.md); it is never set by CI.

use std::path::PathBuf;
use std::time::Duration;

use async_trait::async_trait;
use customerio_sim::{ExportConfig, Region, SimConfig};
use datafusion::arrow::array::{Array, ArrayRef, AsArray};
use datafusion::arrow::datatypes::{DataType, Float16Type, Float32Type, Float64Type};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::arrow::util::display::{ArrayFormatter, DurationFormat, FormatOptions};
use datafusion::error::DataFusionError;
use datafusion::prelude::{SessionConfig, SessionContext};
use sqllogictest::{
    AsyncDB, ColumnType, DBOutput, Record, Runner, default_normalizer, default_validator,
    parse_with_name, strict_column_validator,
};

use crate::common::*;

/// A result column's type letter, as datafusion-sqllogictest prints them.
#[derive(Debug, Clone, PartialEq, Eq)]
enum SltType {
    Boolean,
    DateTime,
    Timestamp,
    Integer,
    Float,
    Text,
    Another,
}

impl ColumnType for SltType {
    fn from_char(value: char) -> Option<Self> {
        Some(match value {
            'B' => Self::Boolean,
            'D' => Self::DateTime,
            'P' => Self::Timestamp,
            'I' => Self::Integer,
            'R' => Self::Float,
            'T' => Self::Text,
            _ => Self::Another,
        })
    }

    fn to_char(&self) -> char {
        match self {
            Self::Boolean => 'B',
            Self::DateTime => 'D',
            Self::Timestamp => 'P',
            Self::Integer => 'I',
            Self::Float => 'R',
            Self::Text => 'T',
            Self::Another => '?',
        }
    }
}

fn slt_type(data_type: &DataType) -> SltType {
    match data_type {
        DataType::Boolean => SltType::Boolean,
        DataType::Int8
        | DataType::Int16
        | DataType::Int32
        | DataType::Int64
        | DataType::UInt8
        | DataType::UInt16
        | DataType::UInt32
        | DataType::UInt64 => SltType::Integer,
        DataType::Float16
        | DataType::Float32
        | DataType::Float64
        | DataType::Decimal128(_, _)
        | DataType::Decimal256(_, _) => SltType::Float,
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => SltType::Text,
        DataType::Date32 | DataType::Date64 | DataType::Time32(_) | DataType::Time64(_) => {
            SltType::DateTime
        }
        DataType::Timestamp(_, _) => SltType::Timestamp,
        _ => SltType::Another,
    }
}

/// A float as datafusion-sqllogictest writes it: its shortest round-trip decimal text, rounded
/// to 12 decimals (half to even), without trailing zeros: 246701.61 is `246701.61`, 0.1 + 0.2 is
/// `0.3`, 3.0 is `3`. (DataFusion's BigDecimal would write huge integers with an exponent; here
/// they keep their digits.)
fn float_to_str(v: f64) -> String {
    if v.is_nan() {
        return if v.is_sign_positive() { "NaN" } else { "-NaN" }.to_string();
    }
    if v.is_infinite() {
        return if v > 0.0 { "Infinity" } else { "-Infinity" }.to_string();
    }
    // Rust writes f64 without an exponent: digits, maybe a point and more digits.
    let text = v.to_string();
    let (negative, digits) = match text.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, text.as_str()),
    };
    let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
    let mut int_len = int.len();
    let mut kept: Vec<u8> = int.bytes().chain(frac.bytes().take(12)).collect();
    let rest = frac.get(12..).unwrap_or("").as_bytes();
    let round_up = match rest.first() {
        None => false,
        Some(&d) => {
            d > b'5'
                || (d == b'5'
                    && (rest[1..].iter().any(|&b| b != b'0')
                        || kept.last().is_some_and(|&l| (l - b'0') % 2 == 1)))
        }
    };
    if round_up {
        let mut i = kept.len();
        loop {
            if i == 0 {
                kept.insert(0, b'1');
                int_len += 1;
                break;
            }
            i -= 1;
            if kept[i] == b'9' {
                kept[i] = b'0';
            } else {
                kept[i] += 1;
                break;
            }
        }
    }
    let int_part = std::str::from_utf8(&kept[..int_len]).unwrap_or("0");
    let frac_part = std::str::from_utf8(&kept[int_len..])
        .unwrap_or("")
        .trim_end_matches('0');
    let mut out = int_part.to_string();
    if !frac_part.is_empty() {
        out.push('.');
        out.push_str(frac_part);
    }
    if negative && out != "0" {
        out.insert(0, '-');
    }
    out
}

#[test]
fn floats_are_written_like_datafusion_sqllogictest() {
    let cases = [
        (246701.61, "246701.61"),
        (0.1 + 0.2, "0.3"),
        (3.0, "3"),
        (-0.0, "0"),
        (-2.5, "-2.5"),
        (1.0 / 3.0, "0.333333333333"),
        (2.0 / 3.0, "0.666666666667"),
        (9.9999999999999, "10"),
        (-0.0000000000004, "0"),
        (1e-12, "0.000000000001"),
        (0.0000000000005, "0"),
        (0.0000000000015, "0.000000000002"),
        (f64::NAN, "NaN"),
        (f64::NEG_INFINITY, "-Infinity"),
    ];
    for (v, want) in cases {
        assert_eq!(float_to_str(v), want, "{v:?}");
    }
}

fn text_to_str(s: &str) -> String {
    if s.is_empty() {
        "(empty)".to_string()
    } else {
        s.trim_end_matches('\n').to_string()
    }
}

/// One cell as text: NULL, `(empty)`, stable floats, else arrow's display.
fn cell(col: &ArrayRef, row: usize, options: &FormatOptions) -> Result<String, DataFusionError> {
    if col.is_null(row) {
        return Ok("NULL".to_string());
    }
    Ok(match col.data_type() {
        DataType::Boolean => col.as_boolean().value(row).to_string(),
        // f16 and f32 through their shortest text, as datafusion-sqllogictest does: 0.1f32 is
        // `0.1`, not the f64 widening `0.10000000149`.
        DataType::Float16 => float_to_str(
            col.as_primitive::<Float16Type>()
                .value(row)
                .to_string()
                .parse()
                .unwrap(),
        ),
        DataType::Float32 => float_to_str(
            col.as_primitive::<Float32Type>()
                .value(row)
                .to_string()
                .parse()
                .unwrap(),
        ),
        DataType::Float64 => float_to_str(col.as_primitive::<Float64Type>().value(row)),
        DataType::Utf8 => text_to_str(col.as_string::<i32>().value(row)),
        DataType::LargeUtf8 => text_to_str(col.as_string::<i64>().value(row)),
        DataType::Utf8View => text_to_str(col.as_string_view().value(row)),
        DataType::Decimal128(_, _) | DataType::Decimal256(_, _) => {
            let text = ArrayFormatter::try_new(col.as_ref(), options)?
                .value(row)
                .to_string();
            if text.contains('.') {
                text.trim_end_matches('0').trim_end_matches('.').to_string()
            } else {
                text
            }
        }
        _ => ArrayFormatter::try_new(col.as_ref(), options)?
            .value(row)
            .to_string(),
    })
}

/// A row whose last cell holds several lines (an EXPLAIN plan) becomes one row per line, leading
/// spaces written as `-` (sqllogictest compares with whitespace collapsed).
fn expand_row(mut row: Vec<String>, out: &mut Vec<Vec<String>>) {
    let Some(last) = row.pop() else {
        out.push(row);
        return;
    };
    if !last.contains('\n') {
        row.push(last);
        out.push(row);
        return;
    }
    out.push(row);
    for line in last.split('\n') {
        let content = line.trim_start();
        let indent = "-".repeat(line.len() - content.len());
        out.push(vec![format!("{indent}{content}")]);
    }
}

fn rows(batches: &[RecordBatch]) -> Result<Vec<Vec<String>>, DataFusionError> {
    let options = FormatOptions::default().with_duration_format(DurationFormat::Pretty);
    let mut out = Vec::new();
    for batch in batches {
        for row in 0..batch.num_rows() {
            let cells = batch
                .columns()
                .iter()
                .map(|col| cell(col, row, &options))
                .collect::<Result<Vec<_>, _>>()?;
            expand_row(cells, &mut out);
        }
    }
    Ok(out)
}

/// The session under test: a clone of one `SessionContext` (tables persist across records).
struct Session(SessionContext);

#[async_trait]
impl AsyncDB for Session {
    type Error = DataFusionError;
    type ColumnType = SltType;

    async fn run(&mut self, sql: &str) -> Result<DBOutput<SltType>, DataFusionError> {
        let df = self.0.sql(sql).await?;
        let types: Vec<SltType> = df
            .schema()
            .fields()
            .iter()
            .map(|f| slt_type(f.data_type()))
            .collect();
        let batches = df.collect().await?;
        let rows = rows(&batches)?;
        if rows.is_empty() && types.is_empty() {
            Ok(DBOutput::StatementComplete(0))
        } else {
            Ok(DBOutput::Rows { types, rows })
        }
    }

    async fn shutdown(&mut self) {}

    fn engine_name(&self) -> &str {
        "datafusion-customerio"
    }

    async fn sleep(dur: Duration) {
        tokio::time::sleep(dur).await;
    }
}

/// A simulator with both default workspaces (keys of `test`'s own), exports ready at once, and
/// a session with the information schema, 4 target partitions and the tables' factory.
async fn start(test: &str) -> (Env, SessionContext) {
    let config = SimConfig {
        exports: ExportConfig {
            ready_after: Duration::ZERO,
            ..ExportConfig::default()
        },
        ..fast_config(vec![
            workspace(test, "sim_us", Region::Us),
            workspace(test, "sim_eu", Region::Eu),
        ])
    };
    let env = Env::start(config).await;
    let ctx = SessionContext::new_with_config(
        SessionConfig::new()
            .with_information_schema(true)
            .with_target_partitions(4),
    );
    env.cio.register(&ctx);
    (env, ctx)
}

/// Runs `tests/slt/{file}`, every record, and fails naming each failing record's `file:line`.
async fn run(file: &str) {
    let name = format!("tests/slt/{file}");
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(&name);
    let (_env, ctx) = start(&format!("slt_{}", file.trim_end_matches(".slt"))).await;
    let mut runner = Runner::new(move || {
        let ctx = ctx.clone();
        async move { Ok::<_, DataFusionError>(Session(ctx)) }
    });
    runner.with_column_validator(strict_column_validator);

    if std::env::var_os("CIO_SLT_COMPLETE").is_some() {
        runner
            .update_test_file(
                &path,
                " ",
                default_validator,
                default_normalizer,
                strict_column_validator,
            )
            .await
            .unwrap_or_else(|e| panic!("{name}: completion failed: {e}"));
        return;
    }

    let script = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{name}: {e}"));
    let records = parse_with_name::<SltType>(&script, name.as_str())
        .unwrap_or_else(|e| panic!("{name} does not parse: {e}"));
    let mut failures = Vec::new();
    let mut ran = 0;
    for record in records {
        if let Record::Halt { .. } = record {
            break;
        }
        let counts = matches!(record, Record::Statement { .. } | Record::Query { .. });
        if let Err(e) = runner.run_async(record).await {
            failures.push(e.display(false).to_string());
        }
        ran += usize::from(counts);
    }
    assert!(ran > 0, "{name} has no statements or queries");
    assert!(
        failures.is_empty(),
        "{} of {ran} records of {name} failed:\n\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// The files, one test each.
const FILES: [&str; 4] = ["ddl.slt", "pushdown.slt", "results.slt", "schemas.slt"];

#[test]
fn every_slt_file_has_a_test() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/slt");
    let mut on_disk: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".slt"))
        .collect();
    on_disk.sort();
    assert_eq!(
        on_disk, FILES,
        "tests/slt and the tests of tests/it/slt.rs differ"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ddl() {
    run(FILES[0]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pushdown() {
    run(FILES[1]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn results() {
    run(FILES[2]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemas() {
    run(FILES[3]).await;
}

//! Printing record batches as a table, CSV, JSON or NDJSON.

use std::io::Write;
use std::str::FromStr;

use datafusion::arrow::array::Array;
use datafusion::arrow::datatypes::Schema;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::arrow::util::pretty::pretty_format_batches;
use datafusion::error::{DataFusionError, Result as DfResult};

use super::PrintOptions;

/// An output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// A boxed text table.
    Table,
    /// CSV with a header.
    Csv,
    /// One JSON array of objects.
    Json,
    /// One JSON object per line.
    Ndjson,
}

impl FromStr for Format {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "table" => Ok(Format::Table),
            "csv" => Ok(Format::Csv),
            "json" => Ok(Format::Json),
            "ndjson" => Ok(Format::Ndjson),
            _ => Err(format!(
                "'{s}' is not a format; valid values are table, csv, json, ndjson"
            )),
        }
    }
}

/// Prints `batches` to standard output.
pub fn print_batches(
    schema: &Schema,
    batches: &[RecordBatch],
    opts: &PrintOptions,
) -> DfResult<()> {
    let mut out = std::io::stdout().lock();
    match opts.format {
        Format::Table => {
            let total: usize = batches.iter().map(|b| b.num_rows()).sum();
            let mut shown = Vec::new();
            let mut left = opts.max_rows;
            for b in batches {
                if left == 0 {
                    break;
                }
                let n = b.num_rows().min(left);
                shown.push(b.slice(0, n));
                left -= n;
            }
            if shown.is_empty() {
                shown.push(RecordBatch::new_empty(std::sync::Arc::new(schema.clone())));
            }
            let table = pretty_format_batches(&shown)?;
            writeln!(out, "{table}").map_err(io)?;
            if total > opts.max_rows {
                writeln!(
                    out,
                    "({} of {total} rows shown; --maxrows to see more)",
                    opts.max_rows
                )
                .map_err(io)?;
            }
        }
        Format::Csv => {
            let mut w = datafusion::arrow::csv::WriterBuilder::new()
                .with_header(true)
                .build(&mut out);
            for b in batches {
                w.write(&flatten_nested(b)?)?;
            }
        }
        Format::Json => {
            let mut w = datafusion::arrow::json::ArrayWriter::new(&mut out);
            for b in batches {
                w.write(b)?;
            }
            w.finish()?;
            writeln!(out).map_err(io)?;
        }
        Format::Ndjson => {
            let mut w = datafusion::arrow::json::LineDelimitedWriter::new(&mut out);
            for b in batches {
                w.write(b)?;
            }
            w.finish()?;
        }
    }
    out.flush().map_err(io)
}

/// CSV has no nested values: lists, structs and maps become their text (as in the table format).
fn flatten_nested(batch: &RecordBatch) -> DfResult<RecordBatch> {
    use datafusion::arrow::array::{ArrayRef, StringBuilder};
    use datafusion::arrow::datatypes::{DataType, Field};
    use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
    if !batch
        .schema()
        .fields()
        .iter()
        .any(|f| f.data_type().is_nested())
    {
        return Ok(batch.clone());
    }
    let options = FormatOptions::default();
    let mut fields = Vec::new();
    let mut columns: Vec<ArrayRef> = Vec::new();
    for (field, column) in batch.schema().fields().iter().zip(batch.columns()) {
        if field.data_type().is_nested() {
            let formatter = ArrayFormatter::try_new(column.as_ref(), &options)?;
            let mut b = StringBuilder::new();
            for i in 0..column.len() {
                if column.is_null(i) {
                    b.append_null();
                } else {
                    b.append_value(formatter.value(i).to_string());
                }
            }
            fields.push(Field::new(field.name(), DataType::Utf8, true));
            columns.push(std::sync::Arc::new(b.finish()));
        } else {
            fields.push(field.as_ref().clone());
            columns.push(column.clone());
        }
    }
    Ok(RecordBatch::try_new(
        std::sync::Arc::new(Schema::new(fields)),
        columns,
    )?)
}

fn io(e: std::io::Error) -> DataFusionError {
    DataFusionError::IoError(e)
}

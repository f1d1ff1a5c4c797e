//! An export file already at hand (a download saved to disk, say), read by the decoder a scan
//! uses: [`ExportFileReader`].

use std::sync::Arc;

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use serde_json::Value;

use super::decode::FileDecoder;
use super::plan::Job;
use super::{ExportKind, ExportReport, Shared};
use crate::error::{Error, Result};
use crate::options::ExportOptions;
use crate::reports::ReadRequest;

/// The decoder of a scan, over every column of a report, for bytes that do not come from a
/// download.
pub(super) fn local_decoder(
    kind: ExportKind,
    workspace: &str,
    attributes: Vec<String>,
    segment: Option<(i64, String)>,
    export_id: i64,
) -> FileDecoder {
    let options = ExportOptions {
        attributes,
        ..ExportOptions::default()
    };
    let report = ExportReport::new(kind, workspace, options);
    let projection: Vec<usize> = (0..report.schema.fields().len()).collect();
    let shared = Arc::new(Shared {
        kind,
        report_columns: report.columns.clone(),
        prefix: report.prefix,
        workspace: report.workspace.clone(),
        options: report.options.clone(),
        projection: projection.clone(),
        schema: report.schema.clone(),
        request: ReadRequest::detached(projection),
    });
    let job = Job {
        unit: 0,
        kind: kind.facts().api,
        body: Value::Null,
        what: "a local file".into(),
        segment,
    };
    FileDecoder::new(&shared, &job, export_id, 0)
}

/// Bytes read from a local export file at a time, as chunks of a download arrive.
const LOCAL_CHUNK: usize = 64 * 1024;

/// An export file already at hand (a download saved to disk, say), read by the decoder a scan
/// uses: batches of every column of the report (`workspace` as given, no segment, export id
/// 0), in file order. Reads the source in chunks: memory does not grow with the file.
pub struct ExportFileReader<R> {
    source: R,
    decoder: FileDecoder,
    stats: crate::client::RequestStats,
    ready: std::collections::VecDeque<RecordBatch>,
    chunk: Vec<u8>,
    finished: bool,
}

impl<R: std::io::Read> ExportFileReader<R> {
    /// A reader of the file of a `kind` export with the requested `attributes`, from `source`.
    pub fn new(kind: ExportKind, workspace: &str, attributes: Vec<String>, source: R) -> Self {
        ExportFileReader {
            source,
            decoder: local_decoder(kind, workspace, attributes, None, 0),
            stats: crate::client::RequestStats::default(),
            ready: Default::default(),
            chunk: vec![0; LOCAL_CHUNK],
            finished: false,
        }
    }

    /// The schema of every batch: the report's.
    pub fn schema(&self) -> SchemaRef {
        self.decoder.shared.schema.clone()
    }

    /// Data rows decoded so far.
    pub fn rows(&self) -> usize {
        self.decoder.rows_seen()
    }

    /// Values that did not convert to their column's type (and became NULL) so far.
    pub fn cast_failures(&self) -> usize {
        self.stats.cast_failures.value()
    }

    fn fill(&mut self) -> Result<()> {
        while self.ready.is_empty() && !self.finished {
            let n = match self.source.read(&mut self.chunk) {
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(Error::Export(format!("reading the export file: {e}"))),
            };
            let batches = if n == 0 {
                self.finished = true;
                self.decoder.finish(&self.stats)?
            } else {
                self.decoder.feed(&self.chunk[..n], &self.stats)?
            };
            self.ready.extend(batches);
        }
        Ok(())
    }
}

impl<R: std::io::Read> Iterator for ExportFileReader<R> {
    type Item = Result<RecordBatch>;

    fn next(&mut self) -> Option<Self::Item> {
        if let Err(e) = self.fill() {
            self.finished = true;
            self.ready.clear();
            return Some(Err(e));
        }
        self.ready.pop_front().map(Ok)
    }
}

#[cfg(test)]
mod tests {
    use datafusion::arrow::array::{Array, StringArray};

    use super::*;

    #[test]
    fn empty_fields_of_the_file_are_null() {
        let file = b"id,email,cio_id,plan\n1,,c1,\n2,b@x.io,c2,pro\n";
        let reader =
            ExportFileReader::new(ExportKind::Customers, "ws", vec!["plan".into()], &file[..]);
        let batches: Vec<RecordBatch> = reader.collect::<Result<_>>().unwrap();
        let batch =
            datafusion::arrow::compute::concat_batches(&batches[0].schema(), &batches).unwrap();
        let text = |name: &str| {
            let column = batch.column_by_name(name).unwrap();
            let s = column.as_any().downcast_ref::<StringArray>().unwrap();
            (0..s.len())
                .map(|i| s.is_valid(i).then(|| s.value(i).to_string()))
                .collect::<Vec<_>>()
        };
        assert_eq!(text("email"), [None, Some("b@x.io".into())]);
        assert_eq!(text("plan"), [None, Some("pro".into())]);
        assert_eq!(text("workspace"), [Some("ws".into()), Some("ws".into())]);
    }
}

//! An export file's bytes to table batches: gzip or plain, a byte-order mark or none, the header
//! matched to the report's columns by name, the rows decoded by arrow's push-style CSV decoder,
//! and rows an earlier attempt of the download already emitted skipped.

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, StringArray, new_null_array};
use datafusion::arrow::csv::reader::ReaderBuilder as CsvReaderBuilder;
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::arrow::record_batch::{RecordBatch, RecordBatchOptions};

use super::Shared;
use super::convert::{extra_array, first_value, typed};
use super::plan::Job;
use super::schema::ColType;
use crate::client::exports::Unpack;
use crate::error::{Error, Result};

/// Rows per output batch.
const BATCH_ROWS: usize = 8192;

/// Header names quoted in an error about the header.
const HEADER_NAMES_SHOWN: usize = 12;

/// The UTF-8 byte-order mark, dropped before the header.
pub(super) const BOM: &[u8] = b"\xEF\xBB\xBF";

/// Turns a CSV byte stream into table batches, matching columns by header name.
pub(super) struct FileDecoder {
    pub(super) shared: Arc<Shared>,
    /// What the file is of, for errors: `export 12 (campaign_id 3)`.
    label: String,
    /// Gzip or plain.
    unpack: Unpack,
    /// Whether the start of the file has been checked for a byte-order mark.
    bom_checked: bool,
    /// For each table column of type time: values seen (not NULL) and values read as times.
    times: HashMap<usize, (usize, usize)>,
    prefix_values: Vec<Option<String>>,
    /// Data rows to drop before emitting (already emitted by an earlier attempt).
    skip: usize,
    /// Data rows decoded so far (emitted or skipped).
    seen: usize,
    header: Option<Header>,
    pending: Vec<u8>,
}

struct Header {
    decoder: datafusion::arrow::csv::reader::Decoder,
    /// For each table column: the file column holding it, if any.
    sources: Vec<Option<usize>>,
    /// File columns kept in `extra`: (index, name).
    extra: Vec<(usize, String)>,
}

impl FileDecoder {
    pub(super) fn new(shared: &Arc<Shared>, job: &Job, export_id: i64, skip: usize) -> Self {
        let prefix_values = match &job.segment {
            Some((id, name)) => vec![
                Some(shared.workspace.clone()),
                Some(id.to_string()),
                Some(name.clone()),
            ],
            None if job.kind == "customers" => vec![Some(shared.workspace.clone()), None, None],
            None => vec![Some(shared.workspace.clone()), Some(export_id.to_string())],
        };
        FileDecoder {
            shared: shared.clone(),
            label: format!("export {export_id} ({})", job.what),
            unpack: Unpack::default(),
            bom_checked: false,
            times: HashMap::new(),
            prefix_values,
            skip,
            seen: 0,
            header: None,
            pending: Vec::new(),
        }
    }

    pub(super) fn rows_seen(&self) -> usize {
        self.seen
    }

    /// The batches completed by the next `bytes` of the file (gzip or plain).
    pub(super) fn feed(
        &mut self,
        bytes: &[u8],
        stats: &crate::client::RequestStats,
    ) -> Result<Vec<RecordBatch>> {
        let plain = self.unpack.push(bytes).map_err(|e| self.context(e))?;
        if plain.is_empty() {
            // Nothing new (gzip still in its header): an empty decode means the end to arrow.
            return Ok(vec![]);
        }
        self.feed_plain(&plain, stats)
    }

    /// `e` with the export it happened to.
    fn context(&self, e: Error) -> Error {
        Error::Export(format!("{}: {e}", self.label))
    }

    fn feed_plain(
        &mut self,
        bytes: &[u8],
        stats: &crate::client::RequestStats,
    ) -> Result<Vec<RecordBatch>> {
        let data: &[u8] = bytes;
        if self.header.is_none() {
            self.pending.extend_from_slice(bytes);
            if !self.bom_checked && self.pending.len() >= BOM.len() {
                self.bom_checked = true;
                if self.pending.starts_with(BOM) {
                    self.pending.drain(..BOM.len());
                }
            }
            let Some((header, used)) = read_header(&self.pending).map_err(|e| self.context(e))?
            else {
                return Ok(vec![]);
            };
            self.header = Some(self.make_header(header)?);
            let rest = self.pending.split_off(used);
            self.pending.clear();
            return self.decode(&rest, stats);
        }
        self.decode(data, stats)
    }

    pub(super) fn finish(
        &mut self,
        stats: &crate::client::RequestStats,
    ) -> Result<Vec<RecordBatch>> {
        let rest = self.unpack.finish().map_err(|e| self.context(e))?;
        let mut out = if rest.is_empty() {
            vec![]
        } else {
            self.feed_plain(&rest, stats)?
        };
        if self.header.is_none() {
            if self.pending.iter().all(u8::is_ascii_whitespace) {
                return Ok(out); // An empty file: no rows.
            }
            // A header with no newline after it.
            self.pending.push(b'\n');
            let pending = std::mem::take(&mut self.pending);
            out.extend(self.feed_plain(&pending, stats)?);
            return Ok(out);
        }
        out.extend(self.decode(&[], stats)?);
        let Some(h) = self.header.as_mut() else {
            return Ok(out);
        };
        if let Some(batch) = h.decoder.flush()?
            && let Some(b) = self.convert(batch, stats)?
        {
            out.push(b);
        }
        Ok(out)
    }

    fn make_header(&self, names: Vec<String>) -> Result<Header> {
        let file_schema = Schema::new(
            names
                .iter()
                .enumerate()
                .map(|(i, _)| Field::new(format!("c{i}"), DataType::Utf8, true))
                .collect::<Vec<_>>(),
        );
        let decoder = CsvReaderBuilder::new(Arc::new(file_schema))
            .with_header(false)
            .with_batch_size(BATCH_ROWS)
            .build_decoder();
        let columns = &self.shared.report_columns;
        let aliases = self.shared.kind.facts().aliases;
        let canonical = |n: &str| -> String {
            let n = n.trim();
            aliases
                .iter()
                .find(|(a, _)| a.eq_ignore_ascii_case(n))
                .map_or(n.to_string(), |(_, c)| c.to_string())
        };
        let position: HashMap<String, usize> = names
            .iter()
            .enumerate()
            .rev()
            .map(|(i, n)| (canonical(n), i))
            .collect();
        // Names in any case (`ID`, `Email`), for a fixed column no name matches exactly. Only
        // the connector's own columns: attribute names are case-sensitive in Customer.io, so a
        // requested `Plan` must not take the file's `plan`, another attribute.
        let folded: HashMap<String, usize> = names
            .iter()
            .enumerate()
            .rev()
            .map(|(i, n)| (canonical(n).to_lowercase(), i))
            .collect();
        let (known, identity) = (
            self.shared.kind.facts().known,
            self.shared.kind.facts().identity,
        );
        let fixed = self.shared.prefix..self.shared.prefix + known.len();
        let sources: Vec<Option<usize>> = columns
            .iter()
            .enumerate()
            .map(|(i, (name, _))| {
                if i < self.shared.prefix {
                    None
                } else if fixed.contains(&i) {
                    position
                        .get(name)
                        .or_else(|| folded.get(&name.to_lowercase()))
                        .copied()
                } else {
                    position.get(name).copied()
                }
            })
            .collect();
        self.check_identity(&names, &sources, fixed, identity)?;
        let used: Vec<usize> = sources.iter().flatten().copied().collect();
        let extra = names
            .iter()
            .enumerate()
            .filter(|(i, _)| !used.contains(i))
            .map(|(i, n)| (i, n.trim().to_string()))
            .collect();
        Ok(Header {
            decoder,
            sources,
            extra,
        })
    }

    /// Fails unless the header has an identity column (`identity`, any one of them): a file
    /// without one, or with none of the connector's columns (a binary header, columns all
    /// renamed), would read as rows of NULLs. A missing column of another kind is schema drift
    /// and reads as NULL.
    fn check_identity(
        &self,
        names: &[String],
        sources: &[Option<usize>],
        fixed: std::ops::Range<usize>,
        identity: &[&str],
    ) -> Result<()> {
        let columns = &self.shared.report_columns;
        let found = |wanted: &str| {
            columns
                .iter()
                .zip(sources)
                .any(|((n, _), s)| n == wanted && s.is_some())
        };
        if identity.iter().any(|c| found(c)) {
            return Ok(());
        }
        let none_known = sources[fixed.clone()].iter().all(Option::is_none);
        let header = {
            let shown: Vec<String> = names
                .iter()
                .take(HEADER_NAMES_SHOWN)
                .map(|n| format!("{:?}", n.chars().take(40).collect::<String>()))
                .collect();
            let more = names.len().saturating_sub(HEADER_NAMES_SHOWN);
            let more = if more > 0 {
                format!(", and {more} more")
            } else {
                String::new()
            };
            format!("[{}{more}]", shown.join(", "))
        };
        let report = self.shared.kind.facts().report;
        let mut message = format!(
            "the {report} file has no identity column: expected {} in its header (any case), \
             found {header}",
            identity
                .iter()
                .map(|c| format!("`{c}`"))
                .collect::<Vec<_>>()
                .join(" or ")
        );
        if none_known {
            let known: Vec<&str> = columns[fixed].iter().map(|(n, _)| n.as_str()).collect();
            message.push_str(&format!(
                "; none of its columns is one the connector reads ({})",
                known.join(", ")
            ));
        }
        Err(self.context(Error::Export(message)))
    }

    fn decode(
        &mut self,
        mut data: &[u8],
        stats: &crate::client::RequestStats,
    ) -> Result<Vec<RecordBatch>> {
        let mut out = Vec::new();
        loop {
            let Some(h) = self.header.as_mut() else {
                return Ok(out);
            };
            let used = h.decoder.decode(data)?;
            data = &data[used..];
            if h.decoder.capacity() == 0 {
                if let Some(batch) = h.decoder.flush()?
                    && let Some(b) = self.convert(batch, stats)?
                {
                    out.push(b);
                }
            } else if data.is_empty() || used == 0 {
                return Ok(out);
            }
        }
    }

    /// File batch (all text) to table batch; drops rows still to skip.
    fn convert(
        &mut self,
        batch: RecordBatch,
        stats: &crate::client::RequestStats,
    ) -> Result<Option<RecordBatch>> {
        let n = batch.num_rows();
        self.seen += n;
        let drop = self.skip.min(n);
        self.skip -= drop;
        if drop == n {
            return Ok(None);
        }
        let batch = batch.slice(drop, n - drop);
        let rows = batch.num_rows();
        let Some(h) = self.header.as_ref() else {
            return Ok(None);
        };
        let shared = &self.shared;
        let mut columns: Vec<ArrayRef> = Vec::with_capacity(shared.projection.len());
        for &c in &shared.projection {
            if c == shared.report_columns.len() {
                columns.push(extra_array(&batch, &h.extra)?);
                continue;
            }
            let (ref name, ty) = shared.report_columns[c];
            let text: ArrayRef = if c < shared.prefix {
                // Empty text is NULL, as arrow's CSV decoder reads the file's empty fields.
                match self.prefix_values.get(c).and_then(Option::as_deref) {
                    Some(v) if !v.is_empty() => Arc::new(StringArray::new_repeated(v, rows)),
                    _ => new_null_array(&DataType::Utf8, rows),
                }
            } else {
                match h.sources[c] {
                    Some(i) => batch.column(i).clone(),
                    None => new_null_array(&DataType::Utf8, rows),
                }
            };
            let array = typed(text.clone(), ty, stats)?;
            if ty == ColType::Time && c >= shared.prefix {
                let counts = self.times.entry(c).or_default();
                counts.0 += text.len() - text.null_count();
                counts.1 += array.len() - array.null_count();
                if counts.0 > 0 && counts.1 == 0 {
                    return Err(Error::Export(format!(
                        "{}: column {name} of the export file holds no time: none of its {} \
                         values so far is unix seconds or RFC 3339 (the first is '{}')",
                        self.label,
                        counts.0,
                        first_value(&text).unwrap_or_default()
                    )));
                }
            }
            columns.push(array);
        }
        let options = RecordBatchOptions::new().with_row_count(Some(rows));
        Ok(Some(RecordBatch::try_new_with_options(
            shared.schema.clone(),
            columns,
            &options,
        )?))
    }
}

/// The header record and the bytes it used, once a whole record has arrived.
pub(super) fn read_header(buf: &[u8]) -> Result<Option<(Vec<String>, usize)>> {
    if !buf.contains(&b'\n') {
        return Ok(None);
    }
    // A quoted header name may hold a newline: let the CSV parser say where the record ends.
    // One byte past the buffer shows whether it does end there: a chunk that stops just after
    // a newline inside quotes (`id,"e\n`) would otherwise read as a whole record, cut short.
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(std::io::Read::chain(buf, &b"\0"[..]));
    // Bytes, not text, until the record is whole: a chunk may end inside a character.
    let mut record = csv::ByteRecord::new();
    match reader.read_byte_record(&mut record) {
        Ok(true) => {
            let end = reader.position().byte() as usize;
            if end > buf.len() || (end == buf.len() && buf.last() != Some(&b'\n')) {
                return Ok(None);
            }
            let names = record
                .iter()
                .map(|f| std::str::from_utf8(f).map(str::to_string))
                .collect::<std::result::Result<Vec<_>, _>>()
                .map_err(|e| {
                    Error::Export(format!("the export file's header is not UTF-8 text: {e}"))
                })?;
            Ok(Some((names, end)))
        }
        Ok(false) => Ok(None),
        Err(e) => Err(Error::Export(format!(
            "the export file's header is not CSV: {e}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use datafusion::arrow::array::{Array, AsArray};

    use super::super::fuzzing;
    use super::super::{ExportKind, ExportReport};
    use super::*;
    use crate::options::ExportOptions;

    #[test]
    fn header_waits_for_a_whole_record() {
        assert!(read_header(b"id,email").unwrap().is_none());
        let (names, used) = read_header(b"id,\"e\nmail\",cio_id\n1,a,b\n")
            .unwrap()
            .unwrap();
        assert_eq!(names, vec!["id", "e\nmail", "cio_id"]);
        assert_eq!(used, 19);
        // A chunk ending just after a newline inside a quoted name is not a whole header
        // (found by `cargo fuzz`: the header was read as `id`, `e\n`).
        assert!(read_header(b"id,\"e\n").unwrap().is_none());
        assert!(read_header(b"id,\"e\nmail\"\n").unwrap().is_some());
        // Nor one ending inside a character after a blank line (`Ӛ` is 0xd3 0x9a).
        assert!(read_header(b"\nid,\xd3").unwrap().is_none());
        assert_eq!(
            read_header(b"\nid,\xd3\x9a\n").unwrap().unwrap().0,
            ["id", "Ӛ"]
        );
    }

    /// Every batch of `data` as an export file of `kind` (attribute `plan`), cut every `step` bytes.
    fn decoded(kind: ExportKind, data: &[u8], step: usize) -> Result<RecordBatch> {
        let cuts: Vec<usize> = (step..data.len()).step_by(step).collect();
        let batches = fuzzing::decode(kind, vec!["plan".into()], data, &cuts)?;
        let schema = ExportReport::new(
            kind,
            "fuzz",
            ExportOptions {
                attributes: vec!["plan".into()],
                ..ExportOptions::default()
            },
        )
        .schema;
        Ok(datafusion::arrow::compute::concat_batches(
            &schema, &batches,
        )?)
    }

    fn gzip(data: &[u8]) -> Vec<u8> {
        use std::io::Write;
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn gzip_bom_and_header_case_read_as_the_plain_file() {
        let files: [(ExportKind, &[u8]); 2] = [
            (
                ExportKind::Customers,
                b"id,email,cio_id,plan,Other\n1,a@x.io,c1,pro,x\n2,,c2,,\n",
            ),
            (
                ExportKind::Deliveries,
                b"id,campaign_id,created,sent,plan\nd1,3,1700000000,,pro\nd2,3,1700000100,1700000200,\n",
            ),
        ];
        for (kind, plain) in files {
            let want = decoded(kind, plain, usize::MAX).unwrap();
            assert_eq!(want.num_rows(), 2);
            let text = std::str::from_utf8(plain).unwrap();
            let (header, rest) = text.split_once('\n').unwrap();
            // The fixed columns in upper case; the attribute `plan` keeps its name.
            let header: Vec<String> = header
                .split(',')
                .map(|n| match n {
                    "plan" => n.to_string(),
                    _ => n.to_uppercase(),
                })
                .collect();
            let upper = format!("{}\n{rest}", header.join(","));
            let with_bom = [BOM, plain].concat();
            let all = [BOM, upper.as_bytes()].concat();
            for variant in [
                with_bom.clone(),
                upper.clone().into_bytes(),
                gzip(plain),
                gzip(&all),
                [gzip(&all[..20]), gzip(&all[20..])].concat(),
            ] {
                for step in [1, 2, 3, 5, 64, usize::MAX] {
                    let got = decoded(kind, &variant, step).unwrap();
                    // `extra` keeps the file's own name of an unknown column: compare the rest.
                    let n = want.num_columns() - 1;
                    assert_eq!(
                        got.project(&(0..n).collect::<Vec<_>>()).unwrap(),
                        want.project(&(0..n).collect::<Vec<_>>()).unwrap(),
                        "{kind:?} {step} {variant:?}"
                    );
                }
            }
        }
        // A file cut inside its gzip stream is an error, not fewer rows.
        let cut = gzip(files[0].1);
        let e = decoded(ExportKind::Customers, &cut[..cut.len() - 5], 7)
            .unwrap_err()
            .to_string();
        assert!(e.contains("gzip"), "{e}");
    }

    #[test]
    fn a_file_without_an_identity_column_fails_naming_it() {
        let e = |kind, data: &[u8]| {
            decoded(kind, data, 3)
                .map(|b| format!("no error, {} rows", b.num_rows()))
                .unwrap_or_else(|e| e.to_string())
        };
        // People: neither `id` nor `cio_id`.
        let got = e(ExportKind::Customers, b"email,plan\na@x.io,pro\n");
        for needle in [
            "export 1 (a local file)",
            "customers_export file has no identity column",
            "`cio_id` or `id`",
            "[\"email\", \"plan\"]",
        ] {
            assert!(got.contains(needle), "'{got}' lacks '{needle}'");
        }
        assert!(!got.contains("none of its columns"), "{got}");
        // Deliveries whose every column is renamed: nothing the connector reads.
        let got = e(
            ExportKind::Deliveries,
            b"created_at,campaign,plan\n1700000000,3,pro\n",
        );
        for needle in [
            "deliveries_export file has no identity column",
            "`delivery_id`",
            "[\"created_at\", \"campaign\", \"plan\"]",
            "none of its columns is one the connector reads (delivery_id, campaign_id",
        ] {
            assert!(got.contains(needle), "'{got}' lacks '{needle}'");
        }
        // Gzip inside gzip: one layer comes off, the header is binary.
        let plain: &[u8] = b"id,email,cio_id\n1,a@x.io,c1\n";
        let got = e(ExportKind::Customers, &gzip(&gzip(plain)));
        assert!(got.contains("export 1 (a local file)"), "{got}");
        assert!(got.contains("header"), "{got}");
        // A binary header that happens to be UTF-8 matches nothing.
        let got = e(
            ExportKind::Deliveries,
            b"\x1f\x08\x00\x03,\x7f\n\x01,\x02\n",
        );
        assert!(
            got.contains("export 1 (a local file)")
                && got.contains("`delivery_id`")
                && got.contains("none of its columns"),
            "{got}"
        );
        // One identity column is enough, in any case; other columns missing are drift (NULL).
        for file in [
            &b"cio_id\nc1\n"[..],
            b"ID,plan\n1,pro\n",
            b"Cio_Id,email\nc1,a@x.io\n",
        ] {
            let b = decoded(ExportKind::Customers, file, 2).unwrap();
            assert_eq!(b.num_rows(), 1);
        }
        for file in [&b"id,created\nd1,1700000000\n"[..], b"MESSAGE_ID\nd1\n"] {
            let b = decoded(ExportKind::Deliveries, file, 2).unwrap();
            let id = b.column_by_name("delivery_id").unwrap().as_string::<i32>();
            assert_eq!(id.value(0), "d1");
        }
        // An empty file is still no rows, not an error.
        assert_eq!(
            decoded(ExportKind::Deliveries, b"", 2).unwrap().num_rows(),
            0
        );
    }

    #[test]
    fn attribute_columns_match_their_case_exactly() {
        let read = |attribute: &str, file: &[u8]| {
            let batches = fuzzing::decode(
                ExportKind::Customers,
                vec![attribute.to_string()],
                file,
                &[5],
            )
            .unwrap();
            let b =
                datafusion::arrow::compute::concat_batches(&batches[0].schema(), &batches).unwrap();
            let value = |name: &str| {
                let c = b.column_by_name(name).unwrap().as_string::<i32>();
                c.is_valid(0).then(|| c.value(0).to_string())
            };
            (value("cio_id"), value(attribute))
        };
        // `Plan` is not `plan`: another attribute, missing from this file (NULL); the fixed
        // columns still fold.
        let file = b"ID,EMAIL,CIO_ID,plan\n1,a@x.io,c1,pro\n";
        assert_eq!(read("Plan", file), (Some("c1".into()), None));
        assert_eq!(read("plan", file), (Some("c1".into()), Some("pro".into())));
        let both = b"id,email,cio_id,plan,Plan\n1,a@x.io,c1,pro,Gold\n";
        assert_eq!(read("Plan", both), (Some("c1".into()), Some("Gold".into())));
    }

    #[test]
    fn a_time_column_with_no_time_fails_naming_it() {
        let bad = b"id,created,sent\nd1,yesterday,\nd2,soon,\n";
        let e = decoded(ExportKind::Deliveries, bad, 4)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("column created") && e.contains("'yesterday'") && e.contains("2 values"),
            "{e}"
        );
        // One value that reads is enough: the others are NULL and counted, as before.
        let some = b"id,created\nd1,yesterday\nd2,1700000000\n";
        let b = decoded(ExportKind::Deliveries, some, 4).unwrap();
        assert_eq!(b.column_by_name("created").unwrap().null_count(), 1);
        // An empty column is not a failure.
        let empty = b"id,created\nd1,\n";
        assert_eq!(
            decoded(ExportKind::Deliveries, empty, 4)
                .unwrap()
                .num_rows(),
            1
        );
    }
}

//! The CSV export reader without HTTP, for `fuzz/` and the corpus replay test
//! (`crate::fuzzing`), behind the `test-support` feature. Not part of the API.

use datafusion::arrow::record_batch::RecordBatch;

use super::ExportKind;
use super::file::local_decoder;
use crate::error::Result;

/// The header reader of a download.
pub fn read_header(buf: &[u8]) -> Result<Option<(Vec<String>, usize)>> {
    super::decode::read_header(buf)
}

/// Decodes `data` as an export file of `kind` with `attributes` (every column projected),
/// fed to the decoder in pieces cut at `cuts` (byte offsets, as chunks of a download
/// arrive), then finished. Returns the table batches.
pub fn decode(
    kind: ExportKind,
    attributes: Vec<String>,
    data: &[u8],
    cuts: &[usize],
) -> Result<Vec<RecordBatch>> {
    let segment = (kind == ExportKind::Customers).then(|| (1, "fuzz".to_string()));
    let mut decoder = local_decoder(kind, "fuzz", attributes, segment, 1);
    let stats = crate::client::RequestStats::default();
    let mut out = Vec::new();
    let mut at = 0;
    for &cut in cuts.iter().chain(std::iter::once(&data.len())) {
        let cut = cut.clamp(at, data.len());
        out.extend(decoder.feed(&data[at..cut], &stats)?);
        at = cut;
    }
    out.extend(decoder.finish(&stats)?);
    Ok(out)
}

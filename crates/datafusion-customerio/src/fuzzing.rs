//! Entry points of the library's fuzz targets in `fuzz/` (the `test-support` feature), shared with the test that replays their corpus
//! (`tests/it/fuzz_corpus.rs`), so a plain `cargo test` runs every saved input through exactly
//! the code the fuzzer ran. Not part of the API: each function takes arbitrary bytes, must
//! never panic, and asserts the invariants of what it calls.

use std::collections::HashMap;

use serde::de::DeserializeOwned;

use crate::client::models;
use crate::options::{Report, TableOptions};
use crate::reports::exports::{ExportKind, fuzzing as export_reader};

/// `TableOptions::parse`: the first byte picks the report, every following line is `key=value`
/// (a line without `=` is a key with an empty value). An error names something; a repeated key
/// is refused.
pub fn table_options(data: &[u8]) {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let report = Report::ALL[usize::from(pick) % Report::ALL.len()];
    let text = String::from_utf8_lossy(rest);
    let mut raw = HashMap::new();
    for line in text.lines() {
        let (k, v) = line.split_once('=').unwrap_or((line, ""));
        raw.insert(k.to_string(), v.to_string());
    }
    // A fixed "now": the fuzzer's runs repeat.
    let now = chrono::DateTime::from_timestamp(1_790_000_000, 0).expect("in range");
    match TableOptions::parse(report, &raw, now) {
        Ok(o) => assert_eq!(o.report(), report),
        Err(e) => assert!(!e.to_string().is_empty()),
    }
}

/// Decodes `bytes` as the client does (`serde_path_to_error`, then nothing but whitespace
/// after the value); an error renders with its path.
fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Option<T> {
    match crate::client::decode_body::<T>(bytes) {
        Ok(v) => Some(v),
        Err(e) => {
            let _ = e.to_string();
            None
        }
    }
}

/// Every JSON answer model the client decodes, from the same bytes. A decoded page's items
/// are the ones its JSON array holds.
pub fn json_pages(data: &[u8]) {
    if let Some(p) = decode::<models::CampaignList>(data) {
        let _ = format!("{p:?}");
    }
    let _ = decode::<models::CampaignEnvelope>(data);
    if let Some(p) = decode::<models::NewsletterPage>(data) {
        // serde_json does not check the text of strings it skips: the page may decode where
        // the whole value does not.
        if let Ok(v) = serde_json::from_slice::<serde_json::Value>(data) {
            let listed = v["newsletters"].as_array().map_or(0, Vec::len);
            assert_eq!(p.newsletters.len(), listed);
        }
    }
    let _ = decode::<models::NewsletterEnvelope>(data);
    let _ = decode::<models::MetricsResponse>(data);
    let _ = decode::<models::LinksResponse>(data);
    let _ = decode::<models::SearchPage>(data);
    let people = decode::<models::PeopleResponse>(data);
    // The customers report's borrowed decoding: what it accepts, the reference model accepts,
    // with the same people (what it refuses, the report decodes again with the reference).
    if let Some(borrowed) = crate::client::decode_fast::<models::PeopleResponseRef>(data) {
        let people = people.expect("the reference model accepts what the borrowed one does");
        let reference: Vec<models::PersonRef> = people
            .customers
            .into_iter()
            .map(models::PersonRef::from)
            .collect();
        assert_eq!(borrowed.customers, reference);
    }
    let _ = decode::<models::SegmentList>(data);
    let _ = decode::<crate::client::exports::Export>(data);
}

/// The CSV export reader: the first byte picks the report and where the download is cut into
/// chunks; the rest is the file. Decoding in chunks gives the rows of decoding it whole (or an
/// error both ways); the header reader never claims more bytes than it got.
pub fn export_csv(data: &[u8]) {
    let Some((&pick, file)) = data.split_first() else {
        return;
    };
    if let Ok(Some((_, used))) = export_reader::read_header(file) {
        assert!(used <= file.len());
    }
    let kind = if pick & 1 == 0 {
        ExportKind::Customers
    } else {
        ExportKind::Deliveries
    };
    let attributes = if pick & 2 == 0 {
        vec![]
    } else {
        vec!["plan".to_string()]
    };
    let step = usize::from(pick >> 2) + 1;
    let cuts: Vec<usize> = (step..file.len()).step_by(step).collect();
    let whole = export_reader::decode(kind, attributes.clone(), file, &[]);
    let chunked = export_reader::decode(kind, attributes, file, &cuts);
    match (whole, chunked) {
        (Ok(a), Ok(b)) => {
            let rows = |v: &[datafusion::arrow::record_batch::RecordBatch]| {
                v.iter().map(|b| b.num_rows()).sum::<usize>()
            };
            assert_eq!(rows(&a), rows(&b), "rows whole vs in chunks of {step}");
            let concat = |v: &[datafusion::arrow::record_batch::RecordBatch]| {
                v.first().map(|f| {
                    datafusion::arrow::compute::concat_batches(&f.schema(), v)
                        .expect("batches of one schema")
                })
            };
            assert_eq!(
                concat(&a),
                concat(&b),
                "values whole vs in chunks of {step}"
            );
        }
        (Err(_), Err(_)) => {}
        (a, b) => panic!(
            "whole and chunked (every {step} bytes) disagree: {:?} vs {:?}",
            a.map(|v| v.len()),
            b.map(|v| v.len())
        ),
    }
}

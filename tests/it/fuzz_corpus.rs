//! The fuzz corpus and crash regressions, replayed by `cargo test`: every file under
//! `fuzz/corpus/<target>/` and `fuzz/regressions/<target>/` goes through the entry point the fuzz
//! target calls (`datafusion_customerio::fuzzing`, `cio_sql::fuzzing` for the script splitter), which panics on a broken invariant. The long
//! instrumented runs (`cargo fuzz run`) and their figures are in `RELIABILITY.md`.

use std::path::Path;

use datafusion_customerio::fuzzing;

/// A fuzz target's entry point: any bytes, a panic on a broken invariant.
type Target = fn(&[u8]);

/// Fuzz targets, by name (the file names under `fuzz/fuzz_targets/` and `fuzz/corpus/`).
const TARGETS: [(&str, Target); 4] = [
    ("table_options", fuzzing::table_options),
    ("script", cio_sql::fuzzing::script),
    ("json_pages", fuzzing::json_pages),
    ("export_csv", fuzzing::export_csv),
];

/// The files of `fuzz/<kind>/<target>/`, sorted (none if the folder is missing).
fn inputs(kind: &str, target: &str) -> Vec<std::path::PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz")
        .join(kind)
        .join(target);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .into_iter()
        .flatten()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

#[test]
fn every_corpus_file_and_crash_regression_replays_cleanly() {
    for (target, run) in TARGETS {
        let seeds = inputs("corpus", target);
        assert!(
            seeds.len() >= 5,
            "fuzz/corpus/{target}/ holds {} files; the seeds are missing",
            seeds.len()
        );
        let regressions = inputs("regressions", target);
        for path in seeds.iter().chain(&regressions) {
            let data = std::fs::read(path).unwrap();
            if std::panic::catch_unwind(|| run(&data)).is_err() {
                panic!("{target}: {} fails (see the panic above)", path.display());
            }
        }
        println!(
            "{target}: {} corpus files, {} crash regressions replayed",
            seeds.len(),
            regressions.len()
        );
    }
}

/// Inputs that once needed care, checked by name: each entry point runs its invariants on them.
#[test]
fn tricky_inputs_hold_the_invariants() {
    use datafusion_customerio::fuzzing;
    // Decoding whole and in chunks of 2 bytes agree on quoted newlines and CRLF.
    fuzzing::export_csv(b"\x05id,\"e\nmail\",cio_id\r\n1,\"a\r\nb\",c\r\n2,d,e\r\n");
    // A header with no newline, and a file of blank lines.
    fuzzing::export_csv(b"\x00id,email");
    fuzzing::export_csv(b"\x01\n\n\n");
    // A page decodes to the items its array holds.
    fuzzing::json_pages(br#"{"newsletters":[{"id":1},{"id":2}],"next":null}"#);
    // An unterminated download block and multi-byte characters around offsets.
    cio_sql::fuzzing::script("download \"Tä\" from { type: \"é".as_bytes());
    fuzzing::table_options(b"\x05start=-9999999999999d\nend=now\nkey=acme");
}

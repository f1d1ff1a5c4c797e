//! Entry points of the fuzz targets in `fuzz/`, shared with the test that replays their corpus
//! (`tests/it/fuzz_corpus.rs`), so a plain `cargo test` runs every saved input through exactly
//! the code the fuzzer ran. Not part of the API: each function takes arbitrary bytes, must
//! never panic, and asserts the invariants of what it calls. The library's targets are in
//! `datafusion_customerio::fuzzing` (its `test-support` feature); the script splitter's is here,
//! and the list of targets is in the replay test.

use crate::script::{self, Piece};

/// The Switchboard script splitter: pieces lie in the input, in order, on character
/// boundaries; errors point into the input; `is_complete` and `describe` never panic.
pub fn script(data: &[u8]) {
    let Ok(input) = std::str::from_utf8(data) else {
        return;
    };
    let _ = script::is_complete(input);
    match script::split(input) {
        Ok(pieces) => {
            let mut last = 0;
            for p in &pieces {
                let (start, end) = match p {
                    Piece::Sql { start, end, .. } => (*start, *end),
                    Piece::Download(d) => {
                        for e in &d.entries {
                            assert!(e.key_pos >= d.start && e.value_pos < d.end, "{d:?}");
                            let _ = e.value.to_option();
                        }
                        (d.start, d.end)
                    }
                };
                assert!(last <= start && start < end && end <= input.len(), "{p:?}");
                assert!(input.is_char_boundary(start) && input.is_char_boundary(end));
                let _ = script::positioned(input, start, end);
                let _ = script::line_col(input, end);
                last = end;
            }
        }
        Err(e) => {
            assert!(e.offset <= input.len(), "{e:?}");
            assert!(e.describe(input).starts_with("line "));
        }
    }
}

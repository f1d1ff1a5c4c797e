//! Fuzz target `export_csv`: see `datafusion_customerio::fuzzing::export_csv`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| datafusion_customerio::fuzzing::export_csv(data));

//! Fuzz target `table_options`: see `datafusion_customerio::fuzzing::table_options`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| datafusion_customerio::fuzzing::table_options(data));

//! Fuzz target `json_pages`: see `datafusion_customerio::fuzzing::json_pages`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| datafusion_customerio::fuzzing::json_pages(data));

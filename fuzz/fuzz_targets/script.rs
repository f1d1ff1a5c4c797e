//! Fuzz target `script`: see `datafusion_customerio::fuzzing::script`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| datafusion_customerio::fuzzing::script(data));

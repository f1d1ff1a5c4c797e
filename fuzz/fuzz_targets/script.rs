//! Fuzz target `script`: see `cio_sql::fuzzing::script`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| cio_sql::fuzzing::script(data));

//! One integration-test binary: every module runs against the in-process simulator over loopback.
mod cache;
mod canary;
mod cli;
mod cli_support;
mod common;
mod contract;
mod customers;
#[cfg(feature = "distributed")]
mod distributed;
mod drift;
mod embedding;
mod exports;
mod fuzz_corpus;
mod hardening;
mod objects;
mod props;
mod retries;
mod s3;
mod schedule;
mod shapes;
mod simulator;
mod skew;
mod slt;
mod strict;
mod tables;
mod vendor_records;
mod vocabulary;

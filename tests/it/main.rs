//! One integration-test binary: every module runs against the in-process simulator over loopback.
mod common;
mod contract;
mod customers;
mod retries;
mod simulator;
mod tables;

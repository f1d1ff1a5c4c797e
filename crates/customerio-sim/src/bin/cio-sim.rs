//! `cio-sim`: a local Customer.io App API for demos, tests and benchmarks.
//!
//! ```text
//! cio-sim --port 4010                 # US host on 4010, EU host on 4011
//! cio-sim --customers 1000000 --rate-limit 50 --error-5xx-rate 0.05
//! cio-sim --workspaces 8              # sim_ws1..sim_ws8, keys sim-ws1-key..., all US
//! cio-sim --lenient                   # accept requests the vendor contracts refuse
//! ```

fn main() -> std::process::ExitCode {
    customerio_sim::cli::main()
}

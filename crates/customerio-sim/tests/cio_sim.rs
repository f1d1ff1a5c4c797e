//! The `cio-sim` binary: strict by default, lenient with `--lenient`.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

/// A `cio-sim` process on free ports; killed when dropped.
struct CioSim {
    child: Child,
    us: String,
}

impl CioSim {
    fn spawn(args: &[&str]) -> CioSim {
        let mut child = Command::new(env!("CARGO_BIN_EXE_cio-sim"))
            .args(["--port", "0"])
            .args(args)
            .stdout(Stdio::piped())
            .spawn()
            .expect("cio-sim starts");
        let stdout = child.stdout.take().expect("cio-sim stdout");
        let mut us = None;
        let mut lines = BufReader::new(stdout).lines();
        for line in lines.by_ref() {
            let line = line.expect("cio-sim prints its banner");
            if let Some(url) = line.trim().strip_prefix("US host: ") {
                us = Some(url.to_string());
                break;
            }
        }
        // Keep reading the rest of the banner, as a terminal would.
        std::thread::spawn(move || lines.for_each(drop));
        CioSim {
            child,
            us: us.expect("cio-sim prints its US host"),
        }
    }

    /// `GET path` with the US simulator key: the status and the JSON body.
    fn get(&self, path: &str) -> (u16, serde_json::Value) {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let r = reqwest::Client::new()
                .get(format!("{}{path}", self.us))
                .bearer_auth("sim-us-key")
                .send()
                .await
                .expect("cio-sim answers");
            let status = r.status().as_u16();
            (status, r.json().await.expect("a JSON body"))
        })
    }
}

impl Drop for CioSim {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn cio_sim_is_strict_by_default_and_lenient_on_request() {
    let strict = CioSim::spawn(&[]);
    let (status, body) = strict.get("/v1/campaigns?bogus=1");
    assert_eq!(status, 400, "{body}");
    let errors = body["errors"].as_array().expect("an errors[] body");
    assert_eq!(errors.len(), 1, "{body}");
    assert_eq!(errors[0]["status"], "400");
    assert_eq!(errors[0]["source"]["parameter"], "bogus");
    let lenient = CioSim::spawn(&["--lenient"]);
    let (status, body) = lenient.get("/v1/campaigns?bogus=1");
    assert_eq!(status, 200, "{body}");
    assert!(body["campaigns"].is_array());
}

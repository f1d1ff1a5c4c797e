//! The reports, by the name written in `LOCATION`.

use std::fmt;
use std::str::FromStr;

use crate::error::{Error, Result};

/// The Customer.io reports this crate exposes as tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[non_exhaustive]
pub enum Report {
    /// Campaign (automation) metrics and link metrics.
    Campaigns,
    /// Newsletter (one-time send) metrics and link metrics.
    Newsletters,
    /// People and their attributes.
    Customers,
    /// The workspace's segments.
    Segments,
    /// People in segments, through an asynchronous export.
    CustomersExport,
    /// Deliveries (messages), through an asynchronous export.
    DeliveriesExport,
}

impl Report {
    /// Every report, in documentation order.
    pub const ALL: [Report; 6] = [
        Report::Campaigns,
        Report::Newsletters,
        Report::Customers,
        Report::Segments,
        Report::CustomersExport,
        Report::DeliveriesExport,
    ];

    /// The name used in `LOCATION`.
    pub fn as_str(self) -> &'static str {
        match self {
            Report::Campaigns => "campaigns",
            Report::Newsletters => "newsletters",
            Report::Customers => "customers",
            Report::Segments => "segments",
            Report::CustomersExport => "customers_export",
            Report::DeliveriesExport => "deliveries_export",
        }
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Report {
    type Err = Error;

    /// Accepts `campaigns` and the Switchboard form `customerio:campaigns`, in any case.
    fn from_str(s: &str) -> Result<Self> {
        let lower = s.trim().to_ascii_lowercase();
        let name = lower.strip_prefix("customerio:").unwrap_or(&lower);
        Report::ALL
            .into_iter()
            .find(|r| r.as_str() == name)
            .ok_or_else(|| {
                let valid: Vec<_> = Report::ALL.iter().map(|r| r.as_str()).collect();
                Error::option_value(
                    "location",
                    s,
                    format!(
                        "LOCATION '{s}' is not a Customer.io report; valid reports are {}",
                        valid.join(", ")
                    ),
                )
            })
    }
}

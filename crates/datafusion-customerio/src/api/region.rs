//! Customer.io's data regions and their App API hosts.

use std::fmt;

/// Customer.io's data regions.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Region {
    /// `https://api.customer.io`
    #[default]
    Us,
    /// `https://api-eu.customer.io`
    Eu,
}

impl Region {
    /// The region's App API base URL.
    pub fn base_url(self) -> &'static str {
        match self {
            Region::Us => "https://api.customer.io",
            Region::Eu => "https://api-eu.customer.io",
        }
    }

    /// `us` or `eu`.
    pub fn as_str(self) -> &'static str {
        match self {
            Region::Us => "us",
            Region::Eu => "eu",
        }
    }
}

impl fmt::Display for Region {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Region {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "us" => Ok(Region::Us),
            "eu" => Ok(Region::Eu),
            _ => Err(format!("'{s}' is not a region; valid values are us, eu")),
        }
    }
}

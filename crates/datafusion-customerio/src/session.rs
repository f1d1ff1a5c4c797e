//! Session settings for SQL over Customer.io.

use datafusion::common::config::ConfigExtension;
use datafusion::common::extensions_options;
use datafusion::prelude::{SessionConfig, SessionContext};

use crate::CustomerIo;

extensions_options! {
    /// Session settings of the Customer.io tables: `SET customerio.cache_ttl = '5m'`,
    /// `SET customerio.cache_max_bytes = '67108864'`,
    /// `SET customerio.export_cache_dir = '/var/tmp/cio-exports'`.
    pub struct CustomerIoSettings {
        /// How long answers are served from the response cache, for tables without their own
        /// `cache_ttl`: `0` (off) to `24h`.
        pub cache_ttl: String, default = "0".to_string()
        /// The bound of the response cache in bytes (bodies and keys), least recently used out;
        /// empty: as it is (256 MiB unless the application set another).
        pub cache_max_bytes: String, default = String::new()
        /// A directory where the files of exports (`customers_export`, `deliveries_export`)
        /// are kept for the time to live, so that the same export within it is read from disk
        /// instead of being made again; owner-only files, removed when the process ends its
        /// `CustomerIo`. Empty: not kept.
        pub export_cache_dir: String, default = String::new()
    }
}

impl ConfigExtension for CustomerIoSettings {
    const PREFIX: &'static str = "customerio";
}

/// The settings a Customer.io session wants: the information schema on, so `SHOW TABLES` and
/// `information_schema.columns` list the reports' tables. Add an application's own settings on
/// top (`cio-sql` adds its Parquet writer's).
pub fn session_config() -> SessionConfig {
    SessionConfig::new()
        .with_information_schema(true)
        .with_option_extension(CustomerIoSettings::default())
}

/// A new session with [`session_config`] and `STORED AS CUSTOMERIO` registered.
pub fn new_session(cio: &CustomerIo) -> SessionContext {
    let ctx = SessionContext::new_with_config(session_config());
    cio.register(&ctx);
    ctx
}

//! Session settings for SQL over Customer.io.

use datafusion::prelude::{SessionConfig, SessionContext};

use crate::CustomerIo;

/// The settings a Customer.io session wants: the information schema on, so `SHOW TABLES` and
/// `information_schema.columns` list the reports' tables. Add an application's own settings on
/// top (`cio-sql` adds its Parquet writer's).
pub fn session_config() -> SessionConfig {
    SessionConfig::new().with_information_schema(true)
}

/// A new session with [`session_config`] and `STORED AS CUSTOMERIO` registered.
pub fn new_session(cio: &CustomerIo) -> SessionContext {
    let ctx = SessionContext::new_with_config(session_config());
    cio.register(&ctx);
    ctx
}

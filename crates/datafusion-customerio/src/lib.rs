//! Customer.io reports as Apache DataFusion tables.
//!
//! Each report (`campaigns`, `newsletters`, `customers`, `segments`, `customers_export`,
//! `deliveries_export`) is a [`TableProvider`](datafusion::datasource::TableProvider)
//! that streams Arrow record batches from the Customer.io App API, within the key's rate limit.
//! Register the factory once, then use SQL:
//!
//! ```
//! use datafusion::prelude::SessionContext;
//! use datafusion_customerio::{Credential, CustomerIo};
//! use customerio_sim::{SimConfig, Simulator};
//!
//! # #[tokio::main(flavor = "multi_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // A local Customer.io, so this example runs without an account.
//! let sim = Simulator::start(SimConfig::default()).await?;
//!
//! let cio = CustomerIo::new();
//! cio.credentials().insert("acme", Credential::new("sim-us-key").with_base_url(sim.us_url()));
//! let ctx = SessionContext::new();
//! cio.register(&ctx);
//!
//! ctx.sql("CREATE EXTERNAL TABLE campaigns STORED AS CUSTOMERIO LOCATION 'campaigns' \
//!          OPTIONS (key 'acme', period 'weeks', steps '4')").await?;
//! let df = ctx.sql("SELECT campaign_id, SUM(sent) AS sent FROM campaigns \
//!                   WHERE campaign_id = 1 GROUP BY campaign_id").await?;
//! let batches = df.collect().await?;
//! assert_eq!(batches.iter().map(|b| b.num_rows()).sum::<usize>(), 1);
//! # Ok(())
//! # }
//! ```
//!
//! Rust applications can also build a table without SQL:
//! [`CustomerIo::table`] takes typed [`TableOptions`].

#![warn(missing_docs)]

pub mod api;
pub mod client;
pub mod clock;
pub mod credentials;
#[cfg(feature = "distributed")]
pub mod distributed;
pub mod error;
#[cfg(feature = "test-support")]
#[doc(hidden)]
pub mod fuzzing;
pub mod options;
pub mod provider;
pub mod reports;
pub mod session;
pub mod workspaces;

use std::sync::Arc;

use datafusion::prelude::SessionContext;

pub use api::Region;
pub use credentials::{Credential, Credentials, Secret};
pub use error::{Error, Result};
pub use options::{Report, TableOptions};
pub use provider::CustomerIoTable;
pub use provider::factory::CustomerIoFactory;

use client::{Pacers, Transport};
use clock::{Clock, SystemClock};

/// The name the factory is registered under: `STORED AS CUSTOMERIO`.
pub const FORMAT_NAME: &str = "CUSTOMERIO";

/// The entry point for applications: credentials, a clock, the HTTP client and pacers its
/// tables send through, and registration on a session. Nothing it uses is process-global that
/// an application cannot replace: [`CustomerIo::with_http_client`], [`CustomerIo::with_pacers`],
/// [`CustomerIo::with_clock`].
#[derive(Debug, Clone)]
pub struct CustomerIo {
    credentials: Arc<Credentials>,
    clock: Arc<dyn Clock>,
    transport: Transport,
}

impl Default for CustomerIo {
    fn default() -> Self {
        Self::new()
    }
}

impl CustomerIo {
    /// Credentials from the environment (`CIO_KEY_<NAME>`) and the default credentials file.
    pub fn new() -> Self {
        Self::with_credentials(Credentials::from_env())
    }

    /// Uses `credentials` to resolve `key` options.
    pub fn with_credentials(credentials: Credentials) -> Self {
        CustomerIo {
            credentials: Arc::new(credentials),
            clock: Arc::new(SystemClock),
            transport: Transport::shared(),
        }
    }

    /// Sends every request of this instance's tables through `http` (its proxy, TLS roots,
    /// timeouts and `User-Agent`) instead of the process's default client.
    pub fn with_http_client(mut self, http: reqwest::Client) -> Self {
        self.transport = self.transport.with_http_client(http);
        self
    }

    /// Paces keys with `pacers` instead of the process's registry ([`Pacers::shared`]). Tables
    /// that share a registry share each key's rate limit.
    pub fn with_pacers(mut self, pacers: Arc<Pacers>) -> Self {
        self.transport = self.transport.with_pacers(pacers);
        self
    }

    /// The HTTP client and pacers this instance's tables send through.
    pub fn transport(&self) -> &Transport {
        &self.transport
    }

    /// The clock ("now") of this instance's tables.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// Uses `clock` for "now" (bucket boundaries, relative windows checked at CREATE); for
    /// tests.
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The credentials, to register keys in code.
    pub fn credentials(&self) -> &Credentials {
        &self.credentials
    }

    /// The `CREATE EXTERNAL TABLE` factory.
    pub fn factory(&self) -> Arc<CustomerIoFactory> {
        Arc::new(CustomerIoFactory::new(self.clone()))
    }

    /// Registers `STORED AS CUSTOMERIO` on `ctx`.
    pub fn register(&self, ctx: &SessionContext) {
        let state = ctx.state_ref();
        let mut state = state.write();
        state
            .table_factories_mut()
            .insert(FORMAT_NAME.to_string(), self.factory());
        // `SET customerio.cache_ttl = ...` (kept if the session already has the settings).
        let extensions = &mut state.config_mut().options_mut().extensions;
        if extensions.get::<session::CustomerIoSettings>().is_none() {
            extensions.insert(session::CustomerIoSettings::default());
        }
    }

    /// The response cache all tables of this instance share (`\cache` in `cio-sql`).
    pub fn cache(&self) -> &Arc<client::ResponseCache> {
        self.transport.cache()
    }

    /// Parses the OPTIONS of a `report` table, checking relative windows against this
    /// instance's clock, as `CREATE EXTERNAL TABLE` does.
    pub fn parse_options(
        &self,
        report: Report,
        raw: &std::collections::HashMap<String, String>,
    ) -> Result<TableOptions> {
        TableOptions::parse(report, raw, self.clock.now())
    }

    /// A table built from typed options, without SQL. Makes no request.
    pub fn table(&self, options: TableOptions) -> Result<Arc<CustomerIoTable>> {
        Ok(Arc::new(CustomerIoTable::try_new(options, self)?))
    }
}

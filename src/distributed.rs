//! Scans on [datafusion-distributed](https://github.com/datafusion-contrib/datafusion-distributed)
//! workers (the `distributed` cargo feature).
//!
//! A coordinator plans the query; stages run on workers, which reach Customer.io themselves.
//! Each workspace has its own rate limit, so the work that spreads is:
//! - the workspaces of a `UNION ALL`: each branch is one table of one workspace, and
//!   datafusion-distributed gives every branch to one task;
//! - the exports of one export table: one per segment of `customers_export`, one per campaign
//!   and newsletter of a `deliveries_export` without selector. In a distributed session such a
//!   scan has one partition per export (at most one per worker; partition `p` of `n` runs the
//!   exports `u` with `u % n == p`), and each task runs its share of the partitions.
//!
//! One workspace's scan is never split across machines otherwise: two machines pacing one key
//! separately would exceed its limit together.
//!
//! What crosses the network for a scan is [`CustomerIoCodec`]'s JSON: the table's options (its
//! `key` is the credential's *name*), the DDL column list, the projection, the pushed filter, the
//! window, the limit, the task's share and the coordinator's "now". Never the key: each worker
//! resolves the credential name from its own environment or credentials file.

use std::path::Path;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::error::{DataFusionError, Result as DfResult};
use datafusion::execution::{SessionState, SessionStateBuilder, TaskContext};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::prelude::SessionConfig;
use datafusion::scalar::ScalarValue;
use datafusion_distributed::{
    ChannelResolver, DesiredTaskCountEvent, DesiredTaskCountEventResponse, DistributedExt,
    DistributedLeafExec, ScaleUpLeafNodeEvent, ScaleUpLeafNodeEventResponse,
    SessionStateBuilderExt, Worker, WorkerQueryContext, WorkerResolver,
};
use datafusion_proto::physical_plan::{PhysicalExtensionCodec, PhysicalProtoConverterExtension};
use serde::{Deserialize, Serialize};
use tonic::codegen::http::HeaderValue;
use url::Url;

use crate::CustomerIo;
use crate::clock::FixedClock;
use crate::credentials::Secret;
use crate::options::TableOptions;
use crate::provider::CustomerIoTable;
use crate::provider::scan::CustomerIoScanExec;
use crate::reports::{Pushed, Shard, scalar_i64};

/// The format tag of an encoded scan; a worker refuses any other.
const FORMAT: &str = "customerio-scan/1";

/// One scan, as it crosses the network.
#[derive(Debug, Serialize, Deserialize)]
struct EncodedScan {
    format: String,
    options: TableOptions,
    /// The DDL column list: (name, Arrow type as text, nullable).
    declared: Option<Vec<(String, String, bool)>>,
    projection: Vec<usize>,
    pushed: Option<EncodedPushed>,
    /// Window bounds, in microseconds since the epoch.
    window: Option<(Option<i64>, Option<i64>)>,
    limit: Option<usize>,
    /// Output partitions (one per export in distributed sessions).
    partitions: usize,
    /// (index, count): the task whose share of the partitions this is.
    task: Option<(usize, usize)>,
    /// The coordinator's "now" when the plan was encoded, in microseconds: every task of a query
    /// computes the same bucket boundaries.
    now: i64,
}

#[derive(Debug, Serialize, Deserialize)]
struct EncodedPushed {
    column: String,
    values: Vec<EncodedValue>,
}

/// A pushed value. Values that are neither integers nor text match no row of any pushdown
/// column, so leaving them out keeps the scan's answer.
#[derive(Debug, Serialize, Deserialize)]
enum EncodedValue {
    Int(i64),
    Text(String),
}

/// Encodes and decodes [`CustomerIoScanExec`] for datafusion-distributed. Register it on the
/// coordinator and on every worker ([`coordinator_state`], [`worker`] do).
#[derive(Debug, Clone)]
pub struct CustomerIoCodec {
    cio: CustomerIo,
}

impl CustomerIoCodec {
    /// A codec whose decoded scans resolve credential names with `cio`'s credentials.
    pub fn new(cio: CustomerIo) -> Self {
        CustomerIoCodec { cio }
    }

    /// The bytes of `scan` as sent to a worker.
    pub fn encode_scan(&self, scan: &CustomerIoScanExec) -> DfResult<Vec<u8>> {
        let params = scan.params();
        let definition = scan.definition();
        let declared = definition.declared.as_ref().map(|schema| {
            schema
                .fields()
                .iter()
                .map(|f| (f.name().clone(), f.data_type().to_string(), f.is_nullable()))
                .collect()
        });
        let pushed = params.pushed.as_ref().map(|p| EncodedPushed {
            column: p.column.to_string(),
            values: p
                .values
                .iter()
                .filter_map(|v| match v {
                    ScalarValue::Utf8(Some(s))
                    | ScalarValue::LargeUtf8(Some(s))
                    | ScalarValue::Utf8View(Some(s)) => Some(EncodedValue::Text(s.clone())),
                    other => scalar_i64(other).map(EncodedValue::Int),
                })
                .collect(),
        });
        let micros = |t: Option<DateTime<Utc>>| t.map(|t| t.timestamp_micros());
        let encoded = EncodedScan {
            format: FORMAT.to_string(),
            options: definition.options.clone(),
            declared,
            projection: params.projection.clone(),
            pushed,
            window: params.window.map(|(lo, hi)| (micros(lo), micros(hi))),
            limit: params.limit,
            partitions: params.partitions,
            task: params.task.map(|t| (t.index, t.count)),
            now: params.clock.now().timestamp_micros(),
        };
        serde_json::to_vec(&encoded).map_err(|e| DataFusionError::External(Box::new(e)))
    }

    /// The scan `buf` describes, its credential resolved here.
    pub fn decode_scan(&self, buf: &[u8]) -> DfResult<CustomerIoScanExec> {
        let bad = |what: String| {
            DataFusionError::Plan(format!(
                "a Customer.io scan received from the coordinator is not readable: {what}; \
                 the coordinator and the workers must run the same version of \
                 datafusion-customerio"
            ))
        };
        let e: EncodedScan = serde_json::from_slice(buf).map_err(|e| bad(e.to_string()))?;
        if e.format != FORMAT {
            return Err(bad(format!("format '{}', expected '{FORMAT}'", e.format)));
        }
        let declared = match e.declared {
            None => None,
            Some(fields) => {
                let fields = fields
                    .into_iter()
                    .map(|(name, ty, nullable)| {
                        let ty: DataType = ty
                            .parse()
                            .map_err(|err| bad(format!("column {name} type '{ty}': {err}")))?;
                        Ok(Field::new(name, ty, nullable))
                    })
                    .collect::<DfResult<Vec<_>>>()?;
                Some(Arc::new(Schema::new(fields)) as SchemaRef)
            }
        };
        let instant = |n: i64| {
            DateTime::from_timestamp_micros(n).ok_or_else(|| bad(format!("instant {n} µs")))
        };
        let now = instant(e.now)?;
        let window = match e.window {
            None => None,
            Some((lo, hi)) => Some((lo.map(instant).transpose()?, hi.map(instant).transpose()?)),
        };
        let task = match e.task {
            None => None,
            Some((index, count)) if index < count => Some(Shard { index, count }),
            Some((index, count)) => return Err(bad(format!("task {index} of {count}"))),
        };
        if e.partitions == 0 {
            return Err(bad("0 partitions".to_string()));
        }
        let clock = Arc::new(FixedClock::new(now));
        let table =
            CustomerIoTable::with_columns(e.options, declared, self.cio.credentials(), clock)
                .map_err(|err| DataFusionError::Plan(format!("on this worker: {err}")))?;
        let pushed = match e.pushed {
            None => None,
            Some(p) => {
                let column = table
                    .reader()
                    .pushdown_columns()
                    .into_iter()
                    .find(|c| *c == p.column)
                    .ok_or_else(|| bad(format!("filter on column '{}'", p.column)))?;
                let values = p
                    .values
                    .into_iter()
                    .map(|v| match v {
                        EncodedValue::Int(n) => ScalarValue::Int64(Some(n)),
                        EncodedValue::Text(s) => ScalarValue::Utf8(Some(s)),
                    })
                    .collect();
                Some(Pushed { column, values })
            }
        };
        let width = table.reader().schema().fields().len();
        if let Some(bad_index) = e.projection.iter().find(|i| **i >= width) {
            return Err(bad(format!("column {bad_index} of {width}")));
        }
        let scan = table.scan_exec(e.projection, pushed, window, e.limit, e.partitions)?;
        match task {
            Some(task) => scan.for_task(task),
            None => Ok(scan),
        }
    }
}

impl PhysicalExtensionCodec for CustomerIoCodec {
    fn try_decode(
        &self,
        buf: &[u8],
        inputs: &[Arc<dyn ExecutionPlan>],
        _ctx: &TaskContext,
        _proto_converter: &dyn PhysicalProtoConverterExtension,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        if !inputs.is_empty() {
            return Err(DataFusionError::Internal(format!(
                "CustomerIoScanExec has no inputs, got {}",
                inputs.len()
            )));
        }
        Ok(Arc::new(self.decode_scan(buf)?))
    }

    fn try_encode(
        &self,
        node: Arc<dyn ExecutionPlan>,
        buf: &mut Vec<u8>,
        _proto_converter: &dyn PhysicalProtoConverterExtension,
    ) -> DfResult<()> {
        let Some(scan) = node.downcast_ref::<CustomerIoScanExec>() else {
            return Err(DataFusionError::Internal(format!(
                "CustomerIoCodec encodes CustomerIoScanExec, not {}",
                node.name()
            )));
        };
        buf.extend(self.encode_scan(scan)?);
        Ok(())
    }
}

/// How many tasks a scan wants: one per partition (export) for the export reports, else one.
fn desired_task_count(
    ev: DesiredTaskCountEvent,
) -> Option<DfResult<DesiredTaskCountEventResponse>> {
    let scan = ev.plan.downcast_ref::<CustomerIoScanExec>()?;
    Some(Ok(if scan.partitions() > 1 && scan.task().is_none() {
        DesiredTaskCountEventResponse::desired(scan.partitions())
    } else {
        DesiredTaskCountEventResponse::maximum(1)
    }))
}

/// Gives each task its share of a scan's partitions.
fn scale_up(ev: ScaleUpLeafNodeEvent) -> Option<DfResult<ScaleUpLeafNodeEventResponse>> {
    let scan = ev.plan.downcast_ref::<CustomerIoScanExec>()?;
    if ev.task_count <= 1 || scan.partitions() <= 1 {
        return None;
    }
    let variants = (0..ev.task_count)
        .map(|index| {
            let task = Shard {
                index,
                count: ev.task_count,
            };
            scan.for_task(task)
                .map(|s| Arc::new(s) as Arc<dyn ExecutionPlan>)
        })
        .collect::<DfResult<Vec<_>>>();
    Some(variants.and_then(|variants| {
        DistributedLeafExec::try_new(ev.plan.clone(), variants)
            .map(|leaf| ScaleUpLeafNodeEventResponse::new(Arc::new(leaf)))
    }))
}

/// Whether `config` is a distributed session's ([`coordinator_state`]).
pub fn is_distributed(config: &SessionConfig) -> bool {
    config
        .options()
        .extensions
        .get::<datafusion_distributed::DistributedConfig>()
        .is_some()
}

/// A fixed list of worker URLs (`cio-sql --workers`).
#[derive(Debug, Clone)]
pub struct StaticWorkers(pub Vec<Url>);

impl WorkerResolver for StaticWorkers {
    fn get_urls(&self) -> DfResult<Vec<Url>> {
        Ok(self.0.clone())
    }
}

/// Parses `--workers`: comma-separated `http://host:port` URLs (a bare `host:port` gets
/// `http://`).
pub fn parse_workers(list: &str) -> crate::Result<Vec<Url>> {
    let mut urls = Vec::new();
    for item in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let text = if item.contains("://") {
            item.to_string()
        } else {
            format!("http://{item}")
        };
        let url = Url::parse(&text)
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
            .filter(|u| u.port_or_known_default().is_some())
            .ok_or_else(|| {
                crate::Error::option(format!(
                    "workers: '{item}' is not a worker address; give host:port or \
                     http://host:port, comma-separated"
                ))
            })?;
        urls.push(url);
    }
    if urls.is_empty() {
        return Err(crate::Error::option(
            "workers: no worker address given; give host:port or http://host:port, \
             comma-separated"
                .to_string(),
        ));
    }
    Ok(urls)
}

/// A session state that plans queries for `workers`: the distributed planner, the codec and
/// the task-count handlers of the Customer.io scan. Register the factory on the context made
/// from it ([`CustomerIo::register`]). Its channels send no worker token and trust no CA; see
/// [`coordinator_state_with`].
pub fn coordinator_state(
    cio: &CustomerIo,
    workers: Vec<Url>,
    config: SessionConfig,
) -> SessionState {
    coordinator_state_with(cio, workers, config, WorkerChannels::default())
}

/// [`coordinator_state`] whose calls to the workers go through `channels` (the worker token,
/// TLS).
pub fn coordinator_state_with(
    cio: &CustomerIo,
    workers: Vec<Url>,
    config: SessionConfig,
    channels: WorkerChannels,
) -> SessionState {
    SessionStateBuilder::new()
        .with_default_features()
        .with_config(config)
        .with_distributed_worker_resolver(StaticWorkers(workers))
        .with_distributed_channel_resolver(channels)
        .with_distributed_planner()
        .with_distributed_user_codec(CustomerIoCodec::new(cio.clone()))
        .with_distributed_desired_task_count_handler(desired_task_count)
        .with_distributed_scale_up_leaf_node_handler(scale_up)
        .build()
}

/// A worker that runs Customer.io scans with `cio`'s credentials. A stage it reads from another
/// worker is reached through `peers` (the worker token, and TLS with a CA), like the
/// coordinator's calls.
pub fn worker(cio: CustomerIo, peers: WorkerChannels) -> Worker {
    Worker::from_session_builder(move |ctx: WorkerQueryContext| {
        let codec = CustomerIoCodec::new(cio.clone());
        let peers = peers.clone();
        async move {
            Ok(ctx
                .builder
                .with_distributed_user_codec(codec)
                .with_distributed_channel_resolver(peers)
                .build())
        }
    })
}

/// The environment variable holding the shared worker token.
pub const TOKEN_ENV: &str = "CIO_WORKER_TOKEN";

/// How to give a worker token, for error messages.
const TOKEN_HOW: &str = "set the same token on the coordinator and on every worker, in the \
     environment variable CIO_WORKER_TOKEN or in a file given with --token-file FILE";

/// The worker token: the contents of `file` (surrounding whitespace removed) when given, else
/// the environment variable [`TOKEN_ENV`], else none. An empty token is an error.
pub fn load_token(file: Option<&Path>) -> crate::Result<Option<Secret>> {
    let (text, source) = match file {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|e| {
                crate::Error::option(format!(
                    "--token-file: cannot read the worker token file {}: {e}",
                    path.display()
                ))
            })?;
            (text, format!("the file {}", path.display()))
        }
        None => match std::env::var(TOKEN_ENV) {
            Ok(text) => (text, format!("the environment variable {TOKEN_ENV}")),
            Err(std::env::VarError::NotPresent) => return Ok(None),
            Err(std::env::VarError::NotUnicode(_)) => {
                return Err(crate::Error::option(format!(
                    "{TOKEN_ENV} is not UTF-8 text; give a printable token"
                )));
            }
        },
    };
    let token = text.trim();
    if token.is_empty() {
        return Err(crate::Error::option(format!(
            "the worker token in {source} is empty; give a non-empty token (for example 32 \
             random bytes, hex-encoded)"
        )));
    }
    if !token.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(crate::Error::option(format!(
            "the worker token in {source} holds spaces or control characters; give printable \
             ASCII without spaces (for example 32 random bytes, hex-encoded)"
        )));
    }
    Ok(Some(Secret::new(token)))
}

/// Reads a PEM file named by the command-line option `flag`.
pub fn read_pem(flag: &str, path: &Path) -> crate::Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| {
        crate::Error::option(format!(
            "{flag}: cannot read the PEM file {}: {e}",
            path.display()
        ))
    })
}

/// How a worker admits calls: the token every call must carry, and its TLS certificate.
#[derive(Clone, Default)]
pub struct WorkerSecurity {
    /// The token every call must carry (`authorization: Bearer <token>`); `None` admits all.
    pub token: Option<Secret>,
    /// The certificate chain and private key (PEM) to serve TLS with; `None` serves plain
    /// HTTP/2.
    pub tls: Option<(Vec<u8>, Vec<u8>)>,
    /// The CA (PEM) of the other workers, which this one calls when a query has a stage
    /// boundary between workers (with the same token); `None`: plain HTTP/2.
    pub peer_ca: Option<Vec<u8>>,
}

impl std::fmt::Debug for WorkerSecurity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorkerSecurity")
            .field("token", &self.token)
            .field("tls", &self.tls.is_some())
            .field("peer_ca", &self.peer_ca.is_some())
            .finish()
    }
}

/// The worker's check of every call: the `authorization` metadata must be `Bearer <token>`,
/// compared in constant time. It runs on the request's headers, before the plan is decoded.
#[derive(Clone)]
struct TokenCheck {
    expected: Option<Arc<Vec<u8>>>,
}

impl tonic::service::Interceptor for TokenCheck {
    fn call(&mut self, request: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        use subtle::ConstantTimeEq as _;
        let Some(expected) = &self.expected else {
            return Ok(request);
        };
        let sent = request
            .metadata()
            .get("authorization")
            .map(|v| v.as_bytes())
            .and_then(|v| v.strip_prefix(b"Bearer ".as_slice()));
        let peer = request
            .remote_addr()
            .map_or_else(|| "an unknown peer".to_string(), |a| a.to_string());
        match sent {
            Some(sent) if bool::from(sent.ct_eq(expected.as_slice())) => Ok(request),
            Some(_) => {
                tracing::warn!("refused a call from {peer}: wrong worker token");
                Err(tonic::Status::unauthenticated(format!(
                    "the worker refused the call: wrong worker token; {TOKEN_HOW}"
                )))
            }
            None => {
                tracing::warn!("refused a call from {peer}: no worker token");
                Err(tonic::Status::unauthenticated(format!(
                    "the worker refused the call: no worker token was sent; {TOKEN_HOW}"
                )))
            }
        }
    }
}

/// Serves a worker on `listener` until `shutdown` completes. With a token in `security`,
/// every call without it is refused with `Unauthenticated` before its plan is read.
pub async fn serve_worker(
    cio: CustomerIo,
    listener: tokio::net::TcpListener,
    security: WorkerSecurity,
    shutdown: impl std::future::Future<Output = ()> + Send,
) -> crate::Result<()> {
    let incoming = tonic::transport::server::TcpIncoming::from(listener);
    let mut server = tonic::transport::Server::builder();
    if let Some((cert, key)) = &security.tls {
        let identity = tonic::transport::Identity::from_pem(cert, key);
        server = server
            .tls_config(tonic::transport::ServerTlsConfig::new().identity(identity))
            .map_err(|e| {
                crate::Error::option(format!(
                    "--tls-cert/--tls-key: not a usable certificate and key: {e}"
                ))
            })?;
    }
    let check = TokenCheck {
        expected: security
            .token
            .as_ref()
            .map(|t| Arc::new(t.expose().as_bytes().to_vec())),
    };
    let service = tonic::service::interceptor::InterceptedService::new(
        worker(
            cio,
            WorkerChannels::new(security.token.clone(), security.peer_ca.clone()),
        )
        .into_worker_server(),
        check,
    );
    server
        .add_service(service)
        .serve_with_incoming_shutdown(incoming, shutdown)
        .await
        .map_err(|e| crate::Error::Io(format!("worker: {e}")))
}

/// The coordinator's channels to the workers: each call carries the worker token, and with a
/// CA every worker is reached over TLS (`https`) and must present a certificate it signed.
/// A refusal for the token comes back naming the worker and how to set the token.
#[derive(Clone, Default)]
pub struct WorkerChannels {
    token: Option<Secret>,
    ca: Option<Vec<u8>>,
    cache: Arc<std::sync::Mutex<std::collections::HashMap<Url, tonic::transport::Channel>>>,
}

impl std::fmt::Debug for WorkerChannels {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorkerChannels")
            .field("token", &self.token)
            .field("tls", &self.ca.is_some())
            .finish()
    }
}

impl WorkerChannels {
    /// Channels sending `token` (if any) and trusting only the CA certificate `ca_pem` (if
    /// any; without one, the workers are reached over plain HTTP/2).
    pub fn new(token: Option<Secret>, ca_pem: Option<Vec<u8>>) -> Self {
        WorkerChannels {
            token,
            ca: ca_pem,
            cache: Arc::default(),
        }
    }

    /// The address a call to `url` goes to: `https` when a CA is set.
    fn target(&self, url: &Url) -> Url {
        let mut url = url.clone();
        if self.ca.is_some() && url.scheme() == "http" {
            // Both schemes are "special", so the change cannot fail.
            let _ = url.set_scheme("https");
        }
        url
    }

    /// The channel to `url`, connected once and then reused; a connection (or TLS handshake)
    /// that fails names the worker.
    async fn channel(&self, url: &Url) -> DfResult<tonic::transport::Channel> {
        if let Some(ch) = self.cache.lock().ok().and_then(|c| c.get(url).cloned()) {
            return Ok(ch);
        }
        let target = self.target(url);
        let failed = |what: String| {
            DataFusionError::Execution(format!(
                "cannot reach the worker {}: {what}",
                target.as_str().trim_end_matches('/')
            ))
        };
        let mut endpoint = tonic::transport::Endpoint::from_shared(target.to_string())
            .map_err(|e| failed(e.to_string()))?;
        if let Some(ca) = &self.ca {
            let mut tls = tonic::transport::ClientTlsConfig::new()
                .ca_certificate(tonic::transport::Certificate::from_pem(ca));
            if let Some(host) = target.host_str() {
                tls = tls.domain_name(host.trim_matches(['[', ']']));
            }
            endpoint = endpoint
                .tls_config(tls)
                .map_err(|e| failed(format!("TLS setup: {e}")))?;
        }
        let channel = endpoint.connect().await.map_err(|e| {
            let mut text = e.to_string();
            let mut source = std::error::Error::source(&e);
            while let Some(s) = source {
                text.push_str(": ");
                text.push_str(&s.to_string());
                source = s.source();
            }
            let hint = if self.ca.is_some() {
                " (is it serving TLS with a certificate signed by the --tls-ca CA, for this \
                 host name?)"
            } else {
                ""
            };
            failed(format!("{text}{hint}"))
        })?;
        if let Ok(mut cache) = self.cache.lock() {
            cache.insert(url.clone(), channel.clone());
        }
        Ok(channel)
    }
}

#[async_trait::async_trait]
impl ChannelResolver for WorkerChannels {
    async fn get_worker_client_for_url(
        &self,
        url: &Url,
    ) -> DfResult<Box<dyn datafusion_distributed::WorkerChannel>> {
        let channel = self.channel(url).await?;
        let authorization = match &self.token {
            None => None,
            Some(token) => {
                let mut value = HeaderValue::from_str(&format!("Bearer {}", token.expose()))
                    .map_err(|_| {
                        DataFusionError::Execution(format!(
                            "the worker token is not a valid header value; {TOKEN_HOW}, \
                             printable ASCII without spaces"
                        ))
                    })?;
                value.set_sensitive(true);
                Some(value)
            }
        };
        let authed = Authorized {
            inner: channel,
            authorization,
            worker: Arc::new(self.target(url).as_str().trim_end_matches('/').to_string()),
        };
        Ok(datafusion_distributed::grpc::create_worker_client(
            datafusion_distributed::grpc::BoxCloneSyncChannel::new(authed),
        ))
    }
}

/// A channel that adds the `authorization` header to every call, and rewrites an
/// `Unauthenticated` answer's message to name the worker.
#[derive(Clone)]
struct Authorized {
    inner: tonic::transport::Channel,
    authorization: Option<HeaderValue>,
    worker: Arc<String>,
}

/// A gRPC call as HTTP/2.
type HttpRequest = tonic::codegen::http::Request<tonic::body::Body>;
/// A gRPC answer as HTTP/2.
type HttpResponse = tonic::codegen::http::Response<tonic::body::Body>;

impl tonic::codegen::Service<HttpRequest> for Authorized {
    type Response = HttpResponse;
    type Error = tonic::transport::Error;
    type Future = tonic::codegen::BoxFuture<HttpResponse, tonic::transport::Error>;

    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: HttpRequest) -> Self::Future {
        if let Some(value) = &self.authorization {
            request
                .headers_mut()
                .insert(tonic::codegen::http::header::AUTHORIZATION, value.clone());
        }
        let worker = self.worker.clone();
        let call = self.inner.call(request);
        Box::pin(async move {
            let mut response = call.await?;
            let headers = response.headers_mut();
            // Unauthenticated, sent by the worker's token check as a headers-only answer.
            if let Some(status) = tonic::Status::from_header_map(headers)
                && status.code() == tonic::Code::Unauthenticated
            {
                let named = tonic::Status::unauthenticated(format!(
                    "worker {worker} answered Unauthenticated: {}",
                    status.message()
                ));
                // Only a message that cannot be a header value fails; the worker's stays then.
                let _ = named.add_header(headers);
            }
            Ok(response)
        })
    }
}

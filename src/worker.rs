//! `cio-sql --worker` and `--workers`: the datafusion-distributed worker server and the
//! coordinator's channels, locked with a shared token and optionally TLS. The scan codec and the
//! session states are the library's (`datafusion_customerio::distributed`); what is here is the
//! application's: addresses, the token, certificates, and the gRPC server.

use std::path::Path;
use std::sync::Arc;

use datafusion::error::{DataFusionError, Result as DfResult};
use datafusion_customerio::credentials::Secret;
use datafusion_customerio::distributed::worker;
use datafusion_customerio::{CustomerIo, Error, Result};
use datafusion_distributed::ChannelResolver;
use tonic::codegen::http::HeaderValue;
use url::Url;

/// Parses `--workers`: comma-separated `http://host:port` URLs (a bare `host:port` gets
/// `http://`).
pub fn parse_workers(list: &str) -> Result<Vec<Url>> {
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
                Error::option_value(
                    "--workers",
                    item,
                    format!(
                        "workers: '{item}' is not a worker address; give host:port or \
                     http://host:port, comma-separated"
                    ),
                )
            })?;
        urls.push(url);
    }
    if urls.is_empty() {
        return Err(Error::option(
            "--workers",
            "workers: no worker address given; give host:port or http://host:port, \
             comma-separated"
                .to_string(),
        ));
    }
    Ok(urls)
}

/// The environment variable holding the shared worker token.
pub const TOKEN_ENV: &str = "CIO_WORKER_TOKEN";

/// How to give a worker token, for error messages.
const TOKEN_HOW: &str = "set the same token on the coordinator and on every worker, in the \
     environment variable CIO_WORKER_TOKEN or in a file given with --token-file FILE";

/// The worker token: the contents of `file` (surrounding whitespace removed) when given, else
/// the environment variable [`TOKEN_ENV`], else none. An empty token is an error.
pub fn load_token(file: Option<&Path>) -> Result<Option<Secret>> {
    let (text, source) = match file {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|e| {
                Error::option(
                    "--token-file",
                    format!(
                        "--token-file: cannot read the worker token file {}: {e}",
                        path.display()
                    ),
                )
            })?;
            (text, format!("the file {}", path.display()))
        }
        None => match std::env::var(TOKEN_ENV) {
            Ok(text) => (text, format!("the environment variable {TOKEN_ENV}")),
            Err(std::env::VarError::NotPresent) => return Ok(None),
            Err(std::env::VarError::NotUnicode(_)) => {
                return Err(Error::option(
                    TOKEN_ENV,
                    format!("{TOKEN_ENV} is not UTF-8 text; give a printable token"),
                ));
            }
        },
    };
    let token = text.trim();
    if token.is_empty() {
        return Err(Error::option(
            "token",
            format!(
                "the worker token in {source} is empty; give a non-empty token (for example 32 \
             random bytes, hex-encoded)"
            ),
        ));
    }
    if !token.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(Error::option(
            "token",
            format!(
                "the worker token in {source} holds spaces or control characters; give printable \
             ASCII without spaces (for example 32 random bytes, hex-encoded)"
            ),
        ));
    }
    Ok(Some(Secret::new(token)))
}

/// Reads a PEM file named by the command-line option `flag`.
pub fn read_pem(flag: &str, path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| {
        Error::option(
            flag,
            format!("{flag}: cannot read the PEM file {}: {e}", path.display()),
        )
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
) -> Result<()> {
    let incoming = tonic::transport::server::TcpIncoming::from(listener);
    let mut server = tonic::transport::Server::builder();
    if let Some((cert, key)) = &security.tls {
        let identity = tonic::transport::Identity::from_pem(cert, key);
        server = server
            .tls_config(tonic::transport::ServerTlsConfig::new().identity(identity))
            .map_err(|e| {
                Error::option(
                    "--tls-cert",
                    format!("--tls-cert/--tls-key: not a usable certificate and key: {e}"),
                )
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
        .map_err(|e| Error::Io(format!("worker: {e}")))
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

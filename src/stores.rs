//! Object stores for `COPY ... TO` and `LOCATION` URLs: local paths and `file://`, `s3://`
//! (settings from `AWS_*` variables such as `AWS_ENDPOINT_URL`, `AWS_ALLOW_HTTP`), `gs://`
//! (`GOOGLE_*`), `az://` (`AZURE_*`) and `memory://` (one in-memory store per host, for tests),
//! registered on the session's runtime environment the first time a URL uses them.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};

use datafusion::execution::object_store::ObjectStoreUrl;
use datafusion::prelude::SessionContext;
use futures::TryStreamExt;
use object_store::aws::AmazonS3Builder;
use object_store::azure::MicrosoftAzureBuilder;
use object_store::gcp::GoogleCloudStorageBuilder;
use object_store::memory::InMemory;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload, WriteMultipart};
use serde::Serialize;
use url::Url;

use super::errors::CliError;

/// A URL with its store and the path inside the store.
#[derive(Debug, Clone)]
pub struct Location {
    /// The full URL (`file:///abs/path`, `s3://bucket/key`, ...).
    pub url: Url,
    /// The store that holds it.
    pub store: Arc<dyn ObjectStore>,
    /// The path inside the store.
    pub path: Path,
}

impl Location {
    /// The location `rel` below this one (`rel` uses `/`).
    pub fn join(&self, rel: &str) -> Result<Location, CliError> {
        let rel = rel.trim_start_matches('/');
        let mut base = self.url.as_str().trim_end_matches('/').to_string();
        base.push('/');
        base.push_str(rel);
        let url = Url::parse(&base).map_err(|e| CliError::msg(format!("bad URL {base}: {e}")))?;
        let path = path_of(&url)?;
        Ok(Location {
            url,
            store: self.store.clone(),
            path,
        })
    }

    /// The URL for messages: no user info, no query string.
    pub fn display(&self) -> String {
        redact(&self.url)
    }
}

static MEMORY: LazyLock<Mutex<HashMap<String, Arc<InMemory>>>> = LazyLock::new(Mutex::default);

/// The process-wide in-memory store behind `memory://HOST/...`.
pub fn memory_store(host: &str) -> Arc<InMemory> {
    let mut map = MEMORY.lock().unwrap_or_else(|e| e.into_inner());
    map.entry(host.to_string())
        .or_insert_with(|| Arc::new(InMemory::new()))
        .clone()
}

/// Parses a URL or a local path (made absolute, as `file://`). A trailing `/` is kept: it marks
/// a directory.
pub fn parse_url(s: &str) -> Result<Url, CliError> {
    let s = s.trim();
    if s.is_empty() {
        return Err(CliError::msg("an empty location"));
    }
    // "C:\x" parses as a URL with scheme "c": only schemes of two letters or more are URLs.
    if let Ok(u) = Url::parse(s)
        && u.scheme().len() > 1
    {
        return Ok(u);
    }
    let path = std::path::Path::new(s);
    let abs = if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir()
            .map_err(|e| CliError::msg(format!("cannot resolve the path {s}: {e}")))?
            .join(path)
    };
    let dir = s.ends_with('/') || s.ends_with(std::path::MAIN_SEPARATOR);
    let url = if dir {
        Url::from_directory_path(&abs)
    } else {
        Url::from_file_path(&abs)
    };
    url.map_err(|_| CliError::msg(format!("cannot use {s} as a path")))
}

/// The path inside the store of `url`.
pub fn path_of(url: &Url) -> Result<Path, CliError> {
    Path::from_url_path(url.path())
        .map_err(|e| CliError::msg(format!("bad path in {}: {e}", redact(url))))
}

/// The store for `url`, registered on `ctx` if it was not yet.
pub fn store_for(ctx: &SessionContext, url: &Url) -> Result<Arc<dyn ObjectStore>, CliError> {
    let base =
        ObjectStoreUrl::parse(format!("{}://{}", url.scheme(), url.authority())).map_err(|e| {
            CliError::msg(format!(
                "bad URL {}: {}",
                redact(url),
                super::errors::describe(&e)
            ))
        })?;
    let runtime = ctx.runtime_env();
    if let Ok(store) = runtime.object_store(&base) {
        return Ok(store);
    }
    let host = url.host_str().unwrap_or_default();
    let built: Arc<dyn ObjectStore> = match url.scheme() {
        "memory" => memory_store(host),
        "s3" | "s3a" => Arc::new(
            AmazonS3Builder::from_env()
                .with_url(url.as_str())
                .build()
                .map_err(|e| store_error(url, e))?,
        ),
        "gs" => Arc::new(
            GoogleCloudStorageBuilder::from_env()
                .with_url(url.as_str())
                .build()
                .map_err(|e| store_error(url, e))?,
        ),
        "az" | "azure" | "abfs" | "abfss" | "adl" => Arc::new(
            MicrosoftAzureBuilder::from_env()
                .with_url(url.as_str())
                .build()
                .map_err(|e| store_error(url, e))?,
        ),
        "file" => Arc::new(object_store::local::LocalFileSystem::new()),
        other => {
            return Err(CliError::msg(format!(
                "{}: the scheme {other}:// is not supported; use a local path, file://, s3://, \
                 gs://, az:// or memory://",
                redact(url)
            )));
        }
    };
    ctx.register_object_store(base.as_ref(), built.clone());
    Ok(built)
}

fn store_error(url: &Url, e: object_store::Error) -> CliError {
    CliError::msg(format!(
        "cannot open the store of {}: {}",
        redact(url),
        redact_text(&e.to_string())
    ))
}

/// Registers the store of `location` (a URL or a local path) and returns the location.
pub fn location(ctx: &SessionContext, location: &str) -> Result<Location, CliError> {
    let url = parse_url(location)?;
    let store = store_for(ctx, &url)?;
    let path = path_of(&url)?;
    Ok(Location { url, store, path })
}

/// `url` without user info or query string (either may hold a credential).
pub fn redact(url: &Url) -> String {
    let mut u = url.clone();
    let _ = u.set_username("");
    let _ = u.set_password(None);
    let had_query = u.query().is_some();
    u.set_query(None);
    let mut s = u.to_string();
    if had_query {
        s.push_str("?***");
    }
    s
}

/// Masks query strings of URLs inside a message (SAS tokens, signatures).
pub fn redact_text(s: &str) -> String {
    s.split(' ')
        .map(|word| {
            if word.contains("://")
                && let Some((base, _)) = word.split_once('?')
            {
                return format!("{base}?***");
            }
            word.to_string()
        })
        .collect::<Vec<_>>()
        .join(" ")
}

// ---- object helpers of the commit protocol ------------------------------------------------

/// An object store failure as one line, naming the operation and the (redacted) URL.
pub(crate) fn os_error(op: &str, loc: &Location, e: object_store::Error) -> CliError {
    CliError::msg(format!(
        "cannot {op} {}: {}",
        loc.display(),
        redact_text(&e.to_string())
    ))
}

/// Why a JSON write failed.
pub(crate) enum PutError {
    /// The object exists (a create-if-absent write refused).
    Exists,
    /// Anything else.
    Other(CliError),
}

/// Writes `value` as JSON at `loc` with `mode` (create-if-absent for markers and leases).
pub(crate) async fn put_json<T: Serialize>(
    loc: &Location,
    value: &T,
    mode: PutMode,
) -> Result<(), PutError> {
    let body = serde_json::to_vec_pretty(value).map_err(|e| {
        PutError::Other(CliError::msg(format!(
            "cannot encode {}: {e}",
            loc.display()
        )))
    })?;
    let opts = PutOptions {
        mode,
        ..Default::default()
    };
    match loc
        .store
        .put_opts(&loc.path, PutPayload::from(body), opts)
        .await
    {
        Ok(_) => Ok(()),
        Err(object_store::Error::AlreadyExists { .. }) => Err(PutError::Exists),
        Err(object_store::Error::NotImplemented { .. }) => {
            Err(PutError::Other(CliError::msg(format!(
                "{}: this store does not support create-if-absent writes, which the commit needs \
             (for S3-compatible stores: conditional put with If-None-Match)",
                loc.display()
            ))))
        }
        Err(e) => Err(PutError::Other(os_error("write", loc, e))),
    }
}

/// A missing object is no failure for a delete.
pub(crate) fn ignore_missing(e: object_store::Error) -> Result<(), object_store::Error> {
    match e {
        object_store::Error::NotFound { .. } => Ok(()),
        e => Err(e),
    }
}

/// Deletes one object (gone already is fine).
pub(crate) async fn delete(loc: &Location) -> Result<(), CliError> {
    loc.store
        .delete(&loc.path)
        .await
        .or_else(ignore_missing)
        .map_err(|e| os_error("delete", loc, e))
}

/// Deletes every object under `loc`.
pub(crate) async fn delete_prefix(loc: &Location) -> Result<(), CliError> {
    let objects: Vec<_> = loc
        .store
        .list(Some(&loc.path))
        .try_collect()
        .await
        .map_err(|e| os_error("list", loc, e))?;
    for o in objects {
        loc.store
            .delete(&o.location)
            .await
            .or_else(ignore_missing)
            .map_err(|e| os_error("delete", loc, e))?;
    }
    Ok(())
}

/// Copies one object: within a store on the server side, across stores by streaming.
pub(crate) async fn copy_object(from: &Location, to: &Location) -> Result<(), CliError> {
    let same = from.url.scheme() == to.url.scheme() && from.url.authority() == to.url.authority();
    if same {
        return from
            .store
            .copy(&from.path, &to.path)
            .await
            .map_err(|e| os_error("copy to", to, e));
    }
    let mut stream = from
        .store
        .get(&from.path)
        .await
        .map_err(|e| os_error("read", from, e))?
        .into_stream();
    let upload = to
        .store
        .put_multipart(&to.path)
        .await
        .map_err(|e| os_error("write", to, e))?;
    let mut writer = WriteMultipart::new(upload);
    while let Some(chunk) = stream
        .try_next()
        .await
        .map_err(|e| os_error("read", from, e))?
    {
        writer.write(&chunk);
    }
    writer
        .finish()
        .await
        .map(|_| ())
        .map_err(|e| os_error("write", to, e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use object_store::ObjectStoreExt;

    #[test]
    fn urls_and_paths() {
        let u = parse_url("s3://bucket/a/b.parquet").unwrap();
        assert_eq!(path_of(&u).unwrap().as_ref(), "a/b.parquet");
        let d = parse_url("/tmp/x/").unwrap();
        assert_eq!(d.as_str(), "file:///tmp/x/");
        let f = parse_url("rel/y.parquet").unwrap();
        assert!(f.as_str().starts_with("file:///") && f.as_str().ends_with("/rel/y.parquet"));
        assert_eq!(
            redact(&Url::parse("az://u:p@c/x?sig=abc").unwrap()),
            "az://c/x?***"
        );
        assert_eq!(
            redact_text("GET https://h/x?sig=abc failed"),
            "GET https://h/x?*** failed"
        );
    }

    #[tokio::test]
    async fn memory_stores_are_per_host_and_registered() {
        let ctx = SessionContext::new();
        let a = location(&ctx, "memory://stores-test-a/x").unwrap();
        a.store
            .put(&a.path, bytes::Bytes::from_static(b"1").into())
            .await
            .unwrap();
        let b = location(&ctx, "memory://stores-test-b/x").unwrap();
        assert!(b.store.head(&b.path).await.is_err());
        assert!(memory_store("stores-test-a").head(&a.path).await.is_ok());
        let base = ObjectStoreUrl::parse("memory://stores-test-a").unwrap();
        assert!(ctx.runtime_env().object_store(&base).is_ok());
    }
}

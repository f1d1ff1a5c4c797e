//! Credentials: the `key` option names a credential; the secret comes from the environment, a
//! credentials file, or the embedding application, and lives in a [`Secret`] that never prints.
//!
//! Lookup order for a name `N`: credentials registered in code, then the environment variable
//! `CIO_KEY_<N upper-cased, non-alphanumerics as _>`, then the table `[N]` of the credentials file
//! (TOML, keys `api_key`, optional `region` and `base_url`, the latter held to the rules of the table's
//! `base_url` option when the file is read), whose path is `--credentials`,
//! `CIO_CREDENTIALS`, or `<config dir>/cio-sql/credentials.toml`.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::RwLock;

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

pub use crate::api::Region;
use crate::error::{Error, Result};
use crate::options::check_base_url;

/// A secret string. `Debug` and `Display` print `***`; only [`Secret::expose`] reveals it. It is
/// held in a [`secrecy::SecretString`], whose memory is zeroed when it is dropped.
#[derive(Clone)]
pub struct Secret(SecretString);

impl Secret {
    /// Wraps a secret.
    pub fn new(s: impl Into<String>) -> Self {
        Secret(SecretString::from(s.into()))
    }

    /// The secret itself, for the `Authorization` header and nothing else.
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// One named credential.
#[derive(Debug, Clone)]
pub struct Credential {
    /// The App API key.
    pub api_key: Secret,
    /// Its region, if known.
    pub region: Option<Region>,
    /// A base URL that replaces the region's (the simulator, a proxy).
    pub base_url: Option<String>,
}

impl Credential {
    /// A credential for `api_key` with no region or base URL set.
    pub fn new(api_key: impl Into<String>) -> Self {
        Credential {
            api_key: Secret::new(api_key),
            region: None,
            base_url: None,
        }
    }

    /// Sets the region.
    pub fn with_region(mut self, region: Region) -> Self {
        self.region = Some(region);
        self
    }

    /// Sets the base URL.
    pub fn with_base_url(mut self, url: impl Into<String>) -> Self {
        self.base_url = Some(url.into());
        self
    }

    /// Refuses a table `region` that contradicts this credential's region: a key belongs to one
    /// region, and the other region's host answers 401. `name` is the credential's name; the
    /// message names it and both regions, never the key.
    pub fn check_region(&self, name: &str, table_region: Option<Region>) -> Result<()> {
        match (table_region, self.region) {
            (Some(table), Some(own)) if table != own => Err(Error::option_value(
                "region",
                table.to_string(),
                format!(
                    "option region: '{table}' contradicts credential '{name}', whose region is \
                     '{own}'; drop the region option (the credential's region and base_url \
                     apply) or use a credential of region {table}"
                ),
            )),
            _ => Ok(()),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileEntry {
    api_key: String,
    region: Option<String>,
    base_url: Option<String>,
}

/// Where named credentials come from.
#[derive(Debug, Default)]
pub struct Credentials {
    registered: RwLock<BTreeMap<String, Credential>>,
    file: Option<PathBuf>,
}

/// The environment variable that holds the credential `name`.
pub fn env_var_name(name: &str) -> String {
    let mut var = String::from("CIO_KEY_");
    var.extend(name.chars().map(|c| {
        if c.is_ascii_alphanumeric() {
            c.to_ascii_uppercase()
        } else {
            '_'
        }
    }));
    var
}

/// The default credentials file: `CIO_CREDENTIALS`, else `<config dir>/cio-sql/credentials.toml`.
pub fn default_credentials_path() -> Option<PathBuf> {
    match std::env::var_os("CIO_CREDENTIALS") {
        Some(p) if !p.is_empty() => Some(PathBuf::from(p)),
        _ => dirs::config_dir().map(|d| d.join("cio-sql").join("credentials.toml")),
    }
}

impl Credentials {
    /// Credentials from the environment and the default credentials file.
    pub fn from_env() -> Self {
        Credentials {
            registered: RwLock::default(),
            file: default_credentials_path(),
        }
    }

    /// Credentials from the environment and the file at `path`.
    pub fn with_file(path: impl Into<PathBuf>) -> Self {
        Credentials {
            registered: RwLock::default(),
            file: Some(path.into()),
        }
    }

    /// Credentials registered in code only (plus the environment).
    pub fn empty() -> Self {
        Credentials::default()
    }

    /// The credentials file consulted, if any.
    pub fn file(&self) -> Option<&Path> {
        self.file.as_deref()
    }

    /// Registers (or replaces) the credential `name`.
    pub fn insert(&self, name: impl Into<String>, credential: Credential) {
        let mut map = self.registered.write().unwrap_or_else(|e| e.into_inner());
        map.insert(name.into(), credential);
    }

    /// The names of every credential registered in code or present in the credentials file.
    pub fn names(&self) -> Result<Vec<String>> {
        let mut names: Vec<String> = {
            let map = self.registered.read().unwrap_or_else(|e| e.into_inner());
            map.keys().cloned().collect()
        };
        if let Some(entries) = self.read_file()? {
            names.extend(entries.into_keys());
        }
        names.sort();
        names.dedup();
        Ok(names)
    }

    /// Finds the credential `name`.
    pub fn resolve(&self, name: &str) -> Result<Credential> {
        check_name(name)?;
        if let Some(c) = self
            .registered
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(name)
        {
            return Ok(c.clone());
        }
        let var = env_var_name(name);
        if let Ok(value) = std::env::var(&var)
            && !value.trim().is_empty()
        {
            return Ok(Credential::new(value.trim()));
        }
        if let Some(mut entries) = self.read_file()?
            && let Some(entry) = entries.remove(name)
        {
            return Ok(entry);
        }
        let file = match &self.file {
            Some(p) => format!("a table [{name}] in {}", p.display()),
            None => "a credentials file (none configured)".to_string(),
        };
        Err(Error::Credential(format!(
            "credential '{name}' not found: set the environment variable {var}, or add {file} \
             with api_key = \"...\" (and optionally region = \"us\"|\"eu\")"
        )))
    }

    fn read_file(&self) -> Result<Option<BTreeMap<String, Credential>>> {
        let Some(path) = &self.file else {
            return Ok(None);
        };
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => {
                return Err(Error::Credential(format!(
                    "cannot read credentials file {}: {e}",
                    path.display()
                )));
            }
        };
        parse_file(&text)
            .map(Some)
            .map_err(|e| Error::Credential(format!("credentials file {}: {e}", path.display())))
    }
}

/// Parses a credentials file. Errors never quote values (they may be secrets).
fn parse_file(text: &str) -> std::result::Result<BTreeMap<String, Credential>, String> {
    let raw: BTreeMap<String, FileEntry> = toml::from_str(text).map_err(|e| {
        // toml's message can quote the offending line, which may hold a key: keep the position only.
        match e.span() {
            Some(span) => {
                let line = text[..span.start.min(text.len())].lines().count().max(1);
                format!("invalid TOML near line {line}; expected tables like [name] with api_key = \"...\"")
            }
            None => "invalid TOML; expected tables like [name] with api_key = \"...\"".to_string(),
        }
    })?;
    raw.into_iter()
        .map(|(name, entry)| {
            let region = match entry.region {
                Some(r) => Some(
                    r.parse::<Region>()
                        .map_err(|e| format!("[{name}] region: {e}"))?,
                ),
                None => None,
            };
            // It outranks the region's host, so it is held to the table option's rules; the
            // message quotes it without userinfo.
            let base_url = entry
                .base_url
                .map(|u| {
                    check_base_url(&u).map_err(|e| format!("credential [{name}] base_url: {e}"))
                })
                .transpose()?;
            Ok((
                name,
                Credential {
                    api_key: Secret::new(entry.api_key),
                    region,
                    base_url,
                },
            ))
        })
        .collect()
}

/// Refuses a `key` option that looks like a secret rather than a credential name.
pub fn check_name(name: &str) -> Result<()> {
    let advice = "the key option names a credential, not the API key itself: store the key in \
                  the environment variable CIO_KEY_<NAME> or in the credentials file, then write \
                  key 'NAME'";
    let valid = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if !valid {
        return Err(Error::Credential(format!(
            "option key: not a valid credential name (letters, digits, '_', '-', '.'; at most 64 characters); {advice}"
        )));
    }
    if looks_like_secret(name) {
        return Err(Error::Credential(format!(
            "option key: the value looks like an API key; {advice}"
        )));
    }
    Ok(())
}

/// A long run of hex (alone, or as one part of a name between `_`, `-` or `.`, as in a key
/// pasted with a prefix: `live-<32 hex digits>`), or a long token mixing letters and digits with
/// no word separators.
fn looks_like_secret(s: &str) -> bool {
    let hex = s
        .split(['_', '-', '.'])
        .any(|p| p.len() >= 20 && p.chars().all(|c| c.is_ascii_hexdigit()));
    let digits = s.chars().filter(|c| c.is_ascii_digit()).count();
    let letters = s.chars().filter(|c| c.is_ascii_alphabetic()).count();
    let token = s.len() >= 24 && !s.contains(['_', '-', '.']) && digits >= 4 && letters >= 4;
    hex || token
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_never_prints() {
        let s = Secret::new("canary-0123456789");
        assert_eq!(format!("{s:?} {s}"), "*** ***");
        let c = Credential::new("canary-0123456789");
        assert!(!format!("{c:?}").contains("canary"));
    }

    #[test]
    fn env_names() {
        assert_eq!(env_var_name("customerio_key"), "CIO_KEY_CUSTOMERIO_KEY");
        assert_eq!(env_var_name("acme-prod.eu"), "CIO_KEY_ACME_PROD_EU");
    }

    #[test]
    fn literal_keys_are_refused() {
        assert!(check_name("customerio_key").is_ok());
        assert!(check_name("sim_us").is_ok());
        let err = check_name("0123456789abcdef0123456789abcdef")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("looks like an API key") && !err.contains("0123456789abcdef"),
            "{err}"
        );
        assert!(check_name("a b").is_err());
        assert!(check_name("Xk93jf8Qm2Lz7Pw4Tn6Rb1Vc").is_err());
        // A key pasted with a prefix: the hex part gives it away.
        let err = check_name("live-0123456789abcdef0123456789abcdef")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("looks like an API key") && !err.contains("live-"),
            "{err}"
        );
        assert!(check_name("acme-2026-11-26_eu").is_ok());
    }

    #[test]
    fn file_parses_and_errors_hide_values() {
        let creds = parse_file("[acme]\napi_key = \"k1\"\nregion = \"eu\"\n").unwrap();
        assert_eq!(creds["acme"].region, Some(Region::Eu));
        let err = parse_file("[acme]\napi_key = \"supersecret\"\nregion = \"mars\"\n").unwrap_err();
        assert!(
            err.contains("mars") && !err.contains("supersecret"),
            "{err}"
        );
        let err = parse_file("[acme]\napi_key = supersecret\n").unwrap_err();
        assert!(!err.contains("supersecret"), "{err}");
    }

    #[test]
    fn file_base_url_is_validated_and_errors_hide_userinfo() {
        let ok =
            parse_file("[acme]\napi_key = \"k\"\nbase_url = \"http://proxy:8080/\"\n").unwrap();
        assert_eq!(ok["acme"].base_url.as_deref(), Some("http://proxy:8080"));
        let err = parse_file(
            "[acme]\napi_key = \"canary-key\"\nbase_url = \"http://user:hunter2@proxy:8080/v\"\n",
        )
        .unwrap_err();
        assert!(
            err.contains("credential [acme] base_url")
                && err.contains("'http://proxy:8080/v'")
                && err.contains("must not carry credentials"),
            "{err}"
        );
        assert!(
            !err.contains("hunter2") && !err.contains("user:") && !err.contains("canary-key"),
            "{err}"
        );
        // Not http(s): named, quoted without userinfo, with what is valid.
        let err = parse_file("[acme]\napi_key = \"k\"\nbase_url = \"ftp://u:hunter2@files\"\n")
            .unwrap_err();
        assert!(
            err.contains("credential [acme] base_url")
                && err.contains("'ftp://files'")
                && err.contains("https://api.customer.io")
                && !err.contains("hunter2"),
            "{err}"
        );
        let err = parse_file("[acme]\napi_key = \"k\"\nbase_url = \"proxy:8080\"\n").unwrap_err();
        assert!(err.contains("'proxy:8080' is not an http(s) URL"), "{err}");
        // Through the file: the path and the credential are named.
        let path = std::env::temp_dir().join(format!("cio-creds-url-{}.toml", std::process::id()));
        std::fs::write(
            &path,
            "[acme]\napi_key = \"canary-key\"\nregion = \"eu\"\nbase_url = \"https://a:b@proxy\"\n",
        )
        .unwrap();
        let err = Credentials::with_file(&path)
            .resolve("acme")
            .unwrap_err()
            .to_string();
        std::fs::remove_file(&path).ok();
        assert!(
            err.contains("credential [acme] base_url")
                && err.contains("'https://proxy'")
                && !err.contains("a:b")
                && !err.contains("canary-key"),
            "{err}"
        );
    }

    #[test]
    fn lookup_order_and_missing_message() {
        let path = std::env::temp_dir().join(format!("cio-creds-{}.toml", std::process::id()));
        std::fs::write(
            &path,
            "[from_file]\napi_key = \"file-key\"\nbase_url = \"http://127.0.0.1:1\"\n",
        )
        .unwrap();
        let creds = Credentials::with_file(&path);
        creds.insert("in_code", Credential::new("code-key"));
        assert_eq!(
            creds.resolve("in_code").unwrap().api_key.expose(),
            "code-key"
        );
        let f = creds.resolve("from_file").unwrap();
        assert_eq!(f.api_key.expose(), "file-key");
        assert_eq!(f.base_url.as_deref(), Some("http://127.0.0.1:1"));
        assert_eq!(creds.names().unwrap(), vec!["from_file", "in_code"]);
        let err = creds.resolve("nowhere").unwrap_err().to_string();
        assert!(
            err.contains("CIO_KEY_NOWHERE") && err.contains("[nowhere]"),
            "{err}"
        );
        std::fs::remove_file(path).ok();
    }

    #[test]
    fn table_region_must_agree_with_the_credentials() {
        let eu = Credential::new("canary-secret").with_region(Region::Eu);
        assert!(eu.check_region("acme", None).is_ok());
        assert!(eu.check_region("acme", Some(Region::Eu)).is_ok());
        // A credential without a region takes any table region.
        assert!(
            Credential::new("k")
                .check_region("acme", Some(Region::Us))
                .is_ok()
        );
        let err = eu
            .check_region("acme", Some(Region::Us))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("'us'") && err.contains("'eu'") && err.contains("credential 'acme'"),
            "{err}"
        );
        assert!(!err.contains("canary-secret"), "{err}");
    }
}

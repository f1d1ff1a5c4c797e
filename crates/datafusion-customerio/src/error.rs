//! The crate's one error type. It is converted to a `DataFusionError` only at the provider
//! boundary. No variant ever holds an API key: messages name the credential, never the secret.

use std::time::Duration;

/// What can go wrong between a SQL statement and Customer.io.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A table option (or a command-line setting) is unknown, repeated, missing or has a bad
    /// value. Raised at CREATE time, before any request.
    #[error("{message}")]
    Option {
        /// The option's name (`period`, `start`, ...), lower case and without a `format.` or
        /// `customerio.` prefix (see [`crate::options::option_name`]); a program points at the
        /// setting with it instead of reading the message.
        option: String,
        /// The offending value, when there is one. Never set for `key` (a value refused there
        /// may be a pasted API key) and without userinfo for URLs.
        value: Option<String>,
        /// The whole sentence: the option, the value and what would be valid.
        message: String,
    },

    /// A credential could not be found or read.
    #[error("{0}")]
    Credential(String),

    /// Customer.io answered with an error status that retrying cannot fix.
    #[error("{endpoint} failed with HTTP {status}: {detail}")]
    Api {
        /// Method and path, e.g. `GET /v1/campaigns/12/metrics`.
        endpoint: String,
        /// The HTTP status.
        status: u16,
        /// Customer.io's `errors[].detail` (joined), or a short description of the body.
        detail: String,
    },

    /// Retrying did not succeed within the allowed attempts or the overall deadline.
    #[error(
        "{endpoint} failed after {attempts} attempts in {:.1}s; last error: {last}",
        elapsed.as_secs_f64()
    )]
    RetriesExhausted {
        /// Method and path.
        endpoint: String,
        /// Attempts made.
        attempts: u32,
        /// Time spent, from the first attempt.
        elapsed: Duration,
        /// The last status or transport error.
        last: String,
    },

    /// A response that parsed as HTTP but not as what the endpoint documents.
    #[error("{endpoint} returned a response that does not match the API: {detail}")]
    Malformed {
        /// Method and path.
        endpoint: String,
        /// What did not match, with the JSON path where known.
        detail: String,
    },

    /// The API repeated a pagination cursor: reading on would loop forever.
    #[error(
        "{endpoint} returned the pagination cursor '{cursor}' twice; stopping to avoid an endless loop"
    )]
    RepeatedCursor {
        /// Method and path.
        endpoint: String,
        /// The repeated cursor.
        cursor: String,
    },

    /// An export ended badly (failed, timed out, or its file could not be read).
    #[error("{0}")]
    Export(String),

    /// Anything raised by Arrow or DataFusion while building results.
    #[error(transparent)]
    DataFusion(#[from] datafusion::error::DataFusionError),

    /// Local I/O (credentials file, outputs).
    #[error("{0}")]
    Io(String),
}

impl Error {
    /// An error about `option` with no single offending value (missing, given twice, two
    /// options in conflict). `message` is the whole sentence.
    pub fn option(option: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Option {
            option: option.into(),
            value: None,
            message: message.into(),
        }
    }

    /// An error about the value `value` of `option`. `message` is the whole sentence, naming
    /// what would be valid. The value is dropped for `key`: it may be a secret.
    pub fn option_value(
        option: impl Into<String>,
        value: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        let option = option.into();
        let value = (!option.eq_ignore_ascii_case("key")).then(|| value.into());
        Error::Option {
            option,
            value,
            message: message.into(),
        }
    }

    /// The option an [`Error::Option`] is about; for an [`Error::Credential`], `key`, the
    /// option that names the credential.
    pub fn option_name(&self) -> Option<&str> {
        match self {
            Error::Option { option, .. } => Some(option),
            Error::Credential(_) => Some("key"),
            _ => None,
        }
    }
}

/// This crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl From<datafusion::arrow::error::ArrowError> for Error {
    fn from(e: datafusion::arrow::error::ArrowError) -> Self {
        Error::DataFusion(e.into())
    }
}

impl From<Error> for datafusion::error::DataFusionError {
    fn from(e: Error) -> Self {
        match e {
            Error::DataFusion(inner) => inner,
            Error::Option { message, .. } | Error::Credential(message) => {
                datafusion::error::DataFusionError::Plan(message)
            }
            other => datafusion::error::DataFusionError::External(Box::new(other)),
        }
    }
}

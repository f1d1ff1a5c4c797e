//! Query-string and cursor parsing that answers 400 with an `errors[]` body naming the problem.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use super::error::{ApiError, ApiResult};

/// The parsed query string of a request. Unknown parameters are ignored here: in strict mode
/// ([`validate`](super::validate)) they are refused before a handler runs.
#[derive(Debug, Default)]
pub(crate) struct Params {
    pairs: Vec<(String, String)>,
}

impl Params {
    /// Parses a raw query string (`None`: no query).
    pub(crate) fn parse(raw: Option<&str>) -> Self {
        let pairs = raw
            .map(|q| {
                url::form_urlencoded::parse(q.as_bytes())
                    .map(|(k, v)| (k.into_owned(), v.into_owned()))
                    .collect()
            })
            .unwrap_or_default();
        Params { pairs }
    }

    /// The first value of `name`, if present and not empty, as Go's `Query().Get` reads it (the
    /// vendor's answers carry Go's time format): `version=2&version=1` is version 2 and
    /// `version=&version=2` is no version. Strict mode refuses a repeated parameter anyway.
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    }

    /// `name` as an integer, if present.
    pub(crate) fn int(&self, name: &str) -> ApiResult<Option<i64>> {
        self.get(name)
            .map(|v| {
                v.trim().parse::<i64>().map_err(|_| {
                    ApiError::bad_request(format!("{name} must be an integer, got '{v}'"))
                })
            })
            .transpose()
    }

    /// `name` as a boolean (`true`/`false`/`1`/`0`), or `default`.
    pub(crate) fn bool(&self, name: &str, default: bool) -> ApiResult<bool> {
        match self.get(name).map(|v| v.trim().to_ascii_lowercase()) {
            None => Ok(default),
            Some(v) if v == "true" || v == "1" => Ok(true),
            Some(v) if v == "false" || v == "0" => Ok(false),
            Some(v) => Err(ApiError::bad_request(format!(
                "{name} must be true or false, got '{v}'"
            ))),
        }
    }

    /// `name` as one of `allowed`, if present.
    pub(crate) fn one_of(&self, name: &str, allowed: &[&str]) -> ApiResult<Option<String>> {
        match self.get(name) {
            None => Ok(None),
            Some(v) if allowed.contains(&v) => Ok(Some(v.to_string())),
            Some(v) => Err(ApiError::bad_request(format!(
                "{name} '{v}' is invalid; valid values are {}",
                allowed.join(", ")
            ))),
        }
    }
}

/// Parses a path id that must be a positive integer.
pub(crate) fn path_id(name: &str, raw: &str) -> ApiResult<u64> {
    raw.parse::<u64>()
        .map_err(|_| ApiError::bad_request(format!("{name} must be an integer, got '{raw}'")))
}

/// An opaque page cursor: base64 of `"0:<offset>"`, like the live tokens (`MDoxNTA=` = `0:150`).
pub(crate) fn encode_cursor(offset: u64) -> String {
    STANDARD.encode(format!("0:{offset}"))
}

/// The offset in a cursor from [`encode_cursor`]; anything else is a 400.
pub(crate) fn decode_cursor(token: &str) -> ApiResult<u64> {
    let bad = || ApiError::bad_request(format!("start '{token}' is not a valid page cursor"));
    let bytes = STANDARD.decode(token.trim()).map_err(|_| bad())?;
    let text = String::from_utf8(bytes).map_err(|_| bad())?;
    let (prefix, offset) = text.split_once(':').ok_or_else(bad)?;
    if prefix != "0" {
        return Err(bad());
    }
    offset.parse::<u64>().map_err(|_| bad())
}

/// The page offset from an optional `start` parameter (absent: 0).
pub(crate) fn start_offset(params: &Params) -> ApiResult<u64> {
    params.get("start").map(decode_cursor).unwrap_or(Ok(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_round_trips_and_matches_live_format() {
        assert_eq!(encode_cursor(150), "MDoxNTA=");
        assert_eq!(decode_cursor("MDoxNTA=").unwrap(), 150);
        assert!(decode_cursor("not-base64!").is_err());
        assert!(decode_cursor(&STANDARD.encode("x")).is_err());
    }

    #[test]
    fn params_parse_and_validate() {
        let p = Params::parse(Some("limit=5&sort=desc&unique=true&bad=x&empty="));
        assert_eq!(p.int("limit").unwrap(), Some(5));
        assert!(p.bool("unique", false).unwrap());
        assert_eq!(
            p.one_of("sort", &["asc", "desc"]).unwrap().as_deref(),
            Some("desc")
        );
        assert!(p.int("bad").is_err());
        assert_eq!(p.get("empty"), None);
    }

    #[test]
    fn repeated_parameters_read_the_first_value_as_go_does() {
        assert_eq!(
            Params::parse(Some("version=2&version=1")).get("version"),
            Some("2")
        );
        assert_eq!(
            Params::parse(Some("version=2&version=")).get("version"),
            Some("2")
        );
        assert_eq!(
            Params::parse(Some("version=&version=2")).get("version"),
            None
        );
    }
}

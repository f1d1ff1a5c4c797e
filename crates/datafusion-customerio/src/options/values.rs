//! Value parsers shared by every report's options: whole numbers, booleans, durations, lists.
//! Each error names the option, quotes the value and says what would be valid.

use std::time::Duration;

use crate::error::{Error, Result};

/// A whole number from `min` to `max`.
pub(super) fn parse_int(name: &str, v: &str, min: i64, max: i64) -> Result<i64> {
    match v.parse::<i64>() {
        Ok(n) if (min..=max).contains(&n) => Ok(n),
        _ => Err(Error::option_value(
            name,
            v,
            format!(
                "option {name}: '{v}' is not valid; valid values are whole numbers from {min} to \
                 {max}"
            ),
        )),
    }
}

/// `true`/`false` (also `1`/`0`, `yes`/`no`, `on`/`off`), in any case.
pub(super) fn parse_bool(name: &str, v: &str) -> Result<bool> {
    match v.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" => Ok(false),
        _ => Err(Error::option_value(
            name,
            v,
            format!("option {name}: '{v}' is not a boolean; valid values are true, false"),
        )),
    }
}

/// `90` (seconds), or what `humantime` reads (`90s`, `15m`, `2h`, `1h 30m`): from 1 s to
/// `max_secs`.
pub(super) fn parse_duration(name: &str, v: &str, max_secs: u64) -> Result<Duration> {
    let parsed = duration_text(v);
    let max = match max_secs {
        m if m % 3600 == 0 => format!("{}h", m / 3600),
        m if m % 60 == 0 => format!("{}m", m / 60),
        m => format!("{m}s"),
    };
    let range = Duration::from_secs(1)..=Duration::from_secs(max_secs);
    match parsed {
        Some(d) if range.contains(&d) => Ok(d),
        _ => Err(Error::option_value(
            name,
            v,
            format!(
                "option {name}: '{v}' is not a duration; valid values are 1s to {max}, written \
                 as seconds or with s, m, h (90, 90s, 15m, 2h, 1h 30m)"
            ),
        )),
    }
}

/// `90` (seconds) or what `humantime` reads (`90s`, `15m`, `2h`), any length.
pub(super) fn duration_text(v: &str) -> Option<Duration> {
    let t = v.trim();
    if !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()) {
        t.parse().ok().map(Duration::from_secs)
    } else {
        humantime::parse_duration(t).ok()
    }
}

/// A list option: a JSON array of strings/numbers, or a comma-separated list.
pub(super) fn parse_list(name: &str, v: &str) -> Result<Vec<String>> {
    let items: Vec<String> = if v.trim_start().starts_with('[') {
        let parsed: Vec<serde_json::Value> = serde_json::from_str(v).map_err(|e| {
            Error::option_value(
                name,
                v,
                format!(
                    "option {name}: '{v}' is not a JSON array ({e}); write [\"a\", \"b\"] or a, b"
                ),
            )
        })?;
        parsed
            .into_iter()
            .map(|x| match x {
                serde_json::Value::String(s) => Ok(s),
                serde_json::Value::Number(n) => Ok(n.to_string()),
                other => Err(Error::option_value(
                    name,
                    other.to_string(),
                    format!(
                        "option {name}: {other} is not a name or an id; write strings or numbers"
                    ),
                )),
            })
            .collect::<Result<_>>()?
    } else {
        v.split(',').map(|s| s.trim().to_string()).collect()
    };
    let items: Vec<String> = items.into_iter().map(|s| s.trim().to_string()).collect();
    if items.is_empty() || items.iter().any(String::is_empty) {
        return Err(Error::option_value(
            name,
            v,
            format!(
                "option {name}: '{v}' has an empty entry; write a JSON array [\"a\", \"b\"] or a, \
                 b"
            ),
        ));
    }
    Ok(items)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_in_the_documented_forms() {
        let secs = |v: &str| parse_duration("t", v, 24 * 3600).map(|d| d.as_secs());
        for (v, want) in [
            ("90", 90),
            ("90s", 90),
            ("15m", 900),
            ("2h", 7200),
            (" 30s ", 30),
            ("1h 30m", 5400),
            ("24h", 86_400),
            ("1.5m", 90),
        ] {
            assert_eq!(secs(v).unwrap(), want, "{v}");
        }
        for v in ["0", "0s", "25h", "", "s", "-5", "500ms", "0.5s", "ten"] {
            let err = secs(v).unwrap_err().to_string();
            assert!(
                err.contains(&format!("'{v}'")) && err.contains("1s to 24h"),
                "{v}: {err}"
            );
        }
    }
}

//! Response-shape switches: answers the vendor documents, or plausibly sends, in a form other
//! than the simulator's default (which follows the live notes), so that tests can show the
//! connector reads each of them to the same rows.
//!
//! | switch | default | variants |
//! |---|---|---|
//! | [`PeopleShape`] | items of `POST /v1/customers/attributes` bare (live, API-NOTES §2.1) | each wrapped as `{"customer": {...}}` (the 2022 spec's example), or every other one |
//! | [`MetricsTimeFormat`] | v2 campaign metrics `start`/`end` in Go's `time.Time` form (the spec's example) | RFC 3339 in UTC (`2026-01-01T00:00:00.000Z`), or with a `-05:00` offset (the spec calls the field ISO 8601) |
//! | [`LinkIdType`] | link ids of `/metrics/links` as JSON numbers (the spec) | numeric strings (live action ids are strings) |
//! | [`ExportCompression`] | the export file as plain CSV | gzip bytes without `Content-Encoding`, or with `Content-Encoding: gzip` (the file format is undocumented) |
//! | `export_bom`, [`HeaderCase`] | no byte-order mark, lower-case header | a UTF-8 BOM first, the fixed columns' names in upper case |
//! | [`MetricsEnd`] | v2 buckets that start before `end` | also the bucket that contains `end` (the spec's example reads so) |
//!
//! [`HeaderCase::Upper`] changes only the export's own columns (`id`, `email`, `cio_id`; the
//! delivery columns), whose spelling in the real, undocumented file is the unknown. The columns
//! of requested `attributes` keep the names the caller asked for: attribute names are the user's
//! own and case-sensitive in Customer.io (`Plan` and `plan` are two attributes), so no plausible
//! file renames them.

use std::io::Write;
use std::str::FromStr;

use bytes::Bytes;
use chrono::{DateTime, FixedOffset, SecondsFormat, Utc};
use futures::{Stream, StreamExt};
use serde_json::{Value, json};

/// Every response-shape switch; the default is the simulator's usual answer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ShapeConfig {
    /// The items of `POST /v1/customers/attributes`.
    pub people: PeopleShape,
    /// The top-level `start` and `end` of version-2 campaign metrics.
    pub metrics_time: MetricsTimeFormat,
    /// Link ids in `/metrics/links` answers.
    pub link_ids: LinkIdType,
    /// How export files are encoded.
    pub export_compression: ExportCompression,
    /// A UTF-8 byte-order mark before an export file's header.
    pub export_bom: bool,
    /// The case of an export file's header names (of its fixed columns, not the attributes).
    pub export_header_case: HeaderCase,
    /// Which version-2 buckets a campaign metrics answer holds.
    pub metrics_end: MetricsEnd,
}

/// The valid values of a switch, for its `FromStr` error.
fn unknown(what: &str, s: &str, valid: &[&str]) -> String {
    format!(
        "'{s}' is not a valid {what}; valid values are {}",
        valid.join(", ")
    )
}

macro_rules! switch {
    ($(#[$doc:meta])* $name:ident, $what:literal, { $($(#[$vdoc:meta])* $variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
        pub enum $name {
            $($(#[$vdoc])* $variant),+
        }

        impl $name {
            /// Every value as the `cio-sim` flag spells it.
            pub const VALUES: &'static [&'static str] = &[$($text),+];

            /// The value as the `cio-sim` flag spells it.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }
        }

        impl FromStr for $name {
            type Err = String;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s.trim().to_ascii_lowercase().as_str() {
                    $($text => Ok($name::$variant),)+
                    _ => Err(unknown($what, s, Self::VALUES)),
                }
            }
        }
    };
}

switch!(
    /// The items of `POST /v1/customers/attributes` (`--people-shape`).
    PeopleShape, "people shape", {
        /// Bare person objects (the live shape).
        #[default]
        Unwrapped = "unwrapped",
        /// Each item `{"customer": {...}}` (the vendor's documented example).
        Wrapped = "wrapped",
        /// Wrapped and bare, alternating (the first wrapped).
        Mixed = "mixed",
    }
);

switch!(
    /// The version-2 `start`/`end` strings (`--metrics-time-format`).
    MetricsTimeFormat, "metrics time format", {
        /// Go's `time.Time` form in the request's `tz`: `2025-01-01 00:00:00 +0000 UTC`.
        #[default]
        Go = "go",
        /// RFC 3339 in UTC with milliseconds: `2026-01-01T00:00:00.000Z`.
        Rfc3339 = "rfc3339",
        /// RFC 3339 at a `-05:00` offset, the same instant: `2025-12-31T19:00:00.000-05:00`.
        Rfc3339Offset = "rfc3339-offset",
    }
);

switch!(
    /// Link ids in `/metrics/links` answers (`--link-id-type`).
    LinkIdType, "link id type", {
        /// JSON numbers (the spec).
        #[default]
        Integer = "integer",
        /// Numeric strings.
        String = "string",
    }
);

switch!(
    /// Export file encoding (`--export-compression`).
    ExportCompression, "export compression", {
        /// Plain CSV.
        #[default]
        None = "none",
        /// Gzip bytes, no `Content-Encoding` header.
        Gzip = "gzip",
        /// Gzip bytes with `Content-Encoding: gzip`.
        GzipHeader = "gzip-header",
    }
);

switch!(
    /// The case of export header names (`--export-header-case`): of the fixed columns only,
    /// attribute columns keep their names.
    HeaderCase, "header case", {
        /// As generated (lower case).
        #[default]
        Lower = "lower",
        /// The fixed columns' names in upper case (`ID,EMAIL,CIO_ID,plan`).
        Upper = "upper",
    }
);

switch!(
    /// Which version-2 buckets campaign metrics return (`--metrics-end`).
    MetricsEnd, "metrics end", {
        /// The buckets that start before `end`.
        #[default]
        Exclusive = "exclusive",
        /// Also the bucket that contains `end` (when `end` is a bucket's start).
        Inclusive = "inclusive",
    }
);

impl ShapeConfig {
    /// The raw query a version-2 window is computed from: under [`MetricsEnd::Inclusive`],
    /// `end` one second later, so that "the buckets that start before `end`" also takes the
    /// bucket that starts at `end` (the one that contains it).
    pub(crate) fn v2_query(&self, raw: Option<&str>) -> Option<String> {
        let raw = raw?;
        if self.metrics_end == MetricsEnd::Exclusive {
            return Some(raw.to_string());
        }
        let pairs: Vec<(String, String)> = url::form_urlencoded::parse(raw.as_bytes())
            .map(|(k, v)| {
                let v = match (k.as_ref(), v.trim().parse::<i64>()) {
                    ("end", Ok(end)) => end.saturating_add(1).to_string(),
                    _ => v.into_owned(),
                };
                (k.into_owned(), v)
            })
            .collect();
        Some(
            url::form_urlencoded::Serializer::new(String::new())
                .extend_pairs(pairs)
                .finish(),
        )
    }

    /// A version-2 `start` or `end`: `go` as the window formatted it, or the instant `t` in the
    /// chosen RFC 3339 form.
    pub(crate) fn v2_time(&self, go: &str, t: DateTime<Utc>) -> String {
        match self.metrics_time {
            MetricsTimeFormat::Go => go.to_string(),
            MetricsTimeFormat::Rfc3339 => t.to_rfc3339_opts(SecondsFormat::Millis, true),
            MetricsTimeFormat::Rfc3339Offset => match FixedOffset::west_opt(5 * 3600) {
                Some(offset) => t
                    .with_timezone(&offset)
                    .to_rfc3339_opts(SecondsFormat::Millis, false),
                None => t.to_rfc3339_opts(SecondsFormat::Millis, true),
            },
        }
    }

    /// Rewrites the link ids of a `/metrics/links` answer (`{"links": [{"link": {"id": ..}}]}`).
    pub(crate) fn shape_links(&self, mut body: Value) -> Value {
        if self.link_ids == LinkIdType::String
            && let Some(links) = body.get_mut("links").and_then(Value::as_array_mut)
        {
            for l in links {
                if let Some(id) = l.pointer_mut("/link/id")
                    && id.is_number()
                {
                    *id = json!(id.to_string());
                }
            }
        }
        body
    }

    /// Item `n` of a `POST /v1/customers/attributes` answer.
    pub(crate) fn person_item(&self, person: Value, n: usize) -> Value {
        let wrap = match self.people {
            PeopleShape::Unwrapped => false,
            PeopleShape::Wrapped => true,
            PeopleShape::Mixed => n.is_multiple_of(2),
        };
        if wrap {
            json!({ "customer": person })
        } else {
            person
        }
    }

    /// The `Content-Encoding` of an export file, if any.
    pub(crate) fn export_content_encoding(&self) -> Option<&'static str> {
        (self.export_compression == ExportCompression::GzipHeader).then_some("gzip")
    }

    /// An export file's chunks (the first being the header row, whose first `fixed` names are
    /// the export's own columns and the rest requested attributes) as served: header case (of
    /// the fixed names) and byte-order mark applied, then compressed as chosen, chunk by chunk.
    pub(crate) fn shape_file<S>(
        self,
        chunks: S,
        fixed: usize,
    ) -> impl Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static
    where
        S: Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static,
    {
        let mut first = true;
        let text = chunks.map(move |chunk| {
            let chunk = chunk?;
            if !std::mem::take(&mut first) {
                return Ok(chunk);
            }
            let mut out = Vec::with_capacity(chunk.len() + 3);
            if self.export_bom {
                out.extend_from_slice(b"\xEF\xBB\xBF");
            }
            match self.export_header_case {
                HeaderCase::Lower => out.extend_from_slice(&chunk),
                HeaderCase::Upper => out.extend(upper_fixed(&chunk, fixed)),
            }
            Ok(Bytes::from(out))
        });
        match self.export_compression {
            ExportCompression::None => text.boxed(),
            ExportCompression::Gzip | ExportCompression::GzipHeader => gzip(text).boxed(),
        }
    }
}

/// The header row `header` with its first `fixed` names in upper case (CSV quoting respected:
/// a comma inside quotes does not end a name).
fn upper_fixed(header: &[u8], fixed: usize) -> Vec<u8> {
    let mut field = 0;
    let mut quoted = false;
    header
        .iter()
        .map(|&b| {
            let out = if field < fixed {
                b.to_ascii_uppercase()
            } else {
                b
            };
            match b {
                b'"' => quoted = !quoted,
                b',' if !quoted => field += 1,
                _ => {}
            }
            out
        })
        .collect()
}

/// `chunks` as one gzip member, compressed as they come: memory does not grow with the file.
fn gzip<S>(chunks: S) -> impl Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static
where
    S: Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static,
{
    let encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let chunks = chunks
        .map(Some)
        .chain(futures::stream::once(async { None }));
    chunks
        .scan(Some(encoder), |encoder, chunk| {
            let out = match (chunk, encoder.as_mut()) {
                (_, None) => None,
                (Some(Err(e)), _) => Some(Err(e)),
                (Some(Ok(bytes)), Some(enc)) => Some(
                    enc.write_all(&bytes)
                        .map(|()| Bytes::from(std::mem::take(enc.get_mut()))),
                ),
                (None, Some(_)) => encoder.take().map(|enc| enc.finish().map(Bytes::from)),
            };
            futures::future::ready(out)
        })
        .filter(|chunk| futures::future::ready(!matches!(chunk, Ok(b) if b.is_empty())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn switches_parse_and_name_the_valid_values() {
        assert_eq!("wrapped".parse(), Ok(PeopleShape::Wrapped));
        assert_eq!(
            "RFC3339-offset".parse(),
            Ok(MetricsTimeFormat::Rfc3339Offset)
        );
        assert_eq!("gzip-header".parse(), Ok(ExportCompression::GzipHeader));
        let e = "zip".parse::<ExportCompression>().unwrap_err();
        assert!(
            e.contains("'zip'") && e.contains("none, gzip, gzip-header"),
            "{e}"
        );
        assert_eq!(ShapeConfig::default().metrics_end, MetricsEnd::Exclusive);
    }

    #[test]
    fn rfc3339_forms_are_the_same_instant() {
        let t = DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let mut s = ShapeConfig {
            metrics_time: MetricsTimeFormat::Rfc3339,
            ..ShapeConfig::default()
        };
        assert_eq!(s.v2_time("go", t), "2026-01-01T00:00:00.000Z");
        s.metrics_time = MetricsTimeFormat::Rfc3339Offset;
        assert_eq!(s.v2_time("go", t), "2025-12-31T19:00:00.000-05:00");
        s.metrics_time = MetricsTimeFormat::Go;
        assert_eq!(s.v2_time("go", t), "go");
    }

    #[tokio::test]
    async fn gzip_files_decompress_to_the_plain_file() {
        use std::io::Read;
        let chunks = vec![
            Ok(Bytes::from_static(b"id,\"e,mail\",plan\n")),
            Ok(Bytes::from_static(b"1,a@x.io\n")),
        ];
        let s = ShapeConfig {
            export_compression: ExportCompression::Gzip,
            export_bom: true,
            export_header_case: HeaderCase::Upper,
            ..ShapeConfig::default()
        };
        let out: Vec<Bytes> = s
            .shape_file(futures::stream::iter(chunks), 2)
            .map(Result::unwrap)
            .collect()
            .await;
        let gz: Vec<u8> = out.concat();
        assert_eq!(&gz[..2], b"\x1f\x8b");
        let mut plain = String::new();
        flate2::read::GzDecoder::new(&gz[..])
            .read_to_string(&mut plain)
            .unwrap();
        assert_eq!(plain, "\u{feff}ID,\"E,MAIL\",plan\n1,a@x.io\n");
    }
}

//! Splitting a script into statements: SQL statements (ended by `;`) and Switchboard `download`
//! statements, which may be mixed in one input.
//!
//! ```text
//! download t from {
//!   type: "customerio:campaigns";   // the report
//!   key: "customerio_key";          // the credential name
//!   segments: ["A", "B"];           // arrays become a JSON array string
//!   steps: 15;
//! } using {*};
//! ```
//!
//! A statement whose first word is `download` is a Switchboard script; anything else is SQL, read
//! up to the next `;` outside quotes and comments. Errors carry the byte offset into the whole
//! input, so they can be reported with the line and column.

use std::fmt;

/// One statement of a script.
#[derive(Debug, Clone, PartialEq)]
pub enum Piece {
    /// SQL text: `input[start..end]`, `;` included when there is one.
    Sql {
        /// Byte offset of the statement's first character.
        start: usize,
        /// Byte offset just past its end.
        end: usize,
        /// Whether a `;` ended it (else the input ended first).
        terminated: bool,
    },
    /// A Switchboard `download` statement.
    Download(Download),
}

/// `download NAME from { key: value; ... } [using {*}]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Download {
    /// The table to register, lower-cased unless it was double-quoted (as SQL does).
    pub table: String,
    /// Where the table name is.
    pub table_pos: usize,
    /// The settings, in order.
    pub entries: Vec<Entry>,
    /// The columns selected by `using`.
    pub using: Using,
    /// Byte offset of `download`.
    pub start: usize,
    /// Byte offset just past the statement (its `;` or closing brace).
    pub end: usize,
}

/// One `key: value;` setting of a download statement.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// The setting's name as written.
    pub key: String,
    /// Where the name is.
    pub key_pos: usize,
    /// Its value.
    pub value: Value,
    /// Where the value starts.
    pub value_pos: usize,
}

/// A setting's value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A quoted string, escapes resolved.
    Str(String),
    /// A number, as written.
    Num(String),
    /// `true` or `false`.
    Bool(bool),
    /// `[v, v, ...]`.
    Array(Vec<Value>),
}

impl Value {
    /// The value as a table option: strings as they are, numbers as written, booleans as
    /// `true`/`false`, arrays as a JSON array.
    pub fn to_option(&self) -> String {
        match self {
            Value::Str(s) => s.clone(),
            Value::Num(n) => n.clone(),
            Value::Bool(b) => b.to_string(),
            Value::Array(_) => self.to_json().to_string(),
        }
    }

    fn to_json(&self) -> serde_json::Value {
        match self {
            Value::Str(s) => serde_json::Value::String(s.clone()),
            Value::Num(n) => n
                .parse::<serde_json::Number>()
                .map(serde_json::Value::Number)
                .unwrap_or_else(|_| serde_json::Value::String(n.clone())),
            Value::Bool(b) => serde_json::Value::Bool(*b),
            Value::Array(items) => {
                serde_json::Value::Array(items.iter().map(Value::to_json).collect())
            }
        }
    }
}

/// The columns a download keeps.
#[derive(Debug, Clone, PartialEq)]
pub enum Using {
    /// `using {*}`, or no `using` at all.
    All,
    /// `using {a, b}`.
    Columns(Vec<String>),
}

/// A malformed script.
#[derive(Debug, Clone, PartialEq)]
pub struct ScriptError {
    /// Byte offset into the whole input.
    pub offset: usize,
    /// What is wrong.
    pub message: String,
    /// The input ended before the statement did (the REPL then asks for more lines).
    pub incomplete: bool,
}

impl ScriptError {
    /// The message with the 1-based line and column of the offset in `input`.
    pub fn describe(&self, input: &str) -> String {
        let (line, column) = line_col(input, self.offset);
        format!("line {line}, column {column}: {}", self.message)
    }
}

impl fmt::Display for ScriptError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// The 1-based line and column (in characters) of byte `offset` in `input`.
pub fn line_col(input: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(input.len());
    while !input.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &input[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map(|i| i + 1).unwrap_or(0);
    (line, before[line_start..].chars().count() + 1)
}

/// `input` with everything before `start` blanked (newlines kept) followed by
/// `input[start..end]`: parsed alone, its errors still point at the right line and column.
pub fn positioned(input: &str, start: usize, end: usize) -> String {
    let mut out: String = input[..start]
        .chars()
        .map(|c| if c == '\n' { '\n' } else { ' ' })
        .collect();
    out.push_str(&input[start..end]);
    out
}

/// Splits `input` into statements.
pub fn split(input: &str) -> Result<Vec<Piece>, ScriptError> {
    let mut lexer = Lexer::new(input);
    let mut pieces = Vec::new();
    loop {
        lexer.skip_trivia()?;
        if lexer.at_end() {
            return Ok(pieces);
        }
        if lexer.at_keyword("download") {
            pieces.push(Piece::Download(lexer.download()?));
        } else {
            pieces.push(lexer.sql());
        }
    }
}

/// Whether `input` holds only complete statements, so the REPL can run it: the last SQL
/// statement ends with `;`, or the last download statement is closed. A malformed statement
/// counts as complete (running it reports the error).
pub fn is_complete(input: &str) -> bool {
    match split(input) {
        // A malformed download block still open: wait for its closing brace, so the error
        // shows once, for the whole statement.
        Err(e) => !e.incomplete && !open_block(input, e.offset),
        Ok(pieces) => match pieces.last() {
            None => true,
            Some(Piece::Sql { terminated, .. }) => *terminated,
            Some(Piece::Download(_)) => true,
        },
    }
}

/// Whether the text leaves a `{` block open that the error at `offset` lies in: more `{` than
/// `}` (outside strings and `//` comments) both before the error and in the whole text.
fn open_block(input: &str, offset: usize) -> bool {
    let depth = |text: &str| {
        let mut depth: i64 = 0;
        let mut chars = text.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '"' | '\'' => {
                    for d in chars.by_ref() {
                        if d == c || d == '\n' {
                            break;
                        }
                    }
                }
                '/' if chars.peek() == Some(&'/') => {
                    for d in chars.by_ref() {
                        if d == '\n' {
                            break;
                        }
                    }
                }
                '{' => depth += 1,
                '}' => depth -= 1,
                _ => {}
            }
        }
        depth
    };
    let mut offset = offset.min(input.len());
    while !input.is_char_boundary(offset) {
        offset -= 1;
    }
    depth(&input[..offset]) > 0 && depth(input) > 0
}

struct Lexer<'a> {
    text: &'a str,
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Lexer<'a> {
    fn new(text: &'a str) -> Self {
        Lexer {
            text,
            bytes: text.as_bytes(),
            pos: 0,
        }
    }

    fn at_end(&self) -> bool {
        self.pos >= self.bytes.len()
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn peek_at(&self, n: usize) -> Option<u8> {
        self.bytes.get(self.pos + n).copied()
    }

    fn error(&self, offset: usize, message: impl Into<String>) -> ScriptError {
        ScriptError {
            offset,
            message: message.into(),
            incomplete: false,
        }
    }

    fn eof(&self, message: impl Into<String>) -> ScriptError {
        ScriptError {
            offset: self.bytes.len(),
            message: message.into(),
            incomplete: true,
        }
    }

    /// Skips whitespace and `--`, `//` and `/* */` comments.
    fn skip_trivia(&mut self) -> Result<(), ScriptError> {
        loop {
            match (self.peek(), self.peek_at(1)) {
                (Some(c), _) if c.is_ascii_whitespace() => self.pos += 1,
                (Some(b'-'), Some(b'-')) | (Some(b'/'), Some(b'/')) => self.skip_line(),
                (Some(b'/'), Some(b'*')) => self.skip_block_comment()?,
                _ => return Ok(()),
            }
        }
    }

    fn skip_line(&mut self) {
        while let Some(c) = self.peek() {
            self.pos += 1;
            if c == b'\n' {
                break;
            }
        }
    }

    fn skip_block_comment(&mut self) -> Result<(), ScriptError> {
        let start = self.pos;
        self.pos += 2;
        while !self.at_end() {
            if self.peek() == Some(b'*') && self.peek_at(1) == Some(b'/') {
                self.pos += 2;
                return Ok(());
            }
            self.pos += 1;
        }
        Err(ScriptError {
            offset: start,
            message: "comment opened with /* is never closed".into(),
            incomplete: true,
        })
    }

    /// Whether the next word is `word` (case-insensitive) and ends there.
    fn at_keyword(&self, word: &str) -> bool {
        let end = self.pos + word.len();
        end <= self.bytes.len()
            && self.bytes[self.pos..end].eq_ignore_ascii_case(word.as_bytes())
            && !self
                .bytes
                .get(end)
                .is_some_and(|c| c.is_ascii_alphanumeric() || *c == b'_')
    }

    /// One SQL statement, up to and including the next `;` outside quotes and comments.
    fn sql(&mut self) -> Piece {
        let start = self.pos;
        while let Some(c) = self.peek() {
            match c {
                b';' => {
                    self.pos += 1;
                    return Piece::Sql {
                        start,
                        end: self.pos,
                        terminated: true,
                    };
                }
                b'\'' | b'"' | b'`' => {
                    if !self.skip_quoted(c) {
                        // Unterminated: the statement runs to the end; the SQL parser says why.
                        break;
                    }
                }
                b'-' if self.peek_at(1) == Some(b'-') => self.skip_line(),
                b'/' if self.peek_at(1) == Some(b'*') => {
                    if self.skip_block_comment().is_err() {
                        break;
                    }
                }
                _ => self.pos += 1,
            }
        }
        self.pos = self.bytes.len();
        Piece::Sql {
            start,
            end: self.pos,
            terminated: false,
        }
    }

    /// Skips a SQL quoted string or identifier (a doubled quote is an escaped one); false if
    /// the input ends first.
    fn skip_quoted(&mut self, quote: u8) -> bool {
        self.pos += 1;
        while let Some(c) = self.peek() {
            self.pos += 1;
            if c == quote {
                if self.peek() == Some(quote) {
                    self.pos += 1;
                } else {
                    return true;
                }
            }
        }
        false
    }

    fn expect_keyword(&mut self, word: &str, after: &str) -> Result<(), ScriptError> {
        self.skip_trivia()?;
        if self.at_end() {
            return Err(self.eof(format!("expected '{word}' {after}")));
        }
        if !self.at_keyword(word) {
            return Err(self.error(
                self.pos,
                format!("expected '{word}' {after}, found {}", self.found()),
            ));
        }
        self.pos += word.len();
        Ok(())
    }

    fn expect_char(&mut self, c: u8, after: &str) -> Result<(), ScriptError> {
        self.skip_trivia()?;
        match self.peek() {
            None => Err(self.eof(format!("expected '{}' {after}", c as char))),
            Some(x) if x == c => {
                self.pos += 1;
                Ok(())
            }
            Some(_) => Err(self.error(
                self.pos,
                format!("expected '{}' {after}, found {}", c as char, self.found()),
            )),
        }
    }

    /// A short description of what is at the current position, for messages.
    fn found(&self) -> String {
        let rest = &self.text[self.pos..];
        match rest.chars().next() {
            None => "the end of the input".into(),
            Some(c) if c.is_alphanumeric() || c == '_' => {
                let word: String = rest
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .take(40)
                    .collect();
                format!("'{word}'")
            }
            Some(c) => format!("'{c}'"),
        }
    }

    /// An identifier: letters, digits, `_` (and `.` when `dots`), or a double-quoted name.
    /// Returns the name and whether it was quoted.
    fn ident(&mut self, what: &str, dots: bool) -> Result<(String, bool), ScriptError> {
        self.skip_trivia()?;
        let start = self.pos;
        match self.peek() {
            None => Err(self.eof(format!("expected {what}"))),
            Some(b'"') => {
                self.pos += 1;
                let mut name = String::new();
                loop {
                    match self.peek() {
                        None => {
                            return Err(self.eof(format!("{what} opened with \" is never closed")));
                        }
                        Some(b'"') if self.peek_at(1) == Some(b'"') => {
                            name.push('"');
                            self.pos += 2;
                        }
                        Some(b'"') => {
                            self.pos += 1;
                            break;
                        }
                        Some(_) => {
                            let c = self.text[self.pos..].chars().next().unwrap_or('"');
                            name.push(c);
                            self.pos += c.len_utf8();
                        }
                    }
                }
                if name.is_empty() {
                    return Err(self.error(start, format!("{what} must not be empty")));
                }
                Ok((name, true))
            }
            Some(c) if c.is_ascii_alphabetic() || c == b'_' => {
                while self
                    .peek()
                    .is_some_and(|c| c.is_ascii_alphanumeric() || c == b'_' || (dots && c == b'.'))
                {
                    self.pos += 1;
                }
                Ok((self.text[start..self.pos].to_string(), false))
            }
            Some(_) => Err(self.error(start, format!("expected {what}, found {}", self.found()))),
        }
    }

    fn download(&mut self) -> Result<Download, ScriptError> {
        let start = self.pos;
        self.pos += "download".len();
        self.skip_trivia()?;
        let table_pos = self.pos;
        let (name, quoted) = self.ident("a table name after 'download'", false)?;
        let table = if quoted {
            name
        } else {
            name.to_ascii_lowercase()
        };
        self.expect_keyword("from", &format!("after 'download {table}'"))?;
        self.expect_char(
            b'{',
            "after 'from' (the settings, like { type: \"customerio:campaigns\"; key: \"name\"; })",
        )?;
        let mut entries = Vec::new();
        loop {
            self.skip_trivia()?;
            match self.peek() {
                None => return Err(self.eof("the settings block opened with '{' is never closed")),
                Some(b'}') => {
                    self.pos += 1;
                    break;
                }
                Some(_) => {}
            }
            let key_pos = self.pos;
            let (key, _) = self.ident("a setting name (like type, key, period)", true)?;
            self.expect_char(b':', &format!("after the setting name '{key}'"))?;
            self.skip_trivia()?;
            let value_pos = self.pos;
            let value = self.value(&key)?;
            entries.push(Entry {
                key,
                key_pos,
                value,
                value_pos,
            });
            self.skip_trivia()?;
            match self.peek() {
                Some(b';') => self.pos += 1,
                Some(b'}') => {}
                None => return Err(self.eof("the settings block opened with '{' is never closed")),
                Some(_) => {
                    let key = &entries[entries.len() - 1].key;
                    return Err(self.error(
                        self.pos,
                        format!(
                            "expected ';' after the value of '{key}', found {}",
                            self.found()
                        ),
                    ));
                }
            }
        }
        let mut end = self.pos;
        self.skip_trivia()?;
        let mut using = Using::All;
        if self.at_keyword("using") {
            self.pos += "using".len();
            self.expect_char(b'{', "after 'using' (write using {*} for every column)")?;
            self.skip_trivia()?;
            if self.peek() == Some(b'*') {
                self.pos += 1;
            } else {
                let mut columns = Vec::new();
                loop {
                    let (c, quoted) = self.ident("a column name or * in using { }", false)?;
                    columns.push(if quoted { c } else { c.to_ascii_lowercase() });
                    self.skip_trivia()?;
                    if self.peek() == Some(b',') {
                        self.pos += 1;
                    } else {
                        break;
                    }
                }
                using = Using::Columns(columns);
            }
            self.expect_char(b'}', "to close 'using {'")?;
            end = self.pos;
            self.skip_trivia()?;
        }
        if self.peek() == Some(b';') {
            self.pos += 1;
            end = self.pos;
        } else {
            // No `;`: the statement ends with its closing brace, the next one starts after it.
            self.pos = end;
        }
        Ok(Download {
            table,
            table_pos,
            entries,
            using,
            start,
            end,
        })
    }

    fn value(&mut self, key: &str) -> Result<Value, ScriptError> {
        let start = self.pos;
        match self.peek() {
            None => Err(self.eof(format!("expected a value for '{key}'"))),
            Some(q @ (b'"' | b'\'')) => self.string(q).map(Value::Str),
            Some(b'[') => {
                self.pos += 1;
                let mut items = Vec::new();
                loop {
                    self.skip_trivia()?;
                    match self.peek() {
                        None => {
                            return Err(self.eof(format!(
                                "the list of '{key}' opened with '[' is never closed"
                            )));
                        }
                        Some(b']') => {
                            self.pos += 1;
                            return Ok(Value::Array(items));
                        }
                        Some(_) => {}
                    }
                    items.push(self.value(key)?);
                    self.skip_trivia()?;
                    match self.peek() {
                        Some(b',') => self.pos += 1,
                        Some(b']') => {}
                        None => {
                            return Err(self.eof(format!(
                                "the list of '{key}' opened with '[' is never closed"
                            )));
                        }
                        Some(_) => {
                            return Err(self.error(
                                self.pos,
                                format!(
                                    "expected ',' or ']' in the list of '{key}', found {}",
                                    self.found()
                                ),
                            ));
                        }
                    }
                }
            }
            Some(c) if c == b'-' || c.is_ascii_digit() => {
                self.pos += 1;
                while self
                    .peek()
                    .is_some_and(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'+' | b'-'))
                {
                    self.pos += 1;
                }
                let text = &self.text[start..self.pos];
                if text.parse::<f64>().is_err() {
                    return Err(self.error(
                        start,
                        format!("'{text}' is not a number (value of '{key}')"),
                    ));
                }
                Ok(Value::Num(text.to_string()))
            }
            Some(_) if self.at_keyword("true") => {
                self.pos += 4;
                Ok(Value::Bool(true))
            }
            Some(_) if self.at_keyword("false") => {
                self.pos += 5;
                Ok(Value::Bool(false))
            }
            Some(_) => Err(self.error(
                start,
                format!(
                    "expected a value for '{key}' (a \"string\", a number, true, false or a \
                     [list]), found {}",
                    self.found()
                ),
            )),
        }
    }

    /// A quoted string with backslash escapes.
    fn string(&mut self, quote: u8) -> Result<String, ScriptError> {
        let start = self.pos;
        self.pos += 1;
        let mut out = String::new();
        loop {
            let Some(c) = self.text[self.pos..].chars().next() else {
                return Err(ScriptError {
                    offset: start,
                    message: "string is never closed".into(),
                    incomplete: true,
                });
            };
            self.pos += c.len_utf8();
            match c {
                c if c as u32 == quote as u32 => return Ok(out),
                '\n' => {
                    return Err(self.error(start, "string is not closed on its line"));
                }
                '\\' => {
                    let Some(e) = self.text[self.pos..].chars().next() else {
                        continue;
                    };
                    self.pos += e.len_utf8();
                    out.push(match e {
                        'n' => '\n',
                        't' => '\t',
                        'r' => '\r',
                        other => other,
                    });
                }
                c => out.push(c),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = r#"download t from {
type: "customerio:campaigns";
key: "customerio_key";
// optional, see https://customer.io/docs/api/#operation/campaignMetrics
metric_type: "push";
// optional, defaults to false
unique_links: true;
period: "days";
steps: 15;
} using {*};"#;

    fn download(input: &str) -> Download {
        match split(input).unwrap().remove(0) {
            Piece::Download(d) => d,
            other => panic!("not a download: {other:?}"),
        }
    }

    #[test]
    fn the_sample_parses() {
        let d = download(SAMPLE);
        assert_eq!(d.table, "t");
        assert_eq!(d.using, Using::All);
        let pairs: Vec<(String, String)> = d
            .entries
            .iter()
            .map(|e| (e.key.clone(), e.value.to_option()))
            .collect();
        assert_eq!(
            pairs,
            [
                ("type", "customerio:campaigns"),
                ("key", "customerio_key"),
                ("metric_type", "push"),
                ("unique_links", "true"),
                ("period", "days"),
                ("steps", "15"),
            ]
            .map(|(k, v)| (k.to_string(), v.to_string()))
        );
        assert_eq!(d.end, SAMPLE.len());
    }

    #[test]
    fn arrays_become_json_and_a_final_brace_ends_the_statement() {
        let input = "download t from {\n// comment\ntype: \"customerio:customers_export\";\n\
                     key: \"k\";\nsegments: [\"Email Activity - Sent\", \"A \\\"q\\\"\", 3];\n}\n\
                     SELECT * FROM t;";
        let pieces = split(input).unwrap();
        assert_eq!(pieces.len(), 2);
        let Piece::Download(d) = &pieces[0] else {
            panic!()
        };
        assert_eq!(
            d.entries[2].value.to_option(),
            r#"["Email Activity - Sent","A \"q\"",3]"#
        );
        assert!(matches!(
            pieces[1],
            Piece::Sql {
                terminated: true,
                ..
            }
        ));
        let Piece::Sql { start, end, .. } = pieces[1] else {
            panic!()
        };
        assert_eq!(&input[start..end], "SELECT * FROM t;");
    }

    #[test]
    fn sql_and_downloads_mix() {
        let input = "-- a comment; not a statement\nSELECT ';' AS a; /* ; */ SELECT \"x;y\" FROM z;\n\
                     download b from { type: \"newsletters\"; key: \"k\" } using { newsletter_id, Sent };\n\
                     SELECT 1";
        let pieces = split(input).unwrap();
        assert_eq!(pieces.len(), 4, "{pieces:?}");
        let texts: Vec<&str> = pieces
            .iter()
            .map(|p| match p {
                Piece::Sql { start, end, .. } => &input[*start..*end],
                Piece::Download(d) => &input[d.start..d.end],
            })
            .collect();
        assert_eq!(texts[0], "SELECT ';' AS a;");
        assert_eq!(texts[1], "SELECT \"x;y\" FROM z;");
        assert!(texts[2].starts_with("download b") && texts[2].ends_with("Sent };"));
        assert_eq!(texts[3], "SELECT 1");
        let Piece::Download(d) = &pieces[2] else {
            panic!()
        };
        assert_eq!(
            d.using,
            Using::Columns(vec!["newsletter_id".into(), "sent".into()])
        );
        assert!(matches!(
            pieces[3],
            Piece::Sql {
                terminated: false,
                ..
            }
        ));
    }

    #[test]
    fn errors_have_line_and_column() {
        let cases = [
            (
                "download t from {\n  type \"customerio:campaigns\";\n}",
                "line 2, column 8: expected ':' after the setting name 'type', found '\"'",
            ),
            (
                "download t from {\n  type: \"x\"\n  key: \"k\";\n}",
                "line 3, column 3: expected ';' after the value of 'type', found 'key'",
            ),
            (
                "download t {\n}",
                "line 1, column 12: expected 'from' after 'download t', found '{'",
            ),
            (
                "download t from {\n  steps: fifteen;\n}",
                "line 2, column 10: expected a value for 'steps'",
            ),
            (
                "download t from { a: 1; } using { };",
                "line 1, column 35: expected a column name or * in using { }, found '}'",
            ),
        ];
        for (input, want) in cases {
            let err = split(input).unwrap_err();
            assert!(!err.incomplete, "{input}");
            let got = err.describe(input);
            assert!(got.starts_with(want), "{input}\n got: {got}\nwant: {want}");
        }
    }

    #[test]
    fn completeness_for_the_repl() {
        assert!(!is_complete("SELECT 1"));
        assert!(is_complete("SELECT 1;"));
        assert!(!is_complete("SELECT 'a;"));
        assert!(is_complete("SELECT 'a;';"));
        assert!(!is_complete("SELECT 1; SELECT 2"));
        assert!(!is_complete("download t from {\ntype: \"campaigns\";"));
        assert!(!is_complete("download t from { type: \"campa"));
        assert!(!is_complete("download t from { segments: [\"a\","));
        assert!(is_complete("download t from { type: \"campaigns\"; }"));
        assert!(is_complete(
            "download t from { type: \"campaigns\"; } using {*};"
        ));
        assert!(!is_complete(
            "download t from { type: \"campaigns\"; } using {"
        ));
        // Malformed: complete once its block is closed, so that running it shows the error.
        assert!(is_complete("download t frm {"));
        assert!(is_complete("download 5"));
        assert!(!is_complete("download t from {\n  type \"campaigns\";\n"));
        assert!(is_complete("download t from {\n  type \"campaigns\";\n}\n"));
        assert!(is_complete("download t from { a: b; }"));
        assert!(is_complete(""));
    }

    #[test]
    fn positioned_keeps_lines() {
        let input = "SELECT 1;\n  SELEC 2;";
        let p = positioned(input, 10, input.len());
        assert_eq!(p, "         \n  SELEC 2;");
        assert_eq!(line_col(input, 12), (2, 3));
        assert_eq!(line_col("é\nab", 4), (2, 2));
    }
}

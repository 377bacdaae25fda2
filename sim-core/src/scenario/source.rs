//! Where a span points: into the scenario file, or into a `--set` value.
//!
//! The parsed document keeps byte spans. The file owns offsets
//! `0..=text.len()`; each `--set` value is given its own region after that
//! (its parsed spans are shifted there), so every span in the edited
//! document still says where its key or value came from.

use std::ops::Range;
use std::path::{Path, PathBuf};

use super::error::{ErrorKind, Origin, ScenarioError, Snippet};
use super::model::Location;

/// A byte range in the scenario file or in a `--set` region.
pub type Span = Range<usize>;

/// The scenario text, its name, and the regions given to `--set` values.
pub struct Sources<'a> {
    text: &'a str,
    file: String,
    folder: Option<PathBuf>,
    overrides: Vec<Region>,
    /// Every table of the format, for "`x` belongs in `[y]`" hints.
    schema: Vec<super::schema::SchemaTable>,
    /// Every file path read so far: (key path, the path as resolved).
    paths: std::cell::RefCell<Vec<(String, PathBuf)>>,
}

/// The offsets owned by one `--set` argument.
struct Region {
    span: Span,
    flag: String,
    argument: String,
}

impl<'a> Sources<'a> {
    /// `path` names the file in messages and anchors relative paths.
    pub(crate) fn new(text: &'a str, path: Option<&Path>) -> Self {
        Sources {
            text,
            file: path.map_or_else(|| "<input>".to_string(), |p| p.display().to_string()),
            folder: path.and_then(Path::parent).map(Path::to_path_buf),
            overrides: Vec::new(),
            schema: Vec::new(),
            paths: std::cell::RefCell::new(Vec::new()),
        }
    }

    /// Sets the tables of the format (their titles and keys).
    pub(crate) fn set_schema(&mut self, schema: Vec<super::schema::SchemaTable>) {
        self.schema = schema;
    }

    /// The tables (as written in a file) that accept `key`.
    pub(crate) fn tables_with(&self, key: &str) -> Vec<&str> {
        self.schema
            .iter()
            .filter(|t| t.keys.contains(&key))
            .map(|t| t.title.as_str())
            .collect()
    }

    /// Reserves `len` offsets for the `--set` argument `argument`; returns
    /// where its region starts.
    pub(crate) fn add_override(&mut self, flag: &str, argument: String, len: usize) -> usize {
        let start = self
            .overrides
            .last()
            .map_or(self.text.len() + 1, |r| r.span.end);
        let end = start.saturating_add(len).saturating_add(1);
        self.overrides.push(Region {
            span: start..end,
            flag: flag.to_string(),
            argument,
        });
        start
    }

    /// `relative` resolved against the scenario file's folder.
    pub fn resolve_path(&self, relative: &str) -> PathBuf {
        match &self.folder {
            Some(folder) => folder.join(relative),
            None => PathBuf::from(relative),
        }
    }

    /// Notes that the key at `key_path` named the file `resolved`.
    pub(crate) fn note_path(&self, key_path: &str, resolved: &Path) {
        self.paths
            .borrow_mut()
            .push((key_path.to_string(), resolved.to_path_buf()));
    }

    /// Every file path the scenario named: (key path, resolved path), in
    /// the order they were read.
    pub(crate) fn paths(&self) -> Vec<(String, PathBuf)> {
        self.paths.borrow().clone()
    }

    /// An error pointing at `span` (or at the whole file for `None`).
    pub fn error(
        &self,
        kind: ErrorKind,
        span: Option<&Span>,
        message: impl Into<String>,
    ) -> ScenarioError {
        let Some(span) = span else {
            let origin = Origin::WholeFile {
                file: self.file.clone(),
            };
            return ScenarioError::new(kind, message, origin);
        };
        if let Some(region) = self.overrides.iter().find(|r| r.span.contains(&span.start)) {
            let origin = Origin::Override {
                flag: region.flag.clone(),
                argument: region.argument.clone(),
            };
            return ScenarioError::new(kind, message, origin);
        }
        let (line, column, snippet) = self.position(span);
        let origin = Origin::File {
            file: self.file.clone(),
            line,
            column,
        };
        ScenarioError::new(kind, message, origin).with_snippet(Some(snippet))
    }

    /// An error in a `--set` argument that is not in the document yet.
    pub(crate) fn override_error(
        &self,
        flag: &str,
        argument: &str,
        kind: ErrorKind,
        message: impl Into<String>,
    ) -> ScenarioError {
        let origin = Origin::Override {
            flag: flag.to_string(),
            argument: argument.to_string(),
        };
        ScenarioError::new(kind, message, origin)
    }

    /// The command-line form of `key_path = value` (`value` as TOML) when
    /// `span` came from a `--set` (or `--sweep`, ...), for hints: `--set
    /// 'duration=600 s'`; `None` for a span in the file.
    pub fn as_flag(&self, span: &Span, key_path: &str, value: &str) -> Option<String> {
        let region = self
            .overrides
            .iter()
            .find(|r| r.span.contains(&span.start))?;
        // A plain TOML string is given bare (as `--set` reads it).
        let bare = value
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .filter(|v| !v.contains(['"', '\\', '\'']));
        let text = format!("{key_path}={}", bare.unwrap_or(value));
        let quoted = match text.contains('\'') {
            true => format!("\"{}\"", text.replace('"', "\\\"")),
            false => format!("'{text}'"),
        };
        // A line of a --sweep-file is given back as one --sweep value.
        let flag = match region.flag.as_str() {
            "--sweep-file" => "--sweep",
            other => other,
        };
        Some(format!("{flag} {quoted}"))
    }

    /// The file position of `span`; `Location::default()` (0:0) for a span
    /// that came from a `--set`.
    pub fn location(&self, span: &Span) -> Location {
        if span.start > self.text.len() {
            return Location::default();
        }
        let (line, column, _) = self.position(span);
        Location { line, column }
    }

    /// "line 12", or "`--set ...`" for a span from an override.
    pub fn describe(&self, span: &Span) -> String {
        match self.overrides.iter().find(|r| r.span.contains(&span.start)) {
            Some(region) => format!("`{} {}`", region.flag, region.argument),
            None => format!("line {}", self.position(span).0),
        }
    }

    /// 1-based line and column of `span.start`, and the line to show.
    fn position(&self, span: &Span) -> (u32, u32, Snippet) {
        let bytes = self.text.as_bytes();
        let start = span.start.min(bytes.len());
        let line_start = bytes[..start]
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |nl| nl + 1);
        let line_end = bytes[start..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(bytes.len(), |nl| start + nl);
        let line = bytes[..start].iter().filter(|&&b| b == b'\n').count() + 1;
        let indent = char_count(&bytes[line_start..start]);
        let end = span.end.clamp(start, line_end);
        let width = char_count(&bytes[start..end]).max(1);
        let text = String::from_utf8_lossy(&bytes[line_start..line_end])
            .trim_end_matches('\r')
            .replace('\t', " ");
        let line = u32::try_from(line).unwrap_or(u32::MAX);
        let column = u32::try_from(indent + 1).unwrap_or(u32::MAX);
        let (text, indent, width) = window(&text, indent, width);
        let snippet = Snippet {
            line,
            text,
            indent,
            width,
        };
        (line, column, snippet)
    }
}

/// At most [`SNIPPET_CHARS`] characters of a long line around the
/// underline (elided parts shown as `...`), and the underline moved along.
fn window(text: &str, indent: usize, width: usize) -> (String, usize, usize) {
    let chars = text.chars().count();
    if chars <= SNIPPET_CHARS {
        return (text.to_string(), indent, width);
    }
    let start = indent
        .saturating_sub(SNIPPET_CHARS / 3)
        .min(chars - SNIPPET_CHARS);
    let shown: String = text.chars().skip(start).take(SNIPPET_CHARS).collect();
    let (head, lead) = if start > 0 { ("...", 3) } else { ("", 0) };
    let tail = if start + SNIPPET_CHARS < chars {
        "..."
    } else {
        ""
    };
    let width = width
        .min(SNIPPET_CHARS - (indent - start).min(SNIPPET_CHARS))
        .max(1);
    (format!("{head}{shown}{tail}"), indent - start + lead, width)
}

/// The most characters of a source line an error shows.
const SNIPPET_CHARS: usize = 120;

/// Characters in a UTF-8 byte slice that may start or end mid-character.
fn char_count(bytes: &[u8]) -> usize {
    bytes.iter().filter(|&&b| b & 0xC0 != 0x80).count()
}

//! [`ScenarioError`]: what went wrong in a scenario file, where, and what to
//! do about it, rendered the way rustc and cargo report errors.

use std::fmt;
use std::path::Path;

use crate::input::{ReadError, line_text};

/// Why a scenario could not be loaded. `Display` renders the whole report,
/// rustc style:
///
/// ```text
/// error: unknown key `lateny` in [network]
///   --> scenarios/demo.toml:7:1
///    |
///  7 | lateny = "50 ms"
///    | ^^^^^^
///    = key: network.lateny
///    = help: did you mean `latency`?
/// ```
#[derive(Debug, thiserror::Error)]
#[error("{report}")]
pub struct ScenarioError {
    kind: ErrorKind,
    report: Box<Report>,
    #[source]
    source: Option<ReadError>,
}

/// The broad class of a [`ScenarioError`], for callers that react differently
/// (an exit code, a test asserting which check fired).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// The scenario file could not be read (missing, unreadable, not a
    /// regular file, larger than the limit, not UTF-8).
    Io,
    /// A file the scenario names (its `graph`, its `legacy_registry`)
    /// cannot be read or holds something invalid.
    ReferencedFile,
    /// The file is not valid TOML.
    Syntax,
    /// A key the format does not have, in the file or in a `--set`.
    UnknownKey,
    /// A required key (`duration`, a group's `name`, a fault's `at`, ...) is absent.
    MissingKey,
    /// A value of the wrong type, unit, range or spelling.
    InvalidValue,
    /// A host reference that names no host and no group.
    UnknownHost,
    /// Settings that contradict each other (`graph` with `topology`, two
    /// kinds in one fault, a duplicate group name, ...).
    Conflict,
    /// A fault or start time that does not fit the run's timeline.
    Timeline,
    /// A `--set` argument that is not `key=value`, or whose path leads nowhere.
    Override,
}

/// Where an error was found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Origin {
    /// A position in the scenario file.
    File {
        /// The file as given (or `<input>` for text without a file).
        file: String,
        /// 1-based line.
        line: u32,
        /// 1-based column, in characters.
        column: u32,
    },
    /// The scenario file as a whole: something is missing, or it cannot be read.
    WholeFile {
        /// The file as given (or `<input>`).
        file: String,
    },
    /// A `--set key=value` argument (or another flag's edit, such as a
    /// `--sweep` value), as written.
    Override {
        /// The flag it came with (`--set`, `--sweep`, `--zip`, ...).
        flag: String,
        /// `key=value`.
        argument: String,
    },
}

/// The text of a [`ScenarioError`]; kept behind a box so `Result`s stay small.
#[derive(Debug)]
pub(crate) struct Report {
    pub(crate) message: String,
    pub(crate) origin: Origin,
    pub(crate) snippet: Option<Snippet>,
    pub(crate) key_path: Option<String>,
    pub(crate) notes: Vec<String>,
    pub(crate) help: Option<String>,
}

/// The source line an error points into, with the span to underline.
#[derive(Debug)]
pub(crate) struct Snippet {
    pub(crate) line: u32,
    pub(crate) text: String,
    /// Characters before the underline.
    pub(crate) indent: usize,
    /// Characters underlined (at least one).
    pub(crate) width: usize,
}

impl ScenarioError {
    pub(crate) fn new(kind: ErrorKind, message: impl Into<String>, origin: Origin) -> Self {
        ScenarioError {
            kind,
            report: Box::new(Report {
                message: message.into(),
                origin,
                snippet: None,
                key_path: None,
                notes: Vec::new(),
                help: None,
            }),
            source: None,
        }
    }

    pub(crate) fn read(file: String, source: ReadError) -> Self {
        let message = format!("cannot read the scenario file: {source}");
        let mut err = ScenarioError::new(ErrorKind::Io, message, Origin::WholeFile { file });
        err.source = Some(source);
        err
    }

    /// An error at `line`:`column` of another file than the scenario (a
    /// graph, a registry), whose `bytes` give the line to show.
    pub fn in_file(
        kind: ErrorKind,
        message: impl Into<String>,
        file: &Path,
        bytes: &[u8],
        (line, column): (u32, u32),
    ) -> Self {
        let origin = Origin::File {
            file: file.display().to_string(),
            line,
            column,
        };
        let text = line_text(bytes, line);
        let indent = (column.saturating_sub(1) as usize).min(text.chars().count());
        let snippet = Snippet {
            line,
            text,
            indent,
            width: 1,
        };
        ScenarioError::new(kind, message, origin).with_snippet(Some(snippet))
    }

    pub(crate) fn with_snippet(mut self, snippet: Option<Snippet>) -> Self {
        self.report.snippet = snippet;
        self
    }

    /// Sets the key path (`network.latency`, `hosts.0.count`).
    pub fn with_key(mut self, key_path: impl Into<String>) -> Self {
        self.report.key_path = Some(key_path.into());
        self
    }

    /// Adds what to do about it; a later help replaces an earlier one.
    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.report.help = Some(help.into());
        self
    }

    /// Adds a `= help:` line when there is one.
    pub fn with_help_opt(self, help: Option<String>) -> Self {
        match help {
            Some(help) => self.with_help(help),
            None => self,
        }
    }

    /// Adds a line of context.
    pub fn with_note(mut self, note: impl Into<String>) -> Self {
        self.report.notes.push(note.into());
        self
    }

    /// The class of mistake.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// What went wrong, in one line, without position or help.
    pub fn message(&self) -> &str {
        &self.report.message
    }

    /// Where it went wrong.
    pub fn origin(&self) -> &Origin {
        &self.report.origin
    }

    /// The 1-based line in the scenario file, when the error has one (not for
    /// a `--set` value or a key missing from the whole file).
    pub fn line(&self) -> Option<u32> {
        match self.report.origin {
            Origin::File { line, .. } => Some(line),
            _ => None,
        }
    }

    /// The 1-based column (in characters) in the scenario file, when known.
    pub fn column(&self) -> Option<u32> {
        match self.report.origin {
            Origin::File { column, .. } => Some(column),
            _ => None,
        }
    }

    /// The dotted key path of the offending value (`network.latency`,
    /// `hosts.0.count`, `faults.2.until`), usable as a `--set` key.
    pub fn key_path(&self) -> Option<&str> {
        self.report.key_path.as_deref()
    }

    /// What to do about it, when there is a suggestion.
    pub fn help(&self) -> Option<&str> {
        self.report.help.as_deref()
    }

    /// Extra context lines (valid names, the other half of a conflict).
    pub fn notes(&self) -> &[String] {
        &self.report.notes
    }

    /// The `--set` argument the error is in, if it came from one.
    pub fn set_argument(&self) -> Option<&str> {
        match &self.report.origin {
            Origin::Override { argument, .. } => Some(argument),
            _ => None,
        }
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "error: {}", self.message)?;
        let width = self
            .snippet
            .as_ref()
            .map_or(2, |s| s.line.to_string().len().max(2));
        let pad = " ".repeat(width);
        match &self.origin {
            Origin::File { file, line, column } => write!(f, "\n{pad}--> {file}:{line}:{column}")?,
            Origin::WholeFile { file } => write!(f, "\n{pad}--> {file}")?,
            Origin::Override { flag, argument } => write!(f, "\n{pad}--> {flag} {argument}")?,
        }
        if let Some(snippet) = &self.snippet {
            write!(f, "\n{pad} |")?;
            write!(f, "\n{:>width$} | {}", snippet.line, snippet.text)?;
            write!(
                f,
                "\n{pad} | {}{}",
                " ".repeat(snippet.indent),
                "^".repeat(snippet.width)
            )?;
        }
        if let Some(key) = &self.key_path {
            write!(f, "\n{pad} = key: {key}")?;
        }
        for note in &self.notes {
            write!(f, "\n{pad} = note: {note}")?;
        }
        if let Some(help) = &self.help {
            write!(f, "\n{pad} = help: {help}")?;
        }
        Ok(())
    }
}

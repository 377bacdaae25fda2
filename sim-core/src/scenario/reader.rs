//! Typed reading of the spanned TOML document: every accessor knows its key
//! path and span, so a wrong type, unit or range becomes an error that says
//! where it is and how to write it instead.

use std::borrow::Cow;
use std::path::PathBuf;

use toml::Spanned;
use toml::de::{DeTable, DeValue};

use super::error::{ErrorKind, ScenarioError};
use super::schema;
use super::source::{Sources, Span};
use super::suggest::{did_you_mean, one_of};
use crate::units::{Bandwidth, Probability, SimDuration, SimTime};

/// Every fallible step of reading a scenario.
pub type Result<T> = std::result::Result<T, ScenarioError>;

/// A table being read: its entries, where it was written, and its key path.
pub struct Table<'a> {
    src: &'a Sources<'a>,
    /// `None` for a table the file leaves out: every key takes its default.
    entries: Option<&'a DeTable<'a>>,
    span: Option<Span>,
    path: String,
    /// How messages name the table: `[network]`, `the top level`.
    title: String,
}

/// One value being read, with the key it was written under.
#[derive(Clone)]
pub struct Field<'a> {
    src: &'a Sources<'a>,
    key: Option<&'a Spanned<Cow<'a, str>>>,
    value: &'a Spanned<DeValue<'a>>,
    path: String,
}

impl<'a> Table<'a> {
    /// The document's top level.
    pub(crate) fn root(src: &'a Sources<'a>, entries: &'a DeTable<'a>) -> Self {
        Table {
            src,
            entries: Some(entries),
            span: None,
            path: String::new(),
            title: schema::TOP_TITLE.to_string(),
        }
    }

    /// The table under `key` with keys from `known`; an empty table (all
    /// defaults) when the file has none.
    pub fn subtable(&self, key: &str, title: &str, known: &[&str]) -> Result<Table<'a>> {
        match self.get(key) {
            Some(field) => field.table(title, known),
            None => Ok(Table {
                src: self.src,
                entries: None,
                span: None,
                path: join_path(&self.path, key),
                title: title.to_string(),
            }),
        }
    }

    /// Whether the file (or a `--set`) wrote this table.
    pub fn is_present(&self) -> bool {
        self.entries.is_some()
    }

    /// The sources, for errors that are not about one field.
    pub fn sources(&self) -> &'a Sources<'a> {
        self.src
    }

    /// Where the table was written (its `[header]`); `None` at the top level.
    pub fn span(&self) -> Option<&Span> {
        self.span.as_ref()
    }

    /// Fails on the first key (in file order) that is not in `known`,
    /// suggesting the nearest valid key.
    pub fn check_keys(&self, known: &[&str]) -> Result<()> {
        let Some(entries) = self.entries else {
            return Ok(());
        };
        let Some(key) = entries
            .keys()
            .filter(|k| !known.contains(&k.get_ref().as_ref()))
            .min_by_key(|k| k.span().start)
        else {
            return Ok(());
        };
        let name = key.get_ref().as_ref();
        let err = self
            .src
            .error(
                ErrorKind::UnknownKey,
                Some(&key.span()),
                format!("unknown key `{name}` {}", self.place()),
            )
            .with_key(join_path(&self.path, name));
        if let Some(help) = did_you_mean(name, known.iter().copied()) {
            return Err(err.with_help(help));
        }
        let elsewhere = self.src.tables_with(name);
        let err = if elsewhere == [schema::TOP_TITLE] {
            err.with_help(format!(
                "`{name}` is a top-level key: move it above the first [table] header \
                 (keys after a header belong to that table)"
            ))
        } else if !elsewhere.is_empty() {
            err.with_help(format!("`{name}` belongs in {}", elsewhere.join(" or ")))
        } else {
            err.with_note(format!("valid keys {}: {}", self.place(), known.join(", ")))
        };
        Err(err)
    }

    /// A top-level `key` written inside one of this table's tables (after
    /// its header, so TOML puts it there): the error saying so, at that
    /// key. `None` when no table holds it.
    pub(crate) fn misplaced(&self, key: &str) -> Option<ScenarioError> {
        let mut found: Vec<(String, &Spanned<Cow<'a, str>>)> = Vec::new();
        for (name, value) in self.entries? {
            let tables: Vec<&DeTable<'a>> = match value.get_ref() {
                DeValue::Table(t) => vec![t],
                DeValue::Array(items) => items
                    .iter()
                    .filter_map(|i| match i.get_ref() {
                        DeValue::Table(t) => Some(t),
                        _ => None,
                    })
                    .collect(),
                _ => Vec::new(),
            };
            for (i, table) in tables.into_iter().enumerate() {
                if let Some((k, _)) = table.iter().find(|(k, _)| k.get_ref().as_ref() == key) {
                    let path = match value.get_ref() {
                        DeValue::Array(_) => format!("{}.{i}.{key}", name.get_ref()),
                        _ => format!("{}.{key}", name.get_ref()),
                    };
                    found.push((path, k));
                }
            }
        }
        let (path, at) = found.into_iter().min_by_key(|(_, k)| k.span().start)?;
        let table = path.split('.').next().unwrap_or_default().to_string();
        let err = self
            .src
            .error(
                ErrorKind::MissingKey,
                Some(&at.span()),
                format!(
                    "`{key}` is missing at the top level: it is written inside the `{table}` table"
                ),
            )
            .with_key(path)
            .with_help(format!(
                "`{key}` is a top-level key: move it above the first [table] header \
                 (keys after a header belong to that table)"
            ));
        Some(err)
    }

    /// "in `[network]`", or "at the top level".
    fn place(&self) -> String {
        if self.path.is_empty() {
            format!("at {}", self.title)
        } else {
            format!("in {}", self.title)
        }
    }

    /// The value of `key`, if present.
    pub fn get(&self, key: &str) -> Option<Field<'a>> {
        let (key, value) = self.entries?.get_key_value(key)?;
        Some(Field {
            src: self.src,
            key: Some(key),
            value,
            path: join_path(&self.path, key.get_ref()),
        })
    }

    /// The value of `key`, which must be present; `example` shows how to write it.
    pub fn required(&self, key: &str, example: &str) -> Result<Field<'a>> {
        self.get(key).ok_or_else(|| {
            self.error(
                ErrorKind::MissingKey,
                format!("missing required key `{key}` {}", self.place()),
            )
            .with_key(join_path(&self.path, key))
            .with_help(format!("add `{key} = {example}`"))
        })
    }

    /// Every entry, in the order written (entries from `--set` last).
    pub fn fields(&self) -> Vec<Field<'a>> {
        let mut fields: Vec<Field<'a>> = self
            .entries
            .into_iter()
            .flat_map(|entries| entries.keys())
            .filter_map(|k| self.get(k.get_ref()))
            .collect();
        fields.sort_by_key(|f| f.key_span().start);
        fields
    }

    /// An error about the table as a whole, pointing at its header.
    pub fn error(&self, kind: ErrorKind, message: impl Into<String>) -> ScenarioError {
        let err = self.src.error(kind, self.span.as_ref(), message);
        if self.path.is_empty() {
            err
        } else {
            err.with_key(self.path.clone())
        }
    }

    /// `key` as a time, or `default` when absent.
    pub fn duration_or(&self, key: &str, default: SimDuration) -> Result<SimDuration> {
        self.get(key).map_or(Ok(default), |f| f.duration())
    }

    /// `key` as a time that must not be zero, or `default` when absent.
    pub fn positive_duration_or(&self, key: &str, default: SimDuration) -> Result<SimDuration> {
        self.get(key).map_or(Ok(default), |f| f.positive_duration())
    }

    /// `key` as a probability, or `default` when absent.
    pub fn probability_or(&self, key: &str, default: Probability) -> Result<Probability> {
        self.get(key).map_or(Ok(default), |f| f.probability())
    }

    /// `key` as a boolean, or `default` when absent.
    pub fn bool_or(&self, key: &str, default: bool) -> Result<bool> {
        self.get(key).map_or(Ok(default), |f| f.bool())
    }

    /// `key` as an integer in `min..=max`, or `default` when absent.
    pub fn u32_or(&self, key: &str, default: u32, min: u32, max: u32) -> Result<u32> {
        self.get(key).map_or(Ok(default), |f| f.u32_in(min, max))
    }

    /// `key` as one of `options` (by spelling), or `default` when absent.
    pub fn choice_or<T: Copy>(
        &self,
        key: &str,
        what: &str,
        options: &[(&str, T)],
        default: T,
    ) -> Result<T> {
        self.get(key)
            .map_or(Ok(default), |f| f.choice(what, options))
    }

    /// `key` as a path relative to the scenario's folder, if present.
    pub fn path_opt(&self, key: &str) -> Result<Option<PathBuf>> {
        self.get(key).map(|f| f.file_path()).transpose()
    }
}

impl<'a> Field<'a> {
    /// The key path (`network.latency`, `hosts.0.count`).
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The key as written, or the key path for an array item.
    pub fn name(&self) -> &str {
        self.key
            .map_or(self.path.as_str(), |k| k.get_ref().as_ref())
    }

    /// Where the value is.
    pub fn span(&self) -> Span {
        self.value.span()
    }

    /// Where the key is (the value, for an array item).
    pub fn key_span(&self) -> Span {
        self.key.map_or_else(|| self.value.span(), |k| k.span())
    }

    /// The sources, for messages that mention this field's position.
    pub fn sources(&self) -> &'a Sources<'a> {
        self.src
    }

    /// The raw value.
    pub fn value(&self) -> &'a DeValue<'a> {
        self.value.get_ref()
    }

    /// An error about the value.
    pub fn error(&self, kind: ErrorKind, message: impl Into<String>) -> ScenarioError {
        self.src
            .error(kind, Some(&self.span()), message)
            .with_key(self.path.clone())
    }

    /// An error about the key itself (it conflicts, it does not belong here).
    pub fn key_error(&self, kind: ErrorKind, message: impl Into<String>) -> ScenarioError {
        self.src
            .error(kind, Some(&self.key_span()), message)
            .with_key(self.path.clone())
    }

    /// A value of the wrong type, range or spelling.
    pub fn invalid(&self, message: impl Into<String>) -> ScenarioError {
        self.error(ErrorKind::InvalidValue, message)
    }

    /// "expected X for `key`, found Y".
    pub fn wrong_type(&self, expected: &str) -> ScenarioError {
        self.invalid(format!(
            "expected {expected} for `{}`, found {}",
            self.name(),
            describe(self.value())
        ))
    }

    /// `key = value` as the user would write it, for help lines.
    fn example(&self, value: &str) -> String {
        if let Some(flag) = self.src.as_flag(&self.value.span(), &self.path, value) {
            return format!("`{flag}`");
        }
        match self.key {
            Some(key) => format!("`{} = {value}`", key.get_ref()),
            None => format!("`{value}`"),
        }
    }

    /// The value as a string.
    pub fn str(&self) -> Result<&'a str> {
        match self.value() {
            DeValue::String(s) => Ok(s.as_ref()),
            _ => Err(self.wrong_type("a string")),
        }
    }

    /// The value as one of `options`, by spelling.
    pub fn choice<T: Copy>(&self, what: &str, options: &[(&str, T)]) -> Result<T> {
        let names: Vec<&str> = options.iter().map(|(name, _)| *name).collect();
        let text = match self.value() {
            DeValue::String(s) => s.as_ref(),
            _ => {
                return Err(self
                    .wrong_type(&format!("a {what} (a string)"))
                    .with_help(format!("write one of {}", one_of(&names))));
            }
        };
        if let Some((_, value)) = options.iter().find(|(name, _)| *name == text) {
            return Ok(*value);
        }
        Err(self
            .invalid(format!(
                "unknown {what} `{text}`: expected {}",
                one_of(&names)
            ))
            .with_help_opt(did_you_mean(text, names.iter().copied())))
    }

    /// The value as a non-negative time span ("250 ms", "10 s").
    pub fn duration(&self) -> Result<SimDuration> {
        let DeValue::String(text) = self.value() else {
            return Err(self.not_a_time());
        };
        text.parse::<SimDuration>()
            .map_err(|e| self.invalid(format!("invalid time for `{}`: {e}", self.name())))
    }

    /// The error for a time written as something other than a string: a
    /// bare number gets the spelling with a unit.
    fn not_a_time(&self) -> ScenarioError {
        match self.value() {
            DeValue::Integer(_) | DeValue::Float(_) => {
                let number = number_text(self.value());
                self.invalid(format!(
                    "`{}` is a time and needs a unit, found the bare number {number}",
                    self.name()
                ))
                .with_help(format!(
                    "write {} (units: ns, us, ms, s, min, h)",
                    self.example(&format!("\"{number} s\""))
                ))
            }
            _ => self
                .wrong_type("a time such as \"10 s\"")
                .with_help(format!("write {}", self.example("\"10 s\""))),
        }
    }

    /// A time span that must not be zero.
    pub fn positive_duration(&self) -> Result<SimDuration> {
        let d = self.duration()?;
        if d.is_zero() {
            return Err(self.invalid(format!("`{}` must be longer than zero", self.name())));
        }
        Ok(d)
    }

    /// An instant, written as the time since the start of the run.
    pub fn time(&self) -> Result<SimTime> {
        self.duration().map(SimTime::from_duration)
    }

    /// A signed time span ("-2 s") in nanoseconds.
    pub fn signed_nanos(&self) -> Result<i64> {
        let DeValue::String(text) = self.value() else {
            return Err(self.not_a_time());
        };
        let trimmed = text.trim();
        let (negative, magnitude) = match trimmed.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, trimmed.strip_prefix('+').unwrap_or(trimmed)),
        };
        let d = magnitude
            .parse::<SimDuration>()
            .map_err(|e| self.invalid(format!("invalid time for `{}`: {e}", self.name())))?;
        let ns = i64::try_from(d.as_nanos())
            .map_err(|_| self.invalid(format!("`{}` is too large", self.name())))?;
        Ok(if negative { -ns } else { ns })
    }

    /// A bandwidth ("100 Mbit").
    pub fn bandwidth(&self) -> Result<Bandwidth> {
        match self.value() {
            DeValue::String(text) => text
                .parse::<Bandwidth>()
                .map_err(|e| self.invalid(format!("invalid bandwidth for `{}`: {e}", self.name()))),
            DeValue::Integer(_) | DeValue::Float(_) => {
                let number = number_text(self.value());
                Err(self
                    .invalid(format!(
                        "`{}` is a bandwidth and needs a unit, found the bare number {number}",
                        self.name()
                    ))
                    .with_help(format!(
                        "write {} (units: bit, Kbit, Mbit, Gbit; bytes: KB, MB, KiB, MiB, ...)",
                        self.example(&format!("\"{number} Mbit\""))
                    )))
            }
            _ => Err(self.wrong_type("a bandwidth such as \"100 Mbit\"")),
        }
    }

    /// A number (integer or float) that is finite.
    pub fn f64(&self) -> Result<f64> {
        let value = match self.value() {
            DeValue::Float(f) => f.as_str().parse::<f64>().ok(),
            DeValue::Integer(i) => i128::from_str_radix(i.as_str(), i.radix())
                .ok()
                .map(|n| n as f64),
            _ => return Err(self.wrong_type("a number")),
        };
        match value {
            Some(v) if v.is_finite() => Ok(v),
            _ => Err(self.invalid(format!("`{}` must be a finite number", self.name()))),
        }
    }

    /// A probability in `0..=1`.
    pub fn probability(&self) -> Result<Probability> {
        let p = match self.value() {
            DeValue::Float(_) | DeValue::Integer(_) => self.f64()?,
            _ => {
                return Err(self
                    .wrong_type("a probability (a number from 0 to 1)")
                    .with_help(format!("write {} for 1 %", self.example("0.01"))));
            }
        };
        Probability::new(p).map_err(|e| self.invalid(format!("invalid `{}`: {e}", self.name())))
    }

    /// An integer (any size TOML can write).
    pub fn integer(&self) -> Result<i128> {
        match self.value() {
            DeValue::Integer(i) => i128::from_str_radix(i.as_str(), i.radix())
                .map_err(|_| self.invalid(format!("`{}` is not a valid integer", self.name()))),
            DeValue::String(s) if s.trim().parse::<i128>().is_ok() => Err(self
                .wrong_type("an integer")
                .with_help(format!("write {} without quotes", self.example(s.trim())))),
            _ => Err(self
                .wrong_type("an integer")
                .with_help("write a whole number without quotes, e.g. 10")),
        }
    }

    /// An integer in `min..=max`.
    pub fn int_in(&self, min: i128, max: i128) -> Result<i128> {
        let n = self.integer()?;
        if n < min {
            return Err(self.invalid(format!(
                "`{}` must be at least {min}, found {n}",
                self.name()
            )));
        }
        if n > max {
            return Err(self.invalid(format!(
                "`{}` must be at most {max}, found {n}",
                self.name()
            )));
        }
        Ok(n)
    }

    /// An integer in `min..=max` that fits a `u32`.
    pub fn u32_in(&self, min: u32, max: u32) -> Result<u32> {
        let n = self.int_in(i128::from(min), i128::from(max))?;
        // int_in bounded n to min..=max, both u32.
        Ok(u32::try_from(n).unwrap_or(max))
    }

    /// A boolean.
    pub fn bool(&self) -> Result<bool> {
        match self.value() {
            DeValue::Boolean(b) => Ok(*b),
            DeValue::String(s) if s.as_ref() == "true" || s.as_ref() == "false" => Err(self
                .wrong_type("a boolean")
                .with_help(format!("write {} without quotes", self.example(s)))),
            _ => Err(self.wrong_type("a boolean (true or false)")),
        }
    }

    /// A file path, resolved against the scenario file's folder.
    pub fn file_path(&self) -> Result<PathBuf> {
        let text = self.str()?;
        if text.trim().is_empty() {
            return Err(self.invalid(format!("`{}` is an empty path", self.name())));
        }
        let resolved = self.src.resolve_path(text);
        self.src.note_path(&self.path, &resolved);
        Ok(resolved)
    }

    /// The value as a table whose keys must all be in `known`.
    pub fn table(&self, title: &str, known: &[&str]) -> Result<Table<'a>> {
        let table = self.open_table(title)?;
        table.check_keys(known)?;
        Ok(table)
    }

    /// The value as a table with any keys (`[targets]`).
    pub fn open_table(&self, title: &str) -> Result<Table<'a>> {
        let DeValue::Table(entries) = self.value() else {
            return Err(self.wrong_type(&format!("a table ({title})")));
        };
        Ok(Table {
            src: self.src,
            entries: Some(entries),
            span: Some(self.span()),
            path: self.path.clone(),
            title: title.to_string(),
        })
    }

    /// The value as an array; its items' paths end in their index.
    pub fn array(&self) -> Result<Vec<Field<'a>>> {
        let DeValue::Array(items) = self.value() else {
            return Err(self.wrong_type("an array"));
        };
        Ok(items
            .iter()
            .enumerate()
            .map(|(i, value)| Field {
                src: self.src,
                key: None,
                value,
                path: format!("{}.{i}", self.path),
            })
            .collect())
    }
}

/// `prefix.key`, quoting `key` when it is not a bare TOML key.
pub(crate) fn join_path(prefix: &str, key: &str) -> String {
    let bare = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    let key = if bare {
        key.to_string()
    } else {
        format!("\"{}\"", key.replace('\\', "\\\\").replace('"', "\\\""))
    };
    if prefix.is_empty() {
        key
    } else {
        format!("{prefix}.{key}")
    }
}

/// "a string", "the integer 600", ... for "found ..." messages.
fn describe(value: &DeValue<'_>) -> String {
    match value {
        DeValue::String(s) => format!("the string \"{}\"", shorten(s)),
        DeValue::Integer(_) => format!("the integer {}", number_text(value)),
        DeValue::Float(_) => format!("the number {}", number_text(value)),
        DeValue::Boolean(b) => format!("the boolean {b}"),
        DeValue::Datetime(d) => format!("the date-time {d}"),
        DeValue::Array(_) => "an array".to_string(),
        DeValue::Table(_) => "a table".to_string(),
    }
}

/// A number as written (for integers in radix 10; others in decimal).
fn number_text(value: &DeValue<'_>) -> String {
    match value {
        DeValue::Integer(i) if i.radix() == 10 => i.as_str().to_string(),
        DeValue::Integer(i) => i128::from_str_radix(i.as_str(), i.radix())
            .map_or_else(|_| i.as_str().to_string(), |n| n.to_string()),
        DeValue::Float(f) => f.as_str().to_string(),
        _ => String::new(),
    }
}

/// At most 40 characters of `text`, for messages.
fn shorten(text: &str) -> String {
    match text.char_indices().nth(40) {
        Some((cut, _)) => format!("{}...", &text[..cut]),
        None => text.to_string(),
    }
}

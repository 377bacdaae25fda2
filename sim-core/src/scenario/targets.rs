//! `[targets]`: `"metric" = "<op> <number>"` checks against the metrics of
//! `summary.json`.

use toml::de::DeValue;

use super::error::ErrorKind;
use super::model::{Comparison, SeedStatistic, Target};
use super::reader::{Field, Result, Table};
use super::suggest::did_you_mean;

/// Metrics that are not numbers, so no target can compare them.
const NOT_NUMBERS: &[&str] = &["run.trace_hash", "run.scenario"];

/// Operators, longest spelling first so `<=` is not read as `<`.
const OPERATORS: &[(&str, Comparison)] = &[
    ("<=", Comparison::LessOrEqual),
    (">=", Comparison::GreaterOrEqual),
    ("==", Comparison::Equal),
    ("!=", Comparison::NotEqual),
    ("<", Comparison::Less),
    (">", Comparison::Greater),
];

/// The `[targets]` table in file order. `known` lists every metric a run
/// can write; `unproduced` says why this run would not write one.
pub(crate) fn parse(
    root: &Table<'_>,
    known: &[&str],
    unproduced: impl Fn(&str) -> Option<(String, String)>,
) -> Result<Vec<Target>> {
    let Some(field) = root.get("targets") else {
        return Ok(Vec::new());
    };
    let table = field.open_table("[targets]")?;
    table
        .fields()
        .iter()
        .map(|f| target(f, known, &unproduced))
        .collect()
}

/// An unknown metric, with its family's metrics or the families.
fn unknown_metric(field: &Field<'_>, known: &[&str], table: &str) -> super::ScenarioError {
    let metric = field.name();
    let family_of = |m: &str| {
        m.split_once('.')
            .map_or("", |(family, _)| family)
            .to_string()
    };
    let family = family_of(metric);
    let siblings: Vec<&str> = known
        .iter()
        .copied()
        .filter(|m| family_of(m) == family)
        .collect();
    let note = if siblings.is_empty() {
        let mut families: Vec<String> = known.iter().map(|m| family_of(m) + ".").collect();
        families.dedup();
        format!(
            "metric names start with {} (see docs/scenario-reference.md)",
            families.join(", ")
        )
    } else {
        format!("the {family} metrics are {}", siblings.join(", "))
    };
    field
        .key_error(
            ErrorKind::UnknownKey,
            format!("unknown metric `{metric}` in {table}"),
        )
        .with_note(note)
        .with_help_opt(did_you_mean(metric, known.iter().copied()))
}

/// One `"metric" = "<op> <number>"` entry.
fn target(
    field: &Field<'_>,
    known: &[&str],
    unproduced: &impl Fn(&str) -> Option<(String, String)>,
) -> Result<Target> {
    let metric = field.name();
    if !known.contains(&metric) {
        return Err(unknown_metric(field, known, "[targets]"));
    }
    if NOT_NUMBERS.contains(&metric) {
        return Err(field.key_error(
            ErrorKind::InvalidValue,
            format!("`{metric}` is not a number, so it cannot be a target"),
        ));
    }
    if let Some((why, help)) = unproduced(metric) {
        return Err(field
            .key_error(
                ErrorKind::Conflict,
                format!("target on `{metric}`, but {why}, so the run does not produce it"),
            )
            .with_help(help));
    }
    let location = field.sources().location(&field.key_span());
    if let DeValue::Table(_) = field.value() {
        // `{ p95 = "< 60" }`: a statistic over the seeds of a sweep.
        let table = field.open_table(&format!("target `{metric}`"))?;
        let entries = table.fields();
        let [entry] = entries.as_slice() else {
            return Err(field
                .invalid(format!(
                    "target `{metric}` over seeds needs exactly one statistic"
                ))
                .with_help("write e.g. `{ p95 = \"< 60\" }` (mean, p50, p95, min or max)"));
        };
        let statistic = match entry.name() {
            "mean" => SeedStatistic::Mean,
            "p50" => SeedStatistic::P50,
            "p95" => SeedStatistic::P95,
            "min" => SeedStatistic::Min,
            "max" => SeedStatistic::Max,
            other => {
                return Err(entry
                    .key_error(
                        ErrorKind::UnknownKey,
                        format!("unknown statistic `{other}` in target `{metric}`"),
                    )
                    .with_help("use mean, p50, p95, min or max"));
            }
        };
        let (op, value) = comparison(entry)?;
        return Ok(Target {
            metric: metric.to_string(),
            op,
            value,
            over_seeds: Some(statistic),
            location,
        });
    }
    let (op, value) = comparison(field)?;
    Ok(Target {
        metric: metric.to_string(),
        op,
        value,
        over_seeds: None,
        location,
    })
}

/// `"< 60"` into its operator and number.
fn comparison(field: &Field<'_>) -> Result<(Comparison, f64)> {
    let example = format!("`\"{}\" = \"<= 60\"`", field.name());
    let text = match field.value() {
        DeValue::String(s) => s.trim(),
        DeValue::Integer(_) | DeValue::Float(_) => {
            return Err(field
                .invalid("a target needs an operator and a number, found a bare number")
                .with_help(format!(
                    "write e.g. {example} (operators: <, <=, >, >=, ==, !=)"
                )));
        }
        _ => {
            return Err(field
                .wrong_type("a comparison such as \"< 60\"")
                .with_help(format!("write e.g. {example}")));
        }
    };
    let Some((op, rest)) = OPERATORS
        .iter()
        .find_map(|(spelling, op)| text.strip_prefix(spelling).map(|rest| (*op, rest)))
    else {
        let hint = match text.get(..2) {
            Some("=<") => "did you mean `<=`?",
            Some("=>") => "did you mean `>=`?",
            _ if text.starts_with('=') => "did you mean `==`?",
            _ => "operators: <, <=, >, >=, ==, !=",
        };
        return Err(field
            .invalid(format!(
                "`{text}` does not start with a comparison operator"
            ))
            .with_help(format!("{hint} e.g. {example}")));
    };
    match rest.trim().parse::<f64>() {
        Ok(value) if value.is_finite() => Ok((op, value)),
        _ => Err(field
            .invalid(format!(
                "expected a number after `{}`, found `{}`",
                op.as_str(),
                rest.trim()
            ))
            .with_help(format!(
                "write a plain number (seconds for `_s` metrics, a fraction for rates), e.g. {example}"
            ))),
    }
}

/// The `[tolerances]` table: `"metric" = "20%"`, in file order.
pub(crate) fn tolerances(root: &Table<'_>, known: &[&str]) -> Result<Vec<(String, f64)>> {
    let Some(field) = root.get("tolerances") else {
        return Ok(Vec::new());
    };
    let table = field.open_table("[tolerances]")?;
    table
        .fields()
        .iter()
        .map(|f| {
            let metric = f.name();
            if !known.contains(&metric) {
                return Err(unknown_metric(f, known, "[tolerances]"));
            }
            let text = f.str()?.trim();
            match text
                .strip_suffix('%')
                .map(str::trim)
                .and_then(|n| n.parse::<f64>().ok())
            {
                Some(percent) if (0.0..=1000.0).contains(&percent) => {
                    Ok((metric.to_string(), percent / 100.0))
                }
                _ => Err(f
                    .invalid(format!("`{text}` is not a tolerance"))
                    .with_help(format!("write a percentage, e.g. `\"{metric}\" = \"20%\"`"))),
            }
        })
        .collect()
}

//! `[[network.regions]]`: the regions of a `topology = "regions"` network,
//! each with its share (or count) of the hosts, an optional host bandwidth,
//! and its row of the latency (and loss) matrix:
//!
//! ```toml
//! [[network.regions]]
//! name = "europe"
//! share = 0.4
//! latency = { europe = "2 ms", asia = "106 ms" }   # one way
//! loss = { asia = 0.001 }                          # optional
//! ```
//!
//! Each pair of regions is given once or twice (then with equal values):
//! the matrix is symmetric. Every region gives its own latency (between two
//! of its hosts). Shares add up to 1, or counts to the number of hosts
//! ([`check_sizes`], once the hosts are known).

use std::collections::BTreeMap;

use super::error::ErrorKind;
use super::model::{RegionSize, RegionSpec};
use super::reader::{Field, Result, Table};
use crate::units::{Probability, SimDuration};

/// Keys of a `[[network.regions]]` entry.
pub(crate) const REGION_KEYS: &[&str] = &["name", "share", "count", "bandwidth", "latency", "loss"];

/// How far the shares may add up from 1.
const SHARE_TOLERANCE: f64 = 1e-9;

/// Reads `regions` (an array of tables) into its regions, matrix complete.
pub(crate) fn parse(field: &Field<'_>) -> Result<Vec<RegionSpec>> {
    let entries = field.array()?;
    if entries.is_empty() {
        return Err(field.invalid("`regions` lists no region").with_help(
            "add `[[network.regions]]` tables, each with a name, a share and latencies",
        ));
    }
    let tables: Vec<Table<'_>> = entries
        .iter()
        .map(|e| e.table("[[network.regions]]", REGION_KEYS))
        .collect::<Result<_>>()?;
    let mut names: BTreeMap<String, usize> = BTreeMap::new();
    for (i, t) in tables.iter().enumerate() {
        let f = t.required("name", "\"europe\"")?;
        let name = f.str()?;
        if name.is_empty() {
            return Err(f.invalid("a region name cannot be empty"));
        }
        if names.insert(name.to_string(), i).is_some() {
            return Err(f
                .invalid(format!("region `{name}` is named twice"))
                .with_help("give each region its own name"));
        }
    }
    let sizes = sizes(&tables)?;
    let n = tables.len();
    let mut latency: Vec<Vec<Option<(SimDuration, Field<'_>)>>> = vec![vec![None; n]; n];
    let mut loss: Vec<Vec<Option<(Probability, Field<'_>)>>> = vec![vec![None; n]; n];
    for (i, t) in tables.iter().enumerate() {
        let row = t.required("latency", "{ europe = \"2 ms\", asia = \"106 ms\" }")?;
        for (j, f) in row_fields(&row, &names)? {
            latency[i][j] = Some((f.duration()?, f));
        }
        if let Some(row) = t.get("loss") {
            for (j, f) in row_fields(&row, &names)? {
                loss[i][j] = Some((f.probability()?, f));
            }
        }
    }
    let region_names: Vec<&str> = {
        let mut v = vec![""; n];
        for (name, &i) in &names {
            v[i] = name;
        }
        v
    };
    let mut regions = Vec::with_capacity(n);
    for (i, t) in tables.iter().enumerate() {
        let mut lat = Vec::with_capacity(n);
        let mut los = Vec::with_capacity(n);
        for j in 0..n {
            let l = symmetric(&latency, i, j, &region_names, "latency")?;
            lat.push(l.ok_or_else(|| missing(t, &region_names, i, j))?);
            los.push(symmetric(&loss, i, j, &region_names, "loss")?.unwrap_or(Probability::ZERO));
        }
        regions.push(RegionSpec {
            name: region_names[i].to_string(),
            size: sizes[i],
            bandwidth: t.get("bandwidth").map(|f| f.bandwidth()).transpose()?,
            latency: lat,
            loss: los,
        });
    }
    Ok(regions)
}

/// Each region's `share` or `count`: all one or all the other.
fn sizes(tables: &[Table<'_>]) -> Result<Vec<RegionSize>> {
    let mut sizes = Vec::with_capacity(tables.len());
    let mut total_share = 0.0;
    for t in tables {
        let size = match (t.get("share"), t.get("count")) {
            (Some(share), Some(count)) => {
                let later = if share.key_span().start > count.key_span().start {
                    share
                } else {
                    count
                };
                return Err(later
                    .key_error(
                        ErrorKind::Conflict,
                        "a region has a `share` or a `count`, not both",
                    )
                    .with_help("remove one of them"));
            }
            (Some(f), None) => {
                let v = f.f64()?;
                if !(v > 0.0 && v <= 1.0) {
                    return Err(
                        f.invalid(format!("`share` must be above 0 and at most 1, found {v}"))
                    );
                }
                total_share += v;
                RegionSize::Share(v)
            }
            (None, Some(f)) => RegionSize::Count(f.u32_in(0, u32::MAX)?),
            (None, None) => {
                return Err(t
                    .error(
                        ErrorKind::MissingKey,
                        "a region needs `share` (of the hosts) or `count`",
                    )
                    .with_help("add `share = 0.25` or `count = 10`"));
            }
        };
        let mixed = matches!(
            (sizes.first(), size),
            (Some(RegionSize::Share(_)), RegionSize::Count(_))
                | (Some(RegionSize::Count(_)), RegionSize::Share(_))
        );
        if mixed && let Some(f) = t.get("share").or_else(|| t.get("count")) {
            return Err(f
                .key_error(
                    ErrorKind::Conflict,
                    "regions are sized all by `share` or all by `count`",
                )
                .with_help("use the same key in every region"));
        }
        sizes.push(size);
    }
    if matches!(sizes.first(), Some(RegionSize::Share(_)))
        && (total_share - 1.0).abs() > SHARE_TOLERANCE
    {
        let f = tables.last().and_then(|t| t.get("share"));
        let message = format!("the regions' shares add up to {total_share}, not 1");
        let err = match f {
            Some(f) => f.invalid(message),
            None => tables[0].error(ErrorKind::InvalidValue, message),
        };
        return Err(err.with_help("make the shares add up to 1 (e.g. 0.5, 0.3, 0.2)"));
    }
    Ok(sizes)
}

/// The entries of a `latency` or `loss` table, by region index.
fn row_fields<'a>(
    row: &Field<'a>,
    names: &BTreeMap<String, usize>,
) -> Result<Vec<(usize, Field<'a>)>> {
    let table = row.open_table(&format!("`{}`", row.name()))?;
    table
        .fields()
        .into_iter()
        .map(|f| match names.get(f.name()) {
            Some(&j) => Ok((j, f)),
            None => Err(f
                .key_error(
                    ErrorKind::UnknownKey,
                    format!("no region is named `{}`", f.name()),
                )
                .with_help(format!(
                    "the regions are {}",
                    names
                        .keys()
                        .map(|n| format!("`{n}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ))),
        })
        .collect()
}

/// Entry (i, j) of a symmetric matrix given on either side (or both, then
/// equal).
fn symmetric<T: Copy + PartialEq + std::fmt::Debug>(
    matrix: &[Vec<Option<(T, Field<'_>)>>],
    i: usize,
    j: usize,
    names: &[&str],
    what: &str,
) -> Result<Option<T>> {
    match (&matrix[i][j], &matrix[j][i]) {
        (Some((a, fa)), Some((b, _))) if a != b => Err(fa
            .invalid(format!(
                "the {what} between `{}` and `{}` is given twice, differently ({a:?} and {b:?})",
                names[i], names[j]
            ))
            .with_help("the matrix is symmetric: give each pair once, or twice the same")),
        (Some((a, _)), _) | (None, Some((a, _))) => Ok(Some(*a)),
        (None, None) => Ok(None),
    }
}

/// The error for a pair of regions without a latency.
fn missing(t: &Table<'_>, names: &[&str], i: usize, j: usize) -> super::ScenarioError {
    let (what, example) = if i == j {
        (
            format!(
                "region `{}` gives no latency between two of its own hosts",
                names[i]
            ),
            format!("{} = \"2 ms\"", names[i]),
        )
    } else {
        (
            format!(
                "no latency is given between regions `{}` and `{}`",
                names[i], names[j]
            ),
            format!("{} = \"80 ms\"", names[j]),
        )
    };
    let err = match t.get("latency") {
        Some(f) => f.invalid(what),
        None => t.error(ErrorKind::MissingKey, what),
    };
    err.with_help(format!("add `{example}` to the latency of `{}`", names[i]))
}

/// Counts must add up to the number of hosts.
pub(crate) fn check_sizes(regions: &[RegionSpec], field: &Field<'_>, hosts: u32) -> Result<()> {
    let counts: Option<u64> = regions
        .iter()
        .map(|r| match r.size {
            RegionSize::Count(c) => Some(u64::from(c)),
            RegionSize::Share(_) => None,
        })
        .sum();
    match counts {
        Some(total) if total != u64::from(hosts) => Err(field
            .invalid(format!(
                "the regions' counts add up to {total}, but the scenario has {hosts} hosts"
            ))
            .with_help("make the counts add up to the hosts, or use shares")),
        Some(_) | None => Ok(()),
    }
}

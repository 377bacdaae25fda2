//! `[[faults]]`: each entry has `at`, exactly one kind key, and only the
//! options of that kind.

use std::collections::BTreeMap;

use node_logic::HostId;
use toml::de::DeValue;

use super::error::ErrorKind;
use super::model::{CorruptMode, CorruptTarget, Fault, FaultKind};
use super::reader::{Field, Result, Table};
use super::resolve::HostIndex;
use super::schema;
use super::suggest::one_of;
use super::timeline::{self, CrashWindow};
use crate::units::{Probability, SimDuration, SimTime};

/// A fault kind, by its key.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Partition,
    Crash,
    Link,
    Corrupt,
    Byzantine,
    ClockSkew,
}

/// Each kind's key and the option keys that belong to it.
const KINDS: &[(&str, Kind, &[&str])] = &[
    ("partition", Kind::Partition, &["until", "one_way"]),
    ("crash", Kind::Crash, &["restart"]),
    ("link", Kind::Link, &["latency", "loss", "until"]),
    ("corrupt", Kind::Corrupt, &["mode"]),
    ("byzantine", Kind::Byzantine, &["until"]),
    ("clock_skew", Kind::ClockSkew, &["offset", "drift"]),
];

const MODES: &[(&str, CorruptMode)] = &[
    ("empty", CorruptMode::Empty),
    ("truncate", CorruptMode::Truncate),
    ("garbage", CorruptMode::Garbage),
    ("invalid-json", CorruptMode::InvalidJson),
    ("missing-field", CorruptMode::MissingField),
    ("bad-signature", CorruptMode::BadSignature),
    ("legacy", CorruptMode::Legacy),
    ("mixed", CorruptMode::Mixed),
];

/// Every `[[faults]]` entry in file order, checked against the timeline.
pub(crate) fn parse(
    root: &Table<'_>,
    index: &HostIndex<'_>,
    duration: SimDuration,
) -> Result<Vec<Fault>> {
    let Some(field) = root.get("faults") else {
        return Ok(Vec::new());
    };
    if let DeValue::Table(_) = field.value() {
        return Err(field
            .invalid("`faults` must be an array of tables, one per fault")
            .with_help("write the header as [[faults]] (double brackets), once per fault"));
    }
    let mut faults = Vec::new();
    let mut crashes = Vec::new();
    for entry in field.array()? {
        let table = entry.table("[[faults]]", schema::FAULTS)?;
        let (kind, kind_field) = kind(&table)?;
        check_options(&table, kind)?;
        let at_field = table.required("at", "\"10 s\"")?;
        let at = at_field.time()?;
        timeline::check_start(&at_field, at, duration)?;
        let end = |key: &str| -> Result<Option<SimTime>> {
            let Some(f) = table.get(key) else {
                return Ok(None);
            };
            let end = f.time()?;
            timeline::check_end(&f, at, end, duration)?;
            Ok(Some(end))
        };
        let fault_kind = match kind {
            Kind::Partition => FaultKind::Partition {
                sides: partition_sides(&kind_field, index)?,
                one_way: table.bool_or("one_way", false)?,
                until: end("until")?,
            },
            Kind::Crash => {
                let hosts = index.resolve(&kind_field)?;
                let restart = end("restart")?;
                crashes.extend(hosts.iter().map(|&host| CrashWindow {
                    host,
                    start: at,
                    end: restart.unwrap_or(SimTime::NEVER),
                    path: kind_field.path().to_string(),
                    span: kind_field.key_span(),
                }));
                FaultKind::Crash { hosts, restart }
            }
            Kind::Link => {
                let (a, b) = link_ends(&kind_field, index)?;
                FaultKind::Link {
                    a,
                    b,
                    latency: table.duration_or("latency", SimDuration::ZERO)?,
                    loss: table.probability_or("loss", Probability::ZERO)?,
                    until: end("until")?,
                }
            }
            Kind::Corrupt => FaultKind::Corrupt {
                target: corrupt_target(&kind_field, index)?,
                mode: table
                    .required("mode", "\"truncate\"")?
                    .choice("corruption mode", MODES)?,
            },
            Kind::Byzantine => FaultKind::Byzantine {
                hosts: index.resolve(&kind_field)?,
                until: end("until")?,
            },
            Kind::ClockSkew => clock_skew(&table, &kind_field, index)?,
        };
        let location = table
            .span()
            .map(|span| table.sources().location(span))
            .unwrap_or_default();
        faults.push(Fault {
            at,
            kind: fault_kind,
            location,
        });
    }
    timeline::check_crash_overlaps(root.sources(), index, crashes)?;
    Ok(faults)
}

/// The one kind key of a fault.
fn kind<'a>(table: &Table<'a>) -> Result<(Kind, Field<'a>)> {
    let mut present: Vec<(Kind, Field<'a>)> = KINDS
        .iter()
        .filter_map(|(name, kind, _)| table.get(name).map(|f| (*kind, f)))
        .collect();
    present.sort_by_key(|(_, f)| f.key_span().start);
    let kinds: Vec<&str> = KINDS.iter().map(|(name, ..)| *name).collect();
    let mut present = present.into_iter();
    let Some(first) = present.next() else {
        return Err(table
            .error(ErrorKind::MissingKey, "this fault has no kind")
            .with_help(format!("add one of {}", one_of(&kinds))));
    };
    if let Some((_, second)) = present.next() {
        return Err(second
            .key_error(
                ErrorKind::Conflict,
                format!(
                    "a fault has exactly one kind, but this one has both `{}` and `{}`",
                    first.1.name(),
                    second.name()
                ),
            )
            .with_help("split it into two [[faults]] entries, each with its own `at`"));
    }
    Ok(first)
}

/// Keys that belong to another kind are an error naming that kind.
fn check_options(table: &Table<'_>, kind: Kind) -> Result<()> {
    let Some((kind_name, _, options)) = KINDS.iter().find(|(_, k, _)| *k == kind) else {
        return Ok(());
    };
    for field in table.fields() {
        let key = field.name();
        if key == "at" || options.contains(&key) || KINDS.iter().any(|(name, ..)| *name == key) {
            continue;
        }
        let owners: Vec<&str> = KINDS
            .iter()
            .filter(|(_, _, opts)| opts.contains(&key))
            .map(|(name, ..)| *name)
            .collect();
        let own: Vec<&str> = std::iter::once("at")
            .chain(options.iter().copied())
            .collect();
        let help = match (kind, key) {
            (Kind::Crash, "until") => "a crash ends with `restart`".to_string(),
            (Kind::Partition | Kind::Link | Kind::Byzantine, "restart") => {
                format!("a {kind_name} fault ends with `until`")
            }
            _ => format!("a {kind_name} fault takes {}", one_of(&own)),
        };
        return Err(field
            .key_error(
                ErrorKind::Conflict,
                format!("`{key}` does not apply to a {kind_name} fault"),
            )
            .with_note(format!("`{key}` belongs to {} faults", one_of(&owners)))
            .with_help(help));
    }
    Ok(())
}

/// `partition = [side, side, ...]`: two or more disjoint, non-empty sides.
fn partition_sides(field: &Field<'_>, index: &HostIndex<'_>) -> Result<Vec<Vec<HostId>>> {
    let DeValue::Array(_) = field.value() else {
        return Err(field.wrong_type("a list of sides").with_help(
            "write e.g. `partition = [[\"validator-0\", \"validator-1\"], [\"validator-2\"]]`",
        ));
    };
    let sides = field.array()?;
    if sides.len() < 2 {
        return Err(field
            .invalid(format!(
                "a partition needs at least two sides, found {}",
                sides.len()
            ))
            .with_help(
                "write e.g. `partition = [[\"validator-0\", \"validator-1\"], [\"validator-2\"]]`",
            ));
    }
    let mut side_of: BTreeMap<HostId, usize> = BTreeMap::new();
    let mut resolved = Vec::with_capacity(sides.len());
    for (i, side) in sides.iter().enumerate() {
        let hosts = index.resolve(side)?;
        for &host in &hosts {
            if let Some(other) = side_of.insert(host, i) {
                return Err(side
                    .invalid(format!(
                        "host `{}` is on two sides of the partition (sides {other} and {i})",
                        index.name(host)
                    ))
                    .with_help("the sides of a partition must not share hosts"));
            }
        }
        resolved.push(hosts);
    }
    Ok(resolved)
}

/// `link = [a, b]`: two host references with no host in common.
fn link_ends(field: &Field<'_>, index: &HostIndex<'_>) -> Result<(Vec<HostId>, Vec<HostId>)> {
    let ends = match field.value() {
        DeValue::Array(_) => field.array()?,
        _ => Vec::new(),
    };
    let [a, b] = ends.as_slice() else {
        return Err(field
            .invalid("`link` needs exactly two ends, [a, b]")
            .with_help("write e.g. `link = [\"miner-1\", \"validator-0\"]`"));
    };
    let (a, b) = (index.resolve(a)?, index.resolve(b)?);
    if let Some(host) = a.iter().find(|h| b.contains(h)) {
        return Err(field
            .invalid(format!(
                "host `{}` is on both ends of the link",
                index.name(*host)
            ))
            .with_help("the two ends of a link must not share hosts"));
    }
    Ok((a, b))
}

/// `corrupt = <host reference>` or `corrupt = { fraction = 0.05, of = "miner" }`.
fn corrupt_target(field: &Field<'_>, index: &HostIndex<'_>) -> Result<CorruptTarget> {
    if let DeValue::Table(_) = field.value() {
        let table = field.table("`corrupt`", schema::CORRUPT_FRACTION)?;
        return Ok(CorruptTarget::Fraction {
            fraction: table.required("fraction", "0.05")?.probability()?,
            of: index.resolve(&table.required("of", "\"miner\"")?)?,
        });
    }
    Ok(CorruptTarget::Hosts(index.resolve(field)?))
}

/// `clock_skew = <hosts>` with `offset` and/or `drift`.
fn clock_skew(table: &Table<'_>, field: &Field<'_>, index: &HostIndex<'_>) -> Result<FaultKind> {
    let hosts = index.resolve(field)?;
    let offset = table.get("offset");
    let drift = table.get("drift");
    if offset.is_none() && drift.is_none() {
        return Err(table
            .error(
                ErrorKind::MissingKey,
                "a clock_skew fault needs `offset`, `drift` or both",
            )
            .with_help("add e.g. `offset = \"2 s\"` or `drift = 0.001`"));
    }
    let offset_ns = offset.map(|f| f.signed_nanos()).transpose()?.unwrap_or(0);
    let drift = match drift {
        Some(f) => {
            let d = f.f64()?;
            if d.abs() >= 1.0 {
                return Err(f
                    .invalid(format!("`drift` must be between -1 and 1, found {d}"))
                    .with_help(
                        "drift is a rate error: 0.001 means the clock gains 1 ms per second",
                    ));
            }
            d
        }
        None => 0.0,
    };
    Ok(FaultKind::ClockSkew {
        hosts,
        offset_ns,
        drift,
    })
}

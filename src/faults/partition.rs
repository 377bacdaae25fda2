//! `partition`: messages between different sides are dropped until
//! `until` (only first side → others with `one_way = true`); hosts on no
//! side are unaffected, and the shared directory is not cut.

use std::collections::BTreeMap;

use node_logic::HostId;
use sim_core::engine::FaultAction;
use sim_core::faults::PartitionRule;
use sim_core::scenario::{self, FaultEntry, FaultKeys, Field, HostIndex, Hosts};
use sim_core::units::SimTime;
use toml::de::DeValue;

use super::{FaultContext, FaultEffects, FaultKind, RealEffect};
use crate::protocols::Protocols;

/// A partition fault.
#[derive(Clone, Debug, PartialEq)]
pub struct Partition {
    /// Two or more disjoint host sets.
    pub sides: Vec<Vec<HostId>>,
    /// Only traffic from the first side to the others is dropped.
    pub one_way: bool,
    /// Heal time; `None` = never heals.
    pub until: Option<SimTime>,
}

impl FaultKind for Partition {
    const KEYS: FaultKeys = FaultKeys {
        key: "partition",
        name: "partition",
        options: &["until", "one_way"],
        ends_with: Some("until"),
    };
    const SAMPLE: &'static str = r#"at = "10 s"
partition = [["validator-0"], ["validator-1"]]
until = "20 s""#;

    fn parse(entry: &FaultEntry<'_>, hosts: &Hosts<'_>, _: &Protocols) -> scenario::Result<Self> {
        Ok(Partition {
            sides: sides(&entry.field, hosts.index)?,
            one_way: entry.table.bool_or("one_way", false)?,
            until: entry.end("until", hosts)?,
        })
    }
}

impl FaultEffects for Partition {
    fn hosts(&self, _cx: &FaultContext<'_>) -> Vec<HostId> {
        self.sides.concat()
    }
    fn heal(&self) -> Option<SimTime> {
        self.until
    }
    fn over(&self, _at: SimTime) -> Option<SimTime> {
        self.until
    }
    fn action(&self, _cx: &FaultContext<'_>) -> FaultAction {
        FaultAction::Network(Box::new(PartitionRule::new(&self.sides, self.one_way)))
    }
    fn real(&self, _cx: &FaultContext<'_>) -> RealEffect {
        RealEffect::Network {
            hosts: self.sides.concat(),
            until: self.until,
            rule: Box::new(PartitionRule::new(&self.sides, self.one_way)),
        }
    }
}

const EXAMPLE: &str =
    "write e.g. `partition = [[\"validator-0\", \"validator-1\"], [\"validator-2\"]]`";

/// `partition = [side, side, ...]`: two or more disjoint, non-empty sides.
fn sides(field: &Field<'_>, index: &HostIndex<'_>) -> scenario::Result<Vec<Vec<HostId>>> {
    let DeValue::Array(_) = field.value() else {
        return Err(field.wrong_type("a list of sides").with_help(EXAMPLE));
    };
    let sides = field.array()?;
    if sides.len() < 2 {
        return Err(field
            .invalid(format!(
                "a partition needs at least two sides, found {}",
                sides.len()
            ))
            .with_help(EXAMPLE));
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

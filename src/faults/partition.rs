//! `partition`: messages between different sides are dropped until
//! `until` (only first side → others with `one_way = true`); hosts on no
//! side are unaffected, and the shared directory is not cut.

use std::collections::BTreeMap;

use node_logic::HostId;
use rand::RngExt;
use sim_core::engine::FaultAction;
use sim_core::faults::PartitionRule;
use sim_core::rng::StreamRng;
use sim_core::scenario::{self, FaultEntry, FaultKeys, Field, HostIndex, Hosts};
use sim_core::units::SimTime;
use toml::de::DeValue;

use super::draw::{self, DrawSpace, EntryWriter};
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

    /// Cuts at most `max_partition` hosts of the pool off from the rest,
    /// both ways (one way one time in four), until the window's end.
    fn draw(space: &DrawSpace<'_>, rng: &mut StreamRng) -> Option<Self> {
        let pool = space.pool(|_| true);
        let (cut, rest) = draw::split(rng, &pool, space.bounds.max_partition)?;
        Some(Partition {
            sides: vec![cut, rest],
            one_way: rng.random_ratio(1, 4),
            until: Some(space.end),
        })
    }

    fn write(&self, entry: &mut EntryWriter<'_>) {
        let sides: Vec<toml::Value> = self.sides.iter().map(|s| entry.host_value(s)).collect();
        entry.value("partition", toml::Value::Array(sides));
        if self.one_way {
            entry.value("one_way", true);
        }
        entry.time("until", self.until);
    }

    /// An earlier heal, then one way instead of both, then each side with
    /// one host fewer.
    fn simpler(&self, at: SimTime) -> Vec<Self> {
        let mut out = Vec::new();
        if let Some(until) = draw::earlier_end(at, self.until) {
            out.push(Partition {
                until: Some(until),
                ..self.clone()
            });
        }
        if !self.one_way {
            out.push(Partition {
                one_way: true,
                ..self.clone()
            });
        }
        for (i, side) in self.sides.iter().enumerate() {
            for smaller in draw::fewer(side) {
                let mut sides = self.sides.clone();
                sides[i] = smaller;
                out.push(Partition {
                    sides,
                    ..self.clone()
                });
            }
        }
        out
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

//! Hierarchical registration (`top_registrar`): one registrar per region
//! of the `regions` topology reads its region's miner files and sends
//! what it accepts up to one top-level registrar, which validates each
//! result again and alone judges (and announces) the registry.
//!
//! Ownership is by the region the network places a miner's host in
//! (`Hosts::region_of`), so a regional registrar reads only files of
//! miners near it. The top is also its own region's registrar. A region
//! with miners must have exactly one registrar (none: nobody would read
//! its files before the takeover; two: they would duplicate every read),
//! both located errors. After `region_takeover` from its start the top
//! reads every file still missing itself: a crashed (or cut off, or slow)
//! regional registrar's region is taken over.
//!
//! A legacy registry's entries belong to no region: the top alone merges
//! it (it alone judges the registry), as a single registrar would; the
//! regional registrars never read it.

use std::collections::BTreeSet;
use std::sync::Arc;

use node_logic::HostId;
use node_logic::protocols::registration::{Ownership, ShardConfig};
use sim_core::scenario::{self, ErrorKind, Field, Hosts, Table};
use sim_core::units::SimDuration;

/// The hierarchy a scenario sets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hierarchy {
    /// The top-level registrar: it alone judges "registered".
    pub top: HostId,
    /// How long from its start the top leaves each region to its
    /// registrar before reading the region's missing files itself.
    pub takeover: SimDuration,
    /// The regions, in scenario order.
    pub regions: Vec<Region>,
}

/// One region of the hierarchy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Region {
    /// Its name.
    pub name: String,
    /// Its registrar, if any (a region without miners may have none).
    pub registrar: Option<HostId>,
    /// The agent ids of its miners.
    pub agents: Arc<BTreeSet<String>>,
}

impl Hierarchy {
    /// Registrar `host`'s share: its region's miners; a regional one
    /// sends them to the top and never takes over, the top takes every
    /// regional registrar's results and takes over after `takeover`.
    pub fn shard_of(&self, host: HostId) -> Option<ShardConfig> {
        let region = self.regions.iter().find(|r| r.registrar == Some(host))?;
        let owns = Ownership::Listed(Arc::clone(&region.agents));
        if host == self.top {
            return Some(ShardConfig {
                owns,
                peers: self
                    .regions
                    .iter()
                    .filter_map(|r| r.registrar)
                    .filter(|&r| r != host)
                    .collect(),
                send_to: Vec::new(),
                takeover_after: self.takeover,
            });
        }
        Some(ShardConfig {
            owns,
            peers: Vec::new(),
            send_to: vec![self.top],
            takeover_after: SimDuration::MAX,
        })
    }

    /// How many miners registrar `host` waits for: the top waits for
    /// `expected`, a regional registrar for its region's miners.
    pub fn expected_of(&self, host: HostId, expected: u32) -> u32 {
        if host == self.top {
            return expected;
        }
        self.regions
            .iter()
            .find(|r| r.registrar == Some(host))
            .map_or(expected, |r| {
                u32::try_from(r.agents.len())
                    .unwrap_or(u32::MAX)
                    .min(expected)
            })
    }
}

/// `top_registrar` and `region_takeover`: `None` without `top_registrar`
/// (then `region_takeover` is an error: it would do nothing).
pub fn parse(
    t: &Table<'_>,
    hosts: &Hosts<'_>,
    miners: &[HostId],
    registrars: &[HostId],
) -> scenario::Result<Option<Hierarchy>> {
    let Some(field) = t.get("top_registrar") else {
        return match t.get("region_takeover") {
            Some(f) => Err(f
                .key_error(
                    ErrorKind::Conflict,
                    "`region_takeover` is used only by hierarchical registration, so without `top_registrar` this setting would do nothing",
                )
                .with_help("add `top_registrar = \"<a registrar host>\"`, or remove `region_takeover`")),
            None => Ok(None),
        };
    };
    conflicts(t, &field, hosts, registrars)?;
    let top = top(&field, hosts, registrars)?;
    let regions = regions(&field, hosts, miners, registrars)?;
    Ok(Some(Hierarchy {
        top,
        takeover: t.positive_duration_or("region_takeover", SimDuration::from_secs(30))?,
        regions,
    }))
}

/// What hierarchical registration cannot be combined with.
fn conflicts(
    t: &Table<'_>,
    field: &Field<'_>,
    hosts: &Hosts<'_>,
    registrars: &[HostId],
) -> scenario::Result<()> {
    if let Some(f) = t.get("shard") {
        return Err(f
            .key_error(
                ErrorKind::Conflict,
                "`shard` splits the miners by hash among equal registrars; `top_registrar` splits them by region under one top-level registrar: the two cannot be combined",
            )
            .with_help("remove `shard` (and `shard_takeover`), or remove `top_registrar`"));
    }
    if hosts.regions.is_empty() {
        return Err(field
            .invalid("`top_registrar` assigns each miner to its region's registrar, but the network has no regions")
            .with_help("set `topology = \"regions\"` in [network] with `[[network.regions]]` tables, or remove `top_registrar`"));
    }
    if registrars.len() < 2 {
        return Err(field
            .invalid(format!(
                "hierarchical registration needs a top-level registrar and at least one regional one, but there is only {} registrar",
                registrars.len()
            ))
            .with_help("add a registrar in every region, or remove `top_registrar`"));
    }
    Ok(())
}

/// The top-level registrar: exactly one host, and a registrar.
fn top(field: &Field<'_>, hosts: &Hosts<'_>, registrars: &[HostId]) -> scenario::Result<HostId> {
    let named = hosts.index.resolve(field)?;
    let [top] = named.as_slice() else {
        return Err(field
            .invalid(format!(
                "`top_registrar` must name one host, but it names {}",
                named.len()
            ))
            .with_help("name a single registrar host, e.g. `top_registrar = \"registrar-0\"`"));
    };
    if !registrars.contains(top) {
        return Err(field
            .invalid(format!(
                "`top_registrar` is `{}`, which is not one of the registrars",
                hosts.index.name(*top)
            ))
            .with_help("name one of the registrar hosts"));
    }
    Ok(*top)
}

/// Every region with its registrar and miners; a region with miners
/// needs exactly one registrar.
fn regions(
    field: &Field<'_>,
    hosts: &Hosts<'_>,
    miners: &[HostId],
    registrars: &[HostId],
) -> scenario::Result<Vec<Region>> {
    let region_of = |h: HostId| hosts.region_of.get(h.index()).copied();
    let mut out = Vec::with_capacity(hosts.regions.len());
    for (index, name) in hosts.regions.iter().enumerate() {
        let here = |h: &&HostId| region_of(**h) == u32::try_from(index).ok();
        let own: Vec<HostId> = registrars.iter().filter(here).copied().collect();
        let agents: BTreeSet<String> = miners
            .iter()
            .filter(here)
            .filter_map(|&m| hosts.hosts.get(m.index()).map(|h| h.name.clone()))
            .collect();
        let name_list = |hs: &[HostId]| {
            let names: Vec<String> = hs.iter().map(|&h| hosts.index.name(h)).collect();
            names.join(", ")
        };
        match own.as_slice() {
            [] if agents.is_empty() => {}
            [] => {
                return Err(field
                    .invalid(format!(
                        "region `{name}` has {} miners but no registrar to read their files",
                        agents.len()
                    ))
                    .with_help("give every region with miners one registrar (hosts are placed over the regions in host order, by share or count)"));
            }
            [_] => {}
            [..] => {
                return Err(field
                    .invalid(format!(
                        "region `{name}` has {} registrars ({}); hierarchical registration has one per region",
                        own.len(),
                        name_list(&own)
                    ))
                    .with_help("change the registrars' count or the regions' shares so that each region gets one"));
            }
        }
        out.push(Region {
            name: name.clone(),
            registrar: own.first().copied(),
            agents: Arc::new(agents),
        });
    }
    Ok(out)
}

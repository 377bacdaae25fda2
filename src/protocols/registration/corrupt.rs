//! The `corrupt` fault kind: miners' registration files are damaged in
//! the shared directory — named hosts, or a random `fraction` of a group
//! drawn from the fault's own stream (`faults`, index) — with one damage
//! mode, or `mixed` (each file's mode drawn in host order). A complete
//! file is damaged at once; otherwise the damage lands when the file's
//! next write completes (a miner writing a bad file in the first place).
//! The damage bytes come from `fault-damage` (index `fault << 32 |
//! target`), so `sim launch` and `sim corrupt` damage the same way.

use std::collections::BTreeSet;
use std::rc::Rc;

use node_logic::HostId;
use node_logic::protocols::registration::damage::{DamageMode, damage};
use rand::RngExt;
use rand::seq::SliceRandom;
use sim_core::engine::{FaultAction, FileDamage};
use sim_core::rng::{StreamRng, names};
use sim_core::scenario::{self, DeValue, ErrorKind, FaultEntry, FaultKeys, Field, Hosts};
use sim_core::units::{Probability, SimTime};

use super::plan::file_name;
use crate::faults::draw::{self, DrawSpace, EntryWriter};
use crate::faults::{FaultContext, FaultEffects, FaultKind, RealEffect};
use crate::protocols::Protocols;

/// A corrupt fault.
#[derive(Clone, Debug, PartialEq)]
pub struct Corrupt {
    /// Whose file.
    pub target: CorruptTarget,
    /// How.
    pub mode: CorruptMode,
}

/// Whose registration file a `corrupt` fault damages.
#[derive(Clone, Debug, PartialEq)]
pub enum CorruptTarget {
    /// These hosts.
    Hosts(Vec<HostId>),
    /// A random `fraction` of a group, drawn from the fault stream.
    Fraction {
        /// Share of the group, 0..=1.
        fraction: Probability,
        /// The group's hosts.
        of: Vec<HostId>,
    },
}

/// How the files are damaged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CorruptMode {
    /// Every file the same way.
    One(DamageMode),
    /// Each file one mode drawn at random.
    Mixed,
}

/// A file a `corrupt` fault damages, resolved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DamageTarget {
    /// The miner whose file it is.
    pub host: HostId,
    /// Its agent id (damage modes rewrite fields with it).
    pub agent: String,
    /// How to damage it.
    pub mode: DamageMode,
}

impl FaultKind for Corrupt {
    const KEYS: FaultKeys = FaultKeys {
        key: "corrupt",
        name: "corrupt",
        options: &["mode"],
        ends_with: None,
    };
    const SAMPLE: &'static str = r#"at = "1 s"
corrupt = "miner-1"
mode = "truncate""#;

    fn parse(
        entry: &FaultEntry<'_>,
        hosts: &Hosts<'_>,
        protocols: &Protocols,
    ) -> scenario::Result<Self> {
        let target = target(&entry.field, hosts)?;
        let mode_field = entry.table.required("mode", "\"truncate\"")?;
        let mode = mode(&mode_field)?;
        let Some(registration) = &protocols.registration else {
            return Err(entry
                .field
                .key_error(
                    ErrorKind::Conflict,
                    "a corrupt fault damages registration files, but the scenario has no registration",
                )
                .with_help("add miners and a registrar, or remove this fault"));
        };
        let targets = match &target {
            CorruptTarget::Hosts(h) | CorruptTarget::Fraction { of: h, .. } => h,
        };
        let miners: BTreeSet<HostId> = registration.miners.iter().copied().collect();
        if let Some(host) = targets.iter().find(|h| !miners.contains(h)) {
            return Err(entry
                .field
                .invalid(format!(
                    "host `{}` writes no registration file (it is not a miner), so there is nothing to corrupt",
                    hosts.index.name(*host)
                ))
                .with_help("name miners only (role \"miner\", or `[registration] miners`)"));
        }
        if let CorruptTarget::Fraction { fraction, of } = &target {
            let count = (fraction.value() * of.len() as f64).round();
            if count == 0.0 {
                return Err(entry
                    .field
                    .invalid(format!(
                        "`fraction` {} of {} hosts is {} files, which rounds to 0: nothing would be damaged",
                        fraction.value(),
                        of.len(),
                        // Rounded to 9 decimals: 0.05 x 3 reads 0.15, not 0.15000000000000002.
                        (fraction.value() * of.len() as f64 * 1e9).round() / 1e9
                    ))
                    .with_help("raise `fraction`, or name the hosts"));
            }
        }
        Ok(Corrupt { target, mode })
    }

    /// Damages the files of up to `max_hosts` miners of the pool, in a
    /// mode drawn from `corrupt_modes`.
    fn draw(space: &DrawSpace<'_>, rng: &mut StreamRng) -> Option<Self> {
        let registration = space.scenario.protocols.registration.as_ref()?;
        let modes = &space.bounds.corrupt_modes;
        if modes.is_empty() {
            return None;
        }
        let miners: BTreeSet<HostId> = registration.miners.iter().copied().collect();
        let pool = space.pool(|h| miners.contains(&h));
        let hosts = draw::pick(rng, &pool, space.bounds.max_hosts)?;
        Some(Corrupt {
            target: CorruptTarget::Hosts(hosts),
            mode: modes[rng.random_range(0..modes.len())],
        })
    }

    fn write(&self, entry: &mut EntryWriter<'_>) {
        let target = match &self.target {
            CorruptTarget::Hosts(hosts) => entry.host_value(hosts),
            CorruptTarget::Fraction { fraction, of } => {
                let mut table = toml::Table::new();
                table.insert("fraction".into(), fraction.value().into());
                table.insert("of".into(), entry.host_value(of));
                toml::Value::Table(table)
            }
        };
        entry.value("corrupt", target);
        entry.value("mode", self.mode.as_str());
    }

    /// Named hosts: one fewer; a fraction: half of it.
    fn simpler(&self, _at: SimTime) -> Vec<Self> {
        match &self.target {
            CorruptTarget::Hosts(hosts) => draw::fewer(hosts)
                .into_iter()
                .map(|hosts| Corrupt {
                    target: CorruptTarget::Hosts(hosts),
                    mode: self.mode,
                })
                .collect(),
            CorruptTarget::Fraction { fraction, of } => draw::halved(fraction.value())
                .and_then(|f| Probability::new(f).ok())
                .map(|fraction| Corrupt {
                    target: CorruptTarget::Fraction {
                        fraction,
                        of: of.clone(),
                    },
                    mode: self.mode,
                })
                .into_iter()
                .collect(),
        }
    }
}

impl CorruptMode {
    /// The spelling in scenario files.
    pub fn as_str(self) -> &'static str {
        match self {
            CorruptMode::One(mode) => mode.as_str(),
            CorruptMode::Mixed => "mixed",
        }
    }

    /// Every mode: each damage mode, then `mixed`.
    pub fn all() -> Vec<CorruptMode> {
        let mut modes: Vec<CorruptMode> = DamageMode::ALL
            .iter()
            .map(|m| CorruptMode::One(*m))
            .collect();
        modes.push(CorruptMode::Mixed);
        modes
    }
}

impl FaultEffects for Corrupt {
    fn hosts(&self, cx: &FaultContext<'_>) -> Vec<HostId> {
        self.targets(cx).into_iter().map(|t| t.host).collect()
    }
    fn heal(&self) -> Option<SimTime> {
        None
    }
    fn over(&self, at: SimTime) -> Option<SimTime> {
        Some(at)
    }
    fn action(&self, cx: &FaultContext<'_>) -> FaultAction {
        let targets = self
            .targets(cx)
            .into_iter()
            .map(|t| {
                let (mode, agent) = (t.mode, t.agent.clone());
                FileDamage {
                    host: t.host,
                    path: file_name(&t.agent),
                    label: mode.as_str(),
                    damage: Rc::new(move |bytes, rng| damage(mode, bytes, &agent, rng)),
                }
            })
            .collect();
        FaultAction::DamageFiles { targets }
    }
    fn real(&self, cx: &FaultContext<'_>) -> RealEffect {
        RealEffect::Damage {
            targets: self.targets(cx),
        }
    }
}

impl Corrupt {
    /// The files it damages and how, in host order: a `fraction` of a
    /// group drawn from the fault's own stream (`faults`, index), then for
    /// `mixed` each file's mode. Real runs draw the same.
    pub fn targets(&self, cx: &FaultContext<'_>) -> Vec<DamageTarget> {
        let mut rng = cx.streams.stream(names::FAULTS, cx.index as u64);
        let mut hosts = match &self.target {
            CorruptTarget::Hosts(hosts) => hosts.clone(),
            CorruptTarget::Fraction { fraction, of } => {
                let count = (fraction.value() * of.len() as f64).round() as usize;
                let mut pool = of.clone();
                pool.shuffle(&mut rng);
                pool.truncate(count.min(pool.len()));
                pool
            }
        };
        hosts.sort_unstable();
        hosts.dedup();
        hosts
            .into_iter()
            .map(|host| DamageTarget {
                host,
                agent: cx.scenario.hosts[host.index()].name.clone(),
                mode: match self.mode {
                    CorruptMode::One(mode) => mode,
                    CorruptMode::Mixed => {
                        DamageMode::ALL[rng.random_range(0..DamageMode::ALL.len())]
                    }
                },
            })
            .collect()
    }
}

/// `corrupt = <host reference>` or `corrupt = { fraction = 0.05, of = "miner" }`.
fn target(field: &Field<'_>, hosts: &Hosts<'_>) -> scenario::Result<CorruptTarget> {
    if let DeValue::Table(_) = field.value() {
        let table = field.table("`corrupt`", &["fraction", "of"])?;
        return Ok(CorruptTarget::Fraction {
            fraction: table.required("fraction", "0.05")?.probability()?,
            of: hosts.index.resolve(&table.required("of", "\"miner\"")?)?,
        });
    }
    Ok(CorruptTarget::Hosts(hosts.index.resolve(field)?))
}

/// `mode = "truncate"` (a damage mode) or `"mixed"`.
fn mode(field: &Field<'_>) -> scenario::Result<CorruptMode> {
    let mut modes: Vec<(&str, CorruptMode)> = DamageMode::ALL
        .iter()
        .map(|m| (m.as_str(), CorruptMode::One(*m)))
        .collect();
    modes.push(("mixed", CorruptMode::Mixed));
    field.choice("corruption mode", &modes)
}

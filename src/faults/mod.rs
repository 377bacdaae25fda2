//! The fault kinds, and the one table that lists them.
//!
//! Each kind is one type implementing [`FaultKind`] (its scenario keys and
//! how it reads them) and [`FaultEffects`] (what the simulator does at its
//! start and heal, when liveness is owed again after it, and how real
//! processes reproduce it). Generic kinds live in this folder; a kind that
//! belongs to one protocol lives in that protocol's module (`corrupt` in
//! registration, `byzantine` in consensus).
//!
//! [`fault_table!`] turns the list below into the [`Fault`] enum and its
//! dispatch: adding a kind is a module and a line here. The simulator
//! maps each fault to an engine [`FaultAction`]; real runs map it to a
//! [`RealEffect`], a closed vocabulary that `sim launch`, `sim export
//! shadow` and `sim node` each match exhaustively, so no kind can be
//! silently dropped by one of them.

pub mod clock_skew;
pub mod crash;
pub mod draw;
pub mod duplicate;
pub mod link;
pub mod partition;
pub mod path;
pub mod reorder;
pub mod storage_outage;

use std::fmt;

use node_logic::HostId;
use sim_core::engine::{ClockSkew, FaultAction};
use sim_core::faults::NetworkRule;
use sim_core::rng::{RngStreams, StreamRng, names};
use sim_core::scenario::timeline::CrashWindow;
use sim_core::scenario::{self, ErrorKind, FaultEntry, FaultKeys, Hosts};
use sim_core::units::SimTime;

use crate::model::Scenario;
use crate::protocols::Protocols;
use crate::protocols::consensus::byzantine::Byzantine;
use crate::protocols::registration::corrupt::{Corrupt, DamageTarget};
use draw::{DrawSpace, EntryWriter};

/// A fault kind: its keys and how a `[[faults]]` entry of it is read.
pub trait FaultKind: FaultEffects + Clone + fmt::Debug + PartialEq + Sized {
    /// Its kind key and options.
    const KEYS: FaultKeys;
    /// An example `[[faults]]` entry of this kind (without the header),
    /// naming hosts of the groups `miner` (4 miners, registering with the
    /// 4 validators) and `validator` (4 validators in `[consensus]`): the
    /// tests parse every kind's sample and walk what it does.
    const SAMPLE: &'static str;
    /// Reads an entry whose kind key is `KEYS.key`.
    fn parse(
        entry: &FaultEntry<'_>,
        hosts: &Hosts<'_>,
        protocols: &Protocols,
    ) -> scenario::Result<Self>;
    /// Draws a fault of this kind for `sim explore`, starting at
    /// `space.at`: hosts from `space.pool`, an end (if the kind has one) at
    /// `space.end`, settings within `space.bounds`, respecting what
    /// `space.taken` holds. `None` when the scenario has nothing it could
    /// touch. Draws from `rng` only.
    fn draw(space: &DrawSpace<'_>, rng: &mut StreamRng) -> Option<Self>;
    /// Writes its kind key and options (not `at`): [`FaultKind::parse`]
    /// of the written entry gives this fault back.
    fn write(&self, entry: &mut EntryWriter<'_>);
    /// Simpler faults of this kind starting at `at`, for `sim shrink`,
    /// most promising first: fewer hosts, milder settings, an earlier end
    /// (never a later one, and never none for a fault that ends).
    fn simpler(&self, at: SimTime) -> Vec<Self>;
}

/// What a fault of a kind does, in the simulator and in real runs.
pub trait FaultEffects {
    /// The hosts it touches (for reports).
    fn hosts(&self, cx: &FaultContext<'_>) -> Vec<HostId>;
    /// When the simulator undoes it, if ever.
    fn heal(&self) -> Option<SimTime>;
    /// When its effect is over for liveness (a crash without restart
    /// counts at its start, `at`); `None` if it never ends (then liveness
    /// is never owed again).
    fn over(&self, at: SimTime) -> Option<SimTime>;
    /// What the simulator does when it starts (and undoes at its heal).
    fn action(&self, cx: &FaultContext<'_>) -> FaultAction;
    /// How real processes reproduce it.
    fn real(&self, cx: &FaultContext<'_>) -> RealEffect;
    /// Windows in which one host may not be under another fault of this
    /// kind (crashes), checked across the whole timeline.
    fn exclusive_windows(&self, _entry: &FaultEntry<'_>) -> Vec<CrashWindow> {
        Vec::new()
    }
}

/// What a fault needs to know of its run.
pub struct FaultContext<'a> {
    /// The scenario.
    pub scenario: &'a Scenario,
    /// Its index in the scenario's fault list (names its streams).
    pub index: usize,
    /// When it starts.
    pub at: SimTime,
    /// The run's RNG streams.
    pub streams: &'a RngStreams,
    /// The real process asking ([`FaultContext::for_host`]), or `None` for
    /// the simulator (one rule for the whole network).
    pub host: Option<HostId>,
}

impl FaultContext<'_> {
    /// The stream a network rule draws its per-message choices from: the
    /// simulator's `fault-rule` stream (index = fault index), or, for a
    /// real process applying the rule to its own traffic, `real-fault-rule`
    /// with index `fault << 32 | host`, so each process draws on its own
    /// and the simulator's draws stay put.
    pub fn rule_rng(&self) -> StreamRng {
        let index = self.index as u64;
        match self.host {
            None => self.streams.stream(names::FAULT_RULE, index),
            Some(host) => self
                .streams
                .stream(names::REAL_FAULT_RULE, (index << 32) | u64::from(host.0)),
        }
    }

    /// The same fault, as the real process of `host` applies it.
    pub fn for_host(&self, host: HostId) -> Self {
        FaultContext {
            host: Some(host),
            ..*self
        }
    }
}

/// How real processes reproduce a fault: the vocabulary every real-run
/// driver (`sim launch`, `sim export shadow`, `sim node`) understands.
#[derive(Debug)]
pub enum RealEffect {
    /// The hosts' processes are killed at the fault's time and started
    /// again (as restarted) at `restart`.
    Crash {
        /// The hosts.
        hosts: Vec<HostId>,
        /// When they come back, if ever.
        restart: Option<SimTime>,
    },
    /// Files in the shared directory are damaged at the fault's time, as
    /// the simulator damages them (same targets, same streams).
    Damage {
        /// The files, in the simulator's target order.
        targets: Vec<DamageTarget>,
    },
    /// The hosts' nodes misbehave until `until` (the node applies it).
    Misbehave {
        /// The hosts.
        hosts: Vec<HostId>,
        /// When they behave again, if ever.
        until: Option<SimTime>,
    },
    /// The hosts' clocks run off from the fault's time (the node applies it).
    ClockSkew {
        /// The hosts.
        hosts: Vec<HostId>,
        /// The skew.
        skew: ClockSkew,
    },
    /// A network rule every process of `hosts` applies to its own
    /// datagrams from the fault's time until `until` (the simulator's own
    /// rule: drops at send, cuts at arrival, extra delay and loss, copies),
    /// with per-message draws from the process's own stream
    /// ([`FaultContext::rule_rng`]).
    Network {
        /// The hosts whose traffic it can touch.
        hosts: Vec<HostId>,
        /// When it ends, if ever.
        until: Option<SimTime>,
        /// The rule, built for the process the context names.
        rule: Box<dyn NetworkRule>,
    },
    /// The hosts' file operations hang from the fault's time until
    /// `until` (the node applies it: it holds each operation, and its
    /// change notifications, and carries them out at the end).
    StorageOutage {
        /// The hosts.
        hosts: Vec<HostId>,
        /// When they reach the shared directory again, if ever.
        until: Option<SimTime>,
    },
    /// Not reproduced by real processes; the reason is printed and counted.
    Skipped(&'static str),
}

/// Declares the fault table: the [`Fault`] enum (one variant per kind)
/// and its dispatch to each kind's [`FaultKind`] and [`FaultEffects`].
macro_rules! fault_table {
    ($($(#[$doc:meta])* $variant:ident($kind:ty),)*) => {
        /// One `[[faults]]` entry's kind and settings.
        #[derive(Clone, Debug, PartialEq)]
        pub enum Fault {
            $($(#[$doc])* $variant($kind),)*
        }

        /// Every fault kind's keys, in table order.
        pub fn kinds() -> Vec<FaultKeys> {
            vec![$(<$kind as FaultKind>::KEYS,)*]
        }

        /// Every fault kind's sample entry, in table order.
        pub fn samples() -> Vec<&'static str> {
            vec![$(<$kind as FaultKind>::SAMPLE,)*]
        }

        impl Fault {
            /// Reads `entry` as the kind its key names.
            pub fn parse(
                entry: &FaultEntry<'_>,
                hosts: &Hosts<'_>,
                protocols: &Protocols,
            ) -> scenario::Result<Self> {
                $(if entry.kind == <$kind as FaultKind>::KEYS.key {
                    return <$kind as FaultKind>::parse(entry, hosts, protocols).map(Fault::$variant);
                })*
                Err(entry.table.error(ErrorKind::UnknownKey, format!("unknown fault kind `{}`", entry.kind)))
            }
            /// The kind's name in reports (`partition`, `clock-skew`, ...).
            pub fn name(&self) -> &'static str {
                match self {
                    $(Fault::$variant(_) => <$kind as FaultKind>::KEYS.name,)*
                }
            }
            /// What the fault does.
            pub fn effects(&self) -> &dyn FaultEffects {
                match self {
                    $(Fault::$variant(f) => f,)*
                }
            }
            /// The kind key (`partition`, `clock_skew`, ...).
            pub fn key(&self) -> &'static str {
                match self {
                    $(Fault::$variant(_) => <$kind as FaultKind>::KEYS.key,)*
                }
            }
            /// Draws a fault of the kind whose key is `key` (see
            /// [`FaultKind::draw`]); `None` for an unknown key too.
            pub fn draw(key: &str, space: &DrawSpace<'_>, rng: &mut StreamRng) -> Option<Self> {
                $(if key == <$kind as FaultKind>::KEYS.key {
                    return <$kind as FaultKind>::draw(space, rng).map(Fault::$variant);
                })*
                None
            }
            /// Writes the entry's kind key and options (see [`FaultKind::write`]).
            pub fn write(&self, entry: &mut EntryWriter<'_>) {
                match self {
                    $(Fault::$variant(f) => f.write(entry),)*
                }
            }
            /// Simpler faults of the same kind (see [`FaultKind::simpler`]).
            pub fn simpler(&self, at: SimTime) -> Vec<Self> {
                match self {
                    $(Fault::$variant(f) => f.simpler(at).into_iter().map(Fault::$variant).collect(),)*
                }
            }
        }
    };
}

fault_table! {
    /// Messages between sides are dropped until it heals.
    Partition(partition::Partition),
    /// Hosts lose their memory state and stop, until they restart.
    Crash(crash::Crash),
    /// Paths between two sets of hosts get extra latency and loss.
    Link(link::Link),
    /// Miners' registration files are damaged.
    Corrupt(Corrupt),
    /// Validators equivocate.
    Byzantine(Byzantine),
    /// Hosts' clocks run off.
    ClockSkew(clock_skew::ClockSkewFault),
    /// Messages on some paths arrive more than once.
    Duplicate(duplicate::Duplicate),
    /// Messages on some paths arrive out of order.
    Reorder(reorder::Reorder),
    /// Hosts cannot reach the shared directory.
    StorageOutage(storage_outage::StorageOutage),
}

/// Checks across the whole timeline: a host under one crash is not
/// crashed again before it restarts.
pub fn check_timeline(
    faults: &[(Fault, FaultEntry<'_>)],
    hosts: &Hosts<'_>,
) -> scenario::Result<()> {
    let Some((_, first)) = faults.first() else {
        return Ok(());
    };
    let windows = faults
        .iter()
        .flat_map(|(fault, entry)| fault.effects().exclusive_windows(entry))
        .collect();
    scenario::timeline::check_crash_overlaps(first.table.sources(), hosts.index, windows)
}

/// Each fault of `scenario` with its context, in order.
pub fn each<'a>(
    scenario: &'a Scenario,
    streams: &'a RngStreams,
) -> impl Iterator<Item = (&'a Fault, FaultContext<'a>)> + 'a {
    scenario.faults.iter().enumerate().map(move |(index, f)| {
        let cx = FaultContext {
            scenario,
            index,
            at: f.at,
            streams,
            host: None,
        };
        (&f.kind, cx)
    })
}

/// A fault real processes do not reproduce, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SkippedFault {
    /// Its index in the scenario.
    pub index: usize,
    /// Its kind's name.
    pub kind: &'static str,
    /// Its line in the scenario file.
    pub line: u32,
    /// When it starts.
    pub at: SimTime,
    /// Why real runs leave it out.
    pub why: &'static str,
}

/// Every fault of `scenario` that real processes (`sim launch`, a Shadow
/// export) leave out ([`RealEffect::Skipped`]), in order.
pub fn skipped_in_real_runs(scenario: &Scenario) -> Vec<SkippedFault> {
    let streams = RngStreams::new(scenario.seed);
    let mut skipped = Vec::new();
    for (fault, cx) in each(scenario, &streams) {
        let why = match fault.effects().real(&cx) {
            RealEffect::Skipped(why) => why,
            RealEffect::Crash { .. }
            | RealEffect::Damage { .. }
            | RealEffect::Misbehave { .. }
            | RealEffect::ClockSkew { .. }
            | RealEffect::Network { .. }
            | RealEffect::StorageOutage { .. } => continue,
        };
        skipped.push(SkippedFault {
            index: cx.index,
            kind: fault.name(),
            line: scenario.faults[cx.index].location.line,
            at: cx.at,
            why,
        });
    }
    skipped
}

/// Each fault's window on the timeline, for plots: `(start, end, label)`,
/// in scenario order. A fault that heals ends at its heal; one that never
/// ends (a partition without `until`) at `end`; one that acts at an
/// instant (a corrupt, a clock skew, a crash without restart) has `end ==
/// start`.
pub fn windows(scenario: &Scenario, end: SimTime) -> Vec<(SimTime, SimTime, String)> {
    scenario
        .faults
        .iter()
        .enumerate()
        .map(|(index, fault)| {
            let effects = fault.kind.effects();
            let until = match (effects.heal(), effects.over(fault.at)) {
                (Some(heal), _) => heal,
                (None, Some(over)) => over,
                (None, None) => end,
            };
            let label = format!("{} #{index}", fault.kind.name());
            (fault.at, until.max(fault.at), label)
        })
        .collect()
}

/// When liveness starts to be owed: when the last fault is over (see
/// [`FaultEffects::over`]); `None` if some fault never ends. Without
/// faults, from the start of the run.
pub fn liveness_start(scenario: &Scenario) -> Option<SimTime> {
    scenario
        .faults
        .iter()
        .try_fold(SimTime::ZERO, |last, fault| {
            Some(last.max(fault.kind.effects().over(fault.at)?))
        })
}

#[cfg(test)]
mod tests;

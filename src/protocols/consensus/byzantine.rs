//! The `byzantine` fault kind: validators equivocate from `at` until
//! `until` (as leaders they send two different proposals for one height,
//! as voters they vote for every block they see). The engine tells the
//! hosts (`Input::Misbehave`), again after a restart while it lasts; real
//! nodes apply it to themselves. Validators it touches are not held to
//! agreement.

use node_logic::HostId;
use sim_core::engine::FaultAction;
use sim_core::rng::StreamRng;
use sim_core::scenario::{self, ErrorKind, FaultEntry, FaultKeys, Hosts};
use sim_core::units::SimTime;

use super::ValidatorSource;
use crate::faults::draw::{self, DrawSpace, EntryWriter};
use crate::faults::{FaultContext, FaultEffects, FaultKind, RealEffect};
use crate::protocols::Protocols;

/// A byzantine fault.
#[derive(Clone, Debug, PartialEq)]
pub struct Byzantine {
    /// The misbehaving hosts.
    pub hosts: Vec<HostId>,
    /// When they behave again; `None` = never.
    pub until: Option<SimTime>,
}

impl FaultKind for Byzantine {
    const KEYS: FaultKeys = FaultKeys {
        key: "byzantine",
        name: "byzantine",
        options: &["until"],
        ends_with: Some("until"),
    };
    const SAMPLE: &'static str = r#"at = "10 s"
byzantine = "validator-3"
until = "40 s""#;

    fn parse(
        entry: &FaultEntry<'_>,
        hosts: &Hosts<'_>,
        protocols: &Protocols,
    ) -> scenario::Result<Self> {
        let faulty = hosts.index.resolve(&entry.field)?;
        let Some(consensus) = &protocols.consensus else {
            return Err(entry
                .field
                .key_error(
                    ErrorKind::Conflict,
                    "a byzantine fault makes validators equivocate, but the scenario has no [consensus]",
                )
                .with_help("add a [consensus] table, or remove this fault"));
        };
        let candidates = candidates(&consensus.validators, protocols);
        if let Some(host) = faulty.iter().find(|h| !candidates.contains(h)) {
            return Err(entry
                .field
                .invalid(format!(
                    "host `{}` is not a validator, so it has nothing to equivocate about",
                    hosts.index.name(*host)
                ))
                .with_help("name validators only (see [consensus] validators)"));
        }
        Ok(Byzantine {
            hosts: faulty,
            until: entry.end("until", hosts)?,
        })
    }

    /// Makes validators of the pool equivocate until the window's end:
    /// up to `max_hosts`, while the schedule's faulty validators (Byzantine
    /// or crashed) stay at most `faulty_validators` (f unless
    /// `unsafe_faulty_validators`).
    fn draw(space: &DrawSpace<'_>, rng: &mut StreamRng) -> Option<Self> {
        let candidates = space.validators();
        let taken = &space.taken.faulty;
        let room = space.faulty_room();
        let fresh = space.pool(|h| candidates.contains(&h) && !taken.contains(&h));
        let again = space.pool(|h| taken.contains(&h) && candidates.contains(&h));
        let most = u32::try_from(room)
            .unwrap_or(u32::MAX)
            .min(space.bounds.max_hosts);
        let hosts = match (most, again.is_empty()) {
            (0, true) => return None,
            (0, false) => draw::pick(rng, &again, 1)?,
            _ => draw::pick(rng, &fresh, most)?,
        };
        Some(Byzantine {
            hosts,
            until: Some(space.end),
        })
    }

    fn write(&self, entry: &mut EntryWriter<'_>) {
        entry.hosts("byzantine", &self.hosts);
        entry.time("until", self.until);
    }

    /// An earlier end, then one host fewer.
    fn simpler(&self, at: SimTime) -> Vec<Self> {
        let mut out = Vec::new();
        if let Some(until) = draw::earlier_end(at, self.until) {
            out.push(Byzantine {
                until: Some(until),
                ..self.clone()
            });
        }
        for hosts in draw::fewer(&self.hosts) {
            out.push(Byzantine {
                hosts,
                ..self.clone()
            });
        }
        out
    }
}

/// The hosts that may validate: the named ones, or with `"registered"`
/// every miner.
pub fn candidates(source: &ValidatorSource, protocols: &Protocols) -> Vec<HostId> {
    match source {
        ValidatorSource::Hosts(v) => v.clone(),
        ValidatorSource::Registered => protocols
            .registration
            .as_ref()
            .map(|r| r.miners.clone())
            .unwrap_or_default(),
    }
}

impl FaultEffects for Byzantine {
    fn hosts(&self, _cx: &FaultContext<'_>) -> Vec<HostId> {
        self.hosts.clone()
    }
    fn heal(&self) -> Option<SimTime> {
        self.until
    }
    fn over(&self, _at: SimTime) -> Option<SimTime> {
        self.until
    }
    fn action(&self, _cx: &FaultContext<'_>) -> FaultAction {
        FaultAction::Misbehave {
            hosts: self.hosts.clone(),
        }
    }
    fn real(&self, _cx: &FaultContext<'_>) -> RealEffect {
        RealEffect::Misbehave {
            hosts: self.hosts.clone(),
            until: self.until,
        }
    }
}

//! The `byzantine` fault kind: validators equivocate from `at` until
//! `until` (as leaders they send two different proposals for one height,
//! as voters they vote for every block they see). The engine tells the
//! hosts (`Input::Misbehave`), again after a restart while it lasts; real
//! nodes apply it to themselves. Validators it touches are not held to
//! agreement.

use node_logic::HostId;
use sim_core::engine::FaultAction;
use sim_core::scenario::{self, ErrorKind, FaultEntry, FaultKeys, Hosts};
use sim_core::units::SimTime;

use super::ValidatorSource;
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
        let candidates: Vec<HostId> = match &consensus.validators {
            ValidatorSource::Hosts(v) => v.clone(),
            ValidatorSource::Registered => protocols
                .registration
                .as_ref()
                .map(|r| r.miners.clone())
                .unwrap_or_default(),
        };
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

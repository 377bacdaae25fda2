//! `storage_outage`: hosts cannot reach the shared directory from `at`
//! until `until` (the whole run without it), as when a network file
//! system's server is gone and a hard mount blocks. Their file operations
//! **hang** rather than fail: an operation started during the outage
//! waits and goes ahead at its end as if started then (taking its usual
//! time), and change notifications due to a watcher wait with it;
//! operations started before the outage complete as usual. Everything
//! else goes on: timers fire (a registrar's timeout still runs out), the
//! network works. A crash during the outage drops what the host was
//! waiting for. Only hosts that use the shared directory (miners and
//! registrars) can be cut off from it.

use node_logic::HostId;
use sim_core::engine::FaultAction;
use sim_core::rng::StreamRng;
use sim_core::scenario::{self, ErrorKind, FaultEntry, FaultKeys, Hosts};
use sim_core::units::SimTime;

use super::draw::{self, DrawSpace, EntryWriter};
use super::{FaultContext, FaultEffects, FaultKind, RealEffect};
use crate::protocols::Protocols;

/// A storage-outage fault.
#[derive(Clone, Debug, PartialEq)]
pub struct StorageOutage {
    /// The hosts cut off from the shared directory.
    pub hosts: Vec<HostId>,
    /// When they reach it again; `None` = never.
    pub until: Option<SimTime>,
}

impl FaultKind for StorageOutage {
    const KEYS: FaultKeys = FaultKeys {
        key: "storage_outage",
        name: "storage-outage",
        options: &["until"],
        ends_with: Some("until"),
    };
    const SAMPLE: &'static str = r#"at = "10 s"
storage_outage = "miner-2"
until = "20 s""#;

    fn parse(
        entry: &FaultEntry<'_>,
        hosts: &Hosts<'_>,
        protocols: &Protocols,
    ) -> scenario::Result<Self> {
        let targets = hosts.index.resolve(&entry.field)?;
        let users: Vec<HostId> = match &protocols.registration {
            Some(r) => r.miners.iter().chain(&r.registrars).copied().collect(),
            None => {
                return Err(entry
                    .field
                    .key_error(
                        ErrorKind::Conflict,
                        "a storage outage cuts hosts off the shared directory, but nothing in this scenario uses it (no registration)",
                    )
                    .with_help("add miners and a registrar, or remove this fault"));
            }
        };
        if let Some(host) = targets.iter().find(|h| !users.contains(h)) {
            return Err(entry
                .field
                .invalid(format!(
                    "host `{}` never uses the shared directory (it is neither a miner nor a registrar), so an outage of it changes nothing",
                    hosts.index.name(*host)
                ))
                .with_help("name miners and registrars only (see [registration])"));
        }
        Ok(StorageOutage {
            hosts: targets,
            until: entry.end("until", hosts)?,
        })
    }

    /// Cuts up to `max_hosts` miners and registrars of the pool off the
    /// shared directory until the window's end; `None` without
    /// registration.
    fn draw(space: &DrawSpace<'_>, rng: &mut StreamRng) -> Option<Self> {
        let registration = space.scenario.protocols.registration.as_ref()?;
        let users: Vec<HostId> = registration
            .miners
            .iter()
            .chain(&registration.registrars)
            .copied()
            .collect();
        let pool = space.pool(|h| users.contains(&h));
        Some(StorageOutage {
            hosts: draw::pick(rng, &pool, space.bounds.max_hosts)?,
            until: Some(space.end),
        })
    }

    fn write(&self, entry: &mut EntryWriter<'_>) {
        entry.hosts("storage_outage", &self.hosts);
        entry.time("until", self.until);
    }

    /// An earlier end, then one host fewer.
    fn simpler(&self, at: SimTime) -> Vec<Self> {
        let mut out = Vec::new();
        if let Some(until) = draw::earlier_end(at, self.until) {
            out.push(StorageOutage {
                until: Some(until),
                ..self.clone()
            });
        }
        for hosts in draw::fewer(&self.hosts) {
            out.push(StorageOutage {
                hosts,
                ..self.clone()
            });
        }
        out
    }
}

impl FaultEffects for StorageOutage {
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
        FaultAction::StorageOutage {
            hosts: self.hosts.clone(),
        }
    }
    fn real(&self, _cx: &FaultContext<'_>) -> RealEffect {
        RealEffect::StorageOutage {
            hosts: self.hosts.clone(),
            until: self.until,
        }
    }
}

//! `crash`: hosts lose their memory state (files kept) and stop; with
//! `restart`, they boot again then, built anew.

use node_logic::HostId;
use sim_core::engine::FaultAction;
use sim_core::rng::StreamRng;
use sim_core::scenario::timeline::CrashWindow;
use sim_core::scenario::{self, FaultEntry, FaultKeys, HostGroup, HostSpec, Hosts, StartSpec};
use sim_core::units::{SimDuration, SimTime};

use super::draw::{self, DrawSpace, EntryWriter};
use super::{FaultContext, FaultEffects, FaultKind, RealEffect};
use crate::protocols::Protocols;

/// A crash fault.
#[derive(Clone, Debug, PartialEq)]
pub struct Crash {
    /// The hosts that crash.
    pub hosts: Vec<HostId>,
    /// When they start again, built anew; `None` = stay down.
    pub restart: Option<SimTime>,
}

impl FaultKind for Crash {
    const KEYS: FaultKeys = FaultKeys {
        key: "crash",
        name: "crash",
        options: &["restart"],
        ends_with: Some("restart"),
    };
    const SAMPLE: &'static str = r#"at = "10 s"
crash = "validator-2"
restart = "30 s""#;

    fn parse(entry: &FaultEntry<'_>, hosts: &Hosts<'_>, _: &Protocols) -> scenario::Result<Self> {
        let crash = Crash {
            hosts: hosts.index.resolve(&entry.field)?,
            restart: entry.end("restart", hosts)?,
        };
        // A host that starts only once it is restarted is never touched.
        if let Some(restart) = crash.restart
            && let Some(host) = crash
                .hosts
                .iter()
                .find(|h| earliest_start(hosts.groups, hosts.hosts, **h) >= restart.since_start())
        {
            let start = earliest_start(hosts.groups, hosts.hosts, *host);
            return Err(entry
                .field
                .invalid(format!(
                    "host `{}` starts at {start} at the earliest, not before this crash's restart at {}: the crash would change nothing for it",
                    hosts.index.name(*host),
                    restart.since_start()
                ))
                .with_help("crash it after it has started, or restart it later"));
        }
        Ok(crash)
    }

    /// Crashes up to `max_hosts` hosts not already down then (and started
    /// by the window's end at the earliest); they restart at the window's
    /// end. A validator that crashes loses its
    /// chain: it counts as faulty, so validators not yet faulty are taken
    /// only while `faulty_validators` leaves room.
    fn draw(space: &DrawSpace<'_>, rng: &mut StreamRng) -> Option<Self> {
        let validators = space.validators();
        let faulty = &space.taken.faulty;
        let fresh = |h: &HostId| validators.contains(h) && !faulty.contains(h);
        let room = space.faulty_room();
        let (groups, hosts) = (&space.scenario.groups, &space.scenario.hosts);
        let started = |h| earliest_start(groups, hosts, h) < space.end.since_start();
        let pool = space.pool(|h| {
            space.taken.may_crash(h, space.at, space.end) && started(h) && (room > 0 || !fresh(&h))
        });
        let mut hosts = draw::pick(rng, &pool, space.bounds.max_hosts)?;
        let mut new = 0;
        hosts.retain(|h| {
            new += usize::from(fresh(h));
            !fresh(h) || new <= room
        });
        Some(Crash {
            hosts,
            restart: Some(space.end),
        })
    }

    fn write(&self, entry: &mut EntryWriter<'_>) {
        entry.hosts("crash", &self.hosts);
        entry.time("restart", self.restart);
    }

    /// An earlier restart, then one host fewer.
    fn simpler(&self, at: SimTime) -> Vec<Self> {
        let mut out = Vec::new();
        if let Some(restart) = draw::earlier_end(at, self.restart) {
            out.push(Crash {
                restart: Some(restart),
                ..self.clone()
            });
        }
        for hosts in draw::fewer(&self.hosts) {
            out.push(Crash {
                hosts,
                ..self.clone()
            });
        }
        out
    }
}

/// The earliest time `host` can start (its group's `start`, or the low end
/// of its `uniform` range).
fn earliest_start(groups: &[HostGroup], hosts: &[HostSpec], host: HostId) -> SimDuration {
    let group = &groups[hosts[host.index()].group];
    match group.start {
        StartSpec::At(t) | StartSpec::Uniform(t, _) => t,
    }
}

impl FaultEffects for Crash {
    fn hosts(&self, _cx: &FaultContext<'_>) -> Vec<HostId> {
        self.hosts.clone()
    }
    fn heal(&self) -> Option<SimTime> {
        self.restart
    }
    fn over(&self, at: SimTime) -> Option<SimTime> {
        Some(self.restart.unwrap_or(at))
    }
    fn action(&self, _cx: &FaultContext<'_>) -> FaultAction {
        FaultAction::Crash {
            hosts: self.hosts.clone(),
        }
    }
    fn real(&self, _cx: &FaultContext<'_>) -> RealEffect {
        RealEffect::Crash {
            hosts: self.hosts.clone(),
            restart: self.restart,
        }
    }
    fn exclusive_windows(&self, entry: &FaultEntry<'_>) -> Vec<CrashWindow> {
        self.hosts
            .iter()
            .map(|&host| CrashWindow {
                host,
                start: entry.at,
                end: self.restart.unwrap_or(SimTime::NEVER),
                path: entry.field.path().to_string(),
                span: entry.field.key_span(),
            })
            .collect()
    }
}

//! `crash`: hosts lose their memory state (files kept) and stop; with
//! `restart`, they boot again then, built anew.

use node_logic::HostId;
use sim_core::engine::FaultAction;
use sim_core::scenario::timeline::CrashWindow;
use sim_core::scenario::{self, FaultEntry, FaultKeys, Hosts, StartSpec};
use sim_core::units::{SimDuration, SimTime};

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
                .find(|h| earliest_start(hosts, **h) >= restart.since_start())
        {
            let start = earliest_start(hosts, *host);
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
}

/// The earliest time `host` can start (its group's `start`, or the low end
/// of its `uniform` range).
fn earliest_start(hosts: &Hosts<'_>, host: HostId) -> SimDuration {
    let group = &hosts.groups[hosts.hosts[host.index()].group];
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

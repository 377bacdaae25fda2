//! `crash`: hosts lose their memory state (files kept) and stop; with
//! `restart`, they boot again then, built anew.

use node_logic::HostId;
use sim_core::engine::FaultAction;
use sim_core::scenario::timeline::CrashWindow;
use sim_core::scenario::{self, FaultEntry, FaultKeys, Hosts};
use sim_core::units::SimTime;

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
        Ok(Crash {
            hosts: hosts.index.resolve(&entry.field)?,
            restart: entry.end("restart", hosts)?,
        })
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

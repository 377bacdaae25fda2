//! The peer registry's driver side: the `[peers]` table, each member's
//! configuration, and its report (`report`: `peers.csv` and the `peers.*`
//! metrics; `plots`: live peers and flaps over time).

pub mod plots;
pub mod report;

use std::collections::BTreeSet;

use node_logic::protocols::peers::PeerConfig;
use node_logic::{HostConfig, HostId, HostNode};
use reports::summary::Summary;
use reports::{ReportError, ResultDir};
use sim_core::checkers::Checker;
use sim_core::engine::Simulation;
use sim_core::rng::RngStreams;
use sim_core::scenario::{self, DeValue, ErrorKind, HostSpec, Hosts, Role, Section, Table};
use sim_core::units::SimDuration;

use super::{Plans, PlotContext, Protocol, ProtocolCounters, ProtocolReport, Protocols};
use crate::model::Scenario;
use crate::results::Finished;
use crate::runner::{RunError, RunOptions};
use report::PeersReport;

/// The peer registry (see the module docs).
pub struct Peers;

/// The `[peers]` table.
#[derive(Clone, Debug, PartialEq)]
pub struct PeersSpec {
    /// Hosts that run the peer registry (default: every `peer` and `validator` host).
    pub members: Vec<HostId>,
    /// Ping interval (default 5 s).
    pub heartbeat: SimDuration,
    /// A peer not heard from for this long is dropped (default 30 s).
    pub stale_after: SimDuration,
    /// Bound on observers of join/leave events (default 50).
    pub max_observers: u32,
}

impl Protocol for Peers {
    type Spec = PeersSpec;
    /// The members, sorted.
    type Plan = Vec<HostId>;
    const SECTION: Section = Section {
        name: "peers",
        keys: &["members", "heartbeat", "stale_after", "max_observers"],
    };
    const METRICS: &'static [&'static str] = &[
        "peers.converged_s",
        "peers.converged_reached",
        "peers.members",
        "peers.reconverged_s",
        "peers.reconverged_reached",
        "peers.flaps",
    ];

    fn parse(
        t: &Table<'_>,
        hosts: &Hosts<'_>,
        _: &Protocols,
    ) -> scenario::Result<Option<PeersSpec>> {
        let members = match t.get("members") {
            // An explicit empty list turns the peer registry off.
            Some(f) if matches!(f.value(), DeValue::Array(a) if a.is_empty()) => Vec::new(),
            Some(f) => hosts.index.resolve(&f)?,
            None => hosts.with_roles(&[Role::Peer, Role::Validator]),
        };
        if members.is_empty() && t.is_present() && t.get("members").is_none() {
            return Err(t
                .error(
                    ErrorKind::Conflict,
                    "[peers] is set, but no host is a member: no host has role \"peer\" or \"validator\", so the peer registry would not run",
                )
                .with_help(
                    "name the members (`members = [\"miner\"]`), add hosts with role \"peer\", \
                     or remove [peers] (`members = []` turns the registry off explicitly)",
                ));
        }
        let heartbeat = t.positive_duration_or("heartbeat", SimDuration::from_secs(5))?;
        let stale_after = t.positive_duration_or("stale_after", SimDuration::from_secs(30))?;
        if stale_after <= heartbeat {
            let message = format!(
                "`stale_after` ({stale_after}) must be longer than `heartbeat` ({heartbeat})"
            );
            let err = match t.get("stale_after").or_else(|| t.get("heartbeat")) {
                Some(f) => f.invalid(message),
                None => t.error(ErrorKind::InvalidValue, message),
            };
            return Err(err.with_help(
                "a peer is dropped after `stale_after` without a heartbeat: make it several heartbeats",
            ));
        }
        let max_observers = t.u32_or("max_observers", 50, 0, u32::MAX)?;
        Ok((!members.is_empty()).then_some(PeersSpec {
            members,
            heartbeat,
            stale_after,
            max_observers,
        }))
    }

    fn input_files(_: &PeersSpec) -> Vec<(&'static str, std::path::PathBuf)> {
        Vec::new()
    }
    fn check_files(_: &PeersSpec, _: &Table<'_>) -> scenario::Result<()> {
        Ok(())
    }

    fn plan(
        spec: &PeersSpec,
        _: &Scenario,
        _: &RunOptions,
        _: &Plans,
    ) -> Result<Vec<HostId>, RunError> {
        let mut members = spec.members.clone();
        members.sort_unstable();
        members.dedup();
        Ok(members)
    }

    /// Every member greets every other member at start (its bootstrap list
    /// is the whole membership).
    fn configure(
        spec: &PeersSpec,
        members: &Vec<HostId>,
        _: &Plans,
        host: &HostSpec,
        config: HostConfig,
        _: &RngStreams,
    ) -> HostConfig {
        if members.binary_search(&host.id).is_err() {
            return config;
        }
        config.with_peers(PeerConfig {
            max_observers: spec.max_observers as usize,
            ..PeerConfig::new(
                host.id,
                members.clone(),
                members.clone(),
                spec.heartbeat,
                spec.stale_after,
            )
        })
    }

    fn shared_files(_: &PeersSpec, _: &Vec<HostId>) -> Vec<(String, Vec<u8>)> {
        Vec::new()
    }

    fn checkers(_: &PeersSpec, _: &Vec<HostId>, _: &Scenario) -> Vec<Box<dyn Checker>> {
        Vec::new()
    }

    fn prepare(_: &PeersSpec, _: &Vec<HostId>, _: &Scenario, _: &mut Simulation<HostNode>) {}

    fn node_counters(_: &HostNode, _: &mut ProtocolCounters) {}

    fn report<'a>(
        _: &'a PeersSpec,
        members: &'a Vec<HostId>,
        run: &Finished<'a>,
    ) -> Box<dyn ProtocolReport + 'a> {
        let from = crate::faults::liveness_start(run.scenario);
        Box::new(PeersOutcome(PeersReport::new(members, run.log, from)))
    }

    fn digest(summary: &Summary) -> Option<String> {
        report::digest(summary)
    }

    /// Every member keeps an entry for every other member and records
    /// their joins and leaves: 600 bytes per pair of members and 4 KiB
    /// per member (measured: 200 and 400 peers take 26 and 86 MiB).
    fn memory(spec: &PeersSpec, _: &Scenario) -> u64 {
        let n = spec.members.iter().collect::<BTreeSet<_>>().len() as u64;
        n.saturating_mul(n)
            .saturating_mul(600)
            .saturating_add(n.saturating_mul(4 << 10))
    }
}

/// The peer registry's report, when it has two members or more.
struct PeersOutcome(Option<PeersReport>);

impl ProtocolReport for PeersOutcome {
    fn add_metrics(&self, summary: &mut Summary) {
        if let Some(report) = &self.0 {
            report.add_metrics(summary);
        }
    }
    fn write_tables(&self, dir: &ResultDir, scenario: &Scenario) -> Result<(), ReportError> {
        match &self.0 {
            Some(report) => report.write(&dir.file("peers.csv"), scenario),
            None => Ok(()),
        }
    }
    fn write_plots(&self, dir: &ResultDir, plot: &PlotContext<'_>) -> Result<(), ReportError> {
        let Some(report) = &self.0 else {
            return Ok(());
        };
        let live = plots::live_peers(report, plot);
        reports::plots::write_svg(dir, "peers_live.svg", live)?;
        reports::plots::write_svg(dir, "peers_flaps.svg", plots::flaps(report, plot))
    }
}

//! The CSV tables of a run, long format with a header row and units in the
//! column names: `network.csv`, `faults.csv`, `lifecycle.csv`,
//! `observations.csv`.

use std::path::Path;

use node_logic::HostId;
use node_logic::consensus::ConsensusEvent;
use node_logic::io::Observation;
use node_logic::registration::RegistrationEvent;
use sim_core::record::RunLog;
use sim_core::scenario::Scenario;

use crate::{ReportError, seconds};

fn writer(path: &Path) -> Result<csv::Writer<std::fs::File>, ReportError> {
    csv::Writer::from_path(path).map_err(|source| ReportError::Csv {
        path: path.to_path_buf(),
        source,
    })
}

pub(crate) fn rows<I, R>(path: &Path, header: &[&str], records: I) -> Result<(), ReportError>
where
    I: IntoIterator<Item = R>,
    R: IntoIterator,
    R::Item: AsRef<[u8]>,
{
    let csv_err = |source| ReportError::Csv {
        path: path.to_path_buf(),
        source,
    };
    let mut w = writer(path)?;
    w.write_record(header).map_err(csv_err)?;
    for record in records {
        w.write_record(record).map_err(csv_err)?;
    }
    w.flush().map_err(|source| ReportError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// `network.csv`: one row per host with its traffic.
pub fn write_network(path: &Path, scenario: &Scenario, log: &RunLog) -> Result<(), ReportError> {
    let header = [
        "host",
        "group",
        "role",
        "messages_sent",
        "bytes_sent",
        "messages_received",
        "bytes_received",
        "messages_dropped",
    ];
    let records = scenario.hosts.iter().map(|h| {
        let c = log.net.get(h.id.index()).copied().unwrap_or_default();
        vec![
            h.name.clone(),
            scenario.groups[h.group].name.clone(),
            h.role.as_str().to_string(),
            c.messages_sent.to_string(),
            c.bytes_sent.to_string(),
            c.messages_received.to_string(),
            c.bytes_received.to_string(),
            c.messages_dropped.to_string(),
        ]
    });
    rows(path, &header, records)
}

/// `faults.csv`: one row per fault taking effect or ending.
pub fn write_faults(path: &Path, scenario: &Scenario, log: &RunLog) -> Result<(), ReportError> {
    let header = ["time_s", "fault", "kind", "phase", "hosts"];
    let records = log.faults.iter().map(|f| {
        let hosts: Vec<&str> = f.hosts.iter().map(|h| host_name(scenario, *h)).collect();
        vec![
            seconds(f.time),
            f.index.to_string(),
            f.kind.to_string(),
            f.phase.as_str().to_string(),
            hosts.join(" "),
        ]
    });
    rows(path, &header, records)
}

/// `lifecycle.csv`: one row per host boot, restart or crash.
pub fn write_lifecycle(path: &Path, scenario: &Scenario, log: &RunLog) -> Result<(), ReportError> {
    let header = ["time_s", "host", "event"];
    let records = log.lifecycle.iter().map(|(t, h, what)| {
        vec![
            seconds(*t),
            host_name(scenario, *h).to_string(),
            what.as_str().to_string(),
        ]
    });
    rows(path, &header, records)
}

/// `observations.csv`: one row per protocol observation (peer up/down,
/// rejected message), with the other host involved.
pub fn write_observations(
    path: &Path,
    scenario: &Scenario,
    log: &RunLog,
) -> Result<(), ReportError> {
    let header = ["time_s", "host", "observation", "peer", "detail"];
    let records = log.observations.iter().map(|(t, h, o)| {
        let (kind, peer, detail) = describe(o, |p| host_name(scenario, p).to_string());
        vec![
            seconds(*t),
            host_name(scenario, *h).to_string(),
            kind.to_string(),
            peer,
            detail,
        ]
    });
    rows(path, &header, records)
}

/// A stable `(observation, other party, detail)` for CSV output; `name`
/// turns a host id into its name.
pub fn describe(
    observation: &Observation,
    name: impl Fn(HostId) -> String,
) -> (&'static str, String, String) {
    match observation {
        Observation::PeerUp { peer } => ("peer-up", name(*peer), String::new()),
        Observation::PeerDown { peer } => ("peer-down", name(*peer), String::new()),
        Observation::MessageRejected { from, reason } => {
            ("message-rejected", name(*from), reason.as_str().to_string())
        }
        Observation::PeerBanned { peer } => ("peer-banned", name(*peer), String::new()),
        Observation::PeerUnbanned { peer } => ("peer-unbanned", name(*peer), String::new()),
        Observation::ObserversCleaned { removed } => {
            ("observers-cleaned", String::new(), removed.to_string())
        }
        Observation::Registration(event) => describe_registration(event),
        Observation::Consensus(event) => describe_consensus(event, &name),
        #[allow(unreachable_patterns)]
        _ => ("other", String::new(), String::new()),
    }
}

fn describe_consensus(
    event: &ConsensusEvent,
    name: &impl Fn(HostId) -> String,
) -> (&'static str, String, String) {
    match event {
        ConsensusEvent::Proposed { height, view, hash } => (
            "consensus-proposed",
            String::new(),
            format!("height {height} view {view} {hash:?}"),
        ),
        ConsensusEvent::Finalized {
            height,
            hash,
            view,
            proposer,
            via_sync,
            ..
        } => (
            "consensus-finalized",
            name(*proposer),
            format!(
                "height {height} view {view} {hash:?}{}",
                if *via_sync { " via sync" } else { "" }
            ),
        ),
        ConsensusEvent::ViewChange { from_view, to_view } => (
            "consensus-view-change",
            String::new(),
            format!("{from_view} -> {to_view}"),
        ),
        ConsensusEvent::Equivocation {
            offender,
            view,
            height,
            kind,
        } => (
            "consensus-equivocation",
            name(*offender),
            format!("{} at height {height} view {view}", kind.as_str()),
        ),
        ConsensusEvent::CaughtUp { to_height } => (
            "consensus-caught-up",
            String::new(),
            format!("height {to_height}"),
        ),
        #[allow(unreachable_patterns)]
        _ => ("consensus-other", String::new(), String::new()),
    }
}

fn describe_registration(event: &RegistrationEvent) -> (&'static str, String, String) {
    match event {
        RegistrationEvent::FileWritten { agent, attempt } => (
            "registration-file-written",
            agent.clone(),
            format!("attempt {attempt}"),
        ),
        RegistrationEvent::Accepted {
            agent,
            wallet,
            source,
            ..
        } => (
            "registration-accepted",
            agent.clone(),
            format!("{} {wallet}", source.as_str()),
        ),
        RegistrationEvent::Invalid { agent, error } => (
            "registration-invalid",
            agent.clone(),
            error.as_str().to_string(),
        ),
        RegistrationEvent::Quarantined { agent, to } => {
            ("registration-quarantined", agent.clone(), to.clone())
        }
        RegistrationEvent::RestoredFromBackup { agent } => {
            ("registration-restored", agent.clone(), String::new())
        }
        RegistrationEvent::ReRegistrationRequested { agent } => (
            "registration-reregister-requested",
            agent.clone(),
            String::new(),
        ),
        RegistrationEvent::Progress {
            registered,
            expected,
        } => (
            "registration-progress",
            String::new(),
            format!("{registered}/{expected}"),
        ),
        RegistrationEvent::Ready {
            registered,
            expected,
            timed_out,
            missing,
        } => (
            "registration-ready",
            String::new(),
            format!(
                "{registered}/{expected}{}{}",
                if *timed_out { " timed out" } else { "" },
                if missing.is_empty() {
                    String::new()
                } else {
                    format!(" missing {}", missing.join(" "))
                }
            ),
        ),
        #[allow(unreachable_patterns)]
        _ => ("registration-other", String::new(), String::new()),
    }
}

/// A host's name, or `host#<id>` for an id outside the scenario.
pub fn host_name(scenario: &Scenario, host: node_logic::HostId) -> &str {
    scenario
        .hosts
        .get(host.index())
        .map_or("?", |h| h.name.as_str())
}

//! The CSV tables of a run, long format with a header row and units in the
//! column names: `network.csv`, `faults.csv`, `lifecycle.csv`,
//! `observations.csv`.

use std::path::Path;

use node_logic::HostId;
use node_logic::observe::{Described, Party};
use sim_core::record::RunLog;
use sim_core::scenario::{Model, Scenario};

use crate::{ReportError, seconds};

fn writer(path: &Path) -> Result<csv::Writer<std::fs::File>, ReportError> {
    csv::Writer::from_path(path).map_err(|source| ReportError::Csv {
        path: path.to_path_buf(),
        source,
    })
}

/// Writes a CSV file: `header`, then one row per record.
pub fn rows<I, R>(path: &Path, header: &[&str], records: I) -> Result<(), ReportError>
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
pub fn write_network<M: Model>(
    path: &Path,
    scenario: &Scenario<M>,
    log: &RunLog,
) -> Result<(), ReportError> {
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
pub fn write_faults<M: Model>(
    path: &Path,
    scenario: &Scenario<M>,
    log: &RunLog,
) -> Result<(), ReportError> {
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
pub fn write_lifecycle<M: Model>(
    path: &Path,
    scenario: &Scenario<M>,
    log: &RunLog,
) -> Result<(), ReportError> {
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
pub fn write_observations<M: Model>(
    path: &Path,
    scenario: &Scenario<M>,
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

/// A stable `(observation, other party, detail)` for CSV output, from the
/// observation's own description; `name` turns a host id into its name.
pub fn describe(
    observation: &impl Described,
    name: impl Fn(HostId) -> String,
) -> (&'static str, String, String) {
    let d = observation.describe();
    let party = match d.party {
        Party::None => String::new(),
        Party::Host(host) => name(host),
        Party::Named(text) => text,
    };
    (d.kind, party, d.detail)
}

/// A host's name, or `host#<id>` for an id outside the scenario.
pub fn host_name<M: Model>(scenario: &Scenario<M>, host: node_logic::HostId) -> &str {
    scenario
        .hosts
        .get(host.index())
        .map_or("?", |h| h.name.as_str())
}

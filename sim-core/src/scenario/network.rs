//! `[network]`: the topology (built-in or a GML file), link parameters and
//! host bandwidth.

use super::error::ErrorKind;
use super::model::{NetworkSpec, TopologySpec};
use super::reader::{Field, Result, Table};
use super::schema;
use crate::units::{Bandwidth, Probability, SimDuration};

/// Default per-link latency of built-in topologies.
const DEFAULT_LATENCY: SimDuration = SimDuration::from_millis(50);
/// Default `degree` of a random-regular topology.
const DEFAULT_DEGREE: u32 = 4;

/// The built-in topologies.
#[derive(Clone, Copy)]
enum Builtin {
    Mesh,
    Star,
    Ring,
    RandomRegular,
}

/// The topologies as written; `None`: recognised but not supported yet.
const TOPOLOGIES: &[(&str, Option<Builtin>)] = &[
    ("mesh", Some(Builtin::Mesh)),
    ("star", Some(Builtin::Star)),
    ("ring", Some(Builtin::Ring)),
    ("random-regular", Some(Builtin::RandomRegular)),
    ("regions", None),
];

/// The `[network]` table, or the defaults when it is absent.
pub(crate) fn parse(root: &Table<'_>) -> Result<NetworkSpec> {
    let Some(field) = root.get("network") else {
        return Ok(NetworkSpec {
            topology: TopologySpec::Mesh,
            latency: DEFAULT_LATENCY,
            jitter: SimDuration::ZERO,
            loss: Probability::ZERO,
            bandwidth_up: None,
            bandwidth_down: None,
        });
    };
    let table = field.table("[network]", schema::NETWORK)?;
    let topology_field = table.get("topology");
    let graph_field = table.get("graph");
    if let (Some(topology), Some(graph)) = (&topology_field, &graph_field) {
        let later = if graph.key_span().start > topology.key_span().start {
            graph
        } else {
            topology
        };
        return Err(later
            .key_error(
                ErrorKind::Conflict,
                "`graph` and `topology` cannot both be given",
            )
            .with_note("a GML `graph` replaces the built-in topology")
            .with_help("remove one of them"));
    }
    let builtin = match &topology_field {
        None => Builtin::Mesh,
        Some(f) => match f.choice("topology", TOPOLOGIES)? {
            Some(builtin) => builtin,
            None => {
                return Err(f
                    .invalid(format!("topology `{}` is not supported yet", f.str()?))
                    .with_help(
                        "use mesh, star, ring or random-regular, or a GML `graph` with \
                         per-link latencies",
                    ));
            }
        },
    };
    // With a `graph`, `builtin` is the default mesh: `degree` is refused too.
    if let Some(degree) = table.get("degree")
        && !matches!(builtin, Builtin::RandomRegular)
    {
        return Err(degree
            .key_error(
                ErrorKind::Conflict,
                "`degree` applies only to `topology = \"random-regular\"`",
            )
            .with_help("remove `degree`, or set `topology = \"random-regular\"`"));
    }
    let topology = match (graph_field, builtin) {
        (Some(graph), _) => TopologySpec::Gml {
            path: readable_graph(&graph)?,
        },
        (None, Builtin::Mesh) => TopologySpec::Mesh,
        (None, Builtin::Star) => TopologySpec::Star,
        (None, Builtin::Ring) => TopologySpec::Ring,
        (None, Builtin::RandomRegular) => TopologySpec::RandomRegular {
            degree: table.u32_or("degree", DEFAULT_DEGREE, 2, u32::MAX)?,
        },
    };
    let (bandwidth_up, bandwidth_down) = bandwidths(&table)?;
    Ok(NetworkSpec {
        topology,
        latency: table.positive_duration_or("latency", DEFAULT_LATENCY)?,
        jitter: table.duration_or("jitter", SimDuration::ZERO)?,
        loss: table.probability_or("loss", Probability::ZERO)?,
        bandwidth_up,
        bandwidth_down,
    })
}

/// A random-regular graph needs `degree < hosts` and `hosts x degree` even.
pub(crate) fn check_degree(root: &Table<'_>, network: &NetworkSpec, hosts: u32) -> Result<()> {
    let TopologySpec::RandomRegular { degree } = network.topology else {
        return Ok(());
    };
    let problem = if degree >= hosts {
        format!(
            "a random-regular graph of {hosts} hosts needs `degree` below {hosts}, found {degree}"
        )
    } else if u64::from(hosts) * u64::from(degree) % 2 == 1 {
        format!(
            "a random-regular graph needs hosts x degree to be even, but {hosts} x {degree} is odd"
        )
    } else {
        return Ok(());
    };
    let table = root
        .get("network")
        .map(|f| f.table("[network]", schema::NETWORK))
        .transpose()?;
    let at = table
        .as_ref()
        .and_then(|t| t.get("degree").or_else(|| t.get("topology")));
    let err = match at {
        Some(field) => field.invalid(problem),
        None => root.error(ErrorKind::InvalidValue, problem),
    };
    Err(err.with_help("change `degree` or the number of hosts"))
}

/// `bandwidth` (both directions) or `bandwidth_up` / `bandwidth_down`.
pub(crate) fn bandwidths(table: &Table<'_>) -> Result<(Option<Bandwidth>, Option<Bandwidth>)> {
    let up = table.get("bandwidth_up");
    let down = table.get("bandwidth_down");
    if let Some(both) = table.get("bandwidth") {
        if let Some(other) = up.as_ref().or(down.as_ref()) {
            return Err(other
                .key_error(
                    ErrorKind::Conflict,
                    format!(
                        "`bandwidth` sets both directions, so `{}` cannot be given with it",
                        other.name()
                    ),
                )
                .with_help("use `bandwidth` alone, or `bandwidth_up` and `bandwidth_down`"));
        }
        let rate = both.bandwidth()?;
        return Ok((Some(rate), Some(rate)));
    }
    Ok((
        up.map(|f| f.bandwidth()).transpose()?,
        down.map(|f| f.bandwidth()).transpose()?,
    ))
}

/// The `graph` file's resolved path, when there is a file to read there:
/// a missing one is an error at the `graph` key, not later without a line.
fn readable_graph(graph: &Field<'_>) -> Result<std::path::PathBuf> {
    let path = graph.file_path()?;
    if let Err(e) = std::fs::metadata(&path) {
        return Err(graph
            .error(
                ErrorKind::ReferencedFile,
                format!("cannot read the network graph {}: {e}", path.display()),
            )
            .with_note("a relative `graph` path is read from the scenario file's folder")
            .with_help("fix the path, or use a built-in `topology`"));
    }
    Ok(path)
}

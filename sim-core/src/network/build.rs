//! From a scenario's `[network]` table and host groups to a ready network:
//! the topology, its route cache and where each host sits with what
//! bandwidth.

use std::path::{Path, PathBuf};

use rand_core::Rng;

use super::gml::{GmlError, parse_gml_bytes};
use super::regions;
use super::routes::Routes;
use super::topology::{Link, Topology, TopologyError, VertexId};
use crate::input::{MAX_GRAPH_BYTES, ReadError, read_bounded};
use crate::scenario::{GraphNodeSpec, HostGroup, HostSpec, Model, Scenario, TopologySpec};
use crate::units::Bandwidth;

/// Host bandwidth for built-in topologies when the scenario sets none.
pub const DEFAULT_BANDWIDTH: Bandwidth = match Bandwidth::from_bits_per_sec(1_000_000_000) {
    Some(bandwidth) => bandwidth,
    // 10^9 is not zero, and this is evaluated at compile time.
    None => unreachable!(),
};

/// How many valid GML ids an "unknown graph node" message lists before `...`.
const IDS_SHOWN: usize = 20;

/// A scenario's network, ready to carry messages.
#[derive(Clone, Debug)]
pub struct Network {
    /// The graph hosts attach to.
    pub topology: Topology,
    /// Route cache for `topology`.
    pub routes: Routes,
    /// Where each host sits and its rates; index = `HostId`, same order as
    /// [`Scenario::hosts`].
    pub hosts: Vec<HostAttachment>,
}

/// Where one host attaches and how fast it sends and receives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HostAttachment {
    /// The vertex the host sits on.
    pub vertex: VertexId,
    /// Upstream rate (serialization of what it sends).
    pub up: Bandwidth,
    /// Downstream rate (serialization of what it receives).
    pub down: Bandwidth,
}

/// Why a scenario's network cannot be built; the message says what to fix.
#[derive(Debug, thiserror::Error)]
pub enum NetworkError {
    /// The GML file cannot be read (missing, not a regular file, larger
    /// than [`MAX_GRAPH_BYTES`]).
    #[error("cannot read the network graph {}: {source}", path.display())]
    ReadGraph {
        /// The file.
        path: PathBuf,
        /// Why.
        source: ReadError,
    },
    /// The GML file is not a valid network graph.
    #[error("{}:{}:{}: {}", path.display(), source.line, source.column, source.kind)]
    Gml {
        /// The file.
        path: PathBuf,
        /// Where and what.
        source: GmlError,
    },
    /// A built-in topology cannot be built with these parameters.
    #[error("[network] topology: {0}")]
    Topology(#[from] TopologyError),
    /// `graph_node = <id>` where the graph has no such node.
    #[error(
        "host group `{group}` sets graph_node = {id}, but {} has no node with id {id}: use one of {valid}, or \"round-robin\"",
        path.display()
    )]
    UnknownGraphNode {
        /// The group.
        group: String,
        /// The id it names.
        id: u32,
        /// The GML file.
        path: PathBuf,
        /// The ids that exist, ascending (shortened when there are many).
        valid: String,
    },
    /// `graph_node = <id>` with a built-in topology, which has no GML ids.
    #[error(
        "host group `{group}` sets graph_node = {id}, but the topology is built in: graph_node applies only to a GML graph; remove it or use `graph = \"file.gml\"`"
    )]
    GraphNodeWithoutGml {
        /// The group.
        group: String,
        /// The id it names.
        id: u32,
    },
    /// A host on a GML node without bandwidth, and no override.
    #[error(
        "host {host} has no {direction} bandwidth: its GML node {node} has no host_bandwidth_{direction}, and neither [network] nor host group `{group}` sets bandwidth_{direction}; add host_bandwidth_{direction} \"100 Mbit\" to the node or bandwidth_{direction} = \"100 Mbit\" to the scenario"
    )]
    MissingBandwidth {
        /// The host's name.
        host: String,
        /// Its group's name.
        group: String,
        /// `up` or `down`.
        direction: &'static str,
        /// The GML id of its node.
        node: u32,
    },
    /// The regions' matrix does not make a valid graph (a scenario built
    /// in code with a matrix of the wrong size).
    #[error("[network] regions: {0}")]
    Regions(GmlError),
    /// A host whose group index is not in the scenario (a malformed
    /// [`Scenario`] built in code).
    #[error("host {host} names host group #{group}, but the scenario has {groups} groups")]
    UnknownGroup {
        /// The host's name.
        host: String,
        /// The group index it names.
        group: usize,
        /// How many groups there are.
        groups: usize,
    },
}

impl Network {
    /// `hosts` hosts on one mesh vertex (every pair one `link` apart), all
    /// with `bandwidth` up and down: the network for engine tests,
    /// benchmarks and programs that drive the engine without a scenario.
    pub fn mesh(hosts: u32, link: Link, bandwidth: Bandwidth) -> Self {
        let topology = Topology::mesh(link);
        let routes = Routes::new(&topology);
        let attachment = HostAttachment {
            vertex: VertexId(0),
            up: bandwidth,
            down: bandwidth,
        };
        Network {
            topology,
            routes,
            hosts: vec![attachment; hosts as usize],
        }
    }
}

/// Builds the network of `scenario`: its topology (built-in or read from
/// its GML file), an empty route cache, and one [`HostAttachment`] per host.
///
/// - Built-in topologies use `network.latency`, `jitter` and `loss` on
///   every link. Host `i` sits on vertex `i` (ring, random regular, star
///   leaves; the star's hub is the last vertex) or on the single vertex
///   (mesh). `RandomRegular` draws from `rng`.
/// - A GML graph places `round-robin` hosts on the nodes in ascending id
///   order, one counter across all round-robin groups; `graph_node = id`
///   places the whole group on that node.
/// - Bandwidth: the group's setting, else `[network]`'s, else the GML
///   node's `host_bandwidth_*`, else 1 Gbit for built-ins and an error for GML.
pub fn build_network<M: Model, R: Rng + ?Sized>(
    scenario: &Scenario<M>,
    rng: &mut R,
) -> Result<Network, NetworkError> {
    let network = &scenario.network;
    let link = Link {
        latency: network.latency,
        jitter: network.jitter,
        loss: network.loss,
    };
    // Host counts come from a `Vec` indexed by `HostId(u32)`, so they fit; saturate to be safe.
    let host_count = u32::try_from(scenario.hosts.len()).unwrap_or(u32::MAX);
    let (topology, gml_path) = match &network.topology {
        TopologySpec::Mesh => (Topology::mesh(link), None),
        TopologySpec::Star => (Topology::star(host_count, link), None),
        TopologySpec::Ring => (Topology::ring(host_count, link), None),
        TopologySpec::RandomRegular { degree } => (
            Topology::random_regular(host_count, *degree, link, rng)?,
            None,
        ),
        TopologySpec::Gml { path } => (read_topology(path)?, Some(path.as_path())),
        TopologySpec::Regions(list) => {
            let graph = regions::graph(list, network.jitter);
            (
                Topology::from_gml(&graph).map_err(NetworkError::Regions)?,
                None,
            )
        }
    };
    attach(scenario, topology, gml_path)
}

/// Places the hosts of `scenario` on `topology` (read from the GML file at
/// `gml_path`, or built in when `None`), as [`build_network`] does.
pub fn attach<M: Model>(
    scenario: &Scenario<M>,
    topology: Topology,
    gml_path: Option<&Path>,
) -> Result<Network, NetworkError> {
    let mut round_robin = 0usize;
    let region_of = match &scenario.network.topology {
        TopologySpec::Regions(list) => regions::assign(list, scenario.hosts.len()),
        TopologySpec::Mesh
        | TopologySpec::Star
        | TopologySpec::Ring
        | TopologySpec::RandomRegular { .. }
        | TopologySpec::Gml { .. } => Vec::new(),
    };
    let gml_ids: Vec<VertexId> = topology.gml_ids().map(|(_, v)| v).collect();
    let mut hosts = Vec::with_capacity(scenario.hosts.len());
    for (index, host) in scenario.hosts.iter().enumerate() {
        let group = scenario
            .groups
            .get(host.group)
            .ok_or_else(|| NetworkError::UnknownGroup {
                host: host.name.clone(),
                group: host.group,
                groups: scenario.groups.len(),
            })?;
        let vertex = match (gml_path, group.graph_node) {
            (None, GraphNodeSpec::Node(id)) => {
                return Err(NetworkError::GraphNodeWithoutGml {
                    group: group.name.clone(),
                    id,
                });
            }
            (None, GraphNodeSpec::RoundRobin) => match region_of.get(index) {
                Some(&region) => region,
                None => builtin_vertex(&scenario.network.topology, index),
            },
            (Some(path), GraphNodeSpec::Node(id)) => topology
                .vertex_by_gml_id(id)
                .ok_or_else(|| unknown_node(&topology, path, group, id))?,
            (Some(_), GraphNodeSpec::RoundRobin) => {
                // `from_gml` rejects graphs without nodes, so `gml_ids` is not empty.
                let Some(&vertex) = gml_ids.get(round_robin % gml_ids.len().max(1)) else {
                    unreachable!("a GML topology has at least one node")
                };
                round_robin += 1;
                vertex
            }
        };
        let (up, down) = bandwidth(scenario, &topology, host, group, vertex, gml_path.is_some())?;
        hosts.push(HostAttachment { vertex, up, down });
    }
    Ok(Network {
        routes: Routes::new(&topology),
        topology,
        hosts,
    })
}

/// Reads and checks the GML file at `path`.
fn read_topology(path: &Path) -> Result<Topology, NetworkError> {
    let bytes = read_bounded(path, MAX_GRAPH_BYTES, "a network graph").map_err(|source| {
        NetworkError::ReadGraph {
            path: path.to_path_buf(),
            source,
        }
    })?;
    let gml_error = |source| NetworkError::Gml {
        path: path.to_path_buf(),
        source,
    };
    let graph = parse_gml_bytes(&bytes).map_err(gml_error)?;
    Topology::from_gml(&graph).map_err(gml_error)
}

/// The vertex of host `index` in a built-in topology.
fn builtin_vertex(spec: &TopologySpec, index: usize) -> VertexId {
    match spec {
        TopologySpec::Mesh => VertexId(0),
        // Host indices fit in u32 (`HostId` is a u32).
        _ => VertexId(index as u32),
    }
}

/// The error for `graph_node = id` naming no node of the graph at `path`.
fn unknown_node(topology: &Topology, path: &Path, group: &HostGroup, id: u32) -> NetworkError {
    let ids: Vec<String> = topology.gml_ids().map(|(id, _)| id.to_string()).collect();
    let mut valid = ids
        .iter()
        .take(IDS_SHOWN)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if ids.len() > IDS_SHOWN {
        valid += &format!(", ... ({} ids in all)", ids.len());
    }
    NetworkError::UnknownGraphNode {
        group: group.name.clone(),
        id,
        path: path.to_path_buf(),
        valid,
    }
}

/// A host's (up, down) rates: group, else `[network]`, else the GML node,
/// else the built-in default or an error.
fn bandwidth<M: Model>(
    scenario: &Scenario<M>,
    topology: &Topology,
    host: &HostSpec,
    group: &HostGroup,
    vertex: VertexId,
    from_gml: bool,
) -> Result<(Bandwidth, Bandwidth), NetworkError> {
    let node = topology.vertex(vertex);
    let pick = |group_value: Option<Bandwidth>,
                network_value: Option<Bandwidth>,
                node_value: Option<Bandwidth>,
                direction: &'static str| {
        group_value
            .or(network_value)
            .or(node_value)
            .or((!from_gml).then_some(DEFAULT_BANDWIDTH))
            .ok_or_else(|| NetworkError::MissingBandwidth {
                host: host.name.clone(),
                group: group.name.clone(),
                direction,
                node: node.and_then(|v| v.gml_id).unwrap_or(vertex.0),
            })
    };
    let up = pick(
        group.bandwidth_up,
        scenario.network.bandwidth_up,
        node.and_then(|v| v.bandwidth_up),
        "up",
    )?;
    let down = pick(
        group.bandwidth_down,
        scenario.network.bandwidth_down,
        node.and_then(|v| v.bandwidth_down),
        "down",
    )?;
    Ok((up, down))
}

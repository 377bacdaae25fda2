//! The simulated network: the graph hosts attach to, the routes between
//! them, and how a scenario's `[network]` table becomes both.
//!
//! - [`gml`]: Shadow's network-graph GML dialect, read ([`parse_gml`]) and
//!   written ([`write_gml`]), so one graph file serves sim and Shadow.
//! - [`topology`]: the graph ([`Topology`]) built from GML or from a
//!   built-in shape (mesh, star, ring, random regular).
//! - [`regions`]: the `regions` topology (a vertex per region, the latency
//!   matrix as links) and how hosts are spread over the regions.
//! - [`routes`]: shortest-latency paths ([`Routes`]), computed per source on
//!   first use and cached; latency and jitter add up, loss compounds.
//! - [`build`]: [`build_network`] turns a [`Scenario`](crate::scenario::Scenario)
//!   into a [`Network`]: topology, routes and one [`HostAttachment`] per host.
//!
//! **Determinism:** nothing here iterates a hash map; vertex order is file
//! order (GML) or construction order (built-ins), route ties are broken by
//! a fixed rule, and the only randomness is the RNG passed to
//! [`Topology::random_regular`].

#![warn(missing_docs)]

pub mod build;
pub mod gml;
pub mod regions;
pub mod routes;
pub mod topology;

/// A scenario's network ready to use, how to build it, and why that can fail.
pub use build::{DEFAULT_BANDWIDTH, HostAttachment, Network, NetworkError, attach, build_network};
/// The GML reader and writer and the graph they exchange.
pub use gml::{
    GmlEdge, GmlError, GmlErrorKind, GmlGraph, GmlNode, parse_gml, parse_gml_bytes, write_gml,
};
/// Shortest-latency routes and what a message meets along one.
pub use routes::{PathProps, Routes};
/// The graph hosts attach to and its parts.
pub use topology::{Link, Topology, TopologyError, Vertex, VertexId};

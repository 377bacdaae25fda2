//! The engine's part of a run's memory, estimated before the run starts so
//! a run that cannot fit is refused instead of aborting mid-run (the
//! protocols add their own parts; `sim::runner::estimate_memory` sums
//! them).
//!
//! The figures are measured, not derived: peak resident memory of release
//! runs (`/usr/bin/time -f %M`, BENCHMARKS.md "Memory estimates") divided
//! by what grows. They err on the high side; an estimate is within a
//! factor of about 1.5 of what a run takes.

use std::mem::size_of;

use crate::network::PathProps;

/// Resident memory of a run before any host: the binary, the allocator's
/// arenas, the scenario, report buffers.
pub const BASE_BYTES: u64 = 8 << 20;

/// Memory per host that grows with the host count alone: its slot (timers,
/// lifecycle), RNG stream, node shell, traffic counters, network
/// attachment, queued events, and its rows in the reports. Measured: 80,000
/// idle hosts take 1.93 KiB each.
pub const HOST_BYTES: u64 = 2 << 10;

/// One cached route: the path properties from one vertex to another.
pub const ROUTE_BYTES: u64 = size_of::<Option<PathProps>>() as u64;

/// The engine's share of a run's memory: `hosts` hosts on a topology of
/// `vertices` vertices, of which `sending_vertices` hold hosts that send
/// datagrams (each such source caches a route to every vertex on first
/// use).
pub fn engine_bytes(hosts: u64, vertices: u64, sending_vertices: u64) -> u64 {
    let routes = sending_vertices
        .saturating_mul(vertices)
        .saturating_mul(ROUTE_BYTES);
    BASE_BYTES
        .saturating_add(hosts.saturating_mul(HOST_BYTES))
        .saturating_add(routes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_with_hosts_and_route_rows() {
        assert_eq!(engine_bytes(0, 1, 0), BASE_BYTES);
        assert_eq!(
            engine_bytes(1000, 1, 1),
            BASE_BYTES + 1000 * HOST_BYTES + ROUTE_BYTES
        );
        // A star of 10,000 senders: 10,000 rows of 10,001 routes.
        let star = engine_bytes(10_000, 10_001, 10_000);
        assert!(star > 10_000 * 10_001 * ROUTE_BYTES);
        assert_eq!(engine_bytes(u64::MAX, u64::MAX, u64::MAX), u64::MAX);
    }
}

//! The consensus timing a scenario does not set itself: the ceiling of the
//! view timeout and the liveness bound, both derived from the network the
//! validators run on.
//!
//! # What the protocol guarantees, and the bound that follows
//!
//! After the last fault heals, the honest validators that are up (at least
//! a quorum, else liveness is not owed) are connected with their paths'
//! own latency, jitter and loss. Let `D` be the longest one-way delay
//! between two validators (path latency plus path jitter, [`network_delay`]),
//! `T` the ceiling of the view timeout and `b` the block interval.
//!
//! - A view timer is never armed more than `b + T` ahead, so a validator
//!   waits at most that long for any one view, including the one a fault
//!   left it in with a timeout that grew while the fault lasted.
//! - Every message a view needs is sent again every quarter of the current
//!   view timeout to the validators that have not shown they have it
//!   (retransmission; `node_logic`'s validator docs), and answered when
//!   sent again. A view whose leader is up completes when its messages get
//!   through within its timeout: with `T >= 4 D` a message may be lost and
//!   resent and still arrive in time, and with per-link loss of a few
//!   percent a view fails only when one validator's messages are lost on
//!   every retry.
//! - Views whose leader is down fail: at most `c = n − quorum` of them in
//!   a row, since a quorum is up.
//!
//! - On a network slower than the view timeout, views also fail until the
//!   doubling timeout reaches about `4 D` ([`climb`]): at most the views of
//!   the doubling schedule below that, each a block interval plus its
//!   timeout (nothing when `view_timeout >= 4 D`).
//!
//! So a block is finalized within `c + 2` views of at most `b + T` each —
//! the view the heal finds, `c` views of crashed leaders, and the one that
//! completes — after the climb. The default bound is `(c + 2) × (b + T)`
//! plus the climb; the default ceiling is `T = max(4 × view_timeout, 4 D)`,
//! so a slow network (a 5 min link) gets timeouts a view can complete in
//! and a bound that covers them instead of failing by construction. `examples/consensus_schedules.rs`
//! checks the bound against random fault schedules (BENCHMARKS.md).

use std::collections::BTreeSet;

use node_logic::HostId;
use node_logic::protocols::consensus::{MAX_VALIDATORS, quorum, view_timeout_after};
use sim_core::network::{VertexId, build_network};
use sim_core::rng::{RngStreams, names};
use sim_core::units::SimDuration;

use crate::model::Scenario;
use crate::runner::RunError;

/// Distinct validator vertices up to which [`network_delay`] computes
/// every pair's path; beyond, it bounds the delay through one vertex.
const EXACT_SOURCES: usize = 256;

/// The view-timeout ceiling when the scenario sets none:
/// `max(4 × view_timeout, 4 × delay)`.
pub fn default_max_view_timeout(view_timeout: SimDuration, delay: SimDuration) -> SimDuration {
    view_timeout.saturating_mul(4).max(delay.saturating_mul(4))
}

/// The liveness bound when the scenario sets none, for `validators`
/// validators: `(n − quorum + 2) × (block_interval + max_view_timeout)`,
/// plus the views whose timeout is too short for the network
/// ([`climb`]; the module docs give the reasoning).
pub fn default_liveness_bound(
    validators: usize,
    timing: Timing,
    max_view_timeout: SimDuration,
) -> SimDuration {
    let n = validators.clamp(1, MAX_VALIDATORS);
    let views = (n - quorum(n).min(n)) as u64 + 2;
    timing
        .block_interval
        .saturating_add(max_view_timeout)
        .saturating_mul(views)
        .saturating_add(climb(timing, max_view_timeout))
}

/// The settings the derived timing depends on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timing {
    /// `[consensus] block_interval`.
    pub block_interval: SimDuration,
    /// `[consensus] view_timeout`.
    pub view_timeout: SimDuration,
    /// The longest one-way delay between validators ([`network_delay`]).
    pub delay: SimDuration,
}

/// The time views may spend failing because their timeout is too short
/// for the network: a block interval plus the timeout of every step of
/// the doubling schedule below `4 × delay`. Zero when `view_timeout` is
/// already that long (every network with delays well below the timeout).
pub fn climb(timing: Timing, max_view_timeout: SimDuration) -> SimDuration {
    let enough = timing.delay.saturating_mul(4);
    let mut total = SimDuration::ZERO;
    for failed in 1..=64 {
        let timeout = view_timeout_after(timing.view_timeout, max_view_timeout, failed);
        if timeout >= enough || timeout >= max_view_timeout {
            break;
        }
        total = total.saturating_add(timing.block_interval.saturating_add(timeout));
    }
    total
}

/// The longest one-way delay between two of `validators`: the latency
/// plus the jitter of the path between them (the same path the transport
/// routes over), the largest over every pair. Exact for up to
/// [`EXACT_SOURCES`] distinct vertices (and for directed graphs); beyond,
/// on undirected graphs, twice the longest path from the first
/// validator's vertex, which bounds every pair's through it.
pub fn network_delay(scenario: &Scenario, validators: &[HostId]) -> Result<SimDuration, RunError> {
    let streams = RngStreams::new(scenario.seed);
    let mut network = build_network(scenario, &mut streams.stream(names::TOPOLOGY, 0))?;
    let vertices: BTreeSet<VertexId> = validators
        .iter()
        .filter_map(|h| network.hosts.get(h.index()).map(|a| a.vertex))
        .collect();
    let sources: Vec<VertexId> = match vertices.first() {
        Some(&first) if vertices.len() > EXACT_SOURCES && !network.topology.is_directed() => {
            vec![first]
        }
        _ => vertices.iter().copied().collect(),
    };
    let mut longest = SimDuration::ZERO;
    for &from in &sources {
        for &to in &vertices {
            if let Some(path) = network.routes.path(&network.topology, from, to) {
                longest = longest.max(path.latency.saturating_add(path.jitter));
            }
        }
    }
    Ok(match sources.len() < vertices.len() {
        true => longest.saturating_mul(2),
        false => longest,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::parse_str;

    fn scenario(network: &str, count: u32) -> Scenario {
        let text = format!(
            "duration = \"1 min\"\n[network]\n{network}\n[[hosts]]\nname = \"v\"\ncount = {count}\nrole = \"validator\"\n[consensus]\n"
        );
        parse_str(&text, None, &[]).unwrap()
    }

    fn delay(network: &str, count: u32) -> SimDuration {
        let s = scenario(network, count);
        let ids: Vec<HostId> = s.hosts.iter().map(|h| h.id).collect();
        network_delay(&s, &ids).unwrap()
    }

    #[test]
    fn the_delay_is_the_longest_path_latency_plus_jitter() {
        let ms = SimDuration::from_millis;
        assert_eq!(delay("latency = \"25 ms\"\njitter = \"5 ms\"", 4), ms(30));
        // A star: two links host to host.
        assert_eq!(delay("topology = \"star\"\nlatency = \"25 ms\"", 5), ms(50));
        // A ring of 8: four links the shorter way round.
        assert_eq!(
            delay(
                "topology = \"ring\"\nlatency = \"10 ms\"\njitter = \"1 ms\"",
                8
            ),
            ms(44)
        );
        assert_eq!(delay("latency = \"5 min\"", 4), SimDuration::from_secs(300));
    }

    #[test]
    fn defaults_follow_the_network_and_the_validator_count() {
        let s = SimDuration::from_secs;
        assert_eq!(
            default_max_view_timeout(s(10), SimDuration::from_millis(50)),
            s(40)
        );
        assert_eq!(default_max_view_timeout(s(10), s(300)), s(1200));
        let fast = Timing {
            block_interval: s(5),
            view_timeout: s(10),
            delay: SimDuration::from_millis(50),
        };
        // n = 4: quorum 3, one crashed leader at most: 3 views.
        assert_eq!(default_liveness_bound(4, fast, s(40)), s(135));
        // n = 7: quorum 5, two: 4 views.
        assert_eq!(default_liveness_bound(7, fast, s(40)), s(180));
        // A 5 min link: timeouts of 10 s .. 640 s fail before one is long
        // enough (7 views, 1,270 s of timeouts), then 3 views of 1,200 s.
        let slow = Timing {
            delay: s(300),
            ..fast
        };
        assert_eq!(climb(slow, s(1200)), s(7 * 5 + 1270));
        assert_eq!(default_liveness_bound(4, slow, s(1200)), s(3 * 1205 + 1305));
        assert_eq!(climb(fast, s(40)), SimDuration::ZERO);
    }
}

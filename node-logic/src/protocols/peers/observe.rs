//! What the peer registry reports (wrapped in
//! [`crate::protocols::Observation::Peers`]).

use crate::HostId;
use crate::observe::{Described, Description, TraceWriter, Traced};

/// Something the peer registry saw.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PeerRegistryEvent {
    /// A peer answered a signed hello: it is now known and live.
    Up {
        /// The peer.
        peer: HostId,
    },
    /// A peer is no longer live: silent for `stale_after`, or banned while
    /// it was up (then recorded right after [`PeerRegistryEvent::Banned`]).
    Down {
        /// The peer.
        peer: HostId,
    },
    /// A peer's score fell to the ban threshold: everything from it is
    /// dropped, unrecorded, until the ban ends. Recorded once per ban.
    Banned {
        /// The peer.
        peer: HostId,
    },
    /// A peer's ban period ended: it is greeted again and may rejoin.
    Unbanned {
        /// The peer.
        peer: HostId,
    },
    /// Bounded views: a hello from `peer` was refused, the inbound slots
    /// being full (the peer is sent other peers to try).
    Refused {
        /// The peer refused.
        peer: HostId,
    },
    /// Bounded views: the connection with `peer` was closed to make room
    /// for a better-scored newcomer (recorded before its peer-down).
    Evicted {
        /// The peer evicted.
        peer: HostId,
    },
    /// A datagram from `peer` exceeded its rate limit and was dropped.
    RateLimited {
        /// The sender.
        peer: HostId,
    },
    /// Observers of the peer registry inactive for longer than
    /// `observer_stale_after` were removed (recorded only when `removed > 0`).
    ObserversCleaned {
        /// How many.
        removed: u32,
    },
}

impl Traced for PeerRegistryEvent {
    // Codes 1, 2, 5, 6, 7: the observation codes these events had before
    // they became the peer registry's own type, so trace hashes stay.
    fn trace(&self, out: &mut impl TraceWriter) {
        let (code, value) = match self {
            PeerRegistryEvent::Up { peer } => (1, u64::from(peer.0)),
            PeerRegistryEvent::Down { peer } => (2, u64::from(peer.0)),
            PeerRegistryEvent::Banned { peer } => (5, u64::from(peer.0)),
            PeerRegistryEvent::Unbanned { peer } => (6, u64::from(peer.0)),
            PeerRegistryEvent::ObserversCleaned { removed } => (7, u64::from(*removed)),
            PeerRegistryEvent::Refused { peer } => (8, u64::from(peer.0)),
            PeerRegistryEvent::Evicted { peer } => (9, u64::from(peer.0)),
            PeerRegistryEvent::RateLimited { peer } => (10, u64::from(peer.0)),
        };
        out.word(code);
        out.word(value);
    }
}

impl Described for PeerRegistryEvent {
    fn describe(&self) -> Description {
        match self {
            PeerRegistryEvent::Up { peer } => Description::new("peer-up").host(*peer),
            PeerRegistryEvent::Down { peer } => Description::new("peer-down").host(*peer),
            PeerRegistryEvent::Banned { peer } => Description::new("peer-banned").host(*peer),
            PeerRegistryEvent::Unbanned { peer } => Description::new("peer-unbanned").host(*peer),
            PeerRegistryEvent::ObserversCleaned { removed } => {
                Description::new("observers-cleaned").detail(removed.to_string())
            }
            PeerRegistryEvent::Refused { peer } => Description::new("peer-refused").host(*peer),
            PeerRegistryEvent::Evicted { peer } => Description::new("peer-evicted").host(*peer),
            PeerRegistryEvent::RateLimited { peer } => {
                Description::new("peer-rate-limited").host(*peer)
            }
        }
    }
}

/// One of each event, for the tests of every layer that encodes
/// observations.
#[cfg(test)]
pub(crate) mod samples {
    use super::*;

    /// The variant's name; an exhaustive match, so a new variant does not
    /// compile until [`all`] covers it.
    pub(crate) fn name(e: &PeerRegistryEvent) -> &'static str {
        match e {
            PeerRegistryEvent::Up { .. } => "up",
            PeerRegistryEvent::Down { .. } => "down",
            PeerRegistryEvent::Banned { .. } => "banned",
            PeerRegistryEvent::Unbanned { .. } => "unbanned",
            PeerRegistryEvent::ObserversCleaned { .. } => "observers_cleaned",
            PeerRegistryEvent::Refused { .. } => "refused",
            PeerRegistryEvent::Evicted { .. } => "evicted",
            PeerRegistryEvent::RateLimited { .. } => "rate_limited",
        }
    }

    pub(crate) fn all() -> Vec<PeerRegistryEvent> {
        vec![
            PeerRegistryEvent::Up { peer: HostId(1) },
            PeerRegistryEvent::Down { peer: HostId(2) },
            PeerRegistryEvent::Banned { peer: HostId(3) },
            PeerRegistryEvent::Unbanned { peer: HostId(4) },
            PeerRegistryEvent::ObserversCleaned { removed: 5 },
            PeerRegistryEvent::Refused { peer: HostId(6) },
            PeerRegistryEvent::Evicted { peer: HostId(7) },
            PeerRegistryEvent::RateLimited { peer: HostId(8) },
        ]
    }

    #[test]
    fn the_samples_cover_every_variant() {
        let names: std::collections::BTreeSet<&str> = all().iter().map(name).collect();
        assert_eq!(names.len(), 8, "{names:?}");
    }
}

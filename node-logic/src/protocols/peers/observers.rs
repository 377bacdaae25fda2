//! Observers of the peer registry: named subscribers inside a host (the
//! consensus module, a metrics collector) that want to hear of peers joining
//! and leaving.
//!
//! The registry is bounded everywhere:
//!
//! - at most `max_observers` observers (default 50); registering one more
//!   is an [`ObserverError::LimitReached`] that names the limit;
//! - each observer has a queue of at most `queue_len` [`PeerEvent`]s
//!   (default 1024); when it is full the oldest event is dropped and counted
//!   in [`ObserverInfo::missed`], so a slow observer loses history, never
//!   memory;
//! - an observer is *active* when it registers and every time it drains its
//!   queue with [`ObserverRegistry::take_events`]; one inactive for longer
//!   than the stale period is removed by
//!   [`ObserverRegistry::cleanup_stale`] (the peer registry runs it from
//!   every heartbeat with `observer_stale_after`, default 3600 s).
//!
//! Observers are identified by an [`ObserverId`] that is never reused within
//! one registry, so a removed observer's id stays invalid (an
//! [`ObserverError::UnknownObserver`]) even after its slot is taken again.

use std::collections::{BTreeMap, VecDeque};
use std::fmt;

use crate::HostId;
use crate::time::{SimDuration, SimTime};

/// The longest observer name, in bytes.
pub const MAX_OBSERVER_NAME: usize = 64;

/// An observer's handle, returned by [`ObserverRegistry::register`]; never
/// reused within one registry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ObserverId(u64);

impl fmt::Display for ObserverId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "observer#{}", self.0)
    }
}

/// Why an observer operation was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ObserverError {
    /// `max_observers` observers are already registered.
    #[error(
        "observer limit reached: {max} of max_observers = {max} registered; \
         unregister one or raise max_observers"
    )]
    LimitReached {
        /// The configured limit.
        max: usize,
    },
    /// Another registered observer has this name.
    #[error("an observer named {0:?} is already registered")]
    DuplicateName(String),
    /// The name is empty or longer than [`MAX_OBSERVER_NAME`] bytes.
    #[error("observer names are 1 to {max} bytes long; got {len} bytes")]
    InvalidName {
        /// The name's length in bytes.
        len: usize,
        /// [`MAX_OBSERVER_NAME`].
        max: usize,
    },
    /// No such observer (never registered, unregistered, or cleaned up as
    /// stale).
    #[error("{0} is not registered")]
    UnknownObserver(ObserverId),
}

/// Whether a peer joined or left.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PeerEventKind {
    /// The peer became live (authenticated by a hello).
    Joined,
    /// The peer stopped being live (silent for `stale_after`, or banned).
    Left,
}

/// One join or leave, as an observer receives it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PeerEvent {
    /// When the registry saw it.
    pub at: SimTime,
    /// The peer.
    pub peer: HostId,
    /// Joined or left.
    pub kind: PeerEventKind,
}

/// What the registry knows of one observer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObserverInfo {
    /// Its handle.
    pub id: ObserverId,
    /// Its name.
    pub name: String,
    /// When it registered.
    pub registered_at: SimTime,
    /// When it registered or last drained its queue.
    pub last_active: SimTime,
    /// Events waiting in its queue.
    pub queued: usize,
    /// Events dropped because its queue was full, since it registered.
    pub missed: u64,
}

#[derive(Clone, Debug)]
struct Observer {
    name: String,
    registered_at: SimTime,
    last_active: SimTime,
    events: VecDeque<PeerEvent>,
    missed: u64,
}

/// A bounded set of named observers, each with a bounded event queue.
#[derive(Clone, Debug)]
pub struct ObserverRegistry {
    max_observers: usize,
    queue_len: usize,
    next_id: u64,
    observers: BTreeMap<ObserverId, Observer>,
}

impl ObserverRegistry {
    /// An empty registry for at most `max_observers` observers, each keeping
    /// at most `queue_len` undrained events.
    pub fn new(max_observers: usize, queue_len: usize) -> Self {
        ObserverRegistry {
            max_observers,
            queue_len,
            next_id: 0,
            observers: BTreeMap::new(),
        }
    }

    /// Registers an observer named `name` at `now` (which counts as activity).
    /// Fails when the limit is reached, the name is taken, or the name is
    /// empty or too long.
    pub fn register(&mut self, name: &str, now: SimTime) -> Result<ObserverId, ObserverError> {
        if name.is_empty() || name.len() > MAX_OBSERVER_NAME {
            return Err(ObserverError::InvalidName {
                len: name.len(),
                max: MAX_OBSERVER_NAME,
            });
        }
        if self.observers.len() >= self.max_observers {
            return Err(ObserverError::LimitReached {
                max: self.max_observers,
            });
        }
        if self.observers.values().any(|o| o.name == name) {
            return Err(ObserverError::DuplicateName(name.to_string()));
        }
        let id = ObserverId(self.next_id);
        self.next_id += 1;
        self.observers.insert(
            id,
            Observer {
                name: name.to_string(),
                registered_at: now,
                last_active: now,
                events: VecDeque::new(),
                missed: 0,
            },
        );
        Ok(id)
    }

    /// Removes an observer and its queue, freeing its slot.
    pub fn unregister(&mut self, id: ObserverId) -> Result<(), ObserverError> {
        self.observers
            .remove(&id)
            .map(|_| ())
            .ok_or(ObserverError::UnknownObserver(id))
    }

    /// Hands `event` to every observer, in id (registration) order; a full
    /// queue drops its oldest event.
    pub fn notify(&mut self, event: PeerEvent) {
        for observer in self.observers.values_mut() {
            if self.queue_len == 0 {
                observer.missed += 1;
                continue;
            }
            if observer.events.len() >= self.queue_len {
                observer.events.pop_front();
                observer.missed += 1;
            }
            observer.events.push_back(event);
        }
    }

    /// Drains the observer's queue, oldest first, and marks it active at `now`.
    pub fn take_events(
        &mut self,
        id: ObserverId,
        now: SimTime,
    ) -> Result<Vec<PeerEvent>, ObserverError> {
        let observer = self
            .observers
            .get_mut(&id)
            .ok_or(ObserverError::UnknownObserver(id))?;
        observer.last_active = observer.last_active.max(now);
        Ok(observer.events.drain(..).collect())
    }

    /// Removes every observer inactive for longer than `stale_after` at
    /// `now`; returns how many were removed.
    pub fn cleanup_stale(&mut self, now: SimTime, stale_after: SimDuration) -> usize {
        let before = self.observers.len();
        self.observers
            .retain(|_, o| now - o.last_active <= stale_after);
        before - self.observers.len()
    }

    /// What the registry knows of `id`.
    pub fn info(&self, id: ObserverId) -> Option<ObserverInfo> {
        self.observers.get(&id).map(|o| info(id, o))
    }

    /// Every registered observer, in registration order.
    pub fn iter(&self) -> impl Iterator<Item = ObserverInfo> + '_ {
        self.observers.iter().map(|(&id, o)| info(id, o))
    }

    /// How many observers are registered.
    pub fn len(&self) -> usize {
        self.observers.len()
    }

    /// Whether none is registered.
    pub fn is_empty(&self) -> bool {
        self.observers.is_empty()
    }

    /// The configured bound on observers.
    pub fn max_observers(&self) -> usize {
        self.max_observers
    }
}

fn info(id: ObserverId, o: &Observer) -> ObserverInfo {
    ObserverInfo {
        id,
        name: o.name.clone(),
        registered_at: o.registered_at,
        last_active: o.last_active,
        queued: o.events.len(),
        missed: o.missed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: u64) -> SimTime {
        SimTime::from_duration(SimDuration::from_secs(s))
    }

    fn event(at: u64, peer: u32, kind: PeerEventKind) -> PeerEvent {
        PeerEvent {
            at: secs(at),
            peer: HostId(peer),
            kind,
        }
    }

    #[test]
    fn fifty_register_the_fifty_first_is_refused_naming_the_limit() {
        let mut reg = ObserverRegistry::new(50, 16);
        let ids: Vec<ObserverId> = (0..50)
            .map(|i| reg.register(&format!("obs-{i}"), secs(i)).unwrap())
            .collect();
        assert_eq!(reg.len(), 50);
        let err = reg.register("obs-50", secs(60)).unwrap_err();
        assert_eq!(err, ObserverError::LimitReached { max: 50 });
        assert!(err.to_string().contains("max_observers = 50"), "{err}");
        // Unregistering frees exactly one slot.
        reg.unregister(ids[7]).unwrap();
        let new = reg.register("obs-50", secs(61)).unwrap();
        assert!(!ids.contains(&new), "ids are never reused");
        assert!(reg.register("obs-51", secs(62)).is_err());
        assert_eq!(
            reg.unregister(ids[7]),
            Err(ObserverError::UnknownObserver(ids[7]))
        );
    }

    #[test]
    fn names_are_checked() {
        let mut reg = ObserverRegistry::new(4, 16);
        reg.register("consensus", SimTime::ZERO).unwrap();
        assert_eq!(
            reg.register("consensus", SimTime::ZERO),
            Err(ObserverError::DuplicateName("consensus".into()))
        );
        assert!(matches!(
            reg.register("", SimTime::ZERO),
            Err(ObserverError::InvalidName { len: 0, .. })
        ));
        let long = "x".repeat(MAX_OBSERVER_NAME + 1);
        assert!(reg.register(&long, SimTime::ZERO).is_err());
        assert!(reg.register(&long[1..], SimTime::ZERO).is_ok());
    }

    #[test]
    fn events_arrive_in_order_and_a_full_queue_drops_the_oldest() {
        let mut reg = ObserverRegistry::new(4, 3);
        let a = reg.register("a", secs(0)).unwrap();
        reg.notify(event(1, 5, PeerEventKind::Joined));
        let b = reg.register("b", secs(2)).unwrap();
        reg.notify(event(3, 6, PeerEventKind::Joined));
        reg.notify(event(4, 5, PeerEventKind::Left));
        assert_eq!(
            reg.take_events(b, secs(5)).unwrap(),
            vec![
                event(3, 6, PeerEventKind::Joined),
                event(4, 5, PeerEventKind::Left)
            ],
            "b hears only what happened after it registered"
        );
        reg.notify(event(6, 6, PeerEventKind::Left));
        // a's queue (capacity 3) held 4 events: the oldest is gone.
        assert_eq!(
            reg.take_events(a, secs(7)).unwrap(),
            vec![
                event(3, 6, PeerEventKind::Joined),
                event(4, 5, PeerEventKind::Left),
                event(6, 6, PeerEventKind::Left)
            ]
        );
        let info = reg.info(a).unwrap();
        assert_eq!((info.missed, info.queued), (1, 0));
        assert_eq!((info.registered_at, info.last_active), (secs(0), secs(7)));
        assert!(reg.take_events(a, secs(8)).unwrap().is_empty());
    }

    #[test]
    fn cleanup_removes_only_observers_inactive_for_longer_than_the_period() {
        let mut reg = ObserverRegistry::new(10, 16);
        let idle = reg.register("idle", secs(0)).unwrap();
        let busy = reg.register("busy", secs(0)).unwrap();
        let edge = reg.register("edge", secs(100)).unwrap();
        reg.take_events(busy, secs(3000)).unwrap();
        let stale = SimDuration::from_secs(3600);
        assert_eq!(
            reg.cleanup_stale(secs(3600), stale),
            0,
            "exactly the period"
        );
        assert_eq!(reg.cleanup_stale(secs(3601), stale), 1);
        assert!(reg.info(idle).is_none());
        assert_eq!(
            reg.take_events(idle, secs(3601)),
            Err(ObserverError::UnknownObserver(idle))
        );
        assert!(reg.info(busy).is_some() && reg.info(edge).is_some());
        assert_eq!(
            reg.cleanup_stale(secs(3701), stale),
            1,
            "edge goes at 3701 s"
        );
        assert_eq!(
            reg.iter().map(|i| i.name).collect::<Vec<_>>(),
            vec!["busy".to_string()]
        );
        assert_eq!(reg.cleanup_stale(secs(7000), stale), 1);
        assert!(reg.is_empty());
    }
}

//! A host's timers: at most one pending timer per [`TimerId`].
//!
//! Setting a timer bumps its slot's generation and queues an event carrying
//! `(slot, generation)`; cancelling bumps it too. An event whose generation
//! is no longer current is stale and ignored, so moving or cancelling a
//! timer never has to find the old event in the queue. Generations are
//! bumped, never reset (not even by a crash), so an old event can never
//! match a new timer. The first slots live inline: a host's timers share
//! its cache lines in the event loop's hottest path.

use node_logic::TimerId;

/// Slots stored inline before spilling to the heap.
const INLINE: usize = 4;

#[derive(Clone, Copy, Debug)]
struct Slot {
    id: TimerId,
    generation: u32,
    armed: bool,
}

const EMPTY: Slot = Slot {
    id: TimerId::Workload(u32::MAX),
    generation: 0,
    armed: false,
};

/// The timer slots of one host.
#[derive(Clone, Debug)]
pub struct TimerTable {
    inline: [Slot; INLINE],
    used: u8,
    spill: Vec<Slot>,
}

impl Default for TimerTable {
    fn default() -> Self {
        TimerTable {
            inline: [EMPTY; INLINE],
            used: 0,
            spill: Vec::new(),
        }
    }
}

impl TimerTable {
    /// Arms `id` (moving it if armed); returns the `(slot, generation)` its
    /// expiry event must carry.
    #[inline]
    pub fn arm(&mut self, id: TimerId) -> (u32, u32) {
        let index = match self.find(id) {
            Some(i) => i,
            None => self.add(id),
        };
        let slot = self.slot_mut(index);
        slot.generation = slot.generation.wrapping_add(1);
        slot.armed = true;
        (index as u32, slot.generation)
    }

    /// Disarms `id` if it is armed.
    pub fn cancel(&mut self, id: TimerId) {
        if let Some(i) = self.find(id) {
            let slot = self.slot_mut(i);
            slot.generation = slot.generation.wrapping_add(1);
            slot.armed = false;
        }
    }

    /// An expiry event for `(slot, generation)` came due: the timer it
    /// fires, or `None` if it was moved, cancelled or lost in a crash.
    #[inline]
    pub fn fire(&mut self, slot: u32, generation: u32) -> Option<TimerId> {
        let index = slot as usize;
        if index >= self.len() {
            return None;
        }
        let slot = self.slot_mut(index);
        if !slot.armed || slot.generation != generation {
            return None;
        }
        slot.armed = false;
        Some(slot.id)
    }

    /// Disarms every timer (the host crashed).
    pub fn disarm_all(&mut self) {
        for i in 0..self.len() {
            let slot = self.slot_mut(i);
            slot.generation = slot.generation.wrapping_add(1);
            slot.armed = false;
        }
    }

    fn len(&self) -> usize {
        usize::from(self.used) + self.spill.len()
    }

    #[inline]
    fn find(&self, id: TimerId) -> Option<usize> {
        let inline = &self.inline[..usize::from(self.used)];
        if let Some(i) = inline.iter().position(|s| s.id == id) {
            return Some(i);
        }
        self.spill
            .iter()
            .position(|s| s.id == id)
            .map(|i| INLINE + i)
    }

    fn add(&mut self, id: TimerId) -> usize {
        let slot = Slot {
            id,
            generation: 0,
            armed: false,
        };
        if usize::from(self.used) < INLINE {
            self.inline[usize::from(self.used)] = slot;
            self.used += 1;
            usize::from(self.used) - 1
        } else {
            self.spill.push(slot);
            INLINE + self.spill.len() - 1
        }
    }

    #[inline]
    fn slot_mut(&mut self, index: usize) -> &mut Slot {
        if index < INLINE {
            &mut self.inline[index]
        } else {
            &mut self.spill[index - INLINE]
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_latest_arming_fires() {
        let mut t = TimerTable::default();
        let first = t.arm(TimerId::Workload(7));
        let moved = t.arm(TimerId::Workload(7));
        assert_eq!(first.0, moved.0, "same slot");
        assert_eq!(
            t.fire(first.0, first.1),
            None,
            "moved timer's old event is stale"
        );
        assert_eq!(t.fire(moved.0, moved.1), Some(TimerId::Workload(7)));
        assert_eq!(t.fire(moved.0, moved.1), None, "fires once");
    }

    #[test]
    fn cancel_and_crash_make_events_stale_forever() {
        let mut t = TimerTable::default();
        let a = t.arm(TimerId::Workload(1));
        t.cancel(TimerId::Workload(1));
        assert_eq!(t.fire(a.0, a.1), None);
        let b = t.arm(TimerId::Workload(1));
        t.disarm_all();
        let c = t.arm(TimerId::Workload(1));
        assert_eq!(t.fire(b.0, b.1), None, "armed before the crash");
        assert_eq!(t.fire(c.0, c.1), Some(TimerId::Workload(1)));
        assert_eq!(t.fire(99, 1), None, "unknown slot");
    }

    #[test]
    fn many_timers_spill_past_the_inline_slots() {
        let mut t = TimerTable::default();
        let armed: Vec<_> = (0..10).map(|i| (i, t.arm(TimerId::Workload(i)))).collect();
        for (i, (slot, generation)) in armed.into_iter().rev() {
            assert_eq!(t.fire(slot, generation), Some(TimerId::Workload(i)));
        }
    }
}

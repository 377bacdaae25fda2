//! A hint that a value will be read soon, so its cache line is fetched
//! while other work goes on.
//!
//! A validator's pool evicts transactions that arrived ten thousand
//! deliveries ago, the event queue pops payloads written thousands of
//! events ago, and in a mesh of two hundred each message reads the
//! receiver's state of its sender, a line no recent message read: cold
//! lines, read in chains of dependent loads. Which line comes next is
//! known a step or more ahead, so a prefetch then overlaps the misses
//! (issues 11 and 12). The hint changes no value: without it (other
//! architectures) the code is the same, slower.

/// Asks the processor to bring `value`'s cache line into the caches.
#[inline(always)]
pub fn prefetch<T>(value: &T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch reads nothing architecturally and cannot fault;
    // the reference is a valid address anyway. SSE is in every x86_64.
    unsafe {
        use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        _mm_prefetch::<_MM_HINT_T0>(std::ptr::from_ref(value).cast());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = value;
}

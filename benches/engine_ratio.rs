//! The engine-to-bare-heap speed ratio of the null workload
//! (`null_workload/`), measured interleaved in the thread's CPU time:
//! rounds that each time the engine and the bare heap back to back on the
//! same number of events, with `CLOCK_THREAD_CPUTIME_ID`, so time the
//! thread spends descheduled on a shared machine counts for neither side.
//! Prints the median ratio and its interquartile range.
//!
//! ```sh
//! cargo bench --bench engine_ratio            # 100 rounds of 100,000 events
//! cargo bench --bench engine_ratio -- 300     # more rounds
//! ```

use std::hint::black_box;

mod null_workload;
use null_workload::{BareHeap, null_simulation, run_engine};

const EVENTS_PER_ROUND: u64 = 100_000;

fn main() {
    let rounds: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(100);
    let mut sim = null_simulation();
    let mut heap = BareHeap::new();
    // Warm up: fill caches and reach the steady queue depth.
    black_box(run_engine(&mut sim, 10 * EVENTS_PER_ROUND));
    black_box(heap.run(10 * EVENTS_PER_ROUND));
    let mut ratios = Vec::with_capacity(rounds);
    let (mut engine_s, mut heap_s) = (0.0, 0.0);
    for round in 0..rounds {
        // Alternate which side goes first, so neither always gets the
        // warmer cache.
        let (e, h) = if round % 2 == 0 {
            let e = timed(|| black_box(run_engine(&mut sim, EVENTS_PER_ROUND)).as_nanos());
            let h = timed(|| black_box(heap.run(EVENTS_PER_ROUND)) as u64);
            (e, h)
        } else {
            let h = timed(|| black_box(heap.run(EVENTS_PER_ROUND)) as u64);
            let e = timed(|| black_box(run_engine(&mut sim, EVENTS_PER_ROUND)).as_nanos());
            (e, h)
        };
        engine_s += e;
        heap_s += h;
        ratios.push(h / e);
    }
    ratios.sort_by(f64::total_cmp);
    let at = |q: f64| ratios[((ratios.len() - 1) as f64 * q).round() as usize] * 100.0;
    let rate = |s: f64| (rounds as u64 * EVENTS_PER_ROUND) as f64 / s / 1e6;
    println!(
        "engine/bare-heap ratio: median {:.1} % (IQR {:.1}-{:.1} %, {} rounds of {} events); engine {:.2} M events/s, bare heap {:.2} M/s",
        at(0.5),
        at(0.25),
        at(0.75),
        rounds,
        EVENTS_PER_ROUND,
        rate(engine_s),
        rate(heap_s),
    );
}

/// CPU seconds the calling thread spends in `f`.
fn timed<T>(f: impl FnOnce() -> T) -> f64 {
    let start = thread_cpu_seconds();
    black_box(f());
    thread_cpu_seconds() - start
}

/// The calling thread's CPU time so far, in seconds.
fn thread_cpu_seconds() -> f64 {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `now` is a valid, writable timespec; the clock id is a
    // constant every Linux kernel since 2.6.12 supports.
    let status = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut now) };
    assert_eq!(status, 0, "the thread CPU clock is readable");
    now.tv_sec as f64 + now.tv_nsec as f64 * 1e-9
}

//! Refusing runs that cannot fit in memory before they start
//! (`sim run` and `sim check`; `--max-memory`).
//!
//! Each selected run's peak memory is estimated
//! ([`sim::runner::estimate_memory`]); with `--jobs N` the largest `N`
//! estimates run at once (in one process: its base counts once). If that exceeds the limit — `--max-memory`, or
//! what the machine makes available (the least of `MemAvailable`, the
//! process's cgroup memory limit less its usage, and `RLIMIT_AS`) — the
//! command prints the estimate and the limit and runs nothing, instead of
//! a run aborting mid-way with "memory allocation failed". Where the
//! machine says nothing (no `/proc`), only `--max-memory` is checked.

use std::collections::BTreeMap;
use std::path::Path;
use std::str::FromStr;

use sim::runner::{MemoryEstimate, estimate_memory};

use crate::exit::Exit;
use crate::sweep::Planned;

/// Byte units `--max-memory` takes.
const UNITS: &[(&[&str], u64)] = &[
    (&["B"], 1),
    (&["KB", "kB"], 1_000),
    (&["MB"], 1_000_000),
    (&["GB"], 1_000_000_000),
    (&["TB"], 1_000_000_000_000),
    (&["KiB"], 1 << 10),
    (&["MiB"], 1 << 20),
    (&["GiB"], 1 << 30),
    (&["TiB"], 1 << 40),
];

/// `--max-memory`: a size (`"16 GiB"`, `"512MB"`), or `none` for no check.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MaxMemory(pub Option<u64>);

impl FromStr for MaxMemory {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, String> {
        if text.trim() == "none" {
            return Ok(MaxMemory(None));
        }
        let help = "write a size such as \"16 GiB\" or \"3.5GB\" (units B, KB, MB, GB, TB, KiB, MiB, GiB, TiB), or \"none\"";
        let (number, unit) =
            node_logic::time::split_number_unit(text).map_err(|e| format!("{e}; {help}"))?;
        let scale = UNITS
            .iter()
            .find(|(names, _)| names.contains(&unit))
            .map(|(_, scale)| *scale)
            .ok_or_else(|| format!("unknown unit `{unit}` in \"{}\"; {help}", text.trim()))?;
        // A limit need not be exact to the byte: a decimal number of units.
        let value: f64 = number
            .parse()
            .map_err(|_| format!("\"{}\" is not a number of bytes; {help}", text.trim()))?;
        let bytes = value * scale as f64;
        if !bytes.is_finite() || bytes >= u64::MAX as f64 {
            return Err(format!("\"{}\" is too large; {help}", text.trim()));
        }
        Ok(MaxMemory(Some(bytes.round() as u64)))
    }
}

/// Refuses the selected runs of `plan` if the ones that run at once
/// (`threads`, default every core) may not fit: prints the estimate and
/// the limit, and returns [`Exit::InvalidInput`].
pub fn check(plan: &Planned, threads: Option<usize>, flag: Option<MaxMemory>) -> Result<(), Exit> {
    let (limit, source) = match flag {
        Some(MaxMemory(None)) => return Ok(()),
        Some(MaxMemory(Some(bytes))) => (bytes, "--max-memory".to_string()),
        None => match available() {
            Some(found) => found,
            None => return Ok(()),
        },
    };
    let mut estimates: BTreeMap<(usize, Option<String>), (MemoryEstimate, &Path)> = BTreeMap::new();
    let mut sizes = Vec::new();
    for &id in &plan.selected {
        let job = &plan.jobs[id];
        let key = (job.file, job.group.clone());
        if !estimates.contains_key(&key) {
            let Ok(estimate) = estimate_memory(&job.scenario) else {
                // The run itself reports what is wrong with its network.
                continue;
            };
            estimates.insert(key.clone(), (estimate, job.path.as_path()));
        }
        if let Some((estimate, _)) = estimates.get(&key) {
            sizes.push(estimate.total());
        }
    }
    let threads = threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        .max(1);
    sizes.sort_unstable_by(|a, b| b.cmp(a));
    let at_once = threads.min(sizes.len()).max(1);
    // Runs at once share one process: its base is counted once.
    let peak = sizes
        .iter()
        .take(at_once)
        .enumerate()
        .fold(0u64, |sum, (i, s)| {
            let extra = match i {
                0 => *s,
                _ => s.saturating_sub(sim_core::memory::BASE_BYTES),
            };
            sum.saturating_add(extra)
        });
    if peak <= limit {
        return Ok(());
    }
    let largest = estimates.values().max_by_key(|(e, _)| e.total());
    if let Some((estimate, path)) = largest {
        eprintln!("{}", refusal(estimate, path, at_once, peak, limit, &source));
    }
    Err(Exit::InvalidInput)
}

/// The message: the largest run's estimate by part, the peak, the limit,
/// and what to do.
fn refusal(
    estimate: &MemoryEstimate,
    path: &Path,
    at_once: usize,
    peak: u64,
    limit: u64,
    source: &str,
) -> String {
    let parts: Vec<String> = estimate
        .parts
        .iter()
        .map(|(name, bytes)| format!("{name} {}", size(*bytes)))
        .collect();
    let mut text = format!(
        "error: {}: a run needs about {} of memory ({}), ",
        path.display(),
        size(estimate.total()),
        parts.join(", ")
    );
    if at_once > 1 {
        text.push_str(&format!("{at_once} runs at once about {}, ", size(peak)));
    }
    text.push_str(&format!(
        "more than the limit of {} ({source}): it would abort mid-run, so nothing was run\n",
        size(limit)
    ));
    if at_once > 1 {
        text.push_str("  run fewer at once (--jobs 1), ");
    } else {
        text.push_str("  ");
    }
    text.push_str(
        "make the scenario smaller, or, if the estimate is too high for it, \
         raise the limit with --max-memory SIZE (e.g. --max-memory 64GiB; `none` turns the check off)",
    );
    text
}

/// Bytes as GiB or MiB with one decimal.
fn size(bytes: u64) -> String {
    const GIB: f64 = (1u64 << 30) as f64;
    const MIB: f64 = (1u64 << 20) as f64;
    let b = bytes as f64;
    if b >= GIB {
        format!("{:.1} GiB", b / GIB)
    } else {
        format!("{:.1} MiB", b / MIB)
    }
}

/// The memory this process may still use, and where that figure comes
/// from: the least of what the machine reports.
fn available() -> Option<(u64, String)> {
    [
        meminfo().map(|b| (b, "available memory, /proc/meminfo".to_string())),
        cgroup().map(|b| (b, "the cgroup's memory limit less its usage".to_string())),
        address_space().map(|b| (b, "the address-space limit, ulimit -v".to_string())),
    ]
    .into_iter()
    .flatten()
    .min_by_key(|(bytes, _)| *bytes)
}

/// `MemAvailable` of `/proc/meminfo`, in bytes.
fn meminfo() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    kib.checked_mul(1024)
}

/// The memory left under this process's cgroup limit (v2 `memory.max`,
/// or v1 `memory.limit_in_bytes`), if it has one.
fn cgroup() -> Option<u64> {
    let groups = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    let number =
        |path: String| -> Option<u64> { std::fs::read_to_string(path).ok()?.trim().parse().ok() };
    for line in groups.lines() {
        let mut fields = line.splitn(3, ':');
        let (_, controllers, path) = (fields.next()?, fields.next()?, fields.next()?);
        let (limit, usage) = if controllers.is_empty() {
            let dir = format!("/sys/fs/cgroup{path}");
            (
                number(format!("{dir}/memory.max")),
                number(format!("{dir}/memory.current")),
            )
        } else if controllers.split(',').any(|c| c == "memory") {
            let dir = format!("/sys/fs/cgroup/memory{path}");
            (
                number(format!("{dir}/memory.limit_in_bytes")),
                number(format!("{dir}/memory.usage_in_bytes")),
            )
        } else {
            continue;
        };
        // "max" (v2) does not parse; v1 says "no limit" with a huge number.
        if let Some(limit) = limit.filter(|&l| l < 1 << 60) {
            return Some(limit.saturating_sub(usage.unwrap_or(0)));
        }
    }
    None
}

/// `RLIMIT_AS`, when it is set.
fn address_space() -> Option<u64> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit only writes the struct it is given, which lives
    // for the call.
    let ok = unsafe { libc::getrlimit(libc::RLIMIT_AS, &mut limit) } == 0;
    (ok && limit.rlim_cur != libc::RLIM_INFINITY).then_some(limit.rlim_cur)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_with_units_or_none() {
        assert_eq!("16 GiB".parse(), Ok(MaxMemory(Some(16 << 30))));
        assert_eq!("512MB".parse(), Ok(MaxMemory(Some(512_000_000))));
        assert_eq!("1.5 KiB".parse(), Ok(MaxMemory(Some(1536))));
        assert_eq!("3.5GiB".parse(), Ok(MaxMemory(Some(7 << 29))));
        assert_eq!("none".parse(), Ok(MaxMemory(None)));
        for bad in ["", "16", "16 GHz", "lots", "-1 GiB"] {
            assert!(bad.parse::<MaxMemory>().is_err(), "{bad}");
        }
        assert_eq!(size(3 << 29), "1.5 GiB");
        assert_eq!(size(100 << 20), "100.0 MiB");
    }
}

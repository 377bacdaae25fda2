//! The CPU cost model's outputs: `cpu.csv` (one row per host with a CPU)
//! and the `cpu.*` metrics, from what the engine recorded of each host's
//! processing queue ([`sim_core::cpu::CpuRecord`]). Absent when the
//! scenario has no `[cpu]` table.
//!
//! Definitions: a host's utilization is its core time spent serving
//! inputs over its cores times the time from its first boot to the end of
//! the run; `cpu.utilization_max` is the largest over hosts. Queue delay is
//! an input's wait from arrival to service start; `cpu.queue_delay_p95_s`
//! is the 95th percentile over every input of every host (nearest rank,
//! within the histogram's 3.1 % bucket width).

use std::path::Path;

use sim_core::cpu::{CpuRecord, DelayHistogram};
use sim_core::record::{Lifecycle, RunLog};
use sim_core::scenario::{Model, Scenario};
use sim_core::units::{SimDuration, SimTime};

use crate::summary::{Metric, Summary};
use crate::tables::{host_name, rows};
use crate::{ReportError, seconds};

/// The metrics of the CPU model.
pub const CPU_METRICS: &[&str] = &[
    "cpu.utilization_max",
    "cpu.queue_delay_p50_s",
    "cpu.queue_delay_p95_s",
    "cpu.queue_delay_max_s",
    "cpu.inputs_served",
];

/// Each host with a CPU: its index, record and utilization.
fn hosts(log: &RunLog, end: SimTime) -> Vec<(usize, &CpuRecord, f64)> {
    let mut first_boot = vec![None; log.cpu.len()];
    for &(time, host, what) in &log.lifecycle {
        if what == Lifecycle::Started
            && let Some(slot) = first_boot.get_mut(host.index())
        {
            slot.get_or_insert(time);
        }
    }
    log.cpu
        .iter()
        .enumerate()
        .filter(|(_, r)| r.cores > 0)
        .map(|(i, r)| {
            let up = first_boot[i].map_or(SimDuration::ZERO, |t| end.saturating_duration_since(t));
            let capacity = up.as_secs_f64() * f64::from(r.cores);
            let busy = r.busy.as_secs_f64().min(capacity);
            let utilization = if capacity > 0.0 { busy / capacity } else { 0.0 };
            (i, r, utilization)
        })
        .collect()
}

/// Adds the `cpu.*` metrics (none without a CPU model).
pub fn add_metrics(summary: &mut Summary, log: &RunLog, end: SimTime) {
    let hosts = hosts(log, end);
    if hosts.is_empty() {
        return;
    }
    let mut all = DelayHistogram::default();
    let mut served = 0;
    for (_, r, _) in &hosts {
        all.merge(&r.delays);
        served += r.served;
    }
    let max = hosts.iter().map(|h| h.2).fold(0.0, f64::max);
    summary.set("cpu.utilization_max", Metric::Real(max));
    summary.set("cpu.inputs_served", Metric::Count(served));
    let secs = |q: Option<SimDuration>| q.unwrap_or(SimDuration::ZERO).as_secs_f64();
    summary.set(
        "cpu.queue_delay_p50_s",
        Metric::Real(secs(all.quantile(0.5))),
    );
    summary.set(
        "cpu.queue_delay_p95_s",
        Metric::Real(secs(all.quantile(0.95))),
    );
    summary.set(
        "cpu.queue_delay_max_s",
        Metric::Real(all.max().as_secs_f64()),
    );
}

/// Writes `cpu.csv`: one row per host with a CPU (nothing without a CPU
/// model).
pub fn write_csv<M: Model>(
    path: &Path,
    scenario: &Scenario<M>,
    log: &RunLog,
    end: SimTime,
) -> Result<(), ReportError> {
    let hosts = hosts(log, end);
    if hosts.is_empty() {
        return Ok(());
    }
    let quantile = |h: &DelayHistogram, q: f64| {
        seconds(SimTime::from_duration(
            h.quantile(q).unwrap_or(SimDuration::ZERO),
        ))
    };
    rows(
        path,
        &[
            "host",
            "cores",
            "inputs",
            "busy_s",
            "utilization",
            "queue_delay_p50_s",
            "queue_delay_p95_s",
            "queue_delay_max_s",
            "max_queue",
        ],
        hosts.iter().map(|&(i, r, utilization)| {
            let host = node_logic::HostId(i as u32);
            [
                host_name(scenario, host).to_string(),
                r.cores.to_string(),
                r.served.to_string(),
                seconds(SimTime::from_duration(r.busy)),
                format!("{utilization:.6}"),
                quantile(&r.delays, 0.5),
                quantile(&r.delays, 0.95),
                seconds(SimTime::from_duration(r.delays.max())),
                r.max_queue.to_string(),
            ]
        }),
    )
}

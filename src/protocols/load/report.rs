//! The load study's outputs: `transactions.csv`, `mempool.csv`,
//! `transactions_latency_cdf.svg` and the transaction and mempool metrics.
//!
//! Definitions. A transaction is *finalized* when the block carrying it
//! (the leader's `block_txs` record names the block and its transactions)
//! is first finalized by an honest validator; its *latency* runs from its
//! submission to then (`consensus.tx_latency_p50_s`, `_p95_s`, nearest
//! rank, over finalized transactions; those never finalized are
//! `consensus.tx_pending` and count as never reached in the CDF).
//! `consensus.tx_throughput` is the transactions finalized while the load
//! ran (`start` to `stop`) divided by that time, so above capacity it
//! measures capacity. `consensus.tx_rejected` and `mempool.evicted` sum
//! every validator's counters (sampled at each of its finalizations, a
//! restart's new counters added on); `mempool.max_occupancy` is the most
//! transactions one pool held. `consensus.block_propagation_p95_s` runs
//! from a block's proposal (its leader's `block_txs`) until its body
//! reached the last of the other validators that ever took part, over the
//! blocks that reached them all.
//!
//! `transactions.csv` has one row per submitted transaction up to
//! [`CSV_ROWS`]; a run with more keeps every k-th (k the smallest making
//! it fit, by submission order), and says so in its `sampled_every` column.

use std::collections::{BTreeMap, BTreeSet};

use node_logic::protocols::consensus::{ConsensusEvent, Hash32};
use node_logic::protocols::load::LoadEvent;
use node_logic::{HostId, Observation};
use reports::summary::{Metric, Summary};
use reports::tables::{host_name, rows};
use reports::{ReportError, ResultDir, percentile, seconds};
use sim_core::units::SimTime;

use super::reach::Reach;
use super::{LoadPlan, LoadSpec};
use crate::model::Scenario;
use crate::protocols::{PlotContext, ProtocolReport};
use crate::results::Finished;

/// Every metric the load study writes.
pub const METRICS: &[&str] = &[
    "consensus.tx_submitted",
    "consensus.tx_finalized",
    "consensus.tx_pending",
    "consensus.tx_throughput",
    "consensus.tx_latency_p50_s",
    "consensus.tx_latency_p95_s",
    "consensus.tx_rejected",
    "consensus.block_propagation_p95_s",
    "mempool.evicted",
    "mempool.max_occupancy",
    "load.gossip_reach50_s",
    "load.gossip_reach90_s",
    "load.gossip_reach100_s",
];

/// The most rows of `transactions.csv` before it is sampled.
pub const CSV_ROWS: usize = 100_000;

/// One submitted transaction.
#[derive(Clone, Copy, Debug)]
struct Tx {
    submitted: SimTime,
    /// `(time, height)` of its first honest finalization.
    finalized: Option<(SimTime, u64)>,
}

/// One mempool sample.
#[derive(Clone, Copy, Debug)]
struct Sample {
    time: SimTime,
    host: HostId,
    txs: u64,
    bytes: u64,
    peak: u64,
    evicted: u64,
    rejected: u64,
}

/// A validator's counters, restarts added on.
#[derive(Clone, Copy, Debug, Default)]
struct Counters {
    last: (u64, u64),
    total: (u64, u64),
}

impl Counters {
    fn add(&mut self, evicted: u64, rejected: u64) {
        let step = |now: u64, last: u64| if now < last { now } else { now - last };
        self.total.0 += step(evicted, self.last.0);
        self.total.1 += step(rejected, self.last.1);
        self.last = (evicted, rejected);
    }
}

/// What the load did in a run (see the module docs).
#[derive(Debug)]
pub struct LoadReport {
    /// `(client, nonce)` → the transaction.
    txs: BTreeMap<(HostId, u64), Tx>,
    samples: Vec<Sample>,
    counters: BTreeMap<HostId, Counters>,
    /// Per block proposal (payload digest): `(proposed at, latest body
    /// arrival, receivers)`.
    bodies: BTreeMap<Hash32, (SimTime, SimTime, BTreeSet<HostId>)>,
    /// Validators that ever proposed or received a body.
    active: BTreeSet<HostId>,
    window: (SimTime, SimTime),
    /// With `over = "gossip"`: the transactions' reach of the validators.
    reach: Option<Reach>,
}

impl LoadReport {
    /// Reads the run's load and transaction observations.
    pub fn new(spec: &LoadSpec, plan: &LoadPlan, run: &Finished<'_>) -> Self {
        let dishonest = run
            .plans
            .consensus
            .as_ref()
            .map(|c| c.dishonest.clone())
            .unwrap_or_default();
        let start = spec
            .schedule
            .first()
            .map_or(SimTime::ZERO, |s| SimTime::from_duration(s.0));
        let mut report = LoadReport {
            txs: BTreeMap::new(),
            samples: Vec::new(),
            counters: BTreeMap::new(),
            bodies: BTreeMap::new(),
            active: BTreeSet::new(),
            window: (start, SimTime::from_duration(spec.stop)),
            reach: spec
                .over_gossip
                .then(|| Reach::new(&plan.clients, &plan.validators, run)),
        };
        let mut carried: BTreeMap<Hash32, Vec<(HostId, u64)>> = BTreeMap::new();
        for (time, host, observation) in &run.log.observations {
            match observation {
                Observation::Load(LoadEvent::Submitted { nonce, .. }) => {
                    report.txs.entry((*host, *nonce)).or_insert(Tx {
                        submitted: *time,
                        finalized: None,
                    });
                }
                Observation::Consensus(event) => {
                    report.consensus(*time, *host, event, &mut carried, &dishonest)
                }
                Observation::Peers(_)
                | Observation::Registration(_)
                | Observation::Gossip(_)
                | Observation::MessageRejected { .. } => {}
            }
        }
        report
    }

    fn consensus(
        &mut self,
        time: SimTime,
        host: HostId,
        event: &ConsensusEvent,
        carried: &mut BTreeMap<Hash32, Vec<(HostId, u64)>>,
        dishonest: &BTreeSet<HostId>,
    ) {
        match event {
            ConsensusEvent::BlockTxs { hash, payload, txs } => {
                carried.entry(*hash).or_insert_with(|| txs.clone());
                self.bodies
                    .entry(*payload)
                    .or_insert((time, time, BTreeSet::new()));
                self.active.insert(host);
            }
            ConsensusEvent::BodyReceived { payload, .. } => {
                self.active.insert(host);
                if let Some((_, latest, receivers)) = self.bodies.get_mut(payload) {
                    *latest = (*latest).max(time);
                    receivers.insert(host);
                }
            }
            ConsensusEvent::Finalized { height, hash, .. } if !dishonest.contains(&host) => {
                for id in carried.get(hash).into_iter().flatten() {
                    if let Some(tx) = self.txs.get_mut(id)
                        && tx.finalized.is_none()
                    {
                        tx.finalized = Some((time, *height));
                    }
                }
            }
            ConsensusEvent::Mempool {
                txs,
                bytes,
                peak,
                evicted,
                rejected,
            } => {
                self.counters
                    .entry(host)
                    .or_default()
                    .add(*evicted, *rejected);
                self.samples.push(Sample {
                    time,
                    host,
                    txs: *txs,
                    bytes: *bytes,
                    peak: *peak,
                    evicted: *evicted,
                    rejected: *rejected,
                });
            }
            ConsensusEvent::Finalized { .. }
            | ConsensusEvent::Proposed { .. }
            | ConsensusEvent::ViewChange { .. }
            | ConsensusEvent::Equivocation { .. }
            | ConsensusEvent::CaughtUp { .. } => {}
        }
    }

    /// Latencies (seconds) of the finalized transactions, ascending.
    pub fn latencies(&self) -> Vec<f64> {
        let mut l: Vec<f64> = self
            .txs
            .values()
            .filter_map(|tx| tx.finalized.map(|(t, _)| (t - tx.submitted).as_secs_f64()))
            .collect();
        l.sort_by(f64::total_cmp);
        l
    }

    /// Proposal-to-last-receiver times (seconds) of the blocks whose body
    /// reached every other active validator, ascending.
    pub fn propagation(&self) -> Vec<f64> {
        let others = self.active.len().saturating_sub(1);
        let mut p: Vec<f64> = self
            .bodies
            .values()
            .filter(|(_, _, receivers)| others > 0 && receivers.len() >= others)
            .map(|(proposed, latest, _)| (*latest - *proposed).as_secs_f64())
            .collect();
        p.sort_by(f64::total_cmp);
        p
    }

    fn metrics(&self, summary: &mut Summary) {
        let finalized = self.txs.values().filter(|t| t.finalized.is_some()).count() as u64;
        let submitted = self.txs.len() as u64;
        summary.set("consensus.tx_submitted", Metric::Count(submitted));
        summary.set("consensus.tx_finalized", Metric::Count(finalized));
        summary.set("consensus.tx_pending", Metric::Count(submitted - finalized));
        let (start, stop) = self.window;
        let in_window = self
            .txs
            .values()
            .filter(|t| t.finalized.is_some_and(|(f, _)| f >= start && f < stop))
            .count();
        let span = (stop - start).as_secs_f64();
        if span > 0.0 {
            let tps = in_window as f64 / span;
            summary.set("consensus.tx_throughput", Metric::Real(tps));
        }
        let latencies = self.latencies();
        for (name, p) in [("p50", 0.5), ("p95", 0.95)] {
            if let Some(v) = percentile(&latencies, p) {
                summary.set(&format!("consensus.tx_latency_{name}_s"), Metric::Real(v));
            }
        }
        if let Some(v) = percentile(&self.propagation(), 0.95) {
            summary.set("consensus.block_propagation_p95_s", Metric::Real(v));
        }
        let (evicted, rejected) = self
            .counters
            .values()
            .fold((0, 0), |(e, r), c| (e + c.total.0, r + c.total.1));
        summary.set("consensus.tx_rejected", Metric::Count(rejected));
        summary.set("mempool.evicted", Metric::Count(evicted));
        let max = self.samples.iter().map(|s| s.peak.max(s.txs)).max();
        summary.set("mempool.max_occupancy", Metric::Count(max.unwrap_or(0)));
    }

    fn write_transactions(&self, dir: &ResultDir, scenario: &Scenario) -> Result<(), ReportError> {
        let header = [
            "client",
            "nonce",
            "submitted_s",
            "finalized_s",
            "height",
            "latency_s",
            "sampled_every",
        ];
        let every = self.txs.len().div_ceil(CSV_ROWS).max(1);
        let mut by_time: Vec<(&(HostId, u64), &Tx)> = self.txs.iter().collect();
        by_time.sort_by_key(|(id, tx)| (tx.submitted, **id));
        let records = by_time
            .into_iter()
            .step_by(every)
            .map(|((client, nonce), tx)| {
                let (finalized, height, latency) = match tx.finalized {
                    Some((t, h)) => (
                        seconds(t),
                        h.to_string(),
                        seconds(SimTime::from_duration(t - tx.submitted)),
                    ),
                    None => (String::new(), String::new(), String::new()),
                };
                vec![
                    host_name(scenario, *client).to_string(),
                    nonce.to_string(),
                    seconds(tx.submitted),
                    finalized,
                    height,
                    latency,
                    every.to_string(),
                ]
            });
        rows(&dir.file("transactions.csv"), &header, records)
    }

    fn write_mempool(&self, dir: &ResultDir, scenario: &Scenario) -> Result<(), ReportError> {
        let header = [
            "time_s", "host", "txs", "bytes", "peak", "evicted", "rejected",
        ];
        let records = self.samples.iter().map(|s| {
            vec![
                seconds(s.time),
                host_name(scenario, s.host).to_string(),
                s.txs.to_string(),
                s.bytes.to_string(),
                s.peak.to_string(),
                s.evicted.to_string(),
                s.rejected.to_string(),
            ]
        });
        rows(&dir.file("mempool.csv"), &header, records)
    }

    /// The latency CDF: finalized transactions, the rest never reached.
    fn latency_cdf(&self, caption: &str) -> Option<String> {
        let mut values = self.latencies();
        let pending = self.txs.len() - values.len();
        values.extend(std::iter::repeat_n(f64::INFINITY, pending));
        let mut series = vec![("submission to finalization".to_string(), values)];
        let propagation = self.propagation();
        if !propagation.is_empty() {
            series.push(("block propagation".to_string(), propagation));
        }
        reports::plots::cdf_chart(
            "Transaction latency",
            caption,
            ("seconds", "fraction of transactions (blocks)"),
            &series,
        )
    }
}

impl ProtocolReport for LoadReport {
    fn add_metrics(&self, summary: &mut Summary) {
        self.metrics(summary);
        if let Some(reach) = &self.reach {
            reach.add_metrics(summary);
        }
    }
    fn write_tables(&self, dir: &ResultDir, scenario: &Scenario) -> Result<(), ReportError> {
        self.write_transactions(dir, scenario)?;
        self.write_mempool(dir, scenario)
    }
    fn write_plots(&self, dir: &ResultDir, plot: &PlotContext<'_>) -> Result<(), ReportError> {
        let cdf = self.latency_cdf(&plot.caption);
        reports::plots::write_svg(dir, "transactions_latency_cdf.svg", cdf)
    }
}

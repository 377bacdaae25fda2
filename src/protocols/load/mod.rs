//! Client load's driver side: the `[load]` table (who submits, at what
//! rate, to which validators; the validators' mempool and block limits),
//! each client's and validator's configuration, and the transaction
//! report (`report.rs`). The client is `node_logic::protocols::load`; the
//! mempool and blocks with transactions are consensus's
//! (`node_logic::protocols::consensus::{mempool, transaction}`).
//!
//! With `over = "gossip"` each transaction is spread by gossip (the
//! `[gossip]` table, over the peer overlay with its `over = "peers"`)
//! instead of sent to validators, and the report adds the delay until
//! half, 90 % and all of the validators had it (`consensus.tx_reach*_s`).
//!
//! The offered `rate` is the total over all clients, split evenly; the
//! schedule (`rate` from `start`, then each `rates` step) and `stop`
//! bound it. Each client draws from its own stream (`load`, host index),
//! so load changes no other stream of a run.

pub mod ahead;
pub mod reach;
mod report;

use std::path::PathBuf;
use std::rc::Rc;

use node_logic::protocols::consensus::SignatureVerifier;
use node_logic::protocols::consensus::mempool::{Eviction, MempoolConfig};
use node_logic::protocols::consensus::transaction::{MAX_BODY_TX_BYTES, MAX_TX_BYTES, TX_OVERHEAD};
use node_logic::protocols::load::{Arrival, LoadConfig, Submissions};
use node_logic::{HostConfig, HostId, HostNode};
use reports::summary::{Metric, Summary};
use sim_core::checkers::Checker;
use sim_core::engine::Simulation;
use sim_core::rng::{RngStreams, names};
use sim_core::scenario::{self, ErrorKind, Field, HostSpec, Hosts, Section, Table};
use sim_core::units::{SimDuration, SimTime};

use super::consensus::ValidatorSource;
use super::{Plans, Protocol, ProtocolCounters, ProtocolReport, Protocols};
use crate::model::Scenario;
use crate::results::Finished;
use crate::runner::{RunError, RunOptions};

/// Client load (see the module docs).
pub struct Load;

/// The `[load]` table.
#[derive(Clone, Debug, PartialEq)]
pub struct LoadSpec {
    /// The submitting hosts.
    pub clients: Vec<HostId>,
    /// The validators transactions go to (default: every validator).
    pub to: Option<Vec<HostId>>,
    /// Validators each transaction goes to (default: all of `to`).
    pub fanout: Option<u32>,
    /// Offered load, transactions per second over all clients: `(from,
    /// rate)` steps, the first at `start`.
    pub schedule: Vec<(SimDuration, f64)>,
    /// No arrival at or after this.
    pub stop: SimDuration,
    /// Constant or Poisson arrivals.
    pub arrival: Arrival,
    /// Bytes per transaction.
    pub tx_bytes: u32,
    /// Fees are drawn uniformly from 1 to this.
    pub max_fee: u64,
    /// Each validator's pool and blocks.
    pub mempool: MempoolConfig,
    /// Spread transactions by gossip (`over = "gossip"`) instead of
    /// sending them to validators (`"direct"`, the default).
    pub over_gossip: bool,
}

/// Who takes part in a run's load.
#[derive(Debug)]
pub struct LoadPlan {
    /// The submitting hosts, in id order.
    pub clients: Vec<HostId>,
    /// The validators they send to, in id order.
    pub targets: Vec<HostId>,
    /// Every validator (candidate), in id order.
    pub validators: Vec<HostId>,
    /// The thread signing the clients' transactions ahead (`None`: each
    /// client signs its own; [`RunOptions::spare_core`]).
    pub signer: Option<Rc<ahead::Signer>>,
}

impl Protocol for Load {
    type Spec = LoadSpec;
    type Plan = LoadPlan;
    const SECTION: Section = Section {
        name: "load",
        keys: &[
            "clients",
            "to",
            "fanout",
            "rate",
            "rates",
            "start",
            "stop",
            "arrival",
            "tx_bytes",
            "max_fee",
            "mempool_txs",
            "mempool_bytes",
            "eviction",
            "block_txs",
            "block_bytes",
            "over",
        ],
    };
    const METRICS: &'static [&'static str] = report::METRICS;
    const OTHER_PREFIXES: &'static [&'static str] = &["consensus", "mempool"];

    fn parse(
        t: &Table<'_>,
        hosts: &Hosts<'_>,
        earlier: &Protocols,
    ) -> scenario::Result<Option<LoadSpec>> {
        if !t.is_present() {
            return Ok(None);
        }
        let Some(consensus) = &earlier.consensus else {
            return Err(t
                .error(
                    ErrorKind::Conflict,
                    "[load] submits transactions to validators, but the scenario runs no consensus",
                )
                .with_help("add a [consensus] table, or remove [load]"));
        };
        let clients = hosts.index.resolve(&t.required("clients", "\"client\"")?)?;
        let to = match t.get("to") {
            Some(f) => Some(targets(&f, hosts, &consensus.validators)?),
            None => None,
        };
        let count = match (&to, &consensus.validators) {
            (Some(to), _) => to.len(),
            (None, ValidatorSource::Hosts(v)) => v.len(),
            (None, ValidatorSource::Registered) => usize::MAX,
        };
        let fanout = match t.get("fanout") {
            Some(f) => Some(f.u32_in(1, u32::try_from(count).unwrap_or(u32::MAX))?),
            None => None,
        };
        let (schedule, stop) = schedule(t, hosts.duration)?;
        let mempool = mempool(t)?;
        let over_gossip = over_gossip(t, hosts, earlier, &clients, &consensus.validators)?;
        Ok(Some(LoadSpec {
            over_gossip,
            clients,
            to,
            fanout,
            schedule,
            stop,
            arrival: t.choice_or(
                "arrival",
                "arrival process",
                &[
                    ("poisson", Arrival::Poisson),
                    ("constant", Arrival::Constant),
                ],
                Arrival::Poisson,
            )?,
            tx_bytes: t.u32_or("tx_bytes", 250, TX_OVERHEAD as u32, MAX_TX_BYTES as u32)?,
            max_fee: u64::from(t.u32_or("max_fee", 1000, 1, u32::MAX)?),
            mempool,
        }))
    }

    fn input_files(_: &LoadSpec) -> Vec<(&'static str, PathBuf)> {
        Vec::new()
    }
    fn check_files(_: &LoadSpec, _: &Table<'_>) -> scenario::Result<()> {
        Ok(())
    }

    fn plan(
        spec: &LoadSpec,
        scenario: &Scenario,
        options: &RunOptions,
        earlier: &Plans,
    ) -> Result<LoadPlan, RunError> {
        let validators = earlier
            .consensus
            .as_ref()
            .map(|c| c.validators.clone())
            .unwrap_or_default();
        let mut targets = spec.to.clone().unwrap_or_else(|| validators.clone());
        targets.sort_unstable();
        targets.dedup();
        let mut clients = spec.clients.clone();
        clients.sort_unstable();
        clients.dedup();
        let mut plan = LoadPlan {
            clients,
            targets,
            validators,
            signer: None,
        };
        if options.spare_core && !options.check_only && !plan.targets.is_empty() {
            plan.signer = Some(signer(spec, &plan, scenario, options));
        }
        Ok(plan)
    }

    fn configure(
        spec: &LoadSpec,
        plan: &LoadPlan,
        plans: &Plans,
        host: &HostSpec,
        mut config: HostConfig,
        streams: &RngStreams,
    ) -> HostConfig {
        if let Some(setup) = config.consensus.as_mut() {
            setup.mempool = Some(spec.mempool);
        }
        if plan.clients.binary_search(&host.id).is_err() || plan.targets.is_empty() {
            return config;
        }
        let mut load = client_config(spec, plan, host.id, streams);
        load.verifier = plans
            .consensus
            .as_ref()
            .and_then(|c| c.cache.clone())
            .map(|c| c as Rc<dyn SignatureVerifier>);
        if let (Some(signer), Ok(index)) = (&plan.signer, plan.clients.binary_search(&host.id)) {
            load.signatures = Some(Rc::new(signer.client(index)));
        }
        config.with_load(load)
    }

    fn shared_files(_: &LoadSpec, _: &LoadPlan) -> Vec<(String, Vec<u8>)> {
        Vec::new()
    }
    fn checkers(_: &LoadSpec, _: &LoadPlan, _: &Scenario) -> Vec<Box<dyn Checker>> {
        Vec::new()
    }
    fn prepare(_: &LoadSpec, _: &LoadPlan, _: &Scenario, _: &mut Simulation<HostNode>) {}

    fn node_counters(_: &HostNode, _: &mut ProtocolCounters) {}

    fn report<'a>(
        spec: &'a LoadSpec,
        plan: &'a LoadPlan,
        run: &Finished<'a>,
    ) -> Box<dyn ProtocolReport + 'a> {
        Box::new(report::LoadReport::new(spec, plan, run))
    }

    /// Each validator's pool (full, with its entry and order overhead of
    /// about 200 bytes per transaction) and up to 16 bodies held; per
    /// submitted transaction (at the highest rate for the whole load) its
    /// `submitted` observation, its place in a `block_txs` record and the
    /// report's row: about 200 bytes.
    fn memory(spec: &LoadSpec, scenario: &Scenario) -> u64 {
        let validators = scenario
            .protocols
            .consensus
            .as_ref()
            .map_or(0, |c| match &c.validators {
                ValidatorSource::Hosts(hosts) => hosts.len() as u64,
                ValidatorSource::Registered => scenario
                    .protocols
                    .registration
                    .as_ref()
                    .map_or(0, |r| r.miners.len() as u64),
            });
        let m = &spec.mempool;
        let held = (m.max_txs as u64).min(m.max_bytes as u64 / u64::from(spec.tx_bytes).max(1));
        let pool = held * (u64::from(spec.tx_bytes) + 200) + 16 * m.block_bytes as u64;
        let rate = spec.schedule.iter().map(|s| s.1).fold(0.0, f64::max);
        let span = spec.stop.saturating_sub(spec.schedule[0].0).as_secs_f64();
        let txs = (rate * span).ceil() as u64;
        validators
            .saturating_mul(pool)
            .saturating_add(txs.saturating_mul(200))
    }

    fn digest(summary: &Summary) -> Option<String> {
        let get = |name: &str| summary.get(name).and_then(Metric::as_f64);
        let submitted = get("consensus.tx_submitted")?;
        let mut line = format!(
            "load: {submitted} transactions submitted, {} finalized",
            get("consensus.tx_finalized").unwrap_or(0.0)
        );
        if let Some(tps) = get("consensus.tx_throughput") {
            line.push_str(&format!(", {tps:.1} tx/s"));
        }
        if let Some(p95) = get("consensus.tx_latency_p95_s") {
            line.push_str(&format!(", latency p95 {p95:.3} s"));
        }
        if let Some(evicted) = get("mempool.evicted") {
            line.push_str(&format!(", {evicted} evicted"));
        }
        Some(line)
    }
}

/// `over`: `"direct"` (default) or `"gossip"`, which needs a `[gossip]`
/// table whose members include every client and every validator, and
/// takes no `to` or `fanout` (they would do nothing).
fn over_gossip(
    t: &Table<'_>,
    hosts: &Hosts<'_>,
    earlier: &Protocols,
    clients: &[HostId],
    validators: &ValidatorSource,
) -> scenario::Result<bool> {
    let Some(f) = t.get("over") else {
        return Ok(false);
    };
    if !f.choice("transaction path", &[("direct", false), ("gossip", true)])? {
        return Ok(false);
    }
    let Some(gossip) = &earlier.gossip else {
        return Err(f
            .invalid("`over = \"gossip\"` needs gossip, which does not run here")
            .with_help("add a [gossip] table (with `over = \"peers\"` to use the peer overlay)"));
    };
    for key in ["to", "fanout"] {
        if let Some(k) = t.get(key) {
            return Err(k
                .invalid(format!(
                    "`{key}` chooses validators to send to, but `over = \"gossip\"` sends to none"
                ))
                .with_help(format!("remove `{key}`, or use `over = \"direct\"`")));
        }
    }
    let validators = match validators {
        ValidatorSource::Hosts(v) => v.as_slice(),
        ValidatorSource::Registered => &[],
    };
    let outside = clients
        .iter()
        .chain(validators)
        .find(|h| !gossip.members.contains(h));
    if let Some(h) = outside {
        return Err(f
            .invalid(format!(
                "`{}` is not a gossip member, so transactions would not travel through it",
                hosts.index.name(*h)
            ))
            .with_help("make [gossip] `members` include every load client and validator"));
    }
    Ok(true)
}

/// `to`: validators (or, with `validators = "registered"`, miners).
fn targets(
    f: &Field<'_>,
    hosts: &Hosts<'_>,
    source: &ValidatorSource,
) -> scenario::Result<Vec<HostId>> {
    let to = hosts.index.resolve(f)?;
    if let ValidatorSource::Hosts(validators) = source
        && let Some(h) = to.iter().find(|h| !validators.contains(h))
    {
        return Err(f
            .invalid(format!(
                "`{}` is not a consensus validator",
                hosts.index.name(*h)
            ))
            .with_help("send transactions to validators named in [consensus] `validators`"));
    }
    Ok(to)
}

/// The rate schedule and the stop time.
fn schedule(
    t: &Table<'_>,
    duration: SimDuration,
) -> scenario::Result<(Vec<(SimDuration, f64)>, SimDuration)> {
    let rate_of = |f: &Field<'_>| -> scenario::Result<f64> {
        let rate = f.f64()?;
        if !(0.0..=10_000_000.0).contains(&rate) {
            return Err(f
                .invalid(format!("rate {rate} is out of range"))
                .with_help("give transactions per second over all clients, 0 to 10,000,000"));
        }
        Ok(rate)
    };
    let rate_field = t.required("rate", "1000")?;
    let start = t.duration_or("start", SimDuration::ZERO)?;
    let stop = t.duration_or("stop", duration)?;
    if start >= stop || stop > duration {
        let f = t
            .get("stop")
            .or_else(|| t.get("start"))
            .unwrap_or(rate_field.clone());
        return Err(f
            .invalid(format!("the load must start before it stops, within the run ({start} .. {stop}, duration {duration})"))
            .with_help("give `start` < `stop` <= `duration`"));
    }
    let mut schedule = vec![(start, rate_of(&rate_field)?)];
    if let Some(steps) = t.get("rates") {
        for step in steps.array()? {
            let table = step.table("a [load] `rates` step", &["at", "rate"])?;
            let at = table.required("at", "\"60 s\"")?;
            let when = at.duration()?;
            if when <= schedule.last().map_or(start, |s| s.0) || when >= stop {
                return Err(at
                    .invalid(format!("a rate step at {when} is not after the previous one and before `stop` ({stop})"))
                    .with_help("list the steps in time order, after `start` and before `stop`"));
            }
            schedule.push((when, rate_of(&table.required("rate", "500")?)?));
        }
    }
    if schedule.iter().all(|s| s.1 == 0.0) {
        return Err(rate_field
            .invalid("every rate of the load is 0: [load] would submit nothing")
            .with_help("give a rate above 0, or remove [load]"));
    }
    Ok((schedule, stop))
}

/// The validators' pool and block limits.
fn mempool(t: &Table<'_>) -> scenario::Result<MempoolConfig> {
    let max = MAX_BODY_TX_BYTES as u32;
    Ok(MempoolConfig {
        max_txs: t.u32_or("mempool_txs", 10_000, 1, 10_000_000)? as usize,
        max_bytes: t.u32_or("mempool_bytes", 8 << 20, TX_OVERHEAD as u32, u32::MAX)? as usize,
        eviction: t.choice_or(
            "eviction",
            "eviction policy",
            &[
                ("oldest", Eviction::Oldest),
                ("lowest-fee", Eviction::LowestFee),
            ],
            Eviction::Oldest,
        )?,
        block_txs: t.u32_or("block_txs", 1000, 1, max)? as usize,
        block_bytes: t.u32_or("block_bytes", max, TX_OVERHEAD as u32, max)? as usize,
    })
}

/// Client `me`'s settings (no verifier and no signatures made ahead: the
/// caller adds what it has).
fn client_config(spec: &LoadSpec, plan: &LoadPlan, me: HostId, streams: &RngStreams) -> LoadConfig {
    let share = 1.0 / plan.clients.len() as f64;
    let at = SimTime::from_duration;
    LoadConfig {
        me,
        targets: plan.targets.clone(),
        fanout: spec.fanout.map_or(plan.targets.len(), |f| f as usize),
        tx_bytes: spec.tx_bytes as usize,
        fee: (1, spec.max_fee),
        arrival: spec.arrival,
        schedule: spec
            .schedule
            .iter()
            .map(|&(t, r)| (at(t), r * share))
            .collect(),
        stop: at(spec.stop),
        seed: streams.seed_bytes(names::LOAD, u64::from(me.0)),
        over_gossip: spec.over_gossip,
        verifier: None,
        signatures: None,
    }
}

/// Starts the thread that signs every client's transactions ahead
/// ([`ahead`]), with each client's key ([`crate::runner::identity`]'s) and
/// submissions.
fn signer(
    spec: &LoadSpec,
    plan: &LoadPlan,
    scenario: &Scenario,
    options: &RunOptions,
) -> Rc<ahead::Signer> {
    let streams = RngStreams::new(scenario.seed);
    let keys = crate::runner::keypairs(&streams, &plan.clients, options.parallel_keys, |_, _| {});
    let clients = keys
        .into_iter()
        .zip(&plan.clients)
        .map(|(keys, &me)| {
            let config = client_config(spec, plan, me, &streams);
            (keys, Submissions::of(&config))
        })
        .collect();
    ahead::Signer::start(clients)
}

//! BFT consensus's driver side: the `[consensus]` table, the validator set
//! (fixed, or the miners the wallet registry accepts), each validator's
//! configuration, the run's signature cache, the invariant checkers
//! (agreement, validity, monotonic heights, liveness), the `byzantine`
//! fault kind, the `consensus.*` metrics, its CSV tables and plot. The
//! state machine is `node_logic::protocols::consensus`.

pub mod byzantine;
pub mod checks;
pub mod plots;
pub mod report;
pub mod schedules;
pub mod sigcache;
pub mod timing;

use std::collections::BTreeSet;
use std::rc::Rc;

use node_logic::identity::PublicKey;
use node_logic::protocols::consensus::validator::{CHAIN_RETAIN, SYNC_HISTORY};
use node_logic::protocols::consensus::{
    ConsensusConfig, ConsensusRole, ConsensusSetup, MAX_VALIDATORS, RegistryConsensus,
    SignatureVerifier, quorum,
};
use node_logic::{HostConfig, HostId, HostNode};
use reports::summary::Summary;
use sim_core::checkers::Checker;
use sim_core::engine::{FaultAction, Simulation};
use sim_core::rng::RngStreams;
use sim_core::scenario::{self, DeValue, ErrorKind, Field, HostSpec, Hosts, Role, Section, Table};
use sim_core::units::SimDuration;

use super::registration::Expected;
use super::{Plans, Protocol, ProtocolCounters, ProtocolReport, Protocols};
use crate::model::Scenario;
use crate::results::Finished;
use crate::runner::{RunError, RunOptions, identity};
use checks::{ConsensusChecks, LivenessRule};
use sigcache::SignatureCache;

/// BFT consensus (see the module docs).
pub struct Consensus;

/// Which hosts validate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ValidatorSource {
    /// These hosts (a group or host references).
    Hosts(Vec<HostId>),
    /// The miners accepted by the wallet registry.
    Registered,
}

/// The `[consensus]` table.
#[derive(Clone, Debug, PartialEq)]
pub struct ConsensusSpec {
    /// Who validates.
    pub validators: ValidatorSource,
    /// Fewer active validators than this: no blocks (default 3).
    pub min_validators: u32,
    /// Target time between blocks (default 5 s).
    pub block_interval: SimDuration,
    /// Leader timeout before a view change (default 10 s).
    pub view_timeout: SimDuration,
    /// The ceiling the view timeout doubles up to (`None`: the default of
    /// [`timing::default_max_view_timeout`], from the network).
    pub max_view_timeout: Option<SimDuration>,
    /// After the last fault heals, a new block must finalize within this,
    /// else the run stops with a liveness failure (`None`: the default of
    /// [`timing::default_liveness_bound`]).
    pub liveness_bound: Option<SimDuration>,
    /// TEST ONLY: a quorum below 2f+1, to prove the agreement checker trips
    /// on an unsafe protocol. Never set it in a study.
    pub unsafe_quorum: Option<u32>,
}

/// The consensus side of a run.
#[derive(Debug)]
pub struct ConsensusPlan {
    /// The validators (with `validators = "registered"`: the candidate
    /// miners), in id order.
    pub validators: Vec<HostId>,
    /// Whether the validators come from the wallet registry.
    pub from_registry: bool,
    /// Each fixed validator's public key, in id order (empty when the
    /// validators come from the registry).
    pub keys: Vec<(HostId, PublicKey)>,
    /// Validators a `byzantine` fault touches (not held to agreement).
    pub dishonest: BTreeSet<HostId>,
    /// The run's signature cache (`None` with the cache off).
    pub cache: Option<Rc<SignatureCache>>,
    /// The longest one-way delay between two validators
    /// ([`timing::network_delay`]).
    pub network_delay: SimDuration,
    /// The view-timeout ceiling the validators run with.
    pub max_view_timeout: SimDuration,
    /// The liveness bound the checker holds the run to.
    pub liveness_bound: SimDuration,
}

impl Protocol for Consensus {
    type Spec = ConsensusSpec;
    type Plan = ConsensusPlan;
    const SECTION: Section = Section {
        name: "consensus",
        keys: &[
            "validators",
            "min_validators",
            "block_interval",
            "view_timeout",
            "max_view_timeout",
            "liveness_bound",
            "unsafe_quorum",
        ],
    };
    const METRICS: &'static [&'static str] = &[
        "consensus.blocks_finalized",
        "consensus.first_block_s",
        "consensus.finality_p50_s",
        "consensus.finality_p95_s",
        "consensus.view_changes",
        "consensus.safety_violations",
        "consensus.equivocations",
        "consensus.signature_checks",
        "consensus.signature_requests",
        "consensus.first_block_reached",
        "consensus.max_gap_s",
        "consensus.recovery_s",
        "consensus.recovery_reached",
    ];

    fn parse(
        t: &Table<'_>,
        hosts: &Hosts<'_>,
        earlier: &Protocols,
    ) -> scenario::Result<Option<ConsensusSpec>> {
        if !t.is_present() {
            return Ok(None);
        }
        let validators = match t.get("validators") {
            Some(f) => validator_source(&f, hosts, earlier)?,
            None => default_validators(t, hosts)?,
        };
        let min_validators = t.u32_or("min_validators", 3, 1, u32::MAX)?;
        match &validators {
            ValidatorSource::Hosts(set) => check_validator_count(t, set, min_validators)?,
            ValidatorSource::Registered => check_registry_size(t, earlier, min_validators)?,
        }
        let block_interval = t.positive_duration_or("block_interval", SimDuration::from_secs(5))?;
        let view_timeout = t.positive_duration_or("view_timeout", SimDuration::from_secs(10))?;
        let max_view_timeout = max_view_timeout(t, view_timeout)?;
        let liveness_bound = match t.get("liveness_bound") {
            Some(_) => Some(t.positive_duration_or("liveness_bound", SimDuration::ZERO)?),
            None => None,
        };
        let unsafe_quorum = match t.get("unsafe_quorum") {
            Some(_) => Some(t.u32_or("unsafe_quorum", 0, 1, u32::MAX)?),
            None => None,
        };
        Ok(Some(ConsensusSpec {
            validators,
            min_validators,
            block_interval,
            view_timeout,
            max_view_timeout,
            liveness_bound,
            unsafe_quorum,
        }))
    }

    fn input_files(_: &ConsensusSpec) -> Vec<(&'static str, std::path::PathBuf)> {
        Vec::new()
    }
    fn check_files(_: &ConsensusSpec, _: &Table<'_>) -> scenario::Result<()> {
        Ok(())
    }

    fn plan(
        spec: &ConsensusSpec,
        scenario: &Scenario,
        options: &RunOptions,
        earlier: &Plans,
    ) -> Result<ConsensusPlan, RunError> {
        let mut validators = match &spec.validators {
            ValidatorSource::Hosts(hosts) => hosts.clone(),
            // The candidates: every miner (the registry decides who validates).
            ValidatorSource::Registered => earlier
                .registration
                .as_ref()
                .map(|r| r.miners.iter().map(|(_, h)| *h).collect())
                .unwrap_or_default(),
        };
        validators.sort_unstable();
        validators.dedup();
        // Validators a fault makes misbehave are not held to agreement.
        let streams = RngStreams::new(scenario.seed);
        let dishonest = crate::faults::each(scenario, &streams)
            .flat_map(|(fault, cx)| match fault.effects().action(&cx) {
                FaultAction::Misbehave { hosts } => hosts,
                FaultAction::Network(_)
                | FaultAction::Crash { .. }
                | FaultAction::ClockSkew { .. }
                | FaultAction::DamageFiles { .. }
                | FaultAction::StorageOutage { .. } => Vec::new(),
            })
            .collect();
        let cache = options
            .signature_cache
            .then(|| Rc::new(SignatureCache::new()));
        let from_registry = spec.validators == ValidatorSource::Registered;
        let keys = match from_registry {
            true => Vec::new(),
            false => validators
                .iter()
                .map(|h| (*h, identity(&streams, *h).public_key()))
                .collect(),
        };
        let network_delay = timing::network_delay(scenario, &validators)?;
        let max_view_timeout = spec
            .max_view_timeout
            .unwrap_or_else(|| timing::default_max_view_timeout(spec.view_timeout, network_delay));
        let liveness_bound = spec.liveness_bound.unwrap_or_else(|| {
            let timing = timing::Timing {
                block_interval: spec.block_interval,
                view_timeout: spec.view_timeout,
                delay: network_delay,
            };
            timing::default_liveness_bound(validators.len(), timing, max_view_timeout)
        });
        Ok(ConsensusPlan {
            validators,
            from_registry,
            keys,
            dishonest,
            cache,
            network_delay,
            max_view_timeout,
            liveness_bound,
        })
    }

    fn configure(
        spec: &ConsensusSpec,
        plan: &ConsensusPlan,
        plans: &Plans,
        host: &HostSpec,
        config: HostConfig,
        _: &RngStreams,
    ) -> HostConfig {
        if plan.validators.binary_search(&host.id).is_err() {
            return config;
        }
        let template = ConsensusConfig {
            me: host.id,
            validators: Vec::new(),
            block_interval: spec.block_interval,
            view_timeout: spec.view_timeout,
            max_view_timeout: plan.max_view_timeout,
            min_validators: spec.min_validators,
            quorum_override: spec.unsafe_quorum,
        };
        let role = match &spec.validators {
            ValidatorSource::Hosts(_) => ConsensusRole::Validator(ConsensusConfig {
                validators: plan.keys.clone(),
                ..template
            }),
            ValidatorSource::Registered => ConsensusRole::FromRegistry(RegistryConsensus {
                template,
                candidates: candidates(plans),
            }),
        };
        let verifier = plan.cache.clone().map(|c| c as Rc<dyn SignatureVerifier>);
        config.with_consensus(ConsensusSetup::new(role, verifier))
    }

    fn shared_files(_: &ConsensusSpec, _: &ConsensusPlan) -> Vec<(String, Vec<u8>)> {
        Vec::new()
    }

    fn checkers(
        _: &ConsensusSpec,
        plan: &ConsensusPlan,
        scenario: &Scenario,
    ) -> Vec<Box<dyn Checker>> {
        let names = scenario.hosts.iter().map(|h| h.name.clone()).collect();
        vec![Box::new(ConsensusChecks::new(
            plan.validators.iter().copied(),
            plan.dishonest.iter().copied(),
            names,
            liveness(plan, scenario),
        ))]
    }

    /// Schedules the liveness checker's deadlines.
    fn prepare(
        _: &ConsensusSpec,
        plan: &ConsensusPlan,
        scenario: &Scenario,
        sim: &mut Simulation<HostNode>,
    ) {
        if let Some(rule) = liveness(plan, scenario) {
            sim.schedule_deadline(rule.healed_at);
            sim.schedule_deadline(rule.healed_at + rule.bound);
        }
    }

    fn node_counters(node: &HostNode, counters: &mut ProtocolCounters) {
        if let Some(v) = node.validator() {
            *counters
                .entry("consensus.signature_requests".to_string())
                .or_default() += v.verifications();
        }
    }

    fn report<'a>(
        _: &'a ConsensusSpec,
        plan: &'a ConsensusPlan,
        run: &Finished<'a>,
    ) -> Box<dyn ProtocolReport + 'a> {
        let honest: BTreeSet<HostId> = plan
            .validators
            .iter()
            .copied()
            .filter(|v| !plan.dishonest.contains(v))
            .collect();
        let mut report =
            report::ConsensusReport::new(run.log, &honest, u64::from(run.safety_violated));
        let requests = run
            .counters
            .get("consensus.signature_requests")
            .copied()
            .unwrap_or(0);
        let checks = plan.cache.as_ref().map_or(requests, |c| c.checks());
        report.signatures = Some((requests, checks));
        report.end = run.end;
        report.recovery_from = crate::faults::liveness_start(run.scenario);
        Box::new(report)
    }

    fn digest(summary: &Summary) -> Option<String> {
        report::digest(summary)
    }

    /// See [`memory`].
    fn memory(spec: &ConsensusSpec, scenario: &Scenario) -> u64 {
        let n = match &spec.validators {
            ValidatorSource::Hosts(hosts) => hosts.iter().collect::<BTreeSet<_>>().len(),
            ValidatorSource::Registered => scenario
                .protocols
                .registration
                .as_ref()
                .map_or(0, |r| r.miners.len().min(MAX_VALIDATORS)),
        };
        let blocks = scenario.duration.as_nanos() / spec.block_interval.as_nanos().max(1) + 1;
        memory(n as u64, blocks)
    }
}

/// Consensus memory for `n` validators finalizing at most `blocks` blocks.
/// Each validator keeps the last [`SYNC_HISTORY`] blocks with their commit
/// certificates (a quorum of signed votes, 230 bytes each), up to
/// `2 × CHAIN_RETAIN` block hashes, and per height at most `8 n` buffered
/// messages and a view change per validator; per block the run records
/// every validator's finalization and caches each distinct signature
/// (about 3 n of them): 450 bytes per validator and block. Measured:
/// consensus-100 (100 validators, 103 blocks) takes 176 MiB, estimated
/// 180 MiB (189 MiB with the engine's part).
pub fn memory(n: u64, blocks: u64) -> u64 {
    let q = quorum(n as usize) as u64;
    let history = blocks
        .min(SYNC_HISTORY as u64)
        .saturating_mul(q * 230 + 200);
    let chain = blocks.min(2 * CHAIN_RETAIN as u64).saturating_mul(32);
    let round = n.saturating_mul(8 * 230 + 500);
    let per_validator = history.saturating_add(chain).saturating_add(round);
    n.saturating_mul(per_validator)
        .saturating_add(blocks.saturating_mul(n).saturating_mul(450))
}

/// When `scenario` owes liveness and within what bound (`None` without
/// consensus, or when a fault never ends).
pub fn liveness_rule(scenario: &Scenario) -> Option<LivenessRule> {
    let plans = scenario
        .protocols
        .plans(scenario, &RunOptions::default())
        .ok()?;
    liveness(plans.consensus.as_ref()?, scenario)
}

/// When liveness is owed and within what bound: from the end of the last
/// fault (never, if one never ends).
fn liveness(plan: &ConsensusPlan, scenario: &Scenario) -> Option<LivenessRule> {
    crate::faults::liveness_start(scenario).map(|healed_at| LivenessRule {
        healed_at,
        bound: plan.liveness_bound,
        quorum: quorum(plan.validators.len()),
    })
}

/// `max_view_timeout`, if set: at least `view_timeout`.
fn max_view_timeout(
    t: &Table<'_>,
    view_timeout: SimDuration,
) -> scenario::Result<Option<SimDuration>> {
    let Some(f) = t.get("max_view_timeout") else {
        return Ok(None);
    };
    let max = t.positive_duration_or("max_view_timeout", view_timeout)?;
    if max < view_timeout {
        return Err(f
            .invalid(format!(
                "`max_view_timeout` ({max}) is shorter than `view_timeout` ({view_timeout})"
            ))
            .with_help("the view timeout doubles from `view_timeout` up to this ceiling"));
    }
    Ok(Some(max))
}

/// `validators = "registered"` or a host reference.
fn validator_source(
    f: &Field<'_>,
    hosts: &Hosts<'_>,
    earlier: &Protocols,
) -> scenario::Result<ValidatorSource> {
    if !matches!(f.value(), DeValue::String(s) if s.as_ref() == "registered") {
        return Ok(ValidatorSource::Hosts(hosts.index.resolve(f)?));
    }
    let miners = earlier.registration.as_ref().map_or(0, |r| r.miners.len());
    if miners == 0 {
        return Err(f
            .invalid("`validators = \"registered\"`, but the scenario has no miners to register")
            .with_note("the validators come from the miners the registrars accept")
            .with_help(
                "add a group with `role = \"miner\"` and one with `role = \"registrar\"` or \
                 `\"validator\"`, or name the validators",
            ));
    }
    Ok(ValidatorSource::Registered)
}

/// Every `validator` host, when `validators` is left out.
fn default_validators(t: &Table<'_>, hosts: &Hosts<'_>) -> scenario::Result<ValidatorSource> {
    let validators = hosts.with_roles(&[Role::Validator]);
    if validators.is_empty() {
        return Err(t
            .error(
                ErrorKind::MissingKey,
                "[consensus] has no validators: no host group has role \"validator\"",
            )
            .with_help(
                "add a group with `role = \"validator\"`, or set `validators` to a \
                 group, a list of hosts, or \"registered\"",
            ));
    }
    Ok(ValidatorSource::Hosts(validators))
}

/// A validator set consensus can run with: at most [`MAX_VALIDATORS`],
/// and at least `min_validators` (and 3).
fn check_validator_count(t: &Table<'_>, set: &[HostId], min: u32) -> scenario::Result<()> {
    let n = set.iter().collect::<BTreeSet<_>>().len();
    let at = |key: &str, message: String| match t.get(key) {
        Some(f) => f.invalid(message),
        None => t.error(ErrorKind::InvalidValue, message),
    };
    if n > MAX_VALIDATORS {
        return Err(at(
            "validators",
            format!(
                "{n} validators, but consensus supports at most {MAX_VALIDATORS} (a new-view message must fit {} KiB)",
                node_logic::codec::MAX_MESSAGE / 1024
            ),
        )
        .with_help(format!("name at most {MAX_VALIDATORS} validators")));
    }
    let needed = min.max(3) as usize;
    if n < needed {
        let key = match t.get("min_validators") {
            Some(_) => "min_validators",
            None => "validators",
        };
        return Err(at(
            key,
            format!(
                "{n} validators, but consensus needs at least {needed} (`min_validators` is {min}, and never below 3): it would never finalize a block"
            ),
        )
        .with_help("add validators, or lower `min_validators`"));
    }
    Ok(())
}

/// With `validators = "registered"`: a registry that can hold enough
/// validators. The registrars announce once they accept `expected` miners
/// (all of them by default), so fewer than `max(3, min_validators)`
/// miners, or a smaller `expected`, would leave consensus idle.
fn check_registry_size(t: &Table<'_>, earlier: &Protocols, min: u32) -> scenario::Result<()> {
    let Some(registration) = earlier.registration.as_ref() else {
        return Ok(());
    };
    let needed = min.max(3);
    let miners = u32::try_from(registration.miners.len()).unwrap_or(u32::MAX);
    let (size, what) = match registration.expected {
        Expected::Count(n) if n < miners => (n, format!("`registration.expected` is {n}")),
        Expected::Count(_) | Expected::All => (miners, format!("the scenario has {miners} miners")),
    };
    if size >= needed {
        return Ok(());
    }
    let key = match t.get("min_validators") {
        Some(_) => "min_validators",
        None => "validators",
    };
    let message = format!(
        "`validators = \"registered\"`, but {what}: the registry can name fewer than the {needed} validators consensus needs (`min_validators` is {min}, and never below 3), so it would never finalize a block"
    );
    let err = match t.get(key) {
        Some(f) => f.invalid(message),
        None => t.error(ErrorKind::InvalidValue, message),
    };
    Err(err.with_help("add miners, raise `registration.expected`, or lower `min_validators`"))
}

/// With `validators = "registered"`: every miner, with its pinned key
/// (the plan already derived them as the registration's ground truth).
fn candidates(plans: &Plans) -> Vec<(String, HostId, PublicKey)> {
    let Some(plan) = &plans.registration else {
        return Vec::new();
    };
    plan.miners
        .iter()
        .filter_map(|(agent, host)| Some((agent.clone(), *host, plan.truth.get(agent)?.key?)))
        .collect()
}

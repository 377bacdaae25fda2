//! Wallet registration's driver side: the `[registration]` table, the run
//! plan (who mines, who waits, the ground truth of every wallet), each
//! host's role, the legacy registry placed in the shared directory, the
//! invariant checkers (no forged wallet accepted; every live miner
//! registered when recovery is on), the `corrupt` fault kind, the `registration.*` metrics, its CSV tables and
//! plots. The state machines are `node_logic::protocols::registration`.

pub mod checks;
pub mod corrupt;
pub mod hierarchy;
pub mod legacy;
pub mod plan;
pub mod plots;
pub mod report;

use std::path::PathBuf;
use std::rc::Rc;

use node_logic::io::WriteMode;
use node_logic::protocols::registration::{
    MinerConfig, Ownership, RegistrarConfig, RegistrationRole, ShardConfig, Strategy,
};
use node_logic::{HostConfig, HostId, HostNode};
use reports::summary::Summary;
use sim_core::checkers::Checker;
use sim_core::engine::Simulation;
use sim_core::fs::FsConfig;
use sim_core::rng::RngStreams;
use sim_core::scenario::{
    self, DeValue, ErrorKind, Field, HostSpec, Hosts, Role, Section, StartSpec, Table,
};
use sim_core::units::{SimDuration, SimTime};

use super::{Plans, Protocol, ProtocolCounters, ProtocolReport, Protocols};
use crate::model::Scenario;
use crate::protocols::consensus::sigcache::SignatureCache;
use crate::results::Finished;
use crate::runner::{RunError, RunOptions};
use plan::{Keys, LEGACY_REGISTRY_FILE, RegistrationPlan};

/// Wallet registration (see the module docs).
pub struct Registration;

/// How registrars wait for miners.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RegistrationStrategy {
    /// Fixed interval (`poll_interval`).
    Poll,
    /// Exponential backoff with cap and jitter.
    Backoff,
    /// Directory change notifications plus a slow safety poll.
    Watch,
    /// Backoff with intervals (and, unless set, the timeout) chosen from
    /// the number of miners expected: see [`auto_intervals`].
    Auto,
}

/// How many miners registrars wait for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expected {
    /// Every miner in the scenario.
    All,
    /// This many.
    Count(u32),
}

/// The `[registration]` table; defaults are the findings' recommendations.
#[derive(Clone, Debug, PartialEq)]
pub struct RegistrationSpec {
    /// Hosts that write a registration file (default: role `miner`).
    pub miners: Vec<HostId>,
    /// Hosts that wait for the miners (default: roles `registrar` and `validator`).
    pub registrars: Vec<HostId>,
    /// Waiting strategy (default `backoff`).
    pub strategy: RegistrationStrategy,
    /// `poll`: fixed interval (default 10 s).
    pub poll_interval: SimDuration,
    /// `backoff`: first interval (default 1 s).
    pub initial_interval: SimDuration,
    /// `backoff`: growth factor (default 1.5, must be >= 1).
    pub multiplier: f64,
    /// `backoff`: cap (default 10 s).
    pub max_interval: SimDuration,
    /// `backoff`: jitter added to each interval, uniform in `0..=jitter` (default 500 ms).
    pub jitter: SimDuration,
    /// Give up waiting after this long (default 300 s).
    pub timeout: SimDuration,
    /// How many miners to wait for (default all).
    pub expected: Expected,
    /// Recover damaged files (default true); false is the log-and-skip baseline.
    pub recover: bool,
    /// Temp file + rename (default true); false allows torn writes.
    pub atomic_writes: bool,
    /// With in-place writes: how long a damaged read must persist before
    /// it counts as damage (default 100 ms).
    pub settle: SimDuration,
    /// What file operations cost in the shared directory.
    pub fs: FsConfig,
    /// How often registrars report progress (default 10 s).
    pub progress_interval: SimDuration,
    /// `watch`: the slow safety poll (default 30 s).
    pub safety_poll: SimDuration,
    /// A legacy `agent_registry.json` to merge, resolved against the scenario folder.
    pub legacy_registry: Option<PathBuf>,
    /// With `recover`, every live miner must be registered this long after
    /// the last fault is over (when the run and the registrars' timeout
    /// leave that time; default: 6 x the longest check interval + 10 s).
    pub liveness_bound: SimDuration,
    /// At most this many file operations in flight per registrar (default 1).
    pub parallel_reads: u32,
    /// Registrars share one validation cache (default false).
    pub shared_cache: bool,
    /// Registrars skip re-reading files whose size and modification time
    /// did not change since they last read them and could not accept them
    /// (default false).
    pub skip_unchanged: bool,
    /// Sharded registrars: each reads its share of the miners and sends
    /// the others what it accepted (default false).
    pub shard: bool,
    /// Sharded: how long after its start a registrar leaves other shards
    /// to their owners before reading their missing files itself
    /// (default 30 s).
    pub shard_takeover: SimDuration,
    /// `timeout` was set in the scenario (else `auto` may lengthen it).
    pub timeout_set: bool,
    /// Hierarchical registration (`top_registrar`): regional registrars
    /// feed a top-level one. `None`: every registrar reads every file (or
    /// its shard).
    pub hierarchy: Option<hierarchy::Hierarchy>,
}

const STRATEGIES: &[(&str, RegistrationStrategy)] = &[
    ("poll", RegistrationStrategy::Poll),
    ("backoff", RegistrationStrategy::Backoff),
    ("watch", RegistrationStrategy::Watch),
    ("auto", RegistrationStrategy::Auto),
];

/// The most file operations a registrar may have in flight.
pub const MAX_PARALLEL_READS: u32 = 4096;

impl Protocol for Registration {
    type Spec = RegistrationSpec;
    type Plan = RegistrationPlan;
    const SECTION: Section = Section {
        name: "registration",
        keys: &[
            "miners",
            "registrars",
            "strategy",
            "poll_interval",
            "initial_interval",
            "multiplier",
            "max_interval",
            "jitter",
            "timeout",
            "expected",
            "recover",
            "atomic_writes",
            "settle",
            "write_time",
            "read_time",
            "list_time",
            "metadata_time",
            "notify_delay",
            "progress_interval",
            "safety_poll",
            "legacy_registry",
            "liveness_bound",
            "parallel_reads",
            "shared_cache",
            "skip_unchanged",
            "stat_time",
            "shard",
            "shard_takeover",
            "top_registrar",
            "region_takeover",
        ],
    };
    const METRICS: &'static [&'static str] = &[
        "registration.expected",
        "registration.registered",
        "registration.success_rate",
        "registration.p50_s",
        "registration.p95_s",
        "registration.max_s",
        "registration.ready_s",
        "registration.file_reads",
        "registration.dir_lists",
        "registration.file_stats",
        "registration.unchanged_skips",
        "registration.corrupt_detected",
        "registration.corrupt_accepted",
        "registration.recovered",
        "registration.registrars_timed_out",
        "registration.files_damaged",
        "registration.recovery_s",
        "registration.recovery_reached",
    ];

    fn parse(
        t: &Table<'_>,
        hosts: &Hosts<'_>,
        _: &Protocols,
    ) -> scenario::Result<Option<RegistrationSpec>> {
        let miners = members(t, "miners", hosts, &[Role::Miner])?;
        let registrars = members(t, "registrars", hosts, &[Role::Registrar, Role::Validator])?;
        if let Some(both) = miners.iter().find(|m| registrars.contains(m)) {
            let at = t.get("registrars").or_else(|| t.get("miners"));
            let message = format!(
                "host `{}` is both a miner and a registrar",
                hosts.index.name(*both)
            );
            let err = match at {
                Some(f) => f.invalid(message),
                None => t.error(ErrorKind::Conflict, message),
            };
            return Err(err.with_help("a host either writes its registration or waits for others'"));
        }
        let legacy_registry = t.path_opt("legacy_registry")?;
        let runs = !registrars.is_empty() && (!miners.is_empty() || legacy_registry.is_some());
        if !runs {
            return match t.is_present() {
                true => Err(t
                    .error(
                        ErrorKind::Conflict,
                        "[registration] is set, but the scenario has no registrar with anything to wait for",
                    )
                    .with_help(
                        "add hosts with role \"registrar\" (or \"validator\") and \"miner\" \
                         (or a `legacy_registry`), or remove the [registration] table",
                    )),
                false => Ok(None),
            };
        }
        let expected_bound = u32::try_from(miners.len()).unwrap_or(u32::MAX);
        let hierarchy = hierarchy::parse(t, hosts, &miners, &registrars)?;
        let mut spec = spec(
            t,
            miners,
            registrars,
            legacy_registry,
            expected_bound,
            hierarchy,
        )?;
        spec.liveness_bound = liveness_bound(t, &spec)?;
        Ok(Some(spec))
    }

    fn input_files(spec: &RegistrationSpec) -> Vec<(&'static str, std::path::PathBuf)> {
        let path = spec.legacy_registry.iter().cloned();
        path.map(|p| ("legacy_registry", p)).collect()
    }
    fn check_files(spec: &RegistrationSpec, table: &Table<'_>) -> scenario::Result<()> {
        match (&spec.legacy_registry, table.get("legacy_registry")) {
            (Some(path), Some(field)) => legacy::check_legacy(&field, path),
            _ => Ok(()),
        }
    }

    fn plan(
        spec: &RegistrationSpec,
        scenario: &Scenario,
        options: &RunOptions,
        _: &Plans,
    ) -> Result<RegistrationPlan, RunError> {
        let keys = if options.check_only {
            Keys::Skip
        } else {
            Keys::Derive {
                parallel: options.parallel_keys,
            }
        };
        let mut plan = RegistrationPlan::of(spec, scenario, keys)?;
        plan.signatures = options
            .signature_cache
            .then(|| Rc::new(SignatureCache::new()));
        Ok(plan)
    }

    fn configure(
        spec: &RegistrationSpec,
        plan: &RegistrationPlan,
        plans: &Plans,
        host: &HostSpec,
        config: HostConfig,
        _: &RngStreams,
    ) -> HostConfig {
        // Registrars announce the registry when it names the validators.
        let announce = plans.consensus.as_ref().is_some_and(|c| c.from_registry);
        match role(spec, plan, host, announce) {
            Some(role) => config.with_registration(role),
            None => config,
        }
    }

    /// The legacy registry, when the scenario names one.
    fn shared_files(_: &RegistrationSpec, plan: &RegistrationPlan) -> Vec<(String, Vec<u8>)> {
        plan.legacy_bytes
            .iter()
            .map(|bytes| (LEGACY_REGISTRY_FILE.to_string(), bytes.clone()))
            .collect()
    }

    fn checkers(
        spec: &RegistrationSpec,
        plan: &RegistrationPlan,
        scenario: &Scenario,
    ) -> Vec<Box<dyn Checker>> {
        let names = scenario.hosts.iter().map(|h| h.name.clone()).collect();
        let complete_after = complete_after(spec, plan, scenario);
        vec![Box::new(checks::RegistrationChecks::new(
            plan.clone(),
            names,
            complete_after,
        ))]
    }

    /// Sets the shared directory's operation costs.
    fn prepare(
        spec: &RegistrationSpec,
        _: &RegistrationPlan,
        _: &Scenario,
        sim: &mut Simulation<HostNode>,
    ) {
        sim.fs_mut().set_config(spec.fs);
    }

    fn node_counters(_: &HostNode, _: &mut ProtocolCounters) {}

    fn report<'a>(
        _: &'a RegistrationSpec,
        plan: &'a RegistrationPlan,
        run: &Finished<'a>,
    ) -> Box<dyn ProtocolReport + 'a> {
        Box::new(report::RegistrationReport::new(plan, run.log, run.end))
    }

    fn digest(summary: &Summary) -> Option<String> {
        report::digest(summary)
    }

    /// Each registrar holds, for every miner it knows, the miner's name,
    /// host and key, its acceptance and wallet, and records the
    /// acceptance: 1 KiB per registrar and miner, plus 4 KiB per
    /// registrar; each miner 3 KiB with its two files (measured: 100
    /// miners x 4,000 registrars take 415 MiB, 1,000 x 400 take 398 MiB).
    fn memory(spec: &RegistrationSpec, _: &Scenario) -> u64 {
        let miners = spec.miners.len() as u64;
        let registrars = spec.registrars.len() as u64;
        registrars
            .saturating_mul(miners)
            .saturating_mul(1 << 10)
            .saturating_add(registrars.saturating_mul(4 << 10))
            .saturating_add(miners.saturating_mul(3 << 10))
    }
}

/// When every live miner must be registered by the end (see
/// [`checks`]): with `recover`, the later of the last fault's end and the
/// last start of a miner or registrar, if `liveness_bound` after it is
/// within both the run and the registrars' `timeout`.
fn complete_after(
    spec: &RegistrationSpec,
    plan: &RegistrationPlan,
    scenario: &Scenario,
) -> Option<SimTime> {
    if !spec.recover {
        return None;
    }
    let over = crate::faults::liveness_start(scenario)?;
    let latest_start = plan
        .registrars
        .iter()
        .chain(plan.miners.iter().map(|(_, h)| h))
        .map(
            |h| match scenario.groups[scenario.hosts[h.index()].group].start {
                StartSpec::At(d) | StartSpec::Uniform(_, d) => SimTime::from_duration(d),
            },
        )
        .max()
        .unwrap_or(SimTime::ZERO);
    let after = over.max(latest_start);
    let deadline = after + spec.liveness_bound;
    let owed = deadline <= SimTime::from_duration(scenario.duration)
        && deadline <= SimTime::from_duration(spec.timeout);
    owed.then_some(after)
}

/// The hosts under `key` (a host reference), or those with `roles`.
fn members(
    t: &Table<'_>,
    key: &str,
    hosts: &Hosts<'_>,
    roles: &[Role],
) -> scenario::Result<Vec<HostId>> {
    match t.get(key) {
        Some(f) => hosts.index.resolve(&f),
        None => Ok(hosts.with_roles(roles)),
    }
}

/// The settings of a registration that runs.
fn spec(
    t: &Table<'_>,
    miners: Vec<HostId>,
    registrars: Vec<HostId>,
    legacy_registry: Option<PathBuf>,
    miner_count: u32,
    hierarchy: Option<hierarchy::Hierarchy>,
) -> scenario::Result<RegistrationSpec> {
    let (initial_interval, max_interval) = intervals(t)?;
    Ok(RegistrationSpec {
        miners,
        registrars,
        strategy: t.choice_or(
            "strategy",
            "strategy",
            STRATEGIES,
            RegistrationStrategy::Backoff,
        )?,
        poll_interval: t.positive_duration_or("poll_interval", SimDuration::from_secs(10))?,
        initial_interval,
        multiplier: multiplier(t)?,
        max_interval,
        jitter: t.duration_or("jitter", SimDuration::from_millis(500))?,
        timeout: t.positive_duration_or("timeout", SimDuration::from_secs(300))?,
        expected: match t.get("expected") {
            Some(f) => expected(&f, miner_count)?,
            None => Expected::All,
        },
        recover: t.bool_or("recover", true)?,
        atomic_writes: t.bool_or("atomic_writes", true)?,
        settle: t.positive_duration_or("settle", SimDuration::from_millis(100))?,
        fs: FsConfig {
            write_time: t.duration_or("write_time", SimDuration::from_millis(20))?,
            read_time: t.duration_or("read_time", SimDuration::from_millis(2))?,
            list_time: t.duration_or("list_time", SimDuration::from_millis(5))?,
            metadata_time: t.duration_or("metadata_time", SimDuration::from_millis(1))?,
            stat_time: t.duration_or("stat_time", SimDuration::from_millis(1))?,
            notify_delay: t.duration_or("notify_delay", SimDuration::from_millis(1))?,
        },
        progress_interval: t
            .positive_duration_or("progress_interval", SimDuration::from_secs(10))?,
        safety_poll: t.positive_duration_or("safety_poll", SimDuration::from_secs(30))?,
        legacy_registry,
        liveness_bound: SimDuration::ZERO,
        parallel_reads: t.u32_or("parallel_reads", 1, 1, MAX_PARALLEL_READS)?,
        shared_cache: t.bool_or("shared_cache", false)?,
        skip_unchanged: t.bool_or("skip_unchanged", false)?,
        shard: t.bool_or("shard", false)?,
        shard_takeover: t.positive_duration_or("shard_takeover", SimDuration::from_secs(30))?,
        timeout_set: t.get("timeout").is_some(),
        hierarchy,
    })
    .and_then(|mut spec| {
        auto_conflicts(t, &spec)?;
        stat_time_unused(t, &spec)?;
        shard_conflicts(t, &spec)?;
        if spec.strategy == RegistrationStrategy::Auto {
            let expected = expected_count(&spec, miner_count);
            apply_auto(&mut spec, expected);
        }
        Ok(spec)
    })
}

/// `liveness_bound`, by default 6 x the longest check interval + 10 s,
/// plus the takeover time with `shard` or `top_registrar`: a sharded
/// registrar that restarts gets other shards' miners only by taking them
/// over, and the top gets a crashed regional registrar's region so.
fn liveness_bound(t: &Table<'_>, spec: &RegistrationSpec) -> scenario::Result<SimDuration> {
    let takeover = match (&spec.hierarchy, spec.shard) {
        (Some(h), _) => h.takeover,
        (None, true) => spec.shard_takeover,
        (None, false) => SimDuration::ZERO,
    };
    let default = longest_check(spec).saturating_mul(6) + SimDuration::from_secs(10) + takeover;
    t.positive_duration_or("liveness_bound", default)
}

/// `initial_interval` and `max_interval`, the cap at least the first.
fn intervals(t: &Table<'_>) -> scenario::Result<(SimDuration, SimDuration)> {
    let initial = t.positive_duration_or("initial_interval", SimDuration::from_secs(1))?;
    let max = t.positive_duration_or("max_interval", SimDuration::from_secs(10))?;
    if max < initial {
        let at = t.get("max_interval").or_else(|| t.get("initial_interval"));
        let message =
            format!("`max_interval` ({max}) is shorter than `initial_interval` ({initial})");
        let err = match at {
            Some(f) => f.invalid(message),
            None => t.error(ErrorKind::InvalidValue, message),
        };
        return Err(err.with_help("the backoff cap must be at least the first interval"));
    }
    Ok((initial, max))
}

/// `multiplier`, at least 1.
fn multiplier(t: &Table<'_>) -> scenario::Result<f64> {
    let Some(f) = t.get("multiplier") else {
        return Ok(1.5);
    };
    let m = f.f64()?;
    if m < 1.0 {
        return Err(f
            .invalid(format!("`multiplier` must be at least 1.0, found {m}"))
            .with_help("a backoff interval grows by this factor: 1.5 is the default"));
    }
    Ok(m)
}

/// `expected = "all"` or a number from 1 to the number of miners.
fn expected(field: &Field<'_>, miners: u32) -> scenario::Result<Expected> {
    match field.value() {
        DeValue::String(s) if s.as_ref() == "all" => Ok(Expected::All),
        DeValue::Integer(_) => {
            let n = field.u32_in(1, u32::MAX)?;
            if n > miners {
                return Err(field
                    .invalid(format!(
                        "`expected` is {n}, but the scenario has only {miners} miners"
                    ))
                    .with_help(format!(
                        "write `expected = \"all\"` or a number from 1 to {miners}"
                    )));
            }
            Ok(Expected::Count(n))
        }
        _ => Err(field
            .wrong_type("\"all\" or a number of miners")
            .with_help("write `expected = \"all\"` or e.g. `expected = 90`")),
    }
}

/// The registration part of `host`; registrars `announce` the registry
/// when the validators come from it.
fn role(
    spec: &RegistrationSpec,
    plan: &RegistrationPlan,
    host: &HostSpec,
    announce: bool,
) -> Option<RegistrationRole> {
    let write_mode = if spec.atomic_writes {
        WriteMode::Atomic
    } else {
        WriteMode::InPlace
    };
    // `plan.miners` is sorted by host id (see `RegistrationPlan::of`).
    if plan
        .miners
        .binary_search_by_key(&host.id, |(_, h)| *h)
        .is_ok()
    {
        return Some(RegistrationRole::Miner(MinerConfig {
            agent_id: host.name.clone(),
            write_mode,
            registrars: plan.registrars.clone(),
            retry_initial: spec.initial_interval,
            retry_max: spec.max_interval,
            ask_registry: announce,
            verifier: plan.verifier(),
        }));
    }
    if !plan.registrars.contains(&host.id) {
        return None;
    }
    // Hierarchical: a regional registrar waits for its region and leaves
    // the announcement to the top.
    let hierarchy = spec.hierarchy.as_ref();
    Some(RegistrationRole::Registrar(RegistrarConfig {
        strategy: strategy(spec),
        timeout: spec.timeout,
        expected: hierarchy.map_or(plan.expected, |h| h.expected_of(host.id, plan.expected)),
        miners: Rc::clone(&plan.miners),
        miner_keys: Rc::clone(&plan.miner_keys),
        recover: spec.recover,
        progress_interval: spec.progress_interval,
        // Hierarchical: legacy entries belong to no region; the top merges them.
        legacy_registry: plan
            .legacy_bytes
            .as_ref()
            .filter(|_| hierarchy.is_none_or(|h| h.top == host.id))
            .map(|_| LEGACY_REGISTRY_FILE.to_string()),
        write_mode,
        settle: spec.settle,
        announce: announce && hierarchy.is_none_or(|h| h.top == host.id),
        parallel_reads: spec.parallel_reads,
        shared_validation: plan.shared_validation.clone(),
        verifier: plan.verifier(),
        skip_unchanged: spec.skip_unchanged,
        shard: shard(spec, plan, host.id),
    }))
}

/// Sharded: registrar `host`'s share (its place among the plan's
/// registrars, in host order) and its peers. Hierarchical: its region's
/// (see [`hierarchy::Hierarchy::shard_of`]).
fn shard(
    spec: &RegistrationSpec,
    plan: &RegistrationPlan,
    host: HostId,
) -> Option<Box<ShardConfig>> {
    if let Some(hierarchy) = &spec.hierarchy {
        return hierarchy.shard_of(host).map(Box::new);
    }
    if !spec.shard {
        return None;
    }
    let index = plan.registrars.iter().position(|&r| r == host)?;
    let peers: Vec<HostId> = plan
        .registrars
        .iter()
        .copied()
        .filter(|&r| r != host)
        .collect();
    Some(Box::new(ShardConfig {
        owns: Ownership::Hash {
            index: u32::try_from(index).ok()?,
            count: u32::try_from(plan.registrars.len()).ok()?,
        },
        send_to: peers.clone(),
        peers,
        takeover_after: spec.shard_takeover,
    }))
}

/// The longest a registrar waits between checks.
fn longest_check(spec: &RegistrationSpec) -> SimDuration {
    match spec.strategy {
        RegistrationStrategy::Poll => spec.poll_interval,
        RegistrationStrategy::Backoff | RegistrationStrategy::Auto => {
            spec.max_interval + spec.jitter
        }
        RegistrationStrategy::Watch => spec.safety_poll,
    }
}

fn strategy(spec: &RegistrationSpec) -> Strategy {
    match spec.strategy {
        RegistrationStrategy::Poll => Strategy::Poll {
            interval: spec.poll_interval,
        },
        RegistrationStrategy::Watch => Strategy::Watch {
            safety_poll: spec.safety_poll,
        },
        RegistrationStrategy::Backoff | RegistrationStrategy::Auto => Strategy::Backoff {
            initial: spec.initial_interval,
            multiplier: spec.multiplier,
            max: spec.max_interval,
            jitter: spec.jitter,
        },
    }
}

/// The backoff keys `strategy = "auto"` chooses itself: setting one too
/// would silently do nothing, so it is an error.
const AUTO_CHOSEN: &[&str] = &["initial_interval", "max_interval"];

fn auto_conflicts(t: &Table<'_>, spec: &RegistrationSpec) -> scenario::Result<()> {
    if spec.strategy != RegistrationStrategy::Auto {
        return Ok(());
    }
    match AUTO_CHOSEN.iter().find_map(|key| t.get(key)) {
        Some(f) => Err(f
            .key_error(
                ErrorKind::Conflict,
                "`strategy = \"auto\"` chooses `initial_interval` and `max_interval` from the number of miners, so this setting would do nothing",
            )
            .with_help("remove it, or pick `strategy = \"backoff\"` to set the intervals yourself")),
        None => Ok(()),
    }
}

/// `stat_time` prices the stats of `skip_unchanged`; without it no stat
/// is made, so setting it would do nothing.
fn stat_time_unused(t: &Table<'_>, spec: &RegistrationSpec) -> scenario::Result<()> {
    match t.get("stat_time") {
        Some(f) if !spec.skip_unchanged => Err(f
            .key_error(
                ErrorKind::Conflict,
                "`stat_time` is the cost of the stats `skip_unchanged = true` makes; without it registrars make none, so this setting would do nothing",
            )
            .with_help("add `skip_unchanged = true`, or remove `stat_time`")),
        Some(_) | None => Ok(()),
    }
}

/// `shard = true` needs two registrars to share the work, and
/// `shard_takeover` is only used by sharded registrars: otherwise either
/// would do nothing.
fn shard_conflicts(t: &Table<'_>, spec: &RegistrationSpec) -> scenario::Result<()> {
    if let Some(f) = t.get("shard_takeover")
        && !spec.shard
    {
        return Err(f
            .key_error(
                ErrorKind::Conflict,
                "`shard_takeover` is used only by sharded registrars, so without `shard = true` this setting would do nothing",
            )
            .with_help("add `shard = true`, or remove `shard_takeover`"));
    }
    match t.get("shard") {
        Some(f) if spec.shard && spec.registrars.len() < 2 => Err(f
            .invalid(format!(
                "`shard = true` splits the miners among the registrars, but there is only {} registrar",
                spec.registrars.len()
            ))
            .with_help("add registrars, or remove `shard`")),
        Some(_) | None => Ok(()),
    }
}

/// How many miners registrars will wait for (the plan's `expected`
/// without the legacy entries, which `auto` cannot know yet).
fn expected_count(spec: &RegistrationSpec, miners: u32) -> u32 {
    match spec.expected {
        Expected::All => miners,
        Expected::Count(n) => n,
    }
}

/// The simulated I/O time of one full check over `expected` miners: one
/// listing plus a read of every file, `parallel_reads` at a time.
pub fn pass_time(spec: &RegistrationSpec, expected: u32) -> SimDuration {
    let rounds = u64::from(expected).div_ceil(u64::from(spec.parallel_reads.max(1)));
    spec.fs.list_time + spec.fs.read_time.saturating_mul(rounds)
}

/// `strategy = "auto"`: backoff whose intervals follow the time one full
/// check takes (`pass`, see [`pass_time`]), so that the share of time a
/// registrar spends re-checking stays bounded as the network grows, with
/// the recommended values as floors (small networks keep them):
/// `initial_interval = max(1 s, pass / 4)`, `max_interval = max(10 s,
/// 2 x pass)`; the miners' re-registration backoff uses the same two.
/// Unless `timeout` is set, it becomes `max(300 s, 10 x pass)` (a timeout
/// shorter than a few passes gives up on miners whose files were never
/// read).
pub fn auto_intervals(spec: &RegistrationSpec, expected: u32) -> AutoIntervals {
    let pass = pass_time(spec, expected);
    AutoIntervals {
        initial: SimDuration::from_secs(1).max(SimDuration::from_nanos(pass.as_nanos() / 4)),
        max: SimDuration::from_secs(10).max(pass.saturating_mul(2)),
        timeout: SimDuration::from_secs(300).max(pass.saturating_mul(10)),
    }
}

/// What [`auto_intervals`] chose.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AutoIntervals {
    /// The backoff's first interval.
    pub initial: SimDuration,
    /// Its cap.
    pub max: SimDuration,
    /// The registrars' timeout, when the scenario does not set one.
    pub timeout: SimDuration,
}

fn apply_auto(spec: &mut RegistrationSpec, expected: u32) {
    let auto = auto_intervals(spec, expected);
    spec.initial_interval = auto.initial;
    spec.max_interval = auto.max;
    if !spec.timeout_set {
        spec.timeout = auto.timeout;
    }
}

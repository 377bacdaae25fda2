//! The protocol tables: `[registration]`, `[peers]` and `[consensus]`.

use node_logic::HostId;
use toml::de::DeValue;

use super::error::ErrorKind;
use super::model::{
    ConsensusSpec, Expected, HostSpec, PeersSpec, RegistrationSpec, RegistrationStrategy, Role,
    ValidatorSource,
};
use super::reader::{Field, Result, Table};
use super::resolve::HostIndex;
use super::schema;
use crate::units::SimDuration;

const STRATEGIES: &[(&str, RegistrationStrategy)] = &[
    ("poll", RegistrationStrategy::Poll),
    ("backoff", RegistrationStrategy::Backoff),
    ("watch", RegistrationStrategy::Watch),
];

/// `[registration]`; `miners` bounds `expected`.
pub(crate) fn registration(root: &Table<'_>, miners: u32) -> Result<RegistrationSpec> {
    let t = root.subtable("registration", "[registration]", schema::REGISTRATION)?;
    let initial_interval = t.positive_duration_or("initial_interval", SimDuration::from_secs(1))?;
    let max_interval = t.positive_duration_or("max_interval", SimDuration::from_secs(10))?;
    if max_interval < initial_interval {
        let at = t.get("max_interval").or_else(|| t.get("initial_interval"));
        let message = format!(
            "`max_interval` ({max_interval}) is shorter than `initial_interval` ({initial_interval})"
        );
        let err = match at {
            Some(f) => f.invalid(message),
            None => t.error(ErrorKind::InvalidValue, message),
        };
        return Err(err.with_help("the backoff cap must be at least the first interval"));
    }
    let multiplier = match t.get("multiplier") {
        Some(f) => {
            let m = f.f64()?;
            if m < 1.0 {
                return Err(f
                    .invalid(format!("`multiplier` must be at least 1.0, found {m}"))
                    .with_help("a backoff interval grows by this factor: 1.5 is the default"));
            }
            m
        }
        None => 1.5,
    };
    Ok(RegistrationSpec {
        strategy: t.choice_or(
            "strategy",
            "strategy",
            STRATEGIES,
            RegistrationStrategy::Backoff,
        )?,
        poll_interval: t.positive_duration_or("poll_interval", SimDuration::from_secs(10))?,
        initial_interval,
        multiplier,
        max_interval,
        jitter: t.duration_or("jitter", SimDuration::from_millis(500))?,
        timeout: t.positive_duration_or("timeout", SimDuration::from_secs(300))?,
        expected: match t.get("expected") {
            Some(f) => expected(&f, miners)?,
            None => Expected::All,
        },
        recover: t.bool_or("recover", true)?,
        atomic_writes: t.bool_or("atomic_writes", true)?,
        write_time: t.duration_or("write_time", SimDuration::from_millis(20))?,
        read_time: t.duration_or("read_time", SimDuration::from_millis(2))?,
        list_time: t.duration_or("list_time", SimDuration::from_millis(5))?,
        metadata_time: t.duration_or("metadata_time", SimDuration::from_millis(1))?,
        notify_delay: t.duration_or("notify_delay", SimDuration::from_millis(1))?,
        progress_interval: t
            .positive_duration_or("progress_interval", SimDuration::from_secs(10))?,
        safety_poll: t.positive_duration_or("safety_poll", SimDuration::from_secs(30))?,
        legacy_registry: t.path_opt("legacy_registry")?,
    })
}

/// `expected = "all"` or a number from 1 to the number of miners.
fn expected(field: &Field<'_>, miners: u32) -> Result<Expected> {
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

/// `[peers]`; members default to every peer and validator host.
pub(crate) fn peers(
    root: &Table<'_>,
    index: &HostIndex<'_>,
    hosts: &[HostSpec],
) -> Result<PeersSpec> {
    let t = root.subtable("peers", "[peers]", schema::PEERS)?;
    let members = match t.get("members") {
        // An explicit empty list turns the peer registry off.
        Some(f) if matches!(f.value(), DeValue::Array(a) if a.is_empty()) => Vec::new(),
        Some(f) => index.resolve(&f)?,
        None => with_roles(hosts, &[Role::Peer, Role::Validator]),
    };
    let heartbeat = t.positive_duration_or("heartbeat", SimDuration::from_secs(5))?;
    let stale_after = t.positive_duration_or("stale_after", SimDuration::from_secs(30))?;
    if stale_after <= heartbeat {
        let message =
            format!("`stale_after` ({stale_after}) must be longer than `heartbeat` ({heartbeat})");
        let err = match t.get("stale_after").or_else(|| t.get("heartbeat")) {
            Some(f) => f.invalid(message),
            None => t.error(ErrorKind::InvalidValue, message),
        };
        return Err(err.with_help(
            "a peer is dropped after `stale_after` without a heartbeat: make it several heartbeats",
        ));
    }
    Ok(PeersSpec {
        members,
        heartbeat,
        stale_after,
        max_observers: t.u32_or("max_observers", 50, 0, u32::MAX)?,
    })
}

/// `[consensus]`, when the file has one.
pub(crate) fn consensus(
    root: &Table<'_>,
    index: &HostIndex<'_>,
    hosts: &[HostSpec],
) -> Result<Option<ConsensusSpec>> {
    let t = root.subtable("consensus", "[consensus]", schema::CONSENSUS)?;
    if !t.is_present() {
        return Ok(None);
    }
    let validators = match t.get("validators") {
        Some(f) if matches!(f.value(), DeValue::String(s) if s.as_ref() == "registered") => {
            ValidatorSource::Registered
        }
        Some(f) => ValidatorSource::Hosts(index.resolve(&f)?),
        None => {
            let validators = with_roles(hosts, &[Role::Validator]);
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
            ValidatorSource::Hosts(validators)
        }
    };
    let block_interval = t.positive_duration_or("block_interval", SimDuration::from_secs(5))?;
    let view_timeout = t.positive_duration_or("view_timeout", SimDuration::from_secs(10))?;
    // Default: a block interval plus enough view timeouts for the doubling
    // timeouts of views that failed during a fault to run out and a new
    // leader to finish (1 + 2 + 4 + 8 view timeouts).
    let default_bound = block_interval + view_timeout.saturating_mul(15);
    let unsafe_quorum = match t.get("unsafe_quorum") {
        Some(_) => Some(t.u32_or("unsafe_quorum", 0, 1, u32::MAX)?),
        None => None,
    };
    Ok(Some(ConsensusSpec {
        validators,
        min_validators: t.u32_or("min_validators", 3, 1, u32::MAX)?,
        block_interval,
        view_timeout,
        liveness_bound: t.positive_duration_or("liveness_bound", default_bound)?,
        unsafe_quorum,
    }))
}

/// The hosts whose role is one of `roles`, in id order.
fn with_roles(hosts: &[HostSpec], roles: &[Role]) -> Vec<HostId> {
    hosts
        .iter()
        .filter(|h| roles.contains(&h.role))
        .map(|h| h.id)
        .collect()
}

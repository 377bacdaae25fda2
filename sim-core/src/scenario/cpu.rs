//! `[cpu]`: the CPU cost model (off when the table is absent), and the
//! `cpu = { ... }` override of a `[[hosts]]` group (slow and fast
//! machines). See [`crate::cpu`] for what the engine does with it.

use super::error::ErrorKind;
use super::model::HostGroup;
use super::reader::{Field, Result, Table};
use crate::cpu::{CpuCosts, HostCpu};
use crate::units::SimDuration;

/// Keys of `[cpu]`.
pub(crate) const CPU: &[&str] = &[
    "cores",
    "verify",
    "verify_cached",
    "sign",
    "hash_per_kib",
    "message",
    "signature_cache",
];

/// Keys of a group's `cpu = { ... }` override.
pub(crate) const GROUP_CPU: &[&str] = &[
    "cores",
    "verify",
    "verify_cached",
    "sign",
    "hash_per_kib",
    "message",
];

/// Most cores a host may have.
const MAX_CORES: u32 = 1024;
/// Most signatures a host's cache may hold.
const MAX_SIGNATURE_CACHE: u32 = 1 << 20;
/// Default signature cache entries per host.
const DEFAULT_SIGNATURE_CACHE: u32 = 8192;

/// The CPU cost model of a scenario: the `[cpu]` defaults and each
/// group's resolved CPU.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CpuSpec {
    /// What `[cpu]` gives every host.
    pub default: HostCpu,
    /// Signatures each host's own cache remembers as verified.
    pub signature_cache: usize,
    /// Each group's CPU, in group order (the default unless overridden).
    pub groups: Vec<HostCpu>,
}

impl CpuSpec {
    /// The CPU of a host of group `group`.
    pub fn of_group(&self, group: usize) -> HostCpu {
        self.groups.get(group).copied().unwrap_or(self.default)
    }
}

/// `[cpu]` and the groups' overrides; `None` without `[cpu]` (a group
/// override without it is an error: it would do nothing).
pub(crate) fn parse(root: &Table<'_>, groups: &[HostGroup]) -> Result<Option<CpuSpec>> {
    let overrides = group_overrides(root)?;
    let Some(field) = root.get("cpu") else {
        if let Some((_, f)) = overrides.first() {
            return Err(f
                .key_error(
                    ErrorKind::Conflict,
                    "a group's `cpu` override needs a [cpu] table: without one the CPU model is off",
                )
                .with_help("add [cpu] with the costs every host shares, e.g. verify = \"50 us\""));
        }
        return Ok(None);
    };
    let table = field.table("[cpu]", CPU)?;
    let default = HostCpu {
        cores: table.u32_or("cores", 1, 1, MAX_CORES)?,
        costs: costs(&table, CpuCosts::default())?,
    };
    let signature_cache = table.u32_or(
        "signature_cache",
        DEFAULT_SIGNATURE_CACHE,
        0,
        MAX_SIGNATURE_CACHE,
    )? as usize;
    let mut resolved = vec![default; groups.len()];
    for (group, f) in &overrides {
        let t = f.table("a group's `cpu`", GROUP_CPU)?;
        let cpu = &mut resolved[*group];
        cpu.cores = t.u32_or("cores", cpu.cores, 1, MAX_CORES)?;
        cpu.costs = costs(&t, cpu.costs)?;
        if t.fields().is_empty() {
            return Err(f
                .invalid("this `cpu` override is empty: it changes nothing")
                .with_help("give the keys that differ for this group, e.g. cpu = { cores = 8 }"));
        }
    }
    if resolved.iter().all(|c| c.costs == CpuCosts::default()) {
        return Err(field
            .invalid("every cost in [cpu] is 0: the CPU model would change nothing")
            .with_help(
                "give the costs of the operations, e.g. verify = \"50 us\", sign = \"20 us\", \
                 message = \"5 us\"; or remove [cpu]",
            ));
    }
    Ok(Some(CpuSpec {
        default,
        signature_cache,
        groups: resolved,
    }))
}

/// Each `[[hosts]]` group's `cpu` field, with the group's index.
fn group_overrides<'a>(root: &Table<'a>) -> Result<Vec<(usize, Field<'a>)>> {
    let Some(hosts) = root.get("hosts") else {
        return Ok(Vec::new());
    };
    let Ok(entries) = hosts.array() else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for (i, entry) in entries.iter().enumerate() {
        let table = entry.open_table("[[hosts]]")?;
        if let Some(cpu) = table.get("cpu") {
            out.push((i, cpu));
        }
    }
    Ok(out)
}

/// The cost keys of `table`, each defaulting to `base`'s.
fn costs(table: &Table<'_>, base: CpuCosts) -> Result<CpuCosts> {
    let d = |key: &str, default: SimDuration| table.duration_or(key, default);
    Ok(CpuCosts {
        verify: d("verify", base.verify)?,
        verify_cached: d("verify_cached", base.verify_cached)?,
        sign: d("sign", base.sign)?,
        hash_per_kib: d("hash_per_kib", base.hash_per_kib)?,
        message: d("message", base.message)?,
    })
}

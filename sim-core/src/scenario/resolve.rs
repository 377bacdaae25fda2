//! Host references: a host name (`miner-3`), a group name (`miner`, all of
//! it), or a list of either, resolved to [`HostId`]s.

use std::collections::BTreeMap;

use node_logic::HostId;
use toml::de::DeValue;

use super::error::ErrorKind;
use super::model::HostGroup;
use super::reader::{Field, Result};
use super::suggest::nearest;

/// Groups listed in an unknown-host message before "...".
const LISTED_GROUPS: usize = 12;

/// Looks up host and group names.
pub struct HostIndex<'g> {
    groups: &'g [HostGroup],
    /// Id of each group's first host.
    first: Vec<u32>,
    by_name: BTreeMap<&'g str, usize>,
}

impl<'g> HostIndex<'g> {
    /// An index over `groups` (names unique, total hosts within `u32`).
    pub fn new(groups: &'g [HostGroup]) -> Self {
        let mut first = Vec::with_capacity(groups.len());
        let mut next = 0u32;
        for group in groups {
            first.push(next);
            next = next.saturating_add(group.count);
        }
        let by_name = groups
            .iter()
            .enumerate()
            .map(|(i, g)| (g.name.as_str(), i))
            .collect();
        HostIndex {
            groups,
            first,
            by_name,
        }
    }

    /// The group called `name`.
    pub fn group(&self, name: &str) -> Option<usize> {
        self.by_name.get(name).copied()
    }

    /// The hosts of group `index`, in order.
    pub fn group_hosts(&self, index: usize) -> impl Iterator<Item = HostId> + use<> {
        let first = self.first.get(index).copied().unwrap_or(0);
        let count = self.groups.get(index).map_or(0, |g| g.count);
        (first..first.saturating_add(count)).map(HostId)
    }

    /// The host called `<group>-<i>`, if that group has an `i`-th host.
    pub fn host(&self, name: &str) -> Option<HostId> {
        let (group, index) = name.rsplit_once('-')?;
        let canonical = index == "0" || (!index.starts_with('0') && !index.is_empty());
        if !canonical || !index.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let index: u32 = index.parse().ok()?;
        let g = self.group(group)?;
        let count = self.groups.get(g)?.count;
        let first = *self.first.get(g)?;
        (index < count).then(|| HostId(first.saturating_add(index)))
    }

    /// The name of host `id` (`<group>-<i>`).
    pub fn name(&self, id: HostId) -> String {
        let g = self
            .first
            .partition_point(|&first| first <= id.0)
            .saturating_sub(1);
        match (self.groups.get(g), self.first.get(g)) {
            (Some(group), Some(first)) => format!("{}-{}", group.name, id.0.saturating_sub(*first)),
            _ => id.to_string(),
        }
    }

    /// A reference written as a string or a list of strings; duplicates
    /// are dropped, the first mention keeping its place.
    pub fn resolve(&self, field: &Field<'_>) -> Result<Vec<HostId>> {
        let names: Vec<Field<'_>> = match field.value() {
            DeValue::String(_) => vec![field.clone()],
            DeValue::Array(_) => field.array()?,
            _ => {
                return Err(field
                    .wrong_type("a host reference (a host name, a group name, or a list of them)")
                    .with_help(
                        "write e.g. \"miner-3\", \"miner\" or [\"miner-3\", \"validator\"]",
                    ));
            }
        };
        if names.is_empty() {
            return Err(field
                .invalid(format!(
                    "`{}` names no hosts: the list is empty",
                    field.name()
                ))
                .with_help("write at least one host or group name"));
        }
        let mut hosts = Vec::new();
        let mut seen = std::collections::BTreeSet::new();
        for name in &names {
            for host in self.resolve_name(name)? {
                if seen.insert(host) {
                    hosts.push(host);
                }
            }
        }
        Ok(hosts)
    }

    /// One name: a group (all its hosts) or a host.
    fn resolve_name(&self, field: &Field<'_>) -> Result<Vec<HostId>> {
        let name = match field.value() {
            DeValue::String(s) => s.as_ref(),
            _ => {
                return Err(field.wrong_type("a host or group name (a string)"));
            }
        };
        if let Some(g) = self.group(name) {
            return Ok(self.group_hosts(g).collect());
        }
        if let Some(host) = self.host(name) {
            return Ok(vec![host]);
        }
        Err(self.unknown(field, name))
    }

    /// The error for a name that is neither a host nor a group.
    fn unknown(&self, field: &Field<'_>, name: &str) -> super::error::ScenarioError {
        let group_names: Vec<&str> = self.groups.iter().map(|g| g.name.as_str()).collect();
        if let Some((group, index)) = name.rsplit_once('-')
            && let Some(g) = self.group(group).and_then(|g| self.groups.get(g))
        {
            return field
                .error(
                    ErrorKind::UnknownHost,
                    format!("no host `{name}`: group `{group}` has {}", span_of(g)),
                )
                .with_help(format!(
                    "host names are `{group}-<i>` with i from 0 to {}; \
                     `{group}` alone means the whole group",
                    g.count.saturating_sub(1)
                ))
                .with_note(format!("`{index}` is not one of them"));
        }
        let suggestion = match name.rsplit_once('-') {
            Some((group, index))
                if !index.is_empty() && index.bytes().all(|b| b.is_ascii_digit()) =>
            {
                nearest(group, group_names.iter().copied()).map(|g| {
                    let host = format!("{g}-{index}");
                    if self.host(&host).is_some() {
                        host
                    } else {
                        g.to_string()
                    }
                })
            }
            _ => nearest(name, group_names.iter().copied()).map(str::to_string),
        };
        let mut listed: Vec<String> = self
            .groups
            .iter()
            .take(LISTED_GROUPS)
            .map(|g| format!("`{}` ({})", g.name, span_of(g)))
            .collect();
        if self.groups.len() > LISTED_GROUPS {
            listed.push(format!("and {} more", self.groups.len() - LISTED_GROUPS));
        }
        let err = field
            .error(
                ErrorKind::UnknownHost,
                format!("unknown host or group `{name}`"),
            )
            .with_note(format!("the groups are {}", listed.join(", ")));
        match suggestion {
            Some(s) => err.with_help(format!("did you mean `{s}`?")),
            None => err.with_help(
                "a host reference is a group name (all of it), a host `<group>-<i>`, or a list of them",
            ),
        }
    }
}

/// "miner-0 .. miner-99" (or "miner-0" for a single host).
fn span_of(group: &HostGroup) -> String {
    if group.count <= 1 {
        format!("{}-0", group.name)
    } else {
        format!("{0}-0 .. {0}-{1}", group.name, group.count - 1)
    }
}

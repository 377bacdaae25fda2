//! What a registrar keeps of its last listing of the shared directory, so
//! that the next listing costs what changed, not what the directory holds.
//!
//! A full check lists the directory and queues every miner file (and, when
//! recovering, every quarantined file) whose agent is neither accepted nor
//! refused. Agents only ever become accepted or refused, never the other
//! way, so a name that did not matter once never matters again. The
//! registrar therefore keeps the *open* names: the names in its last
//! listing that were of interest and whose agent was not settled when it
//! saw them. The next listing updates them by its changes since the last
//! one ([`Listing::changes_since`]); only a listing that does not continue
//! the last (the first, a real directory's, a restarted journal's) costs a
//! pass over every name.
//!
//! Invariant: `open` holds every name of the last listing that is of
//! interest and whose agent is not settled, and nothing outside that
//! listing. It may still hold names whose agents were settled since; the
//! registrar skips those as it passes them and drops them
//! ([`ListedFiles::forget`]). So walking `open` in order and skipping
//! settled agents visits exactly what a pass over the whole listing would.

use std::collections::BTreeSet;

use crate::io::ListedName;
use crate::listing::Listing;

/// The registrar's view of the shared directory (see the module docs).
#[derive(Debug, Default)]
pub(super) struct ListedFiles {
    last: Option<Listing>,
    open: BTreeSet<ListedName>,
    /// Whether the last listing held the legacy registry's file.
    legacy_present: bool,
}

impl ListedFiles {
    /// Takes `listing` in: by its changes since the last listing when it
    /// continues it, else by a pass over every name. `agent_of(name)` is
    /// the agent a name of interest belongs to (`None`: not of interest);
    /// `settled(agent)` whether that agent is accepted or refused now.
    /// `legacy` is the legacy registry's file name, if any.
    pub(super) fn update(
        &mut self,
        listing: &Listing,
        legacy: Option<&str>,
        agent_of: impl Fn(&str) -> Option<&str>,
        settled: impl Fn(&str) -> bool,
    ) {
        let matters = |name: &str| agent_of(name).is_some_and(|agent| !settled(agent));
        let changes = self.last.as_ref().and_then(|l| listing.changes_since(l));
        match changes {
            Some(changes) => {
                // In order: a name may come and go more than once. A name
                // that does not matter is never open, so its changes cost
                // only the look at the name.
                for change in changes {
                    if legacy == Some(&**change.name) {
                        self.legacy_present = change.present;
                    }
                    if !change.present {
                        if agent_of(change.name).is_some() {
                            self.open.remove(change.name);
                        }
                    } else if matters(change.name) {
                        self.open.insert(ListedName::clone(change.name));
                    }
                }
            }
            None => {
                let names = listing.names();
                self.legacy_present = legacy.is_some_and(|l| names.iter().any(|n| **n == *l));
                self.open = names.into_iter().filter(|n| matters(n)).collect();
            }
        }
        self.last = Some(listing.clone());
    }

    /// The open names, sorted.
    pub(super) fn open(&self) -> impl Iterator<Item = &ListedName> {
        self.open.iter()
    }

    /// Drops `names` from the open names (their agents are settled).
    pub(super) fn forget(&mut self, names: Vec<ListedName>) {
        for name in names {
            self.open.remove(&name);
        }
    }

    /// Whether the last listing holds `name`, for a name of interest whose
    /// agent is not settled.
    pub(super) fn holds_open(&self, name: &str) -> bool {
        self.open.contains(name)
    }

    /// Whether the last listing held the legacy registry's file.
    pub(super) fn legacy_present(&self) -> bool {
        self.legacy_present
    }
}

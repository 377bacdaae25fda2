//! The registrar's cache of unchanged files (`skip_unchanged`): a file it
//! read and could not accept is not read again while a stat finds the
//! same size and modification time.
//!
//! A registrar never reads an accepted miner's file again, so the files
//! it reads more than once are the ones it could not accept: damaged ones
//! without recovery, another agent's wallet, a forged signature. Without
//! the cache each check reads and validates every one of them again.
//! With it:
//!
//! - a file read for the first time is read directly (no stat: most files
//!   are valid and never looked at again, so the common path costs what
//!   it costs without the cache);
//! - a file that was read and not accepted is remembered; the next time
//!   it is due, the registrar stats it first and reads it only when the
//!   stat differs from the one taken before its last read;
//! - the remembered stat is the one taken *before* the read, so a write
//!   between the stat and the read makes the next stat differ (the file is
//!   read again: never a changed file skipped, at worst one read too many);
//! - a stat flagged `recent` (modified within the filesystem's timestamp
//!   granularity, or being written) is not remembered: a same-size rewrite
//!   within that window could leave size and time unchanged, so the file
//!   is read again next time (git's "racily clean" rule);
//! - a read whose length differs from the stat's size is not remembered
//!   either (the file changed in between).
//!
//! The cache is the registrar's memory: a restarted registrar starts
//! empty, like the rest of its state.

use std::collections::BTreeMap;

use crate::io::FileMeta;

/// What the cache holds for one agent's file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Entry {
    /// Read and not accepted, without a trustworthy stat: stat it next
    /// time, and read it.
    Seen,
    /// Read and not accepted; the stat taken before that read. Skip the
    /// next read while a stat matches it.
    Settled {
        /// Size in bytes.
        size: u64,
        /// Modification time in ns.
        modified_ns: u64,
    },
}

/// Files a registrar read and could not accept, by agent, with the stat
/// taken before their last read.
#[derive(Clone, Debug, Default)]
pub(super) struct UnchangedFiles {
    entries: BTreeMap<String, Entry>,
}

impl UnchangedFiles {
    /// Whether `agent`'s file should be stat'ed before it is read: it was
    /// read before and not accepted.
    pub(super) fn wants_stat(&self, agent: &str) -> bool {
        self.entries.contains_key(agent)
    }

    /// Whether `meta`, a fresh stat of `agent`'s file, shows it as it was
    /// when it was last read (same size and modification time as the
    /// trusted stat before that read): no need to read it again.
    pub(super) fn is_unchanged(&self, agent: &str, meta: &FileMeta) -> bool {
        match self.entries.get(agent) {
            Some(Entry::Settled { size, modified_ns }) => {
                *size == meta.size && *modified_ns == meta.modified_ns && !meta.recent
            }
            Some(Entry::Seen) | None => false,
        }
    }

    /// `agent`'s file was read (`len` bytes, after the stat `before`, if
    /// one was taken) and not accepted, and the outcome stands until the
    /// file changes: remember it.
    pub(super) fn remember(&mut self, agent: &str, before: Option<FileMeta>, len: usize) {
        let entry = match before {
            Some(meta) if !meta.recent && meta.size == len as u64 => Entry::Settled {
                size: meta.size,
                modified_ns: meta.modified_ns,
            },
            Some(_) | None => Entry::Seen,
        };
        self.entries.insert(agent.to_string(), entry);
    }

    /// Forget `agent`'s file (accepted, gone, quarantined, or its outcome
    /// may change without the file changing).
    pub(super) fn forget(&mut self, agent: &str) {
        self.entries.remove(agent);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(size: u64, modified_ns: u64, recent: bool) -> FileMeta {
        FileMeta {
            size,
            modified_ns,
            recent,
        }
    }

    #[test]
    fn a_file_is_stated_only_after_a_first_read_and_skipped_only_after_a_stated_one() {
        let mut cache = UnchangedFiles::default();
        assert!(!cache.wants_stat("a"));
        cache.remember("a", None, 10);
        assert!(cache.wants_stat("a"));
        assert!(!cache.is_unchanged("a", &meta(10, 5, false)));
        cache.remember("a", Some(meta(10, 5, false)), 10);
        assert!(cache.is_unchanged("a", &meta(10, 5, false)));
        assert!(!cache.is_unchanged("b", &meta(10, 5, false)));
    }

    #[test]
    fn any_change_of_size_or_time_is_a_change() {
        let mut cache = UnchangedFiles::default();
        cache.remember("a", Some(meta(10, 5, false)), 10);
        assert!(!cache.is_unchanged("a", &meta(11, 5, false)));
        assert!(!cache.is_unchanged("a", &meta(10, 6, false)));
        assert!(!cache.is_unchanged("a", &meta(10, 4, false)));
        cache.forget("a");
        assert!(!cache.wants_stat("a"));
    }

    #[test]
    fn recent_stats_and_reads_that_disagree_with_them_are_not_trusted() {
        let mut cache = UnchangedFiles::default();
        // Modified within the timestamp granularity: a same-size rewrite
        // could keep size and time.
        cache.remember("a", Some(meta(10, 5, true)), 10);
        assert!(cache.wants_stat("a"));
        assert!(!cache.is_unchanged("a", &meta(10, 5, false)));
        // The file changed between the stat and the read.
        cache.remember("b", Some(meta(10, 5, false)), 12);
        assert!(!cache.is_unchanged("b", &meta(10, 5, false)));
        // A recent fresh stat is not trusted either.
        cache.remember("c", Some(meta(10, 5, false)), 10);
        assert!(!cache.is_unchanged("c", &meta(10, 5, true)));
    }
}

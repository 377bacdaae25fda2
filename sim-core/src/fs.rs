//! The simulated shared directory every host sees (as in the modelled
//! deployment, where all processes share one real directory).
//!
//! Operations take simulated time. Their effects land as a real filesystem's
//! would:
//! - an **in-place** write truncates the file when it starts and fills it
//!   linearly until it ends, so a read that completes meanwhile sees a prefix
//!   of the new bytes (a torn write);
//! - an **atomic** write fills a temporary file `<path>.tmp.<host>` the same
//!   way, then renames it over the target when it ends, so readers of the
//!   target see the old bytes or the new, never a mix;
//! - reads and listings observe the directory at the moment they complete;
//! - a crash freezes the host's unfinished writes where they are: a torn
//!   file stays torn, a temporary file stays behind, the target is untouched.
//!
//! Watchers of a directory are told of every write start (in place), write
//! end, rename and delete in it.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::rc::Rc;

use foldhash::fast::FixedState;

use node_logic::HostId;
use node_logic::io::{FileMeta, FileOp, FileResult, FsError, ListedName, Listing, WriteMode};
use node_logic::listing::ListingJournal;

use crate::units::{SimDuration, SimTime};

/// Costs of file operations.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FsConfig {
    /// A whole-file write.
    pub write_time: SimDuration,
    /// A whole-file read.
    pub read_time: SimDuration,
    /// A directory listing.
    pub list_time: SimDuration,
    /// A rename or delete (metadata only).
    pub metadata_time: SimDuration,
    /// A stat: reading a file's size and modification time.
    pub stat_time: SimDuration,
    /// From a change to the watchers being told.
    pub notify_delay: SimDuration,
}

impl Default for FsConfig {
    fn default() -> Self {
        FsConfig {
            write_time: SimDuration::from_millis(20),
            read_time: SimDuration::from_millis(2),
            list_time: SimDuration::from_millis(5),
            metadata_time: SimDuration::from_millis(1),
            stat_time: SimDuration::from_millis(1),
            notify_delay: SimDuration::from_millis(1),
        }
    }
}

/// Identifies an operation in flight.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct OpId(pub u64);

#[derive(Clone, Debug)]
struct File {
    /// Bytes fully on disk.
    content: Vec<u8>,
    /// A write filling this file right now.
    filling: Option<Filling>,
    /// When `content` last changed (a rename keeps it, as on a real
    /// filesystem).
    modified: SimTime,
}

#[derive(Clone, Debug)]
struct Filling {
    op: OpId,
    bytes: Vec<u8>,
    start: SimTime,
    end: SimTime,
}

impl Filling {
    /// How many bytes are on disk at `now`.
    fn written_at(&self, now: SimTime) -> usize {
        let total = (self.end - self.start).as_nanos();
        if total == 0 || now >= self.end {
            return self.bytes.len();
        }
        let done = (now - self.start).as_nanos();
        (u128::from(done) * self.bytes.len() as u128 / u128::from(total)) as usize
    }
}

impl File {
    fn visible(&self, now: SimTime) -> &[u8] {
        match &self.filling {
            Some(f) => &f.bytes[..f.written_at(now)],
            None => &self.content,
        }
    }

    /// What a stat completing at `now` finds: the visible size and the
    /// modification time in ns. A file being filled is being modified
    /// right now (`now`, recent); otherwise recent means modified at the
    /// very nanosecond of the stat (the clock's granularity).
    fn meta(&self, now: SimTime) -> FileMeta {
        let (modified, filling) = match &self.filling {
            Some(_) => (now, true),
            None => (self.modified, false),
        };
        FileMeta {
            size: self.visible(now).len() as u64,
            modified_ns: modified.as_nanos(),
            recent: filling || modified >= now,
        }
    }
}

/// The directory's files: found by path through a hash table (a read is
/// one lookup, not a walk comparing paths with those of 200,000 other
/// files). Listings come from each listed directory's journal, kept up to
/// date by every insert and remove; the table is iterated only to begin a
/// journal, and those names are sorted, so its order reaches no output.
#[derive(Debug, Default)]
struct Files {
    /// The files by path (the paths are shared with the listings).
    by_path: HashMap<Rc<str>, File, FixedState>,
    /// Every folder that holds a path, and how many paths lie below it:
    /// what says whether a folder's name is listed. Empty for a flat
    /// directory, whose file names appear and leave with the files alone.
    folders: HashMap<Box<str>, usize, FixedState>,
    /// The history of each directory listed so far, by directory: what
    /// listings hand out (see [`node_logic::listing`]), so that a registrar
    /// listing 100,000 files again and again pays for what changed.
    journals: BTreeMap<String, ListingJournal>,
}

impl Files {
    fn get(&self, path: &str) -> Option<&File> {
        self.by_path.get(path)
    }

    fn get_mut(&mut self, path: &str) -> Option<&mut File> {
        self.by_path.get_mut(path)
    }

    /// Replaces `path`'s file, or adds it.
    fn insert(&mut self, path: &str, file: File) {
        match self.by_path.get_mut(path) {
            Some(old) => *old = file,
            None => {
                let path: Rc<str> = Rc::from(path);
                // The names `path` makes appear: journaled before it is in.
                self.journal_change(&path, ListingJournal::add);
                for folder in folders_of(&path) {
                    *self.folders.entry(folder.into()).or_default() += 1;
                }
                self.by_path.insert(path, file);
            }
        }
    }

    /// `path`'s file, added by `make` if it has none.
    fn get_or_insert(&mut self, path: &str, make: impl FnOnce() -> File) -> &mut File {
        if !self.by_path.contains_key(path) {
            self.insert(path, make());
        }
        self.by_path
            .get_mut(path)
            .expect("present or inserted just above")
    }

    fn remove(&mut self, path: &str) -> Option<File> {
        let (path, file) = self.by_path.remove_entry(path)?;
        for folder in folders_of(&path) {
            let below = self.folders.get_mut(folder).expect("counted on insert");
            *below -= 1;
            if *below == 0 {
                self.folders.remove(folder);
            }
        }
        // The names that leave with `path`: journaled once it is out.
        self.journal_change(&path, ListingJournal::remove);
        Some(file)
    }

    /// Records `change` (add or remove) of the name each journaled
    /// directory lists for `path`, where that name is listed only because
    /// of `path`; called while `path` is out of the table (just before it
    /// goes in, just after it comes out). Then drops the journals whose
    /// history has outgrown their directory: a directory nobody lists any
    /// more (registrars that are ready) must not keep every later change;
    /// the next listing begins a fresh journal (one pass), unrelated to
    /// earlier ones.
    fn journal_change(&mut self, path: &Rc<str>, change: fn(&mut ListingJournal, ListedName)) {
        for (dir, journal) in &mut self.journals {
            let Some((name, own)) = listed_name(dir, path) else {
                continue;
            };
            if !lists_otherwise(&self.by_path, &self.folders, dir, &name, own) {
                change(journal, name);
            }
        }
        self.journals.retain(|_, journal| !outgrown(journal));
    }

    fn journal(&mut self, dir: &str) -> &mut ListingJournal {
        self.journals.get_mut(dir).expect("a journaled directory")
    }

    /// `dir` as it is now, from its journal (begun here if it has none:
    /// never listed, or its journal outgrown and dropped).
    fn listing(&mut self, dir: &str) -> Listing {
        if !self.journals.contains_key(dir) {
            let journal = ListingJournal::new(self.names_in(dir));
            self.journals.insert(dir.to_string(), journal);
        }
        self.journal(dir).listing()
    }

    /// Names directly inside `dir`, sorted and distinct: a file of the
    /// shared directory itself under its own shared path (no copy); other
    /// names made here.
    fn names_in(&self, dir: &str) -> Vec<ListedName> {
        // In the table's order, then sorted (a file's own name before a
        // folder's of the same name, which dedup drops): no order of the
        // table's reaches the listing.
        let mut names: Vec<(ListedName, bool)> = self
            .by_path
            .keys()
            .filter_map(|path| listed_name(dir, path).map(|(name, own)| (name, !own)))
            .collect();
        names.sort_unstable();
        names.dedup_by(|later, earlier| later.0 == earlier.0);
        names.into_iter().map(|(name, _)| name).collect()
    }
}

/// Whether `dir` lists `name` for a path other than one being added or
/// removed (which is not in `by_path`): a file of that name (unless `own`:
/// the name is that path's own file) or a folder holding any path.
fn lists_otherwise(
    by_path: &HashMap<Rc<str>, File, FixedState>,
    folders: &HashMap<Box<str>, usize, FixedState>,
    dir: &str,
    name: &str,
    own: bool,
) -> bool {
    if own && folders.is_empty() {
        return false;
    }
    let full = if dir.is_empty() {
        name.to_string()
    } else {
        format!("{dir}/{name}")
    };
    (!own && by_path.contains_key(full.as_str())) || folders.contains_key(full.as_str())
}

/// The folders `path` lies in, outermost first: `a` and `a/b` for `a/b/c`.
fn folders_of(path: &str) -> impl Iterator<Item = &str> {
    path.match_indices('/').map(|(at, _)| &path[..at])
}

/// An operation accepted by [`SimFs::begin`], to be finished at `done_at`
/// with [`SimFs::finish`].
#[derive(Clone, Debug)]
struct Pending {
    host: HostId,
    op: FileOp,
    /// For writes: the path being filled (the temp file for atomic writes).
    filling_path: Option<String>,
}

/// What [`SimFs::begin`] decided.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Begun {
    /// Call [`SimFs::finish`] with this id at this time.
    Later(OpId, SimTime),
    /// Finished already (invalid path, or a watch): deliver this now.
    Now(FileResult),
}

/// A change that watchers should hear of.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change {
    /// Who to tell.
    pub watchers: Vec<HostId>,
    /// What changed.
    pub path: String,
}

/// What one host did to the directory, for the reports.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FsCounters {
    /// Writes completed.
    pub writes: u64,
    /// Reads completed.
    pub reads: u64,
    /// Listings completed.
    pub lists: u64,
    /// Renames and deletes completed.
    pub metadata: u64,
    /// Stats completed.
    pub stats: u64,
}

/// The shared directory.
#[derive(Debug, Default)]
pub struct SimFs {
    config: FsConfig,
    files: Files,
    watchers: BTreeMap<String, BTreeSet<HostId>>,
    pending: BTreeMap<OpId, Pending>,
    next_op: u64,
    /// By host id (`None`: no operation yet): one index per operation, not
    /// a tree walk among 100,000 hosts.
    counters: Vec<Option<FsCounters>>,
}

impl SimFs {
    /// An empty directory with these costs.
    pub fn new(config: FsConfig) -> Self {
        SimFs {
            config,
            ..SimFs::default()
        }
    }

    /// Starts `op` for `host` at `now`. Returns when to finish it and any
    /// change watchers must hear of right away (an in-place write starting).
    pub fn begin(&mut self, now: SimTime, host: HostId, op: FileOp) -> (Begun, Option<Change>) {
        if let Some(result) = invalid_path_result(&op) {
            return (Begun::Now(result), None);
        }
        let cost = match &op {
            FileOp::Write { .. } => self.config.write_time,
            FileOp::Read { .. } => self.config.read_time,
            FileOp::List { .. } => self.config.list_time,
            FileOp::Rename { .. } | FileOp::Delete { .. } => self.config.metadata_time,
            FileOp::Stat { .. } => self.config.stat_time,
            FileOp::Watch { dir } => {
                self.watchers.entry(dir.clone()).or_default().insert(host);
                return (Begun::Now(FileResult::Watching { dir: dir.clone() }), None);
            }
        };
        let id = OpId(self.next_op);
        self.next_op += 1;
        let done_at = now + cost;
        let mut change = None;
        let mut filling_path = None;
        if let FileOp::Write { path, bytes, mode } = &op {
            let target = match mode {
                WriteMode::Atomic => format!("{path}.tmp.{}", host.0),
                WriteMode::InPlace => path.clone(),
            };
            let file = self.files.get_or_insert(&target, || File {
                content: Vec::new(),
                filling: None,
                modified: now,
            });
            // Truncate now; bytes appear as the write proceeds. A second
            // writer of the same file takes over (last writer wins, as with
            // O_TRUNC); the first one's completion finds it replaced.
            file.content.clear();
            file.modified = now;
            file.filling = Some(Filling {
                op: id,
                bytes: bytes.clone(),
                start: now,
                end: done_at,
            });
            if *mode == WriteMode::InPlace {
                change = self.change(&target);
            }
            filling_path = Some(target);
        }
        self.pending.insert(
            id,
            Pending {
                host,
                op,
                filling_path,
            },
        );
        (Begun::Later(id, done_at), change)
    }

    /// Completes operation `id` at `now` (its `done_at`). Returns the host to
    /// tell, the result, and a change for watchers. `None` when the operation
    /// was abandoned by a crash.
    pub fn finish(
        &mut self,
        now: SimTime,
        id: OpId,
    ) -> Option<(HostId, FileResult, Option<Change>)> {
        let pending = self.pending.remove(&id)?;
        let at = pending.host.index();
        if self.counters.len() <= at {
            self.counters.resize(at + 1, None);
        }
        let counters = self.counters[at].get_or_insert_default();
        let (result, changed) = match pending.op {
            FileOp::Write { path, mode, .. } => {
                counters.writes += 1;
                let filled = pending
                    .filling_path
                    .as_deref()
                    .and_then(|p| self.files.get_mut(p));
                let mut ours = false;
                if let Some(file) = filled
                    && file.filling.as_ref().is_some_and(|f| f.op == id)
                {
                    // Filling was checked just above.
                    let filling = file.filling.take().expect("checked above");
                    file.content = filling.bytes;
                    file.modified = now;
                    ours = true;
                }
                if ours && mode == WriteMode::Atomic {
                    let temp = pending.filling_path.unwrap_or_default();
                    if let Some(file) = self.files.remove(temp.as_str()) {
                        self.files.insert(&path, file);
                    }
                }
                let result = if ours {
                    Ok(())
                } else {
                    Err(FsError::Io("overwritten by a concurrent write".into()))
                };
                (
                    FileResult::Written {
                        path: path.clone(),
                        result,
                    },
                    Some(path),
                )
            }
            FileOp::Read { path } => {
                counters.reads += 1;
                let result = self
                    .files
                    .get(path.as_str())
                    .map(|f| f.visible(now).to_vec())
                    .ok_or(FsError::NotFound);
                (FileResult::Read { path, result }, None)
            }
            FileOp::List { dir } => {
                counters.lists += 1;
                let result = Ok(self.files.listing(&dir));
                (FileResult::Listed { dir, result }, None)
            }
            FileOp::Rename { from, to } => {
                counters.metadata += 1;
                let result = match self.files.remove(from.as_str()) {
                    Some(file) => {
                        self.files.insert(&to, file);
                        Ok(())
                    }
                    None => Err(FsError::NotFound),
                };
                let changed = result.is_ok().then(|| to.clone());
                (FileResult::Renamed { from, to, result }, changed)
            }
            FileOp::Stat { path } => {
                counters.stats += 1;
                let result = self
                    .files
                    .get(path.as_str())
                    .map(|f| f.meta(now))
                    .ok_or(FsError::NotFound);
                (FileResult::Stat { path, result }, None)
            }
            FileOp::Delete { path } => {
                counters.metadata += 1;
                let result = self
                    .files
                    .remove(path.as_str())
                    .map(|_| ())
                    .ok_or(FsError::NotFound);
                let changed = result.is_ok().then(|| path.clone());
                (FileResult::Deleted { path, result }, changed)
            }
            // Watches complete at once (`begin`); never pending.
            FileOp::Watch { dir } => (FileResult::Watching { dir }, None),
        };
        let change = changed.and_then(|p| self.change(&p));
        Some((pending.host, result, change))
    }

    /// The host crashed at `now`: its unfinished writes stop where they are,
    /// its other operations are abandoned, and its watches end.
    pub fn crash(&mut self, now: SimTime, host: HostId) {
        let ops: Vec<OpId> = self
            .pending
            .iter()
            .filter(|(_, p)| p.host == host)
            .map(|(&id, _)| id)
            .collect();
        for id in ops {
            let Some(pending) = self.pending.remove(&id) else {
                continue;
            };
            if let Some(file) = pending
                .filling_path
                .and_then(|p| self.files.get_mut(p.as_str()))
                && file.filling.as_ref().is_some_and(|f| f.op == id)
            {
                let visible = file.visible(now).to_vec();
                file.content = visible;
                file.filling = None;
                file.modified = now;
            }
        }
        for set in self.watchers.values_mut() {
            set.remove(&host);
        }
    }

    /// The bytes of `path` if it exists and no write is filling it.
    pub fn complete(&self, path: &str) -> Option<&[u8]> {
        self.files
            .get(path)
            .filter(|f| f.filling.is_none())
            .map(|f| f.content.as_slice())
    }

    /// The bytes of `path` as a reader would see them at `now`.
    pub fn read_now(&self, now: SimTime, path: &str) -> Option<&[u8]> {
        self.files.get(path).map(|f| f.visible(now))
    }

    /// Replaces `path` at once, modified at time zero (test setup, the
    /// files placed before a run).
    pub fn put(&mut self, path: &str, bytes: Vec<u8>) {
        self.put_at(SimTime::ZERO, path, bytes);
    }

    /// Replaces `path` at once, modified at `now` (fault injection).
    pub fn put_at(&mut self, now: SimTime, path: &str, bytes: Vec<u8>) {
        self.files.insert(
            path,
            File {
                content: bytes,
                filling: None,
                modified: now,
            },
        );
    }

    /// Names directly inside `dir` (`""` = the shared directory), sorted
    /// and distinct. A file of the shared directory itself is listed under
    /// its own shared path (no copy); other names are made for the listing.
    pub fn list(&self, dir: &str) -> Vec<ListedName> {
        self.files.names_in(dir)
    }

    /// The operation costs.
    pub fn config(&self) -> &FsConfig {
        &self.config
    }

    /// Sets the operation costs (before the run starts).
    pub fn set_config(&mut self, config: FsConfig) {
        self.config = config;
    }

    /// Per-host operation counts of the hosts that did any, in host order.
    pub fn counters(&self) -> BTreeMap<HostId, FsCounters> {
        (0u32..)
            .zip(&self.counters)
            .filter_map(|(id, c)| Some((HostId(id), (*c)?)))
            .collect()
    }

    fn change(&self, path: &str) -> Option<Change> {
        let dir = path.rsplit_once('/').map_or("", |(d, _)| d);
        let watchers: Vec<HostId> = self.watchers.get(dir)?.iter().copied().collect();
        (!watchers.is_empty()).then(|| Change {
            watchers,
            path: path.to_string(),
        })
    }
}

/// How many changes a directory's journal keeps beyond twice the names it
/// holds before it begins afresh: a fresh journal costs a pass over the
/// directory, paid for by the changes since the last.
const JOURNAL_SLACK: usize = 4096;

/// Whether `journal` keeps more changes than a fresh one would cost to
/// begin: twice the names its directory holds, plus [`JOURNAL_SLACK`].
fn outgrown(journal: &ListingJournal) -> bool {
    journal.history() > 2 * journal.len() + JOURNAL_SLACK
}

/// The name `dir`'s listing shows for `path`, and whether it is the
/// path's own file (not a folder holding it): for a file of the shared
/// directory the path itself (shared, no copy), else its first component
/// below `dir` (made here). `None` when `path` is not below `dir`.
fn listed_name(dir: &str, path: &Rc<str>) -> Option<(ListedName, bool)> {
    let rest = if dir.is_empty() {
        &**path
    } else {
        path.strip_prefix(dir)?.strip_prefix('/')?
    };
    Some(match rest.find('/') {
        None if dir.is_empty() => (Rc::clone(path), true),
        None => (Rc::from(rest), true),
        Some(at) => (Rc::from(&rest[..at]), false),
    })
}

/// A path is valid when relative, non-empty, and free of `.`/`..`/empty
/// components: nothing can leave the shared directory.
pub fn valid_path(path: &str) -> bool {
    !path.is_empty()
        && !path.starts_with('/')
        && !path.contains('\\')
        && path
            .split('/')
            .all(|c| !c.is_empty() && c != "." && c != "..")
}

fn valid_dir(dir: &str) -> bool {
    dir.is_empty() || valid_path(dir)
}

fn invalid_path_result(op: &FileOp) -> Option<FileResult> {
    let bad = Err(FsError::InvalidPath);
    match op {
        FileOp::Write { path, .. } if !valid_path(path) => Some(FileResult::Written {
            path: path.clone(),
            result: bad,
        }),
        FileOp::Read { path } if !valid_path(path) => Some(FileResult::Read {
            path: path.clone(),
            result: Err(FsError::InvalidPath),
        }),
        FileOp::List { dir } | FileOp::Watch { dir } if !valid_dir(dir) => {
            Some(FileResult::Listed {
                dir: dir.clone(),
                result: Err(FsError::InvalidPath),
            })
        }
        FileOp::Rename { from, to } if !valid_path(from) || !valid_path(to) => {
            Some(FileResult::Renamed {
                from: from.clone(),
                to: to.clone(),
                result: bad,
            })
        }
        FileOp::Delete { path } if !valid_path(path) => Some(FileResult::Deleted {
            path: path.clone(),
            result: bad,
        }),
        FileOp::Stat { path } if !valid_path(path) => Some(FileResult::Stat {
            path: path.clone(),
            result: Err(FsError::InvalidPath),
        }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `fs.list(dir)` as plain strings.
    fn names(fs: &SimFs, dir: &str) -> Vec<String> {
        fs.list(dir).iter().map(|n| n.to_string()).collect()
    }

    const A: HostId = HostId(0);
    const B: HostId = HostId(1);

    /// Random files added and removed (flat names, names that sort
    /// around folders, nested folders), with listings of three
    /// directories now and then, long enough for journals to begin
    /// afresh: every listing holds what a pass over the paths finds, and
    /// the changes since a directory's previous listing, applied to its
    /// names, give the new ones (or the two are unrelated, after a fresh
    /// journal).
    #[test]
    fn listings_from_journals_match_a_pass_over_the_paths() {
        use rand::RngExt;
        use rand_core::SeedableRng;
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
        let paths = [
            "a", "a.x", "a/b", "a/c", "a/c/d", "a/c.x", "b", "b/x", "b/y/z", "c.json", "c",
        ];
        let mut files = Files::default();
        let mut last: BTreeMap<&str, (Listing, Vec<ListedName>)> = BTreeMap::new();
        let (mut continued, mut fresh) = (0, 0);
        for step in 0..20_000 {
            let path = paths[rng.random_range(0..paths.len())];
            let numbered = format!("{path}{}", step % 7);
            let path = if rng.random_bool(0.5) {
                path
            } else {
                numbered.as_str()
            };
            assert!(files.journals.values().all(|j| !outgrown(j)), "bounded");
            if files.get(path).is_some() {
                files.remove(path);
            } else {
                let file = File {
                    content: Vec::new(),
                    filling: None,
                    modified: SimTime::ZERO,
                };
                files.insert(path, file);
            }
            if rng.random_bool(0.1) {
                let dir = ["", "a", "a/c"][rng.random_range(0..3)];
                let listing = files.listing(dir);
                let names = listing.names();
                assert_eq!(names, files.names_in(dir), "{dir:?} at step {step}");
                assert_eq!(listing.len(), names.len());
                if let Some((earlier, earlier_names)) = last.get(dir) {
                    match listing.changes_since(earlier) {
                        Some(changes) => {
                            continued += 1;
                            let mut set: BTreeSet<ListedName> =
                                earlier_names.iter().cloned().collect();
                            for change in changes {
                                let name = ListedName::clone(change.name);
                                match change.present {
                                    true => assert!(set.insert(name), "{dir:?} {step}"),
                                    false => assert!(set.remove(&name), "{dir:?} {step}"),
                                }
                            }
                            assert_eq!(set.into_iter().collect::<Vec<_>>(), names);
                        }
                        None => fresh += 1,
                    }
                }
                last.insert(dir, (listing, names));
            }
        }
        assert!(
            continued > 1000 && fresh > 0,
            "{continued} continued, {fresh} fresh"
        );
    }

    fn ms(n: u64) -> SimTime {
        SimTime::from_duration(SimDuration::from_millis(n))
    }

    fn write(path: &str, bytes: &[u8], mode: WriteMode) -> FileOp {
        FileOp::Write {
            path: path.into(),
            bytes: bytes.to_vec(),
            mode,
        }
    }

    fn later(begun: Begun) -> (OpId, SimTime) {
        match begun {
            Begun::Later(id, at) => (id, at),
            Begun::Now(r) => panic!("finished at once: {r:?}"),
        }
    }

    fn read_result(fs: &mut SimFs, at: SimTime, path: &str) -> Result<Vec<u8>, FsError> {
        let (id, done) = later(fs.begin(at, B, FileOp::Read { path: path.into() }).0);
        match fs.finish(done, id).unwrap().1 {
            FileResult::Read { result, .. } => result,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn torn_write_is_visible_to_a_concurrent_reader() {
        let mut fs = SimFs::new(FsConfig::default()); // write 20 ms, read 2 ms
        fs.put("f.json", b"old old old".to_vec());
        let bytes = b"0123456789abcdefghij"; // 20 bytes over 20 ms: one per ms
        let (id, done) = later(
            fs.begin(ms(0), A, write("f.json", bytes, WriteMode::InPlace))
                .0,
        );
        // A read issued at 8 ms completes at 10 ms: half the new bytes.
        assert_eq!(
            read_result(&mut fs, ms(8), "f.json").unwrap(),
            b"0123456789"
        );
        fs.finish(done, id).unwrap();
        assert_eq!(read_result(&mut fs, ms(30), "f.json").unwrap(), bytes);
    }

    #[test]
    fn atomic_write_is_never_seen_half_done() {
        let mut fs = SimFs::new(FsConfig::default());
        fs.put("f.json", b"old".to_vec());
        let bytes = b"0123456789abcdefghij";
        let (id, done) = later(
            fs.begin(ms(0), A, write("f.json", bytes, WriteMode::Atomic))
                .0,
        );
        for t in 0..19 {
            assert_eq!(
                read_result(&mut fs, ms(t), "f.json").unwrap(),
                b"old",
                "at {t} ms"
            );
        }
        // The temporary file is there meanwhile, as with a real temp+rename.
        assert_eq!(
            names(&fs, ""),
            vec!["f.json".to_string(), "f.json.tmp.0".to_string()]
        );
        fs.finish(done, id).unwrap();
        assert_eq!(read_result(&mut fs, ms(21), "f.json").unwrap(), bytes);
        assert_eq!(names(&fs, ""), vec!["f.json".to_string()]);
    }

    #[test]
    fn crash_freezes_unfinished_writes() {
        let mut fs = SimFs::new(FsConfig::default());
        fs.put("a.json", b"before".to_vec());
        let (torn, _) = later(
            fs.begin(ms(0), A, write("t.json", b"0123456789", WriteMode::InPlace))
                .0,
        );
        let (atomic, _) = later(
            fs.begin(ms(0), A, write("a.json", b"0123456789", WriteMode::Atomic))
                .0,
        );
        fs.crash(ms(10), A);
        assert!(fs.finish(ms(20), torn).is_none(), "abandoned");
        assert!(fs.finish(ms(20), atomic).is_none(), "abandoned");
        assert_eq!(fs.read_now(ms(30), "t.json").unwrap(), b"01234");
        assert_eq!(
            fs.read_now(ms(30), "a.json").unwrap(),
            b"before",
            "target untouched"
        );
        assert_eq!(
            fs.read_now(ms(30), "a.json.tmp.0").unwrap(),
            b"01234",
            "temp left behind"
        );
    }

    #[test]
    fn missing_files_and_bad_paths_fail_cleanly() {
        let mut fs = SimFs::new(FsConfig::default());
        assert_eq!(read_result(&mut fs, ms(0), "nope"), Err(FsError::NotFound));
        for path in [
            "",
            "/etc/passwd",
            "../x",
            "a/../../b",
            "a//b",
            "./a",
            "a\\b",
        ] {
            let (begun, _) = fs.begin(ms(0), A, FileOp::Read { path: path.into() });
            assert_eq!(
                begun,
                Begun::Now(FileResult::Read {
                    path: path.into(),
                    result: Err(FsError::InvalidPath)
                })
            );
        }
    }

    #[test]
    fn watchers_hear_of_changes_in_their_directory_only() {
        let mut fs = SimFs::new(FsConfig::default());
        let (begun, _) = fs.begin(ms(0), B, FileOp::Watch { dir: "reg".into() });
        assert_eq!(
            begun,
            Begun::Now(FileResult::Watching { dir: "reg".into() })
        );
        let (begun, change) = fs.begin(ms(0), A, write("reg/x.json", b"1", WriteMode::Atomic));
        assert!(
            change.is_none(),
            "an atomic write is not visible until its rename"
        );
        let (id, done) = later(begun);
        let (host, result, change) = fs.finish(done, id).unwrap();
        assert_eq!(host, A);
        assert_eq!(
            result,
            FileResult::Written {
                path: "reg/x.json".into(),
                result: Ok(())
            }
        );
        assert_eq!(
            change,
            Some(Change {
                watchers: vec![B],
                path: "reg/x.json".into()
            })
        );
        let (_, change) = fs.begin(ms(30), A, write("other.json", b"1", WriteMode::InPlace));
        assert!(change.is_none(), "not a watched directory");
        let (_, change) = fs.begin(ms(30), A, write("reg/y.json", b"1", WriteMode::InPlace));
        assert_eq!(
            change.map(|c| c.path),
            Some("reg/y.json".into()),
            "an in-place write is seen when it starts"
        );
        fs.crash(ms(40), B);
        let (_, change) = fs.begin(ms(50), A, write("reg/z.json", b"1", WriteMode::InPlace));
        assert!(change.is_none(), "a crash ends the watch");
    }

    #[test]
    fn listings_of_the_shared_directory_share_its_names() {
        let mut fs = SimFs::new(FsConfig::default());
        fs.put("a", vec![1]);
        fs.put("a/c", vec![3]);
        fs.put("d/b", vec![2]);
        fs.put("d/e", vec![4]);
        let (first, second) = (fs.list(""), fs.list(""));
        assert_eq!(names(&fs, ""), vec!["a", "d"]);
        assert!(Rc::ptr_eq(&first[0], &second[0]), "a file's own name");
        assert!(
            !Rc::ptr_eq(&first[1], &second[1]),
            "a folder's name is made"
        );
    }

    #[test]
    fn rename_delete_and_listing() {
        let mut fs = SimFs::new(FsConfig::default());
        fs.put("d/a", vec![1]);
        fs.put("d/b", vec![2]);
        fs.put("d/sub/c", vec![3]);
        fs.put("top", vec![4]);
        assert_eq!(names(&fs, "d"), vec!["a", "b", "sub"]);
        assert_eq!(names(&fs, ""), vec!["d", "top"]);
        let (id, done) = later(
            fs.begin(
                ms(0),
                A,
                FileOp::Rename {
                    from: "d/a".into(),
                    to: "d/a.corrupted.5".into(),
                },
            )
            .0,
        );
        fs.finish(done, id).unwrap();
        assert_eq!(names(&fs, "d"), vec!["a.corrupted.5", "b", "sub"]);
        let (id, done) = later(fs.begin(ms(0), A, FileOp::Delete { path: "d/b".into() }).0);
        fs.finish(done, id).unwrap();
        let (id, done) = later(fs.begin(ms(0), A, FileOp::Delete { path: "d/b".into() }).0);
        let (_, result, _) = fs.finish(done, id).unwrap();
        assert_eq!(
            result,
            FileResult::Deleted {
                path: "d/b".into(),
                result: Err(FsError::NotFound)
            }
        );
        assert_eq!(fs.counters()[&A].metadata, 3);
    }

    fn stat(fs: &mut SimFs, at: SimTime, path: &str) -> Result<FileMeta, FsError> {
        let (id, done) = later(fs.begin(at, A, FileOp::Stat { path: path.into() }).0);
        assert_eq!(done, at + FsConfig::default().stat_time);
        match fs.finish(done, id).unwrap().1 {
            FileResult::Stat { result, .. } => result,
            other => panic!("not a stat: {other:?}"),
        }
    }

    #[test]
    fn stats_give_size_and_time_and_flag_what_a_cache_cannot_trust() {
        let mut fs = SimFs::new(FsConfig::default());
        fs.put_at(ms(3), "f.json", b"0123456789".to_vec());
        let first = stat(&mut fs, ms(10), "f.json").unwrap();
        assert_eq!(
            first,
            FileMeta {
                size: 10,
                modified_ns: ms(3).as_nanos(),
                recent: false
            }
        );
        // A rename keeps the time; a stat of a missing file fails.
        let (id, done) = later(
            fs.begin(
                ms(20),
                A,
                FileOp::Rename {
                    from: "f.json".into(),
                    to: "g.json".into(),
                },
            )
            .0,
        );
        fs.finish(done, id).unwrap();
        assert_eq!(stat(&mut fs, ms(30), "g.json").unwrap(), first);
        assert_eq!(stat(&mut fs, ms(30), "f.json"), Err(FsError::NotFound));
        // An in-place rewrite of the same size: while it fills, the stat
        // is recent; once done, the time is the write's end.
        let (id, done) = later(
            fs.begin(
                ms(40),
                B,
                write("g.json", b"abcdefghij", WriteMode::InPlace),
            )
            .0,
        );
        let during = stat(&mut fs, ms(45), "g.json").unwrap();
        assert!(during.recent, "{during:?}");
        fs.finish(done, id).unwrap();
        let after = stat(&mut fs, done + SimDuration::from_nanos(1), "g.json").unwrap();
        assert_eq!(after.size, 10);
        assert_eq!(after.modified_ns, done.as_nanos());
        assert!(!after.recent);
        assert_ne!(after.modified_ns, first.modified_ns);
        // Modified at the very nanosecond of the stat: recent.
        fs.put_at(ms(100) + FsConfig::default().stat_time, "h.json", vec![1]);
        assert!(stat(&mut fs, ms(100), "h.json").unwrap().recent);
        assert_eq!(fs.counters()[&A].stats, 6);
        let bad = fs
            .begin(
                ms(0),
                A,
                FileOp::Stat {
                    path: "../x".into(),
                },
            )
            .0;
        assert!(matches!(
            bad,
            Begun::Now(FileResult::Stat {
                result: Err(FsError::InvalidPath),
                ..
            })
        ));
    }
}

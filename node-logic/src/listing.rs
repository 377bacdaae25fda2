//! Directory listings that share their directory's history.
//!
//! A registrar lists the shared directory every second or so. With 100,000
//! files, a listing that hands over every name costs a cache miss per name
//! several times over (building it, reading it, comparing it with what is
//! known, dropping it), and almost none of the names changed since the last
//! one. So a driver that keeps its directory (the simulator) keeps the
//! directory's *history* instead: a [`ListingJournal`] of the names added
//! and removed, cut into frozen segments whenever it hands out a listing.
//! A [`Listing`] is the chain of segments up to its moment. A later listing
//! of the same directory says what changed since an earlier one
//! ([`Listing::changes_since`]) by reading only the segments in between.
//!
//! A listing made from plain names (a real directory's, a test's) has no
//! history to share: a difference against it is `None`, and the reader
//! makes a full pass over [`Listing::names`]. Either way a listing means
//! the same thing: the sorted, distinct names in the directory.

use std::collections::BTreeMap;
use std::fmt;
use std::rc::Rc;

use crate::io::ListedName;

/// One change to a directory's names.
#[derive(Clone, Debug)]
enum Change {
    Added(ListedName),
    Removed(ListedName),
}

/// A frozen run of changes that follow those of `prev`. A chain's first
/// segment (no `prev`) holds only additions, sorted and distinct: the
/// directory as it was when its journal began.
#[derive(Debug)]
struct Segment {
    changes: Vec<Change>,
    prev: Option<Rc<Segment>>,
    /// How many names the directory holds after this segment.
    len: usize,
}

impl Drop for Segment {
    /// Unlinks the chain one segment at a time: a long history must not
    /// drop recursively (one stack frame per segment).
    fn drop(&mut self) {
        let mut prev = self.prev.take();
        while let Some(segment) = prev {
            prev = match Rc::try_unwrap(segment) {
                Ok(mut only) => only.prev.take(),
                Err(_) => None,
            };
        }
    }
}

/// The names in a directory at one moment: sorted, distinct.
///
/// What [`crate::io::FileResult::Listed`] carries. Cheap to clone (it
/// shares its segments). Compare two listings of one directory with
/// [`Listing::changes_since`].
#[derive(Clone)]
pub struct Listing {
    tail: Rc<Segment>,
}

/// A name that appeared in a directory or left it
/// ([`Listing::changes_since`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NameChange<'a> {
    /// The name.
    pub name: &'a ListedName,
    /// Whether the directory holds it after the change (`false`: it was
    /// removed).
    pub present: bool,
}

impl Listing {
    /// How many names it holds.
    pub fn len(&self) -> usize {
        self.tail.len
    }

    /// Whether it holds no names.
    pub fn is_empty(&self) -> bool {
        self.tail.len == 0
    }

    /// Every name, sorted. Costs a pass over the directory (and over the
    /// changes since its journal began); readers that list again and again
    /// use [`Listing::changes_since`].
    pub fn names(&self) -> Vec<ListedName> {
        let chain = self.chain_after(None).expect("every chain has a root");
        let (root, later) = chain.split_first().expect("a chain has a root");
        let root: Vec<&ListedName> = root.changes.iter().map(added_name).collect();
        let changes = net_changes(later);
        merge(&root, &changes)
    }

    /// What happened to the directory between `earlier` and this listing,
    /// in the order it happened, when both are listings of one directory
    /// from one journal and `earlier` is not the later one: applying the
    /// changes in order to `earlier`'s names gives this listing's. A name
    /// may come and go more than once. `None` otherwise: then only a full
    /// pass over [`Listing::names`] says what changed.
    pub fn changes_since<'a>(
        &'a self,
        earlier: &Listing,
    ) -> Option<impl Iterator<Item = NameChange<'a>> + use<'a>> {
        let chain = self.chain_after(Some(&earlier.tail))?;
        Some(
            chain
                .into_iter()
                .flat_map(|s| &s.changes)
                .map(|change| match change {
                    Change::Added(name) => NameChange {
                        name,
                        present: true,
                    },
                    Change::Removed(name) => NameChange {
                        name,
                        present: false,
                    },
                }),
        )
    }

    /// The segments after `stop` up to this listing's, oldest first: all of
    /// them, the root first, when `stop` is `None`. `None` when `stop` is
    /// not in this listing's chain.
    fn chain_after(&self, stop: Option<&Rc<Segment>>) -> Option<Vec<&Segment>> {
        let mut chain = Vec::new();
        let mut at = Some(&self.tail);
        loop {
            match (at, stop) {
                (Some(segment), Some(stop)) if Rc::ptr_eq(segment, stop) => break,
                (Some(segment), _) => {
                    chain.push(&**segment);
                    at = segment.prev.as_ref();
                }
                (None, None) => break,
                (None, Some(_)) => return None,
            }
        }
        chain.reverse();
        Some(chain)
    }
}

/// The name a root segment's change adds (root segments only add).
fn added_name(change: &Change) -> &ListedName {
    match change {
        Change::Added(name) => name,
        Change::Removed(_) => unreachable!("a root segment only adds names"),
    }
}

/// Net effect of `segments`' changes, applied in order: each name whose
/// presence differs at the end from before them, and its final presence.
fn net_changes(segments: &[&Segment]) -> BTreeMap<ListedName, bool> {
    // Name -> (present before, present now).
    let mut seen: BTreeMap<&ListedName, (bool, bool)> = BTreeMap::new();
    for change in segments.iter().flat_map(|s| &s.changes) {
        let (name, present) = match change {
            Change::Added(name) => (name, true),
            Change::Removed(name) => (name, false),
        };
        seen.entry(name).or_insert((!present, present)).1 = present;
    }
    seen.into_iter()
        .filter(|(_, (before, now))| before != now)
        .map(|(name, (_, now))| (Rc::clone(name), now))
        .collect()
}

/// `root` (sorted) with `changes` applied: removed names left out, added
/// ones merged in, sorted.
fn merge(root: &[&ListedName], changes: &BTreeMap<ListedName, bool>) -> Vec<ListedName> {
    let mut names = Vec::with_capacity(root.len() + changes.len());
    let mut changes = changes.iter().peekable();
    for &name in root {
        while let Some((added, _)) = changes.next_if(|(c, present)| **present && *c < name) {
            names.push(Rc::clone(added));
        }
        if changes.next_if(|(c, _)| *c == name).is_none() {
            names.push(Rc::clone(name));
        }
    }
    names.extend(
        changes
            .filter(|(_, present)| **present)
            .map(|(n, _)| Rc::clone(n)),
    );
    names
}

impl From<Vec<ListedName>> for Listing {
    /// A listing of `names` (sorted and deduplicated here), with no history.
    fn from(mut names: Vec<ListedName>) -> Self {
        names.sort_unstable();
        names.dedup();
        Listing {
            tail: Rc::new(root_segment(names)),
        }
    }
}

impl FromIterator<ListedName> for Listing {
    fn from_iter<I: IntoIterator<Item = ListedName>>(names: I) -> Self {
        Listing::from(names.into_iter().collect::<Vec<_>>())
    }
}

fn root_segment(names: Vec<ListedName>) -> Segment {
    Segment {
        len: names.len(),
        changes: names.into_iter().map(Change::Added).collect(),
        prev: None,
    }
}

impl PartialEq for Listing {
    fn eq(&self, other: &Self) -> bool {
        Rc::ptr_eq(&self.tail, &other.tail) || self.names() == other.names()
    }
}

impl Eq for Listing {}

impl fmt::Debug for Listing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.names()).finish()
    }
}

/// The history of one directory's names, kept by a driver that lists the
/// directory again and again; each [`Listing`] it hands out shares it.
///
/// The driver reports every change: [`ListingJournal::add`] for a name the
/// directory did not hold, [`ListingJournal::remove`] for one it held.
/// History grows with every change; a driver starts a new journal (from
/// the directory's names) when [`ListingJournal::history`] outgrows the
/// directory, and listings of the old one then compare as unrelated.
#[derive(Debug)]
pub struct ListingJournal {
    tail: Rc<Segment>,
    pending: Vec<Change>,
    len: usize,
    history: usize,
}

impl ListingJournal {
    /// A journal of a directory that holds `names` now.
    pub fn new(names: Vec<ListedName>) -> Self {
        let first = Listing::from(names);
        ListingJournal {
            len: first.len(),
            tail: first.tail,
            pending: Vec::new(),
            history: 0,
        }
    }

    /// `name` appeared in the directory (it was not there).
    pub fn add(&mut self, name: ListedName) {
        self.len += 1;
        self.history += 1;
        self.pending.push(Change::Added(name));
    }

    /// `name` left the directory (it was there).
    pub fn remove(&mut self, name: ListedName) {
        self.len -= 1;
        self.history += 1;
        self.pending.push(Change::Removed(name));
    }

    /// The directory as it is now.
    pub fn listing(&mut self) -> Listing {
        if !self.pending.is_empty() {
            let changes = std::mem::take(&mut self.pending);
            self.tail = Rc::new(Segment {
                changes,
                prev: Some(Rc::clone(&self.tail)),
                len: self.len,
            });
        }
        Listing {
            tail: Rc::clone(&self.tail),
        }
    }

    /// How many names the directory holds now.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the directory holds no names now.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// How many changes it keeps (since it began).
    pub fn history(&self) -> usize {
        self.history
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use rand::RngExt;
    use rand_chacha::ChaCha8Rng;
    use rand_core::SeedableRng;

    use super::*;

    fn strs(names: &[ListedName]) -> Vec<&str> {
        names.iter().map(|n| &**n).collect()
    }

    #[test]
    fn a_listing_from_names_is_sorted_and_distinct_and_has_no_history() {
        let listing: Listing = ["b", "a", "b"].into_iter().map(ListedName::from).collect();
        assert_eq!(strs(&listing.names()), ["a", "b"]);
        assert_eq!(listing.len(), 2);
        let other = Listing::from(vec![ListedName::from("a")]);
        assert!(listing.changes_since(&other).is_none());
        assert_eq!(
            listing.changes_since(&listing).map(Iterator::count),
            Some(0)
        );
    }

    /// Random changes to a directory, listed now and then: every listing
    /// names what a plain set holds, and applying the changes between any
    /// two listings of the journal to the earlier set gives the later.
    #[test]
    fn listings_and_their_changes_match_a_plain_set() {
        let mut rng = ChaCha8Rng::seed_from_u64(11);
        for _ in 0..40 {
            let mut set: BTreeSet<String> = BTreeSet::new();
            let mut journal = ListingJournal::new(vec![]);
            let mut taken: Vec<(Listing, BTreeSet<String>)> = Vec::new();
            for _ in 0..200 {
                let name = format!("n{}", rng.random_range(0..30));
                if set.remove(&name) {
                    journal.remove(name.as_str().into());
                } else {
                    set.insert(name.clone());
                    journal.add(name.as_str().into());
                }
                if rng.random_bool(0.2) {
                    taken.push((journal.listing(), set.clone()));
                }
            }
            for (i, (later, later_set)) in taken.iter().enumerate() {
                let names = later.names();
                assert_eq!(strs(&names), later_set.iter().collect::<Vec<_>>());
                assert_eq!(later.len(), later_set.len());
                for (earlier, earlier_set) in &taken[..i] {
                    let mut applied = earlier_set.clone();
                    for change in later.changes_since(earlier).expect("one journal") {
                        match change.present {
                            true => assert!(applied.insert(change.name.to_string())),
                            false => assert!(applied.remove(&**change.name)),
                        }
                    }
                    assert_eq!(&applied, later_set);
                }
                if let Some((next, _)) = taken.get(i + 1)
                    && !Rc::ptr_eq(&next.tail, &later.tail)
                {
                    assert!(next.changes_since(later).is_some());
                    assert!(later.changes_since(next).is_none(), "the later one first");
                }
            }
        }
    }

    #[test]
    fn a_long_history_drops_without_recursion() {
        let mut journal = ListingJournal::new(vec![]);
        for i in 0..200_000 {
            journal.add(format!("n{i}").as_str().into());
            journal.listing();
        }
        assert_eq!(journal.listing().len(), 200_000);
        drop(journal);
    }
}

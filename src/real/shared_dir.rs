//! The shared directory of a real run: [`FileOp`]s carried out on real
//! files under one root, which other processes (and a hostile user) can
//! write too. Nothing in it is trusted:
//!
//! - **Nothing leaves the directory.** Every path passes the simulator's
//!   rule ([`valid_path`]: relative, no `.`/`..`/empty parts), and is then
//!   resolved one component at a time from an open descriptor of the root
//!   with `openat(.., O_NOFOLLOW | O_DIRECTORY)`: a symbolic link anywhere
//!   on the way is never followed (`ELOOP`), so `a/b` cannot lead outside
//!   even if `a` is swapped for a link (no race between check and use).
//!   `openat2(RESOLVE_BENEATH)` would do the walk in one call on Linux 5.6+;
//!   the component walk is as sound everywhere, and paths here are short.
//! - **No symlink is followed** at the last component either: reads and
//!   in-place writes open with `O_NOFOLLOW`; renames and deletes act on
//!   the name itself (`renameat`/`unlinkat` never follow).
//! - **Temporary files are created exclusively** (`O_CREAT | O_EXCL`): an
//!   atomic write fills `<path>.tmp.<host>` and renames it over the target.
//!   A name already there (a temp left by a crash, or a planted file or
//!   link) is unlinked first, never written through.
//! - **Regular files only, never blocking:** opens use `O_NONBLOCK` (a FIFO
//!   does not wait for a writer) and `fstat` on the open file refuses
//!   anything that is not a regular file (FIFO, device, directory, socket).
//! - **Bounded reads:** a registration file is read only up to
//!   [`MAX_FILE_BYTES`] (64 KiB, past which registrars refuse it anyway),
//!   the legacy registry up to [`MAX_LEGACY_REGISTRY_BYTES`] (16 MiB);
//!   larger is refused without reading it all.
//!
//! - **Stats never open the file:** [`FileOp::Stat`] is one `fstatat`
//!   without following a link; a link, FIFO, device, directory or socket
//!   is refused as a read would refuse it, and so is a file larger than a
//!   read would take (it is not read, and nothing could skip it). The
//!   modification time is the filesystem's, in ns since the Unix epoch;
//!   its real granularity is the filesystem's (ext4, XFS, btrfs: ns
//!   fields set from the kernel's coarse clock, a few ms; ext3, HFS+: 1 s;
//!   FAT: 2 s; NFS: the server's clock). A stat within
//!   [`RECENT_WINDOW`] (2 s) of the file's modification time, or of a time
//!   ahead of this host's clock (clock skew), is flagged `recent`, so a
//!   cache does not trust it: a same-size rewrite within the granularity
//!   would keep size and time. Skew beyond 2 s between a file server and
//!   this host is not covered.
//!
//! A refused file is an `FsError::Io` for the node (a registrar treats it
//! as unreadable: quarantined or asked for again) and is counted by reason
//! ([`SharedDir::refused`]: `symlink`, `not-a-file`, `too-large`,
//! `planted-temp`). A watch is a poll of the directory's names, sizes and
//! modification times, read without following links, reported as
//! [`Input::FileChanged`](node_logic::Input) per path.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{self, Read as _, Write as _};
use std::os::fd::OwnedFd;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use node_logic::HostId;
use node_logic::io::{FileMeta, FileOp, FileResult, FsError, ListedName, WriteMode};
use node_logic::protocols::registration::file::{
    LEGACY_REGISTRY_FILE, MAX_FILE_BYTES, MAX_LEGACY_REGISTRY_BYTES,
};
use rustix::fs::{AtFlags, Dir, FileType, Mode, OFlags};
use rustix::io::Errno;
use sim_core::fs::{FsCounters, valid_path};

/// One host's view of the shared directory.
#[derive(Debug)]
pub struct SharedDir {
    root: OwnedFd,
    host: HostId,
    counters: FsCounters,
    refused: BTreeMap<String, u64>,
    watches: BTreeMap<String, Snapshot>,
}

/// What a watched directory held at the last poll: name -> (size, mtime s,
/// mtime ns).
type Snapshot = BTreeMap<String, (i64, i64, u64)>;

/// How close to a file's modification time a stat is flagged `recent`
/// (not to be trusted by a cache of sizes and times): the coarsest common
/// timestamp granularity (FAT's 2 s) covers ext3's and HFS+'s 1 s and the
/// kernel's coarse clock on ns-stamped filesystems.
pub const RECENT_WINDOW: Duration = Duration::from_secs(2);

/// Flags of every directory opened on the way to a file.
const DIR_FLAGS: OFlags = OFlags::RDONLY
    .union(OFlags::DIRECTORY)
    .union(OFlags::NOFOLLOW)
    .union(OFlags::CLOEXEC);

/// Mode of files and directories created.
const FILE_MODE: Mode = Mode::from_raw_mode(0o644);
const DIR_MODE: Mode = Mode::from_raw_mode(0o755);

impl SharedDir {
    /// The directory at `root` (created if missing), used by `host`.
    pub fn open(root: &Path, host: HostId) -> io::Result<Self> {
        fs::create_dir_all(root)?;
        // The root itself is the user's choice (it may be a link); nothing
        // below it is followed.
        let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
        let root = rustix::fs::open(root, flags, Mode::empty())?;
        Ok(SharedDir {
            root,
            host,
            counters: FsCounters::default(),
            refused: BTreeMap::new(),
            watches: BTreeMap::new(),
        })
    }

    /// Operations completed so far, in the simulator's categories.
    pub fn counters(&self) -> FsCounters {
        self.counters
    }

    /// Files refused so far (not followed, not read), by reason.
    pub fn refused(&self) -> &BTreeMap<String, u64> {
        &self.refused
    }

    /// Whether any directory is watched (the driver then polls).
    pub fn is_watching(&self) -> bool {
        !self.watches.is_empty()
    }

    /// Carries out `op` now and returns its result.
    pub fn apply(&mut self, op: FileOp) -> FileResult {
        match op {
            FileOp::Write { path, bytes, mode } => {
                self.counters.writes += 1;
                let result = self.write(&path, &bytes, mode);
                FileResult::Written { path, result }
            }
            FileOp::Read { path } => {
                self.counters.reads += 1;
                let result = self.read(&path);
                FileResult::Read { path, result }
            }
            FileOp::List { dir } => {
                self.counters.lists += 1;
                let result = self
                    .list(&dir)
                    .map(|names| names.into_iter().map(ListedName::from).collect());
                FileResult::Listed { dir, result }
            }
            FileOp::Rename { from, to } => {
                self.counters.metadata += 1;
                let result = self.rename(&from, &to);
                FileResult::Renamed { from, to, result }
            }
            FileOp::Delete { path } => {
                self.counters.metadata += 1;
                let result = self.delete(&path);
                FileResult::Deleted { path, result }
            }
            FileOp::Stat { path } => {
                self.counters.stats += 1;
                let result = self.stat(&path);
                FileResult::Stat { path, result }
            }
            FileOp::Watch { dir } => match self.snapshot(&dir) {
                Ok(snapshot) => {
                    self.watches.insert(dir.clone(), snapshot);
                    FileResult::Watching { dir }
                }
                Err(e) => FileResult::Listed {
                    dir,
                    result: Err(e),
                },
            },
        }
    }

    /// The paths that changed in watched directories since the last poll,
    /// sorted.
    pub fn poll_changes(&mut self) -> Vec<String> {
        let mut changed = Vec::new();
        let dirs: Vec<String> = self.watches.keys().cloned().collect();
        for dir in dirs {
            let new = self.snapshot(&dir).unwrap_or_default();
            let old = self
                .watches
                .insert(dir.clone(), new.clone())
                .unwrap_or_default();
            for (name, meta) in &new {
                if old.get(name) != Some(meta) {
                    changed.push(join(&dir, name));
                }
            }
            for name in old.keys() {
                if !new.contains_key(name) {
                    changed.push(join(&dir, name));
                }
            }
        }
        changed.sort();
        changed
    }

    /// Places each of `files` (path, bytes) that is missing: the files the
    /// protocols put in a fresh shared directory before a run (a legacy
    /// registry). Every process of a run does this when it starts, so a
    /// fresh directory (Shadow's, inside its data folder) is filled by
    /// whichever starts first; a file already there is kept (two processes
    /// racing write the same bytes, each atomically).
    pub fn place_missing(&mut self, files: &[(String, Vec<u8>)]) -> io::Result<()> {
        for (path, bytes) in files {
            match self.read(path) {
                Ok(_) => {}
                Err(FsError::NotFound) => self
                    .write(path, bytes, WriteMode::Atomic)
                    .map_err(|e| io::Error::other(format!("{path}: {e}")))?,
                Err(e) => return Err(io::Error::other(format!("{path}: {e}"))),
            }
        }
        Ok(())
    }

    /// Reads the regular file at `path`, bounded (what [`FileOp::Read`]
    /// does, without counting an operation).
    pub fn read(&mut self, path: &str) -> Result<Vec<u8>, FsError> {
        let (dir, leaf) = self.parent(path, false)?;
        let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC;
        let fd = rustix::fs::openat(&dir, leaf, flags, Mode::empty())
            .map_err(|e| self.errno(path, e))?;
        let size = self.regular_size(path, &fd)?;
        let limit = read_limit(leaf);
        if size > limit {
            return Err(self.too_large(path, limit));
        }
        let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
        File::from(fd)
            .take(limit + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| FsError::Io(e.to_string()))?;
        if bytes.len() as u64 > limit {
            return Err(self.too_large(path, limit));
        }
        Ok(bytes)
    }

    /// The size and modification time of the regular file at `path`
    /// (what [`FileOp::Stat`] does, without counting an operation): never
    /// opened, a link never followed; what a read would refuse is refused.
    pub fn stat(&mut self, path: &str) -> Result<FileMeta, FsError> {
        let (dir, leaf) = self.parent(path, false)?;
        let stat = rustix::fs::statat(&dir, leaf, AtFlags::SYMLINK_NOFOLLOW)
            .map_err(|e| self.errno(path, e))?;
        match FileType::from_raw_mode(stat.st_mode) {
            FileType::RegularFile => {}
            FileType::Symlink => return Err(self.errno(path, Errno::LOOP)),
            other => {
                self.count("not-a-file");
                return Err(FsError::Io(format!(
                    "refused {path}: it is {}, not a regular file",
                    kind_name(other)
                )));
            }
        }
        let size = u64::try_from(stat.st_size).unwrap_or(0);
        let limit = read_limit(leaf);
        if size > limit {
            return Err(self.too_large(path, limit));
        }
        let seconds = u64::try_from(stat.st_mtime).unwrap_or(0);
        // `st_mtime_nsec` is signed on some targets.
        #[allow(clippy::useless_conversion)]
        let nanos = u64::try_from(stat.st_mtime_nsec).unwrap_or(0);
        let modified = UNIX_EPOCH + Duration::from_secs(seconds) + Duration::from_nanos(nanos);
        Ok(FileMeta {
            size,
            modified_ns: seconds.saturating_mul(1_000_000_000).saturating_add(nanos),
            recent: is_recent(modified, SystemTime::now()),
        })
    }

    /// Writes `bytes` to `path` (what [`FileOp::Write`] does, without
    /// counting an operation).
    pub fn write(&mut self, path: &str, bytes: &[u8], mode: WriteMode) -> Result<(), FsError> {
        let (dir, leaf) = self.parent(path, true)?;
        match mode {
            WriteMode::Atomic => {
                let temp = format!("{leaf}.tmp.{}", self.host.0);
                let file = self.create_exclusive(&dir, path, &temp)?;
                let written = fill(file, bytes);
                let renamed = written.and_then(|()| {
                    rustix::fs::renameat(&dir, temp.as_str(), &dir, leaf).map_err(io::Error::from)
                });
                renamed.map_err(|e| {
                    let _ = rustix::fs::unlinkat(&dir, temp.as_str(), AtFlags::empty());
                    FsError::Io(e.to_string())
                })
            }
            WriteMode::InPlace => {
                let flags = OFlags::WRONLY
                    | OFlags::CREATE
                    | OFlags::NOFOLLOW
                    | OFlags::NONBLOCK
                    | OFlags::CLOEXEC;
                let fd = rustix::fs::openat(&dir, leaf, flags, FILE_MODE)
                    .map_err(|e| self.errno(path, e))?;
                self.regular_size(path, &fd)?;
                rustix::fs::ftruncate(&fd, 0).map_err(|e| FsError::Io(e.to_string()))?;
                fill(File::from(fd), bytes).map_err(|e| FsError::Io(e.to_string()))
            }
        }
    }

    /// Creates `temp` in `dir` exclusively; a name already there is
    /// unlinked (not followed) first, once.
    fn create_exclusive(&mut self, dir: &OwnedFd, path: &str, temp: &str) -> Result<File, FsError> {
        let flags =
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        for attempt in 0..2 {
            match rustix::fs::openat(dir, temp, flags, FILE_MODE) {
                Ok(fd) => return Ok(File::from(fd)),
                Err(Errno::EXIST) if attempt == 0 => {
                    if is_link(dir, temp) {
                        self.count("planted-temp");
                    }
                    rustix::fs::unlinkat(dir, temp, AtFlags::empty())
                        .map_err(|e| self.errno(path, e))?;
                }
                Err(e) => return Err(self.errno(path, e)),
            }
        }
        Err(FsError::Io(format!(
            "{temp}: created by someone else while writing {path}"
        )))
    }

    fn rename(&mut self, from: &str, to: &str) -> Result<(), FsError> {
        let (from_dir, from_leaf) = self.parent(from, false)?;
        let (to_dir, to_leaf) = self.parent(to, false)?;
        rustix::fs::renameat(&from_dir, from_leaf, &to_dir, to_leaf)
            .map_err(|e| self.errno(from, e))
    }

    fn delete(&mut self, path: &str) -> Result<(), FsError> {
        let (dir, leaf) = self.parent(path, false)?;
        rustix::fs::unlinkat(&dir, leaf, AtFlags::empty()).map_err(|e| self.errno(path, e))
    }

    fn list(&mut self, dir: &str) -> Result<Vec<String>, FsError> {
        let fd = match self.open_dir(dir, false) {
            Ok(fd) => fd,
            // The simulator's directory always exists: an absent one is empty.
            Err(FsError::NotFound) => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        let mut names = Vec::new();
        for entry in Dir::read_from(&fd).map_err(|e| self.errno(dir, e))? {
            let entry = entry.map_err(|e| self.errno(dir, e))?;
            if let Ok(name) = entry.file_name().to_str()
                && name != "."
                && name != ".."
            {
                names.push(name.to_string());
            }
        }
        names.sort();
        Ok(names)
    }

    /// Names, sizes and modification times in `dir`, links not followed.
    fn snapshot(&mut self, dir: &str) -> Result<Snapshot, FsError> {
        let fd = self.open_dir(dir, false)?;
        let mut snapshot = Snapshot::new();
        for name in self.list(dir)? {
            if let Ok(s) = rustix::fs::statat(&fd, name.as_str(), AtFlags::SYMLINK_NOFOLLOW) {
                // A u32 on 32-bit targets.
                #[allow(clippy::useless_conversion)]
                let nanos = u64::from(s.st_mtime_nsec);
                snapshot.insert(name, (s.st_size, s.st_mtime, nanos));
            }
        }
        Ok(snapshot)
    }

    /// The open directory holding `path`'s last component, and that
    /// component; missing directories are made when `create`.
    fn parent<'p>(&mut self, path: &'p str, create: bool) -> Result<(OwnedFd, &'p str), FsError> {
        if !valid_path(path) {
            return Err(FsError::InvalidPath);
        }
        let (dirs, leaf) = path.rsplit_once('/').unwrap_or(("", path));
        Ok((self.open_dir(dirs, create)?, leaf))
    }

    /// The directory `dirs` (`a/b`, or `""` for the root), walked one
    /// component at a time without following links.
    fn open_dir(&mut self, dirs: &str, create: bool) -> Result<OwnedFd, FsError> {
        if !dirs.is_empty() && !valid_path(dirs) {
            return Err(FsError::InvalidPath);
        }
        let mut fd = rustix::fs::openat(&self.root, ".", DIR_FLAGS, Mode::empty())
            .map_err(|e| self.errno(dirs, e))?;
        for part in dirs.split('/').filter(|p| !p.is_empty()) {
            let next = match rustix::fs::openat(&fd, part, DIR_FLAGS, Mode::empty()) {
                Err(Errno::NOENT) if create => {
                    match rustix::fs::mkdirat(&fd, part, DIR_MODE) {
                        Ok(()) | Err(Errno::EXIST) => {}
                        Err(e) => return Err(self.errno(dirs, e)),
                    }
                    rustix::fs::openat(&fd, part, DIR_FLAGS, Mode::empty())
                }
                other => other,
            };
            fd = match next {
                Ok(next) => next,
                // O_DIRECTORY meets a link as "not a directory": say which.
                Err(Errno::NOTDIR) if is_link(&fd, part) => {
                    return Err(self.errno(dirs, Errno::LOOP));
                }
                Err(e) => return Err(self.errno(dirs, e)),
            };
        }
        Ok(fd)
    }

    /// The size of the open file at `path`, if it is a regular file.
    fn regular_size(&mut self, path: &str, fd: &OwnedFd) -> Result<u64, FsError> {
        let stat = rustix::fs::fstat(fd).map_err(|e| self.errno(path, e))?;
        match FileType::from_raw_mode(stat.st_mode) {
            FileType::RegularFile => Ok(u64::try_from(stat.st_size).unwrap_or(0)),
            other => {
                self.count("not-a-file");
                Err(FsError::Io(format!(
                    "refused {path}: it is {}, not a regular file",
                    kind_name(other)
                )))
            }
        }
    }

    fn too_large(&mut self, path: &str, limit: u64) -> FsError {
        self.count("too-large");
        FsError::Io(format!(
            "refused {path}: larger than {limit} bytes, not read"
        ))
    }

    /// An OS error on `path` as the node sees it; a link met on the way
    /// (`ELOOP`, from `O_NOFOLLOW`) or a FIFO without a reader (`ENXIO`,
    /// from a non-blocking write open) is counted as refused.
    fn errno(&mut self, path: &str, e: Errno) -> FsError {
        match e {
            Errno::NOENT => FsError::NotFound,
            Errno::LOOP => {
                self.count("symlink");
                FsError::Io(format!("refused {path}: a symbolic link, never followed"))
            }
            Errno::NOTDIR => {
                self.count("not-a-file");
                FsError::Io(format!("refused {path}: a part of it is not a directory"))
            }
            Errno::NXIO => {
                self.count("not-a-file");
                FsError::Io(format!(
                    "refused {path}: a FIFO or device, not a regular file"
                ))
            }
            other => FsError::Io(format!("{path}: {}", io::Error::from(other))),
        }
    }

    fn count(&mut self, reason: &str) {
        *self.refused.entry(reason.to_string()).or_default() += 1;
    }
}

/// Whether a file modified at `modified` is, at `now`, too recently
/// modified for its size and time to prove it unchanged later: within
/// [`RECENT_WINDOW`], or ahead of this host's clock.
fn is_recent(modified: SystemTime, now: SystemTime) -> bool {
    match now.duration_since(modified) {
        Ok(age) => age < RECENT_WINDOW,
        Err(_) => true,
    }
}

/// Whether `name` in `dir` is a symbolic link (not followed to tell).
fn is_link(dir: &OwnedFd, name: &str) -> bool {
    rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW)
        .is_ok_and(|s| FileType::from_raw_mode(s.st_mode) == FileType::Symlink)
}

/// The most bytes read from the file named `leaf`.
fn read_limit(leaf: &str) -> u64 {
    let bytes = if leaf == LEGACY_REGISTRY_FILE {
        MAX_LEGACY_REGISTRY_BYTES
    } else {
        MAX_FILE_BYTES
    };
    bytes as u64
}

/// Writes and flushes a whole file.
fn fill(mut file: File, bytes: &[u8]) -> io::Result<()> {
    file.write_all(bytes)?;
    file.sync_data()
}

/// "a FIFO (named pipe)", ... for messages.
fn kind_name(file_type: FileType) -> &'static str {
    match file_type {
        FileType::RegularFile => "a regular file",
        FileType::Directory => "a directory",
        FileType::Symlink => "a symbolic link",
        FileType::Fifo => "a FIFO (named pipe)",
        FileType::Socket => "a socket",
        FileType::CharacterDevice => "a character device",
        FileType::BlockDevice => "a block device",
        _ => "an unknown kind of file",
    }
}

fn join(dir: &str, name: &str) -> String {
    if dir.is_empty() {
        name.to_string()
    } else {
        format!("{dir}/{name}")
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::symlink;
    use std::path::PathBuf;

    use super::*;

    fn temp(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("sim-shared-dir-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        dir
    }

    fn write(path: &str, bytes: &[u8], mode: WriteMode) -> FileOp {
        FileOp::Write {
            path: path.into(),
            bytes: bytes.to_vec(),
            mode,
        }
    }

    #[test]
    fn operations_work_on_real_files_and_leave_no_temp_behind() {
        let root = temp("ops");
        let mut dir = SharedDir::open(&root, HostId(3)).unwrap();
        for mode in [WriteMode::Atomic, WriteMode::InPlace] {
            let r = dir.apply(write("a_miner_info.json", b"{}", mode));
            assert_eq!(
                r,
                FileResult::Written {
                    path: "a_miner_info.json".into(),
                    result: Ok(())
                }
            );
        }
        assert_eq!(fs::read(root.join("a_miner_info.json")).unwrap(), b"{}");
        let listed = dir.apply(FileOp::List { dir: String::new() });
        assert_eq!(
            listed,
            FileResult::Listed {
                dir: String::new(),
                result: Ok(vec!["a_miner_info.json".into()].into())
            }
        );
        dir.apply(FileOp::Rename {
            from: "a_miner_info.json".into(),
            to: "q/b".into(),
        });
        // Renaming into a missing folder fails cleanly; the file stays.
        assert!(root.join("a_miner_info.json").exists());
        let read = dir.apply(FileOp::Read {
            path: "missing".into(),
        });
        assert_eq!(
            read,
            FileResult::Read {
                path: "missing".into(),
                result: Err(FsError::NotFound)
            }
        );
        let c = dir.counters();
        assert_eq!((c.writes, c.reads, c.lists, c.metadata), (2, 1, 1, 1));
        fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn no_path_leaves_the_directory() {
        let root = temp("escape");
        let mut dir = SharedDir::open(&root.join("shared"), HostId(0)).unwrap();
        for path in [
            "../x",
            "/etc/passwd",
            "a/../../x",
            "",
            "a//b",
            "./a",
            "a\\..\\b",
        ] {
            let r = dir.apply(write(path, b"x", WriteMode::Atomic));
            assert_eq!(
                r,
                FileResult::Written {
                    path: path.into(),
                    result: Err(FsError::InvalidPath)
                },
                "{path}"
            );
        }
        assert!(!root.join("x").exists());
        assert_eq!(fs::read_dir(root.join("shared")).unwrap().count(), 0);
        fs::remove_dir_all(&root).unwrap();
    }

    fn read(path: &str) -> FileOp {
        FileOp::Read { path: path.into() }
    }

    fn read_result(dir: &mut SharedDir, path: &str) -> Result<Vec<u8>, FsError> {
        match dir.apply(read(path)) {
            FileResult::Read { result, .. } => result,
            other => panic!("{other:?}"),
        }
    }

    fn write_result(dir: &mut SharedDir, path: &str, mode: WriteMode) -> Result<(), FsError> {
        match dir.apply(write(path, b"new", mode)) {
            FileResult::Written { result, .. } => result,
            other => panic!("{other:?}"),
        }
    }

    /// `root/shared` for the directory and `root/outside/secret` holding
    /// "secret", which nothing may read or change.
    fn with_outside(name: &str) -> (PathBuf, PathBuf, PathBuf) {
        let root = temp(name);
        let outside = root.join("outside");
        fs::create_dir_all(&outside).unwrap();
        fs::write(outside.join("secret"), b"secret").unwrap();
        (root.join("shared"), outside.join("secret"), root)
    }

    #[track_caller]
    fn refused(result: Result<impl std::fmt::Debug, FsError>, what: &str) {
        match result {
            Err(FsError::Io(message)) => assert!(message.contains(what), "{message}"),
            other => panic!("expected a refusal ({what}), got {other:?}"),
        }
    }

    fn mkfifo(path: &Path) {
        let c = std::ffi::CString::new(path.to_str().unwrap()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    }

    #[test]
    fn a_link_to_an_outside_file_is_never_read_or_written_through() {
        let (shared, secret, root) = with_outside("link-out");
        let mut dir = SharedDir::open(&shared, HostId(1)).unwrap();
        symlink(&secret, shared.join("a_miner_info.json")).unwrap();
        refused(read_result(&mut dir, "a_miner_info.json"), "symbolic link");
        refused(
            write_result(&mut dir, "a_miner_info.json", WriteMode::InPlace),
            "symbolic link",
        );
        // An atomic write replaces the link itself with a file.
        write_result(&mut dir, "a_miner_info.json", WriteMode::Atomic).unwrap();
        assert!(
            !fs::symlink_metadata(shared.join("a_miner_info.json"))
                .unwrap()
                .is_symlink()
        );
        assert_eq!(fs::read(shared.join("a_miner_info.json")).unwrap(), b"new");
        // Renaming onto a link replaces the link; deleting one deletes the link.
        symlink(&secret, shared.join("link")).unwrap();
        dir.apply(FileOp::Rename {
            from: "a_miner_info.json".into(),
            to: "link".into(),
        });
        symlink(&secret, shared.join("gone")).unwrap();
        dir.apply(FileOp::Delete {
            path: "gone".into(),
        });
        assert!(!shared.join("gone").exists());
        assert_eq!(fs::read(&secret).unwrap(), b"secret");
        assert_eq!(dir.refused()["symlink"], 2);
        fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn a_planted_temporary_is_removed_not_written_through() {
        let (shared, secret, root) = with_outside("planted-temp");
        let mut dir = SharedDir::open(&shared, HostId(4)).unwrap();
        symlink(&secret, shared.join("a_miner_info.json.tmp.4")).unwrap();
        write_result(&mut dir, "a_miner_info.json", WriteMode::Atomic).unwrap();
        assert_eq!(fs::read(shared.join("a_miner_info.json")).unwrap(), b"new");
        assert!(!shared.join("a_miner_info.json.tmp.4").exists());
        assert_eq!(fs::read(&secret).unwrap(), b"secret");
        assert_eq!(dir.refused()["planted-temp"], 1);
        // A plain file left by a crash is replaced without a count.
        fs::write(shared.join("b_miner_info.json.tmp.4"), b"stale").unwrap();
        write_result(&mut dir, "b_miner_info.json", WriteMode::Atomic).unwrap();
        assert_eq!(dir.refused()["planted-temp"], 1);
        fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn a_linked_folder_is_never_entered() {
        let (shared, secret, root) = with_outside("link-dir");
        let mut dir = SharedDir::open(&shared, HostId(0)).unwrap();
        symlink(secret.parent().unwrap(), shared.join("sub")).unwrap();
        refused(read_result(&mut dir, "sub/secret"), "symbolic link");
        refused(
            write_result(&mut dir, "sub/x", WriteMode::Atomic),
            "symbolic link",
        );
        let listed = dir.apply(FileOp::List { dir: "sub".into() });
        assert!(
            matches!(listed, FileResult::Listed { result: Err(_), .. }),
            "{listed:?}"
        );
        assert!(!secret.parent().unwrap().join("x").exists());
        assert_eq!(fs::read(&secret).unwrap(), b"secret");
        fs::remove_dir_all(&root).unwrap();
    }

    /// /dev/zero behind a link, a FIFO (no writer, so a blocking open
    /// would hang), a folder and a sparse 1 GiB file where registration
    /// files are expected: refused at once, each counted.
    #[test]
    fn devices_fifos_folders_and_huge_files_are_refused_without_blocking() {
        let root = temp("kinds");
        let mut dir = SharedDir::open(&root, HostId(0)).unwrap();
        symlink("/dev/zero", root.join("zero_miner_info.json")).unwrap();
        mkfifo(&root.join("fifo_miner_info.json"));
        fs::create_dir(root.join("dir_miner_info.json")).unwrap();
        let huge = fs::File::create(root.join("huge_miner_info.json")).unwrap();
        huge.set_len(1 << 30).unwrap();
        let started = std::time::Instant::now();
        refused(
            read_result(&mut dir, "zero_miner_info.json"),
            "symbolic link",
        );
        refused(
            read_result(&mut dir, "fifo_miner_info.json"),
            "a FIFO (named pipe)",
        );
        refused(
            write_result(&mut dir, "fifo_miner_info.json", WriteMode::InPlace),
            "FIFO",
        );
        refused(read_result(&mut dir, "dir_miner_info.json"), "a directory");
        refused(
            read_result(&mut dir, "huge_miner_info.json"),
            "larger than 65536 bytes",
        );
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
        let counts: Vec<(&str, u64)> = dir
            .refused()
            .iter()
            .map(|(k, v)| (k.as_str(), *v))
            .collect();
        assert_eq!(
            counts,
            [("not-a-file", 3), ("symlink", 1), ("too-large", 1)]
        );
        // The legacy registry may be larger: up to its own limit.
        let big = vec![b' '; 100_000];
        fs::write(root.join(LEGACY_REGISTRY_FILE), &big).unwrap();
        assert_eq!(read_result(&mut dir, LEGACY_REGISTRY_FILE).unwrap(), big);
        fs::remove_dir_all(&root).unwrap();
    }

    fn stat_result(dir: &mut SharedDir, path: &str) -> Result<FileMeta, FsError> {
        match dir.apply(FileOp::Stat { path: path.into() }) {
            FileResult::Stat { result, .. } => result,
            other => panic!("{other:?}"),
        }
    }

    /// A stat gives size and time without opening the file; a file just
    /// written is recent (not to be trusted by a cache), an old one is
    /// not; a same-size rewrite shows a new time; links, FIFOs, folders
    /// and huge files are refused at once.
    #[test]
    fn stats_report_size_and_time_and_refuse_what_reads_refuse() {
        let root = temp("stat");
        let mut dir = SharedDir::open(&root, HostId(0)).unwrap();
        fs::write(root.join("a_miner_info.json"), b"0123456789").unwrap();
        let fresh = stat_result(&mut dir, "a_miner_info.json").unwrap();
        assert_eq!(fresh.size, 10);
        assert!(fresh.recent, "just written: {fresh:?}");
        let old = SystemTime::now() - Duration::from_secs(60);
        let file = fs::File::options()
            .write(true)
            .open(root.join("a_miner_info.json"))
            .unwrap();
        file.set_modified(old).unwrap();
        let settled = stat_result(&mut dir, "a_miner_info.json").unwrap();
        assert!(!settled.recent, "{settled:?}");
        assert_eq!(
            u128::from(settled.modified_ns),
            old.duration_since(UNIX_EPOCH).unwrap().as_nanos()
        );
        fs::write(root.join("a_miner_info.json"), b"abcdefghij").unwrap();
        let rewritten = stat_result(&mut dir, "a_miner_info.json").unwrap();
        assert_eq!(rewritten.size, 10);
        assert_ne!(rewritten.modified_ns, settled.modified_ns);
        assert!(!is_recent(old, SystemTime::now()));
        assert!(is_recent(
            SystemTime::now() + Duration::from_secs(60),
            SystemTime::now()
        ));
        assert_eq!(stat_result(&mut dir, "none"), Err(FsError::NotFound));
        assert_eq!(stat_result(&mut dir, "../x"), Err(FsError::InvalidPath));
        symlink("/dev/zero", root.join("zero_miner_info.json")).unwrap();
        mkfifo(&root.join("fifo_miner_info.json"));
        fs::create_dir(root.join("dir_miner_info.json")).unwrap();
        let huge = fs::File::create(root.join("huge_miner_info.json")).unwrap();
        huge.set_len(1 << 30).unwrap();
        refused(
            stat_result(&mut dir, "zero_miner_info.json"),
            "symbolic link",
        );
        refused(
            stat_result(&mut dir, "fifo_miner_info.json"),
            "a FIFO (named pipe)",
        );
        refused(stat_result(&mut dir, "dir_miner_info.json"), "a directory");
        refused(
            stat_result(&mut dir, "huge_miner_info.json"),
            "larger than 65536 bytes",
        );
        assert_eq!(dir.counters().stats, 9);
        fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn a_watch_reports_created_changed_and_deleted_files() {
        let root = temp("watch");
        let mut dir = SharedDir::open(&root, HostId(0)).unwrap();
        fs::write(root.join("old"), b"1").unwrap();
        assert_eq!(
            dir.apply(FileOp::Watch { dir: String::new() }),
            FileResult::Watching { dir: String::new() }
        );
        assert!(dir.poll_changes().is_empty());
        fs::write(root.join("new"), b"1").unwrap();
        fs::write(root.join("old"), b"22").unwrap();
        assert_eq!(
            dir.poll_changes(),
            vec!["new".to_string(), "old".to_string()]
        );
        fs::remove_file(root.join("new")).unwrap();
        assert_eq!(dir.poll_changes(), vec!["new".to_string()]);
        fs::remove_dir_all(&root).unwrap();
    }
}

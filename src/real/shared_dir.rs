//! The shared directory of a real run: [`FileOp`]s carried out on real
//! files under one root. Every path is checked with the simulator's rule
//! ([`valid_path`]: relative, no `.`/`..`/empty parts) before it touches the
//! disk, so nothing a node asks for can leave the directory. Atomic writes
//! fill `<path>.tmp.<host>` and rename it over the target, as in the
//! simulator; in-place writes truncate and write the target. A watch is a
//! poll of the directory's names, sizes and modification times (std has no
//! inotify), reported as [`Input::FileChanged`](node_logic::Input) per path.

use std::collections::BTreeMap;
use std::fs;
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use node_logic::HostId;
use node_logic::io::{FileOp, FileResult, FsError, WriteMode};
use sim_core::fs::{FsCounters, valid_path};

/// One host's view of the shared directory.
#[derive(Debug)]
pub struct SharedDir {
    root: PathBuf,
    host: HostId,
    counters: FsCounters,
    watches: BTreeMap<String, Snapshot>,
}

/// What a watched directory held at the last poll: name -> (size, mtime).
type Snapshot = BTreeMap<String, (u64, Option<SystemTime>)>;

impl SharedDir {
    /// The directory at `root` (created if missing), used by `host`.
    pub fn open(root: &Path, host: HostId) -> io::Result<Self> {
        fs::create_dir_all(root)?;
        Ok(SharedDir {
            root: root.to_path_buf(),
            host,
            counters: FsCounters::default(),
            watches: BTreeMap::new(),
        })
    }

    /// Operations completed so far, in the simulator's categories.
    pub fn counters(&self) -> FsCounters {
        self.counters
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
                let result = self
                    .checked(&path)
                    .and_then(|p| self.write(&p, &bytes, mode));
                FileResult::Written { path, result }
            }
            FileOp::Read { path } => {
                self.counters.reads += 1;
                let result = self
                    .checked(&path)
                    .and_then(|p| fs::read(p).map_err(fs_error));
                FileResult::Read { path, result }
            }
            FileOp::List { dir } => {
                self.counters.lists += 1;
                let result = self.checked_dir(&dir).and_then(|p| list(&p));
                FileResult::Listed { dir, result }
            }
            FileOp::Rename { from, to } => {
                self.counters.metadata += 1;
                let result = self.checked(&from).and_then(|f| {
                    let t = self.checked(&to)?;
                    fs::rename(f, t).map_err(fs_error)
                });
                FileResult::Renamed { from, to, result }
            }
            FileOp::Delete { path } => {
                self.counters.metadata += 1;
                let result = self
                    .checked(&path)
                    .and_then(|p| fs::remove_file(p).map_err(fs_error));
                FileResult::Deleted { path, result }
            }
            FileOp::Watch { dir } => match self.checked_dir(&dir) {
                Ok(path) => {
                    let snapshot = snapshot(&path);
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
        for (dir, old) in &mut self.watches {
            let new = snapshot(&self.root.join(dir));
            for (name, meta) in &new {
                if old.get(name) != Some(meta) {
                    changed.push(join(dir, name));
                }
            }
            for name in old.keys() {
                if !new.contains_key(name) {
                    changed.push(join(dir, name));
                }
            }
            *old = new;
        }
        changed.sort();
        changed
    }

    fn checked(&self, path: &str) -> Result<PathBuf, FsError> {
        if valid_path(path) {
            Ok(self.root.join(path))
        } else {
            Err(FsError::InvalidPath)
        }
    }

    fn checked_dir(&self, dir: &str) -> Result<PathBuf, FsError> {
        if dir.is_empty() {
            Ok(self.root.clone())
        } else {
            self.checked(dir)
        }
    }

    fn write(&self, target: &Path, bytes: &[u8], mode: WriteMode) -> Result<(), FsError> {
        if let Some(parent) = target.parent() {
            fs::create_dir_all(parent).map_err(fs_error)?;
        }
        match mode {
            WriteMode::Atomic => {
                let mut temp = target.as_os_str().to_owned();
                temp.push(format!(".tmp.{}", self.host.0));
                let temp = PathBuf::from(temp);
                write_file(&temp, bytes).map_err(fs_error)?;
                fs::rename(&temp, target).map_err(fs_error)
            }
            WriteMode::InPlace => write_file(target, bytes).map_err(fs_error),
        }
    }
}

/// Writes and flushes a whole file (truncating it first).
fn write_file(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut file = fs::File::create(path)?;
    file.write_all(bytes)?;
    file.sync_data()
}

fn list(dir: &Path) -> Result<Vec<String>, FsError> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        // The simulator's directory always exists: an absent one is empty.
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(fs_error(e)),
    };
    let mut names = Vec::new();
    for entry in entries {
        let entry = entry.map_err(fs_error)?;
        if let Some(name) = entry.file_name().to_str() {
            names.push(name.to_string());
        }
    }
    names.sort();
    Ok(names)
}

fn snapshot(dir: &Path) -> Snapshot {
    let mut snapshot = Snapshot::new();
    let Ok(entries) = fs::read_dir(dir) else {
        return snapshot;
    };
    for entry in entries.flatten() {
        let (Some(name), Ok(meta)) = (
            entry.file_name().to_str().map(String::from),
            entry.metadata(),
        ) else {
            continue;
        };
        snapshot.insert(name, (meta.len(), meta.modified().ok()));
    }
    snapshot
}

fn join(dir: &str, name: &str) -> String {
    if dir.is_empty() {
        name.to_string()
    } else {
        format!("{dir}/{name}")
    }
}

fn fs_error(e: io::Error) -> FsError {
    match e.kind() {
        io::ErrorKind::NotFound => FsError::NotFound,
        _ => FsError::Io(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
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
                result: Ok(vec!["a_miner_info.json".into()])
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

//! Bounded, non-blocking reads of the files a scenario is made of: the
//! scenario file itself, its GML `graph`, and files protocol tables name
//! (a `legacy_registry`: the limit is the protocol's).
//!
//! A path may name anything: a FIFO (whose `open` would block until a
//! writer comes), a device such as `/dev/zero` (endless), a directory, or a
//! file far larger than any real input. [`read_bounded`] opens with
//! `O_NONBLOCK` (so opening a FIFO returns at once), checks with `fstat` on
//! the open file (no race with a rename) that it is a regular file no
//! larger than the limit, and then reads at most `limit + 1` bytes, so a
//! file that grows while it is read is refused too. Symbolic links are
//! followed: these are the user's own inputs, not a directory shared with
//! other processes (see `src/real/shared_dir.rs` for that).

use std::fs::{File, OpenOptions};
use std::io::{self, Read};
use std::path::Path;

/// The largest scenario file read: 4 MiB (the bundled ones are under 8 KiB;
/// hosts come in groups, so even 10,000 hosts take a few lines).
pub const MAX_SCENARIO_BYTES: u64 = 4 * 1024 * 1024;

/// The largest GML network graph read: 128 MiB (Shadow's largest public
/// graphs are tens of MiB).
pub const MAX_GRAPH_BYTES: u64 = 128 * 1024 * 1024;

/// Why an input file was not read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The OS refused (missing, no permission, ...).
    #[error("{0}")]
    Io(#[from] io::Error),
    /// Not a regular file: a FIFO, a device, a directory or a socket.
    #[error("it is {0}, not a regular file")]
    NotAFile(&'static str),
    /// Larger than the limit for its kind of file.
    #[error("it is larger than the {limit}-byte limit for {what} ({size} bytes or more)")]
    TooLarge {
        /// Its size, or `limit + 1` when it grew while being read.
        size: u64,
        /// The limit.
        limit: u64,
        /// What kind of file it is (`a scenario file`, ...).
        what: &'static str,
    },
}

impl ReadError {
    /// Whether the file does not exist.
    pub fn is_not_found(&self) -> bool {
        matches!(self, ReadError::Io(e) if e.kind() == io::ErrorKind::NotFound)
    }
}

/// Reads the regular file at `path`, at most `limit` bytes of it; `what`
/// names the kind of file in the error. Never blocks on a FIFO or device
/// and never reads more than `limit + 1` bytes.
pub fn read_bounded(path: &Path, limit: u64, what: &'static str) -> Result<Vec<u8>, ReadError> {
    let file = open_nonblocking(path)?;
    let meta = file.metadata()?;
    let kind = file_kind(&meta.file_type());
    if kind != "a regular file" {
        return Err(ReadError::NotAFile(kind));
    }
    if meta.len() > limit {
        let size = meta.len();
        return Err(ReadError::TooLarge { size, limit, what });
    }
    // The size said it fits, but it may grow: read one byte more to tell.
    let mut bytes = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
    file.take(limit.saturating_add(1)).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        let size = limit + 1;
        return Err(ReadError::TooLarge { size, limit, what });
    }
    Ok(bytes)
}

/// Opens `path` for reading without waiting for a FIFO's writer.
fn open_nonblocking(path: &Path) -> io::Result<File> {
    let mut options = OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC);
    }
    options.open(path)
}

/// What kind of file system object a file type is, for messages.
pub fn file_kind(file_type: &std::fs::FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if file_type.is_fifo() {
            return "a FIFO (named pipe)";
        }
        if file_type.is_char_device() {
            return "a character device";
        }
        if file_type.is_block_device() {
            return "a block device";
        }
        if file_type.is_socket() {
            return "a socket";
        }
    }
    if file_type.is_dir() {
        "a directory"
    } else if file_type.is_symlink() {
        "a symbolic link"
    } else if file_type.is_file() {
        "a regular file"
    } else {
        "not a regular file"
    }
}

/// Where the first byte that is not UTF-8 is: 1-based line and column (in
/// characters) and the byte itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NotUtf8 {
    /// 1-based line.
    pub line: u32,
    /// 1-based column, in characters.
    pub column: u32,
    /// The offending byte.
    pub byte: u8,
    /// Its offset in the file.
    pub offset: usize,
}

/// `bytes` as text, or where its first invalid UTF-8 byte is.
pub fn utf8(bytes: &[u8]) -> Result<&str, NotUtf8> {
    std::str::from_utf8(bytes).map_err(|e| {
        let offset = e.valid_up_to();
        let (line, column) = line_column(bytes, offset);
        NotUtf8 {
            line,
            column,
            byte: bytes[offset],
            offset,
        }
    })
}

/// The 1-based line and column (in characters; a byte that starts no
/// character counts as one) of byte `offset` in `bytes`.
pub fn line_column(bytes: &[u8], offset: usize) -> (u32, u32) {
    let offset = offset.min(bytes.len());
    let before = &bytes[..offset];
    let line_start = before
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |i| i + 1);
    let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
    let column = before[line_start..]
        .iter()
        .filter(|&&b| b & 0xC0 != 0x80)
        .count()
        + 1;
    let clamp = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
    (clamp(line), clamp(column))
}

/// The text of 1-based line `line` of `bytes` (lossy, without its line
/// end), for a message's snippet; at most 200 characters.
pub fn line_text(bytes: &[u8], line: u32) -> String {
    let text = bytes
        .split(|&b| b == b'\n')
        .nth(line.saturating_sub(1) as usize)
        .unwrap_or_default();
    let text = String::from_utf8_lossy(text);
    text.trim_end_matches('\r').chars().take(200).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("sim-input-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn a_regular_file_within_the_limit_is_read() {
        let dir = temp("ok");
        let path = dir.join("f");
        std::fs::write(&path, b"12345").unwrap();
        assert_eq!(read_bounded(&path, 5, "a test file").unwrap(), b"12345");
        let err = read_bounded(&path, 4, "a test file").unwrap_err();
        assert!(matches!(
            err,
            ReadError::TooLarge {
                size: 5,
                limit: 4,
                ..
            }
        ));
        assert!(
            err.to_string().contains("4-byte limit for a test file"),
            "{err}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn devices_fifos_and_directories_are_refused_without_reading() {
        let dir = temp("kinds");
        let fifo = dir.join("fifo");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let zero = dir.join("zero");
        std::os::unix::fs::symlink("/dev/zero", &zero).unwrap();
        for (path, kind) in [
            (fifo.as_path(), "a FIFO (named pipe)"),
            (Path::new("/dev/zero"), "a character device"),
            (zero.as_path(), "a character device"),
            (dir.as_path(), "a directory"),
        ] {
            match read_bounded(path, 1 << 30, "a test file") {
                Err(ReadError::NotAFile(k)) => assert_eq!(k, kind, "{}", path.display()),
                other => panic!("{}: {other:?}", path.display()),
            }
        }
        assert!(
            read_bounded(&dir.join("missing"), 1, "x")
                .unwrap_err()
                .is_not_found()
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_first_bad_byte_is_located_by_line_and_character() {
        assert_eq!(utf8(b"ok\n").unwrap(), "ok\n");
        // "a\n", "é", "é", "x", then 0xFF.
        let bytes = [b'a', b'\n', 0xC3, 0xA9, 0xC3, 0xA9, b'x', 0xFF];
        let bad = utf8(&bytes).unwrap_err();
        assert_eq!(
            (bad.line, bad.column, bad.byte, bad.offset),
            (2, 4, 0xFF, 7)
        );
        assert_eq!(line_text(&bytes, 2), "\u{e9}\u{e9}x\u{fffd}");
    }
}

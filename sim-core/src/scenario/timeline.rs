//! The fault timeline rules: a fault starts before the run ends, ends after
//! it starts and no later than the end, and one host is not crashed twice at
//! once.

use node_logic::HostId;

use super::error::ErrorKind;
use super::reader::{Field, Result};
use super::resolve::HostIndex;
use super::source::{Sources, Span};
use crate::units::{SimDuration, SimTime};

/// `at` (from `at_field`) must come before the end of the run.
pub fn check_start(at_field: &Field<'_>, at: SimTime, duration: SimDuration) -> Result<()> {
    if at.since_start() >= duration {
        return Err(at_field
            .error(
                ErrorKind::Timeline,
                format!(
                    "this fault starts at {}, but the run ends at {duration}",
                    at.since_start()
                ),
            )
            .with_help("start it earlier, or make `duration` longer"));
    }
    Ok(())
}

/// An end (`until`, `restart`) must come after `at` and no later than the end of the run.
pub fn check_end(
    end_field: &Field<'_>,
    at: SimTime,
    end: SimTime,
    duration: SimDuration,
) -> Result<()> {
    let name = end_field.name();
    if end <= at {
        return Err(end_field
            .error(
                ErrorKind::Timeline,
                format!(
                    "`{name}` ({}) must come after `at` ({})",
                    end.since_start(),
                    at.since_start()
                ),
            )
            .with_help(format!(
                "`{name}` is a time since the start of the run, not a length: \
                 write e.g. `{name} = \"{}\"`",
                at.since_start().saturating_add(end.since_start())
            )));
    }
    if end.since_start() > duration {
        return Err(end_field
            .error(
                ErrorKind::Timeline,
                format!(
                    "`{name}` ({}) is after the end of the run ({duration})",
                    end.since_start()
                ),
            )
            .with_help(format!(
                "leave `{name}` out if the fault should last until the end, or make `duration` longer"
            )));
    }
    Ok(())
}

/// One host down from `start` until `end` because of one crash fault.
pub struct CrashWindow {
    /// The host.
    pub host: HostId,
    /// When it crashes.
    pub start: SimTime,
    /// The restart, or [`SimTime::NEVER`].
    pub end: SimTime,
    /// Key path of the fault's `crash` key.
    pub path: String,
    /// Where the fault's `crash` key is.
    pub span: Span,
}

/// Two crash windows of one host that overlap are an error naming the host
/// and both faults.
pub fn check_crash_overlaps(
    src: &Sources<'_>,
    index: &HostIndex<'_>,
    mut windows: Vec<CrashWindow>,
) -> Result<()> {
    windows.sort_by_key(|w| (w.host, w.start, w.span.start));
    // Sorted by start, any overlap shows up between neighbours.
    for pair in windows.windows(2) {
        let [first, second] = pair else { continue };
        if first.host != second.host || second.start >= first.end {
            continue;
        }
        let host = index.name(first.host);
        return Err(src
            .error(
                ErrorKind::Timeline,
                Some(&second.span),
                format!(
                    "host `{host}` is crashed twice at once: the crash at {} ({}) overlaps \
                     the crash at {} ({})",
                    src.describe(&first.span),
                    window_text(first),
                    src.describe(&second.span),
                    window_text(second),
                ),
            )
            .with_key(second.path.clone())
            .with_note(format!("the earlier crash is `{}`", first.path))
            .with_help("a host can crash again only after it restarts: set `restart` on the earlier crash, or move the later one"));
    }
    Ok(())
}

/// "30 s to 90 s" or "from 30 s, no restart".
fn window_text(w: &CrashWindow) -> String {
    if w.end == SimTime::NEVER {
        format!("from {}, no restart", w.start.since_start())
    } else {
        format!("{} to {}", w.start.since_start(), w.end.since_start())
    }
}

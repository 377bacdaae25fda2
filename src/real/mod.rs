//! The real-process runtime: the node logic the simulator runs, driven by
//! a monotonic clock, a UDP socket and a real shared directory (`sim node`),
//! and the records a real run leaves for `sim collect`.

pub mod assemble;
pub mod clock;
pub mod driver;
pub mod host_log;
pub mod launcher;
pub mod netpath;
pub mod shared_dir;
pub mod transport;

//! The keys each table of a scenario file accepts (docs/scenario-reference.md
//! documents each one). A key outside its table's list is an error.

/// How messages name the top level of the file.
pub(crate) const TOP_TITLE: &str = "the top level";

/// Keys of the top level (tables included).
pub(crate) const TOP: &[&str] = &[
    "name",
    "description",
    "seed",
    "duration",
    "network",
    "hosts",
    "registration",
    "peers",
    "consensus",
    "faults",
    "targets",
    "tolerances",
];

/// Keys of `[network]`.
pub(crate) const NETWORK: &[&str] = &[
    "topology",
    "graph",
    "latency",
    "jitter",
    "loss",
    "bandwidth",
    "bandwidth_up",
    "bandwidth_down",
    "degree",
];

/// Keys of a `[[hosts]]` group.
pub(crate) const HOSTS: &[&str] = &[
    "name",
    "count",
    "role",
    "start",
    "graph_node",
    "bandwidth",
    "bandwidth_up",
    "bandwidth_down",
];

/// Keys of `[registration]`.
pub(crate) const REGISTRATION: &[&str] = &[
    "strategy",
    "poll_interval",
    "initial_interval",
    "multiplier",
    "max_interval",
    "jitter",
    "timeout",
    "expected",
    "recover",
    "atomic_writes",
    "write_time",
    "read_time",
    "list_time",
    "metadata_time",
    "notify_delay",
    "progress_interval",
    "safety_poll",
    "legacy_registry",
];

/// Keys of `[peers]`.
pub(crate) const PEERS: &[&str] = &["members", "heartbeat", "stale_after", "max_observers"];

/// Keys of `[consensus]`.
pub(crate) const CONSENSUS: &[&str] = &[
    "validators",
    "min_validators",
    "block_interval",
    "view_timeout",
    "liveness_bound",
    "unsafe_quorum",
];

/// Keys of a `[[faults]]` entry: `at`, every kind and every kind's options.
pub(crate) const FAULTS: &[&str] = &[
    "at",
    "partition",
    "crash",
    "link",
    "corrupt",
    "byzantine",
    "clock_skew",
    "until",
    "one_way",
    "restart",
    "latency",
    "loss",
    "mode",
    "offset",
    "drift",
];

/// Keys of `start = { ... }` in a host group.
pub(crate) const START: &[&str] = &["uniform"];

/// Keys of `corrupt = { ... }` in a fault.
pub(crate) const CORRUPT_FRACTION: &[&str] = &["fraction", "of"];

/// The tables (as written in a file) that accept `key`, for "`heartbeat`
/// belongs in `[peers]`" hints.
pub(crate) fn tables_with(key: &str) -> Vec<&'static str> {
    let tables: [(&str, &[&str]); 7] = [
        (TOP_TITLE, TOP),
        ("[network]", NETWORK),
        ("[[hosts]]", HOSTS),
        ("[registration]", REGISTRATION),
        ("[peers]", PEERS),
        ("[consensus]", CONSENSUS),
        ("[[faults]]", FAULTS),
    ];
    tables
        .iter()
        .filter(|(_, keys)| keys.contains(&key))
        .map(|(table, _)| *table)
        .collect()
}

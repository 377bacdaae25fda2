//! The keys each table of a scenario file accepts (docs/scenario-reference.md
//! documents each one). A key outside its table's list is an error.

/// How messages name the top level of the file.
pub(crate) const TOP_TITLE: &str = "the top level";

/// Keys of the top level every scenario has (tables included); a model
/// adds its protocols' tables ([`super::Model::sections`]).
pub(crate) const TOP: &[&str] = &[
    "name",
    "description",
    "seed",
    "duration",
    "network",
    "hosts",
    "cpu",
    "faults",
    "targets",
    "tolerances",
];

/// Keys of `[network]`.
pub(crate) const NETWORK: &[&str] = &[
    "topology",
    "graph",
    "regions",
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
    "cpu",
];

/// Keys of `start = { ... }` in a host group.
pub(crate) const START: &[&str] = &["uniform"];

/// A table of the format and its keys, for "`x` belongs in `[y]`" hints.
#[derive(Clone, Debug)]
pub(crate) struct SchemaTable {
    /// How messages name it (`[network]`, `the top level`).
    pub(crate) title: String,
    /// Its keys.
    pub(crate) keys: Vec<&'static str>,
}

/// Every table of a scenario under model `M`, with their keys.
pub(crate) fn tables<M: super::Model>() -> Vec<SchemaTable> {
    let sections = M::sections();
    let mut top: Vec<&'static str> = TOP.to_vec();
    top.extend(sections.iter().map(|s| s.name));
    let mut faults = vec!["at"];
    for kind in M::fault_kinds() {
        faults.push(kind.key);
        faults.extend(
            kind.options
                .iter()
                .filter(|o| !faults.contains(o))
                .copied()
                .collect::<Vec<_>>(),
        );
    }
    let mut tables = vec![
        SchemaTable {
            title: TOP_TITLE.to_string(),
            keys: top,
        },
        SchemaTable {
            title: "[network]".to_string(),
            keys: NETWORK.to_vec(),
        },
        SchemaTable {
            title: "[[network.regions]]".to_string(),
            keys: super::regions::REGION_KEYS.to_vec(),
        },
        SchemaTable {
            title: "[[hosts]]".to_string(),
            keys: HOSTS.to_vec(),
        },
        SchemaTable {
            title: "[cpu]".to_string(),
            keys: super::cpu::CPU.to_vec(),
        },
    ];
    tables.extend(sections.iter().map(|s| SchemaTable {
        title: format!("[{}]", s.name),
        keys: s.keys.to_vec(),
    }));
    tables.push(SchemaTable {
        title: "[[faults]]".to_string(),
        keys: faults,
    });
    tables
}

//! Malformed scenario files (`tests/scenarios/bad/*.toml`, one mistake each):
//! every error names the right line, key path and fix.

use std::path::PathBuf;

use sim::model::load;
use sim_core::scenario::{ErrorKind, ScenarioError};

fn bad(file: &str) -> ScenarioError {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/scenarios/bad")
        .join(file);
    match load(&path, &[]) {
        Ok(_) => panic!("{file} should not load"),
        Err(err) => err,
    }
}

/// The error of `file` has this kind, line, key path and message fragment.
#[track_caller]
fn check(
    file: &str,
    kind: ErrorKind,
    line: Option<u32>,
    key: Option<&str>,
    message: &str,
) -> ScenarioError {
    let err = bad(file);
    let shown = err.to_string();
    assert_eq!(err.kind(), kind, "{shown}");
    assert_eq!(err.line(), line, "{shown}");
    assert_eq!(err.key_path(), key, "{shown}");
    assert!(
        err.message().contains(message),
        "message {:?} lacks {message:?}\n{shown}",
        err.message()
    );
    assert!(shown.starts_with("error: "), "{shown}");
    err
}

#[track_caller]
fn help(err: &ScenarioError) -> &str {
    err.help().unwrap_or_else(|| panic!("no help in\n{err}"))
}

#[test]
fn unknown_top_level_key_suggests_the_nearest() {
    let err = check(
        "unknown_top_key.toml",
        ErrorKind::UnknownKey,
        Some(2),
        Some("sede"),
        "unknown key `sede` at the top level",
    );
    assert_eq!(err.column(), Some(1));
    assert_eq!(help(&err), "did you mean `seed`?");
}

#[test]
fn unknown_network_key_renders_like_rustc() {
    let err = check(
        "unknown_network_key.toml",
        ErrorKind::UnknownKey,
        Some(6),
        Some("network.lateny"),
        "unknown key `lateny` in [network]",
    );
    let expected = "\
error: unknown key `lateny` in [network]
  --> tests/scenarios/bad/unknown_network_key.toml:6:1
   |
 6 | lateny = \"50 ms\"
   | ^^^^^^
   = key: network.lateny
   = help: did you mean `latency`?";
    let shown = err.to_string();
    let shown = shown.replace(concat!(env!("CARGO_MANIFEST_DIR"), "/"), "");
    assert_eq!(shown, expected);
}

#[test]
fn bare_number_duration_says_how_to_write_it() {
    let err = check(
        "bare_number_duration.toml",
        ErrorKind::InvalidValue,
        Some(2),
        Some("duration"),
        "needs a unit",
    );
    assert_eq!(err.column(), Some(12));
    assert!(help(&err).contains("`duration = \"600 s\"`"));
}

#[test]
fn unknown_time_unit_lists_the_units() {
    check(
        "bad_unit.toml",
        ErrorKind::InvalidValue,
        Some(5),
        Some("network.latency"),
        "unknown unit \"parsecs\"",
    );
}

#[test]
fn loss_above_one_is_not_a_probability() {
    check(
        "loss_out_of_range.toml",
        ErrorKind::InvalidValue,
        Some(5),
        Some("network.loss"),
        "1.5 is not a probability",
    );
}

#[test]
fn unknown_role_suggests_miner() {
    let err = check(
        "unknown_role.toml",
        ErrorKind::InvalidValue,
        Some(10),
        Some("hosts.0.role"),
        "unknown role `minr`",
    );
    assert_eq!(help(&err), "did you mean `miner`?");
}

#[test]
fn duplicate_group_name_points_at_both() {
    let err = check(
        "duplicate_group_name.toml",
        ErrorKind::Conflict,
        Some(13),
        Some("hosts.1.name"),
        "group name `miner` is used twice",
    );
    assert_eq!(err.notes(), ["first used at line 8"]);
}

#[test]
fn bad_hostname_gets_a_fixed_spelling() {
    let err = check(
        "bad_hostname.toml",
        ErrorKind::InvalidValue,
        Some(13),
        Some("hosts.1.name"),
        "invalid group name `Validator_A`",
    );
    assert!(help(&err).contains("\"validator-a\""));
}

#[test]
fn unknown_host_in_fault_lists_the_groups() {
    let err = check(
        "unknown_host_in_fault.toml",
        ErrorKind::UnknownHost,
        Some(19),
        Some("faults.0.crash"),
        "unknown host or group `minr-3`",
    );
    assert_eq!(help(&err), "did you mean `miner-3`?");
    assert!(err.notes()[0].contains("`miner` (miner-0 .. miner-3)"));
    assert!(err.notes()[0].contains("`validator` (validator-0 .. validator-3)"));
}

#[test]
fn until_before_at_is_a_timeline_error() {
    check(
        "until_before_at.toml",
        ErrorKind::Timeline,
        Some(20),
        Some("faults.0.until"),
        "`until` (30 s) must come after `at` (1 min)",
    );
}

#[test]
fn restart_after_the_end() {
    check(
        "restart_after_duration.toml",
        ErrorKind::Timeline,
        Some(20),
        Some("faults.0.restart"),
        "is after the end of the run (10 min)",
    );
}

#[test]
fn fault_after_the_end() {
    check(
        "at_after_duration.toml",
        ErrorKind::Timeline,
        Some(18),
        Some("faults.0.at"),
        "starts at 11 min, but the run ends at 10 min",
    );
}

#[test]
fn overlapping_crashes_name_the_host_and_both_lines() {
    let err = check(
        "overlapping_crashes.toml",
        ErrorKind::Timeline,
        Some(24),
        Some("faults.1.crash"),
        "host `miner-2` is crashed twice at once",
    );
    assert!(err.message().contains("line 19"), "{err}");
    assert!(err.message().contains("line 24"), "{err}");
}

#[test]
fn two_kinds_in_one_fault() {
    let err = check(
        "two_kinds_in_one_fault.toml",
        ErrorKind::Conflict,
        Some(20),
        Some("faults.0.byzantine"),
        "both `crash` and `byzantine`",
    );
    assert!(help(&err).contains("split it"));
}

#[test]
fn fault_without_kind() {
    let err = check(
        "fault_without_kind.toml",
        ErrorKind::MissingKey,
        Some(17),
        Some("faults.0"),
        "this fault has no kind",
    );
    assert!(help(&err).contains("`partition`"));
}

#[test]
fn restart_on_a_partition_names_its_kind() {
    let err = check(
        "restart_on_partition.toml",
        ErrorKind::Conflict,
        Some(20),
        Some("faults.0.restart"),
        "`restart` does not apply to a partition fault",
    );
    assert_eq!(err.notes(), ["`restart` belongs to `crash` faults"]);
    assert_eq!(help(&err), "a partition fault ends with `until`");
}

#[test]
fn until_on_a_crash_points_to_restart() {
    let err = check(
        "until_on_crash.toml",
        ErrorKind::Conflict,
        Some(20),
        Some("faults.0.until"),
        "`until` does not apply to a crash fault",
    );
    assert_eq!(help(&err), "a crash fault ends with `restart`");
}

#[test]
fn uniform_start_backwards() {
    let err = check(
        "uniform_start_backwards.toml",
        ErrorKind::InvalidValue,
        Some(11),
        Some("hosts.0.start.uniform"),
        "from 30 s to 5 s",
    );
    assert!(help(&err).contains("[\"5 s\", \"30 s\"]"));
}

#[test]
fn unknown_metric_suggests_the_nearest() {
    let err = check(
        "unknown_metric.toml",
        ErrorKind::UnknownKey,
        Some(19),
        Some("targets.\"registration.p95\""),
        "unknown metric `registration.p95`",
    );
    assert_eq!(help(&err), "did you mean `registration.p95_s`?");
}

#[test]
fn bad_target_operator() {
    let err = check(
        "bad_target_operator.toml",
        ErrorKind::InvalidValue,
        Some(18),
        Some("targets.\"registration.p95_s\""),
        "does not start with a comparison operator",
    );
    assert!(help(&err).starts_with("did you mean `<=`?"));
}

#[test]
fn consensus_target_needs_consensus() {
    check(
        "consensus_target_without_consensus.toml",
        ErrorKind::Conflict,
        Some(18),
        Some("targets.\"consensus.blocks_finalized\""),
        "does not run the consensus protocol",
    );
}

#[test]
fn graph_and_topology_together() {
    check(
        "graph_and_topology.toml",
        ErrorKind::Conflict,
        Some(6),
        Some("network.graph"),
        "`graph` and `topology` cannot both be given",
    );
}

#[test]
fn missing_duration_names_the_file() {
    let err = check(
        "missing_duration.toml",
        ErrorKind::MissingKey,
        None,
        Some("duration"),
        "missing required key `duration`",
    );
    assert!(err.to_string().contains("--> "), "{err}");
    assert!(err.to_string().contains("missing_duration.toml"), "{err}");
    assert!(help(&err).contains("duration = \"10 min\""));
}

#[test]
fn toml_syntax_error_points_at_the_value() {
    let err = check(
        "toml_syntax_error.toml",
        ErrorKind::Syntax,
        Some(6),
        None,
        "invalid TOML: string values must be quoted",
    );
    assert_eq!(err.column(), Some(8));
    assert!(help(&err).contains("quotes"));
}

#[test]
fn count_of_wrong_type() {
    check(
        "count_wrong_type.toml",
        ErrorKind::InvalidValue,
        Some(9),
        Some("hosts.0.count"),
        "expected an integer for `count`, found the string \"ten\"",
    );
}

#[test]
fn zero_count() {
    check(
        "zero_count.toml",
        ErrorKind::InvalidValue,
        Some(9),
        Some("hosts.0.count"),
        "`count` must be at least 1, found 0",
    );
}

#[test]
fn key_in_the_wrong_table_names_its_table() {
    let err = check(
        "key_in_wrong_table.toml",
        ErrorKind::UnknownKey,
        Some(5),
        Some("network.heartbeat"),
        "unknown key `heartbeat` in [network]",
    );
    assert_eq!(help(&err), "`heartbeat` belongs in [peers]");
}

#[test]
fn top_level_key_after_a_table_header() {
    let err = check(
        "top_key_after_table.toml",
        ErrorKind::UnknownKey,
        Some(17),
        Some("hosts.1.seed"),
        "unknown key `seed` in [[hosts]]",
    );
    assert!(help(&err).contains("top-level key"));
}

#[test]
fn partition_sides_must_be_disjoint() {
    check(
        "partition_sides_overlap.toml",
        ErrorKind::InvalidValue,
        Some(19),
        Some("faults.0.partition.1"),
        "host `validator-3` is on two sides",
    );
}

#[test]
fn empty_partition_side() {
    check(
        "empty_partition_side.toml",
        ErrorKind::InvalidValue,
        Some(19),
        Some("faults.0.partition.0"),
        "names no hosts",
    );
}

#[test]
fn regions_is_not_supported_yet() {
    check(
        "regions_topology.toml",
        ErrorKind::InvalidValue,
        Some(5),
        Some("network.topology"),
        "not supported yet",
    );
}

#[test]
fn bandwidth_with_bandwidth_up() {
    check(
        "bandwidth_conflict.toml",
        ErrorKind::Conflict,
        Some(6),
        Some("network.bandwidth_up"),
        "`bandwidth` sets both directions",
    );
}

#[test]
fn expected_more_miners_than_exist() {
    check(
        "expected_too_many.toml",
        ErrorKind::InvalidValue,
        Some(18),
        Some("registration.expected"),
        "only 4 miners",
    );
}

#[test]
fn stale_after_must_exceed_heartbeat() {
    check(
        "stale_after_too_short.toml",
        ErrorKind::InvalidValue,
        Some(19),
        Some("peers.stale_after"),
        "must be longer than `heartbeat`",
    );
}

#[test]
fn group_named_like_a_host() {
    check(
        "group_name_is_a_host.toml",
        ErrorKind::Conflict,
        Some(18),
        Some("hosts.2.name"),
        "also the name of a host in group `miner`",
    );
}

#[test]
fn multiplier_below_one() {
    check(
        "multiplier_below_one.toml",
        ErrorKind::InvalidValue,
        Some(19),
        Some("registration.multiplier"),
        "at least 1.0",
    );
}

#[test]
fn clock_skew_needs_offset_or_drift() {
    check(
        "clock_skew_without_offset.toml",
        ErrorKind::MissingKey,
        Some(17),
        Some("faults.0"),
        "needs `offset`, `drift` or both",
    );
}

#[test]
fn signed_offset_with_bad_unit() {
    check(
        "bad_signed_offset.toml",
        ErrorKind::InvalidValue,
        Some(20),
        Some("faults.0.offset"),
        "unknown unit \"parsecs\"",
    );
}

#[test]
fn hosts_with_single_brackets() {
    let err = check(
        "hosts_single_brackets.toml",
        ErrorKind::InvalidValue,
        Some(4),
        Some("hosts"),
        "array of tables",
    );
    assert!(help(&err).contains("[[hosts]]"));
}

#[test]
fn unknown_corrupt_mode() {
    let err = check(
        "unknown_corrupt_mode.toml",
        ErrorKind::InvalidValue,
        Some(20),
        Some("faults.0.mode"),
        "unknown corruption mode `truncated`",
    );
    assert_eq!(help(&err), "did you mean `truncate`?");
}

#[test]
fn unknown_strategy() {
    let err = check(
        "unknown_strategy.toml",
        ErrorKind::InvalidValue,
        Some(18),
        Some("registration.strategy"),
        "unknown strategy `polling`",
    );
    assert_eq!(help(&err), "did you mean `poll`?");
}

#[test]
fn every_bad_file_has_a_test() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/scenarios/bad");
    let this = include_str!("scenario_errors.rs");
    let mut count = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        assert!(this.contains(&format!("\"{name}\"")), "{name} has no test");
        let err = bad(&name);
        assert!(err.to_string().contains(&name), "{err}");
        count += 1;
    }
    assert!(count >= 20);
}

#[test]
fn a_missing_file_is_an_io_error_naming_it() {
    let err = load(std::path::Path::new("no/such/scenario.toml"), &[]).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Io);
    assert_eq!(err.line(), None);
    assert!(
        err.to_string().contains("--> no/such/scenario.toml"),
        "{err}"
    );
    assert!(std::error::Error::source(&err).is_some());
}

#[test]
fn a_misplaced_duration_is_found_where_it_was_written() {
    let err = check(
        "duration_in_a_table.toml",
        ErrorKind::MissingKey,
        Some(6),
        Some("network.duration"),
        "`duration` is missing at the top level: it is written inside the `network` table",
    );
    assert!(help(&err).contains("top-level key: move it above the first [table] header"));
}

#[test]
fn a_missing_graph_file_names_the_graph_line() {
    let err = check(
        "missing_graph_file.toml",
        ErrorKind::ReferencedFile,
        Some(5),
        Some("network.graph"),
        "cannot read the network graph",
    );
    assert!(err.message().contains("no-such-graph.gml"));
}

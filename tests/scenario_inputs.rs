//! The files a scenario is made of, hostile or broken: the scenario file
//! itself, its GML `graph` and its `legacy_registry`. Each case is a clear
//! error located where the fix goes (file:line:column, or the key that
//! names the file); nothing blocks (FIFOs, devices) and nothing is read
//! past its documented limit.

use std::fs;
use std::path::{Path, PathBuf};

use sim::model::load;
use sim_core::input::{MAX_GRAPH_BYTES, MAX_SCENARIO_BYTES};
use sim_core::scenario::{ErrorKind, Origin, ScenarioError};

/// A fresh folder for one test.
fn folder(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("sim-inputs-{name}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    dir
}

fn mkfifo(path: &Path) {
    let c = std::ffi::CString::new(path.to_str().unwrap()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
}

/// A peer scenario on the GML graph `graph` (relative to the folder), with
/// `extra` appended.
fn graph_scenario(graph: &str, extra: &str) -> String {
    format!(
        "duration = \"1 min\"\n[network]\ngraph = \"{graph}\"\n[[hosts]]\nname = \"p\"\ncount = 2\nrole = \"peer\"\n{extra}"
    )
}

/// A registration scenario naming the legacy registry `registry`.
fn legacy_scenario(registry: &str) -> String {
    format!(
        "duration = \"1 min\"\n[[hosts]]\nname = \"r\"\nrole = \"registrar\"\n[registration]\nlegacy_registry = \"{registry}\"\n"
    )
}

const GOOD_GML: &str = "graph [\n  node [ id 0 host_bandwidth_up \"1 Mbit\" host_bandwidth_down \"1 Mbit\" ]\n  node [\n    id 1\n    host_bandwidth_up \"1 Mbit\"\n  ]\n  edge [ source 0 target 0 latency \"1 ms\" ]\n  edge [ source 1 target 1 latency \"1 ms\" ]\n  edge [ source 0 target 1 latency \"1 ms\" ]\n]\n";

/// Loads `scenario` written to `dir/s.toml`; it must fail.
fn fails(dir: &Path, scenario: &str) -> ScenarioError {
    let path = dir.join("s.toml");
    fs::write(&path, scenario).unwrap();
    match load(&path, &[]) {
        Ok(_) => panic!("{scenario} loaded"),
        Err(e) => e,
    }
}

/// The file, line and column an error points at.
#[track_caller]
fn at(err: &ScenarioError) -> (String, u32, u32) {
    match err.origin() {
        Origin::File { file, line, column } => (file.clone(), *line, *column),
        other => panic!("no file position: {other:?}\n{err}"),
    }
}

fn file_name(path: &str) -> &str {
    Path::new(path).file_name().unwrap().to_str().unwrap()
}

#[test]
fn invalid_utf8_in_the_scenario_is_located_at_the_first_bad_byte() {
    let dir = folder("utf8");
    let path = dir.join("s.toml");
    fs::write(&path, b"duration = \"1 min\"\n# caf\xc3\xa9 \xff\n").unwrap();
    let err = load(&path, &[]).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Io, "{err}");
    let (file, line, column) = at(&err);
    assert_eq!((file_name(&file), line, column), ("s.toml", 2, 8), "{err}");
    assert!(err.message().contains("byte 0xFF"), "{err}");
    assert!(err.to_string().contains(" 2 | # caf"), "{err}");
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn invalid_utf8_in_a_graph_is_located_in_the_graph() {
    let dir = folder("gml-utf8");
    fs::write(
        dir.join("g.gml"),
        b"graph [\n  node [ id 0 label \"\xfe\" ]\n]\n",
    )
    .unwrap();
    let err = fails(&dir, &graph_scenario("g.gml", ""));
    assert_eq!(err.kind(), ErrorKind::ReferencedFile, "{err}");
    let (file, line, column) = at(&err);
    assert_eq!((file_name(&file), line, column), ("g.gml", 2, 22), "{err}");
    assert!(err.message().contains("0xFE is not UTF-8"), "{err}");
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn bad_graph_content_is_located_in_the_graph() {
    let dir = folder("gml-bad");
    fs::write(
        dir.join("g.gml"),
        "graph [\n  node [ id 0 ]\n  edge [ source 0 target 0 latency 5 ]\n]\n",
    )
    .unwrap();
    let err = fails(&dir, &graph_scenario("g.gml", ""));
    let (file, line, _) = at(&err);
    assert_eq!((file_name(&file), line), ("g.gml", 3), "{err}");
    assert!(
        err.notes().iter().any(|n| n.contains("network.graph")),
        "{err}"
    );
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_gml_node_without_bandwidth_is_located_at_the_node() {
    let dir = folder("gml-bandwidth");
    fs::write(dir.join("g.gml"), GOOD_GML).unwrap();
    // Host p-1 sits on node 1 (round robin), which has no downstream rate.
    let err = fails(&dir, &graph_scenario("g.gml", ""));
    let (file, line, column) = at(&err);
    assert_eq!((file_name(&file), line, column), ("g.gml", 3, 3), "{err}");
    assert!(
        err.message()
            .contains("GML node 1 has no host_bandwidth_down"),
        "{err}"
    );
    assert!(err.help().unwrap().contains("bandwidth_down"), "{err}");
    // With a rate in the scenario, it loads.
    let path = dir.join("ok.toml");
    let text =
        graph_scenario("g.gml", "").replace("[[hosts]]", "bandwidth = \"1 Mbit\"\n[[hosts]]");
    fs::write(&path, text).unwrap();
    load(&path, &[]).unwrap();
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_graph_node_the_graph_lacks_is_located_at_the_key() {
    let dir = folder("gml-node");
    fs::write(dir.join("g.gml"), GOOD_GML).unwrap();
    let scenario = graph_scenario("g.gml", "graph_node = 7\nbandwidth = \"1 Mbit\"\n");
    let err = fails(&dir, &scenario);
    assert_eq!(err.kind(), ErrorKind::InvalidValue, "{err}");
    let (file, line, column) = at(&err);
    assert_eq!((file_name(&file), line, column), ("s.toml", 8, 14), "{err}");
    assert_eq!(err.key_path(), Some("hosts.0.graph_node"), "{err}");
    assert!(err.help().unwrap().contains("use one of 0, 1"), "{err}");
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn unreadable_files_are_located_at_the_key_that_names_them() {
    let dir = folder("unreadable");
    let err = fails(&dir, &graph_scenario("missing.gml", ""));
    assert_eq!(err.kind(), ErrorKind::ReferencedFile, "{err}");
    assert_eq!((at(&err).1, at(&err).2), (3, 9), "{err}");
    assert_eq!(err.key_path(), Some("network.graph"), "{err}");
    assert!(
        err.message().contains("cannot read the network graph"),
        "{err}"
    );
    let err = fails(&dir, &legacy_scenario("missing.json"));
    assert_eq!((at(&err).1, at(&err).2), (6, 19), "{err}");
    assert_eq!(
        err.key_path(),
        Some("registration.legacy_registry"),
        "{err}"
    );
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn bad_legacy_registry_content_is_located_in_the_registry() {
    let dir = folder("legacy");
    let cases: [(&str, (u32, u32), &str); 5] = [
        ("  \n", (1, 1), "empty"),
        (
            "{\"agents\": [\n  {\"agent_id\": \"a\",\n   \"wallet_address\": \"0x1\"}\n  ,\n]}",
            (5, 1),
            "not JSON",
        ),
        (
            "{\"agents\": [\n  {\"agent_id\": \"a\", \"wallet_address\": \"0x1\"},\n  {\"agent_id\": \"b\"}\n]}",
            (3, 3),
            "entry 2 of `agents` has no `wallet_address`",
        ),
        (
            "{\"agents\": [{\"agent_id\": \"a\", \"wallet_address\": 5}]}",
            (1, 49),
            "`wallet_address` of entry 1 is a number",
        ),
        (
            "{\"agents\": {}}",
            (1, 12),
            "`agents` is an object, not a list",
        ),
    ];
    for (content, position, what) in cases {
        fs::write(dir.join("r.json"), content).unwrap();
        let err = fails(&dir, &legacy_scenario("r.json"));
        assert_eq!(err.kind(), ErrorKind::ReferencedFile, "{err}");
        let (file, line, column) = at(&err);
        assert_eq!(
            (file_name(&file), (line, column)),
            ("r.json", position),
            "{err}"
        );
        assert!(err.message().contains(what), "{err}");
    }
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn toml_nested_too_deep_is_a_located_error() {
    let dir = folder("deep");
    let deep_array = format!("x = {}{}\n", "[".repeat(100_000), "]".repeat(100_000));
    let deep_key = format!("{}b = 1\n", "a.".repeat(100));
    for (nested, column) in [(deep_array, Some(85)), (deep_key, None)] {
        let err = fails(&dir, &format!("duration = \"1 min\"\n\n{nested}"));
        assert_eq!(err.kind(), ErrorKind::Syntax, "{err}");
        assert_eq!(err.line(), Some(3), "{err}");
        if let Some(column) = column {
            assert_eq!(err.column(), Some(column), "{err}");
        }
        assert!(
            err.help().unwrap().contains("nest at most 80 deep"),
            "{err}"
        );
        // The shown line is cut to a window around the error.
        assert!(err.to_string().lines().all(|l| l.len() < 200), "{err}");
    }
    fs::remove_dir_all(&dir).unwrap();
}

/// FIFOs, devices (also behind a symlink), directories and files over the
/// limit, as the scenario file, its graph and its legacy registry: each a
/// clear error, at once.
#[test]
fn fifos_devices_directories_and_huge_files_are_refused_without_reading() {
    let dir = folder("hostile");
    mkfifo(&dir.join("fifo"));
    std::os::unix::fs::symlink("/dev/zero", dir.join("zero")).unwrap();
    fs::create_dir(dir.join("folder")).unwrap();
    // Sparse: no disk used, but its size is over each limit.
    let huge = fs::File::create(dir.join("huge")).unwrap();
    huge.set_len(MAX_GRAPH_BYTES + 1).unwrap();
    let cases = [
        ("fifo", "a FIFO (named pipe), not a regular file"),
        ("zero", "a character device, not a regular file"),
        ("folder", "a directory, not a regular file"),
        ("huge", "limit for a"),
    ];
    for (name, message) in cases {
        for scenario in [graph_scenario(name, ""), legacy_scenario(name)] {
            let err = fails(&dir, &scenario);
            assert_eq!(err.kind(), ErrorKind::ReferencedFile, "{err}");
            assert!(err.message().contains(message), "{name}: {err}");
            assert!(matches!(err.origin(), Origin::File { .. }), "{err}");
        }
        let err = load(&dir.join(name), &[]).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Io, "{err}");
        assert!(err.message().contains(message), "{name}: {err}");
    }
    let err = load(&dir.join("huge"), &[]).unwrap_err();
    let limit = format!("{MAX_SCENARIO_BYTES}-byte limit for a scenario file");
    assert!(err.message().contains(&limit), "{err}");
    fs::remove_dir_all(&dir).unwrap();
}

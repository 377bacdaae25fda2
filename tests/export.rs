//! `sim export shadow`: the written shadow.yaml (parsed back with a YAML
//! parser) and network.gml (parsed back with sim's GML parser) describe
//! every host, process, node and edge, with integer units only.

use std::fs;
use std::path::{Path, PathBuf};

use serde_json::Value;
use sim_core::network::parse_gml;

mod common;

use common::sim;

fn temp(name: &str) -> PathBuf {
    common::temp("export", name)
}

fn export(scenario: &str, out: &Path, extra: &[&str]) -> (Option<i32>, String) {
    let mut args = vec!["export", "shadow", scenario, "--out", out.to_str().unwrap()];
    args.extend_from_slice(extra);
    let o = sim(&args);
    (
        o.status.code(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

fn yaml(out: &Path) -> Value {
    serde_saphyr::from_str(&fs::read_to_string(out.join("shadow.yaml")).unwrap())
        .expect("shadow.yaml parses")
}

/// Every string in the document that looks like a quantity: `<digits> <unit>`.
fn quantities(v: &Value, found: &mut Vec<String>) {
    match v {
        Value::String(s)
            if s.split_once(' ').is_some_and(|(n, u)| {
                n.chars().all(|c| c.is_ascii_digit() || c == '.')
                    && u.chars().all(|c| c.is_ascii_alphabetic())
            }) =>
        {
            found.push(s.clone())
        }
        Value::Array(items) => items.iter().for_each(|i| quantities(i, found)),
        Value::Object(map) => map.values().for_each(|i| quantities(i, found)),
        _ => {}
    }
}

fn valid_hostname(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && !name.starts_with('-')
        && !name.ends_with('-')
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

#[test]
fn exports_hosts_processes_graph_and_notes_with_integer_units() {
    let out = temp("partition").join("shadow");
    let (code, err) = export("scenarios/heartbeat-partition.toml", &out, &[]);
    assert_eq!(code, Some(0), "{err}");
    assert!(!err.contains("warning"), "nothing is left out: {err}");
    let doc = yaml(&out);
    // One second past the duration: the nodes exit 0 at 5 min.
    assert_eq!(doc["general"]["stop_time"], "301 s");
    assert_eq!(doc["general"]["seed"], 7);
    assert_eq!(doc["network"]["graph"]["type"], "gml");
    assert_eq!(doc["network"]["graph"]["file"]["path"], "network.gml");

    let graph = parse_gml(&fs::read_to_string(out.join("network.gml")).unwrap())
        .expect("network.gml parses");
    for node in &graph.nodes {
        let loops = graph
            .edges
            .iter()
            .filter(|e| e.source == node.id && e.target == node.id)
            .count();
        assert_eq!(loops, 1, "node {} has one self-loop", node.id);
        assert!(node.bandwidth_up.is_some() && node.bandwidth_down.is_some());
    }
    assert!(
        graph
            .edges
            .iter()
            .all(|e| !e.latency.is_zero() && e.jitter.is_zero())
    );
    let node_ids: Vec<u64> = graph.nodes.iter().map(|n| u64::from(n.id)).collect();

    let hosts = doc["hosts"].as_object().unwrap();
    assert_eq!(hosts.len(), 12);
    let mut ips = std::collections::BTreeSet::new();
    for (name, host) in hosts {
        assert!(valid_hostname(name), "{name}");
        assert!(node_ids.contains(&host["network_node_id"].as_u64().unwrap()));
        assert!(
            ips.insert(host["ip_addr"].as_str().unwrap().to_string()),
            "distinct addresses"
        );
        let processes = host["processes"].as_array().unwrap();
        assert!(!processes.is_empty());
        for p in processes {
            let args: Vec<&str> = p["args"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| a.as_str().unwrap())
                .collect();
            assert_eq!(
                &args[..5],
                &[
                    "node",
                    "--scenario",
                    "../../../scenario.toml",
                    "--host",
                    name.as_str()
                ]
            );
            assert!(p["start_time"].is_string());
            let at = args.iter().position(|a| *a == "--start-at").unwrap();
            assert_eq!(
                p["start_time"],
                args[at + 1],
                "the node knows its start time"
            );
        }
    }
    // peer-3 crashes at 150 s and restarts at 200 s: killed, then a second process.
    let peer3 = hosts["peer-3"]["processes"].as_array().unwrap();
    assert_eq!(peer3.len(), 2);
    assert_eq!(peer3[0]["shutdown_time"], "150 s");
    assert_eq!(peer3[0]["shutdown_signal"], "SIGKILL");
    assert_eq!(peer3[0]["expected_final_state"]["signaled"], "SIGKILL");
    assert_eq!(peer3[1]["start_time"], "200 s");
    assert!(
        peer3[1]["args"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a == "--restarted")
    );

    // The exported command line runs as is from a Shadow host's working
    // directory (shadow.data/hosts/<host>/): scenario and shared folder
    // resolve. Sped up and on loopback here, since there is no Shadow.
    let cwd = out.join("shadow.data").join("hosts").join("peer-3");
    fs::create_dir_all(&cwd).unwrap();
    let mut args: Vec<String> = peer3[0]["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap().to_string())
        .collect();
    args.extend(["--time-scale", "0.0005", "--listen", "127.0.0.1:0"].map(String::from));
    let run = std::process::Command::new(env!("CARGO_BIN_EXE_sim"))
        .args(&args)
        .current_dir(&cwd)
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(cwd.join("peer-3.events.jsonl").is_file());
    assert!(cwd.join("peer-3.summary.json").is_file());
    // The shared directory is inside Shadow's data folder: fresh each run.
    assert!(out.join("shadow.data").join("shared").is_dir());
    // What Shadow leaves is collected like a launch: the scenario is found
    // three folders up, beside shadow.yaml.
    let results = out.join("results");
    let collected = std::process::Command::new(env!("CARGO_BIN_EXE_sim"))
        .arg("collect")
        .arg(out.join("shadow.data").join("hosts"))
        .arg("--out")
        .arg(&results)
        .output()
        .unwrap();
    assert!(
        collected.status.success(),
        "{}",
        String::from_utf8_lossy(&collected.stderr)
    );
    let summary: serde_json::Value = serde_json::from_str(
        &fs::read_to_string(results.join("heartbeat-partition/seed-7/summary.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(summary["run.mode"], "real");
    assert_eq!(summary["real.hosts_recorded"], 1);

    let mut found = Vec::new();
    quantities(&doc, &mut found);
    assert!(found.len() > 12 * 3, "{found:?}");
    assert!(
        found.iter().all(|q| !q.contains('.')),
        "no decimal point in any unit: {found:?}"
    );
    let gml_text = fs::read_to_string(out.join("network.gml")).unwrap();
    let quoted: Vec<&str> = gml_text.split('"').skip(1).step_by(2).collect();
    assert!(quoted.len() >= 3, "{gml_text}");
    assert!(
        quoted.iter().all(|q| !q.contains('.')),
        "integer units in network.gml: {quoted:?}"
    );

    let notes = fs::read_to_string(out.join("EXPORT-NOTES.md")).unwrap();
    assert!(
        notes.contains("Nothing: every fault of the scenario is in this export")
            && notes.contains("Faults 0 (partition), 2 (link): applied by each `sim node`")
            && notes.contains("Jitter (1 link(s))")
            && notes.contains("write_time"),
        "{notes}"
    );
    // The resolved scenario: the same scenario, read with no --set.
    let resolved = sim::model::parse_str(
        &fs::read_to_string(out.join("scenario.toml")).unwrap(),
        None,
        &[],
    )
    .unwrap();
    let original = sim::model::load(
        std::path::Path::new("scenarios/heartbeat-partition.toml"),
        &[],
    )
    .unwrap();
    assert_eq!(resolved.name, "heartbeat-partition");
    let faults = |s: &sim::Scenario| {
        s.faults
            .iter()
            .map(|f| (f.at, f.kind.clone()))
            .collect::<Vec<_>>()
    };
    assert_eq!(faults(&resolved), faults(&original));
    assert_eq!(resolved.hosts, original.hosts);
    fs::remove_dir_all(out.parent().unwrap()).unwrap();
}

#[test]
fn gml_scenarios_keep_their_node_ids_and_corruptions_become_helper_processes() {
    let out = temp("regions").join("shadow");
    let (code, err) = export("scenarios/heartbeat-regions.toml", &out, &[]);
    assert_eq!(code, Some(0), "{err}");
    let doc = yaml(&out);
    assert_eq!(
        doc["hosts"]["peer-0"]["network_node_id"], 2,
        "graph_node = 2"
    );
    assert_eq!(
        doc["hosts"]["validator-1"]["network_node_id"], 1,
        "round robin"
    );
    assert_eq!(
        doc["hosts"]["peer-0"]["bandwidth_up"], "50 Mbit",
        "the GML node's bandwidth"
    );
    // The graph the scenario names is copied beside it and named there:
    // the processes read it from the export, wherever the scenario was.
    assert_eq!(
        fs::read(out.join("inputs/three-regions.gml")).unwrap(),
        fs::read("scenarios/topologies/three-regions.gml").unwrap()
    );
    let text = fs::read_to_string(out.join("scenario.toml")).unwrap();
    assert!(
        text.contains("graph = \"inputs/three-regions.gml\""),
        "{text}"
    );
    let loaded = sim::model::load(&out.join("scenario.toml"), &[]).unwrap();
    assert_eq!(loaded.name, "heartbeat-regions");

    let out2 = temp("corrupt").join("shadow");
    let (code, err) = export("scenarios/registration-corruption.toml", &out2, &[]);
    assert_eq!(code, Some(0), "{err}");
    let doc = yaml(&out2);
    let procs = doc["hosts"]["empty-0"]["processes"].as_array().unwrap();
    let helper = procs
        .iter()
        .find(|p| p["args"][0] == "corrupt")
        .expect("a corrupt helper process");
    assert_eq!(helper["start_time"], "0 s");
    let helper_args: Vec<&str> = helper["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    for flag in [
        "--shared-dir",
        "--agent",
        "--mode",
        "--fault",
        "--seed",
        "--at",
    ] {
        assert!(helper_args.contains(&flag), "{flag} in {helper_args:?}");
    }
    assert!(
        helper["args"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a == "empty")
    );
    fs::remove_dir_all(out.parent().unwrap()).unwrap();
    fs::remove_dir_all(out2.parent().unwrap()).unwrap();
}

/// `--set` values and the seed are in the exported scenario (collecting
/// needs no repeated `--set`); a `fraction` corruption is drawn at export
/// time with `sim run`'s stream: one helper per damaged file, on the hosts
/// the simulator damages.
#[test]
fn overrides_are_kept_and_fraction_corruptions_are_exported_as_drawn() {
    let out = temp("backoff").join("shadow");
    let set = [
        "--set",
        "duration=90 s",
        "--set",
        "hosts.miner.count=40",
        "--seed",
        "3",
    ];
    let (code, err) = export("scenarios/registration-backoff.toml", &out, &set);
    assert_eq!(code, Some(0), "{err}");
    let resolved = sim::model::load(&out.join("scenario.toml"), &[]).unwrap();
    assert_eq!(resolved.name, "registration-backoff");
    assert_eq!(resolved.seed, 3);
    assert_eq!(resolved.duration.to_string(), "90 s");
    assert_eq!(resolved.hosts.len(), 44);
    let doc = yaml(&out);
    let mut damaged: Vec<String> = Vec::new();
    for (name, host) in doc["hosts"].as_object().unwrap() {
        for p in host["processes"].as_array().unwrap() {
            if p["args"][0] == "corrupt" {
                damaged.push(name.clone());
            }
            assert!(
                !p["args"].as_array().unwrap().iter().any(|a| a == "--set"),
                "no --set left to repeat"
            );
        }
    }
    // What the simulator damages with the same scenario and seed.
    let scenario = sim::model::load(
        std::path::Path::new("scenarios/registration-backoff.toml"),
        &[
            "duration=90 s".parse().unwrap(),
            "hosts.miner.count=40".parse().unwrap(),
            "seed=3".parse().unwrap(),
        ],
    )
    .unwrap();
    let streams = sim_core::rng::RngStreams::new(scenario.seed);
    let mut expected = Vec::new();
    for (fault, cx) in sim::faults::each(&scenario, &streams) {
        expected.extend(
            fault
                .effects()
                .hosts(&cx)
                .iter()
                .map(|h| scenario.hosts[h.index()].name.clone()),
        );
    }
    damaged.sort();
    expected.sort();
    assert_eq!(damaged.len(), 2, "5 % of 40 miners");
    assert_eq!(damaged, expected);
    let notes = fs::read_to_string(out.join("EXPORT-NOTES.md")).unwrap();
    assert!(notes.contains("`fraction` draws"), "{notes}");
    fs::remove_dir_all(out.parent().unwrap()).unwrap();
}

#[test]
fn export_refuses_to_write_over_a_folder_and_bad_scenarios() {
    let dir = temp("refuse");
    fs::write(dir.join("keep.txt"), "mine").unwrap();
    let (code, err) = export("scenarios/consensus-basic.toml", &dir, &[]);
    assert_eq!(code, Some(2), "{err}");
    assert_eq!(fs::read_to_string(dir.join("keep.txt")).unwrap(), "mine");
    let (code, _) = export("scenarios/nope.toml", &dir.join("x"), &[]);
    assert_eq!(code, Some(2));
    fs::remove_dir_all(&dir).unwrap();
}

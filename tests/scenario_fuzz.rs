//! Property test: a valid scenario mutated at random (bytes deleted, lines
//! duplicated, characters swapped or inserted, `--set` arguments added)
//! always yields `Ok` or a well-formed `Err`, never a panic.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use sim::model::parse_str;
use sim_core::scenario::Override;

const FULL: &str = include_str!("scenarios/full.toml");

/// Characters that matter to TOML and to our value parsers.
const INSERTS: &[&str] = &[
    "\"",
    "'",
    "[",
    "]",
    "{",
    "}",
    "=",
    ",",
    ".",
    "\n",
    "#",
    "-",
    "0",
    "9",
    " ms",
    " s",
    "-1",
    "1e400",
    "\u{e9}",
    "\u{1F600}",
    "\t",
    "\\",
    "[[faults]]\n",
    "[[hosts]]\n",
    "nan",
    "inf",
];

/// `--set` arguments to mix in, right and wrong.
const SETS: &[&str] = &[
    "registration.strategy=poll",
    "hosts.0.count=0",
    "hosts.miner.count=3",
    "hosts.9.count=3",
    "faults.1.restart=\"5 s\"",
    "faults.0.partition=[[\"miner\"],[\"miner-0\"]]",
    "duration=1ns",
    "network.topology=random-regular",
    "network.degree=1000001",
    "targets.\"run.trace_hash\"=== 0",
    "peers.members=[]",
    "consensus=5",
    "a.b.c.d=1",
    "hosts=[]",
    "\"unclosed=1",
    "faults.0.partition.0.0=validator-9",
];

fn mutate(rng: &mut ChaCha8Rng, text: &str) -> String {
    let mut bytes = text.as_bytes().to_vec();
    for _ in 0..rng.random_range(1..4) {
        let len = bytes.len().max(1);
        match rng.random_range(0..6) {
            0 => {
                let start = rng.random_range(0..len);
                let end = (start + rng.random_range(1..40)).min(bytes.len());
                bytes.drain(start.min(bytes.len())..end);
            }
            1 => {
                let lines: Vec<&[u8]> = bytes.split(|&b| b == b'\n').collect();
                let i = rng.random_range(0..lines.len());
                let j = rng.random_range(0..lines.len());
                let mut out: Vec<Vec<u8>> = lines.iter().map(|l| l.to_vec()).collect();
                out.insert(j, lines[i].to_vec());
                bytes = out.join(&b'\n');
            }
            2 if bytes.len() > 1 => {
                let i = rng.random_range(0..bytes.len());
                let j = rng.random_range(0..bytes.len());
                bytes.swap(i, j);
            }
            3 => {
                let at = rng.random_range(0..=bytes.len());
                let insert = INSERTS[rng.random_range(0..INSERTS.len())].as_bytes();
                bytes.splice(at..at, insert.iter().copied());
            }
            4 => {
                let at = rng.random_range(0..len).min(bytes.len());
                bytes.truncate(at);
            }
            _ => {
                if let Some(i) = (0..bytes.len())
                    .find(|&i| bytes[i].is_ascii_digit() && rng.random_range(0..8) == 0)
                {
                    bytes[i] = b'0' + rng.random_range(0..10u8);
                }
            }
        }
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

#[test]
fn mutated_scenarios_never_panic() {
    let mut errors = 0;
    for seed in 0..400u64 {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let text = mutate(&mut rng, FULL);
        let sets: Vec<Override> = (0..rng.random_range(0..3))
            .filter_map(|_| SETS[rng.random_range(0..SETS.len())].parse().ok())
            .collect();
        let result = catch_unwind(AssertUnwindSafe(|| {
            parse_str(&text, Some(Path::new("fuzz.toml")), &sets)
        }));
        let Ok(result) = result else {
            panic!("seed {seed} panicked on\n{text}\nwith {sets:?}");
        };
        if let Err(err) = result {
            errors += 1;
            let shown = err.to_string();
            assert!(shown.starts_with("error: "), "seed {seed}: {shown}");
            let lines = u32::try_from(text.lines().count()).unwrap() + 1;
            assert!(
                err.line().is_none_or(|l| (1..=lines).contains(&l)),
                "seed {seed}: {shown}"
            );
            assert!(!err.message().is_empty(), "seed {seed}");
        }
    }
    // The mutations are strong enough to break most files.
    assert!(errors > 200, "only {errors} of 400 mutations were rejected");
}

#[test]
fn arbitrary_bytes_never_panic() {
    let mut rng = ChaCha8Rng::seed_from_u64(99);
    for _ in 0..300 {
        let len = rng.random_range(0..200);
        let bytes: Vec<u8> = (0..len).map(|_| rng.random_range(0..=255u8)).collect();
        let text = String::from_utf8_lossy(&bytes);
        let _ = parse_str(&text, None, &[]);
    }
}

//! `sim`: run deterministic network studies from scenario files.
//!
//! Exit codes (stable; scripts rely on them):
//! - 0: success;
//! - 1: a target was missed (`sim check`);
//! - 2: invalid input (a scenario, a graph, a flag);
//! - 3: results could not be written;
//! - 4: a safety checker tripped; 5: a liveness checker tripped;
//! - 6: a run stopped early (an engine limit, or time stopped advancing);
//! - 7: `sim merge`: the shards are not one complete sweep (runs missing,
//!   or shards of different sweeps); nothing was written.

mod check_cmd;
mod cli;
mod collect_cmd;
mod corrupt_cmd;
mod execute;
mod exit;
mod explore_cmd;
mod export_cmd;
mod jobs;
mod launch_cmd;
mod memory;
mod merge_cmd;
mod node_cmd;
mod progress;
mod provenance;
mod real;
mod record;
mod resolved_copy;
mod run_cmd;
mod shrink_cmd;
mod sweep;

/// mimalloc instead of glibc's allocator: a run allocates and frees small
/// blocks (datagrams, outboxes, records) all the time and keeps large
/// tables; measured 0.8-0.9x the wall time of the load and 100,000-miner
/// benchmarks and 4.5 % fewer instructions at 200 peers (BENCHMARKS.md,
/// stop 27). It changes no output: nothing in a run depends on addresses.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use clap::{CommandFactory, FromArgMatches};

fn main() -> std::process::ExitCode {
    let matches = cli::Cli::command().get_matches();
    let mut cli = cli::Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    // The grid's axes keep the order their flags were given in.
    let sub = matches.subcommand().map(|(_, m)| m);
    match &mut cli.command {
        cli::Command::Run(args) => args.selection.order_axes(sub),
        cli::Command::Check(args) => args.selection.order_axes(sub),
        cli::Command::Validate(_)
        | cli::Command::Merge(_)
        | cli::Command::Export(_)
        | cli::Command::Node(_)
        | cli::Command::Launch(_)
        | cli::Command::Collect(_)
        | cli::Command::Corrupt(_)
        | cli::Command::Explore(_)
        | cli::Command::Shrink(_) => {}
    }
    let code = match cli.command {
        cli::Command::Run(args) => run_cmd::run(&args),
        cli::Command::Check(args) => check_cmd::check(&args),
        cli::Command::Validate(args) => run_cmd::validate(&args),
        cli::Command::Merge(args) => merge_cmd::merge(&args),
        cli::Command::Export(args) => export_cmd::export(&args),
        cli::Command::Node(args) => node_cmd::node(&args),
        cli::Command::Launch(args) => launch_cmd::launch(&args),
        cli::Command::Collect(args) => collect_cmd::collect(&args),
        cli::Command::Corrupt(args) => corrupt_cmd::corrupt(&args),
        cli::Command::Explore(args) => explore_cmd::explore(&args),
        cli::Command::Shrink(args) => shrink_cmd::shrink(&args),
    };
    code.into()
}

//! The fuzz targets' bodies. `checks.rs` is shared with the workspace's
//! `tests/fuzz_corpus.rs`, which replays every seed and every kept crash
//! input on the stable toolchain, so a fixed crash stays fixed.

pub mod checks;

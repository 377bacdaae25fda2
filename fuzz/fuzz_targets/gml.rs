//! Fuzz target `gml`: see `sim_fuzz::checks::gml` for what it checks.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| sim_fuzz::checks::gml(data));

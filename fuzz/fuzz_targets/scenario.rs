//! Fuzz target `scenario`: see `sim_fuzz::checks::scenario` for what it checks.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| sim_fuzz::checks::scenario(data));

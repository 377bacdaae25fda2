//! Fuzz target `fragment`: see `sim_fuzz::checks::fragment` for what it checks.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| sim_fuzz::checks::fragment(data));

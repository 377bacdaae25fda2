//! Fuzz target `frame`: see `sim_fuzz::checks::frame` for what it checks.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| sim_fuzz::checks::frame(data));

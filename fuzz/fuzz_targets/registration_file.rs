//! Fuzz target `registration_file`: see `sim_fuzz::checks::registration_file` for what it checks.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| sim_fuzz::checks::registration_file(data));

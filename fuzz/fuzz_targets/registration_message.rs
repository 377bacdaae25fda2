//! Fuzz target `registration_message`: see `sim_fuzz::checks::registration_message` for what it checks.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| sim_fuzz::checks::registration_message(data));

//! Fuzz target `legacy_registry`: see `sim_fuzz::checks::legacy_registry` for what it checks.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| sim_fuzz::checks::legacy_registry(data));

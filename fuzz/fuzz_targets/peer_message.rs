//! Fuzz target `peer_message`: see `sim_fuzz::checks::peer_message` for what it checks.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| sim_fuzz::checks::peer_message(data));

//! The differential model driven by fuzzer bytes: the first byte picks the
//! modes, the rest the operations (see tests/reliability_model). Any
//! divergence from the model, or between backends, is a crash.

#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../../tests/reliability_model/mod.rs"]
mod model;

fuzz_target!(|data: &[u8]| {
    let (modes, ops) = model::from_bytes(data);
    let mut counts = model::Counts::default();
    if let Err(msg) = model::run_everywhere(modes, &ops, &mut counts) {
        panic!("{msg}");
    }
});

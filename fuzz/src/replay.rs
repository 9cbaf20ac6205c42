//! The fuzz target's stable driver: runs the differential model on every
//! file given (or every file of every directory given), and with
//! `--random N` on N random inputs besides, then prints what it checked.
//!
//!     cargo run --release --no-default-features --bin replay -- corpus/differential
//!     cargo run --release --no-default-features --bin replay -- --random 2000

#[path = "../../tests/reliability_model/mod.rs"]
mod model;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

fn inputs(path: &Path, out: &mut Vec<PathBuf>) {
    if path.is_dir() {
        let mut entries: Vec<_> = std::fs::read_dir(path)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
            .flatten()
            .map(|e| e.path())
            .collect();
        entries.sort();
        for entry in entries {
            inputs(&entry, out);
        }
    } else {
        out.push(path.to_path_buf());
    }
}

fn check(name: &str, data: &[u8], counts: &mut model::Counts) -> bool {
    let (modes, ops) = model::from_bytes(data);
    match model::run_everywhere(modes, &ops, counts) {
        Ok(()) => true,
        Err(msg) => {
            eprintln!("divergence in {name}:\n{msg}");
            false
        }
    }
}

fn main() -> ExitCode {
    let mut files = Vec::new();
    let mut random = 0u64;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        if arg == "--random" {
            random = args
                .next()
                .and_then(|n| n.parse().ok())
                .expect("--random takes a count");
        } else {
            inputs(Path::new(&arg), &mut files);
        }
    }

    let mut counts = model::Counts::default();
    let mut failed = 0;
    for file in &files {
        let data = std::fs::read(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        if !check(&file.display().to_string(), &data, &mut counts) {
            failed += 1;
        }
    }
    let mut rng = model::Rng::new(0x6675_7a7a);
    for i in 0..random {
        let len = 1 + (rng.next_u64() % 2048) as usize;
        let data: Vec<u8> = (0..len).map(|_| rng.next_u64() as u8).collect();
        if !check(&format!("random input {i}"), &data, &mut counts) {
            failed += 1;
        }
    }
    println!(
        "replay: {} inputs, {} sequences, {} operations, {} waits, {} events checked, \
         {failed} divergences",
        files.len() as u64 + random,
        counts.sequences,
        counts.ops,
        counts.waits,
        counts.events
    );
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

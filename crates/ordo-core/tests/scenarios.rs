//! Scenario transcripts: every file in `tests/testdata/` is a script of commands
//! and the output each must produce. See `ordo_sim::scenario` for the commands
//! and `ordo_sim::transcript` for the format; `REWRITE=1 cargo test -p
//! ordo-core --test scenarios` regenerates the outputs after an intended change.

use std::path::Path;

use ordo_sim::scenario::Scenario;
use ordo_sim::transcript::run_file;

#[test]
fn every_transcript_matches() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/testdata");
    let mut paths: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.extension().is_some_and(|ext| ext == "txt"))
        .collect();
    paths.sort();
    assert!(
        !paths.is_empty(),
        "no transcripts found in {}",
        dir.display()
    );
    for path in paths {
        let mut scenario = Scenario::new();
        run_file(&path, |command| scenario.run(command));
    }
}

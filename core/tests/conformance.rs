//! Replays every case in `conformance/` (see its README for the format) on
//! the memory and the shared store.

mod support;

use loginguard::{Policy, StoreKind};
use support::conformance::{cases, report, run_case};

#[test]
fn every_conformance_case_passes() {
    let paths = cases();
    let failures = paths
        .iter()
        .filter_map(|p| run_case(p, &|_| {}).err())
        .collect();
    report(failures, paths.len());
}

#[test]
fn every_conformance_case_passes_on_the_shared_store() {
    let dir = std::env::temp_dir().join(format!("loginguard-conformance-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let paths = cases();
    let failures = paths
        .iter()
        .filter_map(|p| {
            let file = dir.join(p.file_stem().unwrap()).with_extension("store");
            run_case(p, &|policy: &mut Policy| {
                policy.store.kind = StoreKind::Shared;
                policy.store.path = Some(file.clone());
                policy.store.capacity = 1 << 16;
            })
            .err()
        })
        .collect();
    std::fs::remove_dir_all(&dir).unwrap();
    report(failures, paths.len());
}

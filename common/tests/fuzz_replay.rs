//! The fuzz targets' checks (`fuzz/checks/*.rs`, the same code libFuzzer runs) on every test
//! run: seeds and deterministic mutations (`fuzz/replay.rs`, shared with the broker's
//! `fuzz_replay_ha.rs`). This is the "briefly in CI" part of issue 21's fuzzing; the
//! campaigns that run for hours are libFuzzer's (`fuzz/README.md`).

use std::time::Duration;

#[path = "../../fuzz/replay.rs"]
mod replay;
use replay::run;

#[path = "../../fuzz/checks/acl_config.rs"]
mod acl_config;
#[path = "../../fuzz/checks/client_bodies.rs"]
mod client_bodies;
#[path = "../../fuzz/checks/frame_decode.rs"]
mod frame_decode;
#[path = "../../fuzz/checks/record_decode.rs"]
mod record_decode;
#[path = "../../fuzz/checks/sql_filter.rs"]
mod sql_filter;

/// Mutations per target (each run is deterministic: the same inputs every time).
const MUTATIONS: usize = 20_000;
/// Wall-clock cap per target, so a slow debug build on a loaded machine stays bounded.
const BUDGET: Duration = Duration::from_secs(8);

#[test]
fn frame_decode_seeds_and_mutations() {
    run("frame_decode", frame_decode::check, MUTATIONS, BUDGET);
}

#[test]
fn record_decode_seeds_and_mutations() {
    run("record_decode", record_decode::check, MUTATIONS, BUDGET);
}

#[test]
fn client_bodies_seeds_and_mutations() {
    run("client_bodies", client_bodies::check, MUTATIONS, BUDGET);
}

#[test]
fn sql_filter_seeds_and_mutations() {
    run("sql_filter", sql_filter::check, MUTATIONS, BUDGET);
}

#[test]
fn acl_config_seeds_and_mutations() {
    run("acl_config", acl_config::check, MUTATIONS, BUDGET);
}

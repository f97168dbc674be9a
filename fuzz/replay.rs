//! The CI replay of the fuzz targets' checks (`fuzz/checks/*.rs`), shared by
//! `common/tests/fuzz_replay.rs` and `broker/tests/fuzz_replay_ha.rs` (each includes this file
//! with `#[path]`): every checked-in seed as is, then a bounded number of deterministic
//! mutations of the seeds (bit flips, byte changes, inserts, deletes, truncations, splices of
//! two seeds). A failure prints the input as hex, to be saved as a seed and replayed with
//! `cargo fuzz run <target> <file>`.
#![allow(dead_code)]

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// xorshift64*: a tiny deterministic generator (no dependency, same sequence everywhere).
pub struct Rng(pub u64);
impl Rng {
    /// The next 64 random bits.
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    /// A value in `0..n` (0 for n = 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// Values that tend to sit on boundaries (lengths, offsets, sizes).
const INTERESTING: [u8; 8] = [0x00, 0x01, 0x7f, 0x80, 0xff, b'{', b'"', b'\n'];

/// One input: a seed with 1 to 4 random edits.
pub fn mutate(rng: &mut Rng, seeds: &[Vec<u8>]) -> Vec<u8> {
    let mut d = seeds[rng.below(seeds.len())].clone();
    for _ in 0..1 + rng.below(4) {
        let len = d.len();
        match rng.below(7) {
            0 if len > 0 => {
                let i = rng.below(len);
                d[i] ^= 1 << rng.below(8);
            }
            1 if len > 0 => {
                let i = rng.below(len);
                d[i] = INTERESTING[rng.below(INTERESTING.len())];
            }
            2 => {
                let i = rng.below(len + 1);
                d.insert(i, rng.next() as u8);
            }
            3 if len > 0 => {
                let i = rng.below(len);
                let n = 1 + rng.below((len - i).min(16));
                d.drain(i..i + n);
            }
            4 => d.truncate(rng.below(len + 1)),
            5 => {
                // Splice: this input's head, another seed's tail.
                let other = &seeds[rng.below(seeds.len())];
                let cut = rng.below(len + 1);
                let from = rng.below(other.len() + 1);
                d.truncate(cut);
                d.extend_from_slice(&other[from..]);
            }
            _ if len >= 4 => {
                // A big-endian length or offset field set to an extreme.
                let i = rng.below(len - 3);
                let v: u32 = [0, 1, 0x7fff_ffff, 0x8000_0000, 0xffff_ffff][rng.below(5)];
                d[i..i + 4].copy_from_slice(&v.to_be_bytes());
            }
            _ => {}
        }
    }
    d
}

/// The checked-in seeds of `target` (`fuzz/seeds/<target>/`), in name order.
pub fn seeds(target: &str) -> Vec<Vec<u8>> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fuzz/seeds").join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    let out: Vec<Vec<u8>> = files.iter().map(|f| std::fs::read(f).unwrap()).collect();
    assert!(!out.is_empty(), "no seed in {}", dir.display());
    out
}

/// Lower-case hex, to print a failing input.
pub fn hex(d: &[u8]) -> String {
    d.iter().map(|b| format!("{b:02x}")).collect()
}

/// Replay `target`'s seeds, then up to `mutations` mutations of them for at most `budget`;
/// a panic fails the test with the input as hex.
pub fn run(target: &str, check: fn(&[u8]), mutations: usize, budget: Duration) {
    let seeds = seeds(target);
    let one = |d: &[u8], what: &str| {
        if let Err(e) = catch_unwind(AssertUnwindSafe(|| check(d))) {
            let msg = e
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            panic!("{target}: {what} panicked: {msg}\ninput ({} bytes): {}", d.len(), hex(d));
        }
    };
    for (i, s) in seeds.iter().enumerate() {
        one(s, &format!("seed {i}"));
    }
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ target.len() as u64);
    let start = Instant::now();
    let mut n = 0;
    while n < mutations && start.elapsed() < budget {
        let d = mutate(&mut rng, &seeds);
        one(&d, &format!("mutation {n}"));
        n += 1;
    }
    eprintln!("{target}: {} seeds, {n} mutations in {:?}", seeds.len(), start.elapsed());
}

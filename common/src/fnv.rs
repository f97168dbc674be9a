//! FNV-1a hashing for the broker's hot per-request tables keyed by short names (topic →
//! consume queues, topic → metrics counters). SipHash's DoS resistance buys nothing there: the
//! keys are topics and groups the broker validated and bounds; and it costs ~5 % of a put.

use std::hash::{BuildHasherDefault, Hasher};

/// The FNV-1a 64-bit hasher.
#[derive(Default, Clone, Copy, Debug)]
pub struct Fnv(u64);

impl Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        let mut h = if self.0 == 0 { 0xcbf2_9ce4_8422_2325 } else { self.0 };
        for &b in bytes {
            h ^= b as u64;
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        self.0 = h;
    }
}

/// `BuildHasher` for `HashMap`/`DashMap` with [`Fnv`].
pub type FnvBuild = BuildHasherDefault<Fnv>;

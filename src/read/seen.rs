//! The primary keys of the rows already read from one page, kept small.
//!
//! A page whose body breaks is requested again and the rows already read
//! are skipped by primary key (see `reader`), so every row's key is
//! remembered until the page ends. A bare list (`GET /api/card`) is one
//! page of any length: a hash set of 64-bit key hashes took ~16 bytes a row,
//! ~1.5 MiB of the guest's memory at 100,000 cards, growing with the
//! response. Metabase's keys are integer ids, dense from 1, so integer keys
//! go to bitmaps of 65,536 ids (8 KiB each) once enough of a block's ids are
//! seen: 100,000 cards then take two blocks. Sparse ids and other keys stay in
//! hash sets, as before.

use crate::wit::Value;
use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};

/// The hash of a block number: one multiply, where the default SipHash
/// was ~0.5% of a cards read (one lookup per row). Blocks are few (each
/// holds at least `BLOCK_MIN_IDS` ids), so collisions cost nothing much.
#[derive(Default)]
struct BlockHasher(u64);

impl Hasher for BlockHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        }
    }

    fn write_i64(&mut self, n: i64) {
        self.0 = (n as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
}

/// Ids a block must hold before it becomes a bitmap: 8 KiB of bits then
/// costs no more than those ids in a hash set.
const BLOCK_MIN_IDS: usize = 512;
/// Ids in the hash set before the first look for dense blocks.
const FIRST_COMPACTION: usize = 4096;

#[derive(Default)]
pub struct SeenKeys {
    /// Integer ids by `id >> 16`: one bit per id of the block.
    blocks: HashMap<i64, Box<[u64; 1024]>, BuildHasherDefault<BlockHasher>>,
    /// Integer ids of blocks too sparse for a bitmap (so far).
    ids: HashSet<i64>,
    /// 64-bit hashes of every other key (strings, several columns).
    hashes: HashSet<u64>,
    next_compaction: usize,
}

impl SeenKeys {
    /// Records the key of `row` (its columns `cols`); whether it is new.
    pub fn insert(&mut self, row: &[Value], cols: &[usize]) -> bool {
        match (cols, cols.first().and_then(|&c| row.get(c))) {
            ([_], Some(Value::Integer(id))) => self.insert_id(*id),
            _ => self.hashes.insert(key_hash(row, cols)),
        }
    }

    /// Forgets every key (a new page), keeping nothing allocated beyond a
    /// small set's worth.
    pub fn clear(&mut self) {
        self.blocks.clear();
        self.ids.clear();
        self.ids.shrink_to(FIRST_COMPACTION);
        self.hashes.clear();
        self.hashes.shrink_to(FIRST_COMPACTION);
        self.next_compaction = 0;
    }

    fn insert_id(&mut self, id: i64) -> bool {
        let (block, bit) = (id >> 16, (id & 0xffff) as usize);
        if let Some(bits) = self.blocks.get_mut(&block) {
            let (word, mask) = (bit / 64, 1u64 << (bit % 64));
            let new = bits[word] & mask == 0;
            bits[word] |= mask;
            return new;
        }
        let new = self.ids.insert(id);
        if self.ids.len() >= self.next_compaction.max(FIRST_COMPACTION) {
            self.compact();
        }
        new
    }

    /// Moves the ids of every dense enough block into a bitmap.
    fn compact(&mut self) {
        let mut counts: HashMap<i64, usize> = HashMap::new();
        for id in &self.ids {
            *counts.entry(id >> 16).or_default() += 1;
        }
        for (block, n) in counts {
            if n >= BLOCK_MIN_IDS {
                self.blocks.insert(block, Box::new([0; 1024]));
            }
        }
        let blocks = &mut self.blocks;
        self.ids.retain(|id| match blocks.get_mut(&(id >> 16)) {
            Some(bits) => {
                let bit = (id & 0xffff) as usize;
                bits[bit / 64] |= 1u64 << (bit % 64);
                false
            }
            None => true,
        });
        self.ids.shrink_to_fit();
        // Amortised: the set must double again before the next look.
        self.next_compaction = (2 * self.ids.len()).max(FIRST_COMPACTION);
    }

    /// Heap bytes held, roughly (for tests).
    #[cfg(test)]
    fn footprint(&self) -> usize {
        self.blocks.len() * 8192 + (self.ids.capacity() + self.hashes.capacity()) * 9
    }
}

/// A hash of a row's primary key. 64 bits: a collision (which would skip a
/// row) needs billions of rows in one page.
fn key_hash(row: &[Value], cols: &[usize]) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    for &c in cols {
        match row.get(c) {
            Some(Value::Integer(i)) => (0u8, i).hash(&mut h),
            Some(Value::String(s)) => (1u8, s).hash(&mut h),
            Some(other) => (2u8, format!("{other:?}")).hash(&mut h),
            None => 3u8.hash(&mut h),
        }
    }
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: i64) -> Vec<Value> {
        vec![Value::String("x".into()), Value::Integer(id)]
    }

    /// A permutation of 0..n, deterministic (a full-period LCG step).
    fn shuffled(n: i64) -> Vec<i64> {
        let mut v: Vec<i64> = (0..n).collect();
        let mut s = 0x2545_f491_4f6c_dd1du64;
        for i in (1..v.len()).rev() {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            v.swap(i, (s >> 33) as usize % (i + 1));
        }
        v
    }

    #[test]
    fn every_id_is_new_once_whatever_the_layout() {
        let layouts: Vec<Vec<i64>> = vec![
            shuffled(100_000).into_iter().map(|i| i + 1).collect(),          // dense, any order
            (0..20_000).map(|i| i * 1_000_003).collect(),                     // sparse
            (0..20_000).map(|i| if i % 2 == 0 { i } else { -i * 70_000 }).collect(), // mixed, negative
            vec![i64::MIN, i64::MAX, 0, -1, 65_535, 65_536],
        ];
        for ids in layouts {
            let mut s = SeenKeys::default();
            for &id in &ids {
                assert!(s.insert(&row(id), &[1]), "{id} first time");
            }
            for &id in ids.iter().rev() {
                assert!(!s.insert(&row(id), &[1]), "{id} second time");
            }
            let known: HashSet<i64> = ids.iter().copied().collect();
            for probe in [-7, 3, 100_001, 123_456_789, 65_537] {
                if !known.contains(&probe) {
                    assert!(s.insert(&row(probe), &[1]), "{probe} never inserted");
                }
            }
            s.clear();
            assert!(s.insert(&row(ids[0]), &[1]), "forgotten after clear");
        }
    }

    #[test]
    fn dense_ids_stay_small() {
        let mut s = SeenKeys::default();
        for id in shuffled(100_000) {
            s.insert(&row(id + 1), &[1]);
        }
        // Two bitmaps and a near-empty set, where a hash set took ~1.5 MiB.
        assert!(s.footprint() < 64 * 1024, "{} bytes", s.footprint());
        assert_eq!(s.blocks.len(), 2);
    }

    #[test]
    fn other_keys_are_hashed() {
        let mut s = SeenKeys::default();
        let r = |a: &str, b: i64| vec![Value::String(a.into()), Value::Integer(b)];
        assert!(s.insert(&r("a", 1), &[0]));
        assert!(!s.insert(&r("a", 2), &[0]));
        assert!(s.insert(&r("a", 1), &[0, 1]));
        assert!(s.insert(&r("a", 2), &[0, 1]));
        assert!(!s.insert(&r("a", 2), &[0, 1]));
        // A single column that is not an integer (a string id) is hashed too.
        assert!(s.insert(&r("root", 0), &[0]));
        assert!(!s.insert(&r("root", 5), &[0]));
    }
}

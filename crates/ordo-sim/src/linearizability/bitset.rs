//! The set of operations linearized so far, in two regions (determinate
//! operations, then indeterminate ones), with a hash of each region kept up to
//! date on every change so the memo cache never rehashes the whole set.

use ordo_core::SplitMix64;

/// A fixed-capacity set of bit indices, split at a word boundary into two
/// regions.
///
/// Invariant: `hashes[r]` is the XOR of [`bit_hash`] over the members in region
/// `r`, so two equal regions always have equal hashes, however they were built.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Bitset {
    words: Vec<u64>,
    /// The first word of the second region.
    split_word: usize,
    hashes: [u64; 2],
}

impl Bitset {
    /// An empty set holding `0..64 * split_word` in its first region and
    /// `64 * split_word..capacity` in its second.
    pub(crate) fn new(split_word: usize, capacity: usize) -> Self {
        let words = vec![0; capacity.div_ceil(64).max(split_word)];
        Self {
            words,
            split_word,
            hashes: [0; 2],
        }
    }

    /// Adds `index`, which must not be a member.
    pub(crate) fn insert(&mut self, index: usize) {
        let (word, mask) = locate(index);
        assert_eq!(
            self.words[word] & mask,
            0,
            "operation {index} linearized twice"
        );
        self.words[word] |= mask;
        self.hashes[self.region(word)] ^= bit_hash(index);
    }

    /// Removes `index`, which must be a member.
    pub(crate) fn remove(&mut self, index: usize) {
        let (word, mask) = locate(index);
        assert_ne!(
            self.words[word] & mask,
            0,
            "operation {index} was not linearized"
        );
        self.words[word] &= !mask;
        self.hashes[self.region(word)] ^= bit_hash(index);
    }

    /// Whether `index` is a member.
    pub(crate) fn contains(&self, index: usize) -> bool {
        let (word, mask) = locate(index);
        self.words[word] & mask != 0
    }

    /// The two regions' words, 64 members to a word, lowest index in the lowest
    /// bit.
    pub(crate) fn regions(&self) -> (&[u64], &[u64]) {
        self.words.split_at(self.split_word)
    }

    /// A hash of the first region's members, independent of the order they were
    /// added in.
    pub(crate) fn first_region_hash(&self) -> u64 {
        self.hashes[0]
    }

    fn region(&self, word: usize) -> usize {
        usize::from(word >= self.split_word)
    }
}

fn locate(index: usize) -> (usize, u64) {
    (index / 64, 1 << (index % 64))
}

/// A well-mixed 64-bit value per index, so that XORs of them rarely collide.
fn bit_hash(index: usize) -> u64 {
    mix64(index as u64)
}

/// The first output of a [`SplitMix64`] seeded with `value`: its finalizer
/// applied to `value` plus the golden gamma, a bijection on `u64` that spreads
/// every input bit.
pub(crate) fn mix64(value: u64) -> u64 {
    SplitMix64::new(value).next_u64()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_sets_hash_equally_whatever_the_order() {
        let mut a = Bitset::new(2, 200);
        let mut b = Bitset::new(2, 200);
        for index in [0, 63, 64, 129] {
            a.insert(index);
        }
        for index in [129, 5, 64, 0, 63] {
            b.insert(index);
        }
        b.remove(5);
        assert_eq!(a, b);
        assert_eq!(a.first_region_hash(), b.first_region_hash());
        assert!(a.contains(129) && !a.contains(5));
    }

    #[test]
    fn the_first_region_hash_ignores_the_second_region() {
        let mut set = Bitset::new(1, 130);
        set.insert(3);
        let hash = set.first_region_hash();
        set.insert(64);
        set.insert(129);
        assert_eq!(set.first_region_hash(), hash);
        let (first, second) = set.regions();
        assert_eq!((first, second), (&[0b1000][..], &[1, 2][..]));
    }

    #[test]
    fn removing_everything_gives_the_empty_set() {
        let mut set = Bitset::new(1, 70);
        set.insert(69);
        set.insert(1);
        set.remove(69);
        set.remove(1);
        assert_eq!(set, Bitset::new(1, 70));
    }

    #[test]
    #[should_panic(expected = "linearized twice")]
    fn inserting_a_member_is_a_bug() {
        let mut set = Bitset::new(1, 1);
        set.insert(0);
        set.insert(0);
    }
}

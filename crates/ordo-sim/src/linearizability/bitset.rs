//! The set of operations linearized so far, with a hash kept up to date on every
//! change so the memo cache never rehashes the whole set.

/// A fixed-capacity set of operation indices.
///
/// Invariant: `hash` is the XOR of [`bit_hash`] over the members, so two equal
/// sets always have equal hashes, however they were built.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Bitset {
    words: Vec<u64>,
    hash: u64,
}

impl Bitset {
    /// An empty set that can hold `0..capacity`.
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            words: vec![0; capacity.div_ceil(64)],
            hash: 0,
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
        self.hash ^= bit_hash(index);
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
        self.hash ^= bit_hash(index);
    }

    /// Whether `index` is a member.
    #[cfg(test)]
    pub(crate) fn contains(&self, index: usize) -> bool {
        let (word, mask) = locate(index);
        self.words[word] & mask != 0
    }

    /// The members, 64 to a word, lowest index in the lowest bit.
    pub(crate) fn words(&self) -> &[u64] {
        &self.words
    }

    /// A hash of the members, independent of the order they were added in.
    pub(crate) fn hash(&self) -> u64 {
        self.hash
    }
}

fn locate(index: usize) -> (usize, u64) {
    (index / 64, 1 << (index % 64))
}

/// A well-mixed 64-bit value per index (SplitMix64's finalizer), so that XORs of
/// them rarely collide.
pub(crate) fn bit_hash(index: usize) -> u64 {
    mix64(index as u64)
}

/// SplitMix64's finalizer: a bijection on `u64` that spreads every input bit.
pub(crate) fn mix64(value: u64) -> u64 {
    let mut z = value.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_sets_hash_equally_whatever_the_order() {
        let mut a = Bitset::new(130);
        let mut b = Bitset::new(130);
        for index in [0, 63, 64, 129] {
            a.insert(index);
        }
        for index in [129, 5, 64, 0, 63] {
            b.insert(index);
        }
        b.remove(5);
        assert_eq!(a, b);
        assert_eq!(a.hash(), b.hash());
        assert!(a.contains(129) && !a.contains(5));
    }

    #[test]
    fn removing_everything_gives_the_empty_set() {
        let mut set = Bitset::new(70);
        set.insert(69);
        set.insert(1);
        set.remove(69);
        set.remove(1);
        assert_eq!(set, Bitset::new(70));
        assert_eq!(set.hash(), 0);
    }

    #[test]
    #[should_panic(expected = "linearized twice")]
    fn inserting_a_member_is_a_bug() {
        let mut set = Bitset::new(1);
        set.insert(0);
        set.insert(0);
    }
}

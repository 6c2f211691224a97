//! Derived seeds and content hashes: 64-bit FNV-1a, the one hash every seed derivation and
//! fingerprint in dreamrig uses (stable across platforms, versions and runs, unlike `std`'s
//! `DefaultHasher`).
//!
//! FNV-1a: Fowler, Noll and Vo, <http://www.isthe.com/chongo/tech/comp/fnv/>; offset basis
//! `0xcbf29ce484222325`, prime `0x100000001b3`.

/// An FNV-1a hash being computed: feed bytes with [`Fnv1a::update`], read it with
/// [`Fnv1a::finish`]. Continuing from a finished value ([`Fnv1a::resume`]) equals hashing the
/// concatenation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fnv1a(u64);

impl Default for Fnv1a {
    fn default() -> Self {
        Self::new()
    }
}

impl Fnv1a {
    /// The 64-bit FNV offset basis.
    pub const OFFSET_BASIS: u64 = 0xcbf29ce484222325;
    /// The 64-bit FNV prime.
    pub const PRIME: u64 = 0x100000001b3;

    /// The hash of nothing.
    pub fn new() -> Self {
        Self(Self::OFFSET_BASIS)
    }

    /// Continues from an earlier hash value.
    pub fn resume(value: u64) -> Self {
        Self(value)
    }

    /// Feeds `bytes`.
    pub fn update(mut self, bytes: &[u8]) -> Self {
        for b in bytes {
            self.0 = (self.0 ^ *b as u64).wrapping_mul(Self::PRIME);
        }
        self
    }

    /// The hash of everything fed so far.
    pub fn finish(self) -> u64 {
        self.0
    }
}

/// FNV-1a of the concatenation of `parts`.
pub fn fnv1a(parts: &[&[u8]]) -> u64 {
    parts.iter().fold(Fnv1a::new(), |h, p| h.update(p)).finish()
}

/// Shuffles `items` in place with `rng` (Fisher–Yates from the end, drawing each index with
/// `random_range(0..=i)`): the one shuffle of dreamrig, so that every shuffled order — training
/// batches, train/validation splits, sampled episodes — is the same function of the seed.
pub fn shuffle<T>(items: &mut [T], rng: &mut impl rand::Rng) {
    for i in (1..items.len()).rev() {
        items.swap(i, rng.random_range(0..=i));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv1a_matches_the_published_test_vectors() {
        // From the FNV reference test suite (FNV-1a 64-bit).
        assert_eq!(fnv1a(&[b""]), 0xcbf29ce484222325);
        assert_eq!(fnv1a(&[b"a"]), 0xaf63dc4c8601ec8c);
        assert_eq!(fnv1a(&[b"foobar"]), 0x85944171f73967e8);
        assert_eq!(fnv1a(&[b"foo", b"bar"]), fnv1a(&[b"foobar"]));
        assert_eq!(Fnv1a::resume(fnv1a(&[b"foo"])).update(b"bar").finish(), fnv1a(&[b"foobar"]));
    }
}

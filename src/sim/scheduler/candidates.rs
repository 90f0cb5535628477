//! The nodes a template's pods may fit, so that filtering skips the others.
//!
//! A pod's filter walk looks at nodes in the node tree's order until enough are
//! feasible. In a full cluster most nodes fail NodeResourcesFit, and looking at each of
//! them made one pod's cycle cost O(nodes). Every filter but PodTopologySpread reads
//! only the node and the template (its cordon, taints, labels and free resources), so
//! each template keeps the set of positions whose node passes them, updated when a
//! node's allocation or taints change, and the walk jumps from one member to the next.

use std::ops::ControlFlow;

/// A set of positions `0..len` with insertion, removal and "first member at or after"
/// in O(log₆₄ len): a bit per position, and above it levels with a bit per non-zero
/// word of the level below, up to a single word.
#[derive(Clone, Debug)]
pub(super) struct PositionSet {
    levels: Vec<Vec<u64>>,
}

impl PositionSet {
    /// The empty set of positions `0..len`.
    pub(super) fn new(len: usize) -> Self {
        let mut levels = Vec::new();
        let mut bits = len.max(1);
        loop {
            let words = bits.div_ceil(64);
            levels.push(vec![0; words]);
            if words == 1 {
                return PositionSet { levels };
            }
            bits = words;
        }
    }

    /// Makes `pos` a member or not.
    pub(super) fn set(&mut self, pos: usize, member: bool) {
        let mut i = pos;
        for level in &mut self.levels {
            let word = &mut level[i / 64];
            let was_empty = *word == 0;
            if member {
                *word |= 1 << (i % 64);
            } else {
                *word &= !(1 << (i % 64));
            }
            if was_empty == (*word == 0) {
                return;
            }
            i /= 64;
        }
    }

    /// The first member at or after `pos`.
    fn next(&self, pos: usize) -> Option<usize> {
        // Climb until a word has a member at or after the position, then descend to it.
        let mut level = 0;
        let mut i = pos;
        let found = loop {
            let words = self.levels.get(level)?;
            let word = words.get(i / 64)? & (u64::MAX << (i % 64));
            if word != 0 {
                break i / 64 * 64 + word.trailing_zeros() as usize;
            }
            i = i / 64 + 1;
            level += 1;
        };
        Some(self.levels[..level].iter().rev().fold(found, |i, below| {
            i * 64 + below[i].trailing_zeros() as usize
        }))
    }

    /// Calls `visit` with each member in the order `from..len`, then `0..from`, until it
    /// breaks. Runs of members cost a bit operation each; a gap, one [`Self::next`].
    pub(super) fn walk(
        &self,
        from: usize,
        len: usize,
        mut visit: impl FnMut(usize) -> ControlFlow<()>,
    ) {
        for (start, end) in [(from, len), (0, from)] {
            let mut pos = start;
            while let Some(first) = self.next(pos).filter(|&p| p < end) {
                let base = first / 64 * 64;
                let mut word = self.levels[0][first / 64] & (u64::MAX << (first % 64));
                if end - base < 64 {
                    word &= (1 << (end - base)) - 1;
                }
                while word != 0 {
                    if visit(base + word.trailing_zeros() as usize).is_break() {
                        return;
                    }
                    word &= word - 1;
                }
                pos = base + 64;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use std::ops::ControlFlow;

    use super::PositionSet;

    /// The members `walk` visits, breaking at the `stop`th.
    fn walked(set: &PositionSet, from: usize, len: usize, stop: usize) -> Vec<usize> {
        let mut seen = Vec::new();
        set.walk(from, len, |pos| {
            seen.push(pos);
            if seen.len() >= stop {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        });
        seen
    }

    proptest! {
        #![proptest_config(ProptestConfig {
            rng_seed: proptest::test_runner::RngSeed::Fixed(13),
            ..ProptestConfig::default()
        })]

        /// Every operation agrees with a plain list of booleans, over sizes that need
        /// one, two and three levels and updates that empty and refill whole words.
        #[test]
        fn agrees_with_a_list_of_booleans(
            len in prop::sample::select(vec![1usize, 63, 64, 65, 640, 4096, 4097, 9000]),
            updates in prop::collection::vec((any::<prop::sample::Index>(), prop::bool::weighted(0.3)), 0..400),
            from in any::<prop::sample::Index>(),
        ) {
            let mut set = PositionSet::new(len);
            let mut plain = vec![false; len];
            for (pos, member) in updates {
                let pos = pos.index(len);
                set.set(pos, member);
                plain[pos] = member;
            }
            let from = from.index(len);
            for (pos, &member) in plain.iter().enumerate() {
                prop_assert_eq!(set.next(pos) == Some(pos), member);
            }
            for pos in [0, from, len - 1] {
                prop_assert_eq!(set.next(pos), (pos..len).find(|&p| plain[p]));
            }
            let expected: Vec<usize> = (0..len).map(|d| (from + d) % len).filter(|&p| plain[p]).collect();
            prop_assert_eq!(walked(&set, from, len, usize::MAX), expected.clone());
            let stop = expected.len() / 2;
            prop_assert_eq!(walked(&set, from, len, stop), expected[..stop.max(1).min(expected.len())].to_vec());
        }
    }

    #[test]
    fn a_member_deep_in_a_large_set_is_found_from_either_side() {
        let len = 300_000;
        let mut set = PositionSet::new(len);
        assert_eq!(walked(&set, 5, len, usize::MAX), Vec::<usize>::new());
        set.set(262_143, true);
        set.set(7, true);
        assert_eq!(set.next(8), Some(262_143));
        assert_eq!(walked(&set, 262_144, len, usize::MAX), [7, 262_143]);
        set.set(7, false);
        assert_eq!(set.next(262_144), None);
        assert_eq!(walked(&set, 262_144, len, usize::MAX), [262_143]);
    }
}

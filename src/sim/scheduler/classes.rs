//! The best node of a pod's sample, without scoring the sample.
//!
//! kube-scheduler scores the first feasible nodes from a rotating start (its sample,
//! [`super::num_feasible_nodes_to_find`]: 5% of a large cluster), and
//! PodTopologySpread normalizes its scores over that sample, so scoring the sample
//! costs O(nodes) per pod. For most templates a node's total score is its allocation
//! score (the resource plugins' weighted sum, which changes only when the node's
//! allocation does) plus a spreading score that depends only on the node's *class*:
//! its domain under each zone-like constraint and its count of matching pods under a
//! hostname one. Such a template keeps, per class, a segment tree over the node tree's
//! positions of its feasible nodes' allocation scores (the best and how many reach it),
//! and a tree of how many nodes are feasible. A pod then finds its sample's end, each
//! class's best in the sample, the classes' normalized spreading scores, and the tied
//! best node the tie-break draw names, in O(classes · log nodes): the node scoring the
//! whole sample picks, for the same draw.

use std::cmp::Ordering;

/// At most this many classes with members at once per template; past it the template
/// scores its samples.
pub(super) const MAX_CLASSES: usize = 64;

/// The best allocation score in a subtree of one class, how many nodes reach it, and
/// how many nodes of the class the subtree has.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Best {
    pub score: i32,
    pub count: u32,
    pub members: u32,
}

impl Best {
    pub const NONE: Best = Best {
        score: i32::MIN,
        count: 0,
        members: 0,
    };

    fn merge(self, other: Best) -> Best {
        let members = self.members + other.members;
        match self.score.cmp(&other.score) {
            Ordering::Greater => Best { members, ..self },
            Ordering::Less => Best { members, ..other },
            Ordering::Equal => Best {
                score: self.score,
                count: self.count + other.count,
                members,
            },
        }
    }

    /// How many nodes score `score`, in a subtree whose best is at most `score`.
    fn reaching(self, score: i32) -> u32 {
        if self.score == score { self.count } else { 0 }
    }
}

/// One class of nodes: its key, and a segment tree over positions (root 1, leaves
/// from `leaves`) of its members' allocation scores.
#[derive(Debug)]
struct Class {
    key: Box<[i64]>,
    tree: Vec<Best>,
}

/// A template's feasible nodes by class, over the node tree's positions `0..len`.
#[derive(Debug)]
pub(super) struct ClassIndex {
    len: usize,
    /// A power of two, at least `len`.
    leaves: usize,
    /// Per position: its class and allocation score while its node is feasible.
    at: Vec<Option<(u16, i32)>>,
    classes: Vec<Class>,
    /// How many positions of each subtree are members (same layout as a class tree).
    members: Vec<u32>,
}

/// [`ClassIndex::set`] met a class past [`MAX_CLASSES`].
#[derive(Debug)]
pub(super) struct TooManyClasses;

impl ClassIndex {
    /// No node feasible, over positions `0..len`.
    pub(super) fn new(len: usize) -> Self {
        let leaves = len.next_power_of_two();
        ClassIndex {
            len,
            leaves,
            at: vec![None; len],
            classes: Vec::new(),
            members: vec![0; 2 * leaves],
        }
    }

    /// Position `pos` is a member of the class `key` with allocation score `score`, or
    /// (`None`) not a member.
    pub(super) fn set(
        &mut self,
        pos: usize,
        entry: Option<(&[i64], i32)>,
    ) -> Result<(), TooManyClasses> {
        let old = self.at[pos];
        let new = match entry {
            None => None,
            // Most changes keep the node in its class.
            Some((key, score)) => match old {
                Some((c, _)) if *self.classes[usize::from(c)].key == *key => Some((c, score)),
                _ => Some((self.class(key)?, score)),
            },
        };
        if old == new {
            return Ok(());
        }
        self.at[pos] = new;
        let leaf = self.leaves + pos;
        if let Some((class, _)) = old
            && new.is_none_or(|(c, _)| c != class)
        {
            self.put(class, leaf, Best::NONE);
        }
        if let Some((class, score)) = new {
            self.put(
                class,
                leaf,
                Best {
                    score,
                    count: 1,
                    members: 1,
                },
            );
        }
        if old.is_some() != new.is_some() {
            let mut i = leaf;
            while i > 0 {
                if new.is_some() {
                    self.members[i] += 1;
                } else {
                    self.members[i] -= 1;
                }
                i /= 2;
            }
        }
        Ok(())
    }

    /// Whether position `pos` is a member.
    pub(super) fn has(&self, pos: usize) -> bool {
        self.at[pos].is_some()
    }

    fn class(&mut self, key: &[i64]) -> Result<u16, TooManyClasses> {
        if let Some(c) = self.classes.iter().position(|c| *c.key == *key) {
            return Ok(c as u16);
        }
        // A class without members is free: its tree holds nothing, and which class
        // is which does not matter to the queries (ties go by position).
        if let Some(c) = self.classes.iter().position(|c| c.tree[1].members == 0) {
            self.classes[c].key = key.into();
            return Ok(c as u16);
        }
        if self.classes.len() == MAX_CLASSES {
            return Err(TooManyClasses);
        }
        self.classes.push(Class {
            key: key.into(),
            tree: vec![Best::NONE; 2 * self.leaves],
        });
        Ok((self.classes.len() - 1) as u16)
    }

    fn put(&mut self, class: u16, leaf: usize, best: Best) {
        let tree = &mut self.classes[usize::from(class)].tree;
        tree[leaf] = best;
        let mut i = leaf / 2;
        while i > 0 {
            let merged = tree[2 * i].merge(tree[2 * i + 1]);
            if tree[i] == merged {
                return;
            }
            tree[i] = merged;
            i /= 2;
        }
    }

    /// How many positions are members of the classes `among` (all with `None`).
    pub(super) fn count(&self, among: Option<&[usize]>) -> usize {
        self.members(1, among)
    }

    /// How many positions of subtree `i` are members of the classes `among`.
    fn members(&self, i: usize, among: Option<&[usize]>) -> usize {
        match among {
            None => self.members[i] as usize,
            Some(classes) => (classes.iter())
                .map(|&c| self.classes[c].tree[i].members as usize)
                .sum(),
        }
    }

    /// The `k`th member of the classes `among` (from 0) in the order `from..len`, then
    /// `0..from`; `k` must be below their [`Self::count`].
    pub(super) fn nth(&self, from: usize, k: usize, among: Option<&[usize]>) -> usize {
        let (before, total) = (self.rank(from, among), self.count(among));
        let after = total - before;
        self.select(if k < after { before + k } else { k - after }, among)
    }

    /// How many members are below `pos`.
    fn rank(&self, pos: usize, among: Option<&[usize]>) -> usize {
        let (mut i, mut below) = (self.leaves + pos, 0);
        while i > 1 {
            if i % 2 == 1 {
                below += self.members(i - 1, among);
            }
            i /= 2;
        }
        below
    }

    /// The member with `k` members below it.
    fn select(&self, mut k: usize, among: Option<&[usize]>) -> usize {
        let mut i = 1;
        while i < self.leaves {
            let left = self.members(2 * i, among);
            if k < left {
                i *= 2;
            } else {
                k -= left;
                i = 2 * i + 1;
            }
        }
        i - self.leaves
    }

    /// How many positions are members of class `class`.
    pub(super) fn members_of(&self, class: usize) -> usize {
        self.classes[class].tree[1].members as usize
    }

    /// Into `cover`: the subtrees that exactly cover the positions `from..=last` in the
    /// order `from..len`, then `0..from` (the whole ring when `last` is `from - 1`).
    pub(super) fn cover(&self, from: usize, last: usize, cover: &mut Vec<usize>) {
        cover.clear();
        let mut ranges = [(from, last + 1), (0, 0)];
        if last < from {
            ranges = [(from, self.len), (0, last + 1)];
        }
        for (a, b) in ranges {
            self.cover_range(1, 0, self.leaves, a, b, cover);
        }
    }

    fn cover_range(
        &self,
        i: usize,
        lo: usize,
        hi: usize,
        a: usize,
        b: usize,
        out: &mut Vec<usize>,
    ) {
        if b <= lo || hi <= a {
            return;
        }
        if a <= lo && hi <= b {
            out.push(i);
            return;
        }
        let mid = (lo + hi) / 2;
        self.cover_range(2 * i, lo, mid, a, b, out);
        self.cover_range(2 * i + 1, mid, hi, a, b, out);
    }

    /// The classes, by index: their keys.
    pub(super) fn keys(&self) -> impl Iterator<Item = &[i64]> + Clone {
        self.classes.iter().map(|c| &*c.key)
    }

    /// Class `class`'s best over the subtrees of a [`Self::cover`].
    pub(super) fn best(&self, class: usize, cover: &[usize]) -> Best {
        let tree = &self.classes[class].tree;
        cover
            .iter()
            .fold(Best::NONE, |best, &i| best.merge(tree[i]))
    }

    /// The `k`th (from 0), in the cover's order, of the nodes of each class `c` of
    /// `tied` whose score is `score` (`(c, score)`, that class's best over the cover).
    pub(super) fn nth_tied(&self, tied: &[(usize, i32)], cover: &[usize], mut k: u32) -> usize {
        let reaching = |i: usize| -> u32 {
            (tied.iter())
                .map(|&(c, score)| self.classes[c].tree[i].reaching(score))
                .sum()
        };
        for &root in cover {
            let here = reaching(root);
            if k >= here {
                k -= here;
                continue;
            }
            let mut i = root;
            while i < self.leaves {
                let left = reaching(2 * i);
                if k < left {
                    i *= 2;
                } else {
                    k -= left;
                    i = 2 * i + 1;
                }
            }
            return i - self.leaves;
        }
        unreachable!("k is below the number of tied nodes in the cover")
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::{Best, ClassIndex};

    /// The members in ring order from `from` through `last`: (position, class, score).
    fn ring(at: &[Option<(usize, i32)>], from: usize, last: usize) -> Vec<(usize, usize, i32)> {
        let len = at.len();
        let span = (last + len - from) % len + 1;
        (0..span)
            .map(|d| (from + d) % len)
            .filter_map(|p| at[p].map(|(c, s)| (p, c, s)))
            .collect()
    }

    proptest! {
        #![proptest_config(ProptestConfig {
            rng_seed: proptest::test_runner::RngSeed::Fixed(13),
            failure_persistence: None,
            ..ProptestConfig::default()
        })]

        /// Every query agrees with a plain list of the members, at sizes that are and
        /// are not powers of two.
        #[test]
        fn queries_match_a_plain_list(
            len in 1usize..80,
            ops in prop::collection::vec((0usize..80, prop::option::of((0i64..4, -3i32..3))), 0..200),
            from in 0usize..80,
            span in 0usize..80,
            k in 0usize..80,
        ) {
            let mut index = ClassIndex::new(len);
            let mut plain: Vec<Option<(usize, i32)>> = vec![None; len];
            for (pos, entry) in ops {
                let pos = pos % len;
                let entry = entry.map(|(key, score)| ([key, key % 2], score));
                index.set(pos, entry.as_ref().map(|(key, s)| (&key[..], *s))).unwrap();
                plain[pos] = entry.map(|(key, s)| {
                    (index.keys().position(|k| *k == key[..]).unwrap(), s)
                });
            }
            let from = from % len;
            let even: Vec<usize> = (0..index.keys().count()).filter(|c| c % 2 == 0).collect();
            for among in [None, Some(&even[..])] {
                let counted = |c: usize| among.is_none_or(|a| a.contains(&c));
                let members: Vec<usize> = (ring(&plain, from, (from + len - 1) % len).iter())
                    .filter(|m| counted(m.1))
                    .map(|m| m.0)
                    .collect();
                prop_assert_eq!(index.count(among), members.len());
                if !members.is_empty() {
                    prop_assert_eq!(index.nth(from, k % members.len(), among), members[k % members.len()]);
                }
            }
            let last = (from + span) % len;
            let window = ring(&plain, from, last);
            let mut cover = Vec::new();
            index.cover(from, last, &mut cover);
            let mut tied = Vec::new();
            for c in 0..index.keys().count() {
                let scores: Vec<i32> = window.iter().filter(|m| m.1 == c).map(|m| m.2).collect();
                let expected = scores.iter().max().map_or(Best::NONE, |&max| Best {
                    score: max,
                    count: scores.iter().filter(|&&s| s == max).count() as u32,
                    members: scores.len() as u32,
                });
                let best = index.best(c, &cover);
                prop_assert_eq!(best, expected);
                if best.count > 0 && c % 2 == 0 {
                    tied.push((c, best.score));
                }
            }
            let ties: Vec<usize> = (window.iter())
                .filter(|m| tied.contains(&(m.1, m.2)))
                .map(|m| m.0)
                .collect();
            if !ties.is_empty() {
                let k = k % ties.len();
                prop_assert_eq!(index.nth_tied(&tied, &cover, k as u32), ties[k]);
            }
        }
    }
}

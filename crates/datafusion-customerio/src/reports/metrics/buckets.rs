//! The bucket lists of a scan: each bucket start a time-zone conversion, computed once a scan.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::api::period::{EASTERN, Period};

/// Where a list of bucket starts is anchored (unix seconds).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) enum Anchor {
    /// The first bucket starts here (version 2).
    From(i64),
    /// The last bucket starts here: the current one (version 1).
    EndingWith(i64),
}

/// Bucket starts, and their index by start (unix seconds; the last bucket of a start wins).
#[derive(Debug)]
pub(super) struct BucketList {
    pub(super) starts: Vec<DateTime<Utc>>,
    pub(super) index: HashMap<i64, usize>,
}

/// The bucket lists of a scan. Every item of a scan has the same buckets, and each start is a
/// time-zone conversion: a list is computed once and shared (a sixth of the time of decoding
/// a campaign's answers went to computing them for each item).
#[derive(Debug, Default)]
pub(super) struct Buckets(std::sync::Mutex<HashMap<(Anchor, usize), Arc<BucketList>>>);

impl Buckets {
    /// Lists kept at most (a scan normally needs one or two).
    const KEEP: usize = 16;

    /// The `n` buckets of `period` anchored at `anchor`.
    pub(super) fn get(&self, period: Period, anchor: Anchor, n: usize) -> Arc<BucketList> {
        let compute = || {
            let starts: Vec<DateTime<Utc>> = match anchor {
                Anchor::From(t) => {
                    let first = DateTime::from_timestamp(t, 0).unwrap_or_default();
                    (0..n as i64)
                        .map(|i| period.add(first, i, EASTERN))
                        .collect()
                }
                Anchor::EndingWith(t) => {
                    let current = DateTime::from_timestamp(t, 0).unwrap_or_default();
                    (0..n as i64)
                        .map(|i| period.add(current, i + 1 - n as i64, EASTERN))
                        .collect()
                }
            };
            let index = starts
                .iter()
                .enumerate()
                .map(|(i, t)| (t.timestamp(), i))
                .collect();
            Arc::new(BucketList { starts, index })
        };
        let Ok(mut lists) = self.0.lock() else {
            return compute();
        };
        if let Some(list) = lists.get(&(anchor, n)) {
            return list.clone();
        }
        if lists.len() >= Self::KEEP {
            lists.clear();
        }
        let list = compute();
        lists.insert((anchor, n), list.clone());
        list
    }

    /// The starts of `n` version-1 buckets ending with the current one at `now`.
    pub(super) fn v1(&self, period: Period, n: usize, now: DateTime<Utc>) -> Arc<BucketList> {
        let current = period.floor(now, EASTERN);
        self.get(period, Anchor::EndingWith(current.timestamp()), n)
    }
}

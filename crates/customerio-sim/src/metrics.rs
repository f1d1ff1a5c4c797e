//! Deterministic delivery metrics. A bucket's numbers are a pure function of
//! `(seed, workspace, campaign|newsletter, id, period, bucket start)`, so version 1 and version 2
//! of an endpoint agree on any bucket they share and repeated calls never change.
//!
//! Within a bucket the counts are consistent: `created >= attempted >= sent >= delivered >=
//! opened >= clicked`, `human_* + machine_*/prefetch_* = total`, unique link clicks never exceed
//! total link clicks, and nothing happens before a campaign starts sending.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};

use super::calendar::Unit;
use super::data::{Link, Sender};
use super::hash::Key;

/// The counts of one bucket, by series key. The model sets the keys it computes; any other key
/// (`drafted`, or one a newer spec adds) counts 0.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Counts(BTreeMap<&'static str, u64>);

impl Counts {
    /// The count of series key `key` (0 when the model does not compute it).
    pub(crate) fn get(&self, key: &str) -> u64 {
        self.0.get(key).copied().unwrap_or(0)
    }

    /// Whether every count is 0.
    #[cfg(test)]
    pub(crate) fn is_zero(&self) -> bool {
        self.0.values().all(|v| *v == 0)
    }
}

impl std::ops::Index<&'static str> for Counts {
    type Output = u64;

    fn index(&self, key: &'static str) -> &u64 {
        self.0.get(key).unwrap_or(&0)
    }
}

impl std::ops::IndexMut<&'static str> for Counts {
    /// The count of `key`, set by the model (0 until it is).
    fn index_mut(&mut self, key: &'static str) -> &mut u64 {
        self.0.entry(key).or_insert(0)
    }
}

const DAY: f64 = 86_400.0;
/// A newsletter's activity is a burst that decays with this time constant (days) after
/// `sent_at`...
const NEWSLETTER_DECAY_DAYS: f64 = 2.0;
/// ...then a steady trickle (late sends to new segment members, late opens and clicks) at this
/// share of the peak rate, so recent windows of old newsletters are not all zeros.
const NEWSLETTER_TAIL: f64 = 0.01;

/// The nominal length of a bucket in days. Using a nominal length (not the zone's real one)
/// keeps a bucket's numbers a function of its period and start only.
fn nominal_days(period: Unit) -> f64 {
    match period {
        Unit::Hour => 1.0 / 24.0,
        Unit::Day => 1.0,
        Unit::Week => 7.0,
        Unit::Month => 30.44,
    }
}

/// Sends expected in `[start, start + len)`: the integral of the sender's activity rate.
fn expected_sends(s: &Sender, start: f64, len_days: f64) -> f64 {
    let Some(from) = s.active_from else {
        return 0.0;
    };
    let end = start + len_days * DAY;
    let from = from as f64;
    let lo = start.max(from);
    let hi = match s.active_until {
        Some(until) => end.min(until as f64),
        None => end,
    };
    if hi <= lo {
        return 0.0;
    }
    let (a, b) = ((lo - from) / DAY, (hi - from) / DAY);
    use super::data::Kind;
    let integral = match s.kind {
        // Steady senders: automations, their actions, API-triggered and transactional sends.
        Kind::Campaign
        | Kind::CampaignAction
        | Kind::Broadcast
        | Kind::BroadcastAction
        | Kind::Transactional => b - a,
        // One-time sends burst, then decay.
        Kind::Newsletter | Kind::Variant => {
            let tau = NEWSLETTER_DECAY_DAYS;
            tau * ((-a / tau).exp() - (-b / tau).exp()) + NEWSLETTER_TAIL * (b - a)
        }
    };
    s.daily_volume * integral
}

/// `n * p`, rounded up or down at random (unbiased), never above `n`.
fn part(n: u64, p: f64, key: Key) -> u64 {
    ((n as f64 * p.clamp(0.0, 1.0) + key.unit()).floor() as u64).min(n)
}

/// A rate in `lo..hi` that is fixed for the sender (its "personality") with a little jitter.
fn rate(sender_key: Key, bucket_key: Key, name: &str, lo: f64, hi: f64) -> f64 {
    let base = lo + (hi - lo) * sender_key.str(name).unit();
    base * (0.85 + 0.3 * bucket_key.str(name).str("jitter").unit())
}

fn sender_key(root: Key, s: &Sender) -> Key {
    root.str("metrics").str(s.kind.as_str()).u64(s.id)
}

fn bucket_key(root: Key, s: &Sender, period: Unit, start: DateTime<Utc>) -> Key {
    sender_key(root, s)
        .str(period.name())
        .i64(start.timestamp())
}

/// The counts of one bucket.
pub(crate) fn bucket_counts(root: Key, s: &Sender, period: Unit, start: DateTime<Utc>) -> Counts {
    let mut c = Counts::default();
    let sk = sender_key(root, s);
    let bk = bucket_key(root, s, period, start);
    let expected = expected_sends(s, start.timestamp() as f64, nominal_days(period));
    // Campaigns have quiet buckets; a newsletter's burst always shows.
    let quiet = s.kind == super::data::Kind::Campaign && bk.str("quiet").chance(0.08);
    if expected <= 0.0 || quiet {
        return c;
    }
    let noisy = expected * (0.6 + 0.8 * bk.str("noise").unit());
    let sent = (noisy + bk.str("round").unit()).floor() as u64;
    if sent == 0 {
        return c;
    }
    let ch = s.channel;
    let email = ch == "email";
    let opens = matches!(ch, "email" | "push" | "in_app" | "inbox");
    let clicks = opens || ch == "twilio";
    let r = |name: &str, lo: f64, hi: f64| rate(sk, bk, name, lo, hi);
    let p = |name: &str| bk.str(name).str("part");

    let failed = part(sent, r("failed", 0.0, 0.03), p("failed"));
    let suppressed = part(sent, r("suppressed", 0.0, 0.01), p("suppressed"));
    let bounced = if email {
        part(sent, r("bounced", 0.005, 0.03), p("bounced"))
    } else {
        0
    };
    let undeliverable = if email || ch == "twilio" {
        part(
            sent - bounced,
            r("undeliverable", 0.0, 0.01),
            p("undeliverable"),
        )
    } else {
        0
    };
    let delivered = sent - bounced - undeliverable;
    let opened = if opens {
        part(delivered, r("opened", 0.15, 0.6), p("opened"))
    } else {
        0
    };
    let human_opened = part(opened, r("human_opened", 0.7, 0.95), p("human_opened"));
    let click_base = if ch == "twilio" { delivered } else { opened };
    let clicked = if clicks {
        part(click_base, r("clicked", 0.05, 0.35), p("clicked"))
    } else {
        0
    };
    let human_clicked = part(clicked, r("human_clicked", 0.8, 0.97), p("human_clicked"));

    c["sent"] = sent;
    c["failed"] = failed;
    c["attempted"] = sent + failed;
    c["suppressed"] = suppressed;
    c["created"] = sent + failed + suppressed;
    c["deferred"] = part(sent, r("deferred", 0.0, 0.02), p("deferred"));
    c["bounced"] = bounced;
    c["undeliverable"] = undeliverable;
    c["delivered"] = delivered;
    c["opened"] = opened;
    c["human_opened"] = human_opened;
    c["prefetch_opened"] = opened - human_opened;
    c["open_untracked"] = if email {
        part(
            delivered,
            r("open_untracked", 0.0, 0.03),
            p("open_untracked"),
        )
    } else {
        0
    };
    c["clicked"] = clicked;
    c["human_clicked"] = human_clicked;
    c["machine_clicked"] = clicked - human_clicked;
    c["link_untracked"] = part(clicked, r("link_untracked", 0.0, 0.05), p("link_untracked"));
    c["converted"] = part(clicked, r("converted", 0.05, 0.3), p("converted"));
    c["spammed"] = if email {
        part(delivered, r("spammed", 0.0, 0.003), p("spammed"))
    } else {
        0
    };
    c["unsubscribed"] = if opens {
        part(delivered, r("unsubscribed", 0.0, 0.008), p("unsubscribed"))
    } else {
        0
    };
    c["topic_unsubscribed"] = if email {
        part(
            delivered,
            r("topic_unsubscribed", 0.0, 0.004),
            p("topic_unsubscribed"),
        )
    } else {
        0
    };
    c["replied"] = if ch == "twilio" {
        part(delivered, r("replied", 0.0, 0.05), p("replied"))
    } else {
        0
    };
    c["untracked"] = part(sent, r("untracked", 0.0, 0.01), p("untracked"));
    if email || ch == "in_app" {
        c["tracking_consent_granted"] = part(
            delivered,
            r("consent_granted", 0.0, 0.02),
            p("consent_granted"),
        );
        c["tracking_consent_denied"] = part(
            delivered,
            r("consent_denied", 0.0, 0.005),
            p("consent_denied"),
        );
    }
    c
}

/// The `series` object for `buckets`: one array per spec series key in `keys`, one value per
/// bucket. When `channel` names a channel other than the sender's, every value is 0.
pub(crate) fn series(
    root: Key,
    s: &Sender,
    period: Unit,
    buckets: &[DateTime<Utc>],
    channel: Option<&str>,
    keys: &[String],
) -> Value {
    let matches = channel.is_none_or(|c| c == s.channel);
    let rows: Vec<Counts> = buckets
        .iter()
        .map(|b| {
            if matches {
                bucket_counts(root, s, period, *b)
            } else {
                Counts::default()
            }
        })
        .collect();
    let mut out = Map::new();
    for key in keys {
        out.insert(
            key.clone(),
            json!(rows.iter().map(|r| r.get(key)).collect::<Vec<_>>()),
        );
    }
    Value::Object(out)
}

/// `(clicked, human_clicked, machine_clicked)` of each link in one bucket. Total clicks are shared
/// out of the sender's `clicked`; unique clicks are a fraction of the totals.
fn link_counts(
    root: Key,
    s: &Sender,
    links: &[Link],
    period: Unit,
    start: DateTime<Utc>,
    unique: bool,
) -> Vec<[u64; 3]> {
    let mut remaining = bucket_counts(root, s, period, start).get("clicked");
    let sk = sender_key(root, s).str("links");
    let bk = bucket_key(root, s, period, start).str("links");
    let weights: Vec<f64> = links.iter().map(|l| 0.2 + sk.u64(l.id).unit()).collect();
    let mut weight_left: f64 = weights.iter().sum::<f64>() * 1.1; // ~10% of clicks hit no tracked link
    links
        .iter()
        .zip(&weights)
        .map(|(l, w)| {
            let k = bk.u64(l.id);
            let total = part(remaining, w / weight_left, k.str("share"));
            remaining -= total;
            weight_left -= w;
            let clicked = if unique {
                part(
                    total,
                    0.6 + 0.35 * k.str("unique").unit(),
                    k.str("unique_part"),
                )
            } else {
                total
            };
            let human = part(
                clicked,
                0.8 + 0.17 * k.str("human").unit(),
                k.str("human_part").str(if unique { "u" } else { "t" }),
            );
            [clicked, human, clicked - human]
        })
        .collect()
}

/// The `links` array of a link-metrics answer.
pub(crate) fn link_series(
    root: Key,
    s: &Sender,
    links: &[Link],
    period: Unit,
    buckets: &[DateTime<Utc>],
    unique: bool,
) -> Value {
    let per_bucket: Vec<Vec<[u64; 3]>> = buckets
        .iter()
        .map(|b| link_counts(root, s, links, period, *b, unique))
        .collect();
    let items: Vec<Value> = links
        .iter()
        .enumerate()
        .map(|(j, l)| {
            let col = |m: usize| per_bucket.iter().map(|row| row[j][m]).collect::<Vec<_>>();
            json!({
                "link": {"id": l.id, "href": l.href},
                "metric": {"series": {"clicked": col(0), "human_clicked": col(1), "machine_clicked": col(2)}},
            })
        })
        .collect();
    json!({ "links": items })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::WorkspaceSpec;
    use crate::calendar::EASTERN;
    use crate::data::{Catalog, Kind};
    use crate::vocabulary::vocabulary;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn senders(c: &Catalog) -> Vec<Sender> {
        c.campaign_ids()
            .filter_map(|id| c.campaign_sender(id))
            .chain((1..=c.newsletter_count()).filter_map(|id| c.newsletter_sender(id)))
            .collect()
    }

    #[test]
    fn counts_are_ordered_and_split_consistently() {
        let c = Catalog::new(42, WorkspaceSpec::default_us());
        let mut nonzero = 0;
        for s in senders(&c) {
            for period in Unit::ALL {
                let start = s.active_from.unwrap_or(s.created);
                let first = period.start_of(DateTime::from_timestamp(start, 0).unwrap(), EASTERN);
                for b in 0..30 {
                    let t = period.shift(first, b, EASTERN);
                    let v = bucket_counts(c.root, &s, period, t);
                    let g = |k: &str| v.get(k);
                    assert!(g("created") >= g("attempted") && g("attempted") >= g("sent"));
                    assert!(g("sent") >= g("delivered") && g("delivered") >= g("opened"));
                    assert_eq!(g("human_clicked") + g("machine_clicked"), g("clicked"));
                    assert_eq!(g("human_opened") + g("prefetch_opened"), g("opened"));
                    if g("sent") > 0 {
                        nonzero += 1;
                    }
                    let links = c.links(s.kind, s.id);
                    let total = link_counts(c.root, &s, &links, period, t, false);
                    let uniq = link_counts(c.root, &s, &links, period, t, true);
                    assert!(total.iter().map(|l| l[0]).sum::<u64>() <= g("clicked"));
                    for (t, u) in total.iter().zip(&uniq) {
                        assert!(u[0] <= t[0]);
                        assert_eq!(t[1] + t[2], t[0]);
                        assert_eq!(u[1] + u[2], u[0]);
                    }
                }
            }
        }
        assert!(
            nonzero > 100,
            "the demo data should not be all zeros ({nonzero})"
        );
    }

    #[test]
    fn the_model_sets_only_spec_series_keys() {
        let c = Catalog::new(42, WorkspaceSpec::default_us());
        let keys = &vocabulary().unwrap().series_keys;
        let mut set = std::collections::BTreeSet::new();
        for s in senders(&c) {
            for b in Unit::Week.v1_starts(12, utc("2026-01-15T00:00:00Z")) {
                set.extend(bucket_counts(c.root, &s, Unit::Week, b).0.into_keys());
            }
        }
        // Every series key but `drafted` is modelled.
        assert_eq!(set.len(), keys.len() - 1, "{set:?}");
        for k in set {
            assert!(keys.iter().any(|key| key == k), "{k} is not a spec key");
        }
    }

    #[test]
    fn nothing_before_the_start_and_drafts_are_empty() {
        let c = Catalog::new(42, WorkspaceSpec::default_us());
        for s in senders(&c) {
            let before = DateTime::from_timestamp(s.created - 40 * 86_400, 0).unwrap();
            let b = Unit::Day.start_of(before, EASTERN);
            assert!(bucket_counts(c.root, &s, Unit::Day, b).is_zero());
            if s.active_from.is_none() {
                let now = utc("2026-01-15T00:00:00Z");
                assert!(bucket_counts(c.root, &s, Unit::Month, now).is_zero());
            }
        }
    }

    #[test]
    fn channel_filter_zeroes_other_channels() {
        let c = Catalog::new(42, WorkspaceSpec::default_us());
        let s = c.campaign_sender(1).unwrap();
        let keys = &vocabulary().unwrap().series_keys;
        let buckets = Unit::Month.v1_starts(12, utc("2025-12-15T00:00:00Z"));
        let all = series(c.root, &s, Unit::Month, &buckets, None, keys);
        let own = series(c.root, &s, Unit::Month, &buckets, Some(s.channel), keys);
        assert_eq!(all, own);
        let other = if s.channel == "email" {
            "push"
        } else {
            "email"
        };
        let none = series(c.root, &s, Unit::Month, &buckets, Some(other), keys);
        assert!(
            none.as_object()
                .unwrap()
                .values()
                .flat_map(|v| v.as_array().unwrap())
                .all(|x| x == 0)
        );
        assert_eq!(none.as_object().unwrap().len(), 26);
        let _ = Kind::Campaign;
    }
}

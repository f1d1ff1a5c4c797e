//! The deterministic catalogue of one workspace: campaigns and their actions, newsletters,
//! segments and tracked links. Every item is derived from `(seed, workspace, kind, id, field)`
//! on demand; nothing is stored.

use serde_json::{Value, json};

use super::WorkspaceSpec;
use super::hash::Key;

/// 2023-01-01T00:00:00Z: the earliest generated creation time.
const EPOCH_START: i64 = 1_672_531_200;
/// 2025-10-01T00:00:00Z: the latest generated campaign creation time.
const EPOCH_END: i64 = 1_759_276_800;
/// 2026-10-01T00:00:00Z: the latest generated newsletter creation time (newsletters only have
/// activity around their send, so some are recent).
const NEWSLETTER_EPOCH_END: i64 = 1_790_812_800;
const DAY: i64 = 86_400;

const CAMPAIGN_NAMES: &[&str] = &[
    "Welcome Series",
    "Cart Abandonment",
    "Onboarding Drip",
    "Win-back",
    "Post-Purchase Follow-up",
    "Trial Ending Reminder",
    "Birthday Offer",
    "Re-engagement",
    "Order Confirmation",
    "Password Reset",
    "Weekly Tips",
    "Feature Announcement",
    "Review Request",
    "Upsell to Premium",
    "Churn Prevention",
    "Browse Abandonment",
    "Renewal Reminder",
    "Referral Program",
    "Event Reminder",
    "Price Drop Alert",
    "Back in Stock",
    "Loyalty Rewards",
    "NPS Survey",
    "Payment Failed",
    "Account Verification",
];

const NEWSLETTER_NAMES: &[&str] = &[
    "Weekly Digest",
    "Product Update",
    "Monthly Newsletter",
    "Black Friday Sale",
    "Holiday Greetings",
    "Spring Collection",
    "Webinar Invite",
    "Company News",
    "Summer Sale",
    "Year in Review",
    "New Feature Launch",
    "Customer Survey",
    "Flash Sale",
    "Security Notice",
    "Community Roundup",
    "Release Notes",
];

/// Segment names every workspace starts with (the product samples use them).
pub(crate) const FIXED_SEGMENTS: &[&str] = &[
    "Email Activity - Sent",
    "Email Activity - Opens",
    "Email Activity - Clicks",
];

const SEGMENT_NAMES: &[&str] = &[
    "VIP Customers",
    "Trial Users",
    "Churn Risk",
    "Newsletter Subscribers",
    "Mobile App Users",
    "High Value",
    "Inactive 90 Days",
    "New Signups",
    "Europe",
    "Premium Plan",
    "Beta Testers",
    "Cart Abandoners",
];

const TAGS: &[&str] = &[
    "Sample",
    "Onboarding",
    "Retention",
    "Promo",
    "Transactional",
];
const EVENTS: &[&str] = &[
    "purchase",
    "signup",
    "cart_abandoned",
    "trial_started",
    "page_viewed",
];
const AUTHORS: &[&str] = &[
    "ops@example.com",
    "marketing@example.com",
    "growth@example.com",
];
const LINK_HOSTS: &[&str] = &[
    "https://shop.example.com",
    "https://www.example.com",
    "https://docs.example.com",
    "https://app.example.com",
];
const LINK_PATHS: &[&str] = &[
    "sale",
    "pricing",
    "account",
    "blog",
    "new",
    "help",
    "cart",
    "unsubscribe",
];

/// Campaign message channels, with the weight of each (out of 20).
const CAMPAIGN_CHANNELS: &[(&str, u64)] = &[
    ("email", 10),
    ("push", 3),
    ("in_app", 2),
    ("twilio", 2),
    ("webhook", 2),
    ("slack", 1),
];
/// Newsletter types (the 2026 enum), with weights.
const NEWSLETTER_CHANNELS: &[(&str, u64)] = &[
    ("email", 12),
    ("push", 3),
    ("in_app", 2),
    ("twilio", 1),
    ("webhook", 1),
    ("inbox", 1),
];

/// What kind of item a metric series belongs to (metric seeds and link ids differ).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Campaign,
    Newsletter,
    Broadcast,
    Transactional,
    CampaignAction,
    BroadcastAction,
    Variant,
}

impl Kind {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Kind::Campaign => "campaign",
            Kind::Newsletter => "newsletter",
            Kind::Broadcast => "broadcast",
            Kind::Transactional => "transactional",
            Kind::CampaignAction => "campaign_action",
            Kind::BroadcastAction => "broadcast_action",
            Kind::Variant => "variant",
        }
    }

    /// The first link id of this kind's items (ids are unique in the workspace).
    fn link_base(self) -> u64 {
        match self {
            Kind::Campaign => 1_000_000,
            Kind::Newsletter => 5_000_000,
            Kind::Broadcast => 20_000_000,
            Kind::Transactional => 30_000_000,
            Kind::CampaignAction => 40_000_000,
            Kind::BroadcastAction => 60_000_000,
            Kind::Variant => 80_000_000,
        }
    }
}

/// What the metric generator needs to know about a campaign or newsletter.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Sender {
    pub(crate) kind: Kind,
    pub(crate) id: u64,
    /// The message channel its metrics belong to (`email`, `push`, ...).
    pub(crate) channel: &'static str,
    pub(crate) created: i64,
    /// Its last change (also the second half of `deduplicate_id`).
    pub(crate) updated: i64,
    /// When it started sending; `None` for drafts (all metrics 0).
    pub(crate) active_from: Option<i64>,
    /// When it stopped sending (stopped campaigns).
    pub(crate) active_until: Option<i64>,
    /// Sends per day while active (campaigns) or at the peak of the send (newsletters).
    pub(crate) daily_volume: f64,
}

/// A tracked link of a campaign or newsletter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Link {
    pub(crate) id: u64,
    pub(crate) href: String,
}

/// One workspace's generated catalogue.
#[derive(Debug, Clone)]
pub(crate) struct Catalog {
    pub(crate) spec: WorkspaceSpec,
    pub(crate) root: Key,
}

fn weighted(key: Key, items: &[(&'static str, u64)]) -> &'static str {
    let total: u64 = items.iter().map(|(_, w)| w).sum();
    let mut roll = key.below(total);
    for (name, w) in items {
        if roll < *w {
            return name;
        }
        roll -= w;
    }
    items[0].0
}

fn numbered_name(names: &[&str], offset: u64, id: u64) -> String {
    let len = names.len() as u64;
    let base = names[((offset + id - 1) % len) as usize];
    let round = (id - 1) / len;
    if round == 0 {
        base.to_string()
    } else {
        format!("{base} {}", round + 1)
    }
}

impl Catalog {
    /// The catalogue of `spec` under `seed`.
    pub(crate) fn new(seed: u64, spec: WorkspaceSpec) -> Self {
        let root = Key::new(seed).str(&spec.name);
        Catalog { spec, root }
    }

    fn tags(&self, key: Key) -> Vec<&'static str> {
        let n = key.str("n").below(3);
        let mut tags: Vec<&str> = (0..n).map(|i| key.u64(i).pick(TAGS)).collect();
        tags.sort_unstable();
        tags.dedup();
        tags
    }

    fn segment_ref(&self, key: Key) -> Option<u64> {
        (self.spec.segments > 0).then(|| 1 + key.below(u64::from(self.spec.segments)))
    }

    // ---- campaigns ------------------------------------------------------------------------

    /// Campaign ids, ascending.
    pub(crate) fn campaign_ids(&self) -> impl Iterator<Item = u64> + use<> {
        1..=u64::from(self.spec.campaigns)
    }

    fn has_campaign(&self, id: u64) -> bool {
        (1..=u64::from(self.spec.campaigns)).contains(&id)
    }

    fn campaign_key(&self, id: u64) -> Key {
        self.root.str("campaign").u64(id)
    }

    fn campaign_state(&self, id: u64) -> &'static str {
        let roll = self.campaign_key(id).str("state").below(20);
        match roll {
            0..=2 => "draft",
            3..=6 => "stopped",
            _ => "running",
        }
    }

    /// The metric view of campaign `id`, if it exists.
    pub(crate) fn campaign_sender(&self, id: u64) -> Option<Sender> {
        if !self.has_campaign(id) {
            return None;
        }
        let k = self.campaign_key(id);
        let created = k.str("created").range(EPOCH_START, EPOCH_END);
        let updated = created + k.str("updated").range(3 * DAY, 120 * DAY);
        let state = self.campaign_state(id);
        let active_from =
            (state != "draft").then(|| created + k.str("started").range(3_600, 3 * DAY));
        let active_until =
            (state == "stopped").then_some(updated.max(active_from.unwrap_or(created)));
        let scale = 1u64 << k.str("scale").below(6);
        Some(Sender {
            kind: Kind::Campaign,
            id,
            channel: weighted(k.str("channel"), CAMPAIGN_CHANNELS),
            created,
            updated,
            active_from,
            active_until,
            daily_volume: 4.0 * scale as f64 * (0.5 + k.str("volume").unit()),
        })
    }

    fn action_count(&self, id: u64) -> u64 {
        let k = self.campaign_key(id).str("actions");
        if id == 1 || k.chance(0.15) {
            // Some campaigns are long enough to need several pages of actions.
            11 + k.str("long").below(15)
        } else {
            1 + k.below(5)
        }
    }

    fn action_type(&self, id: u64, k: u64, channel: &'static str) -> &'static str {
        if k == 1 || self.campaign_key(id).str("action_type").u64(k).chance(0.7) {
            channel
        } else {
            "attribute_update"
        }
    }

    /// `(id, type)` of each action of campaign `id`.
    fn actions_of(&self, id: u64, channel: &'static str) -> Vec<(u64, &'static str)> {
        (1..=self.action_count(id))
            .map(|k| (id * 100 + k, self.action_type(id, k, channel)))
            .collect()
    }

    /// The ids of the message (non-`attribute_update`) actions of campaign `id`; these are also
    /// its message template ids.
    pub(crate) fn campaign_message_actions(&self, id: u64) -> Vec<u64> {
        self.campaign_sender(id)
            .map(|s| {
                self.actions_of(id, s.channel)
                    .into_iter()
                    .filter(|(_, t)| *t != "attribute_update")
                    .map(|(aid, _)| aid)
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The name of campaign `id`.
    pub(crate) fn campaign_name(&self, id: u64) -> String {
        numbered_name(
            CAMPAIGN_NAMES,
            self.root.str("campaign_names").below(1000),
            id,
        )
    }

    /// Campaign `id` in the live `listCampaigns` item shape.
    pub(crate) fn campaign(&self, id: u64) -> Option<Value> {
        let s = self.campaign_sender(id)?;
        let k = self.campaign_key(id);
        let updated = s.updated;
        let state = self.campaign_state(id);
        let trigger = if k.str("trigger").chance(0.35) {
            "event"
        } else {
            "segment"
        };
        let actions = self.actions_of(id, s.channel);
        let mut v = json!({
            "id": id,
            "deduplicate_id": format!("{id}:{updated}"),
            "name": self.campaign_name(id),
            "type": trigger,
            "created": s.created,
            "updated": updated,
            "active": state == "running",
            "state": state,
            "actions": actions.iter().map(|(aid, t)| json!({"id": aid, "type": t})).collect::<Vec<_>>(),
            "first_started": s.active_from.unwrap_or(0),
            "created_by": k.str("author").pick(AUTHORS),
            "tags": self.tags(k.str("tags")),
            "msg_templates": actions.iter().filter(|(_, t)| *t != "attribute_update")
                .map(|(aid, t)| json!({"id": aid, "type": t})).collect::<Vec<_>>(),
            "filter_segment_ids": self.segment_ref(k.str("filter")).filter(|_| k.str("has_filter").chance(0.4))
                .into_iter().collect::<Vec<_>>(),
            "trigger_segment_ids": Vec::<u64>::new(),
            "timezone": k.str("tz").pick(&["", "America/New_York", "Europe/Berlin", "UTC"]),
            "frequency": if trigger == "event" { "continuous" } else { k.str("freq").pick(&["onetime", "continuous"]) },
        });
        if trigger == "event" {
            v["event_name"] = json!(k.str("event").pick(EVENTS));
        } else if let Some(seg) = self.segment_ref(k.str("trigger_segment")) {
            v["trigger_segment_ids"] = json!([seg]);
        }
        Some(v)
    }

    /// The actions of campaign `id` in the live `listCampaignActions` item shape (`id` a string).
    pub(crate) fn campaign_actions(&self, id: u64) -> Option<Vec<Value>> {
        let s = self.campaign_sender(id)?;
        let env = 100_000 + self.root.str("environment").below(900_000);
        let actions = self.actions_of(id, s.channel);
        Some(
            actions
                .into_iter()
                .map(|(aid, kind)| self.action(id, aid, kind, s.created, env))
                .collect(),
        )
    }

    fn action(&self, campaign: u64, aid: u64, kind: &str, created: i64, env: u64) -> Value {
        let k = self.root.str("action").u64(aid);
        let updated = created + k.str("updated").range(0, 30 * DAY);
        let name = match kind {
            "email" => k.pick(&[
                "Welcome email",
                "Reminder email",
                "Follow-up email",
                "Last chance email",
            ]),
            "push" => k.pick(&["Push: come back", "Push: new offer", "Push: reminder"]),
            "in_app" => k.pick(&["In-app banner", "In-app modal"]),
            "twilio" => k.pick(&["SMS reminder", "SMS confirmation"]),
            "slack" => "Notify #growth",
            "webhook" => k.pick(&["Sync to CRM", "Post to warehouse"]),
            _ => k.pick(&[
                "Update order count",
                "Set onboarding flag",
                "Tag as engaged",
            ]),
        };
        let mut v = json!({
            "id": aid.to_string(),
            "campaign_id": campaign,
            "deduplicate_id": format!("{aid}:{updated}"),
            "name": name,
            "layout": "",
            "body": "",
            "created": created,
            "updated": updated,
            "type": kind,
            "language": "",
            "editor": "",
            "recipient": "",
            "recipient_environment_id": env,
        });
        let sending =
            k.str("sending")
                .pick(&["automatic", "automatic", "automatic", "draft", "off"]);
        match kind {
            "email" => {
                v["sending_state"] = json!(sending);
                v["subject"] = json!(format!("{name} from Example"));
                v["from"] = json!("Example <hello@example.com>");
                v["from_id"] = json!(1);
                v["reply_to"] = json!("");
                v["reply_to_id"] = Value::Null;
                v["preheader_text"] = json!("");
                v["fake_bcc"] = json!(false);
                v["bcc"] = json!("");
                v["headers"] = json!([]);
                v["editor"] = json!("html");
                v["body"] = json!("<p>Hello {{customer.first_name}}</p>");
            }
            "webhook" => {
                v["sending_state"] = json!(sending);
                v["url"] = json!("https://hooks.example.com/customerio");
                v["method"] = json!("post");
                v["headers"] = json!([]);
            }
            "attribute_update" => {}
            _ => {
                v["sending_state"] = json!(sending);
                v["body"] = json!("Hello {{customer.first_name}}");
            }
        }
        v
    }

    // ---- newsletters ----------------------------------------------------------------------

    /// Number of newsletters (ids `1..=n`).
    pub(crate) fn newsletter_count(&self) -> u64 {
        u64::from(self.spec.newsletters)
    }

    fn newsletter_key(&self, id: u64) -> Key {
        self.root.str("newsletter").u64(id)
    }

    /// The metric view of newsletter `id`, if it exists.
    pub(crate) fn newsletter_sender(&self, id: u64) -> Option<Sender> {
        if !(1..=self.newsletter_count()).contains(&id) {
            return None;
        }
        let k = self.newsletter_key(id);
        let created = k.str("created").range(EPOCH_START, NEWSLETTER_EPOCH_END);
        let sent_at =
            (!k.str("draft").chance(0.2)).then(|| created + k.str("sent").range(3_600, 14 * DAY));
        let updated = sent_at.unwrap_or(created) + k.str("updated").range(0, 2 * DAY);
        let scale = 1u64 << k.str("scale").below(6);
        Some(Sender {
            kind: Kind::Newsletter,
            id,
            channel: weighted(k.str("channel"), NEWSLETTER_CHANNELS),
            created,
            updated,
            active_from: sent_at,
            active_until: None,
            daily_volume: 40.0 * scale as f64 * (0.5 + k.str("volume").unit()),
        })
    }

    /// The content (message template) ids of newsletter `id`.
    pub(crate) fn newsletter_contents(&self, id: u64) -> Vec<u64> {
        let n = 1 + self.newsletter_key(id).str("contents").below(3);
        (1..=n).map(|c| id * 10 + c).collect()
    }

    /// The name of newsletter `id`.
    pub(crate) fn newsletter_name(&self, id: u64) -> String {
        numbered_name(
            NEWSLETTER_NAMES,
            self.root.str("newsletter_names").below(1000),
            id,
        )
    }

    /// Newsletter `id` in the live `listNewsletters` item shape.
    pub(crate) fn newsletter(&self, id: u64) -> Option<Value> {
        let s = self.newsletter_sender(id)?;
        let k = self.newsletter_key(id);
        let updated = s.updated;
        Some(json!({
            "id": id,
            "deduplicate_id": format!("{id}:{updated}"),
            "name": self.newsletter_name(id),
            "type": s.channel,
            "created": s.created,
            "updated": updated,
            "sent_at": s.active_from,
            "content_ids": self.newsletter_contents(id),
            "recipient_segment_ids": self.segment_ref(k.str("segment")).into_iter().collect::<Vec<_>>(),
            "subscription_topic_id": 1 + k.str("topic").below(4),
            "tags": self.tags(k.str("tags")),
        }))
    }

    // ---- links ----------------------------------------------------------------------------

    /// The tracked links of a campaign or newsletter (ids are unique in the workspace).
    pub(crate) fn links(&self, kind: Kind, id: u64) -> Vec<Link> {
        let base = kind.link_base();
        (0..u64::from(self.spec.links))
            .map(|j| {
                let k = self.root.str("link").str(kind.as_str()).u64(id).u64(j);
                Link {
                    id: base + id * 1_000 + j + 1,
                    href: format!(
                        "{}/{}?utm_campaign={}-{id}",
                        k.str("host").pick(LINK_HOSTS),
                        k.str("path").pick(LINK_PATHS),
                        kind.as_str()
                    ),
                }
            })
            .collect()
    }

    // ---- segments -------------------------------------------------------------------------

    /// The name of segment `id`: the three "Email Activity" names, then generated ones.
    pub(crate) fn segment_name(&self, id: u64) -> String {
        let fixed = FIXED_SEGMENTS.len() as u64;
        if id <= fixed {
            FIXED_SEGMENTS[(id - 1) as usize].to_string()
        } else {
            numbered_name(SEGMENT_NAMES, 0, id - fixed)
        }
    }

    /// Every segment in the `listSegments` item shape.
    pub(crate) fn segments(&self) -> Vec<Value> {
        (1..=u64::from(self.spec.segments))
            .map(|id| {
                let k = self.root.str("segment").u64(id);
                let created = k.str("created").range(EPOCH_START, EPOCH_END);
                let manual = id > FIXED_SEGMENTS.len() as u64 && k.str("manual").chance(0.25);
                let tags = k.str("has_tags").chance(0.5).then(|| self.tags(k.str("tags")));
                let name = self.segment_name(id);
                json!({
                    "id": id,
                    "deduplicate_id": format!("{id}:{created}"),
                    "name": name,
                    "description": if manual { format!("Manually maintained list: {name}") } else { format!("People matching {name}") },
                    "state": "finished",
                    "progress": Value::Null,
                    "type": if manual { "manual" } else { "dynamic" },
                    "tags": tags,
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn us() -> Catalog {
        Catalog::new(42, WorkspaceSpec::default_us())
    }

    #[test]
    fn campaigns_are_deterministic_and_live_shaped() {
        let (a, b) = (us(), us());
        for id in a.campaign_ids() {
            let c = a.campaign(id).unwrap();
            assert_eq!(Some(&c), b.campaign(id).as_ref());
            assert_eq!(c["id"], id);
            let dedup = c["deduplicate_id"].as_str().unwrap();
            assert_eq!(dedup, format!("{id}:{}", c["updated"]));
            assert!(["segment", "event"].contains(&c["type"].as_str().unwrap()));
            assert_eq!(c["type"] == "event", c.get("event_name").is_some());
            assert!(
                c["actions"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .all(|a| a["id"].is_u64())
            );
        }
        assert!(a.campaign(0).is_none());
        assert!(a.campaign(13).is_none());
        let other = Catalog::new(43, WorkspaceSpec::default_us());
        assert_ne!(a.campaign(1), other.campaign(1));
    }

    #[test]
    fn actions_have_string_ids_matching_the_campaign() {
        let c = us();
        let actions = c.campaign_actions(1).unwrap();
        assert!(actions.len() > 10, "campaign 1 needs several pages");
        let listed = c.campaign(1).unwrap()["actions"].clone();
        for (a, l) in actions.iter().zip(listed.as_array().unwrap()) {
            assert_eq!(a["id"].as_str().unwrap(), l["id"].to_string());
            assert_eq!(a["type"], l["type"]);
            assert_eq!(a["campaign_id"], 1);
        }
    }

    #[test]
    fn newsletters_and_segments() {
        let c = us();
        let n = c.newsletter(1).unwrap();
        assert!(n["sent_at"].is_null() || n["sent_at"].is_i64());
        assert!(c.newsletter(9).is_none());
        let segs = c.segments();
        assert_eq!(segs.len(), 8);
        assert_eq!(segs[0]["name"], "Email Activity - Sent");
        assert_eq!(segs[2]["name"], "Email Activity - Clicks");
        let names: std::collections::BTreeSet<_> =
            segs.iter().map(|s| s["name"].to_string()).collect();
        assert_eq!(names.len(), segs.len(), "segment names are unique");
    }

    #[test]
    fn links_have_unique_ids() {
        let c = us();
        let mut ids: Vec<u64> = c
            .campaign_ids()
            .flat_map(|id| c.links(Kind::Campaign, id))
            .chain((1..=8).flat_map(|id| c.links(Kind::Newsletter, id)))
            .map(|l| l.id)
            .collect();
        let n = ids.len();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), n);
        assert_eq!(n, (12 + 8) * 3);
    }
}

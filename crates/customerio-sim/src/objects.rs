//! The objects of one workspace beyond campaigns, newsletters and segments: deliveries
//! (messages), activities, broadcasts and their actions, newsletter contents, transactional
//! messages, collections, reporting webhooks, sender identities, snippets and ESP suppressions.
//! Like the rest of the catalogue, every item is a pure function of `(seed, workspace, kind,
//! index)`; shapes are the vendor's (2026 contracts where they have the operation, else 2022).
//!
//! Deliveries and activities are spread evenly over [`STREAM_START`, `STREAM_END`), one every
//! `span / count` seconds with a jitter inside its slot, so index order is time order. Only those
//! created by the simulator's "now" exist (a later request sees more), which is what incremental
//! loads are tested against.

use serde_json::{Value, json};

use super::customers::People;
use super::data::{Catalog, Kind, Sender};
use super::hash::Key;

/// 2026-01-01T00:00:00Z: the first delivery and activity.
pub(crate) const STREAM_START: i64 = 1_767_225_600;
/// 2027-01-01T00:00:00Z: the end of the generated deliveries and activities.
pub(crate) const STREAM_END: i64 = 1_798_761_600;

const BASE64: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// A delivery-id-like token: 28 base64 characters and `=`, like `dgOq6QWq6QUDAAF22PaOyFVqVxHY3rI5fsg=`.
fn token(key: Key) -> String {
    let mut out = String::with_capacity(36);
    for i in 0..34u64 {
        out.push(BASE64[key.u64(i).below(64) as usize] as char);
    }
    out.push('=');
    out
}

/// Evenly spread times: item `i` of `count` in the stream.
fn slot_time(key: Key, i: u64, count: u64) -> i64 {
    let span = (STREAM_END - STREAM_START) as u64;
    let slot = span / count.max(1);
    STREAM_START + (i * slot) as i64 + key.below(slot.max(1)) as i64
}

/// How many of `count` stream items exist at `now` (a prefix, since times grow with the index).
fn visible(count: u64, now: i64, time: impl Fn(u64) -> i64) -> u64 {
    let (mut lo, mut hi) = (0u64, count);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if time(mid) <= now {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    lo
}

/// The identifiers object of person `p`.
fn identifiers(people: &People, p: u64) -> Value {
    json!({
        "id": people.id(p),
        "email": people.email(p),
        "cio_id": people.cio_id(p),
    })
}

/// The objects of one workspace.
pub(crate) struct Objects<'a> {
    pub(crate) catalog: &'a Catalog,
    pub(crate) people: &'a People,
}

impl Objects<'_> {
    fn key(&self, kind: &str) -> Key {
        self.catalog.root.str("objects").str(kind)
    }

    // ---- broadcasts ---------------------------------------------------------------------------

    /// Broadcast ids `1..=n`: one for every three campaigns, at least one.
    pub(crate) fn broadcast_count(&self) -> u64 {
        (u64::from(self.catalog.spec.campaigns) / 3).max(1)
    }

    /// The action ids of broadcast `id` with their channels (1 to 3 actions; ids from 5001 up).
    pub(crate) fn broadcast_action_ids(&self, id: u64) -> Vec<(u64, &'static str)> {
        let k = self.key("broadcast").u64(id);
        let n = 1 + k.str("actions").below(3);
        (0..n)
            .map(|j| {
                (
                    5000 + id * 10 + j,
                    k.u64(j)
                        .pick(&["email", "email", "push", "twilio", "webhook"]),
                )
            })
            .collect()
    }

    fn broadcast_created(&self, id: u64) -> i64 {
        self.key("broadcast")
            .u64(id)
            .str("created")
            .range(1_704_067_200, STREAM_START)
    }

    /// Broadcast `id` in the `listBroadcasts` item shape.
    pub(crate) fn broadcast(&self, id: u64) -> Option<Value> {
        if id == 0 || id > self.broadcast_count() {
            return None;
        }
        let k = self.key("broadcast").u64(id);
        let created = self.broadcast_created(id);
        let updated = created + k.str("updated").range(0, 90 * 86_400);
        // The 2026 list schema names SMS `sms` here (the action items say `twilio`).
        let actions: Vec<Value> = self
            .broadcast_action_ids(id)
            .into_iter()
            .map(|(aid, t)| json!({"id": aid, "type": if t == "twilio" { "sms" } else { t }}))
            .collect();
        let active = k.str("active").chance(0.7);
        Some(json!({
            "id": id,
            "deduplicate_id": format!("{id}:{updated}"),
            "name": format!("{} broadcast", k.str("name").pick(&["Outage notice", "Price change", "Flash sale", "Event reminder", "Policy update"])),
            "created": created,
            "updated": updated,
            "active": active,
            "state": if active { "running" } else { "draft" },
            "type": "triggered_broadcast",
            "first_started": if active { created + 86_400 } else { 0 },
            "tags": if k.str("tagged").chance(0.5) { json!(["api"]) } else { json!([]) },
            "actions": actions,
            "msg_template_ids": actions,
        }))
    }

    /// The actions of broadcast `id` in the `broadcastActions` item shape.
    pub(crate) fn broadcast_actions(&self, id: u64) -> Option<Vec<Value>> {
        let b = self.broadcast(id)?;
        let created = b["created"].as_i64().unwrap_or(STREAM_START);
        Some(
            self.broadcast_action_ids(id)
                .into_iter()
                .map(|(aid, kind)| {
                    let k = self.key("broadcast_action").u64(aid);
                    let updated = created + k.str("updated").range(0, 30 * 86_400);
                    let mut v = json!({
                        "id": aid,
                        "broadcast_id": id,
                        "deduplicate_id": format!("{aid}:{updated}"),
                        "name": format!("{} {kind}", b["name"].as_str().unwrap_or("Broadcast")),
                        "layout": "",
                        "created": created,
                        "updated": updated,
                        "body": "Hello {{customer.first_name}}",
                        "language": "",
                        "type": kind,
                        "sending_state": k.str("state").pick(&["automatic", "automatic", "draft", "off"]),
                        "recipient": "",
                    });
                    if kind == "email" {
                        v["subject"] = json!(format!("{} (email)", b["name"].as_str().unwrap_or("")));
                        v["from"] = json!("Example <hello@example.com>");
                        v["from_id"] = json!(1);
                        v["reply_to"] = json!("");
                        v["reply_to_id"] = Value::Null;
                        v["preheader_text"] = json!("");
                        v["fake_bcc"] = json!(false);
                        v["bcc"] = json!("");
                        // A JSON-encoded string in the 2026 contract.
                        v["headers"] = json!("[]");
                    } else if kind == "webhook" {
                        v["url"] = json!("https://hooks.example.com/broadcast");
                        v["method"] = json!("post");
                        v["headers"] = json!("[]");
                    }
                    v
                })
                .collect(),
        )
    }

    // ---- metric views -------------------------------------------------------------------------

    /// The metric view of broadcast `id`: sending since its first start while active.
    pub(crate) fn broadcast_sender(&self, id: u64) -> Option<Sender> {
        let b = self.broadcast(id)?;
        let k = self.key("broadcast").u64(id);
        let created = b["created"].as_i64()?;
        let first = b["first_started"].as_i64().filter(|t| *t > 0);
        Some(Sender {
            kind: Kind::Broadcast,
            id,
            channel: self.broadcast_action_ids(id)[0].1,
            created,
            updated: b["updated"].as_i64()?,
            active_from: first,
            active_until: None,
            daily_volume: 20.0 * (0.5 + k.str("volume").unit()),
        })
    }

    /// The metric view of transactional message `id`.
    pub(crate) fn transactional_sender(&self, id: u64) -> Option<Sender> {
        if id == 0 || id > self.transactional_count() {
            return None;
        }
        let k = self.key("transactional").u64(id);
        let created = k.str("created").range(1_704_067_200, STREAM_START);
        Some(Sender {
            kind: Kind::Transactional,
            id,
            channel: "email",
            created,
            updated: created,
            active_from: Some(created + 3_600),
            active_until: None,
            daily_volume: 50.0 * (0.5 + k.str("volume").unit()),
        })
    }

    /// The metric view of action `action` of campaign `campaign`: the campaign's sends, shared
    /// among its message actions.
    pub(crate) fn campaign_action_sender(&self, campaign: u64, action: u64) -> Option<Sender> {
        let c = self.catalog.campaign_sender(campaign)?;
        let actions = self.catalog.campaign_actions(campaign)?;
        let a = actions
            .iter()
            .find(|a| a["id"].as_str() == Some(action.to_string().as_str()))?;
        let share = self.catalog.campaign_message_actions(campaign).len().max(1) as f64;
        let kind = a["type"].as_str().unwrap_or("email");
        Some(Sender {
            kind: Kind::CampaignAction,
            id: action,
            daily_volume: if kind == "attribute_update" {
                0.0
            } else {
                c.daily_volume / share
            },
            ..c
        })
    }

    /// The metric view of action `action` of broadcast `broadcast`.
    pub(crate) fn broadcast_action_sender(&self, broadcast: u64, action: u64) -> Option<Sender> {
        let b = self.broadcast_sender(broadcast)?;
        let actions = self.broadcast_action_ids(broadcast);
        let (_, channel) = actions.iter().find(|(a, _)| *a == action)?;
        Some(Sender {
            kind: Kind::BroadcastAction,
            id: action,
            channel,
            daily_volume: b.daily_volume / actions.len() as f64,
            ..b
        })
    }

    /// The metric view of content `content` of newsletter `newsletter`.
    pub(crate) fn variant_sender(&self, newsletter: u64, content: u64) -> Option<Sender> {
        let n = self.catalog.newsletter_sender(newsletter)?;
        let contents = self.catalog.newsletter_contents(newsletter);
        if !contents.contains(&content) {
            return None;
        }
        Some(Sender {
            kind: Kind::Variant,
            id: content,
            daily_volume: n.daily_volume / contents.len() as f64,
            ..n
        })
    }

    // ---- newsletter contents ------------------------------------------------------------------

    /// The contents (variants) of newsletter `id`, `listNewsletterVariants` item shape.
    pub(crate) fn newsletter_contents(&self, id: u64) -> Option<Vec<Value>> {
        let newsletter = self.catalog.newsletter(id)?;
        let created = newsletter["created"].as_i64().unwrap_or(STREAM_START);
        let name = newsletter["name"]
            .as_str()
            .unwrap_or("Newsletter")
            .to_string();
        Some(
            self.catalog
                .newsletter_contents(id)
                .into_iter()
                .enumerate()
                .map(|(j, cid)| {
                    let updated = created + self.key("content").u64(cid).range(0, 7 * 86_400);
                    let language = ["", "de", "fr", "es"][j % 4];
                    json!({
                        "id": cid,
                        "newsletter_id": id,
                        "deduplicate_id": format!("{cid}:{updated}"),
                        "name": if j == 0 { name.clone() } else { format!("{name} variant {}", j + 1) },
                        "layout": "",
                        "body": "<p>Hello {{customer.first_name}}</p>",
                        "language": language,
                        "type": "email",
                        "from": "Example <news@example.com>",
                        "from_id": 2,
                        "reply_to": "",
                        "reply_to_id": Value::Null,
                        "recipient": "{{customer.email}}",
                        "subject": format!("{name}{}", if j == 0 { String::new() } else { format!(" ({})", j + 1) }),
                        "bcc": "",
                        "fake_bcc": false,
                        "preheader_text": "",
                        "headers": "[]",
                    })
                })
                .collect(),
        )
    }

    // ---- transactional --------------------------------------------------------------------------

    /// Transactional message ids `1..=n`.
    pub(crate) fn transactional_count(&self) -> u64 {
        (u64::from(self.catalog.spec.campaigns) / 4).max(1)
    }

    /// The `listTransactional` items.
    pub(crate) fn transactional(&self) -> Vec<Value> {
        (1..=self.transactional_count())
            .map(|id| {
                let k = self.key("transactional").u64(id);
                let created = k.str("created").range(1_704_067_200, STREAM_START);
                json!({
                    "id": id,
                    "name": k.pick(&["Password reset", "Receipt", "Magic link", "Shipping update", "Invoice"]),
                    "description": "",
                    "send_to_unsubscribed": k.str("unsub").chance(0.8),
                    "link_tracking": k.str("links").chance(0.5),
                    "open_tracking": k.str("opens").chance(0.5),
                    "hide_message_body": k.str("hide").chance(0.2),
                    "queue_drafts": false,
                    "created_at": created,
                    "updated_at": created + k.str("updated").range(0, 60 * 86_400),
                })
            })
            .collect()
    }

    /// The contents of transactional message `id`, `listTransactionalVariants` item shape.
    pub(crate) fn transactional_contents(&self, id: u64) -> Option<Vec<Value>> {
        if id == 0 || id > self.transactional_count() {
            return None;
        }
        let k = self.key("transactional").u64(id);
        let created = k.str("created").range(1_704_067_200, STREAM_START);
        let n = 1 + k.str("languages").below(2);
        Some(
            (0..n)
                .map(|j| {
                    json!({
                        "id": 7000 + id * 10 + j,
                        "name": format!("Template {id}"),
                        "language": if j == 0 { "" } else { "fr" },
                        "type": "email",
                        "subject": format!("Your message {id}"),
                        "from": "Example <hello@example.com>",
                        "from_id": 1,
                        "reply_to": "",
                        "reply_to_id": Value::Null,
                        "recipient": "{{customer.email}}",
                        "body": "<p>{{trigger.body}}</p>",
                        "preheader_text": "",
                        "bcc": "",
                        "fake_bcc": false,
                        "headers": "[]",
                        "created": created,
                        "updated": created + 3_600,
                    })
                })
                .collect(),
        )
    }

    // ---- deliveries -----------------------------------------------------------------------------

    /// How many deliveries the stream has in all: one for every two people.
    pub(crate) fn message_count(&self) -> u64 {
        (self.people.count() / 2).max(1)
    }

    fn message_time(&self, i: u64) -> i64 {
        slot_time(self.key("message").u64(i), i, self.message_count())
    }

    /// Deliveries that exist at `now`: indices `0..n`.
    pub(crate) fn messages_at(&self, now: i64) -> u64 {
        visible(self.message_count(), now, |i| self.message_time(i))
    }

    /// Delivery `i`, in the `listMessages` item shape.
    pub(crate) fn message(&self, i: u64) -> Value {
        let k = self.key("message").u64(i);
        let created = self.message_time(i);
        let p = k.str("person").below(self.people.count().max(1));
        let mut parent = json!({
            "campaign_id": Value::Null, "action_id": Value::Null, "newsletter_id": Value::Null,
            "content_id": Value::Null, "broadcast_id": Value::Null, "parent_action_id": Value::Null,
            "trigger_event_id": Value::Null,
        });
        let roll = k.str("parent").below(20);
        let kind;
        let campaign = 1 + k
            .str("campaign")
            .below(u64::from(self.catalog.spec.campaigns).max(1));
        let actions = self.catalog.campaign_message_actions(campaign);
        if roll < 12 && !actions.is_empty() {
            let aid = actions[k.str("action").below(actions.len() as u64) as usize];
            parent["campaign_id"] = json!(campaign);
            parent["action_id"] = json!(aid);
            kind = self
                .catalog
                .campaign_sender(campaign)
                .map_or("email", |s| s.channel);
            if k.str("event").chance(0.3) {
                parent["trigger_event_id"] = json!(token(k.str("trigger")));
            }
        } else if roll < 17 && self.catalog.newsletter_count() > 0 {
            let n = 1 + k.str("newsletter").below(self.catalog.newsletter_count());
            let contents = self.catalog.newsletter_contents(n);
            parent["newsletter_id"] = json!(n);
            if !contents.is_empty() {
                parent["content_id"] =
                    json!(contents[k.str("content").below(contents.len() as u64) as usize]);
            }
            kind = self
                .catalog
                .newsletter_sender(n)
                .map_or("email", |s| s.channel);
        } else {
            let b = 1 + k.str("broadcast").below(self.broadcast_count());
            let actions = self.broadcast_action_ids(b);
            let (aid, t) = actions[k.str("baction").below(actions.len() as u64) as usize];
            parent["broadcast_id"] = json!(b);
            parent["action_id"] = json!(aid);
            kind = t;
        }
        // Metric channels name SMS `twilio`; a delivery's `type` uses the same names.
        let outcome = k.str("outcome").below(100);
        let sent = created + 1 + k.str("sent").below(30) as i64;
        let mut metrics = serde_json::Map::new();
        let mut failure = Value::Null;
        if outcome < 3 {
            metrics.insert("failed".into(), json!(sent));
            failure = json!("Recipient address rejected");
        } else {
            metrics.insert("sent".into(), json!(sent));
            if outcome < 6 {
                metrics.insert("bounced".into(), json!(sent + 5));
            } else {
                metrics.insert("delivered".into(), json!(sent + 2));
                if outcome < 46 {
                    metrics.insert(
                        "opened".into(),
                        json!(sent + 600 + k.str("o").below(3600) as i64),
                    );
                    if outcome < 16 {
                        metrics.insert(
                            "clicked".into(),
                            json!(sent + 5000 + k.str("c").below(3600) as i64),
                        );
                    }
                }
            }
        }
        let last = metrics
            .values()
            .filter_map(Value::as_i64)
            .max()
            .unwrap_or(created);
        let id = token(k.str("id"));
        let recipient = match kind {
            "email" => self.people.email(p).map_or(Value::Null, Value::from),
            "twilio" | "whatsapp" => json!(format!("+1555{:07}", p)),
            "webhook" => json!("https://hooks.example.com/customerio"),
            _ => json!(self.people.cio_id(p)),
        };
        let mut v = json!({
            "id": id,
            "deduplicate_id": format!("{id}:{last}"),
            "created": created,
            "customer_id": self.people.id(p),
            "customer_identifiers": identifiers(self.people, p),
            "recipient": recipient,
            "subject": if kind == "email" { json!(format!("Message {i}")) } else { Value::Null },
            "type": kind,
            "failure_message": failure,
            "forgotten": k.str("forgotten").chance(0.02),
            "metrics": metrics,
            "msg_template_id": parent["action_id"].as_u64().or(parent["content_id"].as_u64()),
        });
        if let (Value::Object(v), Value::Object(parent)) = (&mut v, parent) {
            v.extend(parent);
            // No address (a person without an email): the key is left out (`recipient` is a
            // string when present).
            if v.get("recipient").is_some_and(Value::is_null) {
                v.remove("recipient");
            }
        }
        v
    }

    /// The person (index) a delivery is for.
    pub(crate) fn message_person(&self, i: u64) -> u64 {
        self.key("message")
            .u64(i)
            .str("person")
            .below(self.people.count().max(1))
    }

    // ---- activities -----------------------------------------------------------------------------

    /// How many activities the stream has in all: one for every two people.
    pub(crate) fn activity_count(&self) -> u64 {
        (self.people.count() / 2).max(1)
    }

    fn activity_time(&self, i: u64) -> i64 {
        slot_time(self.key("activity").u64(i), i, self.activity_count())
    }

    /// Activities that exist at `now`: indices `0..n`.
    pub(crate) fn activities_at(&self, now: i64) -> u64 {
        visible(self.activity_count(), now, |i| self.activity_time(i))
    }

    /// The person (index) of activity `i`.
    pub(crate) fn activity_person(&self, i: u64) -> u64 {
        self.key("activity")
            .u64(i)
            .str("person")
            .below(self.people.count().max(1))
    }

    /// Whether activity `i` is a deleted person's (listed only with `deleted=true`: "return
    /// results for deleted people"; API-NOTES §7).
    pub(crate) fn activity_deleted(&self, i: u64) -> bool {
        let person = self.activity_person(i);
        self.key("person").u64(person).str("deleted").chance(0.03)
    }

    /// Activity `i`, in the `listActivities` item shape.
    pub(crate) fn activity(&self, i: u64) -> Value {
        let k = self.key("activity").u64(i);
        let p = self.activity_person(i);
        let kind = k.str("type").pick(&[
            "event",
            "event",
            "page",
            "attribute_change",
            "sent_email",
            "delivered_email",
            "opened_email",
            "clicked_email",
        ]);
        let (name, data, delivery) = match kind {
            "event" => {
                let name =
                    k.str("name")
                        .pick(&["purchase", "signup", "add_to_cart", "viewed_product"]);
                (
                    json!(name),
                    json!({"amount": k.str("amount").below(200), "currency": "USD"}),
                    false,
                )
            }
            "page" => {
                let url = k.str("url").pick(&[
                    "https://example.com/",
                    "https://example.com/pricing",
                    "https://example.com/docs",
                ]);
                (
                    json!(url),
                    json!({"referrer": "https://search.example.com"}),
                    false,
                )
            }
            "attribute_change" => {
                let attr = k.str("attr").pick(&["plan", "city", "first_name"]);
                (
                    json!(attr),
                    json!({ attr: {"from": "a", "to": "b"} }),
                    false,
                )
            }
            _ => (
                Value::Null,
                json!({"delivery_id": token(k.str("delivery")), "delivered": Value::Null, "opened": Value::Null}),
                true,
            ),
        };
        let mut v = json!({
            "id": format!("{}", 900_000_000_000_000_000u64 + i),
            "type": kind,
            "name": name,
            "timestamp": self.activity_time(i),
            "customer_id": self.people.id(p),
            "customer_identifiers": identifiers(self.people, p),
            "delivery_id": if delivery { data["delivery_id"].clone() } else { Value::Null },
            "delivery_type": if delivery { json!("email") } else { Value::Null },
            "data": data,
        });
        // Keys without a value are left out (`name`, `delivery_id` and `delivery_type` are
        // strings when present).
        if let Value::Object(o) = &mut v {
            o.retain(|k, x| !(x.is_null() && k != "customer_id"));
        }
        v
    }

    // ---- workspace objects ----------------------------------------------------------------------

    /// Collection ids `1..=2`.
    pub(crate) fn collections(&self) -> Vec<Value> {
        (1..=2u64)
            .map(|id| {
                let k = self.key("collection").u64(id);
                let created = k.str("created").range(1_704_067_200, STREAM_START);
                let content = self.collection_content(id).unwrap_or(Value::Null);
                json!({
                    "id": id,
                    "name": if id == 1 { "events" } else { "products" },
                    "rows": content.get("rows").and_then(Value::as_array).map_or(0, Vec::len),
                    "bytes": content.to_string().len(),
                    "schema": ["name", "date"],
                    "created_at": created,
                    "updated_at": created + k.str("updated").range(0, 30 * 86_400),
                })
            })
            .collect()
    }

    /// The data of collection `id` (`getCollectionContents` answers it as the whole body).
    pub(crate) fn collection_content(&self, id: u64) -> Option<Value> {
        match id {
            1 => Some(json!({"rows": [
                {"name": "spring launch", "date": "2026-03-20"},
                {"name": "summer sale", "date": "2026-06-21"},
                {"name": "black friday", "date": "2026-11-27"},
            ]})),
            2 => Some(json!({"rows": [
                {"name": "basic", "date": "2025-01-01"},
                {"name": "premium", "date": "2025-06-01"},
            ]})),
            _ => None,
        }
    }

    /// The `listWebhooks` items.
    pub(crate) fn reporting_webhooks(&self) -> Vec<Value> {
        (1..=2u64)
            .map(|id| {
                json!({
                    "id": id,
                    "name": if id == 1 { "Warehouse" } else { "Alerts" },
                    "endpoint": format!("https://hooks.example.com/cio/{id}"),
                    "disabled": id == 2,
                    "full_resolution": id == 1,
                    "with_content": false,
                    "events": if id == 1 { json!(["email_sent", "email_opened", "email_clicked"]) } else { json!(["email_bounced"]) },
                })
            })
            .collect()
    }

    /// The `listSenders` items.
    pub(crate) fn sender_identities(&self) -> Vec<Value> {
        (1..=5u64)
            .map(|id| {
                let updated = 1_704_067_200 + id as i64 * 86_400;
                let (name, email) = [
                    ("Example", "hello@example.com"),
                    ("Example News", "news@example.com"),
                    ("Support", "support@example.com"),
                    ("Billing", "billing@example.com"),
                    ("SMS", "+15550000000"),
                ][(id - 1) as usize];
                json!({
                    "id": id,
                    "deduplicate_id": format!("{id}:{updated}"),
                    "name": name,
                    "email": email,
                    "address": format!("{name} <{email}>"),
                    "template_type": if id == 5 { "phone" } else { "email" },
                    "auto_generated": id == 1,
                })
            })
            .collect()
    }

    /// The `listSnippets` items.
    pub(crate) fn snippets(&self) -> Vec<Value> {
        [("footer", "<p>Example Inc.</p>"), ("signature", "The Example team"), ("address", "1 Example Way")]
            .iter()
            .enumerate()
            .map(|(j, (name, value))| {
                json!({"name": name, "value": value, "updated_at": 1_735_689_600 + j as i64 * 86_400})
            })
            .collect()
    }

    /// The suppressions of `kind` (one of the `suppression_type` enum); `None` for an empty
    /// category, which the API answers `{"suppressions": null}` (API-NOTES §5).
    pub(crate) fn suppressions(&self, kind: &str) -> Option<Vec<Value>> {
        let n = match kind {
            "bounces" => 3,
            "blocks" => 1,
            "spam_reports" => 2,
            _ => 0,
        };
        (n > 0).then(|| {
            (0..n)
                .map(|j| {
                    let p = self.key("suppression").str(kind).u64(j).below(self.people.count().max(1));
                    json!({
                        "email": self.people.email(p).unwrap_or_else(|| format!("nobody{j}@example.com")),
                        "reason": match kind { "bounces" => "550 mailbox unavailable", "blocks" => "blocked by receiver", _ => "marked as spam" },
                        "status": "suppressed",
                        "created": 1_735_689_600 + j as i64 * 3_600,
                    })
                })
                .collect()
        })
    }
}

impl Objects<'_> {
    /// Object types `1..=2` and their object counts.
    pub(crate) const OBJECT_TYPES: [(&'static str, &'static str, u64); 2] =
        [("Companies", "Company", 12), ("Accounts", "Account", 5)];

    /// The `getObjectTypes` items.
    pub(crate) fn object_types(&self) -> Vec<Value> {
        Self::OBJECT_TYPES
            .iter()
            .enumerate()
            .map(|(j, (name, singular, _))| {
                json!({
                    "id": (j + 1).to_string(),
                    "name": name,
                    "singular_name": singular,
                    "slug": name.to_lowercase(),
                    "singular_slug": singular.to_lowercase(),
                    "icon": if j == 0 { "building" } else { "briefcase" },
                    "enabled": true,
                })
            })
            .collect()
    }

    /// How many objects type `t` has (0 for an unknown type).
    pub(crate) fn object_count(&self, t: u64) -> u64 {
        match t {
            1..=2 => Self::OBJECT_TYPES[(t - 1) as usize].2,
            _ => 0,
        }
    }

    /// The identifiers of object `j` of type `t`.
    pub(crate) fn object_identifiers(&self, t: u64, j: u64) -> Value {
        json!({
            "object_id": format!("{}-{}", if t == 1 { "company" } else { "account" }, j + 1),
            "cio_object_id": format!("ob{:02x}{:04x}", t, j + 1),
        })
    }

    /// The attributes of object `j` of type `t`.
    pub(crate) fn object_attributes(&self, t: u64, j: u64) -> Value {
        let k = self.key("object").u64(t).u64(j);
        json!({
            "name": format!("{} {}", k.pick(&["Acme", "Globex", "Initech", "Umbrella", "Hooli"]), j + 1),
            "plan": k.str("plan").pick(&["free", "team", "enterprise"]),
            "seats": 1 + k.str("seats").below(200),
        })
    }

    /// The objects person `p` is related to: `(type, index)`.
    pub(crate) fn relationships_of(&self, p: u64) -> Vec<(u64, u64)> {
        let k = self.key("relationship").u64(p);
        let mut out = Vec::new();
        for t in 1..=2u64 {
            if k.u64(t).chance(0.5) {
                out.push((t, k.u64(t).str("which").below(self.object_count(t))));
            }
        }
        out
    }

    /// The `getTopics` items.
    pub(crate) fn topics(&self) -> Vec<Value> {
        [("Product Updates", "For people who want updates on product releases.", true), ("Newsletter", "The monthly newsletter.", false), ("Offers", "Discounts and offers.", false)]
            .iter()
            .enumerate()
            .map(|(j, (name, description, default))| {
                json!({"id": j + 1, "identifier": format!("topic_{}", j + 1), "name": name, "description": description, "subscribed_by_default": default})
            })
            .collect()
    }

    /// The `getChannels` items.
    pub(crate) fn channels(&self) -> Vec<Value> {
        [("Email", "email", true), ("SMS", "twilio", false), ("Push", "push", true)]
            .iter()
            .enumerate()
            .map(|(j, (name, kind, default))| {
                json!({"id": j + 1, "name": name, "description": format!("{name} messages"), "type": kind, "subscribed_by_default": default})
            })
            .collect()
    }
}

/// Customer.io's sending IP addresses (the 2022 example's list).
pub(crate) const IP_ADDRESSES: &[&str] = &[
    "35.188.196.183",
    "104.198.177.219",
    "104.154.232.87",
    "130.211.229.195",
    "104.198.221.24",
    "104.197.27.15",
    "35.194.9.154",
    "104.154.144.51",
    "104.197.210.12",
    "35.225.6.73",
];

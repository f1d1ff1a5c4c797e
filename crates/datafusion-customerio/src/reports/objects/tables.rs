//! The object tables, one declaration each. Operations, paths, envelopes, parameters and page
//! sizes are the vendor contracts' (`spec/`; `docs/API-NOTES.md` §2.6 and §5 for the quirks);
//! column names are the API's field names, except the flattened `customer_identifiers`
//! (`customer_cio_id`, `customer_email`).

use super::spec::{
    Column, Endpoint, Kind, Paging, Parents, PerItem, Route, Rows, Source, TableSpec, at, col,
    from, key,
};
use crate::options::ObjectTable;

const WORKSPACE: Column = from("workspace", Kind::Text, Source::Workspace);

/// A table with no routes, no window column and no required filter.
const fn table(table: ObjectTable, rows: Rows, columns: &'static [Column]) -> TableSpec {
    TableSpec {
        table,
        rows,
        routes: &[],
        columns,
        window_column: None,
        required: None,
    }
}

pub(crate) const fn list(
    operation: &'static str,
    path: &'static str,
    envelope: &'static str,
) -> Endpoint {
    Endpoint {
        operation,
        path,
        envelope,
        paging: Paging::None,
        window: None,
        params: &[],
        body: None,
        takes_deleted: false,
    }
}

pub(crate) const fn cursor(limit: Option<u32>) -> Paging {
    Paging::Cursor {
        limit,
        empty_page_ends: false,
    }
}

/// The person's identifiers, flattened from `customer_identifiers`.
const CUSTOMER_CIO_ID: Column = at(
    "customer_cio_id",
    Kind::Text,
    &[&["customer_identifiers", "cio_id"]],
);
const CUSTOMER_EMAIL: Column = at(
    "customer_email",
    Kind::Text,
    &[&["customer_identifiers", "email"]],
);

// ---- messages ---------------------------------------------------------------------------------

/// A delivery, as every message listing returns it.
const MESSAGE_COLUMNS: &[Column] = &[
    WORKSPACE,
    key("id", Kind::Text),
    key("created", Kind::Time),
    col("type", Kind::Text),
    col("customer_id", Kind::Text),
    CUSTOMER_CIO_ID,
    CUSTOMER_EMAIL,
    col("recipient", Kind::Text),
    col("subject", Kind::Text),
    col("campaign_id", Kind::Int),
    col("action_id", Kind::Int),
    col("parent_action_id", Kind::Int),
    col("newsletter_id", Kind::Int),
    col("content_id", Kind::Int),
    col("broadcast_id", Kind::Int),
    // The 2026 examples send `msg_template_id`; the schema names `message_template_id`.
    // A string in `getPersonMessages` (its older item shape).
    at(
        "message_template_id",
        Kind::IntId,
        &[&["msg_template_id"], &["message_template_id"]],
    ),
    col("trigger_event_id", Kind::Text),
    col("failure_message", Kind::Text),
    col("forgotten", Kind::Bool),
    col("metrics", Kind::TimeMap),
    col("deduplicate_id", Kind::Text),
];

/// 1,000 is the maximum `limit` of the message listings.
const MESSAGE_PAGE: Paging = cursor(Some(1000));

const MESSAGES: TableSpec = TableSpec {
    table: ObjectTable::Messages,
    rows: Rows::List(Endpoint {
        paging: MESSAGE_PAGE,
        window: Some(("start_ts", "end_ts")),
        params: &[("action_id", "action_id"), ("type", "type")],
        ..list("listMessages", "/v1/messages", "messages")
    }),
    routes: &[
        Route {
            column: "customer_id",
            endpoint: Endpoint {
                paging: MESSAGE_PAGE,
                window: Some(("start_ts", "end_ts")),
                ..list("getPersonMessages", "/v1/customers/{}/messages", "messages")
            },
        },
        Route {
            column: "campaign_id",
            endpoint: Endpoint {
                paging: MESSAGE_PAGE,
                window: Some(("start_ts", "end_ts")),
                params: &[("type", "type")],
                ..list(
                    "getCampaignMessages",
                    "/v1/campaigns/{}/messages",
                    "messages",
                )
            },
        },
        Route {
            column: "newsletter_id",
            endpoint: Endpoint {
                paging: MESSAGE_PAGE,
                window: Some(("start_ts", "end_ts")),
                ..list(
                    "getNewsletterMsgMeta",
                    "/v1/newsletters/{}/messages",
                    "messages",
                )
            },
        },
        Route {
            column: "broadcast_id",
            endpoint: Endpoint {
                paging: MESSAGE_PAGE,
                window: Some(("start_ts", "end_ts")),
                params: &[("type", "type")],
                ..list(
                    "broadcastMessages",
                    "/v1/broadcasts/{}/messages",
                    "messages",
                )
            },
        },
    ],
    columns: MESSAGE_COLUMNS,
    window_column: Some("created"),
    required: None,
};

// ---- activities -------------------------------------------------------------------------------

/// 100 is the maximum `limit` of the activity listings; an empty page ends them (API-NOTES §5).
const ACTIVITY_PAGE: Paging = Paging::Cursor {
    limit: Some(100),
    empty_page_ends: true,
};

const ACTIVITIES: TableSpec = TableSpec {
    table: ObjectTable::Activities,
    rows: Rows::List(Endpoint {
        paging: ACTIVITY_PAGE,
        // `customer_id` is read from `getPersonActivities` unless `deleted` is set, which only
        // the listing takes.
        params: &[
            ("customer_id", "customer_id"),
            ("type", "type"),
            ("name", "name"),
        ],
        takes_deleted: true,
        ..list("listActivities", "/v1/activities", "activities")
    }),
    routes: &[Route {
        column: "customer_id",
        endpoint: Endpoint {
            paging: ACTIVITY_PAGE,
            params: &[("type", "type"), ("name", "name")],
            ..list(
                "getPersonActivities",
                "/v1/customers/{}/activities",
                "activities",
            )
        },
    }],
    columns: &[
        WORKSPACE,
        key("id", Kind::Text),
        key("timestamp", Kind::Time),
        col("type", Kind::Text),
        col("name", Kind::Text),
        col("customer_id", Kind::Text),
        CUSTOMER_CIO_ID,
        CUSTOMER_EMAIL,
        col("delivery_id", Kind::Text),
        col("delivery_type", Kind::Text),
        col("url", Kind::Text),
        col("data", Kind::Json),
    ],
    window_column: None,
    required: None,
};

// ---- broadcasts, actions, variants, transactional -----------------------------------------------

const BROADCAST_LIST: Endpoint = list("listBroadcasts", "/v1/broadcasts", "broadcasts");

const BROADCASTS: TableSpec = table(
    ObjectTable::Broadcasts,
    Rows::List(BROADCAST_LIST),
    &[
        WORKSPACE,
        key("id", Kind::Int),
        col("name", Kind::Text),
        col("created", Kind::Time),
        col("updated", Kind::Time),
        col("active", Kind::Bool),
        col("state", Kind::Text),
        col("type", Kind::Text),
        col("first_started", Kind::Time),
        col("tags", Kind::Texts),
        col("actions", Kind::Json),
        col("deduplicate_id", Kind::Text),
    ],
);

/// Columns every action and variant listing shares (email fields are null for other types).
macro_rules! message_template_columns {
    ($($first:expr),* $(,)?) => {
        &[
            WORKSPACE,
            $($first,)*
            col("name", Kind::Text),
            col("type", Kind::Text),
            col("created", Kind::Time),
            col("updated", Kind::Time),
            col("sending_state", Kind::Text),
            col("subject", Kind::Text),
            col("from", Kind::Text),
            col("recipient", Kind::Text),
            col("language", Kind::Text),
            col("body", Kind::Text),
            col("deduplicate_id", Kind::Text),
        ]
    };
}

const BROADCAST_ACTIONS: TableSpec = table(
    ObjectTable::BroadcastActions,
    Rows::PerParent {
        parents: Parents::Listing(BROADCAST_LIST),
        column: "broadcast_id",
        each: list("broadcastActions", "/v1/broadcasts/{}/actions", "actions"),
    },
    message_template_columns![
        key("id", Kind::IntId),
        from("broadcast_id", Kind::Int, Source::Parent),
    ],
);

const CAMPAIGN_ACTIONS: TableSpec = table(
    ObjectTable::CampaignActions,
    Rows::PerParent {
        parents: Parents::Listing(list("listCampaigns", "/v1/campaigns", "campaigns")),
        column: "campaign_id",
        each: Endpoint {
            paging: cursor(None),
            ..list("listCampaignActions", "/v1/campaigns/{}/actions", "actions")
        },
    },
    message_template_columns![
        key("id", Kind::IntId),
        from("campaign_id", Kind::Int, Source::Parent),
    ],
);

const NEWSLETTER_VARIANTS: TableSpec = table(
    ObjectTable::NewsletterVariants,
    Rows::PerParent {
        parents: Parents::Listing(Endpoint {
            paging: cursor(Some(1000)),
            ..list("listNewsletters", "/v1/newsletters", "newsletters")
        }),
        column: "newsletter_id",
        each: list(
            "listNewsletterVariants",
            "/v1/newsletters/{}/contents",
            "contents",
        ),
    },
    message_template_columns![
        key("id", Kind::IntId),
        from("newsletter_id", Kind::Int, Source::Parent),
    ],
);

const TRANSACTIONAL_MESSAGES: TableSpec = table(
    ObjectTable::TransactionalMessages,
    Rows::List(list("listTransactional", "/v1/transactional", "messages")),
    &[
        WORKSPACE,
        key("id", Kind::Int),
        col("name", Kind::Text),
        col("description", Kind::Text),
        col("send_to_unsubscribed", Kind::Bool),
        col("link_tracking", Kind::Bool),
        col("open_tracking", Kind::Bool),
        col("hide_message_body", Kind::Bool),
        col("queue_drafts", Kind::Bool),
        col("created_at", Kind::Time),
        col("updated_at", Kind::Time),
    ],
);

// ---- segments and people ------------------------------------------------------------------------

const SEGMENT_MEMBERS: TableSpec = table(
    ObjectTable::SegmentMembers,
    Rows::PerParent {
        parents: Parents::Listing(list("listSegments", "/v1/segments", "segments")),
        column: "segment_id",
        // 30,000 is the contract's maximum `limit`.
        each: Endpoint {
            paging: cursor(Some(30_000)),
            ..list(
                "getSegmentMembership",
                "/v1/segments/{}/membership",
                "identifiers",
            )
        },
    },
    &[
        WORKSPACE,
        from("segment_id", Kind::Int, Source::Parent),
        col("id", Kind::Text),
        col("email", Kind::Text),
        key("cio_id", Kind::Text),
    ],
);

const CUSTOMER_SEGMENTS: TableSpec = TableSpec {
    table: ObjectTable::CustomerSegments,
    rows: Rows::PerParent {
        parents: Parents::Given,
        column: "customer_id",
        each: list("getPersonSegments", "/v1/customers/{}/segments", "segments"),
    },
    routes: &[],
    columns: &[
        WORKSPACE,
        from("customer_id", Kind::Text, Source::Parent),
        key("id", Kind::Int),
        col("name", Kind::Text),
        col("description", Kind::Text),
    ],
    window_column: None,
    required: Some("customer_id"),
};

// ---- workspace objects --------------------------------------------------------------------------

const COLLECTIONS: TableSpec = table(
    ObjectTable::Collections,
    Rows::List(list("getCollections", "/v1/collections", "collections")),
    &[
        WORKSPACE,
        key("id", Kind::Int),
        col("name", Kind::Text),
        col("rows", Kind::Int),
        col("bytes", Kind::Int),
        col("schema", Kind::Texts),
        col("created_at", Kind::Time),
        col("updated_at", Kind::Time),
        from(
            "content",
            Kind::Json,
            Source::PerItem(&PerItem {
                operation: "getCollectionContents",
                path: "/v1/collections/{id}/content",
                id_key: "id",
                pointer: &[],
            }),
        ),
    ],
);

const EXPORTS: TableSpec = table(
    ObjectTable::Exports,
    Rows::List(list("listExports", "/v1/exports", "exports")),
    &[
        WORKSPACE,
        key("id", Kind::Int),
        col("type", Kind::Text),
        col("status", Kind::Text),
        col("failed", Kind::Bool),
        col("total", Kind::Int),
        col("downloads", Kind::Int),
        col("description", Kind::Text),
        col("user_id", Kind::Int),
        col("user_email", Kind::Text),
        col("created_at", Kind::Time),
        col("updated_at", Kind::Time),
        col("deduplicate_id", Kind::Text),
    ],
);

const IP_ADDRESSES: TableSpec = table(
    ObjectTable::IpAddresses,
    Rows::List(list(
        "getCioAllowlist",
        "/v1/info/ip_addresses",
        "ip_addresses",
    )),
    &[WORKSPACE, from("ip_address", Kind::Text, Source::Item)],
);

const REPORTING_WEBHOOKS: TableSpec = table(
    ObjectTable::ReportingWebhooks,
    Rows::List(list(
        "listWebhooks",
        "/v1/reporting_webhooks",
        "reporting_webhooks",
    )),
    &[
        WORKSPACE,
        key("id", Kind::Int),
        col("name", Kind::Text),
        col("endpoint", Kind::Text),
        col("type", Kind::Text),
        col("disabled", Kind::Bool),
        col("full_resolution", Kind::Bool),
        col("with_content", Kind::Bool),
        col("events", Kind::Texts),
    ],
);

const SENDER_IDENTITIES: TableSpec = table(
    ObjectTable::SenderIdentities,
    Rows::List(Endpoint {
        paging: cursor(None),
        ..list("listSenders", "/v1/sender_identities", "sender_identities")
    }),
    &[
        WORKSPACE,
        key("id", Kind::Int),
        col("name", Kind::Text),
        col("email", Kind::Text),
        col("address", Kind::Text),
        col("phone", Kind::Text),
        col("template_type", Kind::Text),
        col("auto_generated", Kind::Bool),
        col("hidden", Kind::Bool),
        col("deduplicate_id", Kind::Text),
    ],
);

const SNIPPETS: TableSpec = table(
    ObjectTable::Snippets,
    Rows::List(list("listSnippets", "/v1/snippets", "snippets")),
    &[
        WORKSPACE,
        key("name", Kind::Text),
        col("value", Kind::Text),
        col("updated_at", Kind::Time),
    ],
);

/// The `suppression_type` enum of `getSuppression`.
pub const SUPPRESSION_TYPES: &[&str] = &["bounces", "blocks", "spam_reports", "invalid_emails"];

const ESP_SUPPRESSIONS: TableSpec = table(
    ObjectTable::EspSuppressions,
    Rows::PerParent {
        parents: Parents::Values(SUPPRESSION_TYPES),
        column: "type",
        // 1,000 is the contract's maximum `limit`; the listing pages by `offset`.
        each: Endpoint {
            paging: Paging::Offset { limit: 1000 },
            ..list(
                "getSuppressionByType",
                "/v1/esp/suppression/{}",
                "suppressions",
            )
        },
    },
    &[
        WORKSPACE,
        from("type", Kind::Text, Source::Parent),
        key("email", Kind::Text),
        col("reason", Kind::Text),
        col("status", Kind::Text),
        col("created", Kind::Time),
    ],
);

const TRANSACTIONAL_VARIANTS: TableSpec = table(
    ObjectTable::TransactionalVariants,
    Rows::PerParent {
        parents: Parents::Listing(list("listTransactional", "/v1/transactional", "messages")),
        column: "transactional_id",
        each: list(
            "listTransactionalVariants",
            "/v1/transactional/{}/contents",
            "contents",
        ),
    },
    message_template_columns![
        key("id", Kind::Int),
        from("transactional_id", Kind::Int, Source::Parent),
    ],
);

const CUSTOMER_RELATIONSHIPS: TableSpec = TableSpec {
    table: ObjectTable::CustomerRelationships,
    rows: Rows::PerParent {
        parents: Parents::Given,
        column: "customer_id",
        each: Endpoint {
            paging: cursor(None),
            ..list(
                "getPersonRelationships",
                "/v1/customers/{}/relationships",
                "cio_relationships",
            )
        },
    },
    routes: &[],
    columns: &[
        WORKSPACE,
        from("customer_id", Kind::Text, Source::Parent),
        col("object_type_id", Kind::IntId),
        at("object_id", Kind::Text, &[&["identifiers", "object_id"]]),
        at(
            "cio_object_id",
            Kind::Text,
            &[&["identifiers", "cio_object_id"]],
        ),
        col("attributes", Kind::Json),
        col("timestamps", Kind::TimeMap),
    ],
    window_column: None,
    required: Some("customer_id"),
};

const WORKSPACES: TableSpec = table(
    ObjectTable::Workspaces,
    Rows::List(list("listWorkspaces", "/v1/workspaces", "workspaces")),
    &[
        WORKSPACE,
        key("id", Kind::IntId),
        col("name", Kind::Text),
        col("messages_sent", Kind::Int),
        col("billable_messages_sent", Kind::Int),
        col("people", Kind::Int),
        col("objects", Kind::Int),
        col("object_types", Kind::Int),
    ],
);

const OBJECT_TYPE_LIST: Endpoint = list("getObjectTypes", "/v1/object_types", "types");

const OBJECT_TYPES: TableSpec = table(
    ObjectTable::ObjectTypes,
    Rows::List(OBJECT_TYPE_LIST),
    &[
        WORKSPACE,
        // "Object type IDs are integers passed as strings".
        key("id", Kind::IntId),
        col("name", Kind::Text),
        col("singular_name", Kind::Text),
        col("slug", Kind::Text),
        col("singular_slug", Kind::Text),
        col("icon", Kind::Text),
        col("enabled", Kind::Bool),
    ],
);

/// Every object of a type: the filter grammar has no "all"; `object_id` exists on every object
/// (an inference: docs/API-NOTES.md §7).
const OBJECTS_BODY: &str = r#"{"object_type_id":"{}","filter":{"and":[{"object_attribute":{"field":"object_id","operator":"exists","type_id":"{}"}}]}}"#;

const OBJECTS: TableSpec = table(
    ObjectTable::Objects,
    Rows::PerParent {
        parents: Parents::Listing(OBJECT_TYPE_LIST),
        column: "object_type_id",
        each: Endpoint {
            paging: cursor(None),
            body: Some(OBJECTS_BODY),
            ..list("getObjectsFilter", "/v1/objects", "identifiers")
        },
    },
    &[
        WORKSPACE,
        from("object_type_id", Kind::Int, Source::Parent),
        key("object_id", Kind::Text),
        col("cio_object_id", Kind::Text),
        from(
            "attributes",
            Kind::Json,
            Source::PerItem(&PerItem {
                operation: "getObjectAttributes",
                path: "/v1/objects/{parent}/{id}/attributes",
                id_key: "object_id",
                pointer: &["object", "attributes"],
            }),
        ),
    ],
);

const SUBSCRIPTION_TOPICS: TableSpec = table(
    ObjectTable::SubscriptionTopics,
    Rows::List(list("getTopics", "/v1/subscription_topics", "topics")),
    &[
        WORKSPACE,
        key("id", Kind::Int),
        col("identifier", Kind::Text),
        col("name", Kind::Text),
        col("description", Kind::Text),
        col("subscribed_by_default", Kind::Bool),
    ],
);

const SUBSCRIPTION_CHANNELS: TableSpec = table(
    ObjectTable::SubscriptionChannels,
    Rows::List(list("getChannels", "/v1/subscription_channels", "channels")),
    &[
        WORKSPACE,
        key("id", Kind::Int),
        col("name", Kind::Text),
        col("description", Kind::Text),
        col("type", Kind::Text),
        col("subscribed_by_default", Kind::Bool),
    ],
);

/// The declaration of `table`.
pub fn spec(table: ObjectTable) -> &'static TableSpec {
    match table {
        ObjectTable::Messages => &MESSAGES,
        ObjectTable::Activities => &ACTIVITIES,
        ObjectTable::Broadcasts => &BROADCASTS,
        ObjectTable::BroadcastActions => &BROADCAST_ACTIONS,
        ObjectTable::CampaignActions => &CAMPAIGN_ACTIONS,
        ObjectTable::NewsletterVariants => &NEWSLETTER_VARIANTS,
        ObjectTable::TransactionalMessages => &TRANSACTIONAL_MESSAGES,
        ObjectTable::SegmentMembers => &SEGMENT_MEMBERS,
        ObjectTable::CustomerSegments => &CUSTOMER_SEGMENTS,
        ObjectTable::Collections => &COLLECTIONS,
        ObjectTable::Exports => &EXPORTS,
        ObjectTable::IpAddresses => &IP_ADDRESSES,
        ObjectTable::ReportingWebhooks => &REPORTING_WEBHOOKS,
        ObjectTable::SenderIdentities => &SENDER_IDENTITIES,
        ObjectTable::Snippets => &SNIPPETS,
        ObjectTable::EspSuppressions => &ESP_SUPPRESSIONS,
        ObjectTable::TransactionalVariants => &TRANSACTIONAL_VARIANTS,
        ObjectTable::CustomerRelationships => &CUSTOMER_RELATIONSHIPS,
        ObjectTable::Workspaces => &WORKSPACES,
        ObjectTable::ObjectTypes => &OBJECT_TYPES,
        ObjectTable::Objects => &OBJECTS,
        ObjectTable::SubscriptionTopics => &SUBSCRIPTION_TOPICS,
        ObjectTable::SubscriptionChannels => &SUBSCRIPTION_CHANNELS,
    }
}

//! Handlers for campaigns, campaign actions, newsletters and segments.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Extension, Path, RawQuery};
use serde_json::{Value, json};

use super::error::{ApiError, ApiResult};
use super::params::{Params, encode_cursor, path_id, start_offset};
use super::state::Workspace;

/// Page size of `listCampaignActions`.
const ACTIONS_PAGE: u64 = 10;
/// `listNewsletters` page size when `limit` is absent.
const NEWSLETTERS_DEFAULT_LIMIT: i64 = 100;
/// Largest `listNewsletters` page; larger limits are clamped.
const NEWSLETTERS_MAX_LIMIT: i64 = 1000;

/// A page of `items` from `offset`, with the cursor of the next page (`""` on the last).
pub(crate) fn paginate<T>(items: Vec<T>, offset: u64, limit: u64) -> (Vec<T>, String) {
    let total = items.len() as u64;
    let end = offset.saturating_add(limit).min(total);
    let page = items
        .into_iter()
        .skip(offset.min(total) as usize)
        .take((end.saturating_sub(offset)) as usize)
        .collect();
    let next = if end < total {
        encode_cursor(end)
    } else {
        String::new()
    };
    (page, next)
}

/// `GET /v1/campaigns` (`listCampaigns`): every campaign, no pagination.
pub(crate) async fn list_campaigns(Extension(ws): Extension<Arc<Workspace>>) -> Json<Value> {
    let items: Vec<Value> = ws
        .catalog
        .campaign_ids()
        .filter_map(|id| ws.catalog.campaign(id))
        .collect();
    Json(json!({ "campaigns": items }))
}

/// `GET /v1/campaigns/{id}` (`getCampaigns`).
pub(crate) async fn get_campaign(
    Extension(ws): Extension<Arc<Workspace>>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let id = path_id("campaign_id", &id)?;
    let campaign = ws
        .catalog
        .campaign(id)
        .ok_or_else(|| ApiError::not_found(format!("campaign {id} not found")))?;
    Ok(Json(json!({ "campaign": campaign })))
}

/// `GET /v1/campaigns/{id}/actions` (`listCampaignActions`): pages of 10 via `start`.
pub(crate) async fn list_campaign_actions(
    Extension(ws): Extension<Arc<Workspace>>,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> ApiResult<Json<Value>> {
    let id = path_id("campaign_id", &id)?;
    let actions = ws
        .catalog
        .campaign_actions(id)
        .ok_or_else(|| ApiError::not_found(format!("campaign {id} not found")))?;
    let offset = start_offset(&Params::parse(query.as_deref()))?;
    let (page, next) = paginate(actions, offset, ACTIONS_PAGE);
    Ok(Json(json!({ "actions": page, "next": next })))
}

/// `GET /v1/newsletters` (`listNewsletters`): `limit` (default 100, clamped to 1000),
/// `sort` (`asc` by id, or `desc`), `start` cursor.
pub(crate) async fn list_newsletters(
    Extension(ws): Extension<Arc<Workspace>>,
    RawQuery(query): RawQuery,
) -> ApiResult<Json<Value>> {
    let params = Params::parse(query.as_deref());
    let limit = params.int("limit")?.unwrap_or(NEWSLETTERS_DEFAULT_LIMIT);
    if limit < 1 {
        return Err(ApiError::bad_request(format!(
            "limit must be at least 1, got {limit}"
        )));
    }
    let limit = limit.min(NEWSLETTERS_MAX_LIMIT) as u64;
    let desc = params.one_of("sort", &["asc", "desc"])?.as_deref() == Some("desc");
    let offset = start_offset(&params)?;
    let mut ids: Vec<u64> = (1..=ws.catalog.newsletter_count()).collect();
    if desc {
        ids.reverse();
    }
    let (page, next) = paginate(ids, offset, limit);
    let items: Vec<Value> = page
        .into_iter()
        .filter_map(|id| ws.catalog.newsletter(id))
        .collect();
    Ok(Json(json!({ "newsletters": items, "next": next })))
}

/// `GET /v1/newsletters/{id}` (`getNewsletters`).
pub(crate) async fn get_newsletter(
    Extension(ws): Extension<Arc<Workspace>>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let id = path_id("newsletter_id", &id)?;
    let newsletter = ws
        .catalog
        .newsletter(id)
        .ok_or_else(|| ApiError::not_found(format!("newsletter {id} not found")))?;
    Ok(Json(json!({ "newsletter": newsletter })))
}

/// `GET /v1/segments` (`listSegments`).
pub(crate) async fn list_segments(Extension(ws): Extension<Arc<Workspace>>) -> Json<Value> {
    Json(json!({ "segments": ws.catalog.segments() }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paginate_covers_everything_once() {
        let items: Vec<u32> = (0..25).collect();
        let (p1, n1) = paginate(items.clone(), 0, 10);
        assert_eq!((p1.len(), n1.is_empty()), (10, false));
        let (p3, n3) = paginate(items.clone(), 20, 10);
        assert_eq!((p3, n3), ((20..25).collect::<Vec<_>>(), String::new()));
        let (past, n) = paginate(items, 100, 10);
        assert!(past.is_empty() && n.is_empty());
    }
}

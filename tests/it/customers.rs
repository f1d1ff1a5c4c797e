//! The customers and segments tables against the simulator.

use customerio_sim::{Region, WorkspaceSpec};
use serde_json::Value;

use crate::common::*;

fn ddl(columns: &str) -> String {
    format!(
        "CREATE EXTERNAL TABLE c {columns} STORED AS CUSTOMERIO LOCATION 'customers' \
         OPTIONS (key 'sim_us', rate_limit '1000', concurrency '8')"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_person_once_with_the_apis_attributes() {
    let ws = WorkspaceSpec {
        customers: 2_500,
        ..workspace("people", "sim_us", Region::Us)
    };
    let env = Env::start(fast_config(vec![ws.clone()])).await;
    env.sql(&ddl("")).await.unwrap();
    let batches = env
        .sql("SELECT count(*), count(DISTINCT cio_id), count(id), count(email) FROM c")
        .await
        .unwrap();
    assert_eq!(i64_column(&batches, 0), vec![Some(2_500)]);
    assert_eq!(i64_column(&batches, 1), vec![Some(2_500)], "a person twice");
    // Three search pages of at most 1000, then 25 attribute batches of 100.
    assert_eq!(env.requests("getPeopleFilter"), 3);
    assert_eq!(env.requests("getPeopleById"), 25);
    // count(id) and count(email) against the identifiers the search endpoint gives for everyone.
    let (mut ids, mut emails, mut people, mut start) = (0, 0, 0, String::new());
    loop {
        let page = post(
            &env,
            &ws,
            &format!("/v1/customers?limit=1000&start={start}"),
            serde_json::json!({"filter": {"attribute": {"field": "cio_id", "operator": "exists"}}}),
        )
        .await;
        for p in page["identifiers"].as_array().unwrap() {
            people += 1;
            ids += i64::from(p["id"].is_string());
            emails += i64::from(p["email"].is_string());
        }
        match page["next"].as_str() {
            Some(n) if !n.is_empty() => start = n.to_string(),
            _ => break,
        }
    }
    assert_eq!(people, 2_500);
    assert!(
        0 < ids && ids < people && 0 < emails && emails < people,
        "the data set has no person without an id or an email: the counts prove nothing \
         ({ids} ids, {emails} emails of {people})"
    );
    assert_eq!(i64_column(&batches, 2), vec![Some(ids)], "count(id)");
    assert_eq!(i64_column(&batches, 3), vec![Some(emails)], "count(email)");

    // One person, field by field, against GET /v1/customers/{id}/attributes.
    let one = env
        .sql(
            "SELECT cio_id, id, email, attributes['plan'], attributes['created_at'], unsubscribed, \
              cardinality(devices) FROM c WHERE id IS NOT NULL ORDER BY cio_id LIMIT 1",
        )
        .await
        .unwrap();
    let text = pretty(&one);
    let id = text
        .lines()
        .nth(3)
        .unwrap()
        .split('|')
        .nth(2)
        .unwrap()
        .trim()
        .to_string();
    let api = env
        .api(&ws, &format!("/v1/customers/{id}/attributes"))
        .await;
    let attrs = &api["customer"]["attributes"];
    for field in ["cio_id", "email", "plan", "created_at"] {
        let v = attrs[field].as_str().unwrap();
        assert!(text.contains(v), "{field} {v} missing from\n{text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn id_and_email_pushdown_skip_the_search() {
    let ws = WorkspaceSpec {
        customers: 5_000,
        ..workspace("people_push", "sim_us", Region::Us)
    };
    let env = Env::start(fast_config(vec![ws.clone()])).await;
    env.sql(&ddl("")).await.unwrap();
    // Pick three real people from the API.
    let page = post(
        &env,
        &ws,
        "/v1/customers?limit=50",
        serde_json::json!({"filter": {"attribute": {"field": "id", "operator": "exists"}}}),
    )
    .await;
    let people: Vec<&Value> = page["identifiers"]
        .as_array()
        .unwrap()
        .iter()
        .take(3)
        .collect();
    let ids: Vec<&str> = people.iter().map(|p| p["id"].as_str().unwrap()).collect();
    env.sim.reset_stats();

    let sql = format!(
        "SELECT id, email FROM c WHERE id IN ('{}', '{}', 'nobody')",
        ids[0], ids[1]
    );
    let batches = env.sql(&sql).await.unwrap();
    assert_eq!(row_count(&batches), 2, "{}", pretty(&batches));
    assert_eq!(env.requests("getPeopleFilter"), 0);
    assert_eq!(env.requests("getPeopleById"), 1);

    env.sim.reset_stats();
    let email = people[2]["email"].as_str().unwrap();
    let batches = env
        .sql(&format!("SELECT id FROM c WHERE email = '{email}'"))
        .await
        .unwrap();
    assert!(pretty(&batches).contains(ids[2]), "{}", pretty(&batches));
    assert_eq!(row_count(&batches), 1);
    assert_eq!(
        (
            env.requests("getPeopleFilter"),
            env.requests("getPeopleById")
        ),
        (1, 1)
    );

    let plan = pretty(&env.sql(&format!("EXPLAIN {sql}")).await.unwrap());
    assert!(
        plan.contains("filter=[id IN (") && !plan.contains("FilterExec"),
        "{plan}"
    );

    // LIMIT: one small search page and one attributes batch.
    env.sim.reset_stats();
    let batches = env.sql("SELECT cio_id FROM c LIMIT 10").await.unwrap();
    assert_eq!(row_count(&batches), 10);
    assert_eq!(
        (
            env.requests("getPeopleFilter"),
            env.requests("getPeopleById")
        ),
        (1, 1)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn declared_columns_are_cast_and_failures_counted() {
    let ws = WorkspaceSpec {
        customers: 300,
        ..workspace("people_cols", "sim_us", Region::Us)
    };
    let env = Env::start(fast_config(vec![ws.clone()])).await;
    env.sql(&ddl(
        "(id VARCHAR, plan VARCHAR, created_at TIMESTAMP, lifetime_value DOUBLE, first_name INT, nothing_here VARCHAR)",
    ))
    .await
    .unwrap();
    let batches = env
        .sql("SELECT count(*), count(plan), count(created_at), count(first_name), count(nothing_here), \
              min(created_at) > TIMESTAMP '2000-01-01', sum(lifetime_value) > 0 FROM c")
        .await
        .unwrap();
    let text = pretty(&batches);
    assert_eq!(i64_column(&batches, 0), vec![Some(300)], "{text}");
    assert_eq!(i64_column(&batches, 1), vec![Some(300)], "{text}");
    assert_eq!(
        i64_column(&batches, 2),
        vec![Some(300)],
        "unix-seconds text must cast: {text}"
    );
    assert_eq!(
        i64_column(&batches, 3),
        vec![Some(0)],
        "names are not integers: {text}"
    );
    assert_eq!(i64_column(&batches, 4), vec![Some(0)]);
    assert!(text.matches("true").count() == 2, "{text}");
    let analyzed = pretty(
        &env.sql("EXPLAIN ANALYZE SELECT first_name FROM c")
            .await
            .unwrap(),
    );
    assert!(analyzed.contains("cast_failures=300"), "{analyzed}");

    let err = env
        .sql("CREATE EXTERNAL TABLE bad (devices INT) STORED AS CUSTOMERIO LOCATION 'customers' OPTIONS (key 'sim_us')")
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("devices") && err.contains("cannot be cast"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn segments_equal_the_api() {
    let ws = workspace("segments", "sim_us", Region::Us);
    let env = Env::start(fast_config(vec![ws.clone()])).await;
    env.sql(
        "CREATE EXTERNAL TABLE s STORED AS CUSTOMERIO LOCATION 'segments' OPTIONS (key 'sim_us')",
    )
    .await
    .unwrap();
    let batches = env
        .sql("SELECT id, name, type FROM s ORDER BY id")
        .await
        .unwrap();
    let api = env.api(&ws, "/v1/segments").await;
    let segments = api["segments"].as_array().unwrap();
    assert_eq!(row_count(&batches), segments.len());
    let ids = i64_column(&batches, 0);
    let text = pretty(&batches);
    for s in segments {
        assert!(ids.contains(&s["id"].as_i64()), "{s}");
        assert!(text.contains(s["name"].as_str().unwrap()), "{s}");
    }
    assert!(text.contains("Email Activity - Sent"), "{text}");
}

-- The demo: campaign and newsletter metrics from two workspaces (one US, one EU key),
-- combined with plain SQL. `cio-sql --demo` runs it against the embedded simulator, whose
-- credentials are named sim_us and sim_eu.

CREATE EXTERNAL TABLE us_campaigns STORED AS CUSTOMERIO LOCATION 'campaigns'
  OPTIONS (key 'sim_us', period 'weeks', steps '4');
CREATE EXTERNAL TABLE eu_campaigns STORED AS CUSTOMERIO LOCATION 'campaigns'
  OPTIONS (key 'sim_eu', period 'weeks', steps '4');

-- Both workspaces, read at the same time, each within its own rate limit.
SELECT workspace,
       campaign_name,
       SUM(sent)      AS sent,
       SUM(delivered) AS delivered,
       SUM(opened)    AS opened,
       ROUND(100.0 * SUM(opened) / NULLIF(SUM(delivered), 0), 1) AS open_rate_pct
FROM (SELECT * FROM us_campaigns UNION ALL SELECT * FROM eu_campaigns)
GROUP BY workspace, campaign_name
ORDER BY sent DESC
LIMIT 10;

-- Week by week for one campaign: the id filter is pushed down (3 requests, whatever the size).
SELECT period_start, sent, delivered, opened, clicked
FROM us_campaigns
WHERE campaign_id = 7
ORDER BY period_start;

-- Link clicks of the last week, one row per link (links are fetched only when selected).
CREATE EXTERNAL TABLE us_newsletters STORED AS CUSTOMERIO LOCATION 'customerio:newsletters'
  OPTIONS (key 'sim_us', period 'days', steps '7', unique_links 'true');

SELECT newsletter_name, link['href'] AS href, SUM(link['clicked']) AS clicks
FROM (SELECT newsletter_name, unnest(links) AS link FROM us_newsletters)
GROUP BY newsletter_name, link['href']
ORDER BY clicks DESC, newsletter_name
LIMIT 10;

-- People and their attributes: a search, then attributes in batches of 100.
CREATE EXTERNAL TABLE us_people STORED AS CUSTOMERIO LOCATION 'customers' OPTIONS (key 'sim_us');

SELECT attributes['country'] AS country, attributes['plan'] AS plan, count(*) AS people
FROM us_people
GROUP BY 1, 2
ORDER BY people DESC
LIMIT 5;

-- People in two segments, through asynchronous exports (created, polled, downloaded, parsed).
CREATE EXTERNAL TABLE us_segment_people STORED AS CUSTOMERIO LOCATION 'customers_export'
  OPTIONS (key 'sim_us', segments '["Email Activity - Opens", "Email Activity - Clicks"]', attributes 'plan');

SELECT segment_name, plan, count(*) AS people
FROM us_segment_people
GROUP BY segment_name, plan
ORDER BY segment_name, people DESC;

-- Campaign metrics next to the segments of each workspace: a join of the campaigns and the
-- segments reports of two workspaces.
--   cio-sql --demo -f sql/campaigns_by_segment.sql
-- The campaigns report has no segment ids, so the two meet on the workspace column: per
-- workspace and campaign trigger type, the sends, and the workspace's segments by type.

CREATE EXTERNAL TABLE campaigns STORED AS CUSTOMERIO LOCATION 'campaigns'
  OPTIONS (key 'sim_us', period 'weeks', steps '4');
CREATE EXTERNAL TABLE eu_campaigns STORED AS CUSTOMERIO LOCATION 'campaigns'
  OPTIONS (key 'sim_eu', period 'weeks', steps '4');
CREATE EXTERNAL TABLE segments STORED AS CUSTOMERIO LOCATION 'segments'
  OPTIONS (key 'sim_us');
CREATE EXTERNAL TABLE eu_segments STORED AS CUSTOMERIO LOCATION 'segments'
  OPTIONS (key 'sim_eu');

WITH metrics AS (
  SELECT workspace, campaign_type,
         COUNT(DISTINCT campaign_id) AS campaigns,
         SUM(sent)   AS sent,
         SUM(opened) AS opened
  FROM (SELECT * FROM campaigns UNION ALL SELECT * FROM eu_campaigns)
  GROUP BY workspace, campaign_type
),
segs AS (
  SELECT workspace,
         COUNT(*)                                  AS segments,
         COUNT(*) FILTER (WHERE type = 'dynamic')  AS dynamic_segments,
         COUNT(*) FILTER (WHERE type = 'manual')   AS manual_segments,
         string_agg(name, ', ' ORDER BY id)        AS segment_names
  FROM (SELECT * FROM segments UNION ALL SELECT * FROM eu_segments)
  GROUP BY workspace
)
SELECT m.workspace, m.campaign_type, m.campaigns, m.sent, m.opened,
       s.segments, s.dynamic_segments, s.manual_segments,
       ROUND(1.0 * m.sent / NULLIF(s.segments, 0), 1) AS sent_per_segment,
       s.segment_names
FROM metrics m
JOIN segs s ON s.workspace = m.workspace
ORDER BY m.workspace, m.campaign_type;

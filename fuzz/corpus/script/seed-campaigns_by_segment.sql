-- Campaign metrics by segment: campaigns joined with the segments that trigger them, in two
-- workspaces.
--   cio-sql --demo -f sql/campaigns_by_segment.sql

CREATE EXTERNAL TABLE us_campaigns STORED AS CUSTOMERIO LOCATION 'campaigns'
  OPTIONS (key 'sim_us', period 'weeks', steps '4');
CREATE EXTERNAL TABLE eu_campaigns STORED AS CUSTOMERIO LOCATION 'campaigns'
  OPTIONS (key 'sim_eu', period 'weeks', steps '4');
CREATE EXTERNAL TABLE us_segments STORED AS CUSTOMERIO LOCATION 'segments'
  OPTIONS (key 'sim_us');
CREATE EXTERNAL TABLE eu_segments STORED AS CUSTOMERIO LOCATION 'segments'
  OPTIONS (key 'sim_eu');

-- Sends and opens of the last five weeks per trigger segment (segment ids are per workspace, so
-- the join is on both).
WITH campaign_segments AS (
  SELECT workspace, campaign_id, campaign_name, sent, opened,
         unnest(trigger_segment_ids) AS segment_id
  FROM (SELECT * FROM us_campaigns UNION ALL SELECT * FROM eu_campaigns)
),
segments AS (
  SELECT * FROM us_segments UNION ALL SELECT * FROM eu_segments
)
SELECT c.workspace,
       s.name                         AS segment,
       s.type                         AS segment_type,
       COUNT(DISTINCT c.campaign_id)  AS campaigns,
       SUM(c.sent)                    AS sent,
       SUM(c.opened)                  AS opened
FROM campaign_segments c
JOIN segments s ON s.workspace = c.workspace AND s.id = c.segment_id
GROUP BY c.workspace, s.name, s.type
ORDER BY c.workspace, sent DESC;

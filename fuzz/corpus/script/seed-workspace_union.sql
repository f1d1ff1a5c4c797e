-- Two workspaces in one query, with no DDL: each workspace is a schema holding every report
-- with default options (period days, steps 45).
--   cio-sql --demo -f sql/workspace_union.sql          (schemas sim_us and sim_eu)
-- With your own keys, name the schemas after the credentials file's entries or with
-- --workspace acme=acme_key --workspace beta=beta_key, and rename them below.
-- The workspace column keeps the rows of the two apart.

SELECT workspace,
       COUNT(DISTINCT campaign_id) AS campaigns,
       SUM(sent)                   AS sent,
       SUM(delivered)              AS delivered,
       SUM(opened)                 AS opened,
       ROUND(100.0 * SUM(opened) / NULLIF(SUM(delivered), 0), 1) AS open_rate_pct
FROM (SELECT * FROM sim_us.campaigns UNION ALL SELECT * FROM sim_eu.campaigns)
GROUP BY workspace
ORDER BY workspace;

-- Newsletters of both workspaces, the best ten by opens.
SELECT workspace, newsletter_name, SUM(opened) AS opened
FROM (SELECT * FROM sim_us.newsletters UNION ALL SELECT * FROM sim_eu.newsletters)
GROUP BY workspace, newsletter_name
ORDER BY opened DESC, workspace, newsletter_name
LIMIT 10;

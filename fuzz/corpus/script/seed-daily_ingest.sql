-- Daily ingestion: yesterday's campaign and newsletter metrics, one folder per run date.
--   cio-sql --demo schedule --file sql/daily_ingest.sql --once          (one run, now)
--   cio-sql schedule --file sql/daily_ingest.sql                        (06:00 Los Angeles, daily)
--   cio-sql schedule --file sql/daily_ingest.sql --at 07:30 --tz Europe/Berlin
-- ${run_date} is the run's date (YYYY-MM-DD, in --tz), ${run_ts} its time (YYYYMMDDTHHMMSSZ).
-- A date's outputs count once cio-lake/_cio_sql/daily_ingest/<date>/_MANIFEST.json exists;
-- rerunning a committed date writes nothing. For S3, write s3://bucket/... (AWS_* variables).

download campaigns from {
  type: "customerio:campaigns";
  key: "customerio_key";
  period: "days";
  steps: 1;
} using {*};

CREATE EXTERNAL TABLE newsletters STORED AS CUSTOMERIO LOCATION 'newsletters'
  OPTIONS (key 'customerio_key', period 'days', steps '1');

-- steps 1 gives yesterday's bucket and today's partial one: keep the complete one.
COPY (
  SELECT * FROM campaigns WHERE period_start < now() - INTERVAL '1 day'
) TO 'cio-lake/campaigns/date=${run_date}/campaigns.parquet' STORED AS PARQUET;

COPY (
  SELECT * FROM newsletters WHERE period_start < now() - INTERVAL '1 day'
) TO 'cio-lake/newsletters/date=${run_date}/' STORED AS PARQUET;

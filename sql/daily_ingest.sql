-- Daily ingestion: yesterday's campaign and newsletter metrics, and the deliveries created since
-- the previous committed run, one folder per run date.
--   cio-sql --demo schedule --file sql/daily_ingest.sql --once          (one run, now)
--   cio-sql schedule --file sql/daily_ingest.sql                        (06:00 Los Angeles, daily)
--   cio-sql schedule --file sql/daily_ingest.sql --at 07:30 --tz Europe/Berlin
-- ${run_date} is the run's date (YYYY-MM-DD, in --tz), ${run_ts} its time (YYYYMMDDTHHMMSSZ).
-- ${last_run_ts} and ${this_run_ts} (RFC 3339) are the run's window: from where the previous
-- committed run's window ended to this run's time less --lookback (default 1h). Reading
-- `created >= last AND created < this` writes each delivery once across runs, and a rerun of a
-- date reads the same window. The first run's window starts at --since (else it is empty).
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

-- Incremental: only what is new since the previous committed run (the window pushes down as
-- start_ts/end_ts, so the API lists just those deliveries).
CREATE EXTERNAL TABLE messages STORED AS CUSTOMERIO LOCATION 'messages'
  OPTIONS (key 'customerio_key');
COPY (
  SELECT * FROM messages
  WHERE created >= TIMESTAMP '${last_run_ts}' AND created < TIMESTAMP '${this_run_ts}'
) TO 'cio-lake/messages/date=${run_date}/' STORED AS PARQUET;

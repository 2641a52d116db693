-- Events keyed by (project_id, event_id), the whole record kept as JSONB; groups by grouping hash.
-- Times are epoch milliseconds, as in the processed_event schema.

CREATE TABLE events (
    project_id     BIGINT NOT NULL,
    event_id       TEXT   NOT NULL,
    grouping_hash  TEXT   NOT NULL,
    timestamp_ms   BIGINT NOT NULL,
    received_at_ms BIGINT NOT NULL,
    stored_at_ms   BIGINT NOT NULL,
    level          TEXT   NOT NULL,
    platform       TEXT   NOT NULL,
    release        TEXT,
    environment    TEXT,
    title          TEXT   NOT NULL,
    culprit        TEXT,
    data           JSONB  NOT NULL,
    PRIMARY KEY (project_id, event_id)
);

CREATE INDEX events_by_time ON events (timestamp_ms DESC);
CREATE INDEX events_by_project_time ON events (project_id, timestamp_ms DESC);
CREATE INDEX events_by_group_time ON events (grouping_hash, timestamp_ms DESC);

CREATE TABLE groups (
    project_id    BIGINT NOT NULL,
    grouping_hash TEXT   NOT NULL,
    title         TEXT   NOT NULL,
    culprit       TEXT,
    level         TEXT   NOT NULL,
    first_seen_ms BIGINT NOT NULL,
    last_seen_ms  BIGINT NOT NULL,
    times_seen    BIGINT NOT NULL,
    PRIMARY KEY (project_id, grouping_hash)
);

CREATE INDEX groups_by_last_seen ON groups (last_seen_ms DESC);
CREATE INDEX groups_by_project_last_seen ON groups (project_id, last_seen_ms DESC);

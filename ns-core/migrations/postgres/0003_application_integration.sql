-- Per-application integrations (ChirpStack's `application_integration`): one
-- row per application and kind (`http`, ...), its settings as a JSON object.
-- Removed with the application.

create table application_integration (
    application_id uuid not null references application on delete cascade,
    kind text not null,
    created_at timestamptz not null,
    updated_at timestamptz not null,
    configuration jsonb not null default '{}',
    primary key (application_id, kind)
);

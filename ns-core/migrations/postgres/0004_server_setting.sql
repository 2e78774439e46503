-- Settings the server makes for itself and every instance sharing the
-- database must agree on (the API's token secret when none is configured).
create table server_setting (
    key text primary key,
    value text not null,
    created_at timestamptz not null
);

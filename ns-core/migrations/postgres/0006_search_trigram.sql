-- Searches by name, DevEUI or gateway id (`lower(name) LIKE '%…%'`,
-- `encode(id, 'hex') LIKE '%…%'`, as `storage/list.rs` and the global search
-- write them) read from trigram indexes instead of scanning every row
-- (docs/benchmarks.md, "Management API"). They need the pg_trgm extension,
-- which PostgreSQL ships and trusts (any user who may create in the database
-- may install it). Where it cannot be had, the migration says so and the
-- searches scan, as before: the same results, slower.
do $$
declare
    ops text;
begin
    select format('%I.gin_trgm_ops', n.nspname) into ops
    from pg_extension e join pg_namespace n on n.oid = e.extnamespace
    where e.extname = 'pg_trgm';
    if ops is null then
        begin
            create extension pg_trgm schema public;
            ops := 'public.gin_trgm_ops';
        exception when others then
            raise notice 'pg_trgm is not available (%): searches will scan', sqlerrm;
            return;
        end;
    end if;
    execute format('create index idx_device_name_trgm on device using gin (lower(name) %s)', ops);
    execute format('create index idx_device_dev_eui_trgm on device using gin (encode(dev_eui, ''hex'') %s)', ops);
    execute format('create index idx_gateway_name_trgm on gateway using gin (lower(name) %s)', ops);
    execute format('create index idx_gateway_gateway_id_trgm on gateway using gin (encode(gateway_id, ''hex'') %s)', ops);
    execute format('create index idx_tenant_name_trgm on tenant using gin (lower(name) %s)', ops);
    execute format('create index idx_application_name_trgm on application using gin (lower(name) %s)', ops);
end $$;

-- Pages of an application's devices and of a tenant's gateways in every
-- order the API offers, read from an index: the sort key, then the id that
-- breaks ties (docs/benchmarks.md, "Management API").
drop index if exists idx_device_application_name;
create index idx_device_application_name on device (application_id, name, dev_eui);
create index idx_device_application_last_seen on device (application_id, last_seen_at, dev_eui);
create index idx_device_application_dev_eui on device (application_id, dev_eui);
create index idx_gateway_tenant_name on gateway (tenant_id, name, gateway_id);

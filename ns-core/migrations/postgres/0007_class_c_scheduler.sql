-- Class C downlinks without an uplink to answer (ns-core/src/pipeline/scheduler.rs).
--
-- `gateway_rx_info`: the gateways that heard the device's last uplink (JSON,
-- model::DeviceGatewayRxInfo), written with the uplink's session.
-- `scheduler_run_after`: the scheduler leaves the device alone until then
-- (a claim by an instance, a class A or class C downlink in flight).
alter table device add column gateway_rx_info jsonb;
alter table device add column scheduler_run_after timestamptz;

-- The scheduler's scan: class C devices whose lease has run out.
create index idx_device_class_scheduler on device (enabled_class, scheduler_run_after);

-- Time series of the gateways' statistics (ns-core/src/metrics.rs): one row
-- per owner (`gw:0102030405060708`), aggregation (common.Aggregation's
-- numbers), bucket start (Unix seconds, UTC) and series name, with the sum
-- of the samples and their number.
create table metric (
    owner text not null,
    aggregation smallint not null,
    bucket bigint not null,
    name text not null,
    total double precision not null,
    samples bigint not null,
    primary key (owner, aggregation, bucket, name)
);

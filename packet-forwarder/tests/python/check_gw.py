#!/usr/bin/env python3
"""Cross-checks our `gw`/`common` messages against ChirpStack's official
definitions (PyPI `chirpstack-api`), in protobuf and in proto3 JSON.

Driven by packet-forwarder/tests/gw_python.rs:

  check_gw.py encode DIR   For every message type of the `gw` and `common`
                           packages, writes fully populated instances as
                           DIR/py/<full name>.<variant>.pb and .json (one
                           variant per member of the message's largest oneof).
  check_gw.py verify DIR   Decodes what the Rust side wrote back:
                           DIR/rust/<same names> (our decode + re-encode of the
                           files above) must equal the originals, and
                           DIR/authored/<name>.pb/.json (messages written by
                           hand in Rust) must equal the ones built below.

JSON is parsed strictly (unknown keys are errors), so a key our side spells
differently fails the check.
"""

import os
import sys

try:
    from google.protobuf import json_format
    from google.protobuf.descriptor import FieldDescriptor as FD
    from chirpstack_api.common import common_pb2
    from chirpstack_api.gw import gw_pb2
except ImportError as e:  # the Rust test turns this exit code into a clear failure
    print(f"check_gw.py: {e}; install it with: pip install chirpstack-api==4.20.0", file=sys.stderr)
    sys.exit(3)

MODULES = (common_pb2, gw_pb2)


def message_classes():
    """Every top-level message type, by full protobuf name."""
    out = {}
    for mod in MODULES:
        for name in mod.DESCRIPTOR.message_types_by_name:
            cls = getattr(mod, name)
            out[cls.DESCRIPTOR.full_name] = cls
    return out


def variant_count(desc):
    return max([len(o.fields) for o in desc.oneofs] + [1])


def scalar(field, variant):
    n = field.number
    t = field.type
    if t in (FD.TYPE_INT32, FD.TYPE_SINT32, FD.TYPE_SFIXED32):
        return -(n * 3 + 1 + variant)  # negative: ten-byte varints for int32
    if t in (FD.TYPE_UINT32, FD.TYPE_FIXED32):
        return 868_100_000 + n * 1000 + variant
    if t in (FD.TYPE_INT64, FD.TYPE_SINT64, FD.TYPE_SFIXED64):
        return -(n * 1_000_000_007 + variant)
    if t in (FD.TYPE_UINT64, FD.TYPE_FIXED64):
        return n * 1_000_000_007 + variant
    if t == FD.TYPE_FLOAT:
        return n + 0.5  # exactly representable in f32
    if t == FD.TYPE_DOUBLE:
        return n + 0.25 + variant
    if t == FD.TYPE_BOOL:
        return True
    if t == FD.TYPE_STRING:
        return f"{field.name}-{variant}-\u00e9"
    if t == FD.TYPE_BYTES:
        return bytes([n, 0xFF, 0x00, variant, 0x7B])  # 5 bytes: base64 padding
    if t == FD.TYPE_ENUM:
        nonzero = [v.number for v in field.enum_type.values if v.number != 0]
        return nonzero[variant % len(nonzero)]
    raise ValueError(f"unhandled type {t} of {field.full_name}")


def populate(msg, variant):
    """Sets every field of msg (one member per oneof, chosen by variant)."""
    desc = msg.DESCRIPTOR
    if desc.full_name == "google.protobuf.Timestamp":
        msg.seconds, msg.nanos = 1_700_000_000 + variant, 123_456_789
        return msg
    if desc.full_name == "google.protobuf.Duration":
        msg.seconds, msg.nanos = 3 + variant, 500_000_000
        return msg
    chosen = {o.name: o.fields[variant % len(o.fields)].name for o in desc.oneofs}
    for f in desc.fields:
        if f.containing_oneof is not None and chosen[f.containing_oneof.name] != f.name:
            continue
        if f.message_type is not None and f.message_type.GetOptions().map_entry:
            key_f, val_f = f.message_type.fields_by_name["key"], f.message_type.fields_by_name["value"]
            target = getattr(msg, f.name)
            for i in range(2):
                key = f"key{i}" if key_f.type == FD.TYPE_STRING else scalar(key_f, variant) + i
                if val_f.message_type is not None:
                    populate(target[key], variant + i)
                else:
                    target[key] = scalar(val_f, variant + i)
        elif f.is_repeated:
            target = getattr(msg, f.name)
            for i in range(2):
                if f.message_type is not None:
                    populate(target.add(), variant + i)
                else:
                    target.append(scalar(f, variant + i))
        elif f.message_type is not None:
            sub = getattr(msg, f.name)
            sub.SetInParent()  # an empty message (ImmediatelyTimingInfo) is still set
            populate(sub, variant)
        else:
            setattr(msg, f.name, scalar(f, variant))
    return msg


def fixtures():
    """(file stem, message) for every message type and oneof variant."""
    for full_name, cls in sorted(message_classes().items()):
        for variant in range(variant_count(cls.DESCRIPTOR)):
            yield f"{full_name}.{variant}", populate(cls(), variant)


def to_json(msg):
    return json_format.MessageToJson(msg, indent=None)


def authored():
    """Messages the Rust test writes by hand (tests/gw_fixtures/mod.rs)."""
    ts = lambda s, n: {"seconds": s, "nanos": n}  # noqa: E731
    up = gw_pb2.UplinkFrame(
        phy_payload=bytes.fromhex("40040302018000010001a1b2c3d4"),
        tx_info=gw_pb2.UplinkTxInfo(
            frequency=868_100_000,
            modulation=gw_pb2.Modulation(lora=gw_pb2.LoraModulationInfo(
                bandwidth=125_000, spreading_factor=7, code_rate=gw_pb2.CR_4_5)),
        ),
        rx_info=gw_pb2.UplinkRxInfo(
            gateway_id="0102030405060708", uplink_id=4_000_000_001,
            gw_time=ts(1_700_000_000, 5_000), time_since_gps_epoch={"seconds": 1_384_035_218, "nanos": 5_000},
            fine_time_since_gps_epoch={"seconds": 1_384_035_218, "nanos": 5_123},
            rssi=-120, snr=-7.25, channel=2, rf_chain=1, board=0, antenna=1,
            location=common_pb2.Location(latitude=52.3676, longitude=4.9041, altitude=-2.0,
                                         source=common_pb2.GPS, accuracy=10.0),
            context=bytes([0x12, 0x34, 0x56, 0x78]), metadata={"region": "eu868"},
            crc_status=gw_pb2.CRC_OK,
        ),
    )
    down = gw_pb2.DownlinkFrame(
        downlink_id=42, gateway_id="0102030405060708",
        items=[
            gw_pb2.DownlinkFrameItem(phy_payload=b"\x60\x01", tx_info=gw_pb2.DownlinkTxInfo(
                frequency=868_100_000, power=14,
                modulation=gw_pb2.Modulation(lora=gw_pb2.LoraModulationInfo(
                    bandwidth=125_000, spreading_factor=7, code_rate=gw_pb2.CR_4_5,
                    polarization_inversion=True)),
                timing=gw_pb2.Timing(delay=gw_pb2.DelayTimingInfo(delay={"seconds": 1})),
                context=bytes([0x12, 0x34, 0x56, 0x78]))),
            gw_pb2.DownlinkFrameItem(phy_payload=b"\x60\x01", tx_info=gw_pb2.DownlinkTxInfo(
                frequency=869_525_000, power=-3,
                modulation=gw_pb2.Modulation(fsk=gw_pb2.FskModulationInfo(
                    frequency_deviation=25_000, datarate=50_000)),
                timing=gw_pb2.Timing(immediately=gw_pb2.ImmediatelyTimingInfo()))),
        ],
    )
    ack = gw_pb2.DownlinkTxAck(gateway_id="0102030405060708", downlink_id=42, items=[
        gw_pb2.DownlinkTxAckItem(status=gw_pb2.TOO_LATE), gw_pb2.DownlinkTxAckItem(status=gw_pb2.OK)])
    stats = gw_pb2.GatewayStats(
        gateway_id="0102030405060708", time=ts(1_700_000_030, 0), config_version="v1",
        rx_packets_received=10, rx_packets_received_ok=9, tx_packets_received=2, tx_packets_emitted=1,
        tx_packets_per_frequency={868_100_000: 1}, rx_packets_per_frequency={868_100_000: 9},
        tx_packets_per_status={"OK": 1, "TOO_LATE": 1},
        rx_packets_per_modulation=[gw_pb2.PerModulationCount(count=9, modulation=gw_pb2.Modulation(
            lr_fhss=gw_pb2.LrFhssModulationInfo(operating_channel_width=137_000, code_rate=gw_pb2.CR_2_6,
                                                grid_steps=52)))],
        duty_cycle_stats=gw_pb2.DutyCycleStats(regulation=common_pb2.ETSI_EN_300_220, window={"seconds": 3600},
                                               bands=[gw_pb2.DutyCycleBand(name="L", frequency_min=865_000_000,
                                                                           frequency_max=868_000_000,
                                                                           load_max={"seconds": 36},
                                                                           load_tracked={"nanos": 56_000_000})]),
    )
    config = gw_pb2.GatewayConfiguration(
        gateway_id="0102030405060708", version="v2", stats_interval={"seconds": 30},
        channels=[
            gw_pb2.ChannelConfiguration(frequency=868_100_000, lora_modulation_config=gw_pb2.LoraModulationConfig(
                bandwidth=125_000, spreading_factors=[7, 8, 9, 10, 11, 12])),
            gw_pb2.ChannelConfiguration(frequency=868_800_000, fsk_modulation_config=gw_pb2.FskModulationConfig(
                bandwidth=125_000, bitrate=50_000)),
        ],
    )
    conn = gw_pb2.ConnState(gateway_id="0102030405060708", state=gw_pb2.ConnState.ONLINE)
    event = gw_pb2.Event(uplink_frame=up)
    command = gw_pb2.Command(send_downlink_frame=down)
    return {
        "gw.UplinkFrame": up, "gw.DownlinkFrame": down, "gw.DownlinkTxAck": ack,
        "gw.GatewayStats": stats, "gw.GatewayConfiguration": config, "gw.ConnState": conn,
        "gw.Event": event, "gw.Command": command,
    }


def cmd_encode(root):
    out = os.path.join(root, "py")
    os.makedirs(out, exist_ok=True)
    n = 0
    for stem, msg in fixtures():
        with open(os.path.join(out, stem + ".pb"), "wb") as f:
            f.write(msg.SerializeToString())
        with open(os.path.join(out, stem + ".json"), "w", encoding="utf-8") as f:
            f.write(to_json(msg))
        n += 1
    print(f"check_gw.py: wrote {n} fixtures for {len(message_classes())} message types")


def check(failures, what, got, want):
    if got != want:
        failures.append(f"{what}: decoded\n{got}\n  expected\n{want}")


def parse_both(cls, base):
    with open(base + ".pb", "rb") as f:
        from_pb = cls.FromString(f.read())
    with open(base + ".json", encoding="utf-8") as f:
        from_json = json_format.Parse(f.read(), cls())
    return from_pb, from_json


def cmd_verify(root):
    classes = message_classes()
    failures = []
    n = 0
    for stem, want in fixtures():
        full_name = stem.rsplit(".", 1)[0]
        base = os.path.join(root, "rust", stem)
        try:
            from_pb, from_json = parse_both(classes[full_name], base)
        except Exception as e:  # noqa: BLE001 - report every file, not just the first
            failures.append(f"{stem}: {type(e).__name__}: {e}")
            continue
        check(failures, stem + ".pb", from_pb, want)
        check(failures, stem + ".json", from_json, want)
        n += 1
    m = 0
    for full_name, want in authored().items():
        base = os.path.join(root, "authored", full_name)
        try:
            from_pb, from_json = parse_both(classes[full_name], base)
        except Exception as e:  # noqa: BLE001
            failures.append(f"authored {full_name}: {type(e).__name__}: {e}")
            continue
        check(failures, f"authored {full_name}.pb", from_pb, want)
        check(failures, f"authored {full_name}.json", from_json, want)
        # Byte-exact where upstream's field order equals field-number order
        # would be too strict (prost writes in declaration order); compare the
        # canonical re-encoding instead.
        if from_pb.SerializeToString(deterministic=True) != want.SerializeToString(deterministic=True):
            failures.append(f"authored {full_name}: canonical encodings differ")
        m += 1
    for f in failures:
        print("FAIL", f, file=sys.stderr)
    print(f"check_gw.py: verified {n} round-tripped fixtures and {m} hand-written messages, "
          f"{len(failures)} failures")
    return 1 if failures else 0


def main(argv):
    if len(argv) != 3 or argv[1] not in ("encode", "verify"):
        print(__doc__, file=sys.stderr)
        return 2
    if argv[1] == "encode":
        cmd_encode(argv[2])
        return 0
    return cmd_verify(argv[2])


if __name__ == "__main__":
    sys.exit(main(sys.argv))

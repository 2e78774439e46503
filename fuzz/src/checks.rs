//! The properties the fuzz targets check. Shared, through `#[path]`, with the
//! `fuzz_corpus` test of the `lorawan` crate, which replays the checked-in corpus
//! on stable in every `cargo test`.

use lorawan::phy::Frame;

/// Parses any bytes as a PHYPayload. A frame that parses must expose every field
/// without panicking and must be written back to the same bytes (MHDR RFU bits,
/// which builders write as zero, aside).
pub fn phy_payload(data: &[u8]) {
    let Ok(frame) = Frame::parse(data) else {
        return;
    };
    let mut out = [0u8; 256];
    let n = match frame {
        Frame::JoinRequest(f) => f.repr().emit(f.mic(), &mut out),
        Frame::RejoinRequest(f) => f.repr().emit(f.mic(), &mut out),
        Frame::Data(f) => {
            let _ = (f.direction(), f.is_confirmed(), f.fctrl());
            f.repr().emit(f.mic(), &mut out)
        }
        Frame::JoinAccept(f) => {
            // The ciphertext is opaque without a key; check its decryption below.
            let n = f.as_bytes().len();
            out[..n].copy_from_slice(f.as_bytes());
            Ok(n)
        }
        Frame::Proprietary(f) => {
            let n = f.as_bytes().len();
            out[..n].copy_from_slice(f.as_bytes());
            Ok(n)
        }
    }
    .expect("a parsed frame can be written back");
    assert_eq!(n, data.len(), "length changed");
    assert_eq!(out[0] & 0xe3, data[0] & 0xe3, "MHDR changed");
    assert_eq!(&out[1..n], &data[1..], "frame changed");
}

/// Parses any bytes as MAC commands in both directions. Every command read must
/// be written back to bytes that read as the same command (RFU bits, written as
/// zero, aside), of the length it announced.
pub fn mac_commands(data: &[u8]) {
    use lorawan::Direction;
    use lorawan::mac::{self, MAX_ENCODED_LEN};
    for direction in [Direction::Uplink, Direction::Downlink] {
        let mut commands = mac::parse(direction, data);
        let mut offset = 0;
        for item in commands.by_ref() {
            let Ok(command) = item else { break };
            let mut buf = [0u8; MAX_ENCODED_LEN];
            let n = command
                .emit(&mut buf)
                .expect("a parsed command can be written");
            assert_eq!(n, command.encoded_len());
            assert_eq!(buf[0], data[offset], "CID changed");
            let (again, m) =
                mac::parse_one(direction, &buf[..n]).expect("written command reads back");
            assert_eq!((again, m), (command, n));
            offset += n;
        }
        assert!(commands.offset() <= data.len());
    }
}

/// Our codec against ChirpStack's `lrwn` on the same bytes: the first 16 bytes
/// are a key used in every role, the rest a PHYPayload. Wherever both read the
/// frame, they must agree on whether the MIC is valid for that key and on the
/// decrypted payload.
pub fn differential_lrwn(data: &[u8]) {
    use lorawan::keys::{AppKey, AppSKey, NwkSKey};
    let Some((key, frame)) = data.split_first_chunk::<16>() else {
        return;
    };
    let theirs_key = lrwn::AES128Key::from_bytes(*key);
    let ours = Frame::parse(frame);
    let Ok(mut theirs) = lrwn::PhyPayload::from_slice(frame) else {
        return;
    };
    let Ok(ours) = ours else { return };
    // lrwn checks MICs over its own re-encoding of the frame, which clears the
    // MHDR RFU bits: it accepts a frame whose MHDR was altered in those bits. We
    // check the bytes as sent, so verdicts differ there by design.
    let mhdr_rfu = frame.first().is_some_and(|m| m & 0x1c != 0);
    match ours {
        Frame::JoinRequest(jr) => {
            let ok = jr.verify_mic(&AppKey::from_be_bytes(*key).keyed()).is_ok();
            if !mhdr_rfu {
                assert_eq!(Some(ok), theirs.validate_join_request_mic(&theirs_key).ok());
            }
        }
        Frame::Data(d) => {
            let lrwn::Payload::MACPayload(p) = &theirs.payload else {
                panic!("lrwn reads a different frame type")
            };
            let fcnt = u32::from(d.fcnt());
            assert_eq!(p.fhdr.f_cnt, fcnt);
            let nwk = NwkSKey::from_be_bytes(*key).keyed();
            let v10 = lrwn::MACVersion::LoRaWAN1_0;
            let (ours_ok, theirs_ok) = match d.direction() {
                lorawan::Direction::Uplink => (
                    d.verify_uplink_mic_10(&nwk, fcnt).is_ok(),
                    theirs.validate_uplink_data_mic(v10, 0, 0, 0, &theirs_key, &theirs_key),
                ),
                lorawan::Direction::Downlink => (
                    d.verify_downlink_mic_10(&nwk, fcnt).is_ok(),
                    theirs.validate_downlink_data_mic(v10, 0, &theirs_key),
                ),
            };
            if !mhdr_rfu {
                assert_eq!(Some(ours_ok), theirs_ok.ok());
            }
            let mut buf = [0u8; 256];
            let plain = match d.fport() {
                Some(0 | 226) => d.decrypt_frm_payload_into(&nwk, fcnt, &mut buf),
                _ => d.decrypt_frm_payload_into(
                    &AppSKey::from_be_bytes(*key).keyed(),
                    fcnt,
                    &mut buf,
                ),
            };
            // lrwn's PhyPayload::decrypt_frm_payload also decodes FPort 0 MAC
            // commands, where lrwn 4.13 can panic (DevStatusAns margin); its raw
            // payload cipher is what is compared.
            let uplink = d.direction() == lorawan::Direction::Uplink;
            let dev_addr = lrwn::DevAddr::from_be_bytes(d.dev_addr().to_be_bytes());
            let theirs_plain =
                lrwn::encrypt_frm_payload(&theirs_key, uplink, &dev_addr, fcnt, d.frm_payload());
            if let (Ok(plain), Ok(theirs_plain)) = (plain, theirs_plain) {
                assert_eq!(plain, theirs_plain.as_slice(), "decrypted payloads differ");
            }
        }
        Frame::JoinAccept(enc) => {
            let ja = enc.decrypt(&AppKey::from_be_bytes(*key).keyed());
            let theirs_plain = theirs
                .decrypt_join_accept_payload(&theirs_key)
                .and_then(|()| theirs.to_vec());
            if let Ok(theirs_plain) = theirs_plain {
                // lrwn drops the CFList of a reserved type: compare up to RxDelay.
                assert_eq!(ja.as_bytes().get(1..13), theirs_plain.get(1..13));
            }
        }
        Frame::RejoinRequest(_) | Frame::Proprietary(_) => {}
    }
}

/// Parses any bytes as a Semtech UDP (GWMP) datagram. A datagram that parses
/// must be written back to bytes that parse to an equal packet.
///
/// The codec comes in as `parse` and `emit` (`Packet::parse`, `Packet::to_vec`
/// of `packet_forwarder::semtech_udp`) because this file is also compiled into
/// the `lorawan` crate's tests, which do not depend on `packet-forwarder`.
pub fn semtech_udp<P, E>(data: &[u8], parse: fn(&[u8]) -> Result<P, E>, emit: fn(&P) -> Vec<u8>)
where
    P: PartialEq + core::fmt::Debug,
    E: core::fmt::Debug,
{
    let Ok(packet) = parse(data) else {
        return;
    };
    let bytes = emit(&packet);
    let again = parse(&bytes).expect("an emitted datagram parses");
    assert_eq!(again, packet, "datagram changed in a round trip");
    assert_eq!(emit(&again), bytes, "emission is not stable");
}

/// Parses any bytes as a Basics Station message. A message that parses is
/// written back to text that parses to an equal message, and `reassemble`
/// (the PHYPayload of an uplink and back to the station's fields, which must
/// agree) runs on it without panicking.
pub fn basic_station<P, E>(
    data: &[u8],
    parse: fn(&[u8]) -> Result<P, E>,
    emit: fn(&P) -> Vec<u8>,
    reassemble: fn(&P),
) where
    P: PartialEq + core::fmt::Debug,
    E: core::fmt::Debug,
{
    let Ok(message) = parse(data) else {
        return;
    };
    reassemble(&message);
    let text = emit(&message);
    let again = parse(&text).expect("an emitted message parses");
    assert_eq!(again, message, "message changed in a round trip");
    assert_eq!(emit(&again), text, "emission is not stable");
}

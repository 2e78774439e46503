//! A data downlink's PHYPayload: written in the clear with the `lorawan`
//! builder, then encrypted and signed in place as the session's LoRaWAN
//! version requires.

use lorawan::Direction;
use lorawan::Mic;
use lorawan::keys::NwkSKey;
use lorawan::mac;
use lorawan::phy::{DataFrameMut, DataFrameRepr, FCtrl, FrameError, MAX_PHY_PAYLOAD_LEN, MType};

use crate::model::DeviceSession;

/// The fields of one downlink, payloads in the clear.
pub(super) struct Plain<'a> {
    pub(super) mtype: MType,
    pub(super) fctrl: FCtrl,
    /// The full FCntDown the frame is sent with.
    pub(super) f_cnt: u32,
    /// MAC commands for FOpts (at most 15 bytes).
    pub(super) fopts: &'a [u8],
    pub(super) fport: Option<u8>,
    /// Application data (FPort 1..) or MAC commands (FPort 0).
    pub(super) frm_payload: &'a [u8],
    /// The FCnt of the confirmed uplink this frame acknowledges: part of
    /// the LoRaWAN 1.1 MIC when the ACK bit is set.
    pub(super) acked_f_cnt_up: u32,
}

/// Writes, encrypts and signs the frame for the device of `session`.
///
/// FRMPayload: NwkSEncKey (the 1.0 NwkSKey) on FPort 0, AppSKey otherwise.
/// FOpts: encrypted with the NwkSEncKey in LoRaWAN 1.1 only. MIC: the 1.0
/// NwkSKey, or the 1.1 SNwkSIntKey with ConfFCnt when acknowledging.
pub(super) fn build(session: &DeviceSession, plain: &Plain<'_>) -> Result<Vec<u8>, FrameError> {
    let repr = DataFrameRepr {
        mtype: plain.mtype,
        dev_addr: session.dev_addr,
        fctrl: plain.fctrl,
        fcnt: plain.f_cnt,
        fopts: plain.fopts,
        fport: plain.fport,
        frm_payload: plain.frm_payload,
    };
    let mut buf = [0u8; MAX_PHY_PAYLOAD_LEN];
    let n = repr.emit(Mic::default(), &mut buf)?;
    let bytes = buf.get_mut(..n).unwrap_or_default();
    let mut frame = DataFrameMut::new_checked(bytes)?;
    match plain.fport {
        None => {}
        Some(0) => frame.crypt_frm_payload(&session.nwk_s_enc_key.keyed(), plain.f_cnt)?,
        Some(_) => frame.crypt_frm_payload(&session.app_s_key.keyed(), plain.f_cnt)?,
    }
    if session.mac_version.is_1_1() {
        if !plain.fopts.is_empty() {
            frame.crypt_fopts(&session.nwk_s_enc_key.keyed(), plain.f_cnt);
        }
        // ConfFCnt is the 16 low bits of the acknowledged uplink's FCnt.
        let conf_f_cnt = if plain.fctrl.ack() {
            plain.acked_f_cnt_up as u16
        } else {
            0
        };
        frame.set_downlink_mic_11(&session.s_nwk_s_int_key.keyed(), conf_f_cnt, plain.f_cnt)?;
    } else {
        // A 1.0 session keeps its one NwkSKey in every network-key field.
        let key = NwkSKey::from_be_bytes(session.s_nwk_s_int_key.to_be_bytes());
        frame.set_downlink_mic_10(&key.keyed(), plain.f_cnt)?;
    }
    Ok(frame.as_bytes().to_vec())
}

/// The longest prefix of `commands` made of whole downlink MAC commands that
/// fits in `budget` bytes. Bytes that cannot be read as commands (a
/// proprietary CID, a truncated tail) count as one block: all of it or
/// nothing.
pub(super) fn mac_prefix(commands: &[u8], budget: usize) -> &[u8] {
    let mut end = 0;
    while let Some(rest) = commands.get(end..).filter(|r| !r.is_empty()) {
        let len = match mac::parse_one(Direction::Downlink, rest) {
            Ok((_, len)) => len,
            Err(_) => rest.len(),
        };
        if end + len > budget {
            break;
        }
        end += len;
    }
    commands.get(..end).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mac_prefix_cuts_between_commands() {
        // DevStatusReq (1 byte), LinkADRReq (5 bytes), DevStatusReq.
        let cmds = [0x06, 0x03, 0x51, 0x07, 0x00, 0x01, 0x06];
        assert_eq!(mac_prefix(&cmds, 0), &[] as &[u8]);
        assert_eq!(mac_prefix(&cmds, 5), &[0x06]);
        assert_eq!(mac_prefix(&cmds, 6), &cmds[..6]);
        assert_eq!(mac_prefix(&cmds, 100), &cmds[..]);
    }

    #[test]
    fn unreadable_mac_bytes_are_one_block() {
        let cmds = [0x06, 0x80, 0x01, 0x02];
        assert_eq!(mac_prefix(&cmds, 3), &[0x06]);
        assert_eq!(mac_prefix(&cmds, 4), &cmds[..]);
    }
}

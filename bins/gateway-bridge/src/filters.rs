//! `[filters]`: which uplinks the bridge forwards, decided from the
//! PHYPayload alone.
//!
//! The rules are ChirpStack Gateway Bridge's (`net_ids`, `join_euis`) joined
//! with ChirpStack MQTT Forwarder's (`dev_addr_prefixes`,
//! `join_eui_prefixes`); a frame must satisfy every configured list that
//! applies to it, and an empty list passes everything:
//!
//! | Frame | Passes when |
//! |---|---|
//! | unconfirmed / confirmed data up | its DevAddr belongs to one of `net_ids` **and** matches one of `dev_addr_prefixes` |
//! | join-request, rejoin-request type 1 | its JoinEUI is in one of `join_euis` **and** matches one of `join_eui_prefixes` |
//! | rejoin-request type 0 / 2 | its NetID is one of `net_ids` (ChirpStack Gateway Bridge checks it too) |
//! | anything else (downlinks, proprietary) | always |
//! | bytes that are not a valid PHYPayload | always |
//!
//! Frames that cannot be parsed pass, as in both ChirpStack components: the
//! filters only keep out traffic that provably belongs to someone else, and
//! the network server is where a malformed frame is judged.
//!
//! ```
//! use gateway_bridge::config;
//! use gateway_bridge::filters::{Filters, Verdict};
//!
//! let mut config = config::Filters::default();
//! config.net_ids = vec!["000013".into()];
//! let filters = Filters::new(&config)?;
//!
//! // Unconfirmed data up from DevAddr 26011bda (NetID 000013) and 01020304.
//! let ours = [0x40, 0xda, 0x1b, 0x01, 0x26, 0x00, 0x00, 0x00, 1, 2, 3, 4];
//! let theirs = [0x40, 0x04, 0x03, 0x02, 0x01, 0x00, 0x00, 0x00, 1, 2, 3, 4];
//! assert_eq!(filters.check(&ours), Verdict::Pass);
//! assert_eq!(filters.check(&theirs), Verdict::DroppedDevAddr);
//! # Ok::<(), String>(())
//! ```

use lorawan::phy::{Frame, MType};
use lorawan::{DevAddr, Eui64, NetId};

use crate::config;

/// What the filters decided about one uplink.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Verdict {
    /// Forward the frame.
    Pass,
    /// A data frame whose DevAddr is outside `net_ids` or
    /// `dev_addr_prefixes`.
    DroppedDevAddr,
    /// A join-request or rejoin-request type 1 whose JoinEUI is outside
    /// `join_euis` or `join_eui_prefixes`.
    DroppedJoinEui,
    /// A rejoin-request type 0 or 2 whose NetID is not one of `net_ids`.
    DroppedNetId,
}

impl Verdict {
    /// Whether the frame is forwarded.
    pub const fn is_pass(self) -> bool {
        matches!(self, Self::Pass)
    }

    /// A short label for metrics and logs: `pass`, `dev_addr`, `join_eui`
    /// or `net_id` (the field that failed).
    pub const fn label(self) -> &'static str {
        match self {
            Self::Pass => "pass",
            Self::DroppedDevAddr => "dev_addr",
            Self::DroppedJoinEui => "join_eui",
            Self::DroppedNetId => "net_id",
        }
    }
}

/// The `[filters]` section, parsed once at start-up.
///
/// The default passes every frame.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filters {
    net_ids: Vec<NetId>,
    dev_addr_prefixes: Vec<Prefix>,
    join_euis: Vec<(Eui64, Eui64)>,
    join_eui_prefixes: Vec<Prefix>,
}

impl Filters {
    /// Parses the configured lists.
    ///
    /// # Errors
    /// A message naming the key and the value that is not valid: a NetID
    /// that is not 6 hex digits, a prefix that is not `hex/bits` with 8
    /// (DevAddr) or 16 (JoinEUI) hex digits and at most 32 or 64 bits, a
    /// JoinEUI range whose ends are not 16 hex digits or whose first end is
    /// above its second.
    pub fn new(config: &config::Filters) -> Result<Self, String> {
        let net_ids = config
            .net_ids
            .iter()
            .map(|text| {
                text.parse::<NetId>().map_err(|e| {
                    format!("filters.net_ids: {text:?} is not a NetID (6 hex digits): {e}")
                })
            })
            .collect::<Result<_, _>>()?;
        let dev_addr_prefixes = config
            .dev_addr_prefixes
            .iter()
            .map(|text| {
                Prefix::parse(text, 32, |hex| {
                    hex.parse::<DevAddr>().map(|a| u64::from(a.to_u32()))
                })
                .map_err(|why| {
                    format!(
                        "filters.dev_addr_prefixes: {text:?} is not a DevAddr prefix \
                         (\"26000000/7\"): {why}"
                    )
                })
            })
            .collect::<Result<_, _>>()?;
        let join_euis = config
            .join_euis
            .iter()
            .map(|[lo, hi]| {
                let parse = |text: &String| {
                    text.parse::<Eui64>().map_err(|e| {
                        format!(
                            "filters.join_euis: {text:?} in [{lo:?}, {hi:?}] is not a JoinEUI \
                             (16 hex digits): {e}"
                        )
                    })
                };
                let (from, to) = (parse(lo)?, parse(hi)?);
                if from > to {
                    return Err(format!(
                        "filters.join_euis: range [{lo:?}, {hi:?}] is empty (first above last)"
                    ));
                }
                Ok((from, to))
            })
            .collect::<Result<_, _>>()?;
        let join_eui_prefixes = config
            .join_eui_prefixes
            .iter()
            .map(|text| {
                Prefix::parse(text, 64, |hex| hex.parse::<Eui64>().map(Eui64::to_u64)).map_err(
                    |why| {
                        format!(
                            "filters.join_eui_prefixes: {text:?} is not a JoinEUI prefix \
                             (\"70b3d57ed0000000/36\"): {why}"
                        )
                    },
                )
            })
            .collect::<Result<_, _>>()?;
        Ok(Self {
            net_ids,
            dev_addr_prefixes,
            join_euis,
            join_eui_prefixes,
        })
    }

    /// Whether no filter is configured (every frame passes).
    pub fn is_empty(&self) -> bool {
        self.net_ids.is_empty()
            && self.dev_addr_prefixes.is_empty()
            && self.join_euis.is_empty()
            && self.join_eui_prefixes.is_empty()
    }

    /// Decides whether the uplink `phy_payload` is forwarded. Never panics,
    /// whatever the bytes.
    pub fn check(&self, phy_payload: &[u8]) -> Verdict {
        if self.is_empty() {
            return Verdict::Pass;
        }
        let Ok(frame) = Frame::parse(phy_payload) else {
            return Verdict::Pass;
        };
        match frame {
            Frame::Data(data)
                if matches!(
                    data.mhdr().mtype(),
                    MType::UnconfirmedDataUp | MType::ConfirmedDataUp
                ) =>
            {
                self.check_dev_addr(data.dev_addr())
            }
            Frame::JoinRequest(join) => self.check_join_eui(join.join_eui()),
            Frame::RejoinRequest(rejoin) => match (rejoin.join_eui(), rejoin.net_id()) {
                (Some(join_eui), _) => self.check_join_eui(join_eui),
                (None, Some(net_id)) => self.check_net_id(net_id),
                (None, None) => Verdict::Pass,
            },
            _ => Verdict::Pass,
        }
    }

    /// The filters a LoRa Basics Station applies itself, for its
    /// `router_config`: the `NetID` list and the `JoinEui` ranges (empty:
    /// send `null`, everything passes). Prefixes have no place there; the
    /// bridge still applies every filter to what the station forwards.
    pub fn router_config_options(&self) -> (Vec<NetId>, Vec<(Eui64, Eui64)>) {
        (self.net_ids.clone(), self.join_euis.clone())
    }

    fn check_dev_addr(&self, dev_addr: DevAddr) -> Verdict {
        let in_net_ids = self.net_ids.is_empty()
            || self
                .net_ids
                .iter()
                .any(|&net_id| dev_addr.is_net_id(net_id));
        let in_prefixes = self.dev_addr_prefixes.is_empty()
            || self
                .dev_addr_prefixes
                .iter()
                .any(|p| p.matches(u64::from(dev_addr.to_u32())));
        if in_net_ids && in_prefixes {
            Verdict::Pass
        } else {
            Verdict::DroppedDevAddr
        }
    }

    fn check_join_eui(&self, join_eui: Eui64) -> Verdict {
        let in_ranges = self.join_euis.is_empty()
            || self
                .join_euis
                .iter()
                .any(|&(from, to)| (from..=to).contains(&join_eui));
        let in_prefixes = self.join_eui_prefixes.is_empty()
            || self
                .join_eui_prefixes
                .iter()
                .any(|p| p.matches(join_eui.to_u64()));
        if in_ranges && in_prefixes {
            Verdict::Pass
        } else {
            Verdict::DroppedJoinEui
        }
    }

    fn check_net_id(&self, net_id: NetId) -> Verdict {
        if self.net_ids.is_empty() || self.net_ids.contains(&net_id) {
            Verdict::Pass
        } else {
            Verdict::DroppedNetId
        }
    }
}

/// The most significant `bits` of a DevAddr (32 bits wide) or an EUI (64
/// bits wide), both held in a `u64`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Prefix {
    /// The prefix with every bit past its length cleared.
    value: u64,
    /// Ones in the leading bits the prefix covers.
    mask: u64,
}

impl Prefix {
    /// Parses `hex/bits` for an identifier `width` bits wide. Bits past the
    /// prefix length may be set in `hex`; they are ignored, as ChirpStack
    /// does.
    fn parse<E: core::fmt::Display>(
        text: &str,
        width: u32,
        parse_hex: impl FnOnce(&str) -> Result<u64, E>,
    ) -> Result<Self, String> {
        let (hex, bits) = text
            .split_once('/')
            .ok_or_else(|| "no \"/\" before the prefix length".to_owned())?;
        let value = parse_hex(hex).map_err(|e| e.to_string())?;
        let bits: u32 = bits
            .parse()
            .map_err(|_| format!("prefix length {bits:?} is not a number"))?;
        if bits > width {
            return Err(format!("prefix length {bits} is above {width} bits"));
        }
        let all = u64::MAX.checked_shr(64 - width).unwrap_or(0);
        // Shifting by the full width (a /0 prefix) leaves nothing.
        let mask = all & !all.checked_shr(bits).unwrap_or(0);
        Ok(Self {
            value: value & mask,
            mask,
        })
    }

    fn matches(&self, value: u64) -> bool {
        value & self.mask == self.value
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lorawan::phy::{DataFrameRepr, FCtrl, JoinRequestRepr, RejoinRequestRepr};
    use lorawan::{DevNonce, Mic};

    fn filters(
        net_ids: &[&str],
        dev_addr_prefixes: &[&str],
        join_euis: &[[&str; 2]],
        join_eui_prefixes: &[&str],
    ) -> Filters {
        let owned = |list: &[&str]| list.iter().map(|s| (*s).to_owned()).collect();
        let config = config::Filters {
            net_ids: owned(net_ids),
            dev_addr_prefixes: owned(dev_addr_prefixes),
            join_euis: join_euis
                .iter()
                .map(|[lo, hi]| [(*lo).to_owned(), (*hi).to_owned()])
                .collect(),
            join_eui_prefixes: owned(join_eui_prefixes),
        };
        Filters::new(&config).unwrap()
    }

    fn data(mtype: MType, dev_addr: &str) -> Vec<u8> {
        let repr = DataFrameRepr {
            mtype,
            dev_addr: dev_addr.parse().unwrap(),
            fctrl: FCtrl::default(),
            fcnt: 1,
            fopts: &[],
            fport: Some(1),
            frm_payload: b"hi",
        };
        let mut buf = [0u8; 64];
        let n = repr.emit(Mic([1, 2, 3, 4]), &mut buf).unwrap();
        buf[..n].to_vec()
    }

    fn data_up(dev_addr: &str) -> Vec<u8> {
        data(MType::UnconfirmedDataUp, dev_addr)
    }

    fn join_request(join_eui: &str) -> Vec<u8> {
        let repr = JoinRequestRepr {
            join_eui: join_eui.parse().unwrap(),
            dev_eui: "0102030405060708".parse().unwrap(),
            dev_nonce: DevNonce(7),
        };
        let mut buf = [0u8; 23];
        let n = repr.emit(Mic([1, 2, 3, 4]), &mut buf).unwrap();
        buf[..n].to_vec()
    }

    fn rejoin(repr: RejoinRequestRepr) -> Vec<u8> {
        let mut buf = [0u8; 24];
        let n = repr.emit(Mic([1, 2, 3, 4]), &mut buf).unwrap();
        buf[..n].to_vec()
    }

    #[test]
    fn no_filters_pass_everything() {
        let f = Filters::default();
        assert!(f.is_empty());
        for frame in [
            data_up("01020304"),
            join_request("0102030405060708"),
            vec![],
            vec![0xff; 300],
        ] {
            assert_eq!(f.check(&frame), Verdict::Pass);
        }
    }

    #[test]
    fn data_up_passes_only_with_a_dev_addr_of_a_configured_net_id() {
        let f = filters(&["000013", "600001"], &[], &[], &[]);
        // Known-answer vector: unconfirmed data up, DevAddr 26011bda.
        let hex = [
            0x40, 0xda, 0x1b, 0x01, 0x26, 0x80, 0x01, 0x00, 0x01, 0xa6, 0x94, 0x64, 0x26,
        ];
        assert_eq!(f.check(&hex), Verdict::Pass);
        // The smallest data frames: no FOpts, no FPort.
        let ours = [0x40, 0xda, 0x1b, 0x01, 0x26, 0x00, 0x00, 0x00, 1, 2, 3, 4];
        let theirs = [0x40, 0x04, 0x03, 0x02, 0x01, 0x00, 0x00, 0x00, 1, 2, 3, 4];
        assert_eq!(f.check(&ours), Verdict::Pass);
        assert_eq!(f.check(&theirs), Verdict::DroppedDevAddr);
        assert_eq!(f.check(&data_up("26011bda")), Verdict::Pass);
        assert_eq!(
            f.check(&data(MType::ConfirmedDataUp, "26011bda")),
            Verdict::Pass
        );
        // A type-3 NetID 600001 owns DevAddrs e0 02 xx xx (prefix 1110, NwkID 1).
        let type3 = DevAddr::from_net_id("600001".parse().unwrap(), 0x1234);
        assert_eq!(f.check(&data_up(&type3.to_string())), Verdict::Pass);
        assert_eq!(f.check(&data_up("01020304")), Verdict::DroppedDevAddr);
        assert_eq!(
            f.check(&data(MType::ConfirmedDataUp, "28011bda")),
            Verdict::DroppedDevAddr
        );
    }

    #[test]
    fn data_down_is_never_filtered() {
        let f = filters(&["000013"], &["26000000/7"], &[], &[]);
        assert_eq!(
            f.check(&data(MType::UnconfirmedDataDown, "01020304")),
            Verdict::Pass
        );
        assert_eq!(
            f.check(&data(MType::ConfirmedDataDown, "01020304")),
            Verdict::Pass
        );
    }

    #[test]
    fn dev_addr_prefixes_compare_the_leading_bits_only() {
        let f = filters(&[], &["26000000/7", "01020300/24"], &[], &[]);
        assert_eq!(f.check(&data_up("26011bda")), Verdict::Pass);
        assert_eq!(f.check(&data_up("27ffffff")), Verdict::Pass);
        assert_eq!(f.check(&data_up("010203ff")), Verdict::Pass);
        assert_eq!(f.check(&data_up("28000000")), Verdict::DroppedDevAddr);
        assert_eq!(f.check(&data_up("01020400")), Verdict::DroppedDevAddr);
        // Bits past the length are ignored, like ChirpStack does.
        let sloppy = filters(&[], &["27ffffff/7"], &[], &[]);
        assert_eq!(sloppy.check(&data_up("26000000")), Verdict::Pass);
        // /0 matches every address, /32 exactly one.
        let all = filters(&[], &["ffffffff/0"], &[], &[]);
        assert_eq!(all.check(&data_up("01020304")), Verdict::Pass);
        let one = filters(&[], &["01020304/32"], &[], &[]);
        assert_eq!(one.check(&data_up("01020304")), Verdict::Pass);
        assert_eq!(one.check(&data_up("01020305")), Verdict::DroppedDevAddr);
    }

    #[test]
    fn net_ids_and_dev_addr_prefixes_must_both_match() {
        let f = filters(&["000013"], &["26010000/16"], &[], &[]);
        assert_eq!(f.check(&data_up("26011bda")), Verdict::Pass);
        // NetID 000013 but outside the prefix.
        assert_eq!(f.check(&data_up("26021bda")), Verdict::DroppedDevAddr);
    }

    #[test]
    fn join_request_passes_only_inside_a_join_eui_range() {
        let f = filters(
            &[],
            &[],
            &[
                ["0000000000000000", "00000000000000ff"],
                ["70b3d57ed0000000", "70b3d57ed0ffffff"],
            ],
            &[],
        );
        for inside in [
            "0000000000000000",
            "00000000000000ff",
            "70b3d57ed0001234",
            "70b3d57ed0ffffff",
        ] {
            assert_eq!(f.check(&join_request(inside)), Verdict::Pass, "{inside}");
        }
        for outside in ["0000000000000100", "70b3d57ed1000000", "ffffffffffffffff"] {
            assert_eq!(
                f.check(&join_request(outside)),
                Verdict::DroppedJoinEui,
                "{outside}"
            );
        }
    }

    #[test]
    fn join_eui_ranges_and_prefixes_must_both_match() {
        let f = filters(
            &[],
            &[],
            &[["70b3d57ed0000000", "70b3d57ed0ffffff"]],
            &["70b3d57ed0000000/44"],
        );
        assert_eq!(f.check(&join_request("70b3d57ed0012345")), Verdict::Pass);
        // In the range, outside the prefix.
        assert_eq!(
            f.check(&join_request("70b3d57ed0123456")),
            Verdict::DroppedJoinEui
        );
        let prefixes_only = filters(&[], &[], &[], &["70b3d57ed0000000/36"]);
        assert_eq!(
            prefixes_only.check(&join_request("70b3d57ed0000001")),
            Verdict::Pass
        );
        assert_eq!(
            prefixes_only.check(&join_request("70b3d57ee0000001")),
            Verdict::DroppedJoinEui
        );
    }

    #[test]
    fn join_filters_leave_data_frames_alone_and_vice_versa() {
        let joins_only = filters(&[], &[], &[["0000000000000000", "0000000000000001"]], &[]);
        assert_eq!(joins_only.check(&data_up("01020304")), Verdict::Pass);
        let data_only = filters(&["000013"], &["26000000/7"], &[], &[]);
        assert_eq!(
            data_only.check(&join_request("ffffffffffffffff")),
            Verdict::Pass
        );
    }

    #[test]
    fn rejoin_type_1_is_filtered_by_join_eui() {
        let f = filters(&[], &[], &[], &["0100000000000000/8"]);
        let frame = |join_eui: &str| {
            rejoin(RejoinRequestRepr::Type1 {
                join_eui: join_eui.parse().unwrap(),
                dev_eui: Eui64::from_u64(9),
                rj_count1: 1,
            })
        };
        assert_eq!(f.check(&frame("0102030405060708")), Verdict::Pass);
        assert_eq!(f.check(&frame("0202030405060708")), Verdict::DroppedJoinEui);
    }

    #[test]
    fn rejoin_types_0_and_2_are_filtered_by_net_id() {
        let f = filters(&["000013"], &[], &[], &[]);
        let net_id = |text: &str| text.parse::<NetId>().unwrap();
        let dev_eui = Eui64::from_u64(9);
        for (repr, verdict) in [
            (
                RejoinRequestRepr::Type0 {
                    net_id: net_id("000013"),
                    dev_eui,
                    rj_count0: 1,
                },
                Verdict::Pass,
            ),
            (
                RejoinRequestRepr::Type2 {
                    net_id: net_id("000014"),
                    dev_eui,
                    rj_count0: 1,
                },
                Verdict::DroppedNetId,
            ),
        ] {
            assert_eq!(f.check(&rejoin(repr)), verdict, "{repr:?}");
        }
        // JoinEUI filters do not apply to them.
        let joins_only = filters(&[], &[], &[["0000000000000000", "0000000000000000"]], &[]);
        let type0 = RejoinRequestRepr::Type0 {
            net_id: net_id("000014"),
            dev_eui,
            rj_count0: 1,
        };
        assert_eq!(joins_only.check(&rejoin(type0)), Verdict::Pass);
    }

    #[test]
    fn frames_that_cannot_be_parsed_pass() {
        let f = filters(
            &["000013"],
            &["26000000/7"],
            &[["0000000000000000", "0000000000000001"]],
            &["0000000000000000/64"],
        );
        let mut bad_major = data_up("01020304");
        bad_major[0] |= 0x01;
        let long = vec![0x40; 256];
        for bytes in [
            &[][..],
            &[0x40][..],
            &data_up("01020304")[..7],
            &join_request("ffffffffffffffff")[..22],
            &bad_major[..],
            &long[..],
        ] {
            assert_eq!(f.check(bytes), Verdict::Pass, "{bytes:02x?}");
        }
    }

    #[test]
    fn proprietary_and_join_accept_frames_pass() {
        let f = filters(
            &["000013"],
            &[],
            &[["0000000000000000", "0000000000000001"]],
            &[],
        );
        assert_eq!(f.check(&[0xe0, 1, 2, 3]), Verdict::Pass);
        assert_eq!(f.check(&[0x20; 17]), Verdict::Pass);
    }

    #[test]
    fn check_never_panics_on_arbitrary_bytes() {
        // proptest is not a dev-dependency of this crate: a seeded xorshift
        // gives reproducible random frames, with valid MHDRs made likely.
        let f = filters(
            &["000013", "e00001"],
            &["26000000/7", "00000000/0"],
            &[["0000000000000000", "7fffffffffffffff"]],
            &["70b3d57ed0000000/36", "0000000000000000/0"],
        );
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let mut passed = 0usize;
        for round in 0..20_000 {
            let len = (next() % 40) as usize + if round % 50 == 0 { 230 } else { 0 };
            let mut bytes: Vec<u8> = (0..len).map(|_| next() as u8).collect();
            if let Some(first) = bytes.first_mut() {
                // Major 0 and a random MType most of the time.
                if round % 4 != 0 {
                    *first &= 0xe0;
                }
            }
            for cut in [bytes.len(), bytes.len() / 2, bytes.len().min(1), 0] {
                passed += usize::from(f.check(&bytes[..cut]).is_pass());
            }
        }
        assert!(passed > 0);
        // Every valid length of every MType, all-ones and all-zeros bodies.
        for mhdr in 0..=255u8 {
            for len in 0..=30 {
                for fill in [0x00, 0xff] {
                    let mut bytes = vec![fill; len];
                    if let Some(first) = bytes.first_mut() {
                        *first = mhdr;
                    }
                    let _ = f.check(&bytes);
                }
            }
        }
    }

    #[test]
    fn router_config_options_carry_net_ids_and_join_eui_ranges() {
        let f = filters(
            &["000013"],
            &["26000000/7"],
            &[["0000000000000000", "00000000000000ff"]],
            &["70b3d57ed0000000/36"],
        );
        let (net_ids, join_euis) = f.router_config_options();
        assert_eq!(net_ids, ["000013".parse().unwrap()]);
        assert_eq!(join_euis, [(Eui64::from_u64(0), Eui64::from_u64(0xff))]);
        assert_eq!(Filters::default().router_config_options(), (vec![], vec![]));
    }

    #[test]
    fn bad_values_are_rejected_with_key_and_value_named() {
        let cases: [(config::Filters, &[&str]); 9] = [
            (
                config::Filters {
                    net_ids: vec!["00001g".into()],
                    ..Default::default()
                },
                &["filters.net_ids", "00001g"],
            ),
            (
                config::Filters {
                    net_ids: vec!["0013".into()],
                    ..Default::default()
                },
                &["filters.net_ids", "0013"],
            ),
            (
                config::Filters {
                    dev_addr_prefixes: vec!["26000000/33".into()],
                    ..Default::default()
                },
                &["filters.dev_addr_prefixes", "26000000/33", "33"],
            ),
            (
                config::Filters {
                    dev_addr_prefixes: vec!["26000000".into()],
                    ..Default::default()
                },
                &["filters.dev_addr_prefixes", "\"26000000\""],
            ),
            (
                config::Filters {
                    dev_addr_prefixes: vec!["2600zz00/7".into()],
                    ..Default::default()
                },
                &["filters.dev_addr_prefixes", "2600zz00/7"],
            ),
            (
                config::Filters {
                    dev_addr_prefixes: vec!["26000000/-1".into()],
                    ..Default::default()
                },
                &["filters.dev_addr_prefixes", "-1"],
            ),
            (
                config::Filters {
                    join_eui_prefixes: vec!["70b3d57ed0000000/65".into()],
                    ..Default::default()
                },
                &["filters.join_eui_prefixes", "70b3d57ed0000000/65", "65"],
            ),
            (
                config::Filters {
                    join_euis: vec![["00000000000000ff".into(), "0000000000000000".into()]],
                    ..Default::default()
                },
                &["filters.join_euis", "00000000000000ff", "first above last"],
            ),
            (
                config::Filters {
                    join_euis: vec![["0000000000000000".into(), "xyz".into()]],
                    ..Default::default()
                },
                &["filters.join_euis", "xyz"],
            ),
        ];
        for (config, needles) in cases {
            let e = Filters::new(&config).unwrap_err();
            for needle in needles {
                assert!(e.contains(needle), "{config:?}: {e}");
            }
        }
    }
}

//! LoRaWAN 1.0.x and 1.1 frames, MAC commands, keys and cryptography.
//!
//! The foundation of the stack: pure data and pure functions, no I/O, no async, no
//! `unsafe`, `no_std` with `alloc` as an option. Everything a network server, a
//! gateway or a device simulator needs to read, check and write LoRaWAN frames.
//!
//! - [`phy`]: the PHYPayload of every MType as checked zero-copy views over
//!   `&[u8]` ([`phy::Frame::parse`]) and representations that are written back
//!   byte for byte. After the checked constructor no accessor can panic.
//! - [`mac`]: every MAC command of LoRaWAN 1.0.4 and 1.1, class B and TS011
//!   relay, parsed and built with the direction taken into account.
//! - [`crypto`]: MICs, payload and FOpts encryption, join-accept encryption,
//!   session-key derivation for 1.0 and 1.1, RFC 3394 key wrap. A [`crypto::Keyed`]
//!   key caches its AES schedule and CMAC subkeys for the life of a session.
//! - [`region`]: the Regional Parameters of every region and revision as static
//!   tables, the functions over them (RX1, payload limits, beacons, CFList), the
//!   LinkADRReq channel-mask logic and [`region::RegionConfig`].
//! - [`airtime`]: time on air of LoRa, FSK and LR-FHSS frames, in microseconds.
//! - [`keys`]: one type per key role, so that an `AppSKey` can never be passed
//!   where an `NwkSKey` belongs.
//! - Identifiers ([`DevAddr`] with its NetID prefix, [`NetId`], [`Eui64`],
//!   [`DevNonce`], [`JoinNonce`]) written and parsed as people write them (most
//!   significant byte first), converted to wire order only at the frame boundary.
//!
//! Errors say who was wrong: [`phy::FrameError`] tells a truncated frame from a bad
//! field value from a wrong MIC; [`mac::MacError`] names the byte where a MAC
//! command could not be read; [`crypto::CryptoError`] covers key wrapping.
//!
//! # Example: a network server receiving a LoRaWAN 1.0 uplink
//!
//! ```
//! use lorawan::keys::{AppSKey, NwkSKey};
//! use lorawan::phy::Frame;
//! use lorawan::FCnt;
//!
//! let nwk_s_key = NwkSKey::from_be_bytes([2; 16]).keyed(); // keep per session
//! let app_s_key = AppSKey::from_be_bytes([1; 16]).keyed();
//!
//! let bytes = [0x40, 0x04, 0x03, 0x02, 0x01, 0x80, 0x01, 0x00, 0x01,
//!              0xa6, 0x94, 0x64, 0x26, 0x15, 0xd6, 0xc3, 0xb5, 0x82];
//! let Frame::Data(up) = Frame::parse(&bytes)? else { unreachable!() };
//! assert_eq!(up.dev_addr().to_string(), "01020304");
//!
//! let f_cnt_up = FCnt::reconstruct(1, up.fcnt()); // next expected: 1
//! up.verify_uplink_mic_10(&nwk_s_key, f_cnt_up)?;
//!
//! let mut buf = [0u8; 242];
//! let payload = up.decrypt_frm_payload_into(&app_s_key, f_cnt_up, &mut buf)?;
//! assert_eq!(payload, b"hello");
//! # Ok::<(), lorawan::phy::FrameError>(())
//! ```
//!
//! # Example: building a signed, encrypted downlink
//!
//! ```
//! use lorawan::keys::{AppSKey, NwkSKey};
//! use lorawan::phy::{DataFrameMut, DataFrameRepr, FCtrl, Frame, MType};
//! use lorawan::{DevAddr, Mic};
//!
//! let (nwk_s_key, app_s_key) = (NwkSKey::from_be_bytes([2; 16]).keyed(), AppSKey::from_be_bytes([1; 16]).keyed());
//! let repr = DataFrameRepr {
//!     mtype: MType::UnconfirmedDataDown,
//!     dev_addr: DevAddr::from_u32(0x0102_0304),
//!     fctrl: FCtrl::default().with_ack(true),
//!     fcnt: 7,
//!     fopts: &[],
//!     fport: Some(10),
//!     frm_payload: b"on",
//! };
//! let mut buf = [0u8; 64];
//! let n = repr.emit(Mic::default(), &mut buf)?;
//! let mut frame = DataFrameMut::new_checked(&mut buf[..n])?;
//! frame.crypt_frm_payload(&app_s_key, 7)?;
//! frame.set_downlink_mic_10(&nwk_s_key, 7)?;
//!
//! let Frame::Data(down) = Frame::parse(frame.as_bytes())? else { unreachable!() };
//! down.verify_downlink_mic_10(&nwk_s_key, 7)?;
//! # Ok::<(), lorawan::phy::FrameError>(())
//! ```
//!
//! # Features
//!
//! - `std` (default): implements `std::error::Error` for the error types; implies `alloc`.
//! - `alloc`: `Vec`-returning conveniences (key wrap).
//! - `serde`: identifiers and keys as hex strings, MSB first.
#![cfg_attr(not(feature = "std"), no_std)]
#![forbid(unsafe_code)]

#[cfg(feature = "alloc")]
extern crate alloc;

pub mod airtime;
pub mod crypto;
mod hex;
pub mod keys;
pub mod mac;
pub mod modulation;
pub mod phy;
pub mod region;
mod types;

pub use hex::{Hex, ParseHexError};
pub use types::{DevAddr, DevNonce, Direction, Eui64, FCnt, JoinNonce, Mic, NetId};

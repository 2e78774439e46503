//! LoRaWAN 1.0.x and 1.1 frames, MAC commands, keys and cryptography.
#![cfg_attr(not(feature = "std"), no_std)]

#[cfg(feature = "alloc")]
extern crate alloc;

pub mod crypto;
mod hex;
pub mod keys;
pub mod phy;
mod types;

pub use hex::{Hex, ParseHexError};
pub use types::{DevAddr, DevNonce, Direction, Eui64, FCnt, JoinNonce, Mic, NetId};

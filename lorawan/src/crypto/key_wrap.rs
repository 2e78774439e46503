//! AES key wrap (RFC 3394) with a 128-bit KEK, as the LoRaWAN Backend Interfaces
//! use for key envelopes (`KeyEnvelope` with a `KEKLabel`).

use super::{CryptoError, Keyed};
use crate::keys::{AesKey, Kek};

/// The RFC 3394 default initial value, which an unwrapped key must reproduce.
const IV: [u8; 8] = [0xa6; 8];

/// Wraps `key_data` with the KEK into `out` and returns the wrapped length,
/// `key_data.len() + 8`.
///
/// # Errors
///
/// - [`CryptoError::KeyWrapLength`] unless `key_data` is a multiple of 8 bytes,
///   at least 16;
/// - [`CryptoError::BufferTooSmall`] if `out` is shorter than the result.
///
/// ```
/// use lorawan::crypto::key_wrap;
/// use lorawan::keys::Kek;
/// // RFC 3394, §4.1.
/// let kek: Kek = "000102030405060708090a0b0c0d0e0f".parse().unwrap();
/// let key = [0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77,
///            0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff];
/// let mut out = [0; 24];
/// assert_eq!(key_wrap(&kek.keyed(), &key, &mut out), Ok(24));
/// assert_eq!(lorawan::Hex(&out).to_string(),
///            "1fa68b0a8112b447aef34bd8fb5a7b829d3e862371d2cfe5");
/// ```
pub fn key_wrap(kek: &Keyed<Kek>, key_data: &[u8], out: &mut [u8]) -> Result<usize, CryptoError> {
    let len = key_data.len();
    if !len.is_multiple_of(8) || len < 16 {
        return Err(CryptoError::KeyWrapLength { len, min: 16 });
    }
    let needed = len + 8;
    let Some(out) = out.get_mut(..needed) else {
        return Err(CryptoError::BufferTooSmall {
            needed,
            got: out.len(),
        });
    };
    let (a_out, r) = out.split_at_mut(8);
    r.copy_from_slice(key_data);
    let n = len / 8;
    let mut a = IV;
    let mut b = [0u8; 16];
    for j in 0..6 {
        for (i, r_i) in r.chunks_exact_mut(8).enumerate() {
            b[..8].copy_from_slice(&a);
            b[8..].copy_from_slice(r_i);
            kek.encrypt_block(&mut b);
            let t = (n * j + i + 1) as u64;
            for (a_k, (b_k, t_k)) in a.iter_mut().zip(b[..8].iter().zip(t.to_be_bytes())) {
                *a_k = b_k ^ t_k;
            }
            r_i.copy_from_slice(&b[8..]);
        }
    }
    a_out.copy_from_slice(&a);
    Ok(needed)
}

/// Unwraps `wrapped` with the KEK into `out`, checks its integrity and returns the
/// key-data length, `wrapped.len() - 8`. On any error `out` holds no key material.
///
/// # Errors
///
/// - [`CryptoError::KeyWrapLength`] unless `wrapped` is a multiple of 8 bytes,
///   at least 24;
/// - [`CryptoError::BufferTooSmall`] if `out` is shorter than the key data;
/// - [`CryptoError::IntegrityCheckFailed`] if the KEK is wrong or `wrapped` was
///   altered.
pub fn key_unwrap(kek: &Keyed<Kek>, wrapped: &[u8], out: &mut [u8]) -> Result<usize, CryptoError> {
    let len = wrapped.len();
    if !len.is_multiple_of(8) || len < 24 {
        return Err(CryptoError::KeyWrapLength { len, min: 24 });
    }
    let needed = len - 8;
    let got = out.len();
    let Some(r) = out.get_mut(..needed) else {
        return Err(CryptoError::BufferTooSmall { needed, got });
    };
    let (a_in, c) = wrapped.split_at(8);
    r.copy_from_slice(c);
    let n = needed / 8;
    let mut a = [0u8; 8];
    a.copy_from_slice(a_in);
    let dec = kek.decryptor();
    let mut b = [0u8; 16];
    for j in (0..6).rev() {
        for (i, r_i) in r.chunks_exact_mut(8).enumerate().rev() {
            let t = (n * j + i + 1) as u64;
            for (b_k, (a_k, t_k)) in b[..8].iter_mut().zip(a.iter().zip(t.to_be_bytes())) {
                *b_k = a_k ^ t_k;
            }
            b[8..].copy_from_slice(r_i);
            aes::cipher::BlockCipherDecrypt::decrypt_block(&dec, (&mut b).into());
            a.copy_from_slice(&b[..8]);
            r_i.copy_from_slice(&b[8..]);
        }
    }
    // Compare without an early exit, so timing tells nothing of where A differs.
    let diff = a.iter().zip(IV).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    if diff != 0 {
        r.fill(0);
        return Err(CryptoError::IntegrityCheckFailed);
    }
    Ok(needed)
}

/// Wraps one AES-128 key: the 24-byte envelope of `key`.
pub fn wrap_aes_key<K: AesKey>(kek: &Keyed<Kek>, key: &K) -> [u8; 24] {
    let mut out = [0u8; 24];
    // 16 bytes of key data into 24 bytes cannot fail.
    let _ = key_wrap(kek, key.as_bytes(), &mut out);
    out
}

/// Unwraps the 24-byte envelope of an AES-128 key of role `K`.
///
/// # Errors
///
/// As [`key_unwrap`]; an envelope of more than 16 bytes of key data is
/// [`CryptoError::BufferTooSmall`].
///
/// ```
/// use lorawan::crypto::{unwrap_aes_key, wrap_aes_key};
/// use lorawan::keys::{AppSKey, Kek};
/// let kek = Kek::from_be_bytes([7; 16]).keyed();
/// let key = AppSKey::from_be_bytes([1; 16]);
/// let envelope = wrap_aes_key(&kek, &key);
/// assert_eq!(unwrap_aes_key::<AppSKey>(&kek, &envelope), Ok(key));
/// ```
pub fn unwrap_aes_key<K: AesKey>(kek: &Keyed<Kek>, wrapped: &[u8]) -> Result<K, CryptoError> {
    let mut key = [0u8; 16];
    key_unwrap(kek, wrapped, &mut key)?;
    Ok(K::from_bytes(key))
}

/// Wraps `key_data` with the KEK into a new vector; see [`key_wrap`].
///
/// # Errors
///
/// [`CryptoError::KeyWrapLength`] unless `key_data` is a multiple of 8 bytes, at
/// least 16.
#[cfg(feature = "alloc")]
pub fn key_wrap_to_vec(
    kek: &Keyed<Kek>,
    key_data: &[u8],
) -> Result<alloc::vec::Vec<u8>, CryptoError> {
    let mut out = alloc::vec![0u8; key_data.len() + 8];
    key_wrap(kek, key_data, &mut out)?;
    Ok(out)
}

/// Unwraps `wrapped` with the KEK into a new vector; see [`key_unwrap`].
///
/// # Errors
///
/// [`CryptoError::KeyWrapLength`] or [`CryptoError::IntegrityCheckFailed`].
#[cfg(feature = "alloc")]
pub fn key_unwrap_to_vec(
    kek: &Keyed<Kek>,
    wrapped: &[u8],
) -> Result<alloc::vec::Vec<u8>, CryptoError> {
    let mut out = alloc::vec![0u8; wrapped.len().saturating_sub(8)];
    key_unwrap(kek, wrapped, &mut out)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::tests::h;
    use crate::keys::AppSKey;

    fn kek() -> Keyed<Kek> {
        Kek::from_be_bytes(h("000102030405060708090a0b0c0d0e0f")).keyed()
    }
    const KEY_DATA: &str = "00112233445566778899aabbccddeeff";
    const RFC3394_4_1: &str = "1fa68b0a8112b447aef34bd8fb5a7b829d3e862371d2cfe5";

    #[test]
    fn wrap_and_unwrap_match_rfc3394_section_4_1() {
        let key_data: [u8; 16] = h(KEY_DATA);
        let mut wrapped = [0u8; 24];
        assert_eq!(key_wrap(&kek(), &key_data, &mut wrapped), Ok(24));
        assert_eq!(wrapped, h::<24>(RFC3394_4_1));
        let mut unwrapped = [0u8; 16];
        assert_eq!(key_unwrap(&kek(), &wrapped, &mut unwrapped), Ok(16));
        assert_eq!(unwrapped, key_data);
    }

    #[test]
    fn wrap_of_longer_key_data_matches_independent_implementation() {
        // Values computed with Python `cryptography` (aes_key_wrap).
        let cases: [(&str, &str); 2] = [
            (
                "00112233445566778899aabbccddeeff0001020304050607",
                "889671106535a9f86d9f9a262f674569efa38d7535aac77527cab92855bddd6e",
            ),
            (
                "00112233445566778899aabbccddeeff000102030405060708090a0b0c0d0e0f",
                "11826840774d993ff9c2fa02cca3cea0e93b1e1cf96361f93ea6dc2f345194e7b30f964c79f9e61d",
            ),
        ];
        for (plain, wrapped) in cases {
            let plain = crate::crypto::tests::hv(plain);
            let wrapped = crate::crypto::tests::hv(wrapped);
            let mut out = [0u8; 40];
            assert_eq!(key_wrap(&kek(), &plain, &mut out), Ok(wrapped.len()));
            assert_eq!(out[..wrapped.len()], wrapped[..]);
            let mut back = [0u8; 32];
            assert_eq!(key_unwrap(&kek(), &wrapped, &mut back), Ok(plain.len()));
            assert_eq!(back[..plain.len()], plain[..]);
        }
    }

    #[test]
    fn tampered_or_wrongly_keyed_envelope_fails_integrity_check() {
        let good: [u8; 24] = h(RFC3394_4_1);
        for byte in 0..24 {
            let mut bad = good;
            bad[byte] ^= 0x01;
            let mut out = [0x55u8; 16];
            assert_eq!(
                key_unwrap(&kek(), &bad, &mut out),
                Err(CryptoError::IntegrityCheckFailed)
            );
            assert_eq!(out, [0; 16], "no key material left behind");
        }
        let other = Kek::from_be_bytes([0; 16]).keyed();
        assert_eq!(
            unwrap_aes_key::<AppSKey>(&other, &good),
            Err(CryptoError::IntegrityCheckFailed)
        );
    }

    #[test]
    fn bad_lengths_and_small_buffers_are_reported() {
        let mut out = [0u8; 64];
        for len in [0, 8, 15, 17, 20] {
            assert_eq!(
                key_wrap(&kek(), &[0; 32][..len], &mut out),
                Err(CryptoError::KeyWrapLength { len, min: 16 })
            );
        }
        for len in [0, 16, 23, 25] {
            assert_eq!(
                key_unwrap(&kek(), &[0; 32][..len], &mut out),
                Err(CryptoError::KeyWrapLength { len, min: 24 })
            );
        }
        assert_eq!(
            key_wrap(&kek(), &[0; 16], &mut out[..23]),
            Err(CryptoError::BufferTooSmall {
                needed: 24,
                got: 23
            })
        );
        assert_eq!(
            key_unwrap(&kek(), &h::<24>(RFC3394_4_1), &mut out[..15]),
            Err(CryptoError::BufferTooSmall {
                needed: 16,
                got: 15
            })
        );
        assert_eq!(
            unwrap_aes_key::<AppSKey>(&kek(), &[0; 32]),
            Err(CryptoError::BufferTooSmall {
                needed: 24,
                got: 16
            })
        );
    }

    #[test]
    fn aes_key_envelope_round_trips() {
        let key = AppSKey::from_be_bytes(h(KEY_DATA));
        let envelope = wrap_aes_key(&kek(), &key);
        assert_eq!(envelope, h::<24>(RFC3394_4_1));
        assert_eq!(unwrap_aes_key(&kek(), &envelope), Ok(key));
    }

    #[cfg(feature = "alloc")]
    #[test]
    fn vector_helpers_round_trip() {
        let wrapped = key_wrap_to_vec(&kek(), &h::<16>(KEY_DATA)).unwrap();
        assert_eq!(wrapped, h::<24>(RFC3394_4_1));
        assert_eq!(
            key_unwrap_to_vec(&kek(), &wrapped).unwrap(),
            h::<16>(KEY_DATA)
        );
        assert_eq!(
            key_unwrap_to_vec(&kek(), &[0; 12]),
            Err(CryptoError::KeyWrapLength { len: 12, min: 24 })
        );
    }
}

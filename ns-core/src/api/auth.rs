//! Authentication primitives compatible with ChirpStack v4.
//!
//! The management API re-implements ChirpStack's, so tokens that ChirpStack
//! issued and password hashes stored in a ChirpStack database (including rows
//! migrated from ChirpStack v3) must keep working unchanged. This module
//! provides exactly those two pieces.
//!
//! # Tokens
//!
//! ChirpStack issues JSON Web Tokens (RFC 7519) signed with HMAC-SHA256
//! (`HS256`), keyed with the bytes of the configured API secret. Header and
//! claims are encoded as base64url without padding:
//!
//! ```text
//! header: {"typ":"JWT","alg":"HS256"}
//! claims: {"aud":"chirpstack","exp":<unix seconds>,"iss":"chirpstack",
//!          "sub":"<uuid>","typ":"user"|"key"}
//! ```
//!
//! User (login) tokens expire after a lifetime (ChirpStack uses 24 h). API-key
//! tokens have no `exp`; they are revoked by deleting the key row, so callers
//! must still check that the key in `sub` exists. [`TokenSigner`] signs and
//! verifies these tokens; only `HS256` is accepted and the signature is
//! checked in constant time before any claim is looked at.
//!
//! # Password hashes
//!
//! ChirpStack v4 stores PBKDF2 hashes in the PHC string format
//!
//! ```text
//! $pbkdf2-sha512$i=<rounds>,l=<len>$<salt>$<hash>
//! ```
//!
//! where salt and hash use the PHC "B64" encoding (standard base64 alphabet,
//! no padding) and the salt is used as the *decoded* bytes. `pbkdf2-sha256`
//! is also accepted. ChirpStack v3 used
//!
//! ```text
//! PBKDF2$sha512$<iterations>$<salt, base64 with padding>$<hash, base64 with padding>
//! ```
//!
//! which [`verify_password`] accepts too, so migrated users can still log in;
//! [`needs_rehash`] tells the caller when to replace a stored hash with a new
//! one from [`PasswordHasher::hash`] after a successful login.

use std::fmt;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE_NO_PAD};
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256, Sha512};
use uuid::Uuid;

type HmacSha256 = Hmac<Sha256>;

// ---------------------------------------------------------------------------
// Tokens
// ---------------------------------------------------------------------------

/// Audience (and issuer) ChirpStack puts in every token.
const AUDIENCE: &str = "chirpstack";
/// Issuer written into tokens we sign.
const ISSUER: &str = "chirpstack";
/// Upper bound on the length of a token we are willing to decode.
const MAX_TOKEN_LEN: usize = 8 * 1024;
/// base64url of `{"typ":"JWT","alg":"HS256"}`, the header ChirpStack emits.
const HEADER_B64: &str = "eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiJ9";

/// What a token authenticates: a logged-in user or an API key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TokenKind {
    /// A login session token (`typ: "user"`); `sub` is the user id.
    User,
    /// An API key token (`typ: "key"`); `sub` is the API key id.
    Key,
}

impl TokenKind {
    /// The value used in the `typ` claim.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::User => "user",
            Self::Key => "key",
        }
    }
}

/// The verified contents of a token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claims {
    /// The user id or API key id (`sub`).
    pub subject: Uuid,
    /// Whether the token is a user or an API key token (`typ`).
    pub kind: TokenKind,
    /// Expiry as unix seconds (`exp`), `None` for tokens that never expire.
    pub expires_at: Option<u64>,
}

/// Why a token was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// The token is not structurally a valid JWT.
    #[error("malformed token: {0}")]
    Malformed(&'static str),
    /// The HMAC signature does not match.
    #[error("invalid token signature")]
    BadSignature,
    /// The header asks for an algorithm other than HS256.
    #[error("unsupported token algorithm: {0}")]
    UnsupportedAlgorithm(String),
    /// `exp` is not in the future.
    #[error("token has expired")]
    Expired,
    /// `nbf` is in the future.
    #[error("token is not valid yet")]
    NotYetValid,
    /// `aud` is missing or does not contain `chirpstack`.
    #[error("token audience is not accepted")]
    WrongAudience,
    /// `typ` is neither `user` nor `key`.
    #[error("unknown token type: {0}")]
    UnknownType(String),
    /// `sub` is missing or not a UUID.
    #[error("token subject is not a valid UUID")]
    BadSubject,
}

/// Claims as written when signing; field names match ChirpStack's.
#[derive(Serialize)]
struct OutgoingClaims<'a> {
    aud: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    exp: Option<u64>,
    iss: &'a str,
    sub: String,
    typ: &'a str,
}

/// Claims as read when verifying; kept loose so each check can report
/// its own error. Duplicate keys make deserialisation fail.
#[derive(Deserialize)]
struct IncomingClaims {
    aud: Option<Value>,
    exp: Option<Value>,
    nbf: Option<Value>,
    iss: Option<Value>,
    sub: Option<Value>,
    typ: Option<Value>,
}

#[derive(Deserialize)]
struct IncomingHeader {
    alg: Option<Value>,
}

/// Signs and verifies ChirpStack-compatible HS256 tokens.
///
/// The secret is the configured API secret; its UTF-8 bytes are the HMAC key,
/// exactly as in ChirpStack.
#[derive(Clone)]
pub struct TokenSigner {
    mac: HmacSha256,
}

impl fmt::Debug for TokenSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenSigner").finish_non_exhaustive()
    }
}

impl TokenSigner {
    /// Creates a signer keyed with the bytes of `secret`.
    pub fn new(secret: &str) -> Self {
        // HMAC key preprocessing from RFC 2104: keys longer than the block
        // size are hashed first, then the key is zero-padded to the block
        // size. Doing it here lets us use the infallible `KeyInit::new`.
        let mut key = hmac::digest::Key::<HmacSha256>::default();
        let secret = secret.as_bytes();
        if secret.len() > key.len() {
            let digest = Sha256::digest(secret);
            key[..digest.len()].copy_from_slice(&digest);
        } else {
            key[..secret.len()].copy_from_slice(secret);
        }
        Self {
            mac: HmacSha256::new(&key),
        }
    }

    /// Issues a user (login) token for `user_id`, expiring `lifetime` after
    /// `now_unix`. ChirpStack uses a lifetime of 24 hours.
    pub fn sign_user(&self, user_id: Uuid, now_unix: u64, lifetime: Duration) -> String {
        let exp = now_unix.saturating_add(lifetime.as_secs());
        self.sign(user_id, TokenKind::User, Some(exp))
    }

    /// Issues a non-expiring API key token for `key_id`.
    pub fn sign_api_key(&self, key_id: Uuid) -> String {
        self.sign(key_id, TokenKind::Key, None)
    }

    fn sign(&self, subject: Uuid, kind: TokenKind, exp: Option<u64>) -> String {
        let claims = OutgoingClaims {
            aud: AUDIENCE,
            exp,
            iss: ISSUER,
            sub: subject.to_string(),
            typ: kind.as_str(),
        };
        // Serialising a struct of strings and integers cannot fail; fall back
        // to an empty object (which no verifier accepts) rather than panic.
        let payload = serde_json::to_vec(&claims).unwrap_or_else(|_| b"{}".to_vec());
        let mut token = String::with_capacity(256);
        token.push_str(HEADER_B64);
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(payload, &mut token);

        let mut mac = self.mac.clone();
        mac.update(token.as_bytes());
        let signature = mac.finalize().into_bytes();
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(signature, &mut token);
        token
    }

    /// Verifies `token` at time `now_unix` (unix seconds) and returns its
    /// claims.
    ///
    /// The signature is checked (in constant time) before the claims are
    /// parsed. No clock leeway is applied: a token is expired once
    /// `now_unix >= exp`.
    pub fn verify(&self, token: &str, now_unix: u64) -> Result<Claims, TokenError> {
        if token.len() > MAX_TOKEN_LEN {
            return Err(TokenError::Malformed("token too long"));
        }
        let mut parts = token.split('.');
        let (Some(header_b64), Some(payload_b64), Some(sig_b64), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(TokenError::Malformed("expected three dot-separated parts"));
        };

        // Header: only HS256 is acceptable (in particular not "none").
        let header_json = URL_SAFE_NO_PAD
            .decode(header_b64)
            .map_err(|_| TokenError::Malformed("header is not base64url"))?;
        let header: IncomingHeader = serde_json::from_slice(&header_json)
            .map_err(|_| TokenError::Malformed("header is not a JSON object"))?;
        match header.alg {
            Some(Value::String(alg)) if alg == "HS256" => {}
            Some(Value::String(alg)) => return Err(TokenError::UnsupportedAlgorithm(alg)),
            Some(_) => return Err(TokenError::Malformed("alg is not a string")),
            None => return Err(TokenError::Malformed("missing alg")),
        }

        // Signature over "<header>.<payload>" exactly as received.
        let signature = URL_SAFE_NO_PAD
            .decode(sig_b64)
            .map_err(|_| TokenError::Malformed("signature is not base64url"))?;
        let signed_len = header_b64.len() + 1 + payload_b64.len();
        let signing_input = token
            .get(..signed_len)
            .ok_or(TokenError::Malformed("bad token layout"))?;
        let mut mac = self.mac.clone();
        mac.update(signing_input.as_bytes());
        mac.verify_slice(&signature)
            .map_err(|_| TokenError::BadSignature)?;

        let payload_json = URL_SAFE_NO_PAD
            .decode(payload_b64)
            .map_err(|_| TokenError::Malformed("payload is not base64url"))?;
        let raw: IncomingClaims = serde_json::from_slice(&payload_json)
            .map_err(|_| TokenError::Malformed("payload is not a valid claims object"))?;
        check_claims(raw, now_unix)
    }
}

/// Validates decoded claims; the signature has already been checked.
fn check_claims(raw: IncomingClaims, now_unix: u64) -> Result<Claims, TokenError> {
    let audience_ok = match &raw.aud {
        Some(Value::String(aud)) => aud == AUDIENCE,
        Some(Value::Array(auds)) => auds.iter().any(|a| a.as_str() == Some(AUDIENCE)),
        _ => false,
    };
    if !audience_ok {
        return Err(TokenError::WrongAudience);
    }

    if !matches!(raw.iss, None | Some(Value::Null) | Some(Value::String(_))) {
        return Err(TokenError::Malformed("iss is not a string"));
    }

    let expires_at = numeric_date(raw.exp.as_ref(), "exp is not a NumericDate")?;
    if let Some(exp) = expires_at
        && exp <= now_unix
    {
        return Err(TokenError::Expired);
    }
    if let Some(nbf) = numeric_date(raw.nbf.as_ref(), "nbf is not a NumericDate")?
        && nbf > now_unix
    {
        return Err(TokenError::NotYetValid);
    }

    let kind = match raw.typ {
        Some(Value::String(typ)) => match typ.as_str() {
            "user" => TokenKind::User,
            "key" => TokenKind::Key,
            _ => return Err(TokenError::UnknownType(typ)),
        },
        Some(other) => return Err(TokenError::UnknownType(other.to_string())),
        None => return Err(TokenError::UnknownType(String::new())),
    };

    let subject = match &raw.sub {
        Some(Value::String(sub)) => Uuid::parse_str(sub).map_err(|_| TokenError::BadSubject)?,
        _ => return Err(TokenError::BadSubject),
    };

    Ok(Claims {
        subject,
        kind,
        expires_at,
    })
}

/// Reads an optional NumericDate claim; it must be a non-negative integer.
/// `null` is treated as absent, as ChirpStack's `Option` fields do.
fn numeric_date(value: Option<&Value>, err: &'static str) -> Result<Option<u64>, TokenError> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n.as_u64().map(Some).ok_or(TokenError::Malformed(err)),
        Some(_) => Err(TokenError::Malformed(err)),
    }
}

/// Extracts the token from an `Authorization` header value of the form
/// `Bearer <token>`.
///
/// The scheme is matched case-insensitively and surrounding whitespace is
/// ignored. Returns `None` for other schemes, an empty token, or a token
/// containing whitespace.
pub fn bearer_token(header_value: &str) -> Option<&str> {
    let value = header_value.trim();
    let (scheme, rest) = value.split_once(|c: char| c.is_ascii_whitespace())?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let token = rest.trim();
    if token.is_empty() || token.contains(|c: char| c.is_whitespace()) {
        return None;
    }
    Some(token)
}

// ---------------------------------------------------------------------------
// Passwords
// ---------------------------------------------------------------------------

/// Default PBKDF2-HMAC-SHA512 iteration count (OWASP recommendation).
pub const DEFAULT_ITERATIONS: u32 = 210_000;
/// Largest iteration count accepted from a stored hash (DoS guard).
pub const MAX_ITERATIONS: u32 = 10_000_000;
/// Largest derived-key length accepted from a stored hash, in bytes.
pub const MAX_HASH_LEN: usize = 256;
/// Largest salt accepted from a stored hash, in bytes.
const MAX_SALT_LEN: usize = 1024;
/// Salt length used for new hashes, in bytes.
const SALT_LEN: usize = 16;
/// Derived-key length used for new hashes, in bytes (SHA-512 output size).
const HASH_LEN: usize = 64;

/// Why a stored password hash could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PasswordError {
    /// The stored string is not in a recognised hash format.
    #[error("malformed password hash: {0}")]
    Malformed(&'static str),
    /// The hash uses an algorithm we do not support (e.g. PBKDF2-HMAC-SHA1).
    #[error("unsupported password hash algorithm: {0}")]
    UnsupportedAlgorithm(String),
    /// Iteration count or output length is out of the accepted range.
    #[error("password hash parameters out of range: {0}")]
    BadParameters(&'static str),
}

/// Hash function used as the PBKDF2 PRF.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Prf {
    Sha256,
    Sha512,
}

/// Which textual format a stored hash was in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    /// ChirpStack v4 PHC string.
    Phc,
    /// ChirpStack v3 `PBKDF2$...` string.
    Legacy,
}

/// A parsed stored hash.
#[derive(Debug)]
struct StoredHash {
    format: Format,
    prf: Prf,
    iterations: u32,
    salt: Vec<u8>,
    hash: Vec<u8>,
}

/// Creates PBKDF2-HMAC-SHA512 password hashes in ChirpStack v4's PHC format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasswordHasher {
    iterations: u32,
}

impl Default for PasswordHasher {
    /// 210 000 iterations, the OWASP recommendation for PBKDF2-HMAC-SHA512.
    fn default() -> Self {
        Self::new(DEFAULT_ITERATIONS)
    }
}

impl PasswordHasher {
    /// Creates a hasher using `iterations` PBKDF2 rounds, clamped to
    /// `1..=MAX_ITERATIONS` so the result always verifies.
    pub fn new(iterations: u32) -> Self {
        Self {
            iterations: iterations.clamp(1, MAX_ITERATIONS),
        }
    }

    /// The iteration count new hashes are created with.
    pub fn iterations(&self) -> u32 {
        self.iterations
    }

    /// Hashes `password` with a fresh 16-byte random salt, returning
    /// `$pbkdf2-sha512$i=<iterations>,l=64$<salt>$<hash>`.
    pub fn hash(&self, password: &str) -> String {
        let mut salt = [0u8; SALT_LEN];
        rand::fill(&mut salt[..]);
        let mut hash = [0u8; HASH_LEN];
        derive(
            Prf::Sha512,
            password.as_bytes(),
            &salt,
            self.iterations,
            &mut hash,
        );
        format!(
            "$pbkdf2-sha512$i={},l={}${}${}",
            self.iterations,
            HASH_LEN,
            STANDARD_NO_PAD.encode(salt),
            STANDARD_NO_PAD.encode(hash),
        )
    }
}

/// Checks `password` against a stored hash in ChirpStack v4 (PHC) or v3
/// (`PBKDF2$...`) format.
///
/// Returns `Ok(false)` when the password does not match and an error when the
/// stored hash cannot be used. The comparison is constant-time.
pub fn verify_password(password: &str, stored: &str) -> Result<bool, PasswordError> {
    if let Some(argon2) = parse_argon2(stored)? {
        return argon2.verify(password);
    }
    let parsed = parse_stored(stored)?;
    let mut computed = vec![0u8; parsed.hash.len()];
    derive(
        parsed.prf,
        password.as_bytes(),
        &parsed.salt,
        parsed.iterations,
        &mut computed,
    );
    Ok(constant_time_eq(&computed, &parsed.hash))
}

/// Whether a stored hash should be replaced (after a successful login) by one
/// from `hasher`: true unless it is a v4 PHC PBKDF2-SHA512 hash with at least
/// `hasher`'s iteration count. Legacy v3 strings and unparsable values always
/// need a rehash.
pub fn needs_rehash(stored: &str, hasher: &PasswordHasher) -> bool {
    match parse_stored(stored) {
        Ok(h) => {
            h.format != Format::Phc || h.prf != Prf::Sha512 || h.iterations < hasher.iterations
        }
        Err(_) => true,
    }
}

fn derive(prf: Prf, password: &[u8], salt: &[u8], iterations: u32, out: &mut [u8]) {
    match prf {
        Prf::Sha256 => pbkdf2::pbkdf2_hmac::<Sha256>(password, salt, iterations, out),
        Prf::Sha512 => pbkdf2::pbkdf2_hmac::<Sha512>(password, salt, iterations, out),
    }
}

/// Compares two byte strings without data-dependent early exit. Lengths are
/// not secret (they come from the stored hash).
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

fn parse_stored(stored: &str) -> Result<StoredHash, PasswordError> {
    let parsed = if stored.starts_with('$') {
        parse_phc(stored)?
    } else if stored.starts_with("PBKDF2$") {
        parse_legacy(stored)?
    } else {
        return Err(PasswordError::Malformed("unrecognised hash format"));
    };
    if parsed.iterations == 0 || parsed.iterations > MAX_ITERATIONS {
        return Err(PasswordError::BadParameters("iteration count"));
    }
    if parsed.hash.is_empty() || parsed.hash.len() > MAX_HASH_LEN {
        return Err(PasswordError::BadParameters("output length"));
    }
    if parsed.salt.is_empty() {
        return Err(PasswordError::Malformed("empty salt"));
    }
    Ok(parsed)
}

/// The largest Argon2 memory cost accepted from a stored hash, KiB (DoS
/// guard: 128 MiB; OWASP recommends 19 to 64 MiB).
const MAX_ARGON2_MEMORY_KIB: u32 = 128 * 1024;
/// The most Argon2 passes accepted from a stored hash.
const MAX_ARGON2_PASSES: u32 = 16;
/// The most Argon2 lanes accepted from a stored hash.
const MAX_ARGON2_LANES: u32 = 16;

/// An Argon2 hash in PHC form, as other systems (and password managers'
/// exports) store them: `$argon2id$v=19$m=<KiB>,t=<passes>,p=<lanes>$<salt>$<hash>`.
/// Verified at login, never written: a successful login re-hashes it with
/// PBKDF2, the form ChirpStack reads ([`needs_rehash`] says so).
struct Argon2Hash {
    hasher: argon2::Argon2<'static>,
    salt: Vec<u8>,
    hash: Vec<u8>,
}

impl Argon2Hash {
    fn verify(&self, password: &str) -> Result<bool, PasswordError> {
        let mut computed = vec![0u8; self.hash.len()];
        self.hasher
            .hash_password_into(password.as_bytes(), &self.salt, &mut computed)
            .map_err(|_| PasswordError::BadParameters("Argon2 parameters"))?;
        Ok(constant_time_eq(&computed, &self.hash))
    }
}

/// `Some` Argon2 hash if `stored` names an Argon2 variant, `None` if it
/// names another algorithm.
fn parse_argon2(stored: &str) -> Result<Option<Argon2Hash>, PasswordError> {
    let mut parts = stored.split('$');
    let (Some(""), Some(id)) = (parts.next(), parts.next()) else {
        return Ok(None);
    };
    let algorithm = match id {
        "argon2id" => argon2::Algorithm::Argon2id,
        "argon2i" => argon2::Algorithm::Argon2i,
        "argon2d" => argon2::Algorithm::Argon2d,
        _ => return Ok(None),
    };
    let mut next = parts.next();
    // The version is optional (absent: 0x10, the first).
    let version = match next.and_then(|p| p.strip_prefix("v=")) {
        Some(v) => {
            next = parts.next();
            match parse_decimal(v)? {
                16 => argon2::Version::V0x10,
                19 => argon2::Version::V0x13,
                _ => return Err(PasswordError::BadParameters("Argon2 version")),
            }
        }
        None => argon2::Version::V0x10,
    };
    let (Some(params), Some(salt), Some(hash), None) =
        (next, parts.next(), parts.next(), parts.next())
    else {
        return Err(PasswordError::Malformed(
            "expected $argon2<x>$v=<n>$m=<m>,t=<t>,p=<p>$<salt>$<hash>",
        ));
    };
    let (mut memory, mut passes, mut lanes) = (None, None, None);
    for param in params.split(',') {
        let (name, value) = param
            .split_once('=')
            .ok_or(PasswordError::Malformed("parameter without '='"))?;
        let slot = match name {
            "m" => &mut memory,
            "t" => &mut passes,
            "p" => &mut lanes,
            _ => return Err(PasswordError::Malformed("unknown parameter")),
        };
        if slot.is_some() {
            return Err(PasswordError::Malformed("duplicate parameter"));
        }
        *slot = Some(parse_decimal(value)?);
    }
    let (Some(memory), Some(passes), Some(lanes)) = (memory, passes, lanes) else {
        return Err(PasswordError::Malformed("Argon2 needs m, t and p"));
    };
    if memory > MAX_ARGON2_MEMORY_KIB || passes > MAX_ARGON2_PASSES || lanes > MAX_ARGON2_LANES {
        return Err(PasswordError::BadParameters("Argon2 cost"));
    }
    let salt = decode_capped(&STANDARD_NO_PAD, salt, MAX_SALT_LEN, "salt is not B64")?;
    let hash = decode_capped(&STANDARD_NO_PAD, hash, MAX_HASH_LEN, "hash is not B64")?;
    if hash.is_empty() || hash.len() > MAX_HASH_LEN {
        return Err(PasswordError::BadParameters("output length"));
    }
    let params = argon2::Params::new(memory, passes, lanes, Some(hash.len()))
        .map_err(|_| PasswordError::BadParameters("Argon2 parameters"))?;
    Ok(Some(Argon2Hash {
        hasher: argon2::Argon2::new(algorithm, version, params),
        salt,
        hash,
    }))
}

/// Decodes base64 with a length cap applied before decoding.
fn decode_capped<E: base64::Engine>(
    engine: &E,
    input: &str,
    max_len: usize,
    what: &'static str,
) -> Result<Vec<u8>, PasswordError> {
    // Four characters carry three bytes; reject early to bound allocation.
    if input.len() / 4 * 3 > max_len + 3 {
        return Err(PasswordError::Malformed(what));
    }
    engine
        .decode(input)
        .map_err(|_| PasswordError::Malformed(what))
}

/// Parses a PHC string: `$<id>$<params>$<salt>$<hash>`.
fn parse_phc(stored: &str) -> Result<StoredHash, PasswordError> {
    let mut parts = stored.split('$');
    let (Some(""), Some(id)) = (parts.next(), parts.next()) else {
        return Err(PasswordError::Malformed("expected $<id>$..."));
    };
    // Identify the algorithm first so foreign hashes (argon2, bcrypt, ...)
    // are reported as unsupported rather than malformed.
    let prf = match id {
        "pbkdf2-sha512" => Prf::Sha512,
        "pbkdf2-sha256" => Prf::Sha256,
        "" => return Err(PasswordError::Malformed("empty algorithm id")),
        "pbkdf2" => {
            return Err(PasswordError::UnsupportedAlgorithm(
                "pbkdf2 (HMAC-SHA1)".to_owned(),
            ));
        }
        other => return Err(PasswordError::UnsupportedAlgorithm(other.to_owned())),
    };
    let (Some(params), Some(salt), Some(hash), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(PasswordError::Malformed(
            "expected $<id>$<params>$<salt>$<hash>",
        ));
    };

    let mut iterations = None;
    let mut length = None;
    for param in params.split(',') {
        let (name, value) = param
            .split_once('=')
            .ok_or(PasswordError::Malformed("parameter without '='"))?;
        let slot = match name {
            "i" => &mut iterations,
            "l" => &mut length,
            _ => return Err(PasswordError::Malformed("unknown parameter")),
        };
        if slot.is_some() {
            return Err(PasswordError::Malformed("duplicate parameter"));
        }
        *slot = Some(parse_decimal(value)?);
    }
    let iterations = iterations.ok_or(PasswordError::Malformed("missing i parameter"))?;

    let salt = decode_capped(&STANDARD_NO_PAD, salt, MAX_SALT_LEN, "salt is not B64")?;
    let hash = decode_capped(&STANDARD_NO_PAD, hash, MAX_HASH_LEN, "hash is not B64")?;
    if let Some(len) = length
        && usize::try_from(len).ok() != Some(hash.len())
    {
        return Err(PasswordError::Malformed("l does not match hash length"));
    }

    Ok(StoredHash {
        format: Format::Phc,
        prf,
        iterations,
        salt,
        hash,
    })
}

/// Parses a ChirpStack v3 string: `PBKDF2$<sha512|sha256>$<iter>$<salt>$<hash>`.
fn parse_legacy(stored: &str) -> Result<StoredHash, PasswordError> {
    // Go's StdEncoding pads; also accept values whose padding was stripped.
    const LENIENT: GeneralPurpose = GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
    );

    let mut parts = stored.split('$');
    let (Some("PBKDF2"), Some(alg), Some(iterations), Some(salt), Some(hash), None) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return Err(PasswordError::Malformed(
            "expected PBKDF2$<alg>$<iterations>$<salt>$<hash>",
        ));
    };
    let prf = match alg {
        "sha512" => Prf::Sha512,
        "sha256" => Prf::Sha256,
        other => return Err(PasswordError::UnsupportedAlgorithm(other.to_owned())),
    };
    Ok(StoredHash {
        format: Format::Legacy,
        prf,
        iterations: parse_decimal(iterations)?,
        salt: decode_capped(&LENIENT, salt, MAX_SALT_LEN, "salt is not base64")?,
        hash: decode_capped(&LENIENT, hash, MAX_HASH_LEN, "hash is not base64")?,
    })
}

/// Parses an unsigned decimal made only of ASCII digits.
fn parse_decimal(value: &str) -> Result<u32, PasswordError> {
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(PasswordError::Malformed(
            "parameter is not a decimal number",
        ));
    }
    // Only fails on overflow, which is out of range anyway.
    value
        .parse()
        .map_err(|_| PasswordError::BadParameters("number too large"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    fn kat(prf: Prf, password: &[u8], salt: &[u8], iterations: u32, expected_hex: &str) {
        let expected = hex(expected_hex);
        let mut out = vec![0u8; expected.len()];
        derive(prf, password, salt, iterations, &mut out);
        assert_eq!(out, expected, "{prf:?} {iterations}");
    }

    // Expected values computed with Python's hashlib.pbkdf2_hmac.
    #[test]
    fn pbkdf2_sha512_known_answers() {
        kat(
            Prf::Sha512,
            b"password",
            b"salt",
            1,
            "867f70cf1ade02cff3752599a3a53dc4af34c7a669815ae5d513554e1c8cf252\
             c02d470a285a0501bad999bfe943c08f050235d7d68b1da55e63f73b60a57fce",
        );
        kat(
            Prf::Sha512,
            b"password",
            b"salt",
            2,
            "e1d9c16aa681708a45f5c7c4e215ceb66e011a2e9f0040713f18aefdb866d53c\
             f76cab2868a39b9f7840edce4fef5a82be67335c77a6068e04112754f27ccf4e",
        );
        kat(
            Prf::Sha512,
            b"password",
            b"salt",
            4096,
            "d197b1b33db0143e018b12f3d1d1479e6cdebdcc97c5c0f87f6902e072f457b5\
             143f30602641b3d55cd335988cb36b84376060ecd532e039b742a239434af2d5",
        );
        kat(
            Prf::Sha512,
            b"passwordPASSWORDpassword",
            b"saltSALTsaltSALTsaltSALTsaltSALTsalt",
            4096,
            "8c0511f4c6e597c6ac6315d8f0362e225f3c501495ba23b868c005174dc4ee71115b59f9e60cd953",
        );
    }

    #[test]
    fn pbkdf2_sha256_known_answers() {
        kat(
            Prf::Sha256,
            b"password",
            b"salt",
            1,
            "120fb6cffcf8b32c43e7225256c4f837a86548c92ccc35480805987cb70be17b",
        );
        kat(
            Prf::Sha256,
            b"password",
            b"salt",
            4096,
            "c5e478d59288c841aa530db6845c4c8d962893a001ce4e11a4963873aa98134a",
        );
        kat(
            Prf::Sha256,
            b"passwordPASSWORDpassword",
            b"saltSALTsaltSALTsaltSALTsaltSALTsalt",
            4096,
            "348c89dbcbd32b2f32d814b8116e84cf2b17347ebc1800181c4e2a1fb8dd53e1c635518c7dac47e9",
        );
    }

    // PHC strings built in Python: salt = bytes(1..=16), base64 without padding.
    const PHC_SHA512: &str = "$pbkdf2-sha512$i=1000,l=64$AQIDBAUGBwgJCgsMDQ4PEA$6ns5yb20qFEOAZtQC5I5NTYSjJdRm0Q4pr88XAZigT2g733NANqOfPZr8uEnB+zEYNt52uGV2XybZQAOdoT+OQ";
    const PHC_SHA256: &str = "$pbkdf2-sha256$i=1000,l=32$AQIDBAUGBwgJCgsMDQ4PEA$m33AcPJmtZT4BCk55kw6VMWgiuKxPOc9CEFW8cSB5g8";
    const PHC_PASSWORD: &str = "correct horse battery staple";

    #[test]
    fn phc_from_python_verifies() {
        assert_eq!(verify_password(PHC_PASSWORD, PHC_SHA512), Ok(true));
        assert_eq!(verify_password(PHC_PASSWORD, PHC_SHA256), Ok(true));
        assert_eq!(verify_password("wrong", PHC_SHA512), Ok(false));
        assert_eq!(verify_password("wrong", PHC_SHA256), Ok(false));
    }

    #[test]
    fn chirpstack_default_admin_hash_verifies() {
        // The hash ChirpStack's own test suite uses for "admin" (l=32).
        let stored = "$pbkdf2-sha512$i=10000,l=32$InHYgzvDBYmbZnGWfkxkYg$V+L5uraQ4R+f2tHn+aWjXiso/JHaffK0EQRW5wW1x4s";
        assert_eq!(verify_password("admin", stored), Ok(true));
        assert_eq!(verify_password("Admin", stored), Ok(false));
    }

    #[test]
    fn legacy_v3_hash_verifies() {
        // Built in Python with salt = b"\xaa" * 8 + b"chirp", 500 iterations.
        let sha512 = "PBKDF2$sha512$500$qqqqqqqqqqpjaGlycA==$nrgOG62Os63jiH0FY6Fu133gVdG2k05Vu0DHGs2/rp5MmliwIZiEZ6DvbBOKSEyLxdjQApnd51L9qGJktb0t4A==";
        let sha256 =
            "PBKDF2$sha256$500$qqqqqqqqqqpjaGlycA==$9YP3G7TME0x3UjHmnLcwN0tEMwSa5JPPAKwsHUNDsPU=";
        assert_eq!(verify_password("v3-secret", sha512), Ok(true));
        assert_eq!(verify_password("v3-secret", sha256), Ok(true));
        assert_eq!(verify_password("v3-Secret", sha512), Ok(false));
        // Padding stripped still works.
        assert_eq!(
            verify_password("v3-secret", &sha256.replace('=', "")),
            Ok(true)
        );
    }

    #[test]
    fn hash_round_trip_and_rehash() {
        let hasher = PasswordHasher::new(50);
        let stored = hasher.hash("s3cret pass");
        assert!(stored.starts_with("$pbkdf2-sha512$i=50,l=64$"));
        assert_eq!(verify_password("s3cret pass", &stored), Ok(true));
        assert_eq!(verify_password("s3cret pasS", &stored), Ok(false));
        // Fresh salt every time.
        assert_ne!(stored, hasher.hash("s3cret pass"));

        assert!(!needs_rehash(&stored, &hasher));
        assert!(!needs_rehash(&stored, &PasswordHasher::new(10)));
        assert!(needs_rehash(&stored, &PasswordHasher::new(51)));
        assert!(needs_rehash(PHC_SHA256, &PasswordHasher::new(1)));
        assert!(needs_rehash(
            "PBKDF2$sha512$500$qqqqqqqqqqpjaGlycA==$9YP3G7TME0x3UjHmnLcwN0tEMwSa5JPPAKwsHUNDsPU=",
            &PasswordHasher::new(1)
        ));
        assert!(needs_rehash("garbage", &hasher));
        assert_eq!(PasswordHasher::default().iterations(), 210_000);
        assert_eq!(PasswordHasher::new(0).iterations(), 1);
    }

    #[test]
    fn malformed_hashes_rejected() {
        let salt = "AQIDBAUGBwgJCgsMDQ4PEA";
        let cases = [
            "",
            "$",
            "plaintext",
            "$pbkdf2-sha512",
            "$pbkdf2-sha512$i=1000,l=64$AQIDBAUGBwgJCgsMDQ4PEA",
            "$pbkdf2-sha512$i=1000$AQIDBAUGBwgJCgsMDQ4PEA$AAAA$extra",
            "$pbkdf2-sha512$i=abc$AQIDBAUGBwgJCgsMDQ4PEA$AAAA",
            "$pbkdf2-sha512$i=+5$AQIDBAUGBwgJCgsMDQ4PEA$AAAA",
            "$pbkdf2-sha512$l=3$AQIDBAUGBwgJCgsMDQ4PEA$AAAA",
            "$pbkdf2-sha512$i=1,i=1$AQIDBAUGBwgJCgsMDQ4PEA$AAAA",
            "$pbkdf2-sha512$i=1,x=1$AQIDBAUGBwgJCgsMDQ4PEA$AAAA",
            "$pbkdf2-sha512$i=1,l=4$AQIDBAUGBwgJCgsMDQ4PEA$AAAA",
            "$pbkdf2-sha512$i=1$AQIDBAUGBwgJCgsMDQ4PEA$AA==",
            "$pbkdf2-sha512$i=1$!!!$AAAA",
            "$pbkdf2-sha512$i=1$$AAAA",
            "PBKDF2$sha512$x$qqqq$AAAA",
            "PBKDF2$sha512$10$qqqq",
        ];
        for case in cases {
            assert!(
                matches!(verify_password("x", case), Err(PasswordError::Malformed(_))),
                "{case:?} -> {:?}",
                verify_password("x", case)
            );
        }
        assert_eq!(
            verify_password("x", &format!("$pbkdf2$i=1000,l=20${salt}$AAAA")),
            Err(PasswordError::UnsupportedAlgorithm(
                "pbkdf2 (HMAC-SHA1)".into()
            ))
        );
        assert_eq!(
            verify_password("x", &format!("$argon2id$v=19$m=1,t=1,p=1${salt}$AAAA")),
            Err(PasswordError::BadParameters("Argon2 parameters"))
        );
        assert!(matches!(
            verify_password("x", "PBKDF2$sha1$10$qqqq$AAAA"),
            Err(PasswordError::UnsupportedAlgorithm(_))
        ));
        assert_eq!(
            verify_password("x", &format!("$scrypt$ln=1,r=8,p=1${salt}$AAAA")),
            Err(PasswordError::UnsupportedAlgorithm("scrypt".into()))
        );
        // DoS guards.
        for case in [
            format!("$pbkdf2-sha512$i=0$${salt}$AAAA"),
            format!("$pbkdf2-sha512$i=0${salt}$AAAA"),
            format!("$pbkdf2-sha512$i=10000001${salt}$AAAA"),
            format!("$pbkdf2-sha512$i=99999999999${salt}$AAAA"),
            "PBKDF2$sha512$0$qqqq$AAAA".to_owned(),
            format!(
                "$pbkdf2-sha512$i=1${salt}${}",
                STANDARD_NO_PAD.encode([0u8; 257])
            ),
        ] {
            assert!(verify_password("x", &case).is_err(), "{case}");
        }
        assert!(matches!(
            verify_password("x", &format!("$pbkdf2-sha512$i=0${salt}$AAAA")),
            Err(PasswordError::BadParameters(_))
        ));
    }

    const SECRET: &str = "verysecret";

    #[test]
    fn jwt_round_trip() {
        let signer = TokenSigner::new(SECRET);
        let user = Uuid::new_v4();
        let now = 1_700_000_000;
        let token = signer.sign_user(user, now, Duration::from_secs(24 * 3600));
        let claims = signer.verify(&token, now).unwrap();
        assert_eq!(
            claims,
            Claims {
                subject: user,
                kind: TokenKind::User,
                expires_at: Some(now + 86_400),
            }
        );
        // Expires exactly at exp (no leeway).
        assert_eq!(
            signer.verify(&token, now + 86_399).map(|c| c.kind),
            Ok(TokenKind::User)
        );
        assert_eq!(
            signer.verify(&token, now + 86_400),
            Err(TokenError::Expired)
        );

        let key = Uuid::new_v4();
        let token = signer.sign_api_key(key);
        let claims = signer.verify(&token, u64::MAX).unwrap();
        assert_eq!(claims.kind, TokenKind::Key);
        assert_eq!(claims.subject, key);
        assert_eq!(claims.expires_at, None);

        // A different secret does not verify.
        assert_eq!(
            TokenSigner::new("notsosecret").verify(&token, 0),
            Err(TokenError::BadSignature)
        );
    }

    #[test]
    fn long_secret_matches_hmac_key_handling() {
        let secret = "x".repeat(200);
        let ours = TokenSigner::new(&secret).mac.finalize().into_bytes();
        let theirs = HmacSha256::new_from_slice(secret.as_bytes())
            .unwrap()
            .finalize()
            .into_bytes();
        assert_eq!(ours, theirs);
    }

    // Produced in Python with hmac/hashlib/base64/json and secret "verysecret".
    const PY_USER_TOKEN: &str = "eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiJ9.eyJhdWQiOiJjaGlycHN0YWNrIiwiZXhwIjoyMDAwMDAwMDAwLCJpc3MiOiJjaGlycHN0YWNrIiwic3ViIjoiM2YyYjhlNGMtNWQ2YS00YjdjLThlOWYtMGExYjJjM2Q0ZTVmIiwidHlwIjoidXNlciJ9.QTwXax9s16IHo3iP-hkbJRZZ37nM8kkIH2NZAlwaM6c";
    const PY_KEY_TOKEN: &str = "eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiJ9.eyJhdWQiOiJjaGlycHN0YWNrIiwiaXNzIjoiY2hpcnBzdGFjayIsInN1YiI6IjBiNWUxYTdjLTJmNGQtNGM2ZS05YThiLTdkNmM1YjRhM2YyZSIsInR5cCI6ImtleSJ9.wsyRy87Qcd9DsUGQ7_INcWpCirmDrCW4IR20VNoUdVY";

    #[test]
    fn python_tokens_verify() {
        let signer = TokenSigner::new(SECRET);
        assert_eq!(
            signer.verify(PY_USER_TOKEN, 1_700_000_000),
            Ok(Claims {
                subject: Uuid::parse_str("3f2b8e4c-5d6a-4b7c-8e9f-0a1b2c3d4e5f").unwrap(),
                kind: TokenKind::User,
                expires_at: Some(2_000_000_000),
            })
        );
        assert_eq!(
            signer.verify(PY_USER_TOKEN, 2_000_000_000),
            Err(TokenError::Expired)
        );
        assert_eq!(
            signer.verify(PY_KEY_TOKEN, 1_700_000_000),
            Ok(Claims {
                subject: Uuid::parse_str("0b5e1a7c-2f4d-4c6e-9a8b-7d6c5b4a3f2e").unwrap(),
                kind: TokenKind::Key,
                expires_at: None,
            })
        );
        // Our signer produces byte-identical key tokens (same field order).
        let key = Uuid::parse_str("0b5e1a7c-2f4d-4c6e-9a8b-7d6c5b4a3f2e").unwrap();
        assert_eq!(signer.sign_api_key(key), PY_KEY_TOKEN);
    }

    /// Builds a token with arbitrary header and claims, signed with SECRET.
    fn forge(header: &str, claims: &str) -> String {
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header),
            URL_SAFE_NO_PAD.encode(claims)
        );
        let mut mac = HmacSha256::new_from_slice(SECRET.as_bytes()).unwrap();
        mac.update(input.as_bytes());
        format!(
            "{input}.{}",
            URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
        )
    }

    const HS256: &str = r#"{"typ":"JWT","alg":"HS256"}"#;
    const SUB: &str = "3f2b8e4c-5d6a-4b7c-8e9f-0a1b2c3d4e5f";

    #[test]
    fn bad_tokens_rejected() {
        let signer = TokenSigner::new(SECRET);
        let now = 1_700_000_000;
        let check = |token: &str| signer.verify(token, now);

        // Tampered signature and payload.
        let mut tampered = PY_USER_TOKEN.to_owned();
        let last = tampered.pop().unwrap();
        tampered.push(if last == 'A' { 'B' } else { 'A' });
        assert!(matches!(
            check(&tampered),
            Err(TokenError::BadSignature | TokenError::Malformed(_))
        ));
        let mut parts: Vec<&str> = PY_USER_TOKEN.split('.').collect();
        let sig = parts[2].replace('Q', "R");
        parts[2] = &sig;
        assert_eq!(check(&parts.join(".")), Err(TokenError::BadSignature));
        let other_payload = URL_SAFE_NO_PAD.encode(format!(
            r#"{{"aud":"chirpstack","sub":"{SUB}","typ":"user"}}"#
        ));
        let spliced = format!(
            "{}.{}.{}",
            parts[0],
            other_payload,
            PY_USER_TOKEN.rsplit('.').next().unwrap()
        );
        assert_eq!(check(&spliced), Err(TokenError::BadSignature));

        // alg none (unsigned) and other algorithms.
        let none = format!(
            "{}.{}.",
            URL_SAFE_NO_PAD.encode(r#"{"typ":"JWT","alg":"none"}"#),
            URL_SAFE_NO_PAD.encode(format!(
                r#"{{"aud":"chirpstack","sub":"{SUB}","typ":"user"}}"#
            ))
        );
        assert_eq!(
            check(&none),
            Err(TokenError::UnsupportedAlgorithm("none".into()))
        );
        let good_claims = format!(r#"{{"aud":"chirpstack","sub":"{SUB}","typ":"user"}}"#);
        assert_eq!(
            check(&forge(r#"{"alg":"HS512"}"#, &good_claims)),
            Err(TokenError::UnsupportedAlgorithm("HS512".into()))
        );
        assert!(matches!(
            check(&forge(r#"{"typ":"JWT"}"#, &good_claims)),
            Err(TokenError::Malformed(_))
        ));
        assert!(check(&forge(HS256, &good_claims)).is_ok());

        let cases: &[(String, TokenError)] = &[
            (
                format!(r#"{{"aud":"other","sub":"{SUB}","typ":"user"}}"#),
                TokenError::WrongAudience,
            ),
            (
                format!(r#"{{"sub":"{SUB}","typ":"user"}}"#),
                TokenError::WrongAudience,
            ),
            (
                format!(r#"{{"aud":["x"],"sub":"{SUB}","typ":"user"}}"#),
                TokenError::WrongAudience,
            ),
            (
                format!(r#"{{"aud":"chirpstack","exp":{now},"sub":"{SUB}","typ":"user"}}"#),
                TokenError::Expired,
            ),
            (
                format!(r#"{{"aud":"chirpstack","exp":5,"sub":"{SUB}","typ":"key"}}"#),
                TokenError::Expired,
            ),
            (
                format!(
                    r#"{{"aud":"chirpstack","nbf":{},"sub":"{SUB}","typ":"user"}}"#,
                    now + 1
                ),
                TokenError::NotYetValid,
            ),
            (
                format!(r#"{{"aud":"chirpstack","sub":"{SUB}","typ":"admin"}}"#),
                TokenError::UnknownType("admin".into()),
            ),
            (
                r#"{"aud":"chirpstack","sub":"not-a-uuid","typ":"user"}"#.to_owned(),
                TokenError::BadSubject,
            ),
            (
                r#"{"aud":"chirpstack","sub":42,"typ":"user"}"#.to_owned(),
                TokenError::BadSubject,
            ),
            (
                r#"{"aud":"chirpstack","typ":"user"}"#.to_owned(),
                TokenError::BadSubject,
            ),
            (
                format!(r#"{{"aud":"chirpstack","iss":7,"sub":"{SUB}","typ":"user"}}"#),
                TokenError::Malformed("iss is not a string"),
            ),
            (
                format!(r#"{{"aud":"chirpstack","exp":"soon","sub":"{SUB}","typ":"user"}}"#),
                TokenError::Malformed("exp is not a NumericDate"),
            ),
        ];
        for (claims, expected) in cases {
            assert_eq!(
                &check(&forge(HS256, claims)).unwrap_err(),
                expected,
                "{claims}"
            );
        }

        // Accepted variants: aud array, nbf == now, iss absent.
        let ok =
            format!(r#"{{"aud":["other","chirpstack"],"nbf":{now},"sub":"{SUB}","typ":"key"}}"#);
        assert_eq!(
            check(&forge(HS256, &ok)).map(|c| c.kind),
            Ok(TokenKind::Key)
        );

        // Structural problems.
        for bad in ["", "a", "a.b", "a.b.c.d", "...", "!!.!!.!!"] {
            assert!(matches!(check(bad), Err(TokenError::Malformed(_))), "{bad}");
        }
        assert!(matches!(
            check(&"a".repeat(MAX_TOKEN_LEN + 1)),
            Err(TokenError::Malformed(_))
        ));
    }

    #[test]
    fn bearer_header_parsing() {
        assert_eq!(bearer_token("Bearer abc.def.ghi"), Some("abc.def.ghi"));
        assert_eq!(bearer_token("  bEaReR   tok  "), Some("tok"));
        assert_eq!(bearer_token("bearer\ttok"), Some("tok"));
        assert_eq!(bearer_token("Bearer"), None);
        assert_eq!(bearer_token("Bearer   "), None);
        assert_eq!(bearer_token("Basic abc"), None);
        assert_eq!(bearer_token("Bearertok"), None);
        assert_eq!(bearer_token("Bearer a b"), None);
        assert_eq!(bearer_token(""), None);
    }

    /// xorshift64*: a tiny deterministic generator for the fuzz test.
    struct XorShift(u64);

    impl XorShift {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
        }

        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
    }

    #[test]
    fn random_inputs_do_not_panic() {
        let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
        let signer = TokenSigner::new(SECRET);
        let alphabet = b"AZaz09-_+/=.$,:{}\"il\x00\xff pbkdf2-sha512PBKDF2";
        let seeds = [
            PY_USER_TOKEN,
            PY_KEY_TOKEN,
            PHC_SHA256,
            "PBKDF2$sha256$500$qqqq$AAAA",
        ];
        for round in 0..600 {
            let bytes: Vec<u8> = match round % 3 {
                // Raw random bytes.
                0 => (0..rng.below(200)).map(|_| rng.next() as u8).collect(),
                // Random strings over a format-relevant alphabet.
                1 => (0..rng.below(120))
                    .map(|_| alphabet[rng.below(alphabet.len())])
                    .collect(),
                // Valid inputs with a few bytes replaced or truncated.
                _ => {
                    let mut v = seeds[rng.below(seeds.len())].as_bytes().to_vec();
                    for _ in 0..1 + rng.below(4) {
                        let i = rng.below(v.len());
                        v[i] = alphabet[rng.below(alphabet.len())];
                    }
                    v.truncate(rng.below(v.len() + 1));
                    v
                }
            };
            let input = String::from_utf8_lossy(&bytes);
            let _ = signer.verify(&input, rng.next());
            let _ = verify_password("pw", &input);
            let _ = needs_rehash(&input, &PasswordHasher::new(1));
            let _ = bearer_token(&input);
        }
    }

    /// Argon2 hashes made by argon2-cffi (the reference C implementation):
    /// verified, never written (a login re-hashes them with PBKDF2).
    #[test]
    fn argon2_hashes_of_other_systems_verify() {
        let made_elsewhere = [
            (
                "a long password",
                "$argon2id$v=19$m=64,t=2,p=1$EZtC/RuRu+u/dS2SKPw5Jw$4dgAJYH41TiMJq8mbo8NswJL5ZhBTFSd3K2VFmu+BPo",
            ),
            (
                "a long password",
                "$argon2i$v=19$m=32,t=1,p=2$c29tZXNhbHRzb21lc2FsdA$ZO6zaHvenRfRLc8UOKMaffYk2RA/a7ke",
            ),
            (
                "x",
                "$argon2d$v=19$m=16,t=3,p=1$MTIzNDU2Nzg$1xTy0/YrAEqGynSE7SM1sQ",
            ),
        ];
        for (password, stored) in made_elsewhere {
            assert_eq!(verify_password(password, stored), Ok(true), "{stored}");
            assert_eq!(verify_password("wrong", stored), Ok(false), "{stored}");
            assert!(needs_rehash(stored, &PasswordHasher::default()));
        }
        // Parameters out of range or malformed: errors, never a panic or a
        // huge allocation.
        let salt = "MTIzNDU2Nzg";
        for (case, bad) in [
            (
                format!("$argon2id$v=19$m=999999999,t=1,p=1${salt}$AAAA"),
                true,
            ),
            (format!("$argon2id$v=19$m=64,t=17,p=1${salt}$AAAA"), true),
            (format!("$argon2id$v=18$m=64,t=1,p=1${salt}$AAAA"), true),
            (format!("$argon2id$v=19$m=64,t=1${salt}$AAAA"), false),
            (
                format!("$argon2id$v=19$m=64,t=1,p=1,m=2${salt}$AAAA"),
                false,
            ),
            (
                format!("$argon2id$v=19$m=64,t=1,p=1,x=1${salt}$AAAA"),
                false,
            ),
            ("$argon2id$v=19$m=64,t=1,p=1".to_owned(), false),
        ] {
            let result = verify_password("x", &case);
            if bad {
                assert!(
                    matches!(result, Err(PasswordError::BadParameters(_))),
                    "{case}: {result:?}"
                );
            } else {
                assert!(
                    matches!(result, Err(PasswordError::Malformed(_))),
                    "{case}: {result:?}"
                );
            }
        }
        // Without the version segment: version 0x10.
        assert!(
            verify_password(
                "x",
                &format!("$argon2d$m=16,t=3,p=1${salt}$1xTy0/YrAEqGynSE7SM1sQ")
            )
            .is_ok()
        );
    }
}

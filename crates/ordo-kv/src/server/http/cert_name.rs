//! The subject common name of an X.509 certificate (DER), read with a
//! minimal, bounded DER walk: the handshake has already verified the
//! certificate, so this only finds the name in it, and answers `None` for
//! anything it does not expect (never panics, never allocates more than
//! the name).
//!
//! ```text
//! Certificate ::= SEQUENCE { tbsCertificate SEQUENCE {
//!     [0] version OPTIONAL, serialNumber INTEGER, signature SEQUENCE,
//!     issuer Name, validity SEQUENCE, subject Name, ... }, ... }
//! Name ::= SEQUENCE OF SET OF SEQUENCE { type OID, value ANY }
//! ```

/// Longest user name taken from a certificate, in bytes.
pub const MAX_USER_NAME_BYTES: usize = 256;

const SEQUENCE: u8 = 0x30;
const SET: u8 = 0x31;
const OID: u8 = 0x06;
const VERSION: u8 = 0xa0;
/// 2.5.4.3, id-at-commonName.
const COMMON_NAME_OID: &[u8] = &[0x55, 0x04, 0x03];
/// UTF8String, PrintableString, IA5String: the string types a CN is written in.
const STRING_TAGS: &[u8] = &[0x0c, 0x13, 0x16];

/// The certificate's subject common name, if it has one that is a short,
/// printable string.
pub fn subject_common_name(der: &[u8]) -> Option<String> {
    let (certificate, _) = expect(der, SEQUENCE)?;
    let (mut tbs, _) = expect(certificate, SEQUENCE)?;
    if tbs.first() == Some(&VERSION) {
        tbs = element(tbs)?.2;
    }
    // serialNumber, signature, issuer, validity.
    for _ in 0..4 {
        tbs = element(tbs)?.2;
    }
    let (mut subject, _) = expect(tbs, SEQUENCE)?;
    while !subject.is_empty() {
        let (set, rest) = expect(subject, SET)?;
        subject = rest;
        let (attribute, _) = expect(set, SEQUENCE)?;
        let (oid, value) = expect(attribute, OID)?;
        if oid != COMMON_NAME_OID {
            continue;
        }
        let (tag, name, _) = element(value)?;
        if !STRING_TAGS.contains(&tag) || name.is_empty() || name.len() > MAX_USER_NAME_BYTES {
            return None;
        }
        let name = std::str::from_utf8(name).ok()?;
        return (!name.contains(char::is_control)).then(|| name.to_owned());
    }
    None
}

/// The content of the element at the start of `input` if its tag is
/// `tag`, and what follows it.
fn expect(input: &[u8], tag: u8) -> Option<(&[u8], &[u8])> {
    let (found, content, rest) = element(input)?;
    (found == tag).then_some((content, rest))
}

/// The tag, content and rest of the element at the start of `input`
/// (definite lengths of at most 4 bytes).
fn element(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, input) = input.split_first()?;
    let (&first, mut input) = input.split_first()?;
    let length = if first < 0x80 {
        usize::from(first)
    } else {
        let count = usize::from(first & 0x7f);
        if count == 0 || count > 4 {
            return None;
        }
        let (bytes, rest) = input.split_at_checked(count)?;
        input = rest;
        bytes
            .iter()
            .fold(0usize, |length, byte| (length << 8) | usize::from(*byte))
    };
    let (content, rest) = input.split_at_checked(length)?;
    Some((tag, content, rest))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
        let mut out = vec![tag];
        if content.len() < 0x80 {
            out.push(content.len() as u8);
        } else {
            out.push(0x82);
            out.extend_from_slice(&(content.len() as u16).to_be_bytes());
        }
        out.extend_from_slice(content);
        out
    }

    fn name(parts: &[(&[u8], u8, &[u8])]) -> Vec<u8> {
        let mut sets = Vec::new();
        for (oid, tag, value) in parts {
            let attribute = [tlv(OID, oid), tlv(*tag, value)].concat();
            sets.extend(tlv(SET, &tlv(SEQUENCE, &attribute)));
        }
        tlv(SEQUENCE, &sets)
    }

    fn certificate(subject: &[u8]) -> Vec<u8> {
        let tbs = [
            tlv(VERSION, &tlv(0x02, &[2])),
            tlv(0x02, &[1, 2, 3]),
            tlv(SEQUENCE, &[]),
            name(&[(COMMON_NAME_OID, 0x0c, b"issuing ca")]),
            tlv(SEQUENCE, &[0x17, 0]),
            subject.to_vec(),
            tlv(SEQUENCE, &[0; 200]),
        ]
        .concat();
        tlv(
            SEQUENCE,
            &[tlv(SEQUENCE, &tbs), tlv(SEQUENCE, &[])].concat(),
        )
    }

    #[test]
    fn finds_the_subjects_common_name_not_the_issuers() {
        let organisation: &[u8] = &[0x55, 0x04, 0x0a];
        let subject = name(&[
            (organisation, 0x0c, b"acme"),
            (COMMON_NAME_OID, 0x13, b"alice"),
        ]);
        assert_eq!(
            subject_common_name(&certificate(&subject)),
            Some("alice".into())
        );
    }

    #[test]
    fn anything_unexpected_is_no_name_and_never_a_panic() {
        let control = name(&[(COMMON_NAME_OID, 0x0c, b"al\nice")]);
        let long = name(&[(COMMON_NAME_OID, 0x0c, &[b'a'; MAX_USER_NAME_BYTES + 1])]);
        let binary = name(&[(COMMON_NAME_OID, 0x04, b"alice")]);
        let none = name(&[]);
        for subject in [control, long, binary, none] {
            assert_eq!(subject_common_name(&certificate(&subject)), None);
        }
        let good = certificate(&name(&[(COMMON_NAME_OID, 0x0c, b"alice")]));
        for cut in 0..good.len() {
            let _ = subject_common_name(&good[..cut]);
        }
        assert_eq!(
            subject_common_name(&[0x30, 0x84, 0xff, 0xff, 0xff, 0xff]),
            None
        );
    }
}

//! Client-to-server masking (RFC 6455 §5.3).

/// XORs `data` with `key`, as if `data` started `offset` bytes into the masked payload.
///
/// The offset lets a payload be unmasked piecewise as it arrives. Works a word at a time; the
/// compiler turns the loop into vector instructions where the target has them.
pub fn apply_mask(data: &mut [u8], key: [u8; 4], offset: usize) {
    // Inlined, the unused ASCII check compiles away.
    apply_mask_ascii(data, key, offset);
}

/// [`apply_mask`], also telling whether every unmasked byte is ASCII: text is checked in the
/// same pass as it is unmasked, and most text needs no further UTF-8 validation.
#[inline]
pub fn apply_mask_ascii(data: &mut [u8], key: [u8; 4], offset: usize) -> bool {
    const HIGH_BITS: u64 = 0x8080_8080_8080_8080;
    let rotated = key_at(key, offset);
    let word = u64::from_ne_bytes([
        rotated[0], rotated[1], rotated[2], rotated[3], rotated[0], rotated[1], rotated[2], rotated[3],
    ]);
    let mut seen = 0u64;
    let mut chunks = data.chunks_exact_mut(8);
    for chunk in &mut chunks {
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(chunk);
        let unmasked = u64::from_ne_bytes(bytes) ^ word;
        seen |= unmasked;
        chunk.copy_from_slice(&unmasked.to_ne_bytes());
    }
    for (i, byte) in chunks.into_remainder().iter_mut().enumerate() {
        *byte ^= rotated[i & 3];
        seen |= u64::from(*byte);
    }
    seen & HIGH_BITS == 0
}

fn key_at(key: [u8; 4], offset: usize) -> [u8; 4] {
    let s = offset & 3;
    [key[s], key[(s + 1) & 3], key[(s + 2) & 3], key[(s + 3) & 3]]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(data: &mut [u8], key: [u8; 4], offset: usize) {
        for (i, b) in data.iter_mut().enumerate() {
            *b ^= key[(i + offset) % 4];
        }
    }

    #[test]
    fn matches_bytewise_masking_for_every_length_and_offset() {
        let key = [0x37, 0xfa, 0x21, 0x3d];
        let src: Vec<u8> = (0..=70u8).collect();
        for len in 0..src.len() {
            for offset in 0..8 {
                let mut fast = src[..len].to_vec();
                let mut slow = fast.clone();
                apply_mask(&mut fast, key, offset);
                naive(&mut slow, key, offset);
                assert_eq!(fast, slow, "len {len} offset {offset}");
            }
        }
    }

    #[test]
    fn the_ascii_variant_unmasks_alike_and_spots_any_high_bit() {
        let key = [0x37, 0xfa, 0x21, 0x3d];
        let text: Vec<u8> = (0..70u8).map(|i| b' ' + i).collect();
        for len in 0..text.len() {
            for offset in 0..8 {
                let mut masked = text[..len].to_vec();
                naive(&mut masked, key, offset);
                let mut unmasked = masked.clone();
                assert!(apply_mask_ascii(&mut unmasked, key, offset), "len {len} offset {offset}");
                assert_eq!(unmasked, &text[..len]);
                // A byte with its high bit set, at every position.
                for at in 0..len {
                    let mut plain = text[..len].to_vec();
                    plain[at] = 0xc3;
                    let mut data = plain.clone();
                    naive(&mut data, key, offset);
                    assert!(!apply_mask_ascii(&mut data, key, offset), "len {len} offset {offset} at {at}");
                    assert_eq!(data, plain);
                }
            }
        }
    }

    #[test]
    fn piecewise_unmasking_equals_whole() {
        let key = [1, 2, 3, 4];
        let mut whole: Vec<u8> = (0..100).collect();
        let mut parts = whole.clone();
        apply_mask(&mut whole, key, 0);
        let (a, b) = parts.split_at_mut(37);
        apply_mask(a, key, 0);
        apply_mask(b, key, 37);
        assert_eq!(whole, parts);
    }
}

use super::*;

fn agree(values: &[&str]) -> Option<Agreement> {
    negotiate(values.iter().copied(), &DeflateConfig::default())
}

#[test]
fn plain_offer_is_accepted_with_defaults() {
    let agreement = agree(&["permessage-deflate"]).unwrap();
    assert_eq!(agreement.response, "permessage-deflate");
    assert_eq!(agreement.params.server_window_bits, 15);
    assert_eq!(agreement.params.client_window_bits, 15);
    assert!(!agreement.params.server_no_context_takeover);
}

#[test]
fn browser_offer_with_client_max_window_bits() {
    // What Chromium and Firefox send.
    let agreement = agree(&["permessage-deflate; client_max_window_bits"]).unwrap();
    assert_eq!(agreement.response, "permessage-deflate");
    let config = DeflateConfig { client_max_window_bits: 10, ..DeflateConfig::default() };
    let agreement = negotiate(["permessage-deflate; client_max_window_bits"], &config).unwrap();
    assert_eq!(agreement.response, "permessage-deflate; client_max_window_bits=10");
    assert_eq!(agreement.params.client_window_bits, 10);
}

#[test]
fn parameters_are_echoed_and_honoured() {
    let agreement = agree(&["permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=10; client_max_window_bits=12"]).unwrap();
    assert_eq!(
        agreement.response,
        "permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=10; client_max_window_bits=12"
    );
    assert_eq!(
        agreement.params,
        DeflateParams {
            server_no_context_takeover: true,
            client_no_context_takeover: true,
            server_window_bits: 10,
            client_window_bits: 12,
            level: 1,
            threshold: 256,
        }
    );
}

#[test]
fn server_policy_is_added_even_when_not_offered() {
    let config = DeflateConfig {
        server_no_context_takeover: true,
        client_no_context_takeover: true,
        ..DeflateConfig::default()
    };
    let agreement = negotiate(["permessage-deflate"], &config).unwrap();
    assert_eq!(
        agreement.response,
        "permessage-deflate; server_no_context_takeover; client_no_context_takeover"
    );
}

#[test]
fn invalid_offers_are_declined_and_the_next_one_taken() {
    for bad in [
        "permessage-deflate; server_max_window_bits",
        "permessage-deflate; server_max_window_bits=16",
        "permessage-deflate; server_max_window_bits=09",
        "permessage-deflate; client_max_window_bits=7",
        "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
        "permessage-deflate; server_no_context_takeover=1",
        "permessage-deflate; mystery",
        "x-webkit-deflate-frame",
    ] {
        assert_eq!(agree(&[bad]), None, "{bad}");
    }
    // A window of 2^8 cannot be honoured; the fallback offer in the same header is taken.
    let agreement = agree(&[
        "permessage-deflate; server_max_window_bits=8, permessage-deflate; server_no_context_takeover",
    ])
    .unwrap();
    assert_eq!(agreement.response, "permessage-deflate; server_no_context_takeover");
    // Offers may come in several header lines, and values may be quoted.
    let agreement = agree(&["foo", "permessage-deflate; server_max_window_bits=\"12\""]).unwrap();
    assert_eq!(agreement.params.server_window_bits, 12);
}

fn params(server_nct: bool, client_nct: bool, server_bits: u8) -> DeflateParams {
    DeflateParams {
        server_no_context_takeover: server_nct,
        client_no_context_takeover: client_nct,
        server_window_bits: server_bits,
        client_window_bits: server_bits,
        level: 6,
        threshold: 0,
    }
}

fn sample(i: usize) -> Vec<u8> {
    format!("{{\"event\":\"tick\",\"seq\":{i},\"price\":{}.{:02}}}", 100 + i % 7, i % 100)
        .repeat(1 + i % 5)
        .into_bytes()
}

#[test]
fn round_trips_with_and_without_context_takeover() {
    for (server_nct, bits) in [(false, 15), (true, 15), (false, 9), (true, 12)] {
        let p = params(server_nct, server_nct, bits);
        let mut deflater = Deflater::new(&p);
        let mut inflater = Inflater::new(&p);
        let mut sizes = Vec::new();
        for i in 0..50 {
            let message = sample(i);
            let payload = deflater.compress(&message);
            sizes.push(payload.len());
            let mut out = Vec::new();
            inflater.inflate(&payload, &mut out, 1 << 20).unwrap();
            inflater.finish_message(&mut out, 1 << 20).unwrap();
            assert_eq!(out, message, "message {i} with {p:?}");
        }
        if !server_nct {
            // With context, a repeated message compresses to almost nothing.
            assert!(sizes[49] < sizes[0], "{sizes:?}");
        }
    }
}

#[test]
fn empty_message_round_trips() {
    let p = params(false, false, 15);
    let payload = Deflater::new(&p).compress(b"");
    let mut out = Vec::new();
    let mut inflater = Inflater::new(&p);
    inflater.inflate(&payload, &mut out, 10).unwrap();
    inflater.finish_message(&mut out, 10).unwrap();
    assert!(out.is_empty());
}

#[test]
fn compressed_payload_split_at_every_boundary_inflates_the_same() {
    let p = params(true, true, 15);
    let message = sample(3).repeat(3);
    let payload = Deflater::new(&p).compress(&message);
    for cut in 0..=payload.len() {
        let mut inflater = Inflater::new(&p);
        let mut out = Vec::new();
        inflater.inflate(&payload[..cut], &mut out, 1 << 20).unwrap();
        inflater.inflate(&payload[cut..], &mut out, 1 << 20).unwrap();
        inflater.finish_message(&mut out, 1 << 20).unwrap();
        assert_eq!(out, message, "cut {cut}");
    }
}

#[test]
fn a_bomb_stops_at_the_limit_not_after() {
    let p = params(true, true, 15);
    let bomb = Deflater::new(&p).compress(&vec![0u8; 16 << 20]);
    assert!(bomb.len() < 32 * 1024, "16 MiB of zeros compress to {} bytes", bomb.len());
    let limit = 1 << 20;
    let mut out = Vec::new();
    let err = Inflater::new(&p).inflate(&bomb, &mut out, limit).unwrap_err();
    assert_eq!(err, InflateError::TooBig { limit });
    assert!(out.len() <= limit + 1 && out.capacity() <= limit + 1, "held {} bytes", out.capacity());
}

#[test]
fn corrupt_data_is_an_error() {
    let p = params(false, false, 15);
    let mut out = Vec::new();
    // Block type 3 is reserved in DEFLATE.
    assert_eq!(Inflater::new(&p).inflate(&[0xff, 0xff, 0xff], &mut out, 1 << 20), Err(InflateError::Corrupt));
}

#[test]
fn compress_once_matches_a_fresh_compressor() {
    let p = params(true, false, 15);
    for i in 0..5 {
        let message = sample(i);
        assert_eq!(Deflater::compress_once(&p, &message), Deflater::new(&p).compress(&message));
    }
}

#[test]
fn an_empty_message_after_another_round_trips() {
    // With context takeover, flushing no new input after a sync flush yields no output at all.
    let p = params(false, false, 15);
    let mut deflater = Deflater::new(&p);
    let mut inflater = Inflater::new(&p);
    for message in [&b"hi"[..], b"", b"", b"again", b""] {
        let payload = deflater.compress(message);
        let mut out = Vec::new();
        inflater.inflate(&payload, &mut out, 1 << 20).unwrap();
        inflater.finish_message(&mut out, 1 << 20).unwrap();
        assert_eq!(out, message);
    }
}

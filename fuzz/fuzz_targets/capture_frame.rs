//! `collector::capture::udp_in_frame` on arbitrary frames under every link type it knows and
//! arbitrary others. The first byte picks the link type; the rest is the frame.
#![no_main]

use collector::capture::{linktype, udp_in_frame};
use libfuzzer_sys::fuzz_target;

const KNOWN: [u32; 9] = [
    linktype::NULL,
    linktype::ETHERNET,
    linktype::RAW_ALT,
    linktype::RAW,
    linktype::LOOP,
    linktype::LINUX_SLL,
    linktype::IPV4,
    linktype::IPV6,
    linktype::LINUX_SLL2,
];

fuzz_target!(|data: &[u8]| {
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    let (lt, frame) = match KNOWN.get(usize::from(sel)) {
        Some(&lt) => (lt, rest),
        None if rest.len() >= 4 => (
            u32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]),
            &rest[4..],
        ),
        None => return,
    };
    if let Ok(d) = udp_in_frame(lt, frame) {
        // The payload is a view into the frame, never past its end.
        let f = frame.as_ptr_range();
        let p = d.payload.as_ptr_range();
        assert!(
            f.start <= p.start && p.end <= f.end,
            "payload outside the frame"
        );
        assert!(
            d.payload.len() + 8 <= frame.len(),
            "no room for a UDP header"
        );
        assert_eq!(d.src.is_ipv4(), d.dst.is_ipv4(), "mixed address families");
        assert!(KNOWN.contains(&lt), "unknown link type {lt} accepted");
    }
});

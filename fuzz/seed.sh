#!/bin/sh
# Seed the fuzz corpora from the real captures in the shared corpus.
#
#   fuzz/seed.sh [SHARED_DIR]     (default: ../shared beside the repo, or $SLUICE_SHARED_DIR)
#
# decode_v5 / decode_v9 / decode_ipfix / decode_sflow get runs of consecutive datagrams from one
# capture in the framing of fuzz/src/lib.rs ([control u8][len u16 BE][payload]); runs start at the
# first datagram (so templates come first) and at regular steps through the file. sFlow datagrams
# (a 32-bit version 5: 0,0,0,5) go to decode_sflow. capture_frame gets whole
# Ethernet frames, prefixed by the selector byte of LINKTYPE_ETHERNET (1).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
shared=${1:-${SLUICE_SHARED_DIR:-$here/../../shared}}
exec python3 - "$shared/corpus" "$here/corpus" <<'PY'
import hashlib, os, struct, sys

src, dst = sys.argv[1], sys.argv[2]

def frames(path):
    with open(path, "rb") as f:
        data = f.read()
    magic = data[:4]
    if magic == b"\x0a\x0d\x0d\x0a":
        yield from pcapng_frames(path, data)
        return
    if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"):
        e = "<"
    elif magic in (b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d"):
        e = ">"
    else:
        raise SystemExit(f"{path}: not a classic pcap")
    (linktype,) = struct.unpack(e + "I", data[20:24])
    assert linktype == 1, f"{path}: link type {linktype}, expected Ethernet"
    at = 24
    while at + 16 <= len(data):
        _, _, incl, _ = struct.unpack(e + "IIII", data[at:at + 16])
        yield data[at + 16:at + 16 + incl]
        at += 16 + incl

def pcapng_frames(path, data):
    e = "<" if data[8:12] == b"\x4d\x3c\x2b\x1a" else ">"
    linktypes, at = [], 0
    while at + 12 <= len(data):
        btype, blen = struct.unpack(e + "II", data[at:at + 8])
        if blen < 12:
            break
        body = data[at + 8:at + blen - 4]
        if btype == 0x0A0D0D0A:
            e = "<" if body[:4] == b"\x4d\x3c\x2b\x1a" else ">"
            linktypes = []
        elif btype == 1:
            linktypes.append(struct.unpack(e + "H", body[:2])[0])
        elif btype == 6:
            iface, _, _, cap, _ = struct.unpack(e + "IIIII", body[:20])
            assert linktypes[iface] == 1, f"{path}: link type {linktypes[iface]}, expected Ethernet"
            yield body[20:20 + cap]
        elif btype == 3:
            assert linktypes[0] == 1
            yield body[4:]
        at += blen

def udp_payload(frame):
    at = 12
    et = struct.unpack(">H", frame[at:at + 2])[0]
    at += 2
    while et in (0x8100, 0x88A8):
        et = struct.unpack(">H", frame[at + 2:at + 4])[0]
        at += 4
    if et == 0x0800:
        ihl = (frame[at] & 15) * 4
        if frame[at + 9] != 17:
            return None, None
        udp = at + ihl
        src_ip = frame[at + 12:at + 16]
    elif et == 0x86DD:
        if frame[at + 6] != 17:
            return None, None
        udp = at + 40
        src_ip = frame[at + 8:at + 24]
    else:
        return None, None
    (ulen,) = struct.unpack(">H", frame[udp + 4:udp + 6])
    return src_ip, frame[udp + 8:udp + ulen]

def write(target, blob):
    d = os.path.join(dst, target)
    os.makedirs(d, exist_ok=True)
    name = hashlib.sha1(blob).hexdigest()
    with open(os.path.join(d, name), "wb") as f:
        f.write(blob)

TARGET = {5: "decode_v5", 9: "decode_v9", 10: "decode_ipfix", "sflow": "decode_sflow"}
RUN, STARTS = 4, 12
counts = {}
for sub in ("synthetic-a", os.path.join("vendor", "akvorado"), os.path.join("vendor", "akvorado-sflow")):
    folder = os.path.join(src, sub)
    for name in sorted(os.listdir(folder)):
        if not name.endswith(".pcap"):
            continue
        dgrams, raw = [], []
        for fr in frames(os.path.join(folder, name)):
            ip, payload = udp_payload(fr)
            if payload is None or len(payload) < 2:
                continue
            dgrams.append((ip, payload))
            raw.append(fr)
        if not dgrams:
            continue
        version = struct.unpack(">H", dgrams[0][1][:2])[0]
        if dgrams[0][1][:4] == b"\x00\x00\x00\x05":
            version = "sflow"
        target = TARGET.get(version)
        if target is None:
            continue
        addrs = {}
        step = max(1, len(dgrams) // STARTS)
        for start in range(0, len(dgrams), step):
            blob = b""
            for ip, payload in dgrams[start:start + RUN]:
                sel = addrs.setdefault(ip, len(addrs) % 4)
                blob += bytes([sel]) + struct.pack(">H", len(payload)) + payload
            write(target, blob)
            counts[target] = counts.get(target, 0) + 1
        for fr in raw[::step][:STARTS]:
            write("capture_frame", b"\x01" + fr)
            counts["capture_frame"] = counts.get("capture_frame", 0) + 1
for t, n in sorted(counts.items()):
    print(f"{t}: {n} seeds in {os.path.join(dst, t)}")
PY

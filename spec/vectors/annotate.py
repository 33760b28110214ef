#!/usr/bin/env python3
"""Prints an annotated hex dump of a QTF v1.x file (used for spec/FORMAT.md).

Usage: annotate.py FILE. Walks the header, data, metadata and directory
exactly as the spec describes them; it trusts the file (vectors only)."""
import struct
import sys

TYPES = ["u8", "i8", "u16", "i16", "u32", "i32", "f32", "bool", "string", "array",
         "u64", "i64", "f64", "blob"]
FIXED = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<B",
         10: "<Q", 11: "<q", 12: "<d"}


def main(path):
    b = open(path, "rb").read()
    out = []

    def emit(off, n, note):
        chunk = b[off:off + n]
        for i in range(0, max(len(chunk), 1), 16):
            part = chunk[i:i + 16]
            out.append("%04x  %-47s  %s" % (off + i, " ".join("%02x" % c for c in part),
                                            note if i == 0 else ""))
        return off + n

    u16 = lambda o: struct.unpack_from("<H", b, o)[0]
    u32 = lambda o: struct.unpack_from("<I", b, o)[0]
    u64 = lambda o: struct.unpack_from("<Q", b, o)[0]
    o = emit(0, 8, "magic")
    o = emit(o, 2, "major = %d" % u16(8))
    o = emit(o, 2, "minor = %d" % u16(10))
    o = emit(o, 4, "byte-order marker 0x%08x" % u32(12))
    o = emit(o, 4, "header size = %d" % u32(16))
    o = emit(o, 4, "flags = 0x%x" % u32(20))
    o = emit(o, 4, "alignment = %d" % u32(24))
    o = emit(o, 4, "checksum algorithm = %d (XXH3-64)" % u32(28))
    names = ["tensor count", "metadata count", "data offset", "data size",
             "metadata offset", "metadata size", "directory offset", "directory size"]
    vals = [u64(32 + 8 * i) for i in range(8)]
    for i, nm in enumerate(names):
        o = emit(o, 8, "%s = %d" % (nm, vals[i]))
    o = emit(o, 24, "reserved (zero)")
    o = emit(o, 8, "header checksum (XXH3-64, big-endian)")
    nt, nm_, doff, dsize, moff, msize, diroff, dirsize = vals
    if doff > 128:
        o = emit(128, doff - 128, "padding to the data offset")
    parts = []
    # directory first (to know where parts are), printed later
    p = diroff
    dir_lines = []
    for t in range(nt):
        recs = []
        ln = u32(p); name = b[p + 4:p + 4 + ln].decode()
        recs.append((p, 4 + ln, "tensor %d name '%s' (u32 length + bytes)" % (t, name)))
        p += 4 + ln
        nd = u32(p); recs.append((p, 4, "n_dims = %d" % nd)); p += 4
        for d in range(nd):
            recs.append((p, 8, "dims[%d] = %d" % (d, u64(p)))); p += 8
        recs.append((p, 4, "source dtype = %d" % u32(p))); p += 4
        recs.append((p, 4, "encoding id = %d" % u32(p))); p += 4
        np_ = u32(p); recs.append((p, 4, "n_params = %d" % np_)); p += 4
        for k in range(np_):
            key, val = u32(p), u32(p + 4)
            note = "param key %d = %d" % (key, val)
            if key == 13:
                note += " (layout: %s)" % ("transposed" if val == 1 else "?")
            recs.append((p, 8, note)); p += 8
        npart = u32(p); recs.append((p, 4, "n_parts = %d" % npart)); p += 4
        for k in range(npart):
            role, typ, comp = u16(p), u16(p + 2), b[p + 4]
            off, st, dec = u64(p + 8), u64(p + 16), u64(p + 24)
            recs.append((p, 8, "part %d: role %d, element type %d, compression %d, 3 zero bytes"
                         % (k, role, typ, comp)))
            recs.append((p + 8, 8, "  offset = %d (relative to the data section)" % off))
            recs.append((p + 16, 8, "  stored size = %d" % st))
            recs.append((p + 24, 8, "  decoded size = %d" % dec))
            recs.append((p + 32, 8, "  XXH3-64 of the stored bytes (big-endian)"))
            parts.append((doff + off, st, "tensor '%s' part %d (%s)" %
                          (name, k, "zstd frame" if comp else "plain")))
            p += 40
        dir_lines.append(recs)
    at = doff
    for (po, st, note) in parts:
        if po > at:
            emit(at, po - at, "padding (zero)")
        emit(po, st, note)
        at = po + st
    if doff + dsize > at:
        emit(at, doff + dsize - at, "padding (zero) to the aligned data size")
    p = moff
    for i in range(nm_):
        ln = u32(p); key = b[p + 4:p + 4 + ln].decode()
        emit(p, 4 + ln, "metadata %d key '%s'" % (i, key)); p += 4 + ln
        t = u32(p); emit(p, 4, "value type %d (%s)" % (t, TYPES[t])); p += 4
        if t in FIXED:
            n = struct.calcsize(FIXED[t]); v = struct.unpack_from(FIXED[t], b, p)[0]
            emit(p, n, "value = %r" % v); p += n
        elif t == 8:
            n = u64(p); emit(p, 8 + n, "u64 length %d + '%s'" % (n, b[p + 8:p + 8 + n].decode()))
            p += 8 + n
        else:
            raise SystemExit("annotate.py: arrays/blobs not needed for the vectors")
    for recs in dir_lines:
        for (ro, n, note) in recs:
            emit(ro, n, note)
    print("\n".join(out))


if __name__ == "__main__":
    main(sys.argv[1])

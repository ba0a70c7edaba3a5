#!/usr/bin/python3
"""Writes the synthetic seed corpora in tests/fuzz/corpus/<target>/ (committed; rerun only to
change them). Every seed is made up here: no real patient data. Needs Debian's python3-pil."""
import gzip, io, json, os, struct, sys

root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")

def put(target, name, data):
    d = os.path.join(root, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)

DEF = b"\x80\x00"      # default limits
SMALL = b"\x05\x04"    # field 6 bytes, record 17 bytes, 6 columns

csvs = {
    "basic": b"subject_id,hadm_id,gender\n10000032,22595853,F\n10000048,23052089,M\n",
    "quoted_comma": b'a,b\n"x, y",2\n',
    "quoted_newline": b'a,b\n"line one\nline two",2\n3,4\n',
    "doubled_quotes": b'a\n"he said ""hi"""\n""""\n""\n',
    "crlf": b"a,b\r\n1,2\r\n3,4\r\n",
    "bom": b"\xef\xbb\xbfsubject_id,x\n1,2\n",
    "unterminated": b'a,b\n1,"never closed\n2,3\n',
    "blank_lines": b"a,b\n\n1,2\r\n\r\n\n3,4",
    "empty_trailing": b"a,b,c\n1,,\n,,\n,\n",
    "lenient": b'a"b,"c"d,e""\n"x"  ,y\n',
    "lone_cr": b"a\rb,c\r\nd\r",
    "nul_bytes": b"a\x00b,c\n\x00,\x00\x00\n",
    "utf8": "stay,unit\n1,Unité de soins\n2,\u202eevil\n".encode(),
    "many_columns": b",".join([b"c"] * 40) + b"\n" + b",".join([b"1"] * 40) + b"\n",
}
for k, v in csvs.items():
    put("csv", k, DEF + v)
    put("csv", k + "_small", SMALL + v)
put("csv", "long_field_small", SMALL + b"a,b\n" + b"x" * 40 + b",1\n2,3\n")
put("csv", "long_record_small", SMALL + b"1,2,3,4,5,6,7,8,9\n\"q\nq\",1\nok\n")

# gzip pipeline: mode 0 = the bytes as they are (real gzip files), modes 1-3 derived
fix = os.path.join(os.path.dirname(root), "..", "fixtures", "csv")
def gz(b, mtime=0):
    out = io.BytesIO()
    with gzip.GzipFile(fileobj=out, mode="wb", mtime=mtime) as g:
        g.write(b)
    return out.getvalue()
put("csv_gz", "plain_basic", DEF + b"\x00\x00" + csvs["basic"])
put("csv_gz", "gz_basic", DEF + b"\x00\x00" + gz(csvs["basic"]))
put("csv_gz", "gz_quoted_newline", DEF + b"\x00\x00" + gz(csvs["quoted_newline"]))
put("csv_gz", "gz_two_members", DEF + b"\x00\x00" + gz(b"a,b\n1,") + gz(b"2\n3,4\n"))
put("csv_gz", "gz_empty", DEF + b"\x00\x00" + gz(b""))
put("csv_gz", "gz_long_line_small", SMALL + b"\x00\x00" + gz(b"y" * 200000))
put("csv_gz", "gz_truncated", DEF + b"\x00\x00" + gz(csvs["crlf"])[:-5])
for mode in (1, 2, 3):
    for k in ("basic", "quoted_newline", "crlf", "unterminated", "blank_lines"):
        put("csv_gz", "mode%d_%s" % (mode, k), DEF + bytes([mode, 0x55]) + csvs[k])
    put("csv_gz", "mode%d_two_members" % mode, DEF + bytes([mode, 0x81]) + csvs["basic"])

# JPEG: small baseline, progressive, colour, CMYK, restart markers, a truncated one
from PIL import Image
def jpg(img, **kw):
    out = io.BytesIO()
    img.save(out, "JPEG", **kw)
    return out.getvalue()
g = Image.new("L", (24, 16))
g.putdata([(x * 11 + y * 7) % 256 for y in range(16) for x in range(24)])
rgb = Image.merge("RGB", (g, g.transpose(Image.FLIP_LEFT_RIGHT), g.transpose(Image.FLIP_TOP_BOTTOM)))
put("jpeg", "gray_baseline", b"\x00" + jpg(g, quality=80))
put("jpeg", "gray_scaled", b"\x04" + jpg(g.resize((200, 130)), quality=60))
put("jpeg", "gray_progressive", b"\x00" + jpg(g, quality=80, progressive=True))
put("jpeg", "rgb_420", b"\x00" + jpg(rgb, quality=75, subsampling=2))
put("jpeg", "rgb_444_progressive", b"\x03" + jpg(rgb, quality=75, subsampling=0, progressive=True))
put("jpeg", "cmyk", b"\x00" + jpg(rgb.convert("CMYK"), quality=70))
put("jpeg", "truncated", b"\x00" + jpg(g, quality=80)[:-40])
put("jpeg", "optimized", b"\x00" + jpg(g, quality=95, optimize=True))

# safetensors for the harness's model: fc.weight (3,4) fc.bias (3) F32,
# bn.running_mean (4) F32, bn.num_batches_tracked () I64
def st(tensors, meta=None, pad=b""):
    hdr, data = {}, b""
    if meta is not None:
        hdr["__metadata__"] = meta
    for name, dtype, shape, raw in tensors:
        hdr[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    h = json.dumps(hdr).encode() + pad
    return struct.pack("<Q", len(h)) + h + data
f32 = lambda n, s=0.0: struct.pack("<%df" % n, *[s + i * 0.5 for i in range(n)])
model = [("fc.weight", "F32", [3, 4], f32(12)), ("fc.bias", "F32", [3], f32(3, 1)),
         ("bn.running_mean", "F32", [4], f32(4, 2)),
         ("bn.num_batches_tracked", "I64", [], struct.pack("<q", 7))]
put("safetensors", "model", b"\x00" + st(model, {"format": "pt"}))
put("safetensors", "model_padded", b"\x00" + st(model, pad=b"    "))
put("safetensors", "model_extra_ignored", b"\x06" + st(model + [("other", "F32", [2], f32(2))]))
put("safetensors", "backbone_only", b"\x05" + st(model[2:]))
put("safetensors", "wrong_shape", b"\x00" + st([("fc.weight", "F32", [4, 3], f32(12))] + model[1:]))
put("safetensors", "bad_dtype", b"\x00" + st([("fc.weight", "F16", [3, 4], f32(6))] + model[1:]))
put("safetensors", "short", b"\x00" + st(model)[:-9])
put("safetensors", "escapes", b"\x00" + st(model, {"k\u00e9y": "v\n\"q\""}))

# terminal strings: escapes, OSC title, C1, bidi, broken UTF-8, long
san = {
    "csi": b"\x1b[2J\x1b[31mred\x1b[0m",
    "osc_title": b"\x1b]0;owned\x07 and \x1b]2;x\x1b\\",
    "c1": "a\u0085b\u009bc\u009d".encode() + b"\x9b\x9d",
    "bidi": "name \u202egnp.exe \u2066x\u2069 \u200f".encode(),
    "overlong": b"\xc0\xaf \xe0\x80\xaf \xf0\x80\x80\xaf \xed\xa0\x80 \xf4\x90\x80\x80",
    "truncated_utf8": "é€😀".encode()[:-1],
    "controls": bytes(range(1, 32)) + b"\x7f",
    "plain": "Medical Intensive Care Unit (MICU) — Höhe 😀".encode(),
}
for k, v in san.items():
    put("sanitize", k, b"\xff" + v)
    put("sanitize", k + "_tight", b"\x07" + v)

"""``dfl-tui inspect FILE``: print an aligned face file's metadata (safely)."""

from __future__ import annotations

import argparse
import json
import sys


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("files", nargs="+", metavar="FILE", help="aligned face image(s) (.jpg or .png)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--landmarks", action="store_true", help="print all 68 landmarks, not only a summary")


def run(args: argparse.Namespace) -> int:
    from ..faces import dflimg

    code = 0
    out = []
    for f in args.files:
        try:
            img_meta = dflimg.read_meta(f)
        except dflimg.FaceFileError as exc:
            print(f"error: {exc}", file=sys.stderr)
            code = 1
            continue
        d = img_meta.to_json()
        d["file"] = f
        if args.json:
            out.append(d)
            continue
        print(f"{f}")
        print(f"  face type        {d['face_type']}")
        print(f"  source file      {d['source_filename']}")
        print(f"  source rect      {d['source_rect']}")
        lm = d["landmarks"]
        if lm is not None:
            xs, ys = [p[0] for p in lm], [p[1] for p in lm]
            print(f"  landmarks        {len(lm)} points, x {min(xs):.1f}..{max(xs):.1f}, y {min(ys):.1f}..{max(ys):.1f}")
            if args.landmarks:
                for i, (x, y) in enumerate(lm):
                    print(f"    {i:2d}: {x:8.2f} {y:8.2f}")
        mat = d["image_to_face_mat"]
        if mat is not None:
            print(f"  image_to_face    [{', '.join(f'{v:.4f}' for v in mat[0])}]")
            print(f"                   [{', '.join(f'{v:.4f}' for v in mat[1])}]")
        polys = d["seg_ie_polys"] or []
        inc = sum(1 for p in polys if p["type"] == 1)
        print(f"  xseg labels      {len(polys)} polygon(s) ({inc} include, {len(polys) - inc} exclude)")
        print(f"  xseg mask        {'yes (%d bytes)' % d['xseg_mask']['bytes'] if d['xseg_mask'] else 'no'}")
        if d.get("extra_keys"):
            print(f"  other keys       {', '.join(d['extra_keys'])}")
    if args.json:
        print(json.dumps(out[0] if len(out) == 1 else out, indent=2))
    return code

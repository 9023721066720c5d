"""``dfl-tui model``: bring DeepFaceLab models in, check a model on faces, take models out.

    dfl-tui model import-dfl DFL_MODEL_DIR [--name NAME] [--dfl-model liaeud_SAEHD]
    dfl-tui model predict --name NAME data_dst/aligned/*.jpg --out p.npz [--morph 1.0]
    dfl-tui model export --name NAME --format dfm|onnx [--out FILE] [--morph 0.75]

``import-dfl`` reads a DeepFaceLab model folder (SAEHD df/liae with -u -d -t -c, AMP, Quick96,
XSeg) through the restricted reader, maps every tensor onto dfl-tui's networks, and writes
``model/NAME/`` so that ``dfl-tui train --name NAME`` continues from DeepFaceLab's iteration.

``predict`` cuts each aligned face from its frame exactly as the merger does and writes
``face``, ``mask_src``, ``mask_dst`` (float32 NxHxWxC, 0..1, BGR), ``input`` and ``files``.

``export --format dfm`` writes a DeepFaceLive model (ONNX with DeepFaceLive's names:
``in_face:0`` [N,res,res,3] BGR 0..1, AMP also ``morph_value:0`` [1]; outputs ``out_face_mask:0``,
``out_celeb_face:0``, ``out_celeb_face_mask:0``), ``--format onnx`` a plain ONNX model; both are
checked with ONNX Runtime against the PyTorch model and carry the synthetic-media mark.
"""

from __future__ import annotations

import argparse
import json
import sys

ACTIONS = ("import-dfl", "predict", "export")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.formatter_class = argparse.RawDescriptionHelpFormatter
    p.description = __doc__
    sub = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    a = sub.add_parser("import-dfl", help="import a DeepFaceLab model folder (SAEHD, AMP, Quick96, XSeg)")
    a.add_argument("dfl_dir", metavar="DFL_MODEL_DIR", help="DeepFaceLab's model folder (workspace/model)")
    a.add_argument("--name", default="", help="name of the dfl-tui model (default: DeepFaceLab's model name; "
                   "XSeg: model/XSeg)")
    a.add_argument("--dfl-model", default=None, metavar="NAME",
                   help="which model when the folder holds several (e.g. new_SAEHD)")
    a.add_argument("--json", action="store_true", help="print the result as JSON")
    b = sub.add_parser("predict", help="run a model on aligned dst faces (cut as the merger does), save .npz")
    b.add_argument("faces", nargs="+", metavar="FACE", help="aligned faces (their frames must be beside aligned/)")
    b.add_argument("--name", default="", help="the model (default: the only one)")
    b.add_argument("--out", required=True, metavar="FILE.npz", help="where to write the arrays")
    b.add_argument("--morph", type=float, default=None, help="AMP morph value 0..1 (default 1.0, the merger's)")
    b.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N, mps")
    c = sub.add_parser("export", help="export for DeepFaceLive (.dfm) or as plain ONNX")
    c.add_argument("--name", default="", help="the model (default: the only one)")
    c.add_argument("--format", choices=("dfm", "onnx"), default="dfm")
    c.add_argument("--out", default=None, metavar="FILE", help="default: model/NAME/NAME_<Model>_model.dfm|.onnx")
    c.add_argument("--no-check", action="store_true", help="skip the ONNX Runtime comparison")
    c.add_argument("--json", action="store_true", help="print the result as JSON")


def _err(msg: str) -> int:
    print(f"dfl-tui model: {msg}", file=sys.stderr)
    return 2


def run(args: argparse.Namespace) -> int:
    from ..cli import workspace_from
    from ..errors import DflError

    ws = workspace_from(args)
    try:
        if args.action == "import-dfl":
            return _import(args, ws)
        if args.action == "predict":
            return _predict(args, ws)
        return _export(args, ws)
    except DflError as exc:
        return _err(str(exc))


def _import(args: argparse.Namespace, ws) -> int:
    from ..train.import_dfl import import_dfl

    log = (lambda m: print(m, file=sys.stderr)) if args.json else print
    res = import_dfl(args.dfl_dir, ws, args.name, which=args.dfl_model, log=log)
    if args.json:
        print(json.dumps(res, indent=2, default=str))
    return 0


def _predict(args: argparse.Namespace, ws) -> int:
    from pathlib import Path

    import numpy as np

    from ..merge.predict import predict_faces
    from ..merge.predictor import load_predictor
    from ..util.atomic import atomic_write_bytes

    out = Path(args.out)
    if out.suffix != ".npz":
        return _err(f"--out {out}: use a .npz file name")
    pred = load_predictor(ws, args.name, args.device)
    arrays = predict_faces(pred, [Path(f) for f in args.faces], args.morph,
                           warn=lambda m: print(f"dfl-tui model predict: {m}", file=sys.stderr))
    import io

    buf = io.BytesIO()
    np.savez(buf, **arrays)
    atomic_write_bytes(out, buf.getvalue())
    n, r = arrays["face"].shape[:2]
    print(f"{out}: {n} face(s) at {r} px from {pred.model_type} '{pred.name}' (iteration {pred.iteration}): "
          "face, mask_src, mask_dst, input, files")
    return 0


def _export(args: argparse.Namespace, ws) -> int:
    from ..merge.predictor import resolve_model_name
    from ..models.export import export_model

    name = resolve_model_name(ws, args.name)
    res = export_model(ws, name, args.format, out=args.out, check=not args.no_check)
    if args.json:
        print(json.dumps(res, indent=2, default=str))
    else:
        print(f"{res['path']}: {res['format']} for {res['model']} '{name}' (iteration {res['iteration']}), "
              f"inputs {', '.join(res['inputs'])}, outputs {', '.join(res['outputs'])}")
        if res.get("check"):
            print(f"ONNX Runtime vs PyTorch on {res['check']['faces']} faces: max abs difference "
                  f"{res['check']['max_abs_diff']:.2e}")
    return 0

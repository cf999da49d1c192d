"""Generator of the Fire-module RTL's parameter and ROM files (hw/rtl/fire.v) from golden FireParams.

Why a generator: the RTL is one parametric design; every Fire module (trained or random) differs
only in its sizes, folding, fixed-point formats and weights, which this module turns into
`fire_params.vh` (Verilog parameter list) plus `$readmemh` ROM images. Datapath widths come from
worst-case bounds of the actual weights, so nothing can overflow before the requantizer.

    python -m hw.rtl.generate --model hw/models/squeezenet_fmnist.keras --fire fire2 --out build/rtl/fire2
    python -m hw.rtl.generate --random 32,16,32,32 --hw 14,14 --seed 1 --out build/rtl/rand
"""
from __future__ import annotations

import argparse
import math
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hw.golden import OVERFLOW_MODES, ConvParams, FireParams, fire_forward  # noqa: F401  (re-export)

RTL_DIR = Path(__file__).resolve().parent
RTL_SOURCES = (RTL_DIR / "fire_mvu.v", RTL_DIR / "fire.v")
TOPLEVEL = "fire"
MAX_OUT_BITS = 30  # the requantizer's saturation constants are built from 32-bit integers


class RTLError(ValueError):
    """A Fire module or folding the RTL cannot implement, or bad generator input."""


# ----------------------------------------------------------------------------- folding
@dataclass(frozen=True)
class ConvFold:
    """Multiplies per cycle of one conv as PI input channels x PO output channels."""

    pi: int = 1
    po: int = 1

    @property
    def mults(self) -> int:
        return self.pi * self.po


@dataclass(frozen=True)
class FireFold:
    squeeze: ConvFold
    expand1x1: ConvFold
    expand3x3: ConvFold

    @property
    def mults(self) -> int:
        return self.squeeze.mults + self.expand1x1.mults + self.expand3x3.mults


def conv_issue_cycles(taps: int, ch: int, n: int, fold: ConvFold) -> int:
    """Cycles one output pixel of a conv occupies its unit: taps x ceil(ch/PI) x ceil(N/PO)."""
    return taps * math.ceil(ch / fold.pi) * math.ceil(n / fold.po)


def _conv_dims(fire: FireParams) -> dict[str, tuple[int, int, int]]:
    s = fire.squeeze.weight.shape[3]
    return {
        "squeeze": (1, fire.in_channels, s),
        "expand1x1": (1, s, fire.expand1x1.weight.shape[3]),
        "expand3x3": (9, s, fire.expand3x3.weight.shape[3]),
    }


def pixel_cycles(fire: FireParams, fold: FireFold) -> dict[str, int]:
    """Issue cycles per pixel of each conv unit (the squeeze and the expand pair run concurrently)."""
    return {k: conv_issue_cycles(*d, getattr(fold, k)) for k, d in _conv_dims(fire).items()}


def frame_cycles(fire: FireParams, h: int, w: int, fold: FireFold) -> int:
    """Steady-state cycles per frame the folding implies (frames streamed back to back)."""
    return h * w * max(pixel_cycles(fire, fold).values())


def choose_conv_fold(taps: int, ch: int, n: int, max_cycles: int) -> ConvFold:
    """Fewest multipliers whose issue cycles per pixel stay <= max_cycles (ties: fewer cycles)."""
    if max_cycles < taps:
        raise RTLError(f"{max_cycles} cycles per pixel is below this RTL's floor of {taps} "
                       f"(a {taps}-tap conv issues one tap per cycle)")
    best = None
    for pi in range(1, ch + 1):
        cpt = math.ceil(ch / pi)
        if pi > 1 and math.ceil(ch / (pi - 1)) == cpt:
            continue  # same chunk count with fewer lanes
        groups_allowed = max_cycles // (taps * cpt)
        if groups_allowed < 1:
            continue
        po = math.ceil(n / min(groups_allowed, n))
        cyc = taps * cpt * math.ceil(n / po)
        key = (pi * po, cyc, pi)
        if best is None or key < best[0]:
            best = (key, ConvFold(pi, po))
    return best[1]


def fold_for_pixel_cycles(fire: FireParams, cycles: int | dict[str, int]) -> FireFold:
    """Folding that meets a per-pixel cycle target (one number, or one per conv name)."""
    dims = _conv_dims(fire)
    target = cycles if isinstance(cycles, dict) else {k: cycles for k in dims}
    return FireFold(**{k: choose_conv_fold(*dims[k], int(target[k])) for k in dims})


def full_fold(fire: FireParams) -> FireFold:
    """Fully parallel over channels: the fastest the RTL runs (9 cycles per pixel, the 3x3 taps)."""
    d = _conv_dims(fire)
    return FireFold(**{k: ConvFold(d[k][1], d[k][2]) for k in d})


# ----------------------------------------------------------------------------- widths
def signed_bits(lo: int, hi: int) -> int:
    """Smallest two's-complement width holding every integer in [lo, hi]."""
    b = 2
    while not (-(1 << (b - 1)) <= lo and hi <= (1 << (b - 1)) - 1):
        b += 1
    return b


def _x_range(bits: int, signed: bool) -> tuple[int, int]:
    return (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)


@dataclass(frozen=True)
class ConvWidths:
    wb: int  # weight bits
    bb: int  # bias bits
    acc: int  # sum of products
    vw: int  # requantize datapath


def conv_widths(p: ConvParams, x_bits: int, x_signed: bool) -> ConvWidths:
    """Datapath widths from worst-case bounds over every input in the input format."""
    w = np.asarray(p.weight, dtype=np.int64).reshape(-1, p.weight.shape[-1])
    b = np.asarray(p.bias, dtype=np.int64)
    xlo, xhi = _x_range(x_bits, x_signed)
    t1, t2 = w * xlo, w * xhi
    pos = [int(v) for v in np.maximum(t1, t2).sum(axis=0)]
    neg = [int(v) for v in np.minimum(t1, t2).sum(axis=0)]
    wb = signed_bits(int(w.min()), int(w.max()))
    bb = signed_bits(int(b.min()), int(b.max()))
    acc = max(signed_bits(min(neg), max(pos)), signed_bits(xlo * int(w.max()), xhi * int(w.max())),
              signed_bits(xlo * int(w.min()), xhi * int(w.min())))
    acc = max(acc, x_bits + 1 + wb)  # the RTL sign-extends each product into the accumulator
    lo_v = min(n * (1 << p.prod_shift) + int(bo) for n, bo in zip(neg, b))
    hi_v = max(q * (1 << p.prod_shift) + int(bo) for q, bo in zip(pos, b))
    if p.relu:
        lo_v = max(lo_v, 0)
    sh = p.out_shift
    if sh > 0:
        hi_v += 1 << (sh - 1)
    else:
        lo_v, hi_v = lo_v << -sh, hi_v << -sh
    vw = max(signed_bits(min(lo_v, 0), max(hi_v, 0)), acc + p.prod_shift + 1, bb) + 1
    vw = max(vw, p.out_bits + 2, acc + 1, bb + 1)
    return ConvWidths(wb=wb, bb=bb, acc=acc, vw=vw)


# ----------------------------------------------------------------------------- checks
def check_fire(fire: FireParams) -> None:
    """Raise RTLError naming the first property of `fire` this RTL cannot implement."""
    sq, e1, e3 = fire.squeeze, fire.expand1x1, fire.expand3x3
    s = sq.weight.shape[3] if sq.weight.ndim == 4 else None
    for name, p, k in (("squeeze", sq, 1), ("expand1x1", e1, 1), ("expand3x3", e3, 3)):
        if p.weight.ndim != 4 or p.weight.shape[:2] != (k, k):
            raise RTLError(f"{fire.name}.{name}: expected a {k}x{k} kernel, got weight shape {p.weight.shape}")
        if p.bias.shape != (p.weight.shape[3],):
            raise RTLError(f"{fire.name}.{name}: bias shape {p.bias.shape} != ({p.weight.shape[3]},)")
        if p.prod_shift < 0:
            raise RTLError(f"{fire.name}.{name}: acc_frac {p.acc_frac} < in_frac + w_frac (prod_shift < 0)")
        if p.overflow not in OVERFLOW_MODES:
            raise RTLError(f"{fire.name}.{name}: overflow mode {p.overflow!r} not in {OVERFLOW_MODES}")
        if not 1 <= p.out_bits <= MAX_OUT_BITS:
            raise RTLError(f"{fire.name}.{name}: out_bits {p.out_bits} outside 1..{MAX_OUT_BITS}")
        if name != "squeeze" and p.weight.shape[2] != s:
            raise RTLError(f"{fire.name}.{name}: {p.weight.shape[2]} input channels, squeeze gives {s}")
        if name != "squeeze" and p.in_frac != sq.out_frac:
            raise RTLError(f"{fire.name}.{name}: in_frac {p.in_frac} != squeeze out_frac {sq.out_frac}")
    if e1.out_bits != e3.out_bits:
        raise RTLError(f"{fire.name}: expand1x1 ({e1.out_bits} bits) and expand3x3 ({e3.out_bits} bits) "
                       "must share one output lane width")
    if not 1 <= fire.in_bits <= MAX_OUT_BITS:
        raise RTLError(f"{fire.name}: in_bits {fire.in_bits} outside 1..{MAX_OUT_BITS}")


# ----------------------------------------------------------------------------- ROM images
def _rom_words(p: ConvParams, fold: ConvFold) -> tuple[list[int], list[int], int, int]:
    """Weight and bias ROM words in the MVU's issue order (see hw/rtl/fire_mvu.v)."""
    kh, kw, ch, n = p.weight.shape
    taps = kh * kw
    wt = np.asarray(p.weight, dtype=np.int64).reshape(taps, ch, n)
    wb = conv_widths(p, 1, False).wb  # weight/bias widths do not depend on the input format
    bb = signed_bits(int(np.min(p.bias)), int(np.max(p.bias)))
    pi, po = fold.pi, fold.po
    cpt, ng = math.ceil(ch / pi), math.ceil(n / po)
    wmask, bmask = (1 << wb) - 1, (1 << bb) - 1
    words = []
    for go in range(ng):
        for t in range(taps):
            for c in range(cpt):
                word = 0
                for j in range(po):
                    o = go * po + j
                    for i in range(pi):
                        k = c * pi + i
                        if o < n and k < ch:
                            word |= (int(wt[t, k, o]) & wmask) << ((j * pi + i) * wb)
                words.append(word)
    biases = []
    for go in range(ng):
        word = 0
        for j in range(po):
            o = go * po + j
            if o < n:
                word |= (int(p.bias[o]) & bmask) << (j * bb)
        biases.append(word)
    return words, biases, pi * po * wb, po * bb


def _write_mem(path: Path, words: list[int], width: int) -> None:
    digits = max(1, math.ceil(width / 4))
    path.write_text("".join(f"{w:0{digits}x}\n" for w in words))


# ----------------------------------------------------------------------------- writer
@dataclass(frozen=True)
class FireRTL:
    """What write_fire_rtl produced: everything a simulator or Yosys needs."""

    out_dir: Path
    params_vh: Path
    sources: tuple[Path, ...]
    toplevel: str
    fire: FireParams
    h: int
    w: int
    fold: FireFold

    @property
    def frame_cycles(self) -> int:
        return frame_cycles(self.fire, self.h, self.w, self.fold)


OVF_CODE = {"WRAP": 0, "SAT": 1, "SAT_SYM": 2}


def write_fire_rtl(fire: FireParams, h: int, w: int, fold: FireFold, out_dir) -> FireRTL:
    """Write fire_params.vh and the six ROM images for `fire` on an h x w frame into out_dir."""
    check_fire(fire)
    if h < 1 or w < 1:
        raise RTLError(f"frame size {h}x{w} must be positive")
    out = Path(out_dir).resolve()
    out.mkdir(parents=True, exist_ok=True)
    sq = fire.squeeze
    sb, s_signed = sq.out_bits, sq.out_signed
    x_fmt = {"squeeze": (fire.in_bits, False), "expand1x1": (sb, s_signed), "expand3x3": (sb, s_signed)}
    prefix = {"squeeze": "S", "expand1x1": "E1", "expand3x3": "E3"}
    dims = _conv_dims(fire)
    lines = [
        ("H", h), ("W", w), ("CIN", fire.in_channels), ("S", dims["squeeze"][2]),
        ("E1", dims["expand1x1"][2]), ("E3", dims["expand3x3"][2]),
        ("IB", fire.in_bits), ("SB", sb), ("OB", fire.expand1x1.out_bits),
    ]
    for name, pre in prefix.items():
        p: ConvParams = getattr(fire, name)
        f: ConvFold = getattr(fold, name)
        if not (1 <= f.pi <= dims[name][1] and 1 <= f.po <= dims[name][2]):
            raise RTLError(f"{fire.name}.{name}: fold {f} outside 1..{dims[name][1]} x 1..{dims[name][2]}")
        cw = conv_widths(p, *x_fmt[name])
        words, biases, ww, bw = _rom_words(p, f)
        wfile, bfile = out / f"{name}_w.mem", out / f"{name}_b.mem"
        _write_mem(wfile, words, ww)
        _write_mem(bfile, biases, bw)
        lines += [
            (f"{pre}_PI", f.pi), (f"{pre}_PO", f.po), (f"{pre}_WB", cw.wb), (f"{pre}_BB", cw.bb),
            (f"{pre}_ACC", cw.acc), (f"{pre}_VW", cw.vw), (f"{pre}_OSIGNED", int(p.out_signed)),
            (f"{pre}_RELU", int(p.relu)), (f"{pre}_PS", p.prod_shift), (f"{pre}_OSH", p.out_shift),
            (f"{pre}_OVF", OVF_CODE[p.overflow]),
            (f"{pre}_WFILE", f'"{wfile}"'), (f"{pre}_BFILE", f'"{bfile}"'),
        ]
    text = [f"// generated by hw/rtl/generate.py for {fire.name} ({h}x{w}); do not edit\n"]
    for k, (name, val) in enumerate(lines):
        kind = "" if isinstance(val, str) else "integer "
        sep = "," if k < len(lines) - 1 else ""
        text.append(f"parameter {kind}{name} = {val}{sep}\n")
    vh = out / "fire_params.vh"
    vh.write_text("".join(text))
    return FireRTL(out, vh, RTL_SOURCES, TOPLEVEL, fire, h, w, fold)


# ----------------------------------------------------------------------------- sources of FireParams
def random_conv(rng: np.random.Generator, k: int, cin: int, cout: int, in_frac: int, *,
                out_bits: int = 8, out_signed: bool = False, relu: bool = True, overflow: str = "WRAP",
                w_bits: int = 8, b_bits: int = 12, fan_scale: float = 1.0) -> ConvParams:
    """A valid random quantized conv: weights/bias like the trained ones, output scale chosen so
    the requantizer both keeps most values in range and hits its overflow now and then."""
    w_frac = int(rng.integers(5, 9))
    wmax = (1 << (w_bits - 1)) - 1
    weight = rng.integers(-wmax, wmax + 1, size=(k, k, cin, cout)).astype(np.int64)
    prod_shift = int(rng.integers(0, 3))
    acc_frac = in_frac + w_frac + prod_shift
    b_frac = int(rng.integers(acc_frac - 6, acc_frac + 1))
    bmax = (1 << (b_bits - 1)) - 1
    bias = (rng.integers(-bmax - 1, bmax + 1, size=cout).astype(np.int64) << (acc_frac - b_frac))
    # typical |acc| ~ sqrt(fan_in) * wmax * xmax / 4: aim the output's top bit slightly below it
    fan = k * k * cin
    typical = math.sqrt(fan) * wmax * (1 << 7) / 4 * (1 << prod_shift) * fan_scale
    out_shift = max(int(round(math.log2(max(typical, 1)))) - out_bits + int(rng.integers(-1, 2)), -2)
    out_frac = acc_frac - out_shift
    return ConvParams(weight=weight, bias=bias, w_frac=w_frac, in_frac=in_frac, acc_frac=acc_frac,
                      relu=relu, out_bits=out_bits, out_frac=out_frac, out_signed=out_signed,
                      overflow=overflow)


def random_fire_params(rng: np.random.Generator, cin: int, s: int, e1: int, e3: int, *,
                       name: str = "fire_rand", in_bits: int = 8, in_frac: int = 6,
                       vary_formats: bool = False) -> FireParams:
    """Random valid FireParams of the given shape. vary_formats also draws signed outputs, SAT /
    SAT_SYM overflow and no-ReLU convs, to exercise every requantizer path of the RTL."""
    def fmt():
        if not vary_formats:
            return {"out_signed": False, "relu": True, "overflow": "WRAP"}
        return {"out_signed": bool(rng.integers(0, 2)), "relu": bool(rng.integers(0, 4) > 0),
                "overflow": OVERFLOW_MODES[int(rng.integers(0, 3))]}
    sq = random_conv(rng, 1, cin, s, in_frac, **fmt())
    out_fmt = fmt()
    ex1 = random_conv(rng, 1, s, e1, sq.out_frac, **out_fmt)
    ex3 = random_conv(rng, 3, s, e3, sq.out_frac, **out_fmt)
    if vary_formats:
        ex3.overflow = OVERFLOW_MODES[int(rng.integers(0, 3))]
    return FireParams(name=name, squeeze=sq, expand1x1=ex1, expand3x3=ex3, in_bits=in_bits)


def fire_frame_sizes(model) -> dict[str, tuple[int, int]]:
    """(H, W) of every Fire module of a Keras model, from its squeeze layer's input shape."""
    sizes = {}
    for layer in model.layers:
        if layer.name.endswith("_squeeze"):
            shape = layer.input.shape
            sizes[layer.name[: -len("_squeeze")]] = (int(shape[1]), int(shape[2]))
    return sizes


def model_fires(model) -> list[tuple[FireParams, int, int]]:
    """(FireParams, H, W) of every Fire module of a trained model, via hw.golden.extract."""
    try:
        from hw.golden import extract
    except ImportError as e:
        raise RTLError("hw.golden.extract is not available yet: cannot derive a trained Fire module") from e
    net = extract(model)
    sizes = fire_frame_sizes(model)
    out = []
    for fire in net.fires:
        if fire.name not in sizes:
            raise RTLError(f"Fire module {fire.name!r} of extract() has no '{fire.name}_squeeze' layer in the model")
        out.append((fire, *sizes[fire.name]))
    return out


def plan_pixel_cycles(plan, fire: FireParams, h: int, w: int) -> dict[str, int]:
    """Per-conv cycles per pixel that a hw.plan Plan asks of a Fire module's convs (the planner
    counts cycles per image; the RTL folds per pixel)."""
    layers = {l.name: l for l in plan.layers}
    return {conv: max(1, int(layers[f"{fire.name}_{conv}"].ii_cycles) // (h * w))
            for conv in ("squeeze", "expand1x1", "expand3x3")}


def plan_fire_ii(plan, fire: FireParams) -> int:
    """The planner's II of a whole Fire module: its slowest layer (dataflow), cycles per image."""
    p = fire.name + "_"
    return max(int(l.ii_cycles) for l in plan.layers if l.name.startswith(p))


# ----------------------------------------------------------------------------- CLI
def _parse_ints(text: str, n: int, what: str) -> list[int]:
    try:
        vals = [int(v) for v in text.split(",")]
    except ValueError:
        vals = []
    if len(vals) != n or min(vals) < 1:
        raise RTLError(f"{what} must be {n} positive integers separated by commas, got {text!r}")
    return vals


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--model", help="trained .keras model (with --fire)")
    src.add_argument("--random", metavar="CIN,S,E1,E3", help="random weights of this shape")
    ap.add_argument("--fire", help="Fire module name in the model, e.g. fire2")
    ap.add_argument("--hw", default="14,14", metavar="H,W", help="frame size for --random")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--cycles", type=int, help="target cycles per pixel (default: the plan of --config, "
                    "else fully parallel)")
    ap.add_argument("--config", help="hls4ml YAML of --model: fold each conv as hw.plan plans it")
    ap.add_argument("--out", required=True)
    from hw.quiet import add_verbose_flag, quiet_unless_verbose

    add_verbose_flag(ap)
    a = ap.parse_args(argv)
    quiet_unless_verbose(a)
    try:
        model = None
        if a.model:
            from hw.model import load_model

            model = load_model(a.model)
            fires = {f.name: (f, h, w) for f, h, w in model_fires(model)}
            if a.fire not in fires:
                raise RTLError(f"--fire {a.fire!r}: model has {sorted(fires)}")
            fire, h, w = fires[a.fire]
        else:
            cin, s, e1, e3 = _parse_ints(a.random, 4, "--random")
            h, w = _parse_ints(a.hw, 2, "--hw")
            fire = random_fire_params(np.random.default_rng(a.seed), cin, s, e1, e3)
        if a.cycles:
            fold = fold_for_pixel_cycles(fire, a.cycles)
        else:
            target = None
            if a.config and model is not None:
                from hw import plan as P

                target = plan_pixel_cycles(P.plan(P.from_config(a.config, a.model)[0]), fire, h, w)
            fold = fold_for_pixel_cycles(fire, target) if target else full_fold(fire)
        rtl = write_fire_rtl(fire, h, w, fold, a.out)
    except RTLError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"{rtl.params_vh}: {fire.name} {h}x{w}, fold {fold}, {rtl.frame_cycles} cycles/frame")
    return 0


if __name__ == "__main__":
    sys.exit(main())

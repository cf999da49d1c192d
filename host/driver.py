"""PYNQ-Z2 driver: a thin wrapper of `pynq.Overlay` that streams image batches through the AXI DMA.

FINN-style: one io spec (bitstreams/<model>.io.json, written by the hls build) names the IP, the DMA
and the batch register and fixes the stream layout; the host steps (pack, DMA, unpack) are
separate and timed. Batching, buffers and the byte layout come from host/accelerator.py and
host/stream.py, the code path the emulator runs off-board.

Runs on the PYNQ image (32-bit ARM, Python 3.10): numpy and the standard library at import time;
pynq is imported lazily because it is absent (and must stay absent) in the dev environment.
"""
from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Mapping

import numpy as np

from host.accelerator import AcceleratorError, StreamAccelerator
from host.deployed import DEPLOYED_MODEL
from host.stream import IOSpec

REPO = Path(__file__).resolve().parents[1]
BITSTREAM_DIR = Path(os.environ.get("SQUEEZENET_BITSTREAMS", REPO / "bitstreams"))
DEFAULT_MODEL = DEPLOYED_MODEL  # host.deployed: the one place that names the deployed design


class BoardError(AcceleratorError):
    """The board backend cannot run: no pynq, no device, missing files, or a bitstream that does
    not match the io spec."""


class DMATimeoutError(AcceleratorError):
    """A DMA channel did not go idle before its deadline (pynq's own wait() would spin forever)."""


def import_pynq():
    """Import pynq, or explain why the board backend is unavailable."""
    try:
        import pynq  # noqa: PLC0415 (lazy on purpose: see module docstring)
    except ImportError as e:
        raise BoardError(
            f"the board backend needs the 'pynq' package, which is not importable here ({e}); "
            "run on a PYNQ board image, or use --backend emulator") from None
    return pynq


def bitstream_files(model: str = DEFAULT_MODEL, bitstream_dir: str | os.PathLike | None = None) -> dict[str, Path]:
    """Paths of the .bit, .hwh and .io.json of a model, checked to exist."""
    d = Path(bitstream_dir) if bitstream_dir is not None else BITSTREAM_DIR
    files = {"bit": d / f"{model}.bit", "hwh": d / f"{model}.hwh", "io spec": d / f"{model}.io.json"}
    missing = [f"{kind} {path}" for kind, path in files.items() if not path.is_file()]
    if missing:
        raise BoardError(f"bitstream for model {model!r} incomplete: missing {', '.join(missing)} "
                         "(build it with scripts/build_bitstream.sh on a machine with Vivado and copy "
                         f"the files to {d})")
    return files


def find_devices(pynq) -> list:
    """PYNQ devices visible to this process (empty off-board)."""
    try:
        return list(pynq.Device.devices)
    except Exception:  # pynq raises assorted errors when no platform is present
        return []


def board_status(model: str = DEFAULT_MODEL, bitstream_dir=None) -> tuple[bool, str]:
    """(usable, reason): whether the board backend can run here, for `--backend auto`."""
    try:
        pynq = import_pynq()
    except BoardError:
        return False, "pynq is not installed"
    if not find_devices(pynq):
        return False, "pynq finds no device"
    try:
        bitstream_files(model, bitstream_dir)
    except BoardError as e:
        return False, str(e)
    return True, "PYNQ device and bitstream found"


def read_hwh(path: str | os.PathLike) -> tuple[dict, list[dict]]:
    """(ip_dict, cores) of a .hwh read by pynq's own parser: pynqmetadata's RuntimeMetadataParser,
    the one `pynq.Overlay` uses on the board. `cores` lists every IP instance (also those without
    an address, e.g. an `ap_ctrl_none` HLS IP) with its VLNV and ports, for naming what is missing."""
    try:
        from pynqmetadata.frontends import Metadata  # noqa: PLC0415 (ships with pynq >= 3)
        from pynqmetadata.views.runtime import RuntimeMetadataParser  # noqa: PLC0415
    except ImportError as e:
        raise BoardError(f"reading {path} needs pynq (>= 3, with pynqmetadata), not importable here ({e})") from None
    try:
        md = Metadata(input=str(path))
        ip_dict = dict(RuntimeMetadataParser(md).ip_dict)
    except Exception as e:  # pynqmetadata raises assorted errors on foreign or truncated files
        raise BoardError(f"{path}: pynq cannot read this hardware description ({type(e).__name__}: {e})") from None
    cores = [{"name": b.hierarchy_name, "type": b.vlnv.str, "ports": sorted(b.ports)} for b in md.blocks.values()]
    return ip_dict, cores


def check_pynq_clocks(pynq, hwh) -> None:
    """pynq 4.0.0's Overlay.download() programs each enabled FCLK from clock_dict["frequency"], which
    pynqmetadata 0.2.0 leaves None for a Zynq-7000 PS (processing_system7): the download then dies
    with a TypeError deep in pynq.ps. pynq 3.x (the PYNQ-Z2 images) uses the divisors and works.
    Refuse before the download, by name."""
    if int(str(getattr(pynq, "__version__", "3")).split(".")[0]) < 4:
        return
    from pynqmetadata.frontends import Metadata  # noqa: PLC0415
    from pynqmetadata.views.runtime import RuntimeMetadataParser  # noqa: PLC0415

    clocks = RuntimeMetadataParser(Metadata(input=str(hwh))).clock_dict
    bad = [i for i, c in clocks.items() if c.get("enable") and c.get("frequency") is None]
    if bad:
        raise BoardError(f"pynq {pynq.__version__} cannot load this Zynq-7000 overlay: FCLK{bad[0]} has no "
                         "'frequency' in its clock_dict (pynq 4 sets PL clocks by frequency, which pynqmetadata "
                         f"does not parse for processing_system7; {hwh}); install pynq 3.x: pip install 'pynq<4'")


def _listing(ip_dict: Mapping, cores: list[dict] | None) -> str:
    items = cores if cores is not None else [{"name": k, "type": v.get("type", "?")} for k, v in ip_dict.items()]
    return ", ".join(f"{c['name']} ({c['type']})" for c in sorted(items, key=lambda c: c["name"])) or "nothing"


def check_ip_dict(ip_dict: Mapping, spec: IOSpec, source: str, cores: list[dict] | None = None) -> None:
    """The hardware description (pynq's ip_dict, and with `cores` every IP instance) must hold the
    io spec's accelerator with its AXI4-Lite control block and batch register, and its AXI DMA;
    otherwise the bitstream and the spec belong to different builds, and the message says which
    part is missing and what is there instead."""
    dmas = sorted(k for k, v in ip_dict.items() if ":axi_dma:" in str(v.get("type", "")))
    if spec.dma_name not in ip_dict:
        found = f"its AXI DMAs: {', '.join(dmas)}" if dmas else f"it has no AXI DMA; it has: {_listing(ip_dict, cores)}"
        raise BoardError(f"{source}: no AXI DMA {spec.dma_name!r} in the hardware description ({found})")
    dma_type = str(ip_dict[spec.dma_name].get("type", ""))
    if ":axi_dma:" not in dma_type:
        raise BoardError(f"{source}: {spec.dma_name!r} is {dma_type or 'of unknown type'}, not an AXI DMA")
    if spec.ip_name not in ip_dict:
        hls = [c for c in cores or [] if ":hls:" in c["type"]]
        core = next((c for c in hls if c["name"] == spec.ip_name), None)
        if core is not None:
            raise BoardError(f"{source}: accelerator {spec.ip_name!r} has no AXI4-Lite control interface "
                             f"(ports: {', '.join(core['ports'])}): an ap_ctrl_none IP cannot be started or "
                             "told the batch size")
        other = "; ".join(f"{c['name']} ({c['type']}, " + ("AXI4-Lite registers: " + ", ".join(
            sorted(ip_dict[c["name"]].get("registers", {}))) if c["name"] in ip_dict else
            "no AXI4-Lite control: ap_ctrl_none") + ")" for c in hls)
        found = f"HLS IP there: {other}" if hls else f"no HLS IP at all; it has: {_listing(ip_dict, cores)}"
        raise BoardError(f"{source}: no accelerator IP {spec.ip_name!r} in the hardware description ({found})")
    registers = ip_dict[spec.ip_name].get("registers", {})
    for reg in (spec.batch_register, "CTRL"):  # CTRL: the ap_ctrl_hs block (AP_START) on s_axilite
        if reg not in registers:
            raise BoardError(f"{source}: accelerator {spec.ip_name!r} has no register {reg!r} "
                             f"(registers: {', '.join(sorted(registers)) or 'none'})")


def dma_max_bytes(ip_dict: Mapping, dma_name: str) -> int | None:
    """Largest single transfer of the DMA: its buffer-length register is c_sg_length_width bits."""
    params = ip_dict[dma_name].get("parameters", {})
    width = params.get("C_SG_LENGTH_WIDTH", params.get("c_sg_length_width"))
    try:
        return (1 << int(width)) - 1
    except (TypeError, ValueError):
        return None


# PG021 (AXI DMA v7.1) DMASR bits, and what each error bit means for this design
DMASR_BITS = ((0, "Halted"), (1, "Idle"), (3, "SGIncld"), (4, "DMAIntErr"), (5, "DMASlvErr"), (6, "DMADecErr"),
              (12, "IOC_Irq"), (13, "Dly_Irq"), (14, "Err_Irq"))
DMASR_CAUSES = {
    "DMAIntErr": "DMA internal error: a transfer of 0 bytes, or on S2MM a packet longer than the buffer "
                 "(the accelerator sent more beats before TLAST than the io spec says: TLAST late or missing)",
    "DMASlvErr": "DMA slave error: the memory behind the buffer refused the access (a freed buffer, or one "
                 "not from pynq.allocate)",
    "DMADecErr": "DMA decode error: the buffer address is not mapped on the HP port (a wrong address)",
}
DEFAULT_TIMEOUT_S, TIMEOUT_S_PER_IMAGE = 5.0, 0.1  # generous: a hung stream is the failure to catch


def decode_dmasr(value: int) -> str:
    """'0x00004011 (Halted, DMAIntErr, Err_Irq)': a DMASR value with its PG021 bit names."""
    names = [n for bit, n in DMASR_BITS if value >> bit & 1]
    return f"0x{value:08X} ({', '.join(names) or 'running'})"


def dmasr(channel) -> int | None:
    """The raw DMASR of a pynq DMA channel (None where the channel does not expose its registers)."""
    mmio, offset = getattr(channel, "_mmio", None), getattr(channel, "_offset", None)
    try:
        return int(mmio.read(offset + 4)) if mmio is not None and offset is not None else None
    except Exception:  # diagnostics must never hide the original problem
        return None


def channel_error(name: str, channel) -> str:
    """One line naming the channel, its DMASR bits and what the error bit means."""
    value = dmasr(channel)
    if value is None:
        return f"DMA {name} channel reports an error"
    causes = [DMASR_CAUSES[n] for n in DMASR_CAUSES if n in decode_dmasr(value)]
    return f"DMA {name} channel stopped with an error, DMASR {decode_dmasr(value)}: " + ("; ".join(causes) or "unknown cause")


def _channel_state(name: str, channel) -> str:
    value = dmasr(channel)
    return (f"{name}: DMASR {decode_dmasr(value) if value is not None else 'unreadable'}, "
            f"{getattr(channel, '_length_programmed', '?')} bytes programmed in LENGTH "
            "(PG021 reports the bytes moved only at completion)")


def wait_dma_idle(channels: Mapping[str, object], timeout_s: float, poll_s: float = 1e-4,
                  clock=time.monotonic, diagnose=None) -> None:
    """Wait until every DMA channel is idle, raising DMATimeoutError at the deadline and
    AcceleratorError on a DMA error flag, each naming the channel and its DMASR bits. pynq's
    `channel.wait()` has no timeout, so this polls `idle`/`error` itself and only calls `wait()`
    once a channel is idle (it then returns at once and invalidates the receive buffer's cache).
    `diagnose(pending_names) -> str` adds what the caller can tell about the stall (the accelerator's
    control state)."""
    if not timeout_s or timeout_s <= 0 or timeout_s == float("inf"):
        raise AcceleratorError(f"DMA timeout must be a finite number of seconds, got {timeout_s!r}")
    deadline = clock() + timeout_s
    pending = dict(channels)
    while pending:
        for name, ch in list(pending.items()):
            if getattr(ch, "error", False):
                raise AcceleratorError(channel_error(name, ch) + "; reload the overlay")
            if ch.idle:
                ch.wait()
                del pending[name]
        if pending and clock() > deadline:
            states = "; ".join(_channel_state(n, ch) for n, ch in pending.items())
            extra = diagnose(list(pending)) if diagnose is not None else ""
            raise DMATimeoutError(
                f"DMA timed out after {timeout_s:g} s: channel(s) {', '.join(pending)} never went idle ({states})"
                + (f". {extra}" if extra else " (the accelerator did not consume the input or never sent TLAST)")
                + "; check that the bitstream matches its io spec, then reload the overlay")
        if pending and poll_s:
            time.sleep(poll_s)


class PynqAccelerator(StreamAccelerator):
    """The accelerator on the board. `PynqAccelerator(DEFAULT_MODEL).predict(images_uint8)`."""

    backend = "board"
    transfer_label = "DMA + accelerator"

    def __init__(self, model: str = DEFAULT_MODEL, bitstream_dir=None, batch_size: int = 256,
                 timeout_s: float | None = None, download: bool = True) -> None:
        files = bitstream_files(model, bitstream_dir)
        spec = IOSpec.load(files["io spec"])
        pynq = import_pynq()
        if not find_devices(pynq):
            raise BoardError("pynq finds no device: this is not a PYNQ board (or the FPGA manager is "
                             "unavailable); use --backend emulator")
        ip_dict, cores = read_hwh(files["hwh"])  # before the download: a foreign .hwh fails here, named
        check_ip_dict(ip_dict, spec, str(files["hwh"]), cores)
        check_pynq_clocks(pynq, files["hwh"])
        try:
            self.overlay = pynq.Overlay(str(files["bit"]), download=download)
        except Exception as e:  # pynq's errors vary by version; name the file and the cause
            raise BoardError(f"cannot load overlay {files['bit']}: {type(e).__name__}: {e}") from None
        self.ip = getattr(self.overlay, spec.ip_name)
        self.dma = getattr(self.overlay, spec.dma_name)
        limit = dma_max_bytes(self.overlay.ip_dict, spec.dma_name)
        if limit is not None:  # one DMA transfer per batch: keep the batch within the length register
            per_image = max(spec.input.beats_per_image * spec.input.beat_bits,
                            spec.output.beats_per_image * spec.output.beat_bits) // 8
            batch_size = min(batch_size, max(1, limit // per_image))
        self._pynq = pynq
        self.files = files
        self.timeout_s = timeout_s
        super().__init__(spec, batch_size)

    def _allocate(self, n_in_beats: int, n_out_beats: int):
        try:
            return (self._pynq.allocate(shape=(n_in_beats,), dtype=self.spec.input.beat_dtype),
                    self._pynq.allocate(shape=(n_out_beats,), dtype=self.spec.output.beat_dtype))
        except Exception as e:
            raise BoardError(f"cannot allocate contiguous DMA buffers for {n_in_beats} + {n_out_beats} beats: {e}") from None

    def _free(self, buffers) -> None:
        for b in buffers:
            free = getattr(b, "freebuffer", None)
            if free is not None:
                free()

    def _timeout(self, n_images: int) -> float:
        # generous: a hung stream is the failure to catch, not a slow one; never infinite
        return self.timeout_s if self.timeout_s is not None else DEFAULT_TIMEOUT_S + TIMEOUT_S_PER_IMAGE * n_images

    def control_state(self) -> dict:
        """The HLS block's ap_ctrl_hs bits (UG1399: CTRL at 0x00; reading clears ap_done/ap_ready)."""
        v = int(self.ip.read(0x00))
        return {"ap_start": v & 1, "ap_done": v >> 1 & 1, "ap_idle": v >> 2 & 1, "ap_ready": v >> 3 & 1}

    def _diagnose(self, pending: list[str]) -> str:
        """Who stalled, from the channels still busy and the accelerator's control bits."""
        try:
            c = self.control_state()
        except Exception as e:  # the diagnosis must not mask the timeout
            return f"accelerator control register unreadable ({type(e).__name__})"
        state = ", ".join(f"{k}={v}" for k, v in c.items())
        send_busy = any(p.startswith("MM2S") for p in pending)
        if send_busy and c["ap_idle"] and not c["ap_start"]:
            why = ("the accelerator is idle and not started: it never read its input (AP_START not taken, "
                   "or it finished a smaller batch than was sent: check the batch register)")
        elif send_busy:
            why = "the accelerator started but stopped reading its input (stuck inside the IP)"
        elif c["ap_idle"]:
            why = ("the accelerator read its input and finished, but S2MM saw no TLAST: the IP never produced "
                   "TLAST on its last beat (or sent fewer beats than the io spec says)")
        else:
            why = ("the accelerator read its input but is still running: it has not produced its output or "
                   "TLAST (stuck, or the batch register asks for more images than were sent)")
        return f"Accelerator {self.spec.ip_name}: {state}: {why}"

    def _transfer(self, in_beats: np.ndarray, out_beats: np.ndarray, n_images: int) -> None:
        setattr(self.ip.register_map, self.spec.batch_register, n_images)
        send, recv = self.dma.sendchannel, self.dma.recvchannel
        # whole buffers with nbytes: pynq's transfer() flushes/invalidates the buffer it is given
        for name, ch, buf, nbytes in (("S2MM (receive)", recv, self._out_buf, out_beats.nbytes),
                                      ("MM2S (send)", send, self._in_buf, in_beats.nbytes)):
            try:
                ch.transfer(buf, nbytes=nbytes)
            except (RuntimeError, ValueError) as e:  # e.g. still busy after an earlier timeout
                raise AcceleratorError(f"DMA {name} refused a {nbytes}-byte transfer: {e} "
                                       "(if an earlier transfer timed out, reload the overlay)") from None
        send._length_programmed, recv._length_programmed = in_beats.nbytes, out_beats.nbytes  # for diagnostics
        self.ip.register_map.CTRL.AP_START = 1
        wait_dma_idle({"MM2S (send)": send, "S2MM (receive)": recv}, self._timeout(n_images),
                      diagnose=self._diagnose)
        got = getattr(recv, "transferred", None)
        if got is not None and got != out_beats.nbytes:  # S2MM stops at TLAST: this is the TLAST check
            beat = self.spec.output.beat_bits // 8
            raise AcceleratorError(
                f"DMA S2MM (receive): the accelerator's TLAST came {(out_beats.nbytes - got) // beat} beat(s) early: "
                f"{got} bytes received up to TLAST, {out_beats.nbytes} expected for {n_images} images "
                f"({self.spec.output.beats_per_image} beats of {beat} bytes each); the bitstream and the io spec "
                "disagree on the output stream")

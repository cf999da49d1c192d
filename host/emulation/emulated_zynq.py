"""An emulated PYNQ-Z2 behind pynq's own device abstraction, so that pynq's real `Overlay`,
`DefaultIP`, register maps, `pynq.allocate` and `pynq.lib.dma.DMA` run unchanged off-board.

Why: the board path (host/driver.py's PynqAccelerator) must be executed somewhere before it meets a
board. pynq 4 lets a `pynq.Device` declare the capability "REGISTER_RW": every MMIO access of every
driver then goes through `device.read_registers` / `device.write_registers`. This device answers
those accesses with register models of the hardware in the block design:

  * the AXI DMA in simple (direct register) mode, PG021 v7.1 table 2-9: MM2S/S2MM DMACR (RS,
    Reset), DMASR (Halted, Idle, DMAIntErr/SlvErr/DecErr, IOC_Irq/Err_Irq write-1-to-clear),
    SA/DA (+ MSB), LENGTH (writing it starts the channel; S2MM's reads back the bytes received up
    to TLAST; a packet longer than LENGTH is DMAIntErr);
  * the Vitis HLS s_axilite block of an ap_ctrl_hs top (UG1399): CTRL with AP_START, AP_DONE and
    AP_READY (clear on read), AP_IDLE, AUTO_RESTART, then GIER, IP_IER, IP_ISR and the batch
    register at 0x10;
  * the PS7 SLCR clock registers pynq's `Clocks` programs on download (IO PLL 1000 MHz from the
    board's 50 MHz reference, FPGA0_CLK_CTRL dividers);
  * DDR behind S_AXI_HP0 as non-coherent memory: `pynq.allocate` returns real `PynqBuffer`s whose
    host view and device copy are separate, so a missing flush() or invalidate() loses data as it
    would on the board.

The accelerator's stream side is `engine(beats, n_images) -> (out_beats, tlast)`, in practice the C
simulation of the AXI top (host.emulation.csim_library.AxiLibrary), the same C++ that Vitis HLS synthesizes.
Between the DMA and the accelerator the streams are queues with the real hand-off rules: MM2S is
idle only once the accelerator has read all its beats, S2MM only at TLAST, so a batch register that
disagrees with the transfers, or an accelerator that never starts, leaves a channel busy for ever.

What it cannot emulate: a real bitstream (the .bit beside the generated .hwh is a marked stand-in
and any other file is refused), interrupts, timing, the FPGA manager. Needs pynq (board venv).
"""
from __future__ import annotations

import contextlib
import ctypes
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

BIT_MAGIC = b"EMULATED PYNQ-Z2 BITSTREAM STAND-IN\n"
DDR_BASE, DDR_SIZE = 0x00000000, 0x20000000  # what S_AXI_HP0 decodes on the PYNQ-Z2 (512 MiB)
CMA_BASE = 0x16000000  # where pynq's CMA buffers typically land on a PYNQ-Z2 image
SLCR_BASE = 0xF8000000

# PG021 DMASR bits
HALTED, IDLE, DMA_INT_ERR, DMA_SLV_ERR, DMA_DEC_ERR, IOC_IRQ, ERR_IRQ = 1, 2, 0x10, 0x20, 0x40, 0x1000, 0x4000


@dataclass
class Faults:
    """Hardware misbehaviour a test can switch on (`dev.faults.<name> = ...`), each one that a driver
    bug or a broken bitstream produces on a real board:

      * `tlast`: "early" (TLAST one beat before the last), "late" (one extra beat, TLAST on it),
        "never" (no TLAST at all) on the accelerator's output stream;
      * `s2mm_polls`: the S2MM channel completes only after this many DMASR reads, and the received
        beats reach DDR only then (a driver that reads its results early gets stale memory);
      * `dma_error`: ("mm2s" | "s2mm", DMA_INT_ERR | DMA_SLV_ERR | DMA_DEC_ERR): that channel stops
        with that PG021 DMASR error bit when it is next started;
      * `stuck`: the accelerator takes AP_START (ap_idle goes low) and then never moves a beat.
    """

    tlast: str | None = None
    s2mm_polls: int = 0
    dma_error: tuple | None = None
    stuck: bool = False


class EmulationError(RuntimeError):
    """The emulated board was used in a way real hardware could not be (or cannot be emulated)."""


def write_bitstream_standin(path: str | Path, model: str) -> Path:
    """The .bit file of the emulated board: a marker, never mistaken for (or by) a real bitstream."""
    path = Path(path)
    path.write_bytes(BIT_MAGIC + f"model: {model}\nnot a bitstream: load it only on host.emulation.emulated_zynq\n".encode())
    return path


class EmulatedDDR:
    """Physically contiguous, non-coherent buffers: a host view (the PynqBuffer) and a device copy."""

    def __init__(self, device, base: int = CMA_BASE):
        self.device = device
        self._next = base
        self._buffers: dict[int, bytearray] = {}  # physical address -> device copy

    def allocate(self, shape, dtype, cacheable: bool = True, **kwargs):
        from pynq.buffer import PynqBuffer

        nbytes = int(np.prod(shape)) * np.dtype(dtype).itemsize
        addr = self._next
        if addr + nbytes > DDR_BASE + DDR_SIZE:
            raise MemoryError(f"emulated CMA exhausted allocating {nbytes} bytes")
        self._next = (addr + max(nbytes, 1) + 0xFFF) & ~0xFFF  # page-aligned, like the CMA allocator
        self._buffers[addr] = bytearray(nbytes)
        return PynqBuffer(shape, dtype, device=self.device, device_address=addr, bo=addr, coherent=False)

    def _find(self, address: int, nbytes: int) -> tuple[bytearray, int]:
        if not (DDR_BASE <= address and address + nbytes <= DDR_BASE + DDR_SIZE):
            raise _BusError(DMA_DEC_ERR)
        for base, mem in self._buffers.items():
            if base <= address and address + nbytes <= base + len(mem):
                return mem, address - base
        raise _BusError(DMA_SLV_ERR)  # real DDR would return stale data; the emulator refuses

    def read(self, address: int, nbytes: int) -> bytes:
        mem, off = self._find(address, nbytes)
        return bytes(mem[off:off + nbytes])

    def write(self, address: int, data: bytes) -> None:
        mem, off = self._find(address, len(data))
        mem[off:off + len(data)] = data

    def flush(self, bo, offset, vaddr, nbytes) -> None:  # CPU cache -> DDR
        self._buffers[bo][offset:offset + nbytes] = ctypes.string_at(vaddr, nbytes)

    def invalidate(self, bo, offset, vaddr, nbytes) -> None:  # DDR -> CPU view
        ctypes.memmove(vaddr, bytes(self._buffers[bo][offset:offset + nbytes]), nbytes)


class _BusError(Exception):
    def __init__(self, flag: int):
        self.flag = flag


class StreamLink:
    """One AXI4-Stream connection: beats (bytes) with their TLAST flags, in order."""

    def __init__(self):
        self.beats: list[tuple[bytes, bool]] = []


class AxiDmaModel:
    """PG021 AXI DMA v7.1, simple mode (c_include_sg = 0), both channels."""

    def __init__(self, name: str, params: dict, ddr: EmulatedDDR, to_acc: StreamLink, from_acc: StreamLink,
                 faults: Faults | None = None):
        self.name = name
        self.faults = faults if faults is not None else Faults()
        self.lengths: list[tuple[str, int]] = []  # every LENGTH write, ("mm2s" | "s2mm", bytes): tests read it
        if int(params.get("c_include_sg", 0)):
            raise EmulationError(f"{name}: scatter-gather DMA is not emulated (the block design uses simple mode)")
        self.length_mask = (1 << int(params.get("c_sg_length_width", 26))) - 1
        self.in_bytes = int(params["c_m_axis_mm2s_tdata_width"]) // 8
        self.out_bytes = int(params["c_s_axis_s2mm_tdata_width"]) // 8
        self.ddr, self.to_acc, self.from_acc = ddr, to_acc, from_acc
        self.reset()

    def reset(self):
        self.regs = {o: 0 for o in (0x00, 0x18, 0x1C, 0x28, 0x30, 0x48, 0x4C, 0x58)}
        self.status = {0x00: HALTED, 0x30: HALTED}
        self.mm2s_pending = 0  # beats pushed to the accelerator and not yet read by it
        self.s2mm_busy = False
        self.s2mm_received = 0
        self.s2mm_held: list[tuple[int, bytes]] = []  # Faults.s2mm_polls: writes not yet in DDR
        self.s2mm_hidden = 0  # DMASR reads left before the completed S2MM shows IDLE

    # register access ---------------------------------------------------------------------
    def read(self, offset: int) -> int:
        if offset == 0x34 and self.s2mm_hidden:
            self.s2mm_hidden -= 1
            if self.s2mm_hidden == 0:  # now the transfer "completes": data lands, IDLE shows
                for address, data in self.s2mm_held:
                    self.ddr.write(address, data)
                self.s2mm_held.clear()
                self.status[0x30] |= IDLE | IOC_IRQ
            return self.status[0x30]
        if offset in (0x04, 0x34):
            return self.status[offset - 4]
        if offset == 0x58 and not self.s2mm_busy and not self.s2mm_hidden:
            return self.s2mm_received if self.status[0x30] & IDLE else self.regs[0x58]
        return self.regs.get(offset, 0)

    def write(self, offset: int, value: int) -> None:
        if offset in (0x00, 0x30):
            if value & 0x4:  # soft reset: both channels (PG021 DMACR.Reset)
                self.reset()
                return
            self.regs[offset] = value & 0x00FF7017
            st = self.status[offset]
            self.status[offset] = (st & ~HALTED) if value & 1 else (st | HALTED)
        elif offset in (0x04, 0x34):  # write 1 to clear the interrupt flags
            self.status[offset - 4] &= ~(value & (IOC_IRQ | 0x2000 | ERR_IRQ))
        elif offset in (0x28, 0x58):
            self.regs[offset] = value & self.length_mask
            self.lengths.append(("mm2s" if offset == 0x28 else "s2mm", self.regs[offset]))
            self._start(offset - 0x28)
        elif offset in self.regs:
            self.regs[offset] = value

    # channel behaviour ---------------------------------------------------------------------
    def _error(self, ch: int, flag: int) -> None:
        self.status[ch] = (self.status[ch] | flag | ERR_IRQ | HALTED) & ~IDLE

    def _start(self, ch: int) -> None:
        if self.status[ch] & HALTED:
            return  # PG021: LENGTH written while halted starts nothing
        length = self.regs[ch + 0x28]
        if length == 0:
            self._error(ch, DMA_INT_ERR)
            return
        fault = self.faults.dma_error
        if fault is not None and fault[0] == ("mm2s" if ch == 0x00 else "s2mm"):
            self.faults.dma_error = None  # one shot: the next start after a reset works again
            self._error(ch, int(fault[1]))
            return
        self.status[ch] &= ~IDLE
        address = self.regs[ch + 0x18] | (self.regs[ch + 0x1C] << 32)
        if ch == 0x00:  # MM2S: read the buffer and offer it as beats; TLAST on the last beat
            try:
                data = self.ddr.read(address, length)
            except _BusError as e:
                self._error(ch, e.flag)
                return
            n = -(-length // self.in_bytes)
            data = data.ljust(n * self.in_bytes, b"\0")
            for i in range(n):
                self.to_acc.beats.append((data[i * self.in_bytes:(i + 1) * self.in_bytes], i == n - 1))
            self.mm2s_pending += n
        else:
            self.s2mm_busy, self.s2mm_received = True, 0

    def advance(self) -> bool:
        """Move what the streams allow; True if anything moved."""
        moved = False
        if self.mm2s_pending and len(self.to_acc.beats) < self.mm2s_pending:
            self.mm2s_pending = len(self.to_acc.beats)  # the accelerator took beats
            moved = True
            if self.mm2s_pending == 0:
                self.status[0x00] |= IDLE | IOC_IRQ
        while self.s2mm_busy and self.from_acc.beats and not self.status[0x30] & HALTED:
            data, last = self.from_acc.beats.pop(0)
            address = (self.regs[0x48] | (self.regs[0x4C] << 32)) + self.s2mm_received
            if self.s2mm_received + len(data) > self.regs[0x58]:
                self._error(0x30, DMA_INT_ERR)  # the packet is longer than the buffer
                self.s2mm_busy = False
                return True
            try:
                if self.faults.s2mm_polls:
                    self.ddr._find(address, len(data))  # bus errors stay immediate
                    self.s2mm_held.append((address, data))
                else:
                    self.ddr.write(address, data)
            except _BusError as e:
                self._error(0x30, e.flag)
                self.s2mm_busy = False
                return True
            self.s2mm_received += len(data)
            moved = True
            if last:  # TLAST ends the transfer: LENGTH then reads the bytes received
                self.s2mm_busy = False
                if self.faults.s2mm_polls:
                    self.s2mm_hidden = self.faults.s2mm_polls
                else:
                    self.status[0x30] |= IDLE | IOC_IRQ
        return moved


class HlsControlModel:
    """A Vitis HLS ap_ctrl_hs top with its batch register, whose stream side runs `engine`."""

    def __init__(self, name: str, registers: dict, batch_register: str, engine: Callable,
                 in_bytes: int, out_bytes: int, in_beats_per_image: int, from_dma: StreamLink, to_dma: StreamLink,
                 faults: Faults | None = None):
        if "CTRL" not in registers or batch_register not in registers:
            raise EmulationError(f"{name}: the .hwh register map lacks CTRL or {batch_register!r}")
        self.name = name
        self.batch_offset = int(registers[batch_register]["address_offset"])
        self.engine = engine
        self.in_bytes, self.out_bytes, self.in_beats_per_image = in_bytes, out_bytes, in_beats_per_image
        self.from_dma, self.to_dma = from_dma, to_dma
        self.hang = False  # fault injection: the IP never leaves reset (AP_START is ignored)
        self.faults = faults if faults is not None else Faults()
        self.batch = 0
        self.start = self.done = self.ready = self.auto_restart = False
        self.gier = self.ier = self.isr = 0
        self.runs = 0

    def read(self, offset: int) -> int:
        if offset == 0x00:
            v = self.start | self.done << 1 | (not self.start) << 2 | self.ready << 3 | self.auto_restart << 7
            self.done = self.ready = False  # clear on read (UG1399)
            return int(v)
        return {0x04: self.gier, 0x08: self.ier, 0x0C: self.isr}.get(offset, 0)  # data registers: write-only

    def write(self, offset: int, value: int) -> None:
        if offset == 0x00:
            self.auto_restart = bool(value & 0x80)
            if value & 1 and not self.hang:
                self.start = True
        elif offset == 0x04:
            self.gier = value & 1
        elif offset == 0x08:
            self.ier = value & 3
        elif offset == 0x0C:
            self.isr &= ~value  # toggle-on-write of set bits
        elif offset == self.batch_offset:
            self.batch = value & 0xFFFFFFFF

    def advance(self) -> bool:
        if not self.start or self.faults.stuck:
            return False
        need = self.batch * self.in_beats_per_image
        if len(self.from_dma.beats) < need:
            return False  # still waiting for input: the IP stalls on an empty stream
        taken = [self.from_dma.beats.pop(0)[0] for _ in range(need)]
        beats = np.frombuffer(b"".join(taken), dtype=f"<u{self.in_bytes}").astype(np.uint64)
        out, last = self.engine(beats, self.batch)
        out, last = list(np.asarray(out, dtype=np.uint64)), [bool(t) for t in last]
        if self.faults.tlast == "early" and len(last) > 1:
            last = [False] * len(last)
            last[-2] = True
        elif self.faults.tlast == "late":
            out.append(np.uint64(0))
            last = [False] * len(last) + [True]
        elif self.faults.tlast == "never":
            last = [False] * len(last)
        for b, t in zip(out, last):
            self.to_dma.beats.append((int(b).to_bytes(8, "little")[:self.out_bytes], t))
        self.runs += 1
        self.done = self.ready = True
        self.start = self.auto_restart
        return True


#: PS7 SLCR after the PYNQ-Z2 FSBL: PLL feedback dividers (50 MHz reference) and FPGAn_CLK_CTRL.
SLCR_RESET = {0x100: 26 << 12, 0x104: 21 << 12, 0x108: 20 << 12,
              **{0x170 + 0x10 * i: (1 << 20) | (10 << 8) for i in range(4)}}


def _device_class():
    import pynq

    class EmulatedZynq(pynq.Device):
        """pynq Device of the emulated PYNQ-Z2 (see the module docstring)."""

        arch = "armv7l"  # pynq's Clocks then drives the Zynq-7000 SLCR
        name = "Pynq-Z2 (emulated)"

        def __init__(self, engine: Callable, batch_register: str, in_beats_per_image: int):
            super().__init__("emulated_pynq_z2")
            self.capabilities = {"REGISTER_RW": True, "MEMORY_MAPPED": False, "CALLABLE": False}
            self.default_memory = EmulatedDDR(self)
            self.engine, self.batch_register, self.in_beats_per_image = engine, batch_register, in_beats_per_image
            self.slcr = dict(SLCR_RESET)
            self.bitfile_name, self.timestamp = None, ""
            self.ip_dict = self.gpio_dict = self.interrupt_controllers = self.interrupt_pins = {}
            self.hierarchy_dict, self.mem_dict = {}, {}
            self.peripherals: dict[int, tuple[int, object]] = {}
            self.dma = self.accelerator = None
            self.downloads = 0
            self.faults = Faults()  # switched on by tests; shared by the DMA and accelerator models

        # pynq's hooks -----------------------------------------------------------------------
        def get_bitfile_metadata(self, bitfile_name):
            from pynqmetadata.frontends import Metadata
            from pynqmetadata.views.runtime import RuntimeMetadataParser

            hwh = Path(bitfile_name).with_suffix(".hwh")
            if not hwh.is_file():
                raise RuntimeError(f"Unable to find metadata for bitstream {bitfile_name}")
            return RuntimeMetadataParser(Metadata(input=str(hwh)))

        def download(self, bitstream, parser=None):
            data = Path(bitstream.bitfile_name).read_bytes()
            if not data.startswith(BIT_MAGIC):
                raise EmulationError(f"{bitstream.bitfile_name} is not the emulated board's stand-in .bit; a real "
                                     "bitstream cannot be emulated (write one with write_bitstream_standin)")
            self._instantiate(parser)
            self.downloads += 1
            self.post_download(bitstream, parser, self.name)

        def _instantiate(self, parser):
            to_acc, from_acc = StreamLink(), StreamLink()
            self.peripherals.clear()
            dma = acc = None
            for name, ip in parser.ip_dict.items():
                vlnv = str(ip.get("type", ""))
                if "phys_addr" not in ip:
                    continue  # no AXI4-Lite slave (the PS itself, ap_ctrl_none IP)
                base, size = int(ip["phys_addr"]), int(ip["addr_range"])
                if ":axi_dma:" in vlnv:
                    dma = AxiDmaModel(name, ip["parameters"], self.default_memory, to_acc, from_acc, self.faults)
                    self.peripherals[base] = (size, dma)
                elif vlnv.startswith("xilinx.com:hls:"):
                    acc = (name, ip, base, size)
            if dma is None or acc is None:
                raise EmulationError("the .hwh has no AXI DMA or no HLS IP to emulate")
            name, ip, base, size = acc
            self.accelerator = HlsControlModel(name, ip["registers"], self.batch_register, self.engine,
                                               dma.in_bytes, dma.out_bytes, self.in_beats_per_image, to_acc, from_acc,
                                               self.faults)
            self.peripherals[base] = (size, self.accelerator)
            self.dma = dma

        def _target(self, address: int):
            if SLCR_BASE <= address < SLCR_BASE + 0x1000:
                return None, address - SLCR_BASE
            for base, (size, model) in self.peripherals.items():
                if base <= address < base + size:
                    return model, address - base
            raise EmulationError(f"AXI access to 0x{address:08X}: no slave at that address (pynq would hang or fault)")

        def _settle(self):
            for _ in range(1000):
                moved = self.accelerator.advance() if self.accelerator else False
                moved = (self.dma.advance() if self.dma else False) or moved
                if not moved:
                    return

        def read_registers(self, address, length):
            out = b""
            for a in range(address, address + length, 4):
                model, off = self._target(a)
                if model is None:
                    v = self.slcr.get(off, 0)
                else:
                    self._settle()
                    v = model.read(off)
                out += struct.pack("<I", v & 0xFFFFFFFF)
            return out[:length]

        def write_registers(self, address, data):
            data = bytes(data).ljust(-(-len(data) // 4) * 4, b"\0")
            for i in range(0, len(data), 4):
                model, off = self._target(address + i)
                (v,) = struct.unpack("<I", data[i:i + 4])
                if model is None:
                    self.slcr[off] = v
                else:
                    model.write(off, v)
                    self._settle()

        def flush(self, bo, offset, ptr, size):
            self.default_memory.flush(bo, offset, ptr, size)

        def invalidate(self, bo, offset, ptr, size):
            self.default_memory.invalidate(bo, offset, ptr, size)

    return EmulatedZynq


@contextlib.contextmanager
def emulated_board(engine: Callable, batch_register: str, in_beats_per_image: int):
    """Install an emulated PYNQ-Z2 as pynq's only and active device for the duration of the block."""
    import pynq
    from pynq.ps import Clocks

    dev = _device_class()(engine, batch_register, in_beats_per_image)
    meta = type(pynq.Device)
    saved = {k: pynq.Device.__dict__[k] for k in ("_devices", "_active_device") if k in pynq.Device.__dict__}
    saved_clocks = {k: Clocks.__dict__[k] for k in ("device", "_real_instance") if k in Clocks.__dict__}
    pynq.Device._devices = [dev]
    meta.active_device.fset(pynq.Device, dev)
    Clocks.device = dev
    if "_real_instance" in Clocks.__dict__:
        del Clocks._real_instance
    try:
        yield dev
    finally:
        for k in ("_devices", "_active_device"):
            if k in saved:
                setattr(pynq.Device, k, saved[k])
            elif k in pynq.Device.__dict__:
                delattr(pynq.Device, k)
        for k in ("device", "_real_instance"):
            if k in saved_clocks:
                setattr(Clocks, k, saved_clocks[k])
            elif k in Clocks.__dict__ and k == "_real_instance":
                delattr(Clocks, k)
        Clocks.device = saved_clocks.get("device")
